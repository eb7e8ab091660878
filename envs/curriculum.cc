#include "envs/curriculum.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "envs/dataset.h"  // SplitMix64

namespace rlvr {
namespace {

absl::Status ReadInt(const nlohmann::json& json, const char* object, const char* key,
                     int64_t* out) {
  auto it = json.find(key);
  if (it == json.end() || !it->is_number_integer()) {
    return absl::InvalidArgumentError(
        absl::StrCat(object, " state: field '", key, "' must be an integer"));
  }
  *out = it->get<int64_t>();
  return absl::OkStatus();
}

}  // namespace

double PassRate(const std::vector<double>& rewards, double pass_threshold) {
  if (rewards.empty()) return 0.0;
  int64_t passed = 0;
  for (double r : rewards) passed += r >= pass_threshold;
  return static_cast<double>(passed) / rewards.size();
}

absl::Status ValidateCurriculumOptions(const CurriculumOptions& o) {
  if (o.tracking != "ema" && o.tracking != "window") {
    return absl::InvalidArgumentError("curriculum.tracking must be 'ema' or 'window'");
  }
  if (!(o.ema_alpha > 0 && o.ema_alpha <= 1)) {
    return absl::InvalidArgumentError("curriculum.ema_alpha must be in (0, 1]");
  }
  if (o.window < 1) return absl::InvalidArgumentError("curriculum.window must be >= 1");
  if (o.min_observations < 1) {
    return absl::InvalidArgumentError("curriculum.min_observations must be >= 1");
  }
  if (o.policy != "none" && o.policy != "skip" && o.policy != "downweight") {
    return absl::InvalidArgumentError("curriculum.policy must be 'none', 'skip' or 'downweight'");
  }
  if (!(o.downweight >= 0 && o.downweight <= 1)) {
    return absl::InvalidArgumentError("curriculum.downweight must be in [0, 1]");
  }
  if (o.unsolved_threshold >= o.solved_threshold) {
    return absl::InvalidArgumentError(
        "curriculum.unsolved_threshold must be below curriculum.solved_threshold");
  }
  return absl::OkStatus();
}

const char* TaskStatusName(TaskStatus status) {
  switch (status) {
    case TaskStatus::kUnseen:
      return "unseen";
    case TaskStatus::kLearning:
      return "learning";
    case TaskStatus::kSolved:
      return "solved";
    case TaskStatus::kUnsolved:
      return "unsolved";
  }
  return "?";
}

Curriculum::Curriculum(CurriculumOptions options)
    : options_(std::move(options)), rng_state_(options_.seed ^ 0x6C62272E07BB0142ULL) {}

void Curriculum::Record(const std::string& task_id, double pass_rate) {
  pass_rate = std::clamp(std::isfinite(pass_rate) ? pass_rate : 0.0, 0.0, 1.0);
  Tracked& t = tasks_[task_id];
  t.ema =
      t.count == 0 ? pass_rate : options_.ema_alpha * pass_rate + (1 - options_.ema_alpha) * t.ema;
  ++t.count;
  if (options_.tracking == "window") {
    t.window.push_back(pass_rate);
    while (static_cast<int>(t.window.size()) > options_.window) t.window.pop_front();
  }
  ++counters_.observations;
}

double Curriculum::TrackedPassRate(const std::string& task_id) const {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return -1.0;
  const Tracked& t = it->second;
  if (options_.tracking == "ema") return t.ema;
  double sum = 0;
  for (double r : t.window) sum += r;
  return t.window.empty() ? -1.0 : sum / t.window.size();
}

TaskStatus Curriculum::Status(const std::string& task_id) const {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return TaskStatus::kUnseen;
  if (it->second.count < options_.min_observations) return TaskStatus::kLearning;
  const double rate = TrackedPassRate(task_id);
  // A tolerance for EMA round-off: 1 - tiny counts as solved at threshold 1.
  if (rate >= options_.solved_threshold - 1e-12) return TaskStatus::kSolved;
  if (rate <= options_.unsolved_threshold + 1e-12) return TaskStatus::kUnsolved;
  return TaskStatus::kLearning;
}

double Curriculum::Weight(const std::string& task_id) const {
  const TaskStatus status = Status(task_id);
  if (status != TaskStatus::kSolved && status != TaskStatus::kUnsolved) return 1.0;
  if (options_.policy == "skip") return 0.0;
  if (options_.policy == "downweight") return options_.downweight;
  return 1.0;
}

bool Curriculum::Admit(const std::string& task_id) {
  const double weight = Weight(task_id);
  bool admit = weight >= 1.0;
  if (!admit && weight > 0.0) {
    const double u =
        static_cast<double>(SplitMix64(&rng_state_) >> 11) * (1.0 / 9007199254740992.0);
    admit = u < weight;
  }
  if (admit) {
    ++counters_.admitted;
  } else if (Status(task_id) == TaskStatus::kSolved) {
    ++counters_.skipped_solved;
  } else {
    ++counters_.skipped_unsolved;
  }
  return admit;
}

nlohmann::json Curriculum::ToJson() const {
  nlohmann::json tasks = nlohmann::json::object();
  for (const auto& [id, t] : tasks_) {
    tasks[id] = {{"ema", t.ema},
                 {"count", t.count},
                 {"window", std::vector<double>(t.window.begin(), t.window.end())}};
  }
  return {{"tasks", tasks},
          {"rng_state", rng_state_},
          {"counters",
           {{"admitted", counters_.admitted},
            {"skipped_solved", counters_.skipped_solved},
            {"skipped_unsolved", counters_.skipped_unsolved},
            {"observations", counters_.observations}}}};
}

absl::Status Curriculum::FromJson(const nlohmann::json& json) {
  if (!json.is_object() || !json.contains("tasks") || !json["tasks"].is_object()) {
    return absl::InvalidArgumentError("curriculum state: field 'tasks' must be an object");
  }
  if (!json.contains("rng_state") || !json["rng_state"].is_number_unsigned()) {
    return absl::InvalidArgumentError("curriculum state: field 'rng_state' must be an integer");
  }
  std::unordered_map<std::string, Tracked> tasks;
  for (const auto& [id, t] : json["tasks"].items()) {
    Tracked tracked;
    if (!t.is_object() || !t.contains("ema") || !t["ema"].is_number() || !t.contains("window") ||
        !t["window"].is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("curriculum state: task '", id, "' must be {ema, count, window}"));
    }
    tracked.ema = t["ema"].get<double>();
    if (absl::Status s = ReadInt(t, "curriculum", "count", &tracked.count); !s.ok()) return s;
    for (const auto& r : t["window"]) {
      if (!r.is_number()) {
        return absl::InvalidArgumentError(
            absl::StrCat("curriculum state: task '", id, "' window must hold numbers"));
      }
      tracked.window.push_back(r.get<double>());
    }
    tasks[id] = std::move(tracked);
  }
  CurriculumCounters counters;
  const nlohmann::json& c = json.value("counters", nlohmann::json::object());
  for (auto [key, field] : {std::pair{"admitted", &counters.admitted},
                            std::pair{"skipped_solved", &counters.skipped_solved},
                            std::pair{"skipped_unsolved", &counters.skipped_unsolved},
                            std::pair{"observations", &counters.observations}}) {
    if (absl::Status s = ReadInt(c, "curriculum counters", key, field); !s.ok()) return s;
  }
  tasks_ = std::move(tasks);
  counters_ = counters;
  rng_state_ = json["rng_state"].get<uint64_t>();
  return absl::OkStatus();
}

