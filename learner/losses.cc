#include "learner/losses.h"

#include <algorithm>
#include <limits>

#include <torch/torch.h>

namespace rlvr {
namespace {

// Mean of `x` over the masked tokens, or over sequences when x is (B, 1).
double MaskedMean(const torch::Tensor& x, const torch::Tensor& mask) {
  torch::Tensor v = x.detach().to(mask.dtype());
  if (v.size(-1) == 1 && mask.size(-1) != 1) return v.mean().item<double>();
  return ((v * mask).sum() / mask.sum().clamp_min(1.0)).item<double>();
}

// The PPO clipped surrogate on a given log ratio, (B, T) or (B, 1).
PolicyObjective ClipRatio(const torch::Tensor& log_ratio, const torch::Tensor& advantages,
                          const PolicyLossOptions& o) {
  PolicyObjective out;
  out.ratio = torch::exp(log_ratio);
  torch::Tensor clipped = torch::clamp(out.ratio, 1.0 - o.clip_low, 1.0 + o.clip_high);
  torch::Tensor loss = torch::maximum(-advantages * out.ratio, -advantages * clipped);
  torch::Tensor negative = advantages < 0;
  if (o.dual_clip > 0) {
    TORCH_CHECK(o.dual_clip > 1.0 + o.clip_high, "dual_clip ", o.dual_clip,
                " must exceed 1 + clip_high");
    torch::Tensor capped = torch::minimum(loss, -advantages * o.dual_clip);
    loss = torch::where(negative, capped, loss);
    out.dual_clipped = negative & (out.ratio.detach() > o.dual_clip);
  }
  out.loss = loss;
  torch::Tensor r = out.ratio.detach();
  out.clipped_low = negative & (r < 1.0 - o.clip_low);
  out.clipped_high = (advantages > 0) & (r > 1.0 + o.clip_high);
  return out;
}

void CheckSameShape(const torch::Tensor& a, const torch::Tensor& b, const char* name) {
  TORCH_CHECK(a.defined() && a.sizes() == b.sizes(), name, " must have shape ", b.sizes(), ", got ",
              a.defined() ? a.sizes() : at::IntArrayRef{});
}

}  // namespace

torch::Tensor Aggregate(const torch::Tensor& values, const torch::Tensor& mask, Aggregation mode,
                        double normaliser) {
  TORCH_CHECK(mask.dim() == 2 && values.dim() == 2 && values.size(0) == mask.size(0),
              "Aggregate: values ", values.sizes(), " and mask ", mask.sizes());
  torch::Tensor m = mask.to(values.scalar_type());
  switch (mode) {
    case Aggregation::kTokenMean: {
      torch::Tensor sum = (values * m).sum();
      if (normaliser > 0) return sum / normaliser;
      return sum / m.sum().clamp_min(1.0);
    }
    case Aggregation::kSeqMeanTokenMean: {
      torch::Tensor per_seq = (values * m).sum(-1) / m.sum(-1).clamp_min(1.0);
      return per_seq.sum() / (normaliser > 0 ? normaliser : static_cast<double>(m.size(0)));
    }
    case Aggregation::kConstant:
      TORCH_CHECK(normaliser > 0, "Aggregation::kConstant needs a normaliser > 0");
      return (values * m).sum() / normaliser;
  }
  TORCH_CHECK(false, "unknown aggregation");
}

double GlobalNormaliser(Aggregation mode, double tokens, double sequences,
                        int64_t max_completion_length) {
  switch (mode) {
    case Aggregation::kTokenMean:
      return std::max(tokens, 1.0);
    case Aggregation::kSeqMeanTokenMean:
      return std::max(sequences, 1.0);
    case Aggregation::kConstant:
      return std::max(sequences * static_cast<double>(max_completion_length), 1.0);
  }
  TORCH_CHECK(false, "unknown aggregation");
}

torch::Tensor KlPenalty(const torch::Tensor& logprobs, const torch::Tensor& ref_logprobs,
                        KlEstimator estimator) {
  CheckSameShape(ref_logprobs, logprobs, "ref_logprobs");
  torch::Tensor log_ratio = logprobs - ref_logprobs;
  switch (estimator) {
    case KlEstimator::kK1:
      return log_ratio;
    case KlEstimator::kK2:
      return 0.5 * log_ratio.square();
    case KlEstimator::kK3:
      return torch::exp(-log_ratio) + log_ratio - 1.0;
  }
  TORCH_CHECK(false, "unknown KL estimator");
}

torch::Tensor KlPenalizedRewards(const torch::Tensor& scores, const torch::Tensor& logprobs,
                                 const torch::Tensor& ref_logprobs, const torch::Tensor& mask,
                                 double kl_coef, KlEstimator estimator) {
  torch::NoGradGuard no_grad;
  CheckSameShape(mask, logprobs, "mask");
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == logprobs.size(0), "scores must be (B)");
  torch::Tensor kl = KlPenalty(logprobs, ref_logprobs, estimator) * mask.to(logprobs.dtype());
  return scores - kl_coef * kl.sum(-1).to(scores.dtype());
}

