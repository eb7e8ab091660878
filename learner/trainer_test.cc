// Trainer: rewards are computed while generation goes on, land on the right samples,
// and a grading error fails the step with the task named, without stalling rollout.
#include "learner/trainer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

#include "core/model.h"
#include "core/model_config.h"
#include "envs/template.h"
#include "learner/optim.h"
#include "verifiers/sandbox/sandbox.h"

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

// A prompt plus max_new_tokens beyond the generator's context would be cut short and
// graded 0: the step fails first, naming the key and the task, and nothing is generated.
TEST(TrainerTest, PromptTooLongForTheContextFailsTheStepNamingMaxLen) {
  Fixture f;
  std::atomic<int> graded{0};
  StreamingFakeGenerator generator(&graded);
  TaskGrader grader = [&](const Task&, const Completion&) -> absl::StatusOr<Reward> {
    ++graded;
    return Reward{0.0, "incorrect", {}};
  };
  Task task;
  task.prompt = "What is 1+1?";  // every task of the fixture
  const int64_t prompt = static_cast<int64_t>(
      f.tokenizer.Encode(RenderPrompt(task, f.options.prompt_template)).size());
  f.options.sampling.max_new_tokens = 8;
  f.options.max_context = prompt + 7;
  f.options.max_context_key = "rollout.max_len";
  Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, f.tasks, grader, nullptr,
                  f.options);
  const absl::Status s = trainer.Run([](const StepReport&) {}, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("rollout.max_len: request task-0"), std::string::npos) << s;
  EXPECT_EQ(graded.load(), 0);
  EXPECT_EQ(trainer.step(), 0);
  // One token more fits.
  Fixture g;
  g.options.sampling.max_new_tokens = 8;
  g.options.max_context = prompt + 8;
  StreamingFakeGenerator fits(&graded);
  Trainer ok(*g.policy, *g.optimizer, fits, g.tokenizer, g.tasks, grader, nullptr, g.options);
  EXPECT_TRUE(ok.Run([](const StepReport&) {}, nullptr).ok());
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

// Answers request r's sample s with the tokens of script(r, s) (plus EOS when the script
// says so) and records the requests of every call.
class ScriptedGenerator final : public Generator {
 public:
  struct Reply {
    std::string text;
    bool eos = true;
  };
  using Script = std::function<Reply(const GenerationRequest&, int64_t sample)>;
  ScriptedGenerator(const Tokenizer& tokenizer, Script script)
      : tokenizer_(tokenizer), script_(std::move(script)) {}

  absl::Status GenerateStream(const std::vector<GenerationRequest>& requests,
                              const CompletionCallback& on_completion) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      calls_.push_back(requests);
    }
    for (size_t r = 0; r < requests.size(); ++r) {
      for (int64_t s = 0; s < requests[r].n; ++s) {
        const Reply reply = script_(requests[r], s);
        Completion c;
        c.request_id = requests[r].id;
        c.request_index = static_cast<int64_t>(r);
        c.sample_index = s;
        c.text = reply.text;
        c.token_ids = tokenizer_.Encode(reply.text);
        if (reply.eos) c.token_ids.push_back(*tokenizer_.eos_id());
        c.logprobs.assign(c.token_ids.size(), -0.5f);
        c.policy_version = version_;
        on_completion(std::move(c));
      }
    }
    return absl::OkStatus();
  }
  absl::Status UpdateWeights(int64_t version,
                             const std::vector<std::pair<std::string, torch::Tensor>>&) override {
    version_ = version;
    return absl::OkStatus();
  }
  // The request ids of every call so far.
  std::vector<std::vector<std::string>> CallIds() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::vector<std::string>> out;
    for (const auto& call : calls_) {
      out.emplace_back();
      for (const auto& r : call) out.back().push_back(r.id);
    }
    return out;
  }
  std::vector<std::vector<GenerationRequest>> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  const Tokenizer& tokenizer_;
  Script script_;
  std::atomic<int64_t> version_{0};
  std::mutex mu_;
  std::vector<std::vector<GenerationRequest>> calls_;
};

ScriptedGenerator::Reply AnswerX(const GenerationRequest&, int64_t) { return {"x", true}; }

// Task "task-<i % period>" (period 0: "task-<i>").
IndexedTaskSource Tasks(int64_t period) {
  return IndexedTaskSource([period](int64_t i) {
    Task t;
    t.id = absl::StrCat("task-", period > 0 ? i % period : i);
    t.prompt = absl::StrCat("Question ", t.id);
    t.verifier = "math";
    return t;
  });
}

