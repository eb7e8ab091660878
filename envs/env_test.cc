#include "envs/env.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "envs/generated_tasks.h"
#include "envs/tool_env.h"
#include "verifiers/registry.h"
#include "verifiers/sandbox/sandbox.h"

namespace rlvr {
namespace {

using ::testing::HasSubstr;

// Scores 1 when the completion contains "ANSWER=<gold>"; records what it was asked.
class FakeVerifier final : public Verifier {
 public:
  absl::StatusOr<Reward> Verify(const VerifyRequest& request) const override {
    last_completion = request.completion;
    Reward r;
    const bool ok = request.completion.find("ANSWER=" + request.answer) != std::string::npos;
    r.score = ok ? 1.0 : 0.0;
    r.verdict = ok ? "correct" : "incorrect";
    return r;
  }
  std::string name() const override { return "fake"; }
  mutable std::string last_completion;
};

VerifierLookup Lookup(const Verifier* v) {
  return [v](const std::string& name) -> absl::StatusOr<const Verifier*> {
    if (name == "fake") return v;
    return absl::NotFoundError("no verifier " + name);
  };
}

Task FakeTask() {
  Task t;
  t.id = "t";
  t.prompt = "What is 6*7?";
  t.gold = "42";
  t.verifier = "fake";
  return t;
}

TEST(SingleTurnEnvTest, OneStepGradedByTheTaskVerifier) {
  FakeVerifier verifier;
  TemplateOptions options;
  SingleTurnEnv env(options, Lookup(&verifier));
  EnvState state;
  absl::StatusOr<std::string> prompt = env.Reset(FakeTask(), &state);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(*prompt, RenderPrompt(FakeTask(), options));
  absl::StatusOr<StepResult> r = env.Step(&state, "ANSWER=42");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->done);
  EXPECT_FALSE(r->observation.has_value());
  EXPECT_EQ(r->reward->score, 1.0);
  EXPECT_EQ(env.Step(&state, "again").status().code(), absl::StatusCode::kFailedPrecondition);

