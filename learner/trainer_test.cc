// Trainer: rewards are computed while generation goes on, land on the right samples,
// and a grading error fails the step with the task named, without stalling rollout.
#include "learner/trainer.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

#include "core/model.h"
#include "core/model_config.h"
#include "learner/optim.h"

namespace rlvr {
namespace {

constexpr int64_t kPrompts = 3;
constexpr int64_t kGroup = 4;

// Streams kPrompts x kGroup completions in reverse order. Before the last one it
// waits (up to 5 s) for the grader to have seen an earlier one, and records whether
// it had: a trainer that grades only after generation never has.
class StreamingFakeGenerator final : public Generator {
 public:
  explicit StreamingFakeGenerator(const std::atomic<int>* graded, int64_t request_offset = 0)
      : graded_(graded), request_offset_(request_offset) {}

  absl::Status GenerateStream(const std::vector<GenerationRequest>& requests,
                              const CompletionCallback& on_completion) override {
    std::vector<Completion> all;
    for (size_t r = 0; r < requests.size(); ++r) {
      for (int64_t s = 0; s < requests[r].n; ++s) {
        Completion c;
        c.request_id = requests[r].id;
        c.request_index = static_cast<int64_t>(r) + request_offset_;
        c.sample_index = s;
        c.token_ids = {5, 6, static_cast<int32_t>(7 + s)};
        c.logprobs = {-1.0f, -1.0f, -1.0f};
        all.push_back(std::move(c));
      }
    }
    for (size_t i = all.size(); i-- > 0;) {
      if (i == 0) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (graded_->load() == 0 && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        graded_before_last_ = graded_->load() > 0;
      }
      on_completion(std::move(all[i]));
    }
    return absl::OkStatus();
  }

  absl::Status UpdateWeights(int64_t,
                             const std::vector<std::pair<std::string, torch::Tensor>>&) override {
    return absl::OkStatus();
  }

  bool graded_before_last() const { return graded_before_last_; }

 private:
  const std::atomic<int>* graded_;
  const int64_t request_offset_;
  bool graded_before_last_ = false;
};

struct Fixture {
  Tokenizer tokenizer = Tokenizer::Builtin();
  std::unique_ptr<Transformer> policy;
  std::unique_ptr<Optimizer> optimizer;
  IndexedTaskSource tasks{[](int64_t i) {
    Task t;
    t.id = absl::StrCat("task-", i);
    t.prompt = "What is 1+1?";
    t.verifier = "math";
    return t;
  }};
  TrainerOptions options;

  Fixture() {
    ModelOptions mo;
    mo.requires_grad = true;
    absl::StatusOr<Transformer> model =
        Transformer::RandomInit(BuiltinTinyConfig(tokenizer.vocab_size()), 0, mo);
    EXPECT_TRUE(model.ok()) << model.status();
    policy = std::make_unique<Transformer>(*std::move(model));
    std::vector<torch::Tensor> params;
    for (auto& [name, p] : policy->NamedParameters()) params.push_back(p);
    optimizer = std::make_unique<Optimizer>(params, OptimizerOptions());
    options.steps = 1;
    options.prompts_per_step = kPrompts;
    options.grpo.advantage_options.group_size = kGroup;
    options.grading_threads = 2;
  }
};

TEST(TrainerTest, GradesCompletionsWhileGenerationGoesOnAndKeepsThemWithTheirSamples) {
  Fixture f;
  std::atomic<int> graded{0};
  StreamingFakeGenerator generator(&graded);
  // Sample 0 of every group is correct: 1 of kGroup passes, whatever the arrival order.
  TaskGrader grader = [&](const Task&, const Completion& c) -> absl::StatusOr<Reward> {
    ++graded;
    const bool correct = c.token_ids.back() == 7;  // token 7 + sample_index
    return Reward{correct ? 1.0 : 0.0, correct ? "correct" : "incorrect", {}};
  };
  Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, f.tasks, grader, nullptr,
                  f.options);
  std::vector<StepReport> reports;
  ASSERT_TRUE(trainer.Run([&](const StepReport& r) { reports.push_back(r); }, nullptr).ok());
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(generator.graded_before_last());
  EXPECT_EQ(graded.load(), kPrompts * kGroup);
  EXPECT_DOUBLE_EQ(reports[0].pass_rate, 1.0 / kGroup);
  EXPECT_DOUBLE_EQ(reports[0].grpo.reward_mean, 1.0 / kGroup);
  EXPECT_EQ(reports[0].generated_tokens, kPrompts * kGroup * 3);
}

TEST(TrainerTest, GradingErrorFailsTheStepNamingTheTask) {
  Fixture f;
  std::atomic<int> graded{0};
  StreamingFakeGenerator generator(&graded);
  TaskGrader grader = [&](const Task& t, const Completion&) -> absl::StatusOr<Reward> {
    ++graded;
    if (t.id == "task-1") return absl::UnavailableError("verifier service down");
    return Reward{0.0, "incorrect", {}};
  };
  Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, f.tasks, grader, nullptr,
                  f.options);
  bool stepped = false;
  const absl::Status s = trainer.Run([&](const StepReport&) { stepped = true; }, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("grading task task-1: verifier service down"), std::string::npos) << s;
  EXPECT_FALSE(stepped);
  EXPECT_EQ(trainer.step(), 0);
}

TEST(TrainerTest, CompletionForAnUnknownRequestFailsTheStepInsteadOfReadingPastTheTasks) {
  Fixture f;
  std::atomic<int> graded{1};  // the generator need not wait
  StreamingFakeGenerator generator(&graded, /*request_offset=*/kPrompts);
  TaskGrader grader = [](const Task&, const Completion&) -> absl::StatusOr<Reward> {
    return Reward{1.0, "correct", {}};
  };
  Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, f.tasks, grader, nullptr,
                  f.options);
  const absl::Status s = trainer.Run([](const StepReport&) {}, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_NE(s.message().find("completion for request"), std::string::npos) << s;
}

}  // namespace
}  // namespace rlvr
