// Evaluate() on scripted completions: pass@k against an independent binomial
// formula, maj@k by hand, breakdowns by source and difficulty, length statistics.
#include "eval/evaluate.h"

#include <gtest/gtest.h>

#include <cmath>

namespace rlvr {
namespace {

// Returns completions from a script: task i's samples are script_[i] (text, finish).
class ScriptedGenerator final : public Generator {
 public:
  explicit ScriptedGenerator(std::vector<std::vector<std::string>> script)
      : script_(std::move(script)) {}
  absl::Status GenerateStream(const std::vector<GenerationRequest>& requests,
                              const CompletionCallback& on_completion) override {
    // Deliberately out of sample order: Evaluate must not rely on arrival order.
    for (size_t r = 0; r < requests.size(); ++r) {
      for (int64_t s = requests[r].n - 1; s >= 0; --s) {
        Completion c;
        c.request_id = requests[r].id;
        c.request_index = static_cast<int64_t>(r);
        c.sample_index = s;
        c.text = script_[r][s];
        c.token_ids.assign(c.text.size(), 1);  // one token per character
        c.finish_reason = c.text.size() >= 8 ? FinishReason::kLength : FinishReason::kStop;
        on_completion(std::move(c));
      }
    }
    return absl::OkStatus();
  }
  absl::Status UpdateWeights(int64_t,
                             const std::vector<std::pair<std::string, torch::Tensor>>&) override {
    return absl::OkStatus();
  }

 private:
  std::vector<std::vector<std::string>> script_;
};

// C(n, k) through lgamma: an implementation independent of PassAtK's product form.
double Binomial(int64_t n, int64_t k) {
  if (k < 0 || k > n) return 0;
  return std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0));
}

TEST(PassAtKTest, MatchesTheBinomialFormula) {
  for (int64_t n : {1, 2, 5, 10, 16, 50}) {
    for (int64_t c = 0; c <= n; ++c) {
      for (int64_t k = 1; k <= n; ++k) {
        const double expected = 1.0 - Binomial(n - c, k) / Binomial(n, k);
        EXPECT_NEAR(PassAtK(n, c, k), expected, 1e-9) << n << " " << c << " " << k;
      }
    }
  }
  EXPECT_DOUBLE_EQ(PassAtK(10, 0, 3), 0.0);
  EXPECT_DOUBLE_EQ(PassAtK(10, 8, 3), 1.0);  // fewer than k wrong samples
}

