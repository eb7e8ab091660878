// Finite-difference gradient checks on a tiny softmax policy, micro-batch accumulation,
// edge cases and the registries. Golden values against TRL live in oracle_test.cc.
#include "learner/losses.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "learner/advantages.h"
#include "learner/registry.h"

namespace rlvr {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kB = 6, kT = 5, kD = 4, kV = 7;

// A linear softmax policy over a small vocabulary: logits = x W, float64.
struct TinyPolicy {
  torch::Tensor x;       // (B, T, D)
  torch::Tensor tokens;  // (B, T) int64
  torch::Tensor w;       // (D, V), requires grad

  TinyPolicy() {
    torch::manual_seed(7);
    auto f64 = torch::dtype(torch::kFloat64);
    x = torch::randn({kB, kT, kD}, f64);
    tokens = torch::randint(kV, {kB, kT}, torch::dtype(torch::kInt64));
    w = (0.5 * torch::randn({kD, kV}, f64)).requires_grad_(true);
  }
  // logprobs, entropy: (B, T).
  std::pair<torch::Tensor, torch::Tensor> Forward(const torch::Tensor& weights) const {
    torch::Tensor logp = torch::log_softmax(torch::matmul(x, weights), -1);
    torch::Tensor entropy = -(logp.exp() * logp).sum(-1);
    return {logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1), entropy};
  }
};

struct Batch {
  torch::Tensor old_logprobs, behaviour, ref, advantages, mask;
};

Batch MakeBatch(const TinyPolicy& p) {
  torch::NoGradGuard no_grad;
  auto [logp, entropy] = p.Forward(p.w);
  Batch b;
  b.old_logprobs = logp + 0.3 * torch::randn_like(logp);
  b.behaviour = b.old_logprobs + 0.3 * torch::randn_like(logp);
  b.ref = logp + 0.2 * torch::randn_like(logp);
  b.advantages = torch::randn({kB}, torch::dtype(torch::kFloat64));
  torch::Tensor lengths = torch::tensor({5, 3, 1, 4, 5, 2});
  b.mask = (torch::arange(kT).unsqueeze(0) < lengths.unsqueeze(1)).to(torch::kFloat64);
  return b;
}

// frozen_at: if defined, old and behaviour log-probs move with logp so that ratios stay at
// their value for these weights: the finite-difference view of CISPO's stop-gradient.
torch::Tensor Loss(const TinyPolicy& p, Batch b, const torch::Tensor& w,
                   const std::string& objective, const PolicyLossOptions& o,
                   const torch::Tensor& frozen_at = {}) {
  auto [logp, entropy] = p.Forward(w);
  if (frozen_at.defined()) {
    torch::Tensor shift = logp.detach() - p.Forward(frozen_at).first.detach();
    b.old_logprobs = b.old_logprobs + shift;
    b.behaviour = b.behaviour + shift;
  }
  PolicyLossInputs in{logp, b.old_logprobs, b.advantages, b.mask, b.behaviour, b.ref, entropy};
  return ComputePolicyLoss(PolicyObjectives().Get(objective).value(), in, o).loss;
}

struct FdCase {
  const char* name;
  const char* objective;
  PolicyLossOptions options;
  bool stop_gradient_ratio = false;  // CISPO: the IS weight carries no gradient
};

std::vector<FdCase> FdCases() {
  std::vector<FdCase> cases;
  PolicyLossOptions o;
  cases.push_back({"ppo_token_mean", "ppo_clip", o});
  o.aggregation = Aggregation::kSeqMeanTokenMean;
  o.kl_coef = 0.1;
  o.kl_estimator = KlEstimator::kK1;
  o.entropy_coef = 0.05;
  cases.push_back({"ppo_seq_mean_k1_entropy", "ppo_clip", o});
  o = PolicyLossOptions();
  o.aggregation = Aggregation::kConstant;
  o.normaliser = kB * kT;
  o.clip_high = 0.28;
  o.dual_clip = 1.5;
  o.kl_coef = 0.2;
  o.kl_estimator = KlEstimator::kK2;
  o.is_mode = IsMode::kTokenTruncate;
  o.is_max = 1.2;
  cases.push_back({"ppo_constant_dual_k2_is", "ppo_clip", o});
  o = PolicyLossOptions();
  o.clip_low = 0.05;
  o.clip_high = 0.08;
  o.kl_coef = 0.1;
  o.kl_ratio_weighted = true;
  o.is_mode = IsMode::kSequenceMask;
  o.is_max = 2.0;
  cases.push_back({"gspo_k3_weighted_seq_mask", "gspo", o});
  o = PolicyLossOptions();
  o.cispo_max_weight = 1.2;
  o.entropy_coef = 0.01;
  o.is_mode = IsMode::kTokenMask;
  o.is_min = 0.7;
  cases.push_back({"cispo_entropy_token_mask", "cispo", o, true});
  return cases;
}

