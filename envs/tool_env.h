// A multi-turn tool-use environment: the model may end a completion with a fenced
// Python block (```python ... ```); the env runs it (in the code sandbox) and returns
// its output as an observation, "\n```output\n<stdout>\n```\n", which the caller
// appends to the context before generating again. After `max_tool_calls` calls, or at
// a completion that does not end with a code block, the episode ends: the model's
// completions (observations excluded) go to the task's verifier.
//
// Observation segments are kObservation in EnvState::segments, so TokenizeEpisode()
// masks them out of the loss.
#ifndef RLVR_ENVS_TOOL_ENV_H_
#define RLVR_ENVS_TOOL_ENV_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "envs/env.h"

namespace rlvr {

namespace sandbox {
class Sandbox;
}

struct ToolOutput {
  std::string stdout_text;
  std::string stderr_text;
  // "ok" (exit 0), "error" (non-zero exit or signal), "timeout", "memory_limit",
  // "output_limit".
  std::string status = "ok";
};

// Runs one tool call. An error status means the runner itself failed (not the code).
using CodeRunner = std::function<absl::StatusOr<ToolOutput>(const std::string& code)>;

struct SandboxRunnerOptions {
  std::string python = "/usr/bin/python3";
  double cpu_s = 5.0;
  int64_t memory_mb = 512;
  int64_t max_output_bytes = 64 << 10;
};

// Runs Python code as main.py in `sandbox` (not owned; must outlive the runner).
// Thread-safe (Sandbox::Run is).
CodeRunner MakeSandboxPythonRunner(const sandbox::Sandbox* sandbox, SandboxRunnerOptions options);

struct ToolEnvOptions {
  int max_tool_calls = 3;                 // K; the completion after the K-th result is final
  int64_t max_observation_chars = 2000;   // longer output keeps its head and tail
  std::string fence_language = "python";  // the fence tag that marks a tool call
  std::string observation_prefix = "\n```output\n";
  std::string observation_suffix = "\n```\n";
};

// The code of the tool call that ends `completion`: the last ```<language> block when
// only whitespace follows its closing fence, or when it is left open (generation
// stopped at the fence). nullopt otherwise.
std::optional<std::string> ExtractToolCall(const std::string& completion,
                                           const std::string& language = "python");

class ToolEnv final : public Env {
 public:
  ToolEnv(TemplateOptions template_options, ToolEnvOptions options, CodeRunner runner,
          VerifierLookup verifiers);
  absl::StatusOr<std::string> Reset(const Task& task, EnvState* state) const override;
  // A runner error is returned as is (the episode can be retried or dropped).
  absl::StatusOr<StepResult> Step(EnvState* state, const std::string& completion) const override;

  // Step() without the grading, for callers that grade the final answer themselves:
  // appends the completion and, when it is a tool call within the budget, runs it and
  // returns the observation (also appended); nullopt when the completion is final (the
  // state is then not marked done). A runner error is returned as is.
  absl::StatusOr<std::optional<std::string>> Act(EnvState* state,
                                                 const std::string& completion) const;
  // Tool calls made so far in the episode (its observation segments).
  static int ToolCalls(const EnvState& state);

  // The observation text for a tool output (prefix, truncated output, suffix).
  std::string FormatObservation(const ToolOutput& output) const;

 private:
  TemplateOptions template_options_;
  ToolEnvOptions options_;
  CodeRunner runner_;
  VerifierLookup verifiers_;
};

}  // namespace rlvr

#endif  // RLVR_ENVS_TOOL_ENV_H_
