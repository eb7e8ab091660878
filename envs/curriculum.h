// Curriculum and dynamic sampling.
//
// Curriculum: per-task pass rates tracked across epochs (EMA or a window of recent
// observations); tasks that are always solved or never solved are skipped or
// down-weighted, because their GRPO groups carry no learning signal.
//
// DynamicSampler: fills a batch with groups whose rewards are not all equal (a
// zero-variance group has zero advantage everywhere), counting what it drops.
//
// Both are plain state machines with ToJson()/FromJson() for checkpoints; restoring
// the JSON gives the same decisions afterwards. Not thread-safe.
#ifndef RLVR_ENVS_CURRICULUM_H_
#define RLVR_ENVS_CURRICULUM_H_

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace rlvr {

// The fraction of `rewards` at or above `pass_threshold` (0 for an empty list).
double PassRate(const std::vector<double>& rewards, double pass_threshold = 1.0);

struct CurriculumOptions {
  std::string tracking = "ema";     // "ema" or "window"
  double ema_alpha = 0.5;           // ema: weight of the newest observation, in (0, 1]
  int window = 3;                   // window: the last this many observations, averaged
  int min_observations = 2;         // a task is judged only after this many observations
  double solved_threshold = 1.0;    // tracked pass rate >= this: "solved"
  double unsolved_threshold = 0.0;  // tracked pass rate <= this: "unsolved"
  // What happens to solved/unsolved tasks: "none" (always admitted), "skip" (never
  // admitted), "downweight" (admitted with probability `downweight`).
  std::string policy = "skip";
  double downweight = 0.1;
  uint64_t seed = 0;  // for downweight draws
};

absl::Status ValidateCurriculumOptions(const CurriculumOptions& options);

enum class TaskStatus { kUnseen, kLearning, kSolved, kUnsolved };
const char* TaskStatusName(TaskStatus status);

struct CurriculumCounters {
  int64_t admitted = 0;
  int64_t skipped_solved = 0;
  int64_t skipped_unsolved = 0;
  int64_t observations = 0;
};

class Curriculum {
 public:
  explicit Curriculum(CurriculumOptions options);  // options must be valid

  // Records one observation of `task_id`: its group's pass rate in [0, 1] (clamped).
  void Record(const std::string& task_id, double pass_rate);
  // The tracked pass rate (-1 if unseen) and status of a task.
  double TrackedPassRate(const std::string& task_id) const;
  TaskStatus Status(const std::string& task_id) const;
  // The sampling weight of a task: 1, or by policy for solved/unsolved ones.
  double Weight(const std::string& task_id) const;
  // Whether to use the task now (draws against Weight(); counts the decision).
  bool Admit(const std::string& task_id);

  const CurriculumCounters& counters() const { return counters_; }
  int64_t num_tracked() const { return static_cast<int64_t>(tasks_.size()); }

  nlohmann::json ToJson() const;
  // Restores state saved by ToJson() (the options are this object's own).
  // INVALID_ARGUMENT naming the field if `json` is not such a state.
  absl::Status FromJson(const nlohmann::json& json);

 private:
  struct Tracked {
    double ema = 0.0;
    int64_t count = 0;
    std::deque<double> window;
  };
  CurriculumOptions options_;
  std::unordered_map<std::string, Tracked> tasks_;
  CurriculumCounters counters_;
  uint64_t rng_state_;
};

struct DynamicSamplingOptions {
  bool enabled = true;          // false: every group is kept
  double epsilon = 1e-6;        // rewards within epsilon of each other are equal
  double pass_threshold = 1.0;  // an all-equal group at/above this is "all passed"
  // Offers per batch after which Exhausted() is true, so the caller can stop and use
  // a short batch instead of generating forever on a too-easy/too-hard set. 0 = no cap.
  int64_t max_offers_per_batch = 0;
};

struct DynamicSamplingCounters {
  int64_t offered = 0;
  int64_t kept = 0;
  int64_t dropped_all_passed = 0;  // zero-variance groups, all at/above pass_threshold
  int64_t dropped_all_failed = 0;  // zero-variance groups below it
  int64_t batches = 0;             // batches started
  int64_t short_batches = 0;       // batches that ended (or were replaced) before full
};

// Fills batches of `groups_per_batch` groups:
//   sampler.StartBatch();
//   while (!sampler.Full() && !sampler.Exhausted()) {
//     group = generate and grade next task;
//     if (sampler.Offer(group.rewards)) batch.push_back(group);
//   }
//   sampler.FinishBatch();  // counts a short batch now (else the next StartBatch does)
class DynamicSampler {
 public:
  DynamicSampler(int64_t groups_per_batch, DynamicSamplingOptions options);

  void StartBatch();
  // Ends the batch: counts it in short_batches if it is not full. Optional; StartBatch()
  // counts an unfinished short batch.
  void FinishBatch();
  // True if the group is kept for the batch (counted either way).
  bool Offer(const std::vector<double>& rewards);
  bool Full() const { return kept_in_batch_ >= groups_per_batch_; }
  bool Exhausted() const;
  int64_t kept_in_batch() const { return kept_in_batch_; }

  const DynamicSamplingCounters& counters() const { return counters_; }
  nlohmann::json ToJson() const;
  absl::Status FromJson(const nlohmann::json& json);

 private:
  int64_t groups_per_batch_;
  DynamicSamplingOptions options_;
  DynamicSamplingCounters counters_;
  int64_t kept_in_batch_ = 0;
  int64_t offered_in_batch_ = 0;
  bool started_ = false;
  bool finished_ = false;  // FinishBatch() was called for the current batch
};

}  // namespace rlvr

#endif  // RLVR_ENVS_CURRICULUM_H_