TEST(LossesTest, GradientsMatchFiniteDifferencesOnTinyPolicy) {
  TinyPolicy p;
  Batch b = MakeBatch(p);
  for (const FdCase& c : FdCases()) {
    SCOPED_TRACE(c.name);
    p.w.mutable_grad() = torch::Tensor();
    Loss(p, b, p.w, c.objective, c.options).backward();
    torch::Tensor analytic = p.w.grad().clone();
    torch::NoGradGuard no_grad;
    torch::Tensor at = c.stop_gradient_ratio ? p.w.detach() : torch::Tensor();
    torch::Tensor numeric = torch::zeros_like(analytic);
    const double h = 1e-6;
    for (int64_t i = 0; i < p.w.numel(); ++i) {
      torch::Tensor plus = p.w.detach().clone(), minus = p.w.detach().clone();
      plus.view(-1)[i] += h;
      minus.view(-1)[i] -= h;
      numeric.view(-1)[i] = (Loss(p, b, plus, c.objective, c.options, at) -
                             Loss(p, b, minus, c.objective, c.options, at)) /
                            (2 * h);
    }
    EXPECT_GT(analytic.abs().max().item<double>(), 1e-3);
    EXPECT_LE((analytic - numeric).abs().max().item<double>(), 1e-7) << "analytic\n"
                                                                     << analytic << "\nnumeric\n"
                                                                     << numeric;
  }
}

// Summing the gradients of micro-batches, each aggregated with the global normaliser,
// gives the gradient of the whole batch.
TEST(LossesTest, MicroBatchesWithGlobalNormaliserGiveFullBatchGradient) {
  TinyPolicy p;
  Batch b = MakeBatch(p);
  for (Aggregation mode :
       {Aggregation::kTokenMean, Aggregation::kSeqMeanTokenMean, Aggregation::kConstant}) {
    PolicyLossOptions o;
    o.aggregation = mode;
    o.kl_coef = 0.1;
    o.entropy_coef = 0.02;
    o.normaliser = GlobalNormaliser(mode, b.mask.sum().item<double>(), kB, kT);
    p.w.mutable_grad() = torch::Tensor();
    torch::Tensor full_loss = Loss(p, b, p.w, "ppo_clip", o);
    full_loss.backward();
    torch::Tensor full = p.w.grad().clone();
    p.w.mutable_grad() = torch::Tensor();
    double summed_loss = 0;
    for (auto [start, end] : {std::pair<int64_t, int64_t>{0, 2}, {2, 3}, {3, 6}}) {
      Batch m{b.old_logprobs.slice(0, start, end), b.behaviour.slice(0, start, end),
              b.ref.slice(0, start, end), b.advantages.slice(0, start, end),
              b.mask.slice(0, start, end)};
      TinyPolicy sub = p;
      sub.x = p.x.slice(0, start, end);
      sub.tokens = p.tokens.slice(0, start, end);
      torch::Tensor l = Loss(sub, m, p.w, "ppo_clip", o);
      summed_loss += l.item<double>();
      l.backward();
    }
    EXPECT_NEAR(summed_loss, full_loss.item<double>(), 1e-12);
    EXPECT_LE((p.w.grad() - full).abs().max().item<double>(), 1e-12);
  }
}

