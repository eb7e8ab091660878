// The GRPO policy-loss family as pure functions of tensors (verl core_algos style).
//
//   loss = Aggregate(IsWeight * PolicyObjective + kl_coef * KL, mask)
//          - entropy_coef * Aggregate(entropy, mask)
//
// A PolicyObjective ("ppo_clip", "gspo", "cispo") is chosen by name through
// PolicyObjectives() (learner/registry.h); ComputePolicyLoss() adds the rollout
// importance-sampling correction, the KL term, aggregation and the entropy bonus.
//
// Shapes: B sequences, T completion tokens. Every (B, T) tensor shares one floating dtype
// and device; `mask` is 1 on completion tokens and 0 on padding (any dtype).
// Preconditions are programmer errors and throw c10::Error; the trainer converts it to a
// Status at the module edge. No function keeps state; all are thread-compatible.
#ifndef RLVR_LEARNER_LOSSES_H_
#define RLVR_LEARNER_LOSSES_H_

#include <cstdint>
#include <functional>

#include <torch/types.h>

namespace rlvr {

// How per-token values become one scalar. Each divides a sum by a normaliser; the caller
// passes the normaliser of the *global* batch (all ranks, all micro-batches) so that
// gradient accumulation and data parallelism give the full-batch gradient. A normaliser
// <= 0 means "this call's own count" (single micro-batch, single rank).
enum class Aggregation {
  // sum(v * mask) / normaliser; normaliser = global token count (DAPO, TRL "dapo"/"bnpo").
  kTokenMean,
  // sum_b(sum_t(v * mask) / len_b) / normaliser; normaliser = global sequence count
  // (original GRPO, TRL "grpo").
  kSeqMeanTokenMean,
  // sum(v * mask) / normaliser; normaliser is a constant > 0 such as
  // global_sequences * max_completion_length (Dr. GRPO, TRL "dr_grpo").
  kConstant,
};

// values: (B, T) or (B, 1) (broadcast over T); mask: (B, T). Returns a 0-dim tensor.
torch::Tensor Aggregate(const torch::Tensor& values, const torch::Tensor& mask, Aggregation mode,
                        double normaliser);

// The normaliser that makes Aggregate() over every micro-batch of every rank sum to the
// loss of the global batch: `tokens` completion tokens in `sequences` sequences, completions
// at most `max_completion_length` long (used by kConstant only).
double GlobalNormaliser(Aggregation mode, double tokens, double sequences,
                        int64_t max_completion_length);

// Per-token estimators of KL(pi || pi_ref) from samples of pi (Schulman's k1, k2, k3):
//   k1 = log r, k2 = (log r)^2 / 2, k3 = exp(-log r) + log r - 1, with log r = logp - ref_logp.
enum class KlEstimator { kK1, kK2, kK3 };

// logprobs, ref_logprobs: (B, T). Returns (B, T); gradients flow through both inputs.
torch::Tensor KlPenalty(const torch::Tensor& logprobs, const torch::Tensor& ref_logprobs,
                        KlEstimator estimator);

// KL folded into the reward instead of the loss: score_b - kl_coef * sum_t KL_bt * mask_bt.
// scores: (B); logprobs, ref_logprobs, mask: (B, T). Returns (B), detached.
torch::Tensor KlPenalizedRewards(const torch::Tensor& scores, const torch::Tensor& logprobs,
                                 const torch::Tensor& ref_logprobs, const torch::Tensor& mask,
                                 double kl_coef, KlEstimator estimator);

// Importance-sampling correction for the mismatch between the rollout engine (behaviour
// policy) and the learner's pi_old on the same tokens. The weight multiplies the policy
// objective and carries no gradient.
enum class IsMode {
  kNone,
  kTokenTruncate,     // w_t = clamp(exp(old_t - beh_t), is_min, is_max)
  kTokenMask,         // w_t = exp(old_t - beh_t), 0 outside [is_min, is_max]
  kSequenceTruncate,  // w_b = clamp(exp(sum_t (old - beh) * mask), is_min, is_max)
  kSequenceMask,      // w_b = exp(sum_t (old - beh) * mask), 0 outside [is_min, is_max]
};

// old_logprobs, behaviour_logprobs, mask: (B, T); NaN behaviour log-probs count as no
// mismatch. Returns (B, T) for token modes, (B, 1) for sequence modes, detached.
// is_min <= 0 means no lower bound.
torch::Tensor RolloutIsWeights(const torch::Tensor& old_logprobs,
                               const torch::Tensor& behaviour_logprobs, const torch::Tensor& mask,
                               IsMode mode, double is_min, double is_max);

struct PolicyLossOptions {
  // PPO ratio clip range [1 - clip_low, 1 + clip_high]; DAPO clip-higher uses 0.2 / 0.28,
  // GSPO about 3e-4 / 4e-4.
  double clip_low = 0.2;
  double clip_high = 0.2;
  // Dual clip (Ye et al. 2020; TRL `delta`): when > 1, the loss of a token with A < 0 is
  // capped at -dual_clip * A. 0 disables. Must exceed 1 + clip_high.
  double dual_clip = 0.0;
  // CISPO: upper cap of the detached IS weight (TRL's epsilon_high for loss_type "cispo").
  double cispo_max_weight = 5.0;

