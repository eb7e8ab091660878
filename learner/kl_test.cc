// KL to a frozen reference policy, in the loss and in the reward.
//
// The oracle is written here from the definitions: exact per-position KL over the
// vocabulary and Schulman's k3 from full-forward logits (Transformer::Logits), never
// from the learner's own log-probability path.
#include <sys/wait.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/model.h"
#include "core/model_config.h"
#include "learner/grpo.h"
#include "learner/optim.h"
#include "learner/trainer.h"
#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"
#include "tests/model_test_util.h"

namespace rlvr {
namespace {

using test_util::MaxParamDiff;

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int64_t kPrompts = 2;
constexpr int64_t kGroup = 4;

std::unique_ptr<Transformer> CopyOf(const Transformer& m, bool requires_grad) {
  ModelOptions mo = m.options();
  mo.requires_grad = requires_grad;
  absl::StatusOr<Transformer> c = m.Clone(mo);
  EXPECT_TRUE(c.ok()) << c.status();
  return std::make_unique<Transformer>(*std::move(c));
}

// Completion j of every prompt: fixed tokens, different per sample.
std::vector<int32_t> CompletionTokens(int64_t sample) {
  return {static_cast<int32_t>(20 + sample), static_cast<int32_t>(31 + 2 * sample), 45,
          static_cast<int32_t>(50 + sample)};
}

// Log-softmax rows of the full-sequence logits at the positions predicting each completion
// token: (Tc, V) float64.
torch::Tensor CompletionLogSoftmax(const Transformer& m, const std::vector<int64_t>& prompt,
                                   const std::vector<int64_t>& completion) {
  std::vector<int64_t> ids = prompt;
  ids.insert(ids.end(), completion.begin(), completion.end());
  torch::NoGradGuard no_grad;
  absl::StatusOr<torch::Tensor> logits = m.Logits(torch::tensor(ids).view({1, -1}));
  EXPECT_TRUE(logits.ok()) << logits.status();
  const int64_t p = static_cast<int64_t>(prompt.size());
  const int64_t c = static_cast<int64_t>(completion.size());
  return torch::log_softmax((*logits)[0].narrow(0, p - 1, c).to(torch::kFloat64), -1);
}

// Exact KL(policy || reference) summed over the vocabulary, averaged over the completion
// positions of `samples`.
double ExactKl(const Transformer& policy, const Transformer& reference,
               const std::vector<RolloutSample>& samples) {
  double total = 0;
  int64_t n = 0;
  for (const RolloutSample& s : samples) {
    torch::Tensor lp = CompletionLogSoftmax(policy, s.prompt, s.completion);
    torch::Tensor lq = CompletionLogSoftmax(reference, s.prompt, s.completion);
    total += (lp.exp() * (lp - lq)).sum().item<double>();
    n += lp.size(0);
  }
  return total / n;
}

std::vector<RolloutSample> FixedSamples() {
  std::vector<RolloutSample> samples;
  for (int64_t g = 0; g < kPrompts; ++g) {
    for (int64_t j = 0; j < kGroup; ++j) {
      RolloutSample s;
      s.prompt = {3, 9 + g, 14, 5 + 2 * g};
      for (int32_t t : CompletionTokens(j)) s.completion.push_back(t);
      s.behaviour_logprobs.assign(s.completion.size(), -1.0f);
      s.reward = (j == 0 || (g == 1 && j == 2)) ? 1.0 : 0.0;
      samples.push_back(std::move(s));
    }
  }
  return samples;
}

OptimizerOptions SmallAdam() {
  OptimizerOptions o;
  o.schedule.lr = 1e-3;
  o.weight_decay = 0;
  return o;
}

Optimizer OptimizerFor(const Transformer& m, const OptimizerOptions& options = SmallAdam()) {
  std::vector<torch::Tensor> params;
  for (auto& [name, p] : m.NamedParameters()) params.push_back(p);
  return Optimizer(params, options);
}

// KL in the reward: one step equals a step without KL on rewards penalised by an
// independently computed k3 sum, and the logged KL is the k3 token mean.
TEST(KlTest, RewardPlacementEqualsPenalisedRewardsFromAnIndependentK3) {
  const Transformer base = test_util::BuiltinTinyModel(0, true);
  const Transformer reference =
      test_util::BuiltinTinyModel(1, false);  // far from the policy: KL > 0
  const double coef = 0.3;
  std::vector<RolloutSample> samples = FixedSamples();

  // Oracle: score - coef * sum_t k3, k3 = exp(q - p) - (q - p) - 1 on the sampled tokens.
  std::vector<RolloutSample> penalised = samples;
  double k3_sum = 0;
  int64_t tokens = 0;
  for (RolloutSample& s : penalised) {
    torch::Tensor lp = CompletionLogSoftmax(base, s.prompt, s.completion);
    torch::Tensor lq = CompletionLogSoftmax(reference, s.prompt, s.completion);
    double seq = 0;
    for (size_t t = 0; t < s.completion.size(); ++t) {
      const double d =
          lq[t][s.completion[t]].item<double>() - lp[t][s.completion[t]].item<double>();
      seq += std::exp(d) - d - 1;
    }
    s.reward -= coef * seq;
    k3_sum += seq;
    tokens += static_cast<int64_t>(s.completion.size());
  }

  GrpoOptions options;
  options.advantage_options.group_size = kGroup;
  options.loss.kl_coef = coef;
  options.loss.kl_estimator = KlEstimator::kK3;
  options.kl_placement = KlPlacement::kReward;
  // lr = eps = 1 and no clipping: the update is about the gradient itself, so parameter
  // differences measure gradient differences (Adam's sign-like first step would amplify
  // float noise in near-zero gradients).
  OptimizerOptions linear;
  linear.schedule.lr = 1.0;
  linear.eps = 1.0;
  linear.weight_decay = 0;
  linear.max_grad_norm = 0;
  std::unique_ptr<Transformer> a = CopyOf(base, true);
  Optimizer opt_a = OptimizerFor(*a, linear);
  absl::StatusOr<GrpoStepStats> sa = GrpoStep(*a, &reference, opt_a, nullptr, samples, options);
  ASSERT_TRUE(sa.ok()) << sa.status();
  EXPECT_NEAR(sa->loss.kl_mean, k3_sum / tokens, 1e-5);
  EXPECT_GT(sa->loss.kl_mean, 0.01);

  GrpoOptions plain = options;
  plain.loss.kl_coef = 0;
  std::unique_ptr<Transformer> b = CopyOf(base, true);
  Optimizer opt_b = OptimizerFor(*b, linear);
  ASSERT_TRUE(GrpoStep(*b, nullptr, opt_b, nullptr, penalised, plain).ok());
  EXPECT_LT(MaxParamDiff(*a, *b), 1e-6);

  // Not vacuous: the unpenalised rewards give another update.
  std::unique_ptr<Transformer> c = CopyOf(base, true);
  Optimizer opt_c = OptimizerFor(*c, linear);
  ASSERT_TRUE(GrpoStep(*c, nullptr, opt_c, nullptr, samples, plain).ok());
  EXPECT_GT(MaxParamDiff(*a, *c), 1e-4) << MaxParamDiff(*a, *c);
}

TEST(KlTest, NeedsAReferenceWhenTheCoefficientIsSet) {
  std::unique_ptr<Transformer> policy = CopyOf(test_util::BuiltinTinyModel(0, true), true);
  Optimizer opt = OptimizerFor(*policy);
  GrpoOptions options;
  options.advantage_options.group_size = kGroup;
  options.loss.kl_coef = 0.1;
  absl::StatusOr<GrpoStepStats> s =
      GrpoStep(*policy, nullptr, opt, nullptr, FixedSamples(), options);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
}

// Returns the same completions for every step (sample j of each prompt:
// CompletionTokens(j)); sample 0 is the one the grader rewards.
class FixedGenerator final : public Generator {
 public:
  absl::Status GenerateStream(const std::vector<GenerationRequest>& requests,
                              const CompletionCallback& on_completion) override {
    for (size_t r = 0; r < requests.size(); ++r) {
      for (int64_t s = 0; s < requests[r].n; ++s) {
        Completion c;
        c.request_id = requests[r].id;
        c.request_index = static_cast<int64_t>(r);
        c.sample_index = s;
        c.token_ids = CompletionTokens(s);
        c.logprobs.assign(c.token_ids.size(), -1.0f);
        on_completion(std::move(c));
      }
    }
    return absl::OkStatus();
  }
  absl::Status UpdateWeights(int64_t,
                             const std::vector<std::pair<std::string, torch::Tensor>>&) override {
    return absl::OkStatus();
  }
};

Task MakeTask(int64_t i) {
  Task t;
  t.id = absl::StrCat("task-", i % kPrompts);
  t.prompt = i % kPrompts == 0 ? "What is 1+1?" : "What is 2+3?";
  return t;
}

struct KlRun {
  std::vector<double> kl;  // logged KL per step
  double exact_kl = 0;     // exact KL(policy || reference) on the training completions after
};

// Trains `steps` GRPO steps from `base` with a reference equal to `base`.
KlRun Train(const Transformer& base, double kl_coef, KlPlacement placement, int steps) {
  std::unique_ptr<Transformer> policy = CopyOf(base, true);
  std::unique_ptr<Transformer> reference = CopyOf(base, false);
  Optimizer optimizer = OptimizerFor(*policy);
  Tokenizer tokenizer = Tokenizer::Builtin();
  IndexedTaskSource tasks(MakeTask);
  TaskGrader grader = [](const Task&, const Completion& c) -> absl::StatusOr<Reward> {
    const bool correct = c.token_ids.front() == CompletionTokens(0).front();
    return Reward{correct ? 1.0 : 0.0, correct ? "correct" : "incorrect", {}};
  };
  TrainerOptions options;
  options.steps = steps;
  options.prompts_per_step = kPrompts;
  options.grpo.advantage_options.group_size = kGroup;
  options.grpo.loss.kl_coef = kl_coef;
  options.grpo.loss.kl_estimator = KlEstimator::kK3;
  options.grpo.kl_placement = placement;
  options.reference = kl_coef != 0 ? reference.get() : nullptr;
  FixedGenerator generator;
  Trainer trainer(*policy, optimizer, generator, tokenizer, tasks, grader, nullptr, options);
  KlRun run;
  absl::Status s =
      trainer.Run([&](const StepReport& r) { run.kl.push_back(r.grpo.loss.kl_mean); }, nullptr);
  EXPECT_TRUE(s.ok()) << s;
  // The training completions, rendered as the trainer did.
  std::vector<RolloutSample> samples;
  for (int64_t i = 0; i < kPrompts; ++i) {
    const Task task = MakeTask(i);
    for (int64_t j = 0; j < kGroup; ++j) {
      RolloutSample rs;
      for (int32_t id : tokenizer.Encode(RenderPrompt(task, options.prompt_template)))
        rs.prompt.push_back(id);
      for (int32_t id : CompletionTokens(j)) rs.completion.push_back(id);
      samples.push_back(rs);
    }
  }
  run.exact_kl = ExactKl(*policy, *reference, samples);
  return run;
}

class KlPlacementTest : public ::testing::TestWithParam<KlPlacement> {};

TEST_P(KlPlacementTest, LoggedKlIsZeroAtTheFirstStepAndPositiveLater) {
  const Transformer base = test_util::BuiltinTinyModel(0, true);
  KlRun run = Train(base, 0.1, GetParam(), 3);
  ASSERT_EQ(run.kl.size(), 3u);
  EXPECT_LT(std::abs(run.kl[0]), 1e-7);  // policy == reference
  EXPECT_GT(run.kl[1], 1e-6);
  EXPECT_GT(run.kl[2], 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Placements, KlPlacementTest,
                         ::testing::Values(KlPlacement::kLoss, KlPlacement::kReward),
                         [](const auto& info) {
                           return info.param == KlPlacement::kLoss ? "Loss" : "Reward";
                         });

TEST(KlTest, LargeCoefficientKeepsThePolicyCloserToTheReference) {
  const Transformer base = test_util::BuiltinTinyModel(0, true);
  const int steps = 8;
  KlRun free = Train(base, 0.0, KlPlacement::kLoss, steps);
  KlRun anchored = Train(base, 10.0, KlPlacement::kLoss, steps);
  std::cout << "exact KL(policy || reference) after " << steps << " steps: kl_coef 0 "
            << free.exact_kl << ", kl_coef 10 " << anchored.exact_kl << "\n";
  EXPECT_GT(free.exact_kl, 1e-3);                    // the policy did move
  EXPECT_LT(anchored.exact_kl, 0.7 * free.exact_kl)  // measured: 0.46 x
      << "free " << free.exact_kl << " anchored " << anchored.exact_kl;
}

// `rlvr train --check` with bad KL (and ZeRO) keys: one clear error naming each key.
TEST(KlConfigTest, BadKlKeysAreNamed) {
  const std::string cmd = std::string("'") + RLVR_CLI +
                          "' train --check learner.kl_estimator=k9 learner.kl_in=policy "
                          "learner.kl_coef=-1 learner.zero_stage=2 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  const int status = pclose(p);
  EXPECT_EQ(WEXITSTATUS(status), 2) << out;
  EXPECT_THAT(out, HasSubstr("learner.kl_estimator"));
  EXPECT_THAT(out, HasSubstr("k9"));
  EXPECT_THAT(out, HasSubstr("learner.kl_in"));
  EXPECT_THAT(out, HasSubstr("policy"));
  EXPECT_THAT(out, HasSubstr("learner.kl_coef"));
  EXPECT_THAT(out, HasSubstr("learner.zero_stage"));
}

}  // namespace
}  // namespace rlvr