int64_t TaskNumber(const Task& t) { return std::stoll(t.id.substr(5)); }

// task-0: always solved; task-1: never; others: sample 0 of each group passes.
TaskGrader CurriculumGrader() {
  return [](const Task& t, const Completion& c) -> absl::StatusOr<Reward> {
    const int64_t k = TaskNumber(t);
    const bool pass = k == 0 || (k != 1 && c.sample_index == 0);
    return Reward{pass ? 1.0 : 0.0, pass ? "correct" : "incorrect", {}};
  };
}

TEST(TrainerCurriculumTest, SkipsSolvedAndUnsolvedTasksAndCountsThem) {
  Fixture f;
  IndexedTaskSource tasks = Tasks(4);
  ScriptedGenerator generator(f.tokenizer, AnswerX);
  f.options.steps = 3;
  f.options.prompts_per_step = 2;
  f.options.use_curriculum = true;
  f.options.curriculum.policy = "skip";
  f.options.curriculum.min_observations = 1;
  Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, tasks, CurriculumGrader(),
                  nullptr, f.options);
  std::vector<StepReport> reports;
  ASSERT_TRUE(trainer.Run([&](const StepReport& r) { reports.push_back(r); }, nullptr).ok());
  // Step 1 sees task-0 (all pass) and task-1 (all fail), step 2 task-2 and task-3; in
  // step 3 the source yields task-0 and task-1 again: both are skipped.
  using V = std::vector<std::string>;
  EXPECT_EQ(generator.CallIds(),
            (std::vector<V>{{"task-0", "task-1"}, {"task-2", "task-3"}, {"task-2", "task-3"}}));
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[2].curriculum.admitted, 6);
  EXPECT_EQ(reports[2].curriculum.skipped_solved, 1);
  EXPECT_EQ(reports[2].curriculum.skipped_unsolved, 1);
  EXPECT_EQ(reports[2].curriculum.observations, 6);
  EXPECT_EQ(reports[2].curriculum_tracked, 4);
  EXPECT_EQ(reports[2].curriculum_forced, 0);
}

TEST(TrainerCurriculumTest, EverythingSkippedFallsBackAfterMaxDrawsInsteadOfLooping) {
  Fixture f;
  IndexedTaskSource tasks = Tasks(2);
  ScriptedGenerator generator(f.tokenizer, AnswerX);
  f.options.steps = 2;
  f.options.prompts_per_step = 2;
  f.options.use_curriculum = true;
  f.options.curriculum.policy = "skip";
  f.options.curriculum.min_observations = 1;
  f.options.curriculum_max_draws = 3;
  TaskGrader all_pass = [](const Task&, const Completion&) -> absl::StatusOr<Reward> {
    return Reward{1.0, "correct", {}};
  };
  Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, tasks, all_pass, nullptr,
                  f.options);
  std::vector<StepReport> reports;
  ASSERT_TRUE(trainer.Run([&](const StepReport& r) { reports.push_back(r); }, nullptr).ok());
  ASSERT_EQ(reports.size(), 2u);
  // Step 2: each prompt refuses 3 draws (task-0, task-1, task-0 / task-1, task-0,
  // task-1) and uses the third.
  using V = std::vector<std::string>;
  EXPECT_EQ(generator.CallIds(), (std::vector<V>{{"task-0", "task-1"}, {"task-0", "task-1"}}));
  EXPECT_EQ(reports[1].curriculum_forced, 2);
  EXPECT_EQ(reports[1].curriculum.skipped_solved, 6);
  EXPECT_EQ(reports[1].curriculum.admitted, 2);
}

// Even tasks: every sample fails (zero variance); odd tasks: sample 0 passes.
TaskGrader EvenTasksFail() {
  return [](const Task& t, const Completion& c) -> absl::StatusOr<Reward> {
    const bool pass = TaskNumber(t) % 2 == 1 && c.sample_index == 0;
    return Reward{pass ? 1.0 : 0.0, pass ? "correct" : "incorrect", {}};
  };
}