TEST(EvaluateTest, ScoresMajorityBreakdownsAndLengths) {
  // Answers are graded against gold; the grader's "normalized" is the answer itself,
  // "?" means no answer.
  std::vector<Task> tasks(3);
  tasks[0].id = "a";
  tasks[0].gold = "4";
  tasks[0].metadata = {{"source", "arith"}, {"difficulty", 1}};
  tasks[1].id = "b";
  tasks[1].gold = "7";
  tasks[1].metadata = {{"source", "arith"}, {"difficulty", 2}};
  tasks[2].id = "c";
  tasks[2].gold = "x";
  tasks[2].metadata = {{"source", "code"}, {"difficulty", 2}};
  for (Task& t : tasks) t.prompt = "q " + t.id;
  // Task a: sample 0 wrong, then right twice, then wrong: c = 2 of 4.
  // maj@1 votes "5" (wrong); maj@2 ties 5/4, earliest (5) wins; maj@4 "4" wins 2:1:1.
  // Task b: no answer, 7, 8, 8: maj@2 = "7" (only vote, right); maj@4 = "8" (wrong).
  // Task c: all wrong, one truncated (>= 8 characters).
  ScriptedGenerator gen({{"5", "4", "4", "6"}, {"?", "7", "8", "8"}, {"y", "y", "z", "longlong"}});
  EvalGrader grader = [](const Task& task, const Completion& c) -> absl::StatusOr<Reward> {
    Reward r;
    if (c.text == "?") {
      r.verdict = "no_answer";
      return r;
    }
    r.score = c.text == task.gold ? 1.0 : 0.0;
    r.verdict = r.score >= 1 ? "correct" : "incorrect";
    r.details["normalized"] = c.text;
    return r;
  };
  EvalOptions options;
  options.n = 4;
  auto result = Evaluate(gen, Tokenizer::Builtin(), tasks, grader, options);
  ASSERT_TRUE(result.ok()) << result.status();
  const int64_t correct[] = {2, 1, 0};
  for (int64_t k : {1, 2, 4}) {
    double expected = 0;
    for (int64_t c : correct) expected += 1.0 - Binomial(4 - c, k) / Binomial(4, k);
    EXPECT_NEAR(result->pass_at_k.at(k), expected / 3, 1e-12) << k;
  }
  EXPECT_NEAR(result->pass_at_1, 3.0 / 12, 1e-12);
  EXPECT_NEAR(result->maj_at_k.at(1), 0.0, 1e-12);      // a: 5, b: no vote, c: y
  EXPECT_NEAR(result->maj_at_k.at(2), 1.0 / 3, 1e-12);  // a: 5 (tie, earliest), b: 7
  EXPECT_NEAR(result->maj_at_k.at(4), 1.0 / 3, 1e-12);  // a: 4, b: 8, c: y
  EXPECT_EQ(result->verdicts.at("correct"), 3);
  EXPECT_EQ(result->verdicts.at("incorrect"), 8);
  EXPECT_EQ(result->verdicts.at("no_answer"), 1);
  EXPECT_NEAR(result->truncation_rate, 1.0 / 12, 1e-12);
  // Lengths 1 x 11 and 8: median 1, p90 (rank 11 of 12) 1, max 8.
  EXPECT_EQ(result->generated_tokens, 19);
  EXPECT_DOUBLE_EQ(result->completion_tokens_p50, 1);
  EXPECT_DOUBLE_EQ(result->completion_tokens_p90, 1);
  EXPECT_EQ(result->completion_tokens_max, 8);
  EXPECT_NEAR(result->correct_per_million_tokens, 3e6 / 19, 1e-6);
  ASSERT_EQ(result->by_source.size(), 2u);
  EXPECT_EQ(result->by_source.at("arith").tasks, 2);
  EXPECT_NEAR(result->by_source.at("arith").pass_at_1, (0.5 + 0.25) / 2, 1e-12);
  EXPECT_NEAR(result->by_source.at("code").pass_at_1, 0, 1e-12);
  EXPECT_NEAR(result->by_difficulty.at("2").mean_reward, 1.0 / 8, 1e-12);
  EXPECT_NEAR(result->by_difficulty.at("1").pass_at_1, 0.5, 1e-12);
  nlohmann::json j = result->ToJson();
  EXPECT_NEAR(j["maj_at_k"]["4"].get<double>(), 1.0 / 3, 1e-12);
  EXPECT_EQ(j["by_source"]["code"]["tasks"], 1);
}

// A held-out prompt that leaves less than max_new_tokens of the context is an error
// naming the context's setting and the task, before anything is generated or graded
// (not a cut answer graded 0); exactly enough room evaluates.
TEST(EvaluateTest, PromptTooLongForTheContextIsAnErrorNamingTheSetting) {
  std::vector<Task> tasks(1);
  tasks[0].id = "long-1";
  tasks[0].gold = "4";
  tasks[0].prompt = "What is 2+2?";
  const Tokenizer tok = Tokenizer::Builtin();
  EvalOptions options;
  const int64_t prompt =
      static_cast<int64_t>(tok.Encode(RenderPrompt(tasks[0], options.prompt_template)).size());
  options.sampling.max_new_tokens = 8;
  options.max_context = prompt + 7;
  options.max_context_key = "rollout.max_len";
  int graded = 0;
  EvalGrader grader = [&](const Task&, const Completion&) -> absl::StatusOr<Reward> {
    ++graded;
    return Reward{1.0, "correct", {}};
  };
  ScriptedGenerator gen({{"4"}});
  auto result = Evaluate(gen, tok, tasks, grader, options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("rollout.max_len: request long-1"), std::string::npos)
      << result.status();
  EXPECT_EQ(graded, 0);
  options.max_context = prompt + 8;
  result = Evaluate(gen, tok, tasks, grader, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(graded, 1);
}

}  // namespace
}  // namespace rlvr
