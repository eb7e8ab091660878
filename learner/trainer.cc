#include "learner/trainer.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <tuple>

#include <ATen/Parallel.h>

#include "absl/strings/str_cat.h"
#include "core/model.h"
#include "core/status_macros.h"
#include "learner/distributed.h"
#include "learner/optim.h"

namespace rlvr {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Grades completions while generation goes on, so that reward latency hides behind
// rollout: the generator's callback hands each finished completion (by index) to
// `threads` grading threads through a queue of at most `capacity` items; the callback
// blocks while the queue is full. After the first grading error the rest are skipped
// (the step fails) but the queue keeps draining, so the generator never stalls.
class StreamingGrader {
 public:
  StreamingGrader(int threads, size_t capacity, std::function<absl::Status(int64_t)> grade)
      : capacity_(std::max<size_t>(capacity, 1)), grade_(std::move(grade)) {
    for (int t = 0; t < std::max(threads, 1); ++t) pool_.emplace_back([this] { Work(); });
  }
  ~StreamingGrader() { (void)Finish(); }

  void Push(int64_t index) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return queue_.size() < capacity_; });
    queue_.push_back(index);
    not_empty_.notify_one();
  }

  // Waits for every pushed completion to be graded; returns the first error.
  absl::Status Finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    not_empty_.notify_all();
    for (auto& t : pool_) t.join();
    pool_.clear();
    return first_error_;
  }

 private:
  void Work() {
    for (;;) {
      int64_t index;
      {
        std::unique_lock<std::mutex> lock(mu_);
        not_empty_.wait(lock, [&] { return closed_ || !queue_.empty(); });
        if (queue_.empty()) return;
        index = queue_.front();
        queue_.pop_front();
        not_full_.notify_one();
        if (!first_error_.ok()) continue;
      }
      absl::Status s = grade_(index);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        if (first_error_.ok()) first_error_ = s;
      }
    }
  }

  const size_t capacity_;
  const std::function<absl::Status(int64_t)> grade_;
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<int64_t> queue_;
  bool closed_ = false;
  absl::Status first_error_;
  std::vector<std::thread> pool_;
};

}  // namespace

absl::Status IndexedTaskSource::Restore(const nlohmann::json& state) {
  if (!state.is_object() || !state.contains("next") || !state["next"].is_number_integer()) {
    return absl::InvalidArgumentError("task source state: expected {\"next\": int}");
  }
  next_ = state["next"].get<int64_t>();
  return absl::OkStatus();
}

struct Trainer::Batch {
  std::vector<RolloutSample> samples;  // group-major
  nlohmann::json source_state;         // task source position after this batch
  int64_t generated_tokens = 0;
  int64_t truncated = 0;
  int64_t passed = 0;
  double generation_seconds = 0;
};

Trainer::Trainer(Transformer& policy, Optimizer& optimizer, Generator& generator,
                 const Tokenizer& tokenizer, TaskSource& tasks, TaskGrader grader, DataParallel* dp,
                 TrainerOptions options)
    : policy_(policy),
      optimizer_(optimizer),
      generator_(generator),
      tokenizer_(tokenizer),
      tasks_(tasks),
      grader_(std::move(grader)),
      dp_(dp),
      options_(std::move(options)) {}

Trainer::~Trainer() = default;

