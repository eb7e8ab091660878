#include "learner/optim.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <torch/torch.h>

namespace rlvr {

double LearningRate(const LrScheduleOptions& o, int64_t step) {
  if (step < o.warmup_steps) {
    return o.lr * static_cast<double>(step) / static_cast<double>(o.warmup_steps);
  }
  if (o.decay == LrDecay::kConstant) return o.lr;
  TORCH_CHECK(o.total_steps > 0, "cosine schedule needs total_steps > 0");
  const double span = std::max<int64_t>(1, o.total_steps - o.warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / span);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return o.lr * (o.min_lr_ratio + (1.0 - o.min_lr_ratio) * cosine);
}

Optimizer::Optimizer(std::vector<torch::Tensor> params, const OptimizerOptions& options)
    : params_(std::move(params)), options_(options) {
  torch::optim::AdamWOptions adamw(LearningRate(options.schedule, 0));
  adamw.betas({options.beta1, options.beta2}).eps(options.eps).weight_decay(options.weight_decay);
  adamw_ = std::make_unique<torch::optim::AdamW>(params_, adamw);
}

Optimizer::~Optimizer() = default;

StepStats Optimizer::Step() {
  StepStats stats;
  stats.lr = LearningRate(options_.schedule, steps_);
  stats.grad_norm = ClipGradNorm(params_, options_.max_grad_norm);
  if (!std::isfinite(stats.grad_norm)) {
    stats.skipped = true;
    ZeroGrad();
    return stats;
  }
  for (auto& group : adamw_->param_groups()) group.options().set_lr(stats.lr);
  adamw_->step();
  ZeroGrad();
  ++steps_;
  return stats;
}

void Optimizer::ZeroGrad() { adamw_->zero_grad(/*set_to_none=*/true); }

double ClipGradNorm(const std::vector<torch::Tensor>& params, double max_norm) {
  std::vector<torch::Tensor> with_grad;
  for (const auto& p : params) {
    if (p.grad().defined()) with_grad.push_back(p);
  }
  if (with_grad.empty()) return 0.0;
  const double limit = max_norm > 0 ? max_norm : std::numeric_limits<double>::infinity();
  return torch::nn::utils::clip_grad_norm_(with_grad, limit, /*norm_type=*/2.0);
}

std::vector<std::vector<int64_t>> PlanMicroBatches(const std::vector<int64_t>& lengths,
                                                   int64_t max_tokens) {
  TORCH_CHECK(max_tokens > 0, "max_tokens must be > 0");
  std::vector<int64_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
  std::vector<std::vector<int64_t>> batches;
  int64_t longest = 0;
  for (int64_t i : order) {
    // Sorted longest first: the first sequence of a micro-batch sets its padded length.
    if (batches.empty() || static_cast<int64_t>(batches.back().size() + 1) * longest > max_tokens) {
      batches.emplace_back();
      longest = std::max<int64_t>(lengths[i], 1);
    }
    batches.back().push_back(i);
  }
  return batches;
}

}  // namespace rlvr
