#include "learner/advantages.h"

#include <torch/torch.h>

namespace rlvr {
namespace {

// Group statistics shared by every estimator.
struct Groups {
  torch::Tensor rewards;        // (N, G)
  torch::Tensor mean;           // (N, 1)
  torch::Tensor zero_variance;  // (N, 1) bool
};

Groups SplitGroups(const torch::Tensor& rewards, const AdvantageOptions& options) {
  TORCH_CHECK(rewards.dim() == 1 && rewards.is_floating_point(),
              "rewards must be a 1-D floating tensor, got ", rewards.sizes());
  TORCH_CHECK(options.group_size >= 1 && rewards.numel() % options.group_size == 0,
              "rewards.numel() ", rewards.numel(), " is not a multiple of group_size ",
              options.group_size);
  Groups g;
  g.rewards = rewards.view({-1, options.group_size});
  g.mean = g.rewards.mean(1, /*keepdim=*/true);
  // Exact test: identical rewards carry no signal whatever rounding the mean has.
  g.zero_variance = std::get<0>(g.rewards.max(1, true)) == std::get<0>(g.rewards.min(1, true));
  return g;
}

Advantages Finish(const Groups& g, const torch::Tensor& grouped_values) {
  Advantages a;
  a.zero_variance = g.zero_variance.expand_as(g.rewards).reshape({-1});
  a.values = grouped_values.masked_fill(g.zero_variance, 0.0).reshape({-1});
  a.zero_variance_groups = g.zero_variance.sum().item<int64_t>();
  return a;
}

torch::Tensor Std(const torch::Tensor& x, int64_t dim, int64_t ddof) {
  int64_t n = dim < 0 ? x.numel() : x.size(dim);
  // Too few values for the estimator: every such group is zero-variance anyway.
  if (n <= ddof)
    return dim < 0 ? torch::zeros({}, x.options()) : torch::zeros_like(x.narrow(dim, 0, 1));
  if (dim < 0) return torch::std(x, /*dim=*/at::OptionalIntArrayRef{}, /*correction=*/ddof);
  return torch::std(x, at::IntArrayRef{dim}, /*correction=*/ddof, /*keepdim=*/true);
}

}  // namespace

Advantages GroupNormalizedAdvantages(const torch::Tensor& rewards,
                                     const AdvantageOptions& options) {
  Groups g = SplitGroups(rewards, options);
  torch::Tensor std = Std(g.rewards, 1, options.std_ddof);
  return Finish(g, (g.rewards - g.mean) / (std + options.epsilon));
}

Advantages GroupMeanAdvantages(const torch::Tensor& rewards, const AdvantageOptions& options) {
  Groups g = SplitGroups(rewards, options);
  return Finish(g, g.rewards - g.mean);
}

Advantages LeaveOneOutAdvantages(const torch::Tensor& rewards, const AdvantageOptions& options) {
  TORCH_CHECK(options.group_size >= 2, "rloo needs group_size >= 2");
  Groups g = SplitGroups(rewards, options);
  const double n = static_cast<double>(options.group_size);
  torch::Tensor others_mean = (g.rewards.sum(1, true) - g.rewards) / (n - 1.0);
  return Finish(g, g.rewards - others_mean);
}

Advantages BatchNormalizedAdvantages(const torch::Tensor& rewards,
                                     const AdvantageOptions& options) {
  Groups g = SplitGroups(rewards, options);
  torch::Tensor std = Std(rewards, -1, options.std_ddof);
  return Finish(g, (g.rewards - g.mean) / (std + options.epsilon));
}

}  // namespace rlvr
