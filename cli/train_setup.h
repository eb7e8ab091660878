// Turns a training config (configs/quickstart.yaml is the reference) into the objects
// `rlvr train` wires together. Every config error names the key and the file.
#ifndef RLVR_CLI_TRAIN_SETUP_H_
#define RLVR_CLI_TRAIN_SETUP_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/config.h"
#include "core/grpc_security.h"
#include "core/model.h"
#include "core/tokenizer.h"
#include "envs/task.h"
#include "envs/template.h"
#include "eval/evaluate.h"
#include "eval/metrics_sink.h"
#include "learner/batch.h"
#include "learner/distributed.h"
#include "learner/optim.h"
#include "learner/sft.h"
#include "learner/trainer.h"
#include "rollout/engine.h"
#include "verifiers/sandbox/sandbox.h"

namespace rlvr::cli {

// configs/quickstart.yaml, embedded at build time.
extern const char kQuickstartYaml[];

struct SftSetup {
  int64_t steps = 0;
  int64_t batch_size = 32;
  OptimizerOptions optimizer;
  SftOptions options;
};

struct TrainSetup {
  std::string run_name;
  std::string run_dir;      // <run.dir>/<run.name>
  std::string config_yaml;  // the resolved config
  uint64_t seed = 0;
  Tokenizer tokenizer = Tokenizer::Builtin();
  std::unique_ptr<Transformer> policy;  // requires_grad
  std::unique_ptr<TaskSource> train_tasks;
  std::unique_ptr<TaskSource> sft_tasks;  // tasks with metadata.reference_completion
  std::vector<Task> eval_tasks;           // held out
  TaskGrader grader;
  TemplateOptions prompt_template;
  SftSetup sft;
  OptimizerOptions optimizer;
  // env.name: tool: the sandbox trainer.tool_runner runs tool calls in.
  std::unique_ptr<sandbox::Sandbox> tool_sandbox;
  TrainerOptions trainer;
  EngineOptions engine;
  // Remote rollout workers ("host:port"); empty = the in-process engine.
  std::vector<std::string> rollout_workers;
  // `security:`: the shared token and TLS settings of every gRPC client (rollout
  // workers and remote verifiers that set none of their own).
  std::string service_token;
  TlsClientOptions service_tls;
  EvalOptions eval;
  DistributedOptions distributed;
  // `export:`: metrics exporters under run_dir (JSONL always; CSV, TensorBoard,
  // Prometheus) and the static dashboard at run_dir/dashboard/index.html.
  ExportOptions exporters;
  bool dashboard = true;
};

absl::StatusOr<std::unique_ptr<TrainSetup>> BuildTrainSetup(const Config& config);

// The SFT example of a task: its rendered prompt and reference completion plus EOS.
absl::StatusOr<Sequence> SftSequence(const TrainSetup& setup, const Task& task);

// The SFT warm start of `rlvr train` and the benchmarks: setup.sft.steps steps of
// setup.sft.batch_size reference completions from setup.sft_tasks, with a fresh
// optimizer (setup.sft.optimizer) and setup.sft.options. `dp` may be null (one rank).
// `on_step(step, stats)` (1-based step) sees every step; the loop ends early when
// *stop becomes true (`stop` may be null).
absl::Status RunSftWarmStart(
    TrainSetup& setup, DataParallel* dp,
    const std::function<absl::Status(int64_t, const SftStepStats&)>& on_step,
    const std::atomic<bool>* stop = nullptr);

// The scalars of an evaluation result under `phase` at `step`: pass@1, pass@k (k > 1),
// maj@k, mean reward, completion length, truncation, correct answers per million tokens.
ScalarRecord EvalScalars(const std::string& phase, int64_t step, const EvalResult& r);

// The rollout engine's copy of the policy: same device and dtype, no gradients.
absl::StatusOr<ModelOptions> EngineModelOptions(const TrainSetup& setup);

// The frozen reference policy of the KL penalty (no gradients), or null when
// learner.kl_coef is 0. A fresh run copies the policy as it stands (call it after the
// SFT warm start) and, when `save` (rank 0), writes the copy to <run_dir>/reference; a
// resumed run (`resuming`) loads that copy, so the penalty keeps its anchor.
absl::StatusOr<std::unique_ptr<Transformer>> MakeReferenceModel(const TrainSetup& setup,
                                                                bool resuming, bool save);

// A grader that creates verifiers by the task's `verifier` name on first use.
// `configs` maps a task verifier name to {"use": registry name (default: the same),
// ...that verifier's config}, e.g. {"math": {"use": "remote", "target": "host:port"}}.
TaskGrader MakeRegistryGrader(const nlohmann::json& configs);

}  // namespace rlvr::cli

#endif  // RLVR_CLI_TRAIN_SETUP_H_
