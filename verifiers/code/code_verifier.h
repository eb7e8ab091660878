// The "code" verifier: runs the model's program against the task's tests in the sandbox
// (verifiers/sandbox) and rewards passing tests.
//
// Verdicts, per test and overall (the first failing test's): passed, wrong_answer,
// runtime_error, timeout, memory_limit, output_limit, compile_error, sandbox_error.
// Pass/fail of assert and call tests comes from the harness's sentinel printed after the
// tests ran (harness.h), never from the exit code alone.
#ifndef RLVR_VERIFIERS_CODE_CODE_VERIFIER_H_
#define RLVR_VERIFIERS_CODE_CODE_VERIFIER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "verifiers/registry.h"
#include "verifiers/sandbox/pool.h"
#include "verifiers/sandbox/sandbox.h"
#include "verifiers/verifier.h"

namespace rlvr {

struct CodeVerifierOptions {
  sandbox::SandboxOptions sandbox;  // config key "sandbox": {allow_degraded, init_path, ...}
  int workers = 0;                  // concurrent sandboxes; 0 = one per core
  bool fraction_reward = false;     // "reward": "all_or_nothing" (default) | "fraction"
  double timeout_s = 2.0;           // per-test CPU seconds unless the task says otherwise
  int64_t memory_mb = 512;          // per-run memory unless the task says otherwise
  double max_timeout_s = 60.0;      // a task asking for more is clamped
  int64_t max_memory_mb = 4096;
  double float_tolerance = 1e-6;            // stdio and call comparisons
  int64_t max_output_bytes = 1 << 20;       // stdout cap per run (more is output_limit)
  std::string python = "/usr/bin/python3";  // the system python, not a venv
  std::string cxx = "/usr/bin/g++";
  std::vector<std::string> cxx_flags = {"-std=c++17", "-O2", "-pipe"};
  double compile_timeout_s = 30.0;  // CPU seconds for g++
  int64_t compile_memory_mb = 1536;
};

// From the `verifier:` config block, e.g. {"reward": "fraction", "sandbox":
// {"allow_degraded": true}}. INVALID_ARGUMENT naming an unknown or mistyped key.
absl::StatusOr<CodeVerifierOptions> CodeVerifierOptionsFromJson(const nlohmann::json& config);

// Thread-safe. Owns a Sandbox and a SandboxPool of `workers` threads; concurrent Verify()
// calls share the pool, so at most `workers` programs run at once.
class CodeVerifier final : public Verifier {
 public:
  // FAILED_PRECONDITION when the sandbox cannot be built (see Sandbox::Create).
  static absl::StatusOr<std::unique_ptr<CodeVerifier>> Create(const CodeVerifierOptions& options);
  ~CodeVerifier() override;

  // request.completion holds the program (the last fenced block, else all of it);
  // request.spec the task (see code/task.h). INVALID_ARGUMENT naming the spec field when
  // malformed. details: {"tests": [{"verdict", "time_s"}], "error"?: compiler or sandbox
  // message}.
  absl::StatusOr<Reward> Verify(const VerifyRequest& request) const override;
  std::string name() const override { return "code"; }

  const sandbox::Sandbox& sandbox() const { return *sandbox_; }

 private:
  CodeVerifier(const CodeVerifierOptions& options, std::unique_ptr<sandbox::Sandbox> sandbox);
  CodeVerifierOptions options_;
  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::unique_ptr<sandbox::SandboxPool> pool_;
};

// Registers "code".
absl::Status RegisterCodeVerifier(VerifierRegistry& registry);

}  // namespace rlvr

#endif  // RLVR_VERIFIERS_CODE_CODE_VERIFIER_H_
