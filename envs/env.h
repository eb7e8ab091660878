// Environments: the loop between a task, the policy's completions and the reward.
//
//   std::string prompt = *env.Reset(task, &state);       // the rendered prompt
//   while (true) {
//     std::string completion = generate(context);
//     StepResult r = *env.Step(&state, completion);
//     if (r.done) { use(*r.reward); break; }
//     context += completion + *r.observation;            // observation: masked out of the loss
//   }
//
// Single-turn tasks take one step; the tool env (envs/tool_env.h) several. The env keeps
// the episode as segments (prompt, completions, observations), from which
// TokenizeEpisode() builds the tokens and the loss mask the learner receives.
//
// Envs depend only on the Verifier interface (verifiers/verifier.h), not on the
// verifiers library: the caller supplies a VerifierLookup.
#ifndef RLVR_ENVS_ENV_H_
#define RLVR_ENVS_ENV_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "envs/task.h"
#include "envs/template.h"
#include "verifiers/verifier.h"

namespace rlvr {

// One piece of an episode's text.
struct Segment {
  enum class Kind { kPrompt, kCompletion, kObservation };
  Kind kind = Kind::kPrompt;
  std::string text;
  // The exact token ids when known (the policy's sampled tokens); else encoded from text.
  std::vector<int32_t> tokens;
};

struct EnvState {
  Task task;
  int turn = 0;  // completions consumed so far
  std::vector<Segment> segments;
  bool done = false;
};

struct StepResult {
  // Text to append to the context before the next completion (tool output). Its tokens
  // are not the policy's: they are masked out of the loss.
  std::optional<std::string> observation;
  std::optional<Reward> reward;  // set when done
  bool done = false;
};

// Finds the verifier a task names; NOT_FOUND if there is none. Must be thread-safe if
// the env is used from several threads.
using VerifierLookup = std::function<absl::StatusOr<const Verifier*>(const std::string& name)>;

// Grades `completion` for `task`: VerifyRequest{id, completion, answer = gold, spec}.
absl::StatusOr<Reward> GradeCompletion(const Task& task, const std::string& completion,
                                       const VerifierLookup& verifiers);

// Thread-safe if the verifiers (and, for tool envs, the runner) are: the episode state
// lives in EnvState, owned by the caller.
class Env {
 public:
  virtual ~Env() = default;
  // Starts an episode: fills *state; returns the first observation, the rendered prompt.
  virtual absl::StatusOr<std::string> Reset(const Task& task, EnvState* state) const = 0;
  // Consumes one completion. FAILED_PRECONDITION after the episode is done; a verifier
  // error is returned as is.
  virtual absl::StatusOr<StepResult> Step(EnvState* state, const std::string& completion) const = 0;
};

// One prompt, one completion, graded by the task's verifier.
class SingleTurnEnv final : public Env {
 public:
  SingleTurnEnv(TemplateOptions template_options, VerifierLookup verifiers);
  absl::StatusOr<std::string> Reset(const Task& task, EnvState* state) const override;
  absl::StatusOr<StepResult> Step(EnvState* state, const std::string& completion) const override;

 private:
  TemplateOptions template_options_;
  VerifierLookup verifiers_;
};

struct EpisodeTokens {
  std::vector<int32_t> tokens;     // every segment's tokens, in order
  std::vector<uint8_t> loss_mask;  // 1 on completion tokens, 0 on prompt and observations
  int64_t prompt_tokens = 0;       // length of the leading prompt segment(s)
};

// Concatenates the segments' tokens (encoding those without ids) with the loss mask.
EpisodeTokens TokenizeEpisode(
    const std::vector<Segment>& segments,
    const std::function<std::vector<int32_t>(const std::string&)>& encode);

}  // namespace rlvr

#endif  // RLVR_ENVS_ENV_H_
