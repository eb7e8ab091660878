// One GRPO optimizer step over graded rollouts: advantages per group, the policy loss
// on padding-free micro-batches with a global normaliser, gradient all-reduce and
// AdamW. The algorithm pieces are chosen by name (learner/registry.h).
#ifndef RLVR_LEARNER_GRPO_H_
#define RLVR_LEARNER_GRPO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "learner/advantages.h"
#include "learner/batch.h"
#include "learner/losses.h"

namespace rlvr {

class Transformer;
class Optimizer;
class DataParallel;

// One graded completion.
struct RolloutSample {
  std::vector<int64_t> prompt;
  std::vector<int64_t> completion;
  // Log-probabilities the rollout engine sampled with (one per completion token).
  std::vector<float> behaviour_logprobs;
  // Optional loss mask over the completion (0 = tool observation); empty = all 1.
  std::vector<float> completion_mask;
  double reward = 0;
  int64_t policy_version = 0;
};

// Where the KL penalty to the reference policy goes (when loss.kl_coef != 0).
enum class KlPlacement {
  kLoss,    // kl_coef * KL per token in the loss (GRPO paper, TRL beta)
  kReward,  // score - kl_coef * sum_t KL before advantages (PPO-style, verl use_kl_in_reward)
};

struct GrpoOptions {
  std::string advantage = "grpo";  // AdvantageEstimators() name
  AdvantageOptions advantage_options;
  std::string objective = "ppo_clip";  // PolicyObjectives() name
  // loss.normaliser is ignored: the step computes the global one from the aggregation.
  PolicyLossOptions loss;
  KlPlacement kl_placement = KlPlacement::kLoss;  // uses loss.kl_coef and loss.kl_estimator
  // Dr. GRPO's constant normaliser is global_sequences * this (the generation budget).
  int64_t max_completion_tokens = 256;
  double temperature = 1.0;  // the rollout temperature; logprobs are recomputed at it
  // A sample whose advantage is exactly 0 adds nothing to the gradient when the loss has
  // no KL term and no entropy bonus (every objective multiplies by the advantage), so it
  // is left out of the forward and backward passes; the normaliser still counts its
  // tokens, so the update is the same. Zero-variance groups are most of a batch once a
  // task is mostly solved or mostly failed. The loss metrics are then over the samples
  // trained on.
  bool skip_zero_advantage = true;
  PackOptions packing;  // rows and passes of the forward and backward passes
};

struct GrpoStepStats {
  // Token-weighted over micro-batches (this rank). loss.kl_mean is the KL estimator's
  // mean per completion token, in either placement.
  PolicyLossMetrics loss;
  double loss_value = 0;  // global loss
  double grad_norm = 0;
  double lr = 0;
  double reward_mean = 0;  // this rank's samples
  int64_t zero_variance_groups = 0;
  int64_t samples = 0;
  int64_t skipped_samples = 0;  // left out of the passes: advantage exactly 0 (this rank)
  int64_t tokens = 0;           // completion tokens in the loss, global
};

// `samples` are this rank's complete groups, group-major (options.advantage_options.
// group_size per group). `reference` may be null when loss.kl_coef == 0; otherwise it is
// the frozen reference policy, evaluated per micro-batch under no-grad.
absl::StatusOr<GrpoStepStats> GrpoStep(const Transformer& policy, const Transformer* reference,
                                       Optimizer& optimizer, DataParallel* dp,
                                       const std::vector<RolloutSample>& samples,
                                       const GrpoOptions& options);

}  // namespace rlvr

#endif  // RLVR_LEARNER_GRPO_H_
