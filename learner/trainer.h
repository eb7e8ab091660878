// The GRPO training loop: tasks -> rollouts (any Generator) -> rewards (any verifier)
// -> GrpoStep -> weight publication -> metrics and checkpoints.
//
// Sync mode: the rollouts of step k come from policy version k.
// Async mode (max_staleness k >= 1): a producer thread keeps generating while the
// learner trains; every sample carries the version that produced it, samples older
// than k versions are dropped and counted, and the loss's rollout importance-sampling
// correction uses the behaviour log-probabilities each sample carries.
//
// Not thread-safe: one thread calls Run().
#ifndef RLVR_LEARNER_TRAINER_H_
#define RLVR_LEARNER_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/tokenizer.h"
#include "envs/task.h"
#include "envs/template.h"
#include "learner/checkpoint.h"
#include "learner/grpo.h"
#include "rollout/generator.h"
#include "verifiers/verifier.h"

namespace rlvr {

class Transformer;
class Optimizer;
class DataParallel;

// Where training tasks come from, with a resumable position.
class TaskSource {
 public:
  virtual ~TaskSource() = default;
  virtual absl::StatusOr<Task> Next() = 0;
  virtual nlohmann::json State() const = 0;
  virtual absl::Status Restore(const nlohmann::json& state) = 0;
};

// Task i of an endless indexed stream (built-in generated tasks).
class IndexedTaskSource final : public TaskSource {
 public:
  explicit IndexedTaskSource(std::function<Task(int64_t)> make) : make_(std::move(make)) {}
  absl::StatusOr<Task> Next() override { return make_(next_++); }
  nlohmann::json State() const override { return {{"next", next_}}; }
  absl::Status Restore(const nlohmann::json& state) override;

 private:
  std::function<Task(int64_t)> make_;
  int64_t next_ = 0;
};

// Grades one completion of a task. An error status fails the step: a reward that
// could not be computed is never silently 0.
using TaskGrader = std::function<absl::StatusOr<Reward>(const Task& task, const Completion& c)>;

struct TrainerOptions {
  int64_t steps = 50;
  int64_t prompts_per_step = 16;  // per rank
  SamplingParams sampling;        // rollout sampling; sampling.seed is advanced per step
  TemplateOptions prompt_template;
  GrpoOptions grpo;  // grpo.advantage_options.group_size is G, samples per prompt
  // 0 = sync; k >= 1 = async, dropping samples more than k versions old.
  int64_t max_staleness = 0;
  int grading_threads = 2;
  // Torch intra-op threads of the thread calling Run(), for the duration of Run();
  // 0 = unchanged. In async mode the learner trains while the generator decodes, so
  // the two should split the cores between them (see EngineOptions::intra_op_threads).
  int learner_threads = 0;
  // Checkpoints every `checkpoint_every` steps (and at the end) when > 0.
  int64_t checkpoint_every = 0;
  CheckpointOptions checkpoint;
  std::string config_yaml;  // saved beside every checkpoint
};

struct StepReport {
  int64_t step = 0;  // 1-based, after the update
  int64_t policy_version = 0;
  GrpoStepStats grpo;
  double pass_rate = 0;  // share of samples with reward >= 1
  double mean_completion_tokens = 0;
  double truncated_rate = 0;  // finish reason "length"
  int64_t generated_tokens = 0;
  double generation_seconds = 0;  // waiting for rollouts (sync: all of generation)
  double train_seconds = 0;
  double step_seconds = 0;
  double tokens_per_second = 0;  // generated tokens / step wall time
  int64_t stale_dropped = 0;     // samples dropped as too old (async)
  double staleness_mean = 0;     // versions behind, over the samples trained on
};

class Trainer {
 public:
  // All references must outlive the trainer. `generator` serves the policy; the trainer
  // publishes every new version to it. `dp` may be null (one rank).
  Trainer(Transformer& policy, Optimizer& optimizer, Generator& generator,
          const Tokenizer& tokenizer, TaskSource& tasks, TaskGrader grader, DataParallel* dp,
          TrainerOptions options);
  ~Trainer();

  // Loads the newest valid checkpoint under options.checkpoint.root into the policy,
  // optimizer and task source and republishes the weights. Returns the step it resumes
  // after (0 when there is no checkpoint). Skipped corrupt checkpoints are in warnings.
  absl::StatusOr<int64_t> Resume(std::vector<std::string>* warnings);

  // Trains until options.steps or until *stop becomes true (then a checkpoint is saved
  // when checkpointing is on). `on_step` sees every step's report.
  absl::Status Run(const std::function<void(const StepReport&)>& on_step,
                   const std::atomic<bool>* stop);

  int64_t step() const { return step_; }
  int64_t policy_version() const { return version_; }

 private:
  struct Batch;
  absl::StatusOr<Batch> Produce(int64_t step_seed);

  Transformer& policy_;
  Optimizer& optimizer_;
  Generator& generator_;
  const Tokenizer& tokenizer_;
  TaskSource& tasks_;
  TaskGrader grader_;
  DataParallel* dp_;
  TrainerOptions options_;
  int64_t step_ = 0;
  int64_t version_ = 0;
  std::atomic<int64_t> published_version_{0};
};

}  // namespace rlvr

#endif  // RLVR_LEARNER_TRAINER_H_
