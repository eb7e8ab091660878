// Advantage estimators: the rewards of G completions per prompt become one advantage per
// completion. Pure functions of tensors, no hidden state; chosen by name through
// AdvantageEstimators() (learner/registry.h).
//
// Layout: rewards are group-major. For N prompts with G completions each, completion j of
// prompt i sits at index i * G + j.
//
// Preconditions (shape, group size) are programmer errors and throw c10::Error; the
// trainer converts it to a Status at the module edge.
#ifndef RLVR_LEARNER_ADVANTAGES_H_
#define RLVR_LEARNER_ADVANTAGES_H_

#include <cstdint>
#include <functional>

#include <torch/types.h>

namespace rlvr {

struct AdvantageOptions {
  // G, completions per prompt. rewards.numel() must be a multiple of it.
  int64_t group_size = 8;
  // Added to the standard deviation before dividing (TRL uses 1e-4, verl 1e-6).
  double epsilon = 1e-6;
  // Delta degrees of freedom of the std: 1 = unbiased (TRL, verl), 0 = population.
  int64_t std_ddof = 1;
};

struct Advantages {
  // (N*G) dtype of the rewards; exactly 0 for every completion of a zero-variance group.
  torch::Tensor values;
  // (N*G) bool; true where the completion's group had identical rewards (no learning
  // signal: dynamic sampling may drop these).
  torch::Tensor zero_variance;
  // Number of groups whose rewards were all identical (a group of size 1 counts).
  int64_t zero_variance_groups = 0;
};

// rewards: (N*G) floating point, finite.
using AdvantageFn =
    std::function<Advantages(const torch::Tensor& rewards, const AdvantageOptions& options)>;

// "grpo": (r - mean_group) / (std_group + epsilon).
Advantages GroupNormalizedAdvantages(const torch::Tensor& rewards, const AdvantageOptions& options);

// "dr_grpo": r - mean_group, no division by the std (Dr. GRPO).
Advantages GroupMeanAdvantages(const torch::Tensor& rewards, const AdvantageOptions& options);

// "rloo": r - mean of the other G-1 rewards of the group; needs G >= 2.
Advantages LeaveOneOutAdvantages(const torch::Tensor& rewards, const AdvantageOptions& options);

// "grpo_batch_std": (r - mean_group) / (std_batch + epsilon), the std taken over every
// reward of the batch (TRL scale_rewards="batch").
Advantages BatchNormalizedAdvantages(const torch::Tensor& rewards, const AdvantageOptions& options);

}  // namespace rlvr

#endif  // RLVR_LEARNER_ADVANTAGES_H_
