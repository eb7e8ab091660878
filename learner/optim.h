// Optimisation: AdamW with decoupled weight decay (torch::optim::AdamW), global
// gradient-norm clipping, a warmup-then-constant/cosine learning-rate schedule and
// micro-batch planning for gradient accumulation.
#ifndef RLVR_LEARNER_OPTIM_H_
#define RLVR_LEARNER_OPTIM_H_

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/types.h>

namespace torch::optim {
class AdamW;
}  // namespace torch::optim

namespace rlvr {

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
};

struct StepStats {
  double grad_norm = 0;  // global L2 norm of the gradients before clipping
  double lr = 0;         // learning rate used by this step
  bool skipped = false;  // the norm was not finite: no update, gradients zeroed
};

// Owns the AdamW state for a fixed list of parameters. Not thread-safe.
// Usage per optimizer step: for each micro-batch { loss.backward() } then Step().
class Optimizer {
 public:
  // params: leaf tensors with requires_grad; they are updated in place.
  Optimizer(std::vector<torch::Tensor> params, const OptimizerOptions& options);
  ~Optimizer();

  // Clips the accumulated gradients, sets the scheduled LR, steps AdamW and zeroes the
  // gradients. A non-finite gradient norm skips the update (StepStats::skipped).
  StepStats Step();
  void ZeroGrad();

  int64_t steps_taken() const { return steps_; }
  // For resuming from a checkpoint: the schedule continues from `steps`.
  void set_steps_taken(int64_t steps) { steps_ = steps; }
  // The wrapped optimizer, for checkpointing its state.
  torch::optim::AdamW& adamw() { return *adamw_; }

 private:
  std::vector<torch::Tensor> params_;
  OptimizerOptions options_;
  std::unique_ptr<torch::optim::AdamW> adamw_;
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