torch::Tensor RolloutIsWeights(const torch::Tensor& old_logprobs,
                               const torch::Tensor& behaviour_logprobs, const torch::Tensor& mask,
                               IsMode mode, double is_min, double is_max) {
  torch::NoGradGuard no_grad;
  CheckSameShape(behaviour_logprobs, old_logprobs, "behaviour_logprobs");
  CheckSameShape(mask, old_logprobs, "mask");
  torch::Tensor diff = ((old_logprobs.detach() - behaviour_logprobs) * mask).nan_to_num(0.0);
  const bool sequence = mode == IsMode::kSequenceTruncate || mode == IsMode::kSequenceMask;
  torch::Tensor w = torch::exp(sequence ? diff.sum(-1, /*keepdim=*/true) : diff);
  const double lo = is_min > 0 ? is_min : -std::numeric_limits<double>::infinity();
  const double hi = is_max > 0 ? is_max : std::numeric_limits<double>::infinity();
  switch (mode) {
    case IsMode::kNone:
      return torch::ones_like(old_logprobs);
    case IsMode::kTokenTruncate:
    case IsMode::kSequenceTruncate:
      return torch::clamp(w, lo, hi);
    case IsMode::kTokenMask:
    case IsMode::kSequenceMask:
      return w.masked_fill((w < lo) | (w > hi), 0.0);
  }
  TORCH_CHECK(false, "unknown IS mode");
}

PolicyObjective ClippedSurrogate(const torch::Tensor& logprobs, const torch::Tensor& old_logprobs,
                                 const torch::Tensor& advantages, const torch::Tensor& mask,
                                 const PolicyLossOptions& options) {
  return ClipRatio(logprobs - old_logprobs, advantages, options);
}

PolicyObjective SequenceClippedSurrogate(const torch::Tensor& logprobs,
                                         const torch::Tensor& old_logprobs,
                                         const torch::Tensor& advantages, const torch::Tensor& mask,
                                         const PolicyLossOptions& options) {
  torch::Tensor m = mask.to(logprobs.scalar_type());
  torch::Tensor seq_log_ratio =
      ((logprobs - old_logprobs) * m).sum(-1, true) / m.sum(-1, true).clamp_min(1.0);
  return ClipRatio(seq_log_ratio, advantages, options);
}

PolicyObjective Cispo(const torch::Tensor& logprobs, const torch::Tensor& old_logprobs,
                      const torch::Tensor& advantages, const torch::Tensor& mask,
                      const PolicyLossOptions& options) {
  PolicyObjective out;
  out.ratio = torch::exp(logprobs - old_logprobs);
  torch::Tensor weight = torch::clamp_max(out.ratio, options.cispo_max_weight).detach();
  out.loss = -weight * advantages * logprobs;
  out.clipped_high = (advantages > 0) & (out.ratio.detach() > options.cispo_max_weight);
  out.clipped_low = torch::zeros_like(out.clipped_high);
  return out;
}

PolicyLoss ComputePolicyLoss(const PolicyObjectiveFn& objective, const PolicyLossInputs& in,
                             const PolicyLossOptions& o) {
  TORCH_CHECK(in.logprobs.defined() && in.logprobs.dim() == 2 && in.logprobs.is_floating_point(),
              "logprobs must be a (B, T) floating tensor");
  CheckSameShape(in.mask, in.logprobs, "mask");
  const auto dtype = in.logprobs.scalar_type();
  torch::Tensor mask = in.mask.to(dtype);
  torch::Tensor old = in.old_logprobs.defined() ? in.old_logprobs : in.logprobs.detach();
  CheckSameShape(old, in.logprobs, "old_logprobs");
  TORCH_CHECK(in.advantages.defined() && in.advantages.size(0) == in.logprobs.size(0),
              "advantages must be (B) or (B, T)");
  torch::Tensor adv = in.advantages.dim() == 1 ? in.advantages.unsqueeze(1) : in.advantages;
  adv = adv.to(dtype);

  PolicyLoss out;
  PolicyLossMetrics& m = out.metrics;
  PolicyObjective obj = objective(in.logprobs, old, adv, mask, o);
  torch::Tensor per_token = obj.loss;
  if (o.is_mode != IsMode::kNone) {
    torch::Tensor w =
        RolloutIsWeights(old, in.behaviour_logprobs, mask, o.is_mode, o.is_min, o.is_max);
    per_token = per_token * w;
    m.is_weight_mean = MaskedMean(w, mask);
    torch::Tensor live = w.size(-1) == 1 ? w : w.masked_select(mask > 0);
    m.is_weight_max = live.numel() > 0 ? live.max().item<double>() : 0.0;
    m.is_zeroed_frac = MaskedMean(w == 0, mask);
  }
  {
    torch::NoGradGuard no_grad;
    m.policy_loss = Aggregate(per_token.detach(), mask, o.aggregation, o.normaliser).item<double>();
  }
  if (o.kl_coef != 0) {
    torch::Tensor kl = KlPenalty(in.logprobs, in.ref_logprobs, o.kl_estimator);
    if (o.kl_ratio_weighted) kl = kl * obj.ratio;
    per_token = per_token + o.kl_coef * kl;
    m.kl_mean = MaskedMean(kl, mask);
  }
  out.loss = Aggregate(per_token, mask, o.aggregation, o.normaliser);
  if (in.entropy.defined()) {
    CheckSameShape(in.entropy, in.logprobs, "entropy");
    m.entropy_mean = MaskedMean(in.entropy, mask);
  }
  if (o.entropy_coef != 0) {
    TORCH_CHECK(in.entropy.defined(), "entropy_coef != 0 needs the entropy tensor");
    out.loss = out.loss - o.entropy_coef * Aggregate(in.entropy, mask, o.aggregation, o.normaliser);
  }
  m.clip_frac_low = MaskedMean(obj.clipped_low, mask);
  m.clip_frac_high = MaskedMean(obj.clipped_high, mask);
  if (obj.dual_clipped.defined()) m.dual_clip_frac = MaskedMean(obj.dual_clipped, mask);
  m.ratio_mean = MaskedMean(obj.ratio, mask);
  m.tokens = mask.sum().item<double>();
  return out;
}

}  // namespace rlvr