absl::StatusOr<Trainer::Batch> Trainer::Produce(int64_t step_seed) {
  const auto start = Clock::now();
  const int64_t g = options_.grpo.advantage_options.group_size;
  std::vector<Task> tasks;
  std::vector<GenerationRequest> requests;
  for (int64_t i = 0; i < options_.prompts_per_step; ++i) {
    ASSIGN_OR_RETURN(Task task, tasks_.Next());
    GenerationRequest request;
    request.id = task.id;
    request.prompt_ids = tokenizer_.Encode(RenderPrompt(task, options_.prompt_template));
    request.n = g;
    request.sampling = options_.sampling;
    request.sampling.seed = options_.sampling.seed * 1000003u + step_seed * 1009u + i;
    requests.push_back(std::move(request));
    tasks.push_back(std::move(task));
  }
  Batch batch;
  batch.source_state = tasks_.State();
  // Completions are stored in arrival order and graded as they arrive.
  const int64_t expected = options_.prompts_per_step * g;
  std::vector<Completion> completions(expected);
  std::vector<Reward> rewards(expected);
  std::atomic<int64_t> arrived{0};
  StreamingGrader grading(
      options_.grading_threads,
      std::max<size_t>(64, 4 * static_cast<size_t>(options_.grading_threads)), [&](int64_t i) {
        const int64_t request = completions[i].request_index;
        if (request < 0 || request >= static_cast<int64_t>(tasks.size())) {
          return absl::InternalError(absl::StrCat("generator returned a completion for request ",
                                                  request, " of ", tasks.size()));
        }
        const Task& task = tasks[request];
        absl::StatusOr<Reward> r = grader_(task, completions[i]);
        if (!r.ok()) {
          return absl::Status(r.status().code(),
                              absl::StrCat("grading task ", task.id, ": ", r.status().message()));
        }
        rewards[i] = *r;
        return absl::OkStatus();
      });
  const absl::Status generated = generator_.GenerateStream(requests, [&](Completion c) {
    const int64_t i = arrived++;
    if (i >= expected) return;  // counted below
    completions[i] = std::move(c);
    grading.Push(i);
  });
  const absl::Status graded = grading.Finish();
  RETURN_IF_ERROR(generated);
  if (arrived != expected) {
    return absl::InternalError(
        absl::StrCat("generator returned ", arrived.load(), " completions, expected ", expected));
  }
  RETURN_IF_ERROR(graded);
  // Group-major order, as the loss expects: by (request, sample).
  std::vector<int64_t> order(expected);
  for (int64_t i = 0; i < expected; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return std::tie(completions[a].request_index, completions[a].sample_index) <
           std::tie(completions[b].request_index, completions[b].sample_index);
  });
  for (int64_t i : order) {
    const Completion& c = completions[i];
    RolloutSample s;
    const auto& prompt = requests[c.request_index].prompt_ids;
    s.prompt.assign(prompt.begin(), prompt.end());
    s.completion.assign(c.token_ids.begin(), c.token_ids.end());
    s.behaviour_logprobs = c.logprobs;
    s.reward = rewards[i].score;
    s.policy_version = c.policy_version;
    batch.generated_tokens += static_cast<int64_t>(c.token_ids.size());
    batch.truncated += c.finish_reason == FinishReason::kLength;
    batch.passed += rewards[i].score >= 1.0;
    batch.samples.push_back(std::move(s));
  }
  batch.generation_seconds = Seconds(start);
  return batch;
}

absl::StatusOr<int64_t> Trainer::Resume(std::vector<std::string>* warnings) {
  if (options_.checkpoint.root.empty()) return 0;
  if (ListCheckpoints(options_.checkpoint.root).empty()) return 0;
  ASSIGN_OR_RETURN(LoadedCheckpoint loaded,
                   LoadLatestCheckpoint(options_.checkpoint, &policy_, &optimizer_));
  if (warnings != nullptr) *warnings = loaded.warnings;
  step_ = loaded.meta.step;
  version_ = loaded.meta.policy_version;
  if (loaded.meta.state.contains("tasks"))
    RETURN_IF_ERROR(tasks_.Restore(loaded.meta.state["tasks"]));
  RETURN_IF_ERROR(generator_.UpdateWeights(version_, policy_.NamedParameters()));
  published_version_ = version_;
  return step_;
}