TEST(LossesTest, OnPolicyRatioIsOneAndFullyMaskedRowsContributeNothing) {
  auto f64 = torch::dtype(torch::kFloat64);
  torch::Tensor logp = (-torch::rand({3, 4}, f64)).requires_grad_(true);
  torch::Tensor mask = torch::tensor({{1, 1, 0, 0}, {0, 0, 0, 0}, {1, 1, 1, 1}});
  PolicyLossInputs in;
  in.logprobs = logp;
  in.advantages = torch::tensor({1.0, 5.0, -2.0}, f64);
  in.mask = mask;
  PolicyLossOptions o;
  o.aggregation = Aggregation::kSeqMeanTokenMean;
  PolicyLoss l = ComputePolicyLoss(ClippedSurrogate, in, o);
  // On-policy: ratio 1, loss = -mean_b(A_b * 1 * [len_b > 0]) over B = 3 sequences.
  EXPECT_NEAR(l.loss.item<double>(), -(1.0 - 2.0) / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(l.metrics.ratio_mean, 1.0);
  EXPECT_DOUBLE_EQ(l.metrics.clip_frac_low + l.metrics.clip_frac_high, 0.0);
  EXPECT_DOUBLE_EQ(l.metrics.tokens, 6.0);
  l.loss.backward();
  EXPECT_EQ(logp.grad()[1].abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::isfinite(logp.grad()).all().item<bool>());
}

TEST(LossesTest, ConstantAggregationNeedsANormaliser) {
  torch::Tensor v = torch::ones({2, 3});
  EXPECT_THROW(Aggregate(v, torch::ones({2, 3}), Aggregation::kConstant, 0.0), c10::Error);
  EXPECT_THROW(Aggregate(v, torch::ones({3, 3}), Aggregation::kTokenMean, 0.0), c10::Error);
}

TEST(LossesTest, DualClipMustExceedUpperClip) {
  PolicyLossInputs in;
  in.logprobs = torch::zeros({1, 2});
  in.advantages = torch::ones({1});
  in.mask = torch::ones({1, 2});
  PolicyLossOptions o;
  o.dual_clip = 1.1;
  EXPECT_THROW(ComputePolicyLoss(ClippedSurrogate, in, o), c10::Error);
}

TEST(AdvantagesTest, ZeroVarianceGroupsAreExactlyZeroAndCounted) {
  // 0.1 three times: the float mean need not equal 0.1 exactly.
  torch::Tensor r = torch::tensor({0.1f, 0.1f, 0.1f, 1.f, 0.f, 1.f, 2.f, 2.f, 2.f});
  AdvantageOptions o;
  o.group_size = 3;
  for (const std::string& name : AdvantageEstimators().Names()) {
    SCOPED_TRACE(name);
    Advantages a = AdvantageEstimators().Get(name).value()(r, o);
    EXPECT_EQ(a.zero_variance_groups, 2);
    EXPECT_EQ(a.values.slice(0, 0, 3).abs().sum().item<float>(), 0.f);
    EXPECT_EQ(a.values.slice(0, 6, 9).abs().sum().item<float>(), 0.f);
    EXPECT_TRUE(a.zero_variance[0].item<bool>() && !a.zero_variance[3].item<bool>());
    EXPECT_GT(a.values[3].item<float>(), 0.f);
  }
}

TEST(AdvantagesTest, GroupOfOneHasNoSignal) {
  AdvantageOptions o;
  o.group_size = 1;
  Advantages a = GroupNormalizedAdvantages(torch::tensor({1.0, 2.0}), o);
  EXPECT_EQ(a.zero_variance_groups, 2);
  EXPECT_EQ(a.values.abs().sum().item<double>(), 0.0);
  EXPECT_THROW(LeaveOneOutAdvantages(torch::tensor({1.0, 2.0}), o), c10::Error);
  o.group_size = 3;
  EXPECT_THROW(GroupMeanAdvantages(torch::tensor({1.0, 2.0}), o), c10::Error);
}

TEST(RegistryTest, RefusesDuplicatesAndNamesTheKnownOnes) {
  FunctionRegistry<AdvantageFn> r("advantage estimator");
  ASSERT_TRUE(r.Register("grpo", GroupNormalizedAdvantages).ok());
  absl::Status dup = r.Register("grpo", GroupMeanAdvantages);
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists);
  auto missing = r.Get("ppo");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("known: grpo"));
  EXPECT_THAT(PolicyObjectives().Names(), ::testing::ElementsAre("cispo", "gspo", "ppo_clip"));
  EXPECT_THAT(AdvantageEstimators().Names(),
              ::testing::ElementsAre("dr_grpo", "grpo", "grpo_batch_std", "rloo"));
  EXPECT_FALSE(AggregationFromName("token_mean").ok());
  EXPECT_FALSE(KlEstimatorFromName("k4").ok());
  EXPECT_TRUE(IsModeFromName("sequence_mask").ok());
}

}  // namespace
}  // namespace rlvr
