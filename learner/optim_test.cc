// Optimizer, clipping and schedules against torch.optim.AdamW, clip_grad_norm_ and
// transformers' schedules (testdata/optim_oracle.py), plus micro-batch planning and
// bfloat16 training through float32 master weights (against LibTorch's float32 AdamW).
#include "learner/optim.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include <torch/torch.h>

#include "core/model.h"
#include "learner/sft.h"
#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"

namespace rlvr {
namespace {

using nlohmann::json;

torch::Tensor ToTensor(const json& j) {
  auto opts = torch::dtype(torch::kFloat64);
  if (j[0].is_number()) return torch::tensor(j.get<std::vector<double>>(), opts);
  std::vector<torch::Tensor> rows;
  for (const auto& row : j) rows.push_back(ToTensor(row));
  return torch::stack(rows);
}

class OptimOracleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string out = ::testing::TempDir() + "/optim_oracle.json";
    const std::string cmd = std::string(RLVR_PYTHON) + " " + RLVR_SOURCE_DIR +
                            "/learner/testdata/optim_oracle.py " + out;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream f(out);
    oracle_ = new json(json::parse(f));
  }
  static void TearDownTestSuite() { delete oracle_; }
  static json* oracle_;
};
json* OptimOracleTest::oracle_ = nullptr;

TEST_F(OptimOracleTest, AdamWWithClippingAndCosineWarmupMatchesTorch) {
  const json& d = *oracle_;
  const json& o = d["options"];
  OptimizerOptions opts;
  opts.schedule.lr = o["lr"];
  opts.schedule.warmup_steps = o["warmup"];
  opts.schedule.decay = LrDecay::kCosine;
  opts.schedule.total_steps = o["steps"];
  opts.beta1 = o["betas"][0];
  opts.beta2 = o["betas"][1];
  opts.eps = o["eps"];
  opts.weight_decay = o["weight_decay"];
  opts.max_grad_norm = o["max_grad_norm"];
  std::vector<torch::Tensor> params;
  for (const json& p : d["init"]) params.push_back(ToTensor(p).requires_grad_(true));
  Optimizer opt(params, opts);
  for (size_t step = 0; step < d["grads"].size(); ++step) {
    SCOPED_TRACE(step);
    for (size_t i = 0; i < params.size(); ++i) {
      params[i].mutable_grad() = ToTensor(d["grads"][step][i]);
    }
    StepStats s = opt.Step().value();
    EXPECT_FALSE(s.skipped);
    EXPECT_NEAR(s.grad_norm, d["grad_norms"][step].get<double>(), 1e-10);
    EXPECT_NEAR(s.lr, d["lrs"][step].get<double>(), 1e-15);
    for (size_t i = 0; i < params.size(); ++i) {
      torch::Tensor want = ToTensor(d["trajectory"][step][i]);
      EXPECT_LE((params[i].detach() - want).abs().max().item<double>(), 1e-10) << "param " << i;
      EXPECT_FALSE(params[i].grad().defined());
    }
  }
  EXPECT_EQ(opt.steps_taken(), static_cast<int64_t>(d["grads"].size()));
}

TEST_F(OptimOracleTest, SchedulesMatchTransformersAndVerl) {
  for (const json& t : (*oracle_)["tables"]) {
    LrScheduleOptions s;
    s.lr = (*oracle_)["options"]["lr"];
    s.warmup_steps = t["warmup"];
    s.decay = t["decay"] == "cosine" ? LrDecay::kCosine : LrDecay::kConstant;
    s.total_steps = t["total"];
    s.min_lr_ratio = t["min_lr_ratio"];
    for (size_t step = 0; step < t["lrs"].size(); ++step) {
      EXPECT_NEAR(LearningRate(s, step), t["lrs"][step].get<double>(), 1e-15)
          << t["decay"] << " warmup " << s.warmup_steps << " step " << step;
    }
    if (s.decay == LrDecay::kCosine) {  // held at the floor afterwards
      EXPECT_NEAR(LearningRate(s, s.total_steps + 7), s.lr * s.min_lr_ratio, 1e-15);
    }
  }
}