// ---- DynamicSampler ---------------------------------------------------------------

DynamicSampler::DynamicSampler(int64_t groups_per_batch, DynamicSamplingOptions options)
    : groups_per_batch_(groups_per_batch), options_(options) {}

void DynamicSampler::StartBatch() {
  if (started_ && !finished_ && !Full()) ++counters_.short_batches;
  started_ = true;
  finished_ = false;
  ++counters_.batches;
  kept_in_batch_ = 0;
  offered_in_batch_ = 0;
}

void DynamicSampler::FinishBatch() {
  if (started_ && !finished_ && !Full()) ++counters_.short_batches;
  finished_ = true;
}

bool DynamicSampler::Exhausted() const {
  return options_.max_offers_per_batch > 0 && offered_in_batch_ >= options_.max_offers_per_batch;
}

bool DynamicSampler::Offer(const std::vector<double>& rewards) {
  ++counters_.offered;
  ++offered_in_batch_;
  bool keep = true;
  if (options_.enabled && !rewards.empty()) {
    const auto [lo, hi] = std::minmax_element(rewards.begin(), rewards.end());
    if (*hi - *lo <= options_.epsilon) {
      keep = false;
      if (*lo >= options_.pass_threshold) {
        ++counters_.dropped_all_passed;
      } else {
        ++counters_.dropped_all_failed;
      }
    }
  }
  if (keep) {
    ++counters_.kept;
    ++kept_in_batch_;
  }
  return keep;
}

nlohmann::json DynamicSampler::ToJson() const {
  return {{"offered", counters_.offered},
          {"kept", counters_.kept},
          {"dropped_all_passed", counters_.dropped_all_passed},
          {"dropped_all_failed", counters_.dropped_all_failed},
          {"batches", counters_.batches},
          {"short_batches", counters_.short_batches},
          {"kept_in_batch", kept_in_batch_},
          {"offered_in_batch", offered_in_batch_},
          {"started", started_},
          {"finished", finished_}};
}

absl::Status DynamicSampler::FromJson(const nlohmann::json& json) {
  if (!json.is_object())
    return absl::InvalidArgumentError("dynamic sampler state must be an object");
  DynamicSamplingCounters c;
  int64_t kept_in_batch = 0, offered_in_batch = 0;
  for (auto [key, field] :
       {std::pair{"offered", &c.offered}, std::pair{"kept", &c.kept},
        std::pair{"dropped_all_passed", &c.dropped_all_passed},
        std::pair{"dropped_all_failed", &c.dropped_all_failed}, std::pair{"batches", &c.batches},
        std::pair{"short_batches", &c.short_batches}, std::pair{"kept_in_batch", &kept_in_batch},
        std::pair{"offered_in_batch", &offered_in_batch}}) {
    if (absl::Status s = ReadInt(json, "dynamic sampler", key, field); !s.ok()) return s;
  }
  auto started = json.find("started");
  if (started == json.end() || !started->is_boolean()) {
    return absl::InvalidArgumentError("dynamic sampler state: field 'started' must be a boolean");
  }
  auto finished = json.find("finished");  // absent in states saved before FinishBatch()
  if (finished != json.end() && !finished->is_boolean()) {
    return absl::InvalidArgumentError("dynamic sampler state: field 'finished' must be a boolean");
  }
  counters_ = c;
  kept_in_batch_ = kept_in_batch;
  offered_in_batch_ = offered_in_batch;
  started_ = started->get<bool>();
  finished_ = finished != json.end() && finished->get<bool>();
  return absl::OkStatus();
}

}  // namespace rlvr