TEST(TrainerDynamicSamplingTest, RefillsTheBatchWithGroupsThatHaveSignal) {
  Fixture f;
  IndexedTaskSource tasks = Tasks(0);
  ScriptedGenerator generator(f.tokenizer, AnswerX);
  f.options.dynamic_sampling = true;
  f.options.dynamic_sampling_max_rounds = 4;
  std::vector<std::vector<RolloutSample>> trained;
  f.options.inspect_batch = [&](const std::vector<RolloutSample>& s) { trained.push_back(s); };
  Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, tasks, EvenTasksFail(), nullptr,
                  f.options);
  std::vector<StepReport> reports;
  ASSERT_TRUE(trainer.Run([&](const StepReport& r) { reports.push_back(r); }, nullptr).ok());
  // 3 prompts: task-1 kept of 0..2; the 2 missing: task-3 kept of 3..4; then task-5.
  using V = std::vector<std::string>;
  EXPECT_EQ(generator.CallIds(),
            (std::vector<V>{{"task-0", "task-1", "task-2"}, {"task-3", "task-4"}, {"task-5"}}));
  ASSERT_EQ(reports.size(), 1u);
  const StepReport& r = reports[0];
  EXPECT_EQ(r.dropped_groups, 3);
  EXPECT_EQ(r.extra_prompts, 3);
  EXPECT_FALSE(r.short_batch);
  EXPECT_EQ(r.dynamic.dropped_all_failed, 3);
  EXPECT_EQ(r.dynamic.dropped_all_passed, 0);
  EXPECT_EQ(r.dynamic.short_batches, 0);
  EXPECT_EQ(r.grpo.samples, kPrompts * kGroup);
  EXPECT_EQ(r.grpo.zero_variance_groups, 0);
  EXPECT_DOUBLE_EQ(r.pass_rate, 3.0 / (6 * kGroup));  // over every generated sample
  ASSERT_EQ(trained.size(), 1u);
  ASSERT_EQ(trained[0].size(), static_cast<size_t>(kPrompts * kGroup));
  for (int64_t i = 0; i < kPrompts * kGroup; ++i) {
    EXPECT_EQ(trained[0][i].reward, i % kGroup == 0 ? 1.0 : 0.0) << i;
  }
}

TEST(TrainerDynamicSamplingTest, RoundCapEndsAShortBatchThatTrainsOnWhatItHas) {
  Fixture f;
  IndexedTaskSource tasks = Tasks(0);
  ScriptedGenerator generator(f.tokenizer, AnswerX);
  f.options.dynamic_sampling = true;
  f.options.dynamic_sampling_max_rounds = 1;
  Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, tasks, EvenTasksFail(), nullptr,
                  f.options);
  std::vector<StepReport> reports;
  ASSERT_TRUE(trainer.Run([&](const StepReport& r) { reports.push_back(r); }, nullptr).ok());
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(generator.CallIds().size(), 2u);
  EXPECT_TRUE(reports[0].short_batch);
  EXPECT_EQ(reports[0].dynamic.short_batches, 1);
  EXPECT_EQ(reports[0].extra_prompts, 2);
  EXPECT_EQ(reports[0].dropped_groups, 3);
  EXPECT_EQ(reports[0].grpo.samples, 2 * kGroup);  // task-1 and task-3
}

TEST(TrainerDynamicSamplingTest, WorksInAsyncMode) {
  Fixture f;
  IndexedTaskSource tasks = Tasks(0);
  ScriptedGenerator generator(f.tokenizer, AnswerX);
  f.options.steps = 2;
  f.options.max_staleness = 1;
  f.options.dynamic_sampling = true;
  Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, tasks, EvenTasksFail(), nullptr,
                  f.options);
  std::vector<StepReport> reports;
  ASSERT_TRUE(trainer.Run([&](const StepReport& r) { reports.push_back(r); }, nullptr).ok());
  ASSERT_EQ(reports.size(), 2u);
  for (const StepReport& r : reports) {
    EXPECT_EQ(r.dropped_groups, 3);
    EXPECT_EQ(r.extra_prompts, 3);
    EXPECT_EQ(r.grpo.samples, kPrompts * kGroup);
  }
  EXPECT_EQ(reports[1].dynamic.dropped_all_failed, 6);
  EXPECT_EQ(reports[1].extra_prompts_total, 6);
}

