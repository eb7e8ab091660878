// GrpoStep leaves samples with a zero advantage out of the forward and backward passes;
// the update must be the one the full pass gives (the full pass is the reference: it is
// the same step with GrpoOptions::skip_zero_advantage off).
#include <memory>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/model.h"
#include "core/model_config.h"
#include "core/tokenizer.h"
#include "learner/grpo.h"
#include "learner/optim.h"
#include "tests/model_test_util.h"

namespace rlvr {
namespace {

using test_util::MaxParamDiff;

constexpr int64_t kGroup = 4;

std::unique_ptr<Transformer> CopyOf(const Transformer& m) {
  absl::StatusOr<Transformer> c = m.Clone(m.options());
  EXPECT_TRUE(c.ok()) << c.status();
  return std::make_unique<Transformer>(*std::move(c));
}

// One group per entry of `group_rewards`, kGroup samples each, with distinct tokens.
std::vector<RolloutSample> Samples(const std::vector<std::vector<double>>& group_rewards) {
  std::vector<RolloutSample> samples;
  for (size_t g = 0; g < group_rewards.size(); ++g) {
    for (int64_t j = 0; j < kGroup; ++j) {
      RolloutSample s;
      s.prompt = {3, static_cast<int64_t>(9 + g), 14};
      s.completion = {20 + j, static_cast<int64_t>(31 + 2 * j + g), 45, 50 + j, 12};
      s.behaviour_logprobs.assign(s.completion.size(), -2.0f);
      s.reward = group_rewards[g][j];
      samples.push_back(std::move(s));
    }
  }
  return samples;
}

struct StepResult {
  std::unique_ptr<Transformer> model;
  GrpoStepStats stats;
};

// Two GRPO steps on `samples` from a copy of `base`.
StepResult TwoSteps(const Transformer& base, const std::vector<RolloutSample>& samples, bool skip,
                    double weight_decay) {
  StepResult out{CopyOf(base), {}};
  std::vector<torch::Tensor> params;
  for (auto& [name, p] : out.model->NamedParameters()) params.push_back(p);
  OptimizerOptions oo;
  // eps 1 makes AdamW's step ~ lr * gradient for small gradients, so a difference in
  // the gradients shows as a difference of the same size in the weights (with eps 1e-8
  // AdamW would blow float rounding of near-zero gradients up to lr).
  oo.schedule.lr = 0.1;
  oo.eps = 1.0;
  oo.weight_decay = weight_decay;
  Optimizer optimizer(params, oo);
  GrpoOptions go;
  go.advantage_options.group_size = kGroup;
  go.packing = {.row_tokens = 24, .micro_batch_tokens = 48};  // several micro-batches
  go.skip_zero_advantage = skip;
  for (int step = 0; step < 2; ++step) {
    absl::StatusOr<GrpoStepStats> stats =
        GrpoStep(*out.model, nullptr, optimizer, nullptr, samples, go);
    EXPECT_TRUE(stats.ok()) << stats.status();
    if (stats.ok()) out.stats = *stats;
  }
  return out;
}

TEST(GrpoStepTest, SkippingZeroAdvantageSamplesGivesTheFullUpdate) {
  const Transformer base = test_util::BuiltinTinyModel(7);
  // Groups 0 and 2 are all equal (advantage 0), 1 and 3 are not.
  const std::vector<RolloutSample> samples =
      Samples({{1, 1, 1, 1}, {1, 0, 0, 1}, {0, 0, 0, 0}, {0, 1, 0, 0}});
  StepResult full = TwoSteps(base, samples, /*skip=*/false, 0.0);
  StepResult skipped = TwoSteps(base, samples, /*skip=*/true, 0.0);
  EXPECT_EQ(full.stats.skipped_samples, 0);
  EXPECT_EQ(skipped.stats.skipped_samples, 2 * kGroup);
  EXPECT_EQ(skipped.stats.zero_variance_groups, 2);
  // Half the tokens went through the passes, the loss normaliser still counts all.
  EXPECT_EQ(skipped.stats.loss.tokens * 2, full.stats.loss.tokens);
  EXPECT_EQ(skipped.stats.tokens, full.stats.tokens);
  EXPECT_GT(MaxParamDiff(*full.model, base), 1e-3);  // the steps did move the weights
  EXPECT_LT(MaxParamDiff(*full.model, *skipped.model), 1e-6);
}

// With every group zero-variance nothing runs, yet AdamW's weight decay still applies
// (a skipped parameter with no gradient at all would be left alone by AdamW).
TEST(GrpoStepTest, AllSkippedStillDecaysTheWeights) {
  const Transformer base = test_util::BuiltinTinyModel(7);
  const std::vector<RolloutSample> samples = Samples({{1, 1, 1, 1}, {0, 0, 0, 0}});
  StepResult full = TwoSteps(base, samples, /*skip=*/false, 0.5);
  StepResult skipped = TwoSteps(base, samples, /*skip=*/true, 0.5);
  EXPECT_EQ(skipped.stats.skipped_samples, 2 * kGroup);
  EXPECT_EQ(skipped.stats.loss.tokens, 0);
  EXPECT_GT(MaxParamDiff(*full.model, base), 1e-4);  // decay moved the weights
  EXPECT_LT(MaxParamDiff(*full.model, *skipped.model), 1e-7);
}

}  // namespace
}  // namespace rlvr