  Aggregation aggregation = Aggregation::kTokenMean;
  // See Aggregation: the global token count, global sequence count or the constant.
  double normaliser = 0.0;

  // KL to the reference policy in the loss; 0 disables (ref_logprobs may be undefined).
  double kl_coef = 0.0;
  KlEstimator kl_estimator = KlEstimator::kK3;
  // Multiply the KL term by the policy ratio pi / pi_old (TRL use_bias_correction_kl).
  bool kl_ratio_weighted = false;

  // Entropy bonus: loss -= entropy_coef * Aggregate(entropy). Needs `entropy`.
  double entropy_coef = 0.0;

  // Rollout/learner mismatch correction; needs `behaviour_logprobs` unless kNone.
  IsMode is_mode = IsMode::kNone;
  double is_min = 0.0;
  double is_max = 3.0;
};

// The tensors of one (micro-)batch. Only `logprobs`, `advantages` and `mask` are required.
struct PolicyLossInputs {
  torch::Tensor logprobs;            // (B, T) current policy, requires grad
  torch::Tensor old_logprobs;        // (B, T) learner policy at rollout; undefined: on-policy
  torch::Tensor advantages;          // (B) or (B, T)
  torch::Tensor mask;                // (B, T)
  torch::Tensor behaviour_logprobs;  // (B, T) rollout engine log-probs, for is_mode
  torch::Tensor ref_logprobs;        // (B, T) reference policy, for kl_coef
  torch::Tensor entropy;             // (B, T) per-token entropy, logged; bonus if entropy_coef
};

// What a policy objective returns before correction, KL and aggregation. `loss`, `ratio`
// and the flags are (B, T) for token-level objectives and (B, 1) for sequence-level ones.
struct PolicyObjective {
  torch::Tensor loss;          // per-token (or per-sequence) loss, differentiable
  torch::Tensor ratio;         // pi / pi_old, differentiable (before any clipping)
  torch::Tensor clipped_low;   // bool: the lower clip removed the gradient (A < 0)
  torch::Tensor clipped_high;  // bool: the upper clip removed/capped the gradient (A > 0)
  torch::Tensor dual_clipped;  // bool: the dual clip capped the loss (A < 0); may be undefined
};

// logprobs, old_logprobs: (B, T); advantages: (B, 1) or (B, T); mask: (B, T).
using PolicyObjectiveFn = std::function<PolicyObjective(
    const torch::Tensor& logprobs, const torch::Tensor& old_logprobs,
    const torch::Tensor& advantages, const torch::Tensor& mask, const PolicyLossOptions& options)>;

// "ppo_clip": -min(r A, clip(r, 1 - clip_low, 1 + clip_high) A) per token, r = exp(logp - old),
// with the optional dual clip. GRPO, DAPO, Dr. GRPO differ only in aggregation.
PolicyObjective ClippedSurrogate(const torch::Tensor& logprobs, const torch::Tensor& old_logprobs,
                                 const torch::Tensor& advantages, const torch::Tensor& mask,
                                 const PolicyLossOptions& options);

// "gspo": the clipped surrogate on the sequence ratio
// s_b = exp(sum_t (logp - old) * mask / len_b); returns (B, 1) tensors.
PolicyObjective SequenceClippedSurrogate(const torch::Tensor& logprobs,
                                         const torch::Tensor& old_logprobs,
                                         const torch::Tensor& advantages, const torch::Tensor& mask,
                                         const PolicyLossOptions& options);

// "cispo": -sg(min(r, cispo_max_weight)) * A * logp per token (MiniMax-M1).
PolicyObjective Cispo(const torch::Tensor& logprobs, const torch::Tensor& old_logprobs,
                      const torch::Tensor& advantages, const torch::Tensor& mask,
                      const PolicyLossOptions& options);

// Masked means over this call's tokens (sequences for (B, 1) quantities), for logging.
// Combine micro-batches or ranks weighting by `tokens`.
struct PolicyLossMetrics {
  double policy_loss = 0;     // aggregated objective after IS weighting, before KL/entropy
  double clip_frac_low = 0;   // share of tokens clipped at 1 - clip_low with A < 0
  double clip_frac_high = 0;  // share clipped at 1 + clip_high (cispo: at the cap) with A > 0
  double dual_clip_frac = 0;  // share capped by the dual clip
  double ratio_mean = 0;      // pi / pi_old
  double kl_mean = 0;         // KL estimator value (kl_coef != 0 only)
  double entropy_mean = 0;    // if entropy was given
  double is_weight_mean = 0;  // rollout IS weight (is_mode != kNone only)
  double is_weight_max = 0;
  double is_zeroed_frac = 0;  // share of IS weights set to 0 by a mask mode
  double tokens = 0;          // mask.sum()
};

struct PolicyLoss {
  torch::Tensor loss;  // 0-dim, differentiable: call backward() on it
  PolicyLossMetrics metrics;
};

// The full loss for one micro-batch. With a global normaliser, summing the gradients of
// every micro-batch on every rank gives the gradient of the global-batch loss.
PolicyLoss ComputePolicyLoss(const PolicyObjectiveFn& objective, const PolicyLossInputs& inputs,
                             const PolicyLossOptions& options);

}  // namespace rlvr

#endif  // RLVR_LEARNER_LOSSES_H_