// Curriculum and sampler state go into checkpoints: a run resumed after step 2 draws
// the same tasks in step 3 and ends with the same counters as a straight run.
TEST(TrainerCurriculumTest, ResumeRestoresCurriculumAndSamplerState) {
  const std::string root =
      ::testing::TempDir() + "/rlvr_trainer_curriculum_" + std::to_string(::getpid());
  std::filesystem::remove_all(root);
  auto configure = [&](Fixture& f, int64_t steps, const std::string& dir) {
    f.options.steps = steps;
    f.options.prompts_per_step = 2;
    f.options.use_curriculum = true;
    f.options.curriculum.policy = "skip";
    f.options.curriculum.min_observations = 1;
    f.options.dynamic_sampling = true;
    f.options.checkpoint_every = 1;
    f.options.checkpoint.root = dir;
  };
  std::vector<std::vector<std::string>> straight_calls;
  StepReport straight_last;
  {
    Fixture f;
    IndexedTaskSource tasks = Tasks(6);
    ScriptedGenerator generator(f.tokenizer, AnswerX);
    configure(f, 3, root + "/straight");
    Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, tasks, CurriculumGrader(),
                    nullptr, f.options);
    ASSERT_TRUE(trainer.Run([&](const StepReport& r) { straight_last = r; }, nullptr).ok());
    straight_calls = generator.CallIds();
  }
  size_t first_calls = 0;
  {
    Fixture f;
    IndexedTaskSource tasks = Tasks(6);
    ScriptedGenerator generator(f.tokenizer, AnswerX);
    configure(f, 2, root + "/split");
    Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, tasks, CurriculumGrader(),
                    nullptr, f.options);
    ASSERT_TRUE(trainer.Run(nullptr, nullptr).ok());
    first_calls = generator.CallIds().size();
  }
  Fixture f;
  IndexedTaskSource tasks = Tasks(6);
  ScriptedGenerator generator(f.tokenizer, AnswerX);
  configure(f, 3, root + "/split");
  Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, tasks, CurriculumGrader(),
                  nullptr, f.options);
  absl::StatusOr<int64_t> resumed = trainer.Resume(nullptr);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_EQ(*resumed, 2);
  StepReport last;
  ASSERT_TRUE(trainer.Run([&](const StepReport& r) { last = r; }, nullptr).ok());
  std::vector<std::vector<std::string>> expected(straight_calls.begin() + first_calls,
                                                 straight_calls.end());
  EXPECT_EQ(generator.CallIds(), expected);
  EXPECT_GT(straight_last.curriculum.skipped_solved + straight_last.curriculum.skipped_unsolved, 0)
      << "the curriculum never acted: the comparison would be vacuous";
  EXPECT_EQ(last.curriculum.admitted, straight_last.curriculum.admitted);
  EXPECT_EQ(last.curriculum.skipped_solved, straight_last.curriculum.skipped_solved);
  EXPECT_EQ(last.curriculum.skipped_unsolved, straight_last.curriculum.skipped_unsolved);
  EXPECT_EQ(last.curriculum_tracked, straight_last.curriculum_tracked);
  EXPECT_EQ(last.dynamic.offered, straight_last.dynamic.offered);
  EXPECT_EQ(last.dynamic.dropped_all_passed, straight_last.dynamic.dropped_all_passed);
  EXPECT_EQ(last.dynamic.dropped_all_failed, straight_last.dynamic.dropped_all_failed);
  EXPECT_EQ(last.extra_prompts_total, straight_last.extra_prompts_total);
  std::filesystem::remove_all(root);
}

// Tool use against the real sandbox: the model (scripted) calls the tool, the trainer
// runs the code, appends its output and lets the model continue.
class TrainerToolUseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sandbox::SandboxOptions options;
    options.allow_degraded = true;
    absl::StatusOr<std::unique_ptr<sandbox::Sandbox>> box = sandbox::Sandbox::Create(options);
    if (!box.ok()) GTEST_SKIP() << "the code sandbox is unavailable: " << box.status();
    box_ = *std::move(box);
  }
  std::unique_ptr<sandbox::Sandbox> box_;
};

std::vector<int64_t> Ids(const std::vector<int32_t>& v) { return {v.begin(), v.end()}; }

