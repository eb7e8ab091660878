#include "envs/tool_env.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "verifiers/sandbox/sandbox.h"

namespace rlvr {
namespace {

std::string Truncate(const std::string& text, int64_t max_chars) {
  if (static_cast<int64_t>(text.size()) <= max_chars) return text;
  const size_t head = static_cast<size_t>(max_chars / 2);
  const size_t tail = static_cast<size_t>(max_chars - max_chars / 2);
  return absl::StrCat(text.substr(0, head), "\n...[", text.size() - head - tail,
                      " characters omitted]...\n", text.substr(text.size() - tail));
}

}  // namespace

std::optional<std::string> ExtractToolCall(const std::string& completion,
                                           const std::string& language) {
  const std::string open = "```" + language;
  const size_t start = completion.rfind(open);
  if (start == std::string::npos) return std::nullopt;
  size_t code_begin = start + open.size();
  // The tag must end the fence line ("```python\n"), not be a prefix ("```pythonic").
  while (code_begin < completion.size() && completion[code_begin] == ' ') ++code_begin;
  if (code_begin < completion.size() && completion[code_begin] != '\n') return std::nullopt;
  if (code_begin < completion.size()) ++code_begin;
  const size_t close = completion.find("```", code_begin);
  if (close == std::string::npos) return completion.substr(code_begin);  // left open
  const std::string after = completion.substr(close + 3);
  if (!absl::StripAsciiWhitespace(after).empty()) return std::nullopt;
  return completion.substr(code_begin, close - code_begin);
}

CodeRunner MakeSandboxPythonRunner(const sandbox::Sandbox* sandbox, SandboxRunnerOptions options) {
  return [sandbox, options](const std::string& code) -> absl::StatusOr<ToolOutput> {
    sandbox::Program program;
    program.argv = {options.python, "main.py"};
    program.files = {{"main.py", code, false}};
    sandbox::Limits limits;
    limits.cpu_s = options.cpu_s;
    limits.memory_mb = options.memory_mb;
    limits.max_output_bytes = options.max_output_bytes;
    ASSIGN_OR_RETURN(sandbox::RunResult run, sandbox->Run(program, limits));
    ToolOutput out;
    out.stdout_text = std::move(run.stdout_data);
    out.stderr_text = std::move(run.stderr_data);
    switch (run.outcome) {
      case sandbox::Outcome::kExited:
        out.status = run.exit_code == 0 ? "ok" : "error";
        break;
      case sandbox::Outcome::kSignaled:
        out.status = "error";
        break;
      case sandbox::Outcome::kCpuLimit:
      case sandbox::Outcome::kWallLimit:
        out.status = "timeout";
        break;
      case sandbox::Outcome::kMemoryLimit:
        out.status = "memory_limit";
        break;
      case sandbox::Outcome::kOutputLimit:
        out.status = "output_limit";
        break;
    }
    return out;
  };
}

ToolEnv::ToolEnv(TemplateOptions template_options, ToolEnvOptions options, CodeRunner runner,
                 VerifierLookup verifiers)
    : template_options_(std::move(template_options)),
      options_(std::move(options)),
      runner_(std::move(runner)),
      verifiers_(std::move(verifiers)) {}

absl::StatusOr<std::string> ToolEnv::Reset(const Task& task, EnvState* state) const {
  *state = EnvState();
  state->task = task;
  std::string prompt = RenderPrompt(task, template_options_);
  state->segments.push_back({Segment::Kind::kPrompt, prompt, {}});
  return prompt;
}

std::string ToolEnv::FormatObservation(const ToolOutput& output) const {
  std::string text = output.stdout_text;
  if (output.status != "ok") {
    // Errors show the end of stderr (the traceback's last lines matter most).
    if (!output.stderr_text.empty()) {
      if (!text.empty() && text.back() != '\n') text += '\n';
      text += output.stderr_text;
    }
    if (output.status == "timeout") text += "\nTimeoutError: the code ran out of time";
    if (output.status == "memory_limit") text += "\nMemoryError: the code ran out of memory";
    if (output.status == "output_limit") text += "\n(output truncated: too much output)";
  }
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return absl::StrCat(options_.observation_prefix, Truncate(text, options_.max_observation_chars),
                      options_.observation_suffix);
}

absl::StatusOr<std::optional<std::string>> ToolEnv::Act(EnvState* state,
                                                        const std::string& completion) const {
  if (state->done) return absl::FailedPreconditionError("Step() after the episode is done");
  state->segments.push_back({Segment::Kind::kCompletion, completion, {}});
  ++state->turn;
  if (ToolCalls(*state) < options_.max_tool_calls) {
    if (std::optional<std::string> code = ExtractToolCall(completion, options_.fence_language)) {
      ASSIGN_OR_RETURN(ToolOutput output, runner_(*code));
      std::string observation = FormatObservation(output);
      state->segments.push_back({Segment::Kind::kObservation, observation, {}});
      return observation;
    }
  }
  return std::nullopt;
}

int ToolEnv::ToolCalls(const EnvState& state) {
  int tool_calls = 0;
  for (const Segment& s : state.segments) tool_calls += s.kind == Segment::Kind::kObservation;
  return tool_calls;
}

absl::StatusOr<StepResult> ToolEnv::Step(EnvState* state, const std::string& completion) const {
  ASSIGN_OR_RETURN(std::optional<std::string> observation, Act(state, completion));
  StepResult result;
  if (observation) {
    result.observation = *std::move(observation);
    return result;
  }
  const int tool_calls = ToolCalls(*state);
  // Final: grade everything the model wrote (the verifier takes the last answer).
  std::string model_text;
  for (const Segment& s : state->segments) {
    if (s.kind == Segment::Kind::kCompletion) model_text += s.text;
  }
  ASSIGN_OR_RETURN(Reward reward, GradeCompletion(state->task, model_text, verifiers_));
  reward.details["tool_calls"] = tool_calls;
  state->done = true;
  result.reward = std::move(reward);
  result.done = true;
  return result;
}

}  // namespace rlvr
