// Golden tests: losses, gradients w.r.t. logprobs/entropy, metrics and advantages against
// TRL's GRPO code (testdata/trl_oracle.py) and an independent formula-level reference
// (testdata/formula_oracle.py), both run with RLVR_PYTHON on fixed float64 tensors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <torch/torch.h>

#include "learner/registry.h"
#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"

namespace rlvr {
namespace {

using nlohmann::json;

constexpr double kTol = 1e-6;

// Runs a testdata script and parses the JSON it writes; empty on failure (test fails).
json RunOracle(const std::string& script) {
  const std::string out = ::testing::TempDir() + "/" + script + ".json";
  const std::string cmd =
      std::string(RLVR_PYTHON) + " " + RLVR_SOURCE_DIR + "/learner/testdata/" + script + " " + out;
  if (std::system(cmd.c_str()) != 0) {
    ADD_FAILURE() << "oracle failed: " << cmd;
    return json();
  }
  std::ifstream f(out);
  return json::parse(f);
}

// A JSON number, vector or matrix as a float64 tensor.
torch::Tensor ToTensor(const json& j) {
  auto opts = torch::dtype(torch::kFloat64);
  if (j.is_number()) return torch::tensor(j.get<double>(), opts);
  if (j[0].is_number()) return torch::tensor(j.get<std::vector<double>>(), opts);
  std::vector<torch::Tensor> rows;
  for (const auto& row : j) rows.push_back(ToTensor(row));
  return torch::stack(rows);
}

void ExpectClose(const torch::Tensor& got, const json& want, const std::string& what) {
  torch::Tensor w = ToTensor(want);
  ASSERT_EQ(got.sizes(), w.sizes()) << what;
  const double diff = (got.to(torch::kFloat64) - w).abs().max().item<double>();
  EXPECT_LE(diff, kTol) << what;
}

struct Options {
  PolicyObjectiveFn objective;
  PolicyLossOptions loss;
};

Options ParseOptions(const json& j) {
  Options o;
  o.objective = PolicyObjectives().Get(j.at("objective")).value();
  o.loss.aggregation = AggregationFromName(j.at("aggregation")).value();
  o.loss.clip_low = j.value("clip_low", 0.2);
  o.loss.clip_high = j.value("clip_high", 0.2);
  o.loss.dual_clip = j.value("dual_clip", 0.0);
  o.loss.cispo_max_weight = j.value("cispo_max_weight", 5.0);
  o.loss.normaliser = j.value("normaliser", 0.0);
  o.loss.kl_coef = j.value("kl_coef", 0.0);
  o.loss.kl_estimator = KlEstimatorFromName(j.value("kl_estimator", "k3")).value();
  o.loss.kl_ratio_weighted = j.value("kl_ratio_weighted", false);
  o.loss.entropy_coef = j.value("entropy_coef", 0.0);
  o.loss.is_mode = IsModeFromName(j.value("is_mode", "none")).value();
  o.loss.is_min = j.value("is_min", 0.0);
  o.loss.is_max = j.value("is_max", 3.0);
  return o;
}

struct Result {
  PolicyLoss loss;
  torch::Tensor grad_logprobs, grad_entropy;
};

Result RunLoss(const json& inputs, const Options& o) {
  PolicyLossInputs in;
  in.logprobs = ToTensor(inputs["logprobs"]).requires_grad_(true);
  in.entropy = ToTensor(inputs["entropy"]).requires_grad_(true);
  in.old_logprobs = ToTensor(inputs["old_logprobs"]);
  in.behaviour_logprobs = ToTensor(inputs["behaviour_logprobs"]);
  in.ref_logprobs = ToTensor(inputs["ref_logprobs"]);
  in.advantages = ToTensor(inputs["advantages"]);
  in.mask = ToTensor(inputs["mask"]).to(torch::kInt64);
  Result r;
  r.loss = ComputePolicyLoss(o.objective, in, o.loss);
  r.loss.loss.backward();
  r.grad_logprobs = in.logprobs.grad();
  r.grad_entropy = in.entropy.grad();
  return r;
}

void CheckLossCase(const json& inputs, const json& c) {
  SCOPED_TRACE(c["name"].get<std::string>());
  Result r = RunLoss(inputs, ParseOptions(c["options"]));
  EXPECT_NEAR(r.loss.loss.item<double>(), c["loss"].get<double>(), kTol);
  ExpectClose(r.grad_logprobs, c["grad_logprobs"], "grad logprobs");
  if (c["grad_entropy"].is_null()) {
    EXPECT_FALSE(r.grad_entropy.defined() && r.grad_entropy.abs().max().item<double>() > 0);
  } else {
    ASSERT_TRUE(r.grad_entropy.defined());
    ExpectClose(r.grad_entropy, c["grad_entropy"], "grad entropy");
  }
}

void CheckAdvantageCase(const json& rewards, const json& c) {
  SCOPED_TRACE(c["name"].get<std::string>());
  AdvantageOptions o;
  o.group_size = c["group_size"];
  o.epsilon = c["epsilon"];
  o.std_ddof = c["std_ddof"];
  Advantages a = AdvantageEstimators().Get(c["estimator"]).value()(ToTensor(rewards), o);
  ExpectClose(a.values, c["advantages"], "advantages");
  if (!c["zero_variance_groups"].is_null()) {
    EXPECT_EQ(a.zero_variance_groups, c["zero_variance_groups"].get<int64_t>());
  }
}

TEST(TrlOracleTest, LossesGradientsMetricsAndAdvantagesMatchTrl) {
  json d = RunOracle("trl_oracle.py");
  ASSERT_FALSE(d.is_null());
  std::cout << "TRL " << d["trl_version"].get<std::string>() << " from "
            << d["trl_source"].get<std::string>() << "\n";
  ASSERT_GE(d["loss_cases"].size(), 15u);
  for (const json& c : d["loss_cases"]) {
    CheckLossCase(d["inputs"], c);
    // TRL's logged metrics (float32 reductions) under our names.
    SCOPED_TRACE(c["name"].get<std::string>());
    PolicyLossMetrics m = RunLoss(d["inputs"], ParseOptions(c["options"])).loss.metrics;
    const json& t = c["trl_metrics"];
    EXPECT_NEAR(m.entropy_mean, t["entropy"].get<double>(), kTol);
    if (t.contains("kl")) EXPECT_NEAR(m.kl_mean, t["kl"].get<double>(), kTol);
    if (t.contains("clip_ratio/low_mean")) {
      EXPECT_NEAR(m.clip_frac_low, t["clip_ratio/low_mean"].get<double>(), kTol);
      EXPECT_NEAR(m.clip_frac_high, t["clip_ratio/high_mean"].get<double>(), kTol);
    }
    if (t.contains("cispo_clip_ratio")) {
      EXPECT_NEAR(m.clip_frac_high, t["cispo_clip_ratio"].get<double>(), kTol);
    }
  }
  for (const json& c : d["advantage_cases"]) CheckAdvantageCase(d["inputs"]["rewards"], c);
}

TEST(FormulaOracleTest, VariantsTrlLacksMatchTheFormulaReference) {
  json d = RunOracle("formula_oracle.py");
  ASSERT_FALSE(d.is_null());
  for (const json& c : d["loss_cases"]) {
    CheckLossCase(d["inputs"], c);
    SCOPED_TRACE(c["name"].get<std::string>());
    PolicyLossMetrics m = RunLoss(d["inputs"], ParseOptions(c["options"])).loss.metrics;
    const json& w = c["metrics"];
    const std::pair<const char*, double> got[] = {{"policy_loss", m.policy_loss},
                                                  {"clip_frac_low", m.clip_frac_low},
                                                  {"clip_frac_high", m.clip_frac_high},
                                                  {"dual_clip_frac", m.dual_clip_frac},
                                                  {"ratio_mean", m.ratio_mean},
                                                  {"entropy_mean", m.entropy_mean},
                                                  {"tokens", m.tokens},
                                                  {"kl_mean", m.kl_mean},
                                                  {"is_weight_mean", m.is_weight_mean},
                                                  {"is_weight_max", m.is_weight_max},
                                                  {"is_zeroed_frac", m.is_zeroed_frac}};
    for (const auto& [name, value] : got) {
      if (w.contains(name)) EXPECT_NEAR(value, w[name].get<double>(), kTol) << name;
    }
  }
  for (const json& c : d["advantage_cases"]) CheckAdvantageCase(d["inputs"]["rewards"], c);
  const json& in = d["inputs"];
  for (const json& c : d["kl_reward_cases"]) {
    torch::Tensor r = KlPenalizedRewards(ToTensor(in["scores"]), ToTensor(in["logprobs"]),
                                         ToTensor(in["ref_logprobs"]), ToTensor(in["mask"]),
                                         c["kl_coef"], KlEstimatorFromName(c["estimator"]).value());
    ExpectClose(r, c["rewards"], "kl rewards " + c["estimator"].get<std::string>());
  }
}

}  // namespace
}  // namespace rlvr