TEST_F(TrainerToolUseTest, ObservationComesFromRunningTheCodeAndIsMaskedOutOfTheLoss) {
  Fixture f;
  IndexedTaskSource tasks = Tasks(0);
  // 6 * 7 is never written as 42 by the model: "42" can only come from running it.
  const std::string call = "Let me compute.\n```python\nprint(6 * 7)\n```\n";
  const std::string answer = "So the answer is \\boxed{42}.";
  ScriptedGenerator generator(f.tokenizer, [&](const GenerationRequest& r, int64_t) {
    const bool observed = f.tokenizer.Decode(r.prompt_ids).find("```output") != std::string::npos;
    return ScriptedGenerator::Reply{observed ? answer : call, true};
  });
  f.options.prompts_per_step = 2;
  f.options.tool_runner = MakeSandboxPythonRunner(box_.get(), SandboxRunnerOptions());
  f.options.tool.max_tool_calls = 2;
  std::vector<RolloutSample> trained;
  f.options.inspect_batch = [&](const std::vector<RolloutSample>& s) { trained = s; };
  std::mutex mu;
  std::vector<std::string> graded_texts;
  TaskGrader grader = [&](const Task&, const Completion& c) -> absl::StatusOr<Reward> {
    std::lock_guard<std::mutex> lock(mu);
    graded_texts.push_back(c.text);
    const bool pass = c.sample_index == 0;
    return Reward{pass ? 1.0 : 0.0, pass ? "correct" : "incorrect", {}};
  };
  Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, tasks, grader, nullptr,
                  f.options);
  std::vector<StepReport> reports;
  absl::Status run = trainer.Run([&](const StepReport& r) { reports.push_back(r); }, nullptr);
  ASSERT_TRUE(run.ok()) << run;

  // The observation as ToolEnv documents it, written out here independently.
  const std::string observation = "\n```output\n42\n```\n";
  const std::vector<int32_t> call_ids = f.tokenizer.Encode(call);
  const std::vector<int32_t> obs_ids = f.tokenizer.Encode(observation);
  std::vector<int32_t> answer_ids = f.tokenizer.Encode(answer);
  answer_ids.push_back(*f.tokenizer.eos_id());
  std::vector<int64_t> completion = Ids(call_ids);  // the EOS after the call is dropped
  completion.insert(completion.end(), obs_ids.begin(), obs_ids.end());
  completion.insert(completion.end(), answer_ids.begin(), answer_ids.end());
  std::vector<float> mask(call_ids.size(), 1.0f);
  mask.insert(mask.end(), obs_ids.size(), 0.0f);
  mask.insert(mask.end(), answer_ids.size(), 1.0f);

  ASSERT_EQ(trained.size(), static_cast<size_t>(2 * kGroup));
  for (const RolloutSample& s : trained) {
    EXPECT_EQ(s.completion, completion);
    EXPECT_EQ(s.completion_mask, mask);
    ASSERT_EQ(s.behaviour_logprobs.size(), s.completion.size());
    std::vector<int32_t> masked;
    for (size_t t = 0; t < s.completion.size(); ++t) {
      EXPECT_EQ(s.behaviour_logprobs[t], mask[t] == 0 ? 0.0f : -0.5f) << t;
      if (mask[t] == 0) masked.push_back(static_cast<int32_t>(s.completion[t]));
    }
    EXPECT_EQ(f.tokenizer.Decode(masked), observation);
  }
  // The second turn continued from the prompt, the call and the tool's real output.
  std::vector<std::vector<GenerationRequest>> calls = generator.calls();
  ASSERT_EQ(calls.size(), 2u);
  ASSERT_EQ(calls[1].size(), static_cast<size_t>(2 * kGroup));
  std::vector<int32_t> context = calls[0][0].prompt_ids;
  context.insert(context.end(), call_ids.begin(), call_ids.end());
  context.insert(context.end(), obs_ids.begin(), obs_ids.end());
  EXPECT_EQ(calls[1][0].prompt_ids, context);
  // The verifier sees the model's text only.
  ASSERT_EQ(graded_texts.size(), static_cast<size_t>(2 * kGroup));
  for (const std::string& text : graded_texts) EXPECT_EQ(text, call + answer);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_DOUBLE_EQ(reports[0].tool_calls_mean, 1.0);
  EXPECT_EQ(reports[0].observation_tokens, static_cast<int64_t>(2 * kGroup * obs_ids.size()));
  EXPECT_EQ(reports[0].generated_tokens,
            static_cast<int64_t>(2 * kGroup * (call_ids.size() + answer_ids.size())));
  EXPECT_EQ(reports[0].grpo.tokens,
            static_cast<int64_t>(2 * kGroup * (call_ids.size() + answer_ids.size())));
}