TEST(OptimTest, NonFiniteGradientSkipsTheStep) {
  torch::Tensor p = torch::ones({3}, torch::dtype(torch::kFloat64)).requires_grad_(true);
  OptimizerOptions opts;
  opts.schedule.lr = 0.1;
  Optimizer opt({p}, opts);
  p.mutable_grad() = torch::tensor({1.0, std::nan(""), 0.0}, torch::dtype(torch::kFloat64));
  StepStats s = opt.Step().value();
  EXPECT_TRUE(s.skipped);
  EXPECT_EQ(opt.steps_taken(), 0);
  EXPECT_TRUE(torch::equal(p.detach(), torch::ones({3}, torch::dtype(torch::kFloat64))));
  EXPECT_FALSE(p.grad().defined());
}

TEST(OptimTest, ClipGradNormScalesToTheLimit) {
  torch::Tensor a = torch::zeros({2}).requires_grad_(true);
  torch::Tensor b = torch::zeros({1}).requires_grad_(true);
  a.mutable_grad() = torch::tensor({3.f, 0.f});
  b.mutable_grad() = torch::tensor({4.f});
  EXPECT_NEAR(ClipGradNorm({a, b}, 1.0), 5.0, 1e-6);
  EXPECT_NEAR(a.grad()[0].item<float>(), 0.6f, 1e-6);
  EXPECT_NEAR(b.grad()[0].item<float>(), 0.8f, 1e-6);
  EXPECT_NEAR(ClipGradNorm({a, b}, 0.0), 1.0, 1e-6);  // disabled: reports only
}

TEST(OptimTest, MicroBatchPlanCoversEverySequenceWithinTheBudget) {
  std::vector<int64_t> lengths = {5, 100, 30, 30, 7, 0, 64, 64, 250};
  auto plan = PlanMicroBatches(lengths, 128);
  std::multiset<int64_t> seen;
  for (const auto& mb : plan) {
    ASSERT_FALSE(mb.empty());
    int64_t longest = 0;
    for (int64_t i : mb) {
      seen.insert(i);
      longest = std::max(longest, lengths[i]);
    }
    if (mb.size() > 1) EXPECT_LE(static_cast<int64_t>(mb.size()) * longest, 128);
  }
  EXPECT_EQ(seen.size(), lengths.size());
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), lengths.size());
  EXPECT_EQ(plan.front(), std::vector<int64_t>{8});  // 250 > budget: alone
  EXPECT_THROW(PlanMicroBatches(lengths, 0), c10::Error);
}

// bfloat16 parameters with an update far below a bfloat16 ulp (2^-7 near 1): through
// float32 masters they follow float32 AdamW (torch's own, the oracle) rounded to
// bfloat16; an optimizer keeping bfloat16 masters would round every update away.
TEST(OptimTest, BFloat16ParamsFollowFloat32AdamWThroughMasterWeights) {
  torch::manual_seed(3);
  const torch::Tensor init = (1.0 + 0.05 * torch::randn({512})).to(torch::kBFloat16);
  torch::Tensor p = init.clone().requires_grad_(true);
  torch::Tensor ref = init.to(torch::kFloat32).requires_grad_(true);
  OptimizerOptions o;
  o.schedule.lr = 1e-4;
  o.weight_decay = 0.01;
  o.max_grad_norm = 0;
  Optimizer opt({p}, o);
  torch::optim::AdamW oracle(
      std::vector<torch::Tensor>{ref},
      torch::optim::AdamWOptions(1e-4).betas({0.9, 0.999}).eps(1e-8).weight_decay(0.01));
  for (int step = 0; step < 300; ++step) {
    const torch::Tensor g = (0.1 + 0.02 * torch::randn({512})).to(torch::kBFloat16);
    p.mutable_grad() = g;
    ref.mutable_grad() = g.to(torch::kFloat32);
    ASSERT_TRUE(opt.Step().ok());
    oracle.step();
  }
  ASSERT_EQ(p.scalar_type(), torch::kBFloat16);
  const torch::Tensor want = ref.detach().to(torch::kBFloat16).to(torch::kFloat32);
  const torch::Tensor got = p.detach().to(torch::kFloat32);
  // About 4 ulps of drift, all of it kept.
  const double moved = (got - init.to(torch::kFloat32)).abs().mean().item<double>();
  const double expected = (want - init.to(torch::kFloat32)).abs().mean().item<double>();
  EXPECT_GT(expected, 0.015);
  EXPECT_NEAR(moved, expected, 0.05 * expected);
  // Equal to the oracle rounded to bfloat16, but for round-half ties: at most one ulp.
  EXPECT_GT((got == want).to(torch::kFloat32).mean().item<double>(), 0.98);
  EXPECT_LE((got - want).abs().max().item<double>(), 0.008);
  // The state: float32 moments and float32 masters, 3 x 4 bytes per element.
  EXPECT_EQ(opt.state_bytes(), 3 * 4 * 512);
}

