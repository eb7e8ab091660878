#include "envs/env.h"

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace rlvr {

absl::StatusOr<Reward> GradeCompletion(const Task& task, const std::string& completion,
                                       const VerifierLookup& verifiers) {
  if (!verifiers) return absl::FailedPreconditionError("no verifiers given to the env");
  ASSIGN_OR_RETURN(const Verifier* verifier, verifiers(task.verifier));
  if (verifier == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("task ", task.id, ": no verifier '", task.verifier, "'"));
  }
  VerifyRequest request;
  request.id = task.id;
  request.completion = completion;
  request.answer = task.gold;
  request.spec = task.spec;
  return verifier->Verify(request);
}

SingleTurnEnv::SingleTurnEnv(TemplateOptions template_options, VerifierLookup verifiers)
    : template_options_(std::move(template_options)), verifiers_(std::move(verifiers)) {}

absl::StatusOr<std::string> SingleTurnEnv::Reset(const Task& task, EnvState* state) const {
  *state = EnvState();
  state->task = task;
  std::string prompt = RenderPrompt(task, template_options_);
  state->segments.push_back({Segment::Kind::kPrompt, prompt, {}});
  return prompt;
}

absl::StatusOr<StepResult> SingleTurnEnv::Step(EnvState* state,
                                               const std::string& completion) const {
  if (state->done) return absl::FailedPreconditionError("Step() after the episode is done");
  state->segments.push_back({Segment::Kind::kCompletion, completion, {}});
  ++state->turn;
  ASSIGN_OR_RETURN(Reward reward, GradeCompletion(state->task, completion, verifiers_));
  state->done = true;
  StepResult result;
  result.reward = std::move(reward);
  result.done = true;
  return result;
}

EpisodeTokens TokenizeEpisode(
    const std::vector<Segment>& segments,
    const std::function<std::vector<int32_t>(const std::string&)>& encode) {
  EpisodeTokens out;
  bool leading_prompt = true;
  for (const Segment& s : segments) {
    std::vector<int32_t> ids = s.tokens.empty() ? encode(s.text) : s.tokens;
    const uint8_t mask = s.kind == Segment::Kind::kCompletion ? 1 : 0;
    if (s.kind != Segment::Kind::kPrompt) leading_prompt = false;
    if (leading_prompt) out.prompt_tokens += static_cast<int64_t>(ids.size());
    out.tokens.insert(out.tokens.end(), ids.begin(), ids.end());
    out.loss_mask.insert(out.loss_mask.end(), ids.size(), mask);
  }
  return out;
}

}  // namespace rlvr
