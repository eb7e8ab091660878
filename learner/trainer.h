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
#include "envs/curriculum.h"
#include "envs/task.h"
#include "envs/template.h"
#include "envs/tool_env.h"
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
  // The frozen reference policy of the KL penalty; required when grpo.loss.kl_coef != 0
  // (then it must outlive the trainer), unused otherwise.
  const Transformer* reference = nullptr;
  // 0 = sync; k >= 1 = async, dropping samples more than k versions old.
  int64_t max_staleness = 0;
  int grading_threads = 2;

  // Curriculum (envs/curriculum.h), when use_curriculum: after grading, every group's
  // pass rate (share of rewards >= 1) is recorded under its task's key ("id": Task::id;
  // "prompt": the task's prompt text, for generated streams whose ids never repeat), and
  // tasks are drawn from the source through Curriculum::Admit(). After
  // curriculum_max_draws refusals in a row the last task drawn is used anyway and counted
  // as forced, so a set whose every task is skipped slows down but never stalls.
  bool use_curriculum = false;
  CurriculumOptions curriculum;
  std::string curriculum_key = "id";
  int64_t curriculum_max_draws = 64;

  // Dynamic sampling (DAPO): groups whose rewards are all equal (zero advantage) are
  // dropped and more prompts are generated, up to dynamic_sampling_max_rounds extra
  // generation rounds per step (each for the groups still missing); a batch still short
  // then trains on the groups it has. Works in sync and async mode.
  bool dynamic_sampling = false;
  int64_t dynamic_sampling_max_rounds = 4;

  // Tool use (envs/tool_env.h), when tool_runner is set: each sample is a multi-turn
  // episode. A completion ending in a tool call is run by tool_runner, its observation
  // appended, and the model continues, up to tool.max_tool_calls calls. The sample's
  // completion is every model and observation token in order; completion_mask and the
  // behaviour log-probabilities are 0 on observation tokens; the grader sees the model's
  // text only (observations excluded) and its tokens. An episode stops calling tools once
  // it holds max_episode_tokens tokens (0: (max_tool_calls + 1) * max_new_tokens); the
  // prompt plus that many tokens must fit the generator's context.
  CodeRunner tool_runner;
  ToolEnvOptions tool;
  int64_t max_episode_tokens = 0;
  // Tokens per sequence of the generator (prompt + completion, or the whole tool
  // episode); 0 = unchecked. A task whose prompt leaves too little room fails the step
  // with an error naming max_context_key, instead of being cut short and graded 0.
  int64_t max_context = 0;
  std::string max_context_key = "max_context";

  // Sees the samples of every step just before the update (sample dumps, debugging).
  std::function<void(const std::vector<RolloutSample>&)> inspect_batch;
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

  // Curriculum, totals over the run (when on).
  CurriculumCounters curriculum;
  int64_t curriculum_tracked = 0;  // tasks with a tracked pass rate
  int64_t curriculum_forced = 0;   // tasks used after curriculum_max_draws refusals
  // Dynamic sampling (when on): this step's groups dropped as zero-variance, prompts
  // generated beyond prompts_per_step, and whether the batch ended short; run totals.
  int64_t dropped_groups = 0;
  int64_t extra_prompts = 0;
  bool short_batch = false;
  DynamicSamplingCounters dynamic;
  int64_t extra_prompts_total = 0;
  // Tool use: calls per episode (mean over this step's episodes), observation tokens.
  double tool_calls_mean = 0;
  int64_t observation_tokens = 0;
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
  struct Group;
  absl::StatusOr<Batch> Produce(int64_t step_seed);
  // A task from the source, through the curriculum when it is on.
  absl::StatusOr<Task> DrawTask();
  // Generates and grades G episodes of each task; request seeds are numbered from
  // `first_index`. Adds generation counts to *batch.
  absl::StatusOr<std::vector<Group>> Rollout(std::vector<Task> tasks, int64_t step_seed,
                                             int64_t first_index, Batch* batch);
  // What a checkpoint holds besides weights: task position, curriculum, sampler.
  nlohmann::json TrainState() const;
  absl::Status RestoreTrainState(const nlohmann::json& state);

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
  // Touched only by Produce() (one thread at a time) and Resume().
  std::unique_ptr<Curriculum> curriculum_;
  int64_t curriculum_forced_ = 0;
  std::unique_ptr<DynamicSampler> sampler_;
  int64_t extra_prompts_total_ = 0;
  std::unique_ptr<ToolEnv> tool_env_;
};

}  // namespace rlvr

#endif  // RLVR_LEARNER_TRAINER_H_
