#include "learner/grpo.h"

#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "core/model.h"
#include "core/status_macros.h"
#include "learner/batch.h"
#include "learner/distributed.h"
#include "learner/optim.h"
#include "learner/registry.h"

namespace rlvr {
namespace {

// Pads per-sample float vectors into a (B, Tc) tensor aligned with `packed.gather`.
torch::Tensor PadRows(const std::vector<RolloutSample>& samples, const PackedBatch& packed,
                      const std::vector<float> RolloutSample::*field, float fill) {
  torch::Tensor out = torch::full(packed.mask.sizes(), fill, torch::kFloat32);
  auto a = out.accessor<float, 2>();
  for (size_t row = 0; row < packed.index.size(); ++row) {
    const std::vector<float>& v = samples[packed.index[row]].*field;
    for (size_t t = 0; t < v.size() && static_cast<int64_t>(t) < out.size(1); ++t) a[row][t] = v[t];
  }
  return out;
}

}  // namespace

absl::StatusOr<GrpoStepStats> GrpoStep(const Transformer& policy, const Transformer* reference,
                                       Optimizer& optimizer, DataParallel* dp,
                                       const std::vector<RolloutSample>& samples,
                                       const GrpoOptions& options) {
  const int64_t g = options.advantage_options.group_size;
  if (samples.empty() || g < 1 || static_cast<int64_t>(samples.size()) % g != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("grpo: ", samples.size(), " samples do not form groups of ", g));
  }
  if (options.loss.kl_coef != 0 && reference == nullptr) {
    return absl::FailedPreconditionError("grpo: kl_coef != 0 needs a reference model");
  }
  ASSIGN_OR_RETURN(AdvantageFn advantage_fn, AdvantageEstimators().Get(options.advantage));
  ASSIGN_OR_RETURN(PolicyObjectiveFn objective, PolicyObjectives().Get(options.objective));
  GrpoStepStats stats;
  stats.samples = static_cast<int64_t>(samples.size());

  std::vector<Sequence> sequences;
  std::vector<double> rewards;
  double local_tokens = 0;
  for (const RolloutSample& s : samples) {
    if (s.behaviour_logprobs.size() != s.completion.size()) {
      return absl::InvalidArgumentError("grpo: behaviour_logprobs must have one entry per token");
    }
    if (s.prompt.empty()) return absl::InvalidArgumentError("grpo: a sample has an empty prompt");
    if (!s.completion_mask.empty() && s.completion_mask.size() != s.completion.size()) {
      return absl::InvalidArgumentError("grpo: completion_mask must have one entry per token");
    }
    sequences.push_back({s.prompt, s.completion, s.completion_mask});
    rewards.push_back(s.reward);
    local_tokens += s.completion_mask.empty()
                        ? static_cast<double>(s.completion.size())
                        : std::accumulate(s.completion_mask.begin(), s.completion_mask.end(), 0.0);
  }
  stats.reward_mean = std::accumulate(rewards.begin(), rewards.end(), 0.0) / rewards.size();