absl::Status Trainer::Run(const std::function<void(const StepReport&)>& on_step,
                          const std::atomic<bool>* stop) {
  const bool async = options_.max_staleness > 0;
  const int previous_threads = at::get_num_threads();
  if (options_.learner_threads > 0) at::set_num_threads(options_.learner_threads);
  const bool checkpointing = options_.checkpoint_every > 0 && !options_.checkpoint.root.empty();
  const int rank = dp_ != nullptr ? dp_->rank() : 0;
  nlohmann::json consumed_state = tasks_.State();

  // Async: one producer thread keeps one batch ready ahead of the learner.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<absl::StatusOr<Batch>> ready;
  bool quit = false;
  std::thread producer;
  if (async) {
    producer = std::thread([&, seed = step_ * 7919 + rank]() mutable {
      for (int64_t k = 0;; ++k) {
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return quit || ready.size() < 1; });
          if (quit) return;
        }
        absl::StatusOr<Batch> b = Produce(seed + k);
        std::lock_guard<std::mutex> lock(mu);
        const bool failed = !b.ok();
        ready.push_back(std::move(b));
        cv.notify_all();
        if (failed) return;
      }
    });
  }
  auto take = [&]() -> absl::StatusOr<Batch> {
    if (!async) return Produce(step_ * 7919 + rank);
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !ready.empty(); });
    absl::StatusOr<Batch> b = std::move(ready.front());
    ready.pop_front();
    cv.notify_all();
    return b;
  };
  auto stop_producer = [&] {
    if (!async) return;
    {
      std::lock_guard<std::mutex> lock(mu);
      quit = true;
    }
    cv.notify_all();
    producer.join();
  };

  absl::Status status;
  while (step_ < options_.steps && !(stop != nullptr && stop->load())) {
    const auto step_start = Clock::now();
    const auto wait_start = Clock::now();
    absl::StatusOr<Batch> batch = take();
    if (!batch.ok()) {
      status = batch.status();
      break;
    }
    StepReport report;
    report.generation_seconds = async ? Seconds(wait_start) : batch->generation_seconds;
    // Drop whole groups that are too old (async); G samples of a prompt share a version
    // unless the engine mixes versions, in which case the oldest counts.
    const int64_t g = options_.grpo.advantage_options.group_size;
    std::vector<RolloutSample> fresh;
    double staleness_sum = 0;
    for (size_t first = 0; first < batch->samples.size(); first += g) {
      int64_t oldest = batch->samples[first].policy_version;
      for (int64_t j = 0; j < g; ++j)
        oldest = std::min(oldest, batch->samples[first + j].policy_version);
      if (async && version_ - oldest > options_.max_staleness) {
        report.stale_dropped += g;
        continue;
      }
      for (int64_t j = 0; j < g; ++j) {
        staleness_sum += static_cast<double>(version_ - batch->samples[first + j].policy_version);
        fresh.push_back(std::move(batch->samples[first + j]));
      }
    }
    consumed_state = batch->source_state;
    report.generated_tokens = batch->generated_tokens;
    const double n = static_cast<double>(batch->samples.size());
    report.pass_rate = n > 0 ? batch->passed / n : 0;
    report.truncated_rate = n > 0 ? batch->truncated / n : 0;
    report.mean_completion_tokens = n > 0 ? batch->generated_tokens / n : 0;
    if (!fresh.empty()) report.staleness_mean = staleness_sum / fresh.size();

    const auto train_start = Clock::now();
    if (!fresh.empty()) {
      absl::StatusOr<GrpoStepStats> stats =
          GrpoStep(policy_, nullptr, optimizer_, dp_, fresh, options_.grpo);
      if (!stats.ok()) {
        status = stats.status();
        break;
      }
      report.grpo = *stats;
    }
    ++step_;
    ++version_;
    status = generator_.UpdateWeights(version_, policy_.NamedParameters());
    if (!status.ok()) break;
    published_version_ = version_;
    report.train_seconds = Seconds(train_start);
    report.step = step_;
    report.policy_version = version_;
    report.step_seconds = Seconds(step_start);
    report.tokens_per_second =
        report.step_seconds > 0 ? report.generated_tokens / report.step_seconds : 0;
    if (on_step) on_step(report);
    if (checkpointing && rank == 0 &&
        (step_ % options_.checkpoint_every == 0 || step_ == options_.steps)) {
      CheckpointMeta meta;
      meta.step = step_;
      meta.policy_version = version_;
      meta.state = {{"tasks", consumed_state}};
      meta.config_yaml = options_.config_yaml;
      absl::StatusOr<std::string> saved =
          SaveCheckpoint(options_.checkpoint, policy_, &optimizer_, meta);
      if (!saved.ok()) {
        status = saved.status();
        break;
      }
    }
  }
  stop_producer();
  if (status.ok() && stop != nullptr && stop->load() && checkpointing && rank == 0) {
    CheckpointMeta meta;
    meta.step = step_;
    meta.policy_version = version_;
    meta.state = {{"tasks", consumed_state}};
    meta.config_yaml = options_.config_yaml;
    absl::StatusOr<std::string> saved =
        SaveCheckpoint(options_.checkpoint, policy_, &optimizer_, meta);
    if (!saved.ok()) status = saved.status();
  }
  if (options_.learner_threads > 0) at::set_num_threads(previous_threads);
  return status;
}

}  // namespace rlvr