  Task unknown = FakeTask();
  unknown.verifier = "nope";
  ASSERT_TRUE(env.Reset(unknown, &state).ok());
  EXPECT_EQ(env.Step(&state, "x").status().code(), absl::StatusCode::kNotFound);
}

TEST(SingleTurnEnvTest, GeneratedArithmeticWithTheRealMathVerifier) {
  absl::StatusOr<std::unique_ptr<Verifier>> math =
      BuiltinVerifiers().Create("math", nlohmann::json::object());
  if (!math.ok()) GTEST_SKIP() << math.status();
  const Verifier* m = math->get();
  SingleTurnEnv env(TemplateOptions(),
                    [m](const std::string&) -> absl::StatusOr<const Verifier*> { return m; });
  Task task = MakeArithmeticTask(1, 0, ArithmeticOptions());
  EnvState state;
  ASSERT_TRUE(env.Reset(task, &state).ok());
  EXPECT_EQ(env.Step(&state, task.metadata["reference_completion"])->reward->score, 1.0);
}

TEST(ToolCallTest, Extraction) {
  EXPECT_EQ(ExtractToolCall("Let me compute.\n```python\nprint(6*7)\n```\n"), "print(6*7)\n");
  EXPECT_EQ(ExtractToolCall("```python\nprint(1)\n"), "print(1)\n");  // stopped at the fence
  EXPECT_FALSE(ExtractToolCall("```python\nx=1\n```\nSo the answer is 42."));
  EXPECT_FALSE(ExtractToolCall("no code"));
  EXPECT_FALSE(ExtractToolCall("```pythonic\nx\n```"));
  EXPECT_EQ(ExtractToolCall("```python\na\n```\n```python\nb\n```"), "b\n");
}

// A runner that "executes" code by echoing it, counting calls.
struct EchoRunner {
  int calls = 0;
  CodeRunner Runner() {
    return [this](const std::string& code) -> absl::StatusOr<ToolOutput> {
      ++calls;
      ToolOutput out;
      if (code.find("boom") != std::string::npos) {
        out.status = "error";
        out.stderr_text = "Traceback...\nZeroDivisionError: division by zero\n";
      } else {
        out.stdout_text = "ran: " + code;
      }
      return out;
    };
  }
};

TEST(ToolEnvTest, ToolCallsThenFinalAnswerWithObservationsMasked) {
  FakeVerifier verifier;
  EchoRunner runner;
  ToolEnvOptions options;
  options.max_tool_calls = 2;
  ToolEnv env(TemplateOptions(), options, runner.Runner(), Lookup(&verifier));
  EnvState state;
  ASSERT_TRUE(env.Reset(FakeTask(), &state).ok());

  absl::StatusOr<StepResult> r1 = env.Step(&state, "Compute:\n```python\nprint(6*7)\n```");
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_FALSE(r1->done);
  EXPECT_EQ(*r1->observation, "\n```output\nran: print(6*7)\n```\n");
  absl::StatusOr<StepResult> r2 = env.Step(&state, "Check:\n```python\n1/0 # boom\n```");
  ASSERT_TRUE(r2.ok());
  EXPECT_THAT(*r2->observation, HasSubstr("ZeroDivisionError"));
  // Third code block: no tool calls left, so this completion is final.
  absl::StatusOr<StepResult> r3 = env.Step(&state, "ANSWER=42\n```python\nprint(0)\n```");
  ASSERT_TRUE(r3.ok());
  EXPECT_TRUE(r3->done);
  EXPECT_EQ(r3->reward->score, 1.0);
  EXPECT_EQ(r3->reward->details["tool_calls"], 2);
  EXPECT_EQ(runner.calls, 2);
  // The verifier saw the model's text only, not the tool output.
  EXPECT_THAT(verifier.last_completion, HasSubstr("Compute:"));
  EXPECT_THAT(verifier.last_completion, ::testing::Not(HasSubstr("ran:")));

  // Token mask: one "token" per character.
  auto encode = [](const std::string& s) { return std::vector<int32_t>(s.begin(), s.end()); };
  EpisodeTokens tokens = TokenizeEpisode(state.segments, encode);
  ASSERT_EQ(state.segments.size(), 6u);  // prompt, c, obs, c, obs, c
  size_t pos = 0;
  for (const Segment& s : state.segments) {
    for (size_t i = 0; i < s.text.size(); ++i, ++pos) {
      ASSERT_EQ(tokens.loss_mask[pos], s.kind == Segment::Kind::kCompletion ? 1 : 0);
      ASSERT_EQ(tokens.tokens[pos], static_cast<int32_t>(s.text[i]));
    }
  }
  EXPECT_EQ(pos, tokens.tokens.size());
  EXPECT_EQ(tokens.prompt_tokens, static_cast<int64_t>(state.segments[0].text.size()));
}

TEST(ToolEnvTest, LongOutputKeepsHeadAndTail) {
  ToolEnvOptions options;
  options.max_observation_chars = 20;
  ToolEnv env(TemplateOptions(), options, nullptr, nullptr);
  ToolOutput out;
  out.stdout_text = std::string(50, 'a') + std::string(50, 'b');
  const std::string obs = env.FormatObservation(out);
  EXPECT_THAT(obs, HasSubstr("aaaaaaaaaa\n...[80 characters omitted]...\nbbbbbbbbbb"));
}

TEST(ToolEnvTest, RunsPythonInTheSandbox) {
  sandbox::SandboxOptions sandbox_options;
  sandbox_options.allow_degraded = true;
  absl::StatusOr<std::unique_ptr<sandbox::Sandbox>> box = sandbox::Sandbox::Create(sandbox_options);
  if (!box.ok()) GTEST_SKIP() << "sandbox unavailable: " << box.status();
  SandboxRunnerOptions runner_options;
  runner_options.cpu_s = 1.0;
  CodeRunner runner = MakeSandboxPythonRunner(box->get(), runner_options);
  absl::StatusOr<ToolOutput> out = runner("print(sum(range(10)))\n");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->status, "ok");
  EXPECT_EQ(out->stdout_text, "45\n");
  out = runner("raise ValueError('bad')\n");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->status, "error");
  EXPECT_THAT(out->stderr_text, HasSubstr("ValueError: bad"));
  out = runner("while True: pass\n");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->status, "timeout");

  FakeVerifier verifier;
  ToolEnv env(TemplateOptions(), ToolEnvOptions(), runner, Lookup(&verifier));
  EnvState state;
  ASSERT_TRUE(env.Reset(FakeTask(), &state).ok());
  absl::StatusOr<StepResult> r = env.Step(&state, "```python\nprint(6*7)\n```");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r->observation, "\n```output\n42\n```\n");
  EXPECT_EQ(env.Step(&state, "So ANSWER=42")->reward->score, 1.0);
}

}  // namespace
}  // namespace rlvr