  try {
    std::vector<int64_t> order(samples.size());
    std::iota(order.begin(), order.end(), 0);
    TokenLogprobsOptions lp_options;
    lp_options.temperature = options.temperature > 0 ? options.temperature : 1.0;
    lp_options.with_entropy = true;
    TokenLogprobsOptions ref_options = lp_options;
    ref_options.with_entropy = false;
    PolicyLossOptions loss_options = options.loss;
    const bool kl_in_reward =
        loss_options.kl_coef != 0 && options.kl_placement == KlPlacement::kReward;
    double reward_kl_sum = 0, reward_kl_tokens = 0;
    torch::Tensor scores = torch::tensor(rewards, torch::kFloat32);
    if (kl_in_reward) {
      // The penalty must be in the rewards before advantages: one no-grad pass of the
      // policy (pi_old = pi) and of the reference over every micro-batch.
      torch::NoGradGuard no_grad;
      torch::Tensor penalised = scores.clone();
      for (const PackedBatch& packed : PackSequences(sequences, order, options.packing)) {
        ASSIGN_OR_RETURN(TokenLogprobsResult cur, CompletionLogprobs(policy, packed, ref_options));
        ASSIGN_OR_RETURN(TokenLogprobsResult ref,
                         CompletionLogprobs(*reference, packed, ref_options));
        torch::Tensor index = torch::tensor(packed.index, torch::kInt64);
        penalised.index_copy_(
            0, index,
            KlPenalizedRewards(scores.index_select(0, index), cur.logprobs, ref.logprobs,
                               packed.mask, loss_options.kl_coef, loss_options.kl_estimator));
        reward_kl_sum +=
            (KlPenalty(cur.logprobs, ref.logprobs, loss_options.kl_estimator) * packed.mask)
                .sum()
                .item<double>();
        reward_kl_tokens += packed.mask.sum().item<double>();
      }
      scores = penalised;
      loss_options.kl_coef = 0;  // already in the rewards
    }
    Advantages adv = advantage_fn(scores, options.advantage_options);
    stats.zero_variance_groups = adv.zero_variance_groups;
    std::vector<int64_t> trained = order;
    if (options.skip_zero_advantage && loss_options.kl_coef == 0 &&
        loss_options.entropy_coef == 0) {
      const torch::Tensor a = adv.values.to(torch::kFloat64).contiguous();
      const double* values = a.data_ptr<double>();
      trained.clear();
      for (int64_t i : order) {
        if (values[i] != 0.0) trained.push_back(i);
      }
      stats.skipped_samples = static_cast<int64_t>(order.size() - trained.size());
    }

    // Global normaliser for the chosen aggregation.
    std::vector<double> totals{local_tokens, static_cast<double>(samples.size())};
    if (dp != nullptr) RETURN_IF_ERROR(dp->AllReduceSum(&totals));
    stats.tokens = static_cast<int64_t>(totals[0]);
    if (totals[0] <= 0) return stats;  // every completion is empty: nothing to learn from
    loss_options.normaliser = GlobalNormaliser(loss_options.aggregation, totals[0], totals[1],
                                               options.max_completion_tokens);

    double loss_sum = 0, weight_sum = 0;
    PolicyLossMetrics acc;
    for (const PackedBatch& packed : PackSequences(sequences, trained, options.packing)) {
      PolicyLossInputs in;
      {
        torch::AutoGradMode grad(true);
        ASSIGN_OR_RETURN(TokenLogprobsResult cur, CompletionLogprobs(policy, packed, lp_options));
        in.logprobs = cur.logprobs;
        in.entropy = cur.entropy.detach();
      }
      in.old_logprobs = in.logprobs.detach();  // one update per batch: pi_old = pi
      in.mask = packed.mask;
      torch::Tensor index = torch::tensor(packed.index, torch::kInt64);
      in.advantages = adv.values.index_select(0, index).to(torch::kFloat32).view({-1, 1});
      in.behaviour_logprobs = PadRows(samples, packed, &RolloutSample::behaviour_logprobs, 0.0f);
      if (loss_options.kl_coef != 0) {
        torch::NoGradGuard no_grad;
        ASSIGN_OR_RETURN(TokenLogprobsResult ref,
                         CompletionLogprobs(*reference, packed, ref_options));
        in.ref_logprobs = ref.logprobs;
      }
      PolicyLoss loss = ComputePolicyLoss(objective, in, loss_options);
      loss.loss.backward();
      loss_sum += loss.loss.item<double>();
      const double w = loss.metrics.tokens;
      weight_sum += w;
      acc.clip_frac_low += loss.metrics.clip_frac_low * w;
      acc.clip_frac_high += loss.metrics.clip_frac_high * w;
      acc.ratio_mean += loss.metrics.ratio_mean * w;
      acc.kl_mean += loss.metrics.kl_mean * w;
      acc.entropy_mean += loss.metrics.entropy_mean * w;
      acc.is_weight_mean += loss.metrics.is_weight_mean * w;
      acc.is_weight_max = std::max(acc.is_weight_max, loss.metrics.is_weight_max);
    }
    if (weight_sum > 0) {
      acc.clip_frac_low /= weight_sum;
      acc.clip_frac_high /= weight_sum;
      acc.ratio_mean /= weight_sum;
      acc.kl_mean /= weight_sum;
      acc.entropy_mean /= weight_sum;
      acc.is_weight_mean /= weight_sum;
    }
    if (kl_in_reward && reward_kl_tokens > 0) acc.kl_mean = reward_kl_sum / reward_kl_tokens;
    acc.tokens = weight_sum;
    stats.loss = acc;
    std::vector<torch::Tensor> params;
    for (auto& [name, p] : policy.NamedParameters()) {
      // With every sample skipped no backward ran: a zero gradient, as the full pass would
      // have given, so AdamW still decays the moments and the weights.
      if (stats.skipped_samples > 0 && !p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      params.push_back(p);
    }
    if (dp != nullptr) {
      RETURN_IF_ERROR(dp->AllReduceGradients(params));
      std::vector<double> l{loss_sum};
      RETURN_IF_ERROR(dp->AllReduceSum(&l));
      loss_sum = l[0];
    }
    stats.loss_value = loss_sum;
    ASSIGN_OR_RETURN(StepStats step, optimizer.Step());
    stats.grad_norm = step.grad_norm;
    stats.lr = step.lr;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("grpo step: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("grpo step: ", e.what()));
  }
  return stats;
}

}  // namespace rlvr
