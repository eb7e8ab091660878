#include "learner/trainer.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
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
  std::vector<RolloutSample> samples;  // group-major: the groups to train on
  nlohmann::json state;                // TrainState() after this batch
  int64_t generated_samples = 0;       // every episode, dropped groups included
  int64_t generated_tokens = 0;        // model tokens (observations excluded)
  int64_t truncated = 0;
  int64_t passed = 0;
  int64_t tool_calls = 0;
  double generation_seconds = 0;
  // The step report's curriculum, dynamic-sampling and observation counters, filled as
  // the batch is produced; Run() completes the rest of the report.
  StepReport report;
};

// The G graded samples of one task.
struct Trainer::Group {
  Task task;
  std::vector<RolloutSample> samples;
  std::vector<double> rewards;
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
      options_(std::move(options)) {
  if (options_.use_curriculum) curriculum_ = std::make_unique<Curriculum>(options_.curriculum);
  if (options_.dynamic_sampling) {
    sampler_ =
        std::make_unique<DynamicSampler>(options_.prompts_per_step, DynamicSamplingOptions());
  }
  if (options_.tool_runner) {
    tool_env_ = std::make_unique<ToolEnv>(options_.prompt_template, options_.tool,
                                          options_.tool_runner, VerifierLookup());
  }
}

Trainer::~Trainer() = default;

namespace {

std::string CurriculumKey(const Task& task, const std::string& key) {
  return key == "prompt" ? PromptText(task) : task.id;
}

}  // namespace

absl::StatusOr<Task> Trainer::DrawTask() {
  if (curriculum_ == nullptr) return tasks_.Next();
  for (int64_t draw = 1;; ++draw) {
    ASSIGN_OR_RETURN(Task task, tasks_.Next());
    if (curriculum_->Admit(CurriculumKey(task, options_.curriculum_key))) return task;
    if (draw >= options_.curriculum_max_draws) {
      ++curriculum_forced_;
      return task;
    }
  }
}

absl::StatusOr<std::vector<Trainer::Group>> Trainer::Rollout(std::vector<Task> tasks,
                                                             int64_t step_seed, int64_t first_index,
                                                             Batch* batch) {
  const int64_t g = options_.grpo.advantage_options.group_size;
  const int64_t num_tasks = static_cast<int64_t>(tasks.size());
  const int64_t total = num_tasks * g;
  const int64_t max_episode_tokens =
      options_.max_episode_tokens > 0
          ? options_.max_episode_tokens
          : (options_.tool.max_tool_calls + 1) * options_.sampling.max_new_tokens;
  std::vector<GenerationRequest> requests;
  for (int64_t i = 0; i < num_tasks; ++i) {
    GenerationRequest request;
    request.id = tasks[i].id;
    request.prompt_ids = tokenizer_.Encode(RenderPrompt(tasks[i], options_.prompt_template));
    RETURN_IF_ERROR(CheckFitsContext(
        request, options_.tool_runner ? max_episode_tokens : options_.sampling.max_new_tokens,
        options_.max_context, options_.max_context_key));
    request.n = g;
    request.sampling = options_.sampling;
    request.sampling.seed = options_.sampling.seed * 1000003u + step_seed * 1009u + first_index + i;
    requests.push_back(std::move(request));
  }

  // One episode per sample (index task * G + sample). Single-turn: `last` is the
  // completion. Tool use: `state` holds the segments with their exact token ids and
  // `logprobs` the behaviour log-probabilities of each segment (0 on observations).
  struct Episode {
    Completion last;
    EnvState state;
    std::vector<std::vector<float>> logprobs;
    int64_t oldest_version = 0;
    int64_t tokens = 0;  // model and observation tokens so far
    bool continues = false;
    Reward reward;
  };
  std::vector<Episode> episodes(total);
  if (tool_env_ != nullptr) {
    for (int64_t e = 0; e < total; ++e) {
      Episode& ep = episodes[e];
      RETURN_IF_ERROR(tool_env_->Reset(tasks[e / g], &ep.state).status());
      ep.state.segments[0].tokens = requests[e / g].prompt_ids;
      ep.logprobs.resize(1);
    }
  }
  std::mutex error_mu;
  absl::Status first_error;
  auto fail = [&](absl::Status s) {
    std::lock_guard<std::mutex> lock(error_mu);
    if (first_error.ok()) first_error = std::move(s);
  };
  auto is_stop_token = [&](int32_t id) {
    const std::optional<int32_t> eos = tokenizer_.eos_id();
    if (eos && id == *eos) return true;
    for (int64_t stop : options_.sampling.stop_token_ids)
      if (stop == id) return true;
    return false;
  };

  const size_t capacity = std::max<size_t>(64, 4 * static_cast<size_t>(options_.grading_threads));
  StreamingGrader grading(options_.grading_threads, capacity, [&](int64_t e) {
    Episode& ep = episodes[e];
    const Task& task = tasks[e / g];
    Completion merged;
    const Completion* graded = &ep.last;
    if (tool_env_ != nullptr) {  // the model's text and tokens, observations excluded
      merged.request_id = task.id;
      merged.request_index = e / g;
      merged.sample_index = e % g;
      merged.finish_reason = ep.last.finish_reason;
      merged.policy_version = ep.oldest_version;
      for (size_t k = 0; k < ep.state.segments.size(); ++k) {
        const Segment& seg = ep.state.segments[k];
        if (seg.kind != Segment::Kind::kCompletion) continue;
        merged.text += seg.text;
        merged.token_ids.insert(merged.token_ids.end(), seg.tokens.begin(), seg.tokens.end());
        merged.logprobs.insert(merged.logprobs.end(), ep.logprobs[k].begin(), ep.logprobs[k].end());
      }
      graded = &merged;
    }
    absl::StatusOr<Reward> r = grader_(task, *graded);
    if (!r.ok()) {
      return absl::Status(r.status().code(),
                          absl::StrCat("grading task ", task.id, ": ", r.status().message()));
    }
    ep.reward = *std::move(r);
    return absl::OkStatus();
  });
  // Tool use: runs a completion's tool call (if any) on a worker thread; the episode
  // then either continues next turn or is final and goes to grading.
  auto act = [&](int64_t e) -> absl::Status {
    Episode& ep = episodes[e];
    const size_t at = ep.state.segments.size();
    absl::StatusOr<std::optional<std::string>> observation =
        tool_env_->Act(&ep.state, ep.last.text);
    if (!observation.ok()) {
      return absl::Status(observation.status().code(),
                          absl::StrCat("tool call of task ", tasks[e / g].id, ": ",
                                       observation.status().message()));
    }
    std::vector<int32_t> tokens = ep.last.token_ids;
    std::vector<float> logprobs = ep.last.logprobs;
    if (*observation && ep.last.finish_reason == FinishReason::kStop && !tokens.empty() &&
        is_stop_token(tokens.back())) {
      tokens.pop_back();  // the context goes on after the tool call, not after an EOS
      logprobs.pop_back();
    }
    ep.tokens += static_cast<int64_t>(tokens.size());
    ep.state.segments[at].tokens = std::move(tokens);
    ep.logprobs.push_back(std::move(logprobs));
    if (*observation) {
      Segment& seg = ep.state.segments[at + 1];
      seg.tokens = tokenizer_.Encode(seg.text);
      ep.tokens += static_cast<int64_t>(seg.tokens.size());
      ep.logprobs.emplace_back(seg.tokens.size(), 0.0f);
      if (ep.tokens < max_episode_tokens) {
        ep.continues = true;
        return absl::OkStatus();
      }
    }
    grading.Push(e);
    return absl::OkStatus();
  };

  std::vector<GenerationRequest> turn_requests = requests;
  std::vector<int64_t> turn_episode;  // turn > 0: the episode of each request
  for (int turn = 0; !turn_requests.empty(); ++turn) {
    const int64_t expected = turn == 0 ? total : static_cast<int64_t>(turn_requests.size());
    std::unique_ptr<StreamingGrader> acting;
    if (tool_env_ != nullptr) {
      acting = std::make_unique<StreamingGrader>(options_.grading_threads, capacity, act);
    }
    std::atomic<int64_t> arrived{0};
    const absl::Status generated = generator_.GenerateStream(turn_requests, [&](Completion c) {
      const int64_t i = arrived++;
      if (i >= expected) return;  // counted below
      const int64_t request = c.request_index;
      const int64_t sample = c.sample_index;
      if (request < 0 || request >= static_cast<int64_t>(turn_requests.size()) || sample < 0 ||
          sample >= turn_requests[request].n) {
        fail(absl::InternalError(absl::StrCat("generator returned a completion for request ",
                                              request, " sample ", sample, " of ",
                                              turn_requests.size(), " requests")));
        return;
      }
      const int64_t e = turn == 0 ? request * g + sample : turn_episode[request];
      Episode& ep = episodes[e];
      ep.oldest_version =
          turn == 0 ? c.policy_version : std::min(ep.oldest_version, c.policy_version);
      ep.last = std::move(c);
      if (acting != nullptr) {
        acting->Push(e);
      } else {
        grading.Push(e);
      }
    });
    const absl::Status acted = acting != nullptr ? acting->Finish() : absl::OkStatus();
    RETURN_IF_ERROR(generated);
    {
      std::lock_guard<std::mutex> lock(error_mu);
      RETURN_IF_ERROR(first_error);
    }
    if (arrived != expected) {
      return absl::InternalError(
          absl::StrCat("generator returned ", arrived.load(), " completions, expected ", expected));
    }
    RETURN_IF_ERROR(acted);
    turn_requests.clear();
    turn_episode.clear();
    for (int64_t e = 0; e < total; ++e) {
      Episode& ep = episodes[e];
      if (!ep.continues) continue;
      ep.continues = false;
      GenerationRequest request;
      request.id = absl::StrCat(tasks[e / g].id, "#", e % g, ".", turn + 1);
      request.prompt_ids = TokenizeEpisode(ep.state.segments, [&](const std::string& text) {
                             return tokenizer_.Encode(text);
                           }).tokens;
      request.n = 1;
      request.sampling = options_.sampling;
      request.sampling.max_new_tokens =
          std::min(options_.sampling.max_new_tokens, max_episode_tokens - ep.tokens);
      request.sampling.seed =
          requests[e / g].sampling.seed + 0x9E3779B97F4A7C15ULL * (turn + 1) + 7919u * (e % g);
      turn_requests.push_back(std::move(request));
      turn_episode.push_back(e);
    }
  }
  RETURN_IF_ERROR(grading.Finish());

  std::vector<Group> groups(num_tasks);
  for (int64_t t = 0; t < num_tasks; ++t) {
    Group& group = groups[t];
    group.task = std::move(tasks[t]);
    const auto& prompt = requests[t].prompt_ids;
    for (int64_t j = 0; j < g; ++j) {
      Episode& ep = episodes[t * g + j];
      RolloutSample s;
      s.prompt.assign(prompt.begin(), prompt.end());
      int64_t model_tokens = 0;
      if (tool_env_ == nullptr) {
        s.completion.assign(ep.last.token_ids.begin(), ep.last.token_ids.end());
        s.behaviour_logprobs = std::move(ep.last.logprobs);
        model_tokens = static_cast<int64_t>(s.completion.size());
      } else {
        const std::vector<Segment>& segments = ep.state.segments;
        for (size_t k = 1; k < segments.size(); ++k) {
          const bool model = segments[k].kind == Segment::Kind::kCompletion;
          s.completion.insert(s.completion.end(), segments[k].tokens.begin(),
                              segments[k].tokens.end());
          s.completion_mask.insert(s.completion_mask.end(), segments[k].tokens.size(),
                                   model ? 1.0f : 0.0f);
          s.behaviour_logprobs.insert(s.behaviour_logprobs.end(), ep.logprobs[k].begin(),
                                      ep.logprobs[k].end());
          (model ? model_tokens : batch->report.observation_tokens) +=
              static_cast<int64_t>(segments[k].tokens.size());
        }
        batch->tool_calls += ToolEnv::ToolCalls(ep.state);
      }
      s.reward = ep.reward.score;
      s.policy_version = ep.oldest_version;
      ++batch->generated_samples;
      batch->generated_tokens += model_tokens;
      batch->truncated += ep.last.finish_reason == FinishReason::kLength;
      batch->passed += ep.reward.score >= 1.0;
      group.rewards.push_back(ep.reward.score);
      group.samples.push_back(std::move(s));
    }
  }
  return groups;
}

absl::StatusOr<Trainer::Batch> Trainer::Produce(int64_t step_seed) {
  const auto start = Clock::now();
  const int64_t want = options_.prompts_per_step;
  Batch batch;
  if (sampler_ != nullptr) sampler_->StartBatch();
  std::vector<Group> kept;
  std::optional<Group> last_dropped;
  int64_t offered = 0;
  for (int64_t round = 0;; ++round) {
    const int64_t need = want - static_cast<int64_t>(kept.size());
    std::vector<Task> tasks;
    for (int64_t i = 0; i < need; ++i) {
      ASSIGN_OR_RETURN(Task task, DrawTask());
      tasks.push_back(std::move(task));
    }
    ASSIGN_OR_RETURN(std::vector<Group> groups,
                     Rollout(std::move(tasks), step_seed, offered, &batch));
    offered += need;
    for (Group& group : groups) {
      if (curriculum_ != nullptr) {
        curriculum_->Record(CurriculumKey(group.task, options_.curriculum_key),
                            PassRate(group.rewards, 1.0));
      }
      if (sampler_ != nullptr && !sampler_->Offer(group.rewards)) {
        ++batch.report.dropped_groups;
        last_dropped = std::move(group);
        continue;
      }
      kept.push_back(std::move(group));
    }
    if (sampler_ == nullptr || sampler_->Full() || round >= options_.dynamic_sampling_max_rounds) {
      break;
    }
  }
  if (sampler_ != nullptr) {
    batch.report.short_batch = !sampler_->Full();
    sampler_->FinishBatch();
    // Every rank must take part in the step's collectives: a rank left with nothing
    // trains on one zero-variance group (its advantages, and so its gradient, are 0).
    if (kept.empty() && last_dropped && dp_ != nullptr && dp_->world_size() > 1) {
      kept.push_back(*std::move(last_dropped));
    }
  }
  batch.report.extra_prompts = offered - want;
  extra_prompts_total_ += batch.report.extra_prompts;
  for (Group& group : kept) {
    for (RolloutSample& s : group.samples) batch.samples.push_back(std::move(s));
  }
  batch.state = TrainState();
  if (curriculum_ != nullptr) {
    batch.report.curriculum = curriculum_->counters();
    batch.report.curriculum_tracked = curriculum_->num_tracked();
    batch.report.curriculum_forced = curriculum_forced_;
  }
  if (sampler_ != nullptr) batch.report.dynamic = sampler_->counters();
  batch.report.extra_prompts_total = extra_prompts_total_;
  batch.generation_seconds = Seconds(start);
  return batch;
}

nlohmann::json Trainer::TrainState() const {
  nlohmann::json state = {{"tasks", tasks_.State()}};
  if (curriculum_ != nullptr) {
    state["curriculum"] = {{"state", curriculum_->ToJson()}, {"forced", curriculum_forced_}};
  }
  if (sampler_ != nullptr) {
    state["dynamic_sampling"] = {{"sampler", sampler_->ToJson()},
                                 {"extra_prompts", extra_prompts_total_}};
  }
  return state;
}

absl::Status Trainer::RestoreTrainState(const nlohmann::json& state) {
  if (state.contains("tasks")) RETURN_IF_ERROR(tasks_.Restore(state["tasks"]));
  // A checkpoint from a run without the curriculum or sampler starts them fresh.
  if (curriculum_ != nullptr && state.contains("curriculum")) {
    const nlohmann::json& c = state["curriculum"];
    if (!c.is_object() || !c.contains("state") ||
        !c.value("forced", nlohmann::json()).is_number_integer()) {
      return absl::InvalidArgumentError("checkpoint state: curriculum: expected {state, forced}");
    }
    RETURN_IF_ERROR(curriculum_->FromJson(c["state"]));
    curriculum_forced_ = c["forced"].get<int64_t>();
  }
  if (sampler_ != nullptr && state.contains("dynamic_sampling")) {
    const nlohmann::json& d = state["dynamic_sampling"];
    if (!d.is_object() || !d.contains("sampler") ||
        !d.value("extra_prompts", nlohmann::json()).is_number_integer()) {
      return absl::InvalidArgumentError(
          "checkpoint state: dynamic_sampling: expected {sampler, extra_prompts}");
    }
    RETURN_IF_ERROR(sampler_->FromJson(d["sampler"]));
    extra_prompts_total_ = d["extra_prompts"].get<int64_t>();
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Trainer::Resume(std::vector<std::string>* warnings) {
  if (options_.checkpoint.root.empty()) return 0;
  if (ListCheckpoints(options_.checkpoint.root).empty()) return 0;
  ASSIGN_OR_RETURN(LoadedCheckpoint loaded,
                   LoadLatestCheckpoint(options_.checkpoint, &policy_, &optimizer_));
  if (warnings != nullptr) *warnings = loaded.warnings;
  step_ = loaded.meta.step;
  version_ = loaded.meta.policy_version;
  RETURN_IF_ERROR(RestoreTrainState(loaded.meta.state));
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
  if (curriculum_ != nullptr) RETURN_IF_ERROR(ValidateCurriculumOptions(options_.curriculum));
  nlohmann::json consumed_state = TrainState();

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
    StepReport report = std::move(batch->report);
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
    consumed_state = batch->state;
    report.generated_tokens = batch->generated_tokens;
    const double n = static_cast<double>(batch->generated_samples);
    report.pass_rate = n > 0 ? batch->passed / n : 0;
    report.truncated_rate = n > 0 ? batch->truncated / n : 0;
    report.mean_completion_tokens = n > 0 ? batch->generated_tokens / n : 0;
    if (!fresh.empty()) report.staleness_mean = staleness_sum / fresh.size();
    report.tool_calls_mean = n > 0 ? batch->tool_calls / n : 0;

    const auto train_start = Clock::now();
    if (options_.inspect_batch) options_.inspect_batch(fresh);
    if (!fresh.empty()) {
      absl::StatusOr<GrpoStepStats> stats =
          GrpoStep(policy_, options_.reference, optimizer_, dp_, fresh, options_.grpo);
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
    // A sharded optimizer's ranks all take part: they send rank 0 their state.
    if (checkpointing && (rank == 0 || optimizer_.sharded()) &&
        (step_ % options_.checkpoint_every == 0 || step_ == options_.steps)) {
      CheckpointMeta meta;
      meta.step = step_;
      meta.policy_version = version_;
      meta.state = consumed_state;
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
  if (status.ok() && stop != nullptr && stop->load() && checkpointing &&
      (rank == 0 || optimizer_.sharded())) {
    CheckpointMeta meta;
    meta.step = step_;
    meta.policy_version = version_;
    meta.state = consumed_state;
    meta.config_yaml = options_.config_yaml;
    absl::StatusOr<std::string> saved =
        SaveCheckpoint(options_.checkpoint, policy_, &optimizer_, meta);
    if (!saved.ok()) status = saved.status();
  }
  if (options_.learner_threads > 0) at::set_num_threads(previous_threads);
  return status;
}

}  // namespace rlvr