// A few SFT steps of a bfloat16 model (parameters and activations) on the CPU stay within
// a bfloat16 tolerance of the same steps in float32.
TEST(OptimTest, BFloat16ModelTrainsLikeFloat32) {
  ModelOptions mo;
  mo.requires_grad = true;
  absl::StatusOr<Transformer> m32 = Transformer::RandomInit(BuiltinTinyConfig(64), 5, mo);
  ASSERT_TRUE(m32.ok()) << m32.status();
  mo.dtype = torch::kBFloat16;
  absl::StatusOr<Transformer> m16 = m32->Clone(mo);
  ASSERT_TRUE(m16.ok()) << m16.status();
  std::vector<torch::Tensor> init;
  for (auto& [n, t] : m16->NamedParameters()) init.push_back(t.detach().to(torch::kFloat32));
  torch::manual_seed(1);
  std::vector<Sequence> batch;
  torch::Tensor tokens = torch::randint(1, 64, {6, 20}, torch::kInt64);
  for (int i = 0; i < 6; ++i) {
    Sequence s;
    for (int t = 0; t < 6; ++t) s.prompt.push_back(tokens[i][t].item<int64_t>());
    for (int t = 6; t < 20; ++t) s.completion.push_back(tokens[i][t].item<int64_t>());
    batch.push_back(s);
  }
  OptimizerOptions o;
  o.schedule.lr = 1e-3;
  o.weight_decay = 0;
  auto train = [&](Transformer& m) {
    std::vector<torch::Tensor> params;
    for (auto& [n, t] : m.NamedParameters()) params.push_back(t);
    Optimizer opt(params, o);
    for (int step = 0; step < 4; ++step) ASSERT_TRUE(SftStep(m, opt, nullptr, batch, {}).ok());
  };
  train(*m32);
  train(*m16);
  double diff = 0, step32 = 0;
  auto p32 = m32->NamedParameters(), p16 = m16->NamedParameters();
  for (size_t i = 0; i < p32.size(); ++i) {
    ASSERT_EQ(p16[i].second.scalar_type(), torch::kBFloat16);
    const torch::Tensor d32 =
        p32[i].second.detach().to(torch::kFloat32) - init[i].to(torch::kFloat32);
    const torch::Tensor d16 = p16[i].second.detach().to(torch::kFloat32) - init[i];
    diff += (d16 - d32).abs().sum().item<double>();
    step32 += d32.abs().sum().item<double>();
  }
  ASSERT_GT(step32, 0);
  // Adam's early steps are about lr * sign(g): bfloat16 activations flip the sign of
  // some near-zero gradients, and bfloat16 rounding of the weights adds up to half an
  // ulp (measured: 0.028).
  EXPECT_LT(diff / step32, 0.1) << "relative difference of the updates";
}

}  // namespace
}  // namespace rlvr