TEST_F(TrainerToolUseTest, ToolCallsStopAtTheLimitAndErrorsBecomeObservations) {
  Fixture f;
  IndexedTaskSource tasks = Tasks(0);
  const std::string call = "```python\nprint(1 // 0)\n```";
  ScriptedGenerator generator(f.tokenizer, [&](const GenerationRequest&, int64_t) {
    return ScriptedGenerator::Reply{call, true};
  });
  f.options.prompts_per_step = 1;
  f.options.tool_runner = MakeSandboxPythonRunner(box_.get(), SandboxRunnerOptions());
  f.options.tool.max_tool_calls = 2;
  std::vector<RolloutSample> trained;
  f.options.inspect_batch = [&](const std::vector<RolloutSample>& s) { trained = s; };
  TaskGrader grader = [&](const Task&, const Completion& c) -> absl::StatusOr<Reward> {
    EXPECT_EQ(c.text, call + call + call);
    return Reward{c.sample_index == 0 ? 1.0 : 0.0, "", {}};
  };
  Trainer trainer(*f.policy, *f.optimizer, generator, f.tokenizer, tasks, grader, nullptr,
                  f.options);
  std::vector<StepReport> reports;
  ASSERT_TRUE(trainer.Run([&](const StepReport& r) { reports.push_back(r); }, nullptr).ok());
  EXPECT_EQ(generator.calls().size(), 3u);  // two tool calls, then the final turn
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_DOUBLE_EQ(reports[0].tool_calls_mean, 2.0);
  ASSERT_FALSE(trained.empty());
  std::vector<int32_t> masked;
  for (size_t t = 0; t < trained[0].completion.size(); ++t) {
    if (trained[0].completion_mask[t] == 0)
      masked.push_back(static_cast<int32_t>(trained[0].completion[t]));
  }
  const std::string observations = f.tokenizer.Decode(masked);
  EXPECT_NE(observations.find("ZeroDivisionError"), std::string::npos) << observations;
}

// The learner honours the completion mask: what sits on masked (observation) tokens
// cannot move the gradient, while the same change on a model token does.
TEST(GrpoCompletionMaskTest, ObservationTokensDoNotReachTheGradient) {
  auto step = [](const std::function<void(std::vector<RolloutSample>&)>& edit) {
    Fixture f;
    std::vector<RolloutSample> samples(2);
    for (int i = 0; i < 2; ++i) {
      RolloutSample& s = samples[i];
      s.prompt = {5, 6, 7};
      // model, model, observation x2, model, model, observation x2 (trailing)
      s.completion = {40 + i, 41, 60, 61, 42, 43, 62, 63};
      s.completion_mask = {1, 1, 0, 0, 1, 1, 0, 0};
      s.behaviour_logprobs = {-5.0f, -6.0f, -1.0f, -1.0f, -5.5f, -6.5f, -1.0f, -1.0f};
      s.reward = i == 0 ? 1.0 : 0.0;
    }
    edit(samples);
    GrpoOptions o;
    o.advantage_options.group_size = 2;
    o.loss.is_mode = IsMode::kTokenTruncate;  // behaviour log-probs enter the loss
    o.loss.is_max = 1e6;
    o.temperature = 1.0;
    o.max_completion_tokens = 8;
    absl::StatusOr<GrpoStepStats> stats =
        GrpoStep(*f.policy, nullptr, *f.optimizer, nullptr, samples, o);
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() ? *stats : GrpoStepStats();
  };
  const GrpoStepStats base = step([](std::vector<RolloutSample>&) {});
  EXPECT_GT(base.grad_norm, 0);
  EXPECT_EQ(base.tokens, 8);  // 4 model tokens per sample
  const GrpoStepStats obs_logprobs = step([](std::vector<RolloutSample>& s) {
    for (RolloutSample& x : s) x.behaviour_logprobs[2] = x.behaviour_logprobs[7] = -20.0f;
  });
  const GrpoStepStats obs_tokens = step([](std::vector<RolloutSample>& s) {
    for (RolloutSample& x : s)
      x.completion[6] = x.completion[7] = 99;  // after the last model token
  });
  const GrpoStepStats model_logprob =
      step([](std::vector<RolloutSample>& s) { s[0].behaviour_logprobs[4] = -20.0f; });
  const GrpoStepStats model_token =
      step([](std::vector<RolloutSample>& s) { s[0].completion[5] = 99; });
  EXPECT_EQ(obs_logprobs.grad_norm, base.grad_norm);
  EXPECT_EQ(obs_logprobs.loss_value, base.loss_value);
  EXPECT_EQ(obs_tokens.grad_norm, base.grad_norm);
  EXPECT_EQ(obs_tokens.loss_value, base.loss_value);
  EXPECT_NE(model_logprob.grad_norm, base.grad_norm);
  EXPECT_NE(model_token.grad_norm, base.grad_norm);
}

}  // namespace
}  // namespace rlvr
