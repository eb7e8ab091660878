// Optimisation: AdamW with decoupled weight decay (torch::optim::AdamW), global
// gradient-norm clipping, float32 master weights for 16-bit parameters, optional
// optimizer-state sharding over data-parallel ranks (ZeRO-1), a warmup-then-constant/cosine
// learning-rate schedule and micro-batch planning for gradient accumulation.
#ifndef RLVR_LEARNER_OPTIM_H_
#define RLVR_LEARNER_OPTIM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"

namespace torch::optim {
class AdamW;
}  // namespace torch::optim

namespace rlvr {

class DataParallel;

enum class LrDecay { kConstant, kCosine };

struct LrScheduleOptions {
  double lr = 1e-6;          // peak learning rate
  int64_t warmup_steps = 0;  // linear warmup from 0: lr * step / warmup_steps
  LrDecay decay = LrDecay::kConstant;
  int64_t total_steps = 0;    // cosine: steps (warmup included) to reach the floor; must be > 0
  double min_lr_ratio = 0.0;  // cosine floor as a fraction of lr, held after total_steps
};

// The learning rate of optimizer step `step` (0-based: the number of steps already taken).
// Matches transformers' get_{constant,cosine}_schedule_with_warmup (min_lr_ratio 0) and
// verl's cosine with min_lr_ratio; after total_steps the cosine stays at its floor.
double LearningRate(const LrScheduleOptions& options, int64_t step);

struct OptimizerOptions {
  LrScheduleOptions schedule;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;  // decoupled (AdamW)
  double max_grad_norm = 1.0;  // global L2 norm clip; <= 0 disables
  // ZeRO-1: with a DataParallel of world_size > 1 given to the Optimizer, each rank keeps
  // the AdamW moments (and master weights) of only its shard of the parameters, balanced
  // by element count, and updates only that shard; the owners then broadcast their
  // shards so that every rank holds identical weights.
  bool shard_state = false;
};

struct StepStats {
  double grad_norm = 0;  // global L2 norm of the gradients before clipping
  double lr = 0;         // learning rate used by this step
  bool skipped = false;  // the norm was not finite: no update, gradients zeroed
};

// Owns the AdamW state for a fixed list of parameters. Not thread-safe.
// Usage per optimizer step: for each micro-batch { loss.backward() }, the gradient
// all-reduce when data-parallel, then Step().
//
// Parameters in a 16-bit dtype (bfloat16 on GPU) get float32 master weights: AdamW
// updates the masters with float32 moments, and each step rounds them back into the
// parameters, so updates smaller than a bfloat16 ulp accumulate instead of vanishing.
class Optimizer {
 public:
  // params: leaf tensors with requires_grad; they are updated in place. `dp` (may be
  // null) is used only with options.shard_state; it must outlive the optimizer.
  Optimizer(std::vector<torch::Tensor> params, const OptimizerOptions& options,
            DataParallel* dp = nullptr);
  ~Optimizer();

  // Clips the accumulated (already all-reduced) gradients to the global norm, sets the
  // scheduled LR, steps AdamW on this rank's parameters and zeroes the gradients. A
  // non-finite gradient norm skips the update (StepStats::skipped). Sharded: collective
  // (every rank calls it); a failed collective is an error status.
  absl::StatusOr<StepStats> Step();
  void ZeroGrad();

  int64_t steps_taken() const { return steps_; }
  // For resuming from a checkpoint: the schedule continues from `steps`.
  void set_steps_taken(int64_t steps) { steps_ = steps; }

  // Checkpoint state of every parameter i: "exp_avg.i", "exp_avg_sq.i", "step.i" and,
  // for 16-bit parameters, "master.i"; plus "steps_taken". Sharded: collective; rank 0
  // receives the other ranks' shards and gets the whole state, other ranks get {}.
  absl::StatusOr<std::map<std::string, torch::Tensor>> GatherState();
  // Restores GatherState()'s tensors (saved at any world size, sharded or not); each rank
  // takes its shard. Parameters without saved state start fresh, masters from the params.
  absl::Status LoadState(const std::map<std::string, torch::Tensor>& state);

  // Indices into the constructor's params this rank updates (all unless sharded).
  const std::vector<int64_t>& owned() const { return owned_; }
  // Bytes of optimizer state held by this rank: moments and master weights.
  int64_t state_bytes() const;
  // True when the state is sharded over more than one rank.
  bool sharded() const { return dp_ != nullptr; }
  // 0 unless sharded; rank 0 is the one that writes checkpoints.
  int rank() const;

 private:
  // The parameter indices of every rank (ShardByTokens over element counts).
  std::vector<std::vector<int64_t>> Shards() const;

  std::vector<torch::Tensor> params_;
  OptimizerOptions options_;
  DataParallel* dp_ = nullptr;  // non-null only when sharded over > 1 ranks
  std::vector<int64_t> owned_;
  // What AdamW updates, one per owned_ entry: the parameter, or its float32 master.
  std::vector<torch::Tensor> updated_;
  std::vector<bool> has_master_;                // per owned_ entry
  std::unique_ptr<torch::optim::AdamW> adamw_;  // null when this rank owns nothing
  int64_t steps_ = 0;
};

// Clips the gradients of `params` to a global L2 norm of at most max_norm in place (as
// torch.nn.utils.clip_grad_norm_) and returns the norm before clipping.
double ClipGradNorm(const std::vector<torch::Tensor>& params, double max_norm);

// Splits sequences into micro-batches whose padded size (sequences x longest length)
// stays within max_tokens, longest first so that similar lengths share a micro-batch.
// A sequence longer than max_tokens gets a micro-batch of its own. lengths: (B) >= 0.
// Returns indices into `lengths`; every index appears exactly once.
std::vector<std::vector<int64_t>> PlanMicroBatches(const std::vector<int64_t>& lengths,
                                                   int64_t max_tokens);

}  // namespace rlvr

#endif  // RLVR_LEARNER_OPTIM_H_
