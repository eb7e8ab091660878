// Optimizer, clipping and schedules against torch.optim.AdamW, clip_grad_norm_ and
// transformers' schedules (testdata/optim_oracle.py), plus micro-batch planning.
#include "learner/optim.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include <torch/torch.h>

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
    StepStats s = opt.Step();
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
  StepStats s = opt.Step();
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

}  // namespace
}  // namespace rlvr
