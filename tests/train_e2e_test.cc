// `rlvr train` end to end with real processes: the built-in default at a tiny scale,
// exact resume after an interruption, Ctrl-C, and bad configs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"
#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;
using rlvr::test_util::ReadFile;
using ::testing::HasSubstr;

struct Result {
  int code = -1;
  std::string out;
};

// Runs the rlvr binary with `args` in `cwd`, capturing stdout+stderr.
Result RunRlvr(const std::vector<std::string>& args, const fs::path& cwd) {
  std::string cmd = "cd '" + cwd.string() + "' && '" + RLVR_CLI + "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

nlohmann::json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

// Small settings that still exercise every phase.
std::vector<std::string> Tiny(const std::string& name, int steps) {
  return {"train", "run.name=" + name, "sft.steps=3", "sft.batch_size=4",
          "learner.steps=" + std::to_string(steps), "learner.prompts_per_step=2", "rollout.n=4",
          "rollout.max_new_tokens=16", "data.eval_tasks=4", "checkpoint.every=2",
          "checkpoint.keep_last=10",
          // A barely trained model rarely earns a reward, so GRPO's gradient is often 0;
          // decoupled weight decay still moves every parameter, and resume must keep
          // the optimizer state and schedule exact.
          "learner.weight_decay=0.1"};
}

class TrainE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rlvr_train_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(TrainE2eTest, BuiltinDefaultWritesSummaryCheckpointsAndMetrics) {
  Result r = RunRlvr(Tiny("tiny", 4), dir_);
  ASSERT_EQ(r.code, 0) << r.out;
  const fs::path run = dir_ / "runs" / "tiny";
  nlohmann::json summary = ReadJson(run / "summary.json");
  EXPECT_EQ(summary["steps"], 4);
  EXPECT_TRUE(summary.contains("pass_at_1_before"));
  EXPECT_TRUE(summary.contains("pass_at_1_after"));
  EXPECT_EQ(summary["eval_after"]["tasks"], 4);
  EXPECT_GT(summary["tokens_generated"].get<int64_t>(), 0);
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "step-00000004" / "manifest.json"));
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "step-00000004" / "model" / "config.json"));
  // One GRPO metrics line per step, with the fields the dashboards read.
  std::ifstream metrics(run / "metrics.jsonl");
  int grpo_lines = 0;
  for (std::string line; std::getline(metrics, line);) {
    nlohmann::json m = nlohmann::json::parse(line);
    if (m["phase"] == "grpo") {
      ++grpo_lines;
      EXPECT_TRUE(m.contains("reward") && m.contains("tokens_per_second") && m.contains("kl"));
    }
  }
  EXPECT_EQ(grpo_lines, 4);
  EXPECT_THAT(r.out, HasSubstr("held-out pass@1"));
  // A second run into the same directory refuses to overwrite without --resume.
  Result again = RunRlvr(Tiny("tiny", 4), dir_);
  EXPECT_NE(again.code, 0);
  EXPECT_THAT(again.out, HasSubstr("--resume"));
}

TEST_F(TrainE2eTest, ResumeGivesTheSameParametersAsAStraightRun) {
  Result straight = RunRlvr(Tiny("straight", 4), dir_);
  ASSERT_EQ(straight.code, 0) << straight.out;
  // Interrupted run: 2 steps, then resume to 4.
  Result first = RunRlvr(Tiny("split", 2), dir_);
  ASSERT_EQ(first.code, 0) << first.out;
  std::vector<std::string> resume = Tiny("split", 4);
  resume.push_back("--resume");
  Result second = RunRlvr(resume, dir_);
  ASSERT_EQ(second.code, 0) << second.out;
  EXPECT_THAT(second.out, HasSubstr("resumed after step 2"));
  const fs::path a =
      dir_ / "runs" / "straight" / "checkpoints" / "step-00000004" / "model" / "model.safetensors";
  const fs::path b =
      dir_ / "runs" / "split" / "checkpoints" / "step-00000004" / "model" / "model.safetensors";
  ASSERT_TRUE(fs::exists(a));
  ASSERT_TRUE(fs::exists(b));
  EXPECT_TRUE(ReadFile(a) == ReadFile(b)) << "resumed parameters differ from the straight run";
  // And the weights did change from step 2 to step 4 (the comparison is not vacuous).
  const fs::path mid =
      dir_ / "runs" / "straight" / "checkpoints" / "step-00000002" / "model" / "model.safetensors";
  EXPECT_FALSE(ReadFile(a) == ReadFile(mid));
}

TEST_F(TrainE2eTest, CorruptLatestCheckpointFallsBackToPreviousWithWarning) {
  ASSERT_EQ(RunRlvr(Tiny("c", 4), dir_).code, 0);
  const fs::path ckpt = dir_ / "runs" / "c" / "checkpoints";
  {
    std::fstream f(ckpt / "step-00000004" / "model" / "model.safetensors",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x7f');
  }
  std::vector<std::string> resume = Tiny("c", 5);
  resume.push_back("--resume");
  Result r = RunRlvr(resume, dir_);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("warning: skipping checkpoint"));
  EXPECT_THAT(r.out, HasSubstr("checksum does not match"));
  EXPECT_THAT(r.out, HasSubstr("resumed after step 2"));
}

TEST_F(TrainE2eTest, CtrlCSavesACheckpointAndExitsCleanly) {
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(dir_.c_str()) != 0) _exit(99);
    freopen((dir_ / "log.txt").c_str(), "w", stderr);
    freopen((dir_ / "out.txt").c_str(), "w", stdout);
    std::vector<std::string> args = Tiny("int", 1000);
    std::vector<char*> argv{const_cast<char*>(RLVR_CLI)};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(RLVR_CLI, argv.data());
    _exit(127);
  }
  // Wait until GRPO steps are running, then interrupt.
  const fs::path metrics = dir_ / "runs" / "int" / "metrics.jsonl";
  for (int i = 0; i < 600 && ReadFile(metrics).find("\"grpo\"") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << ReadFile(dir_ / "log.txt");
  EXPECT_THAT(ReadFile(dir_ / "log.txt"), HasSubstr("interrupted; checkpoint saved"));
  bool found = false;
  for (const auto& e : fs::directory_iterator(dir_ / "runs" / "int" / "checkpoints")) {
    found |= fs::exists(e.path() / "manifest.json");
  }
  EXPECT_TRUE(found);
}

TEST_F(TrainE2eTest, RemoteVerifierServiceLiveAndDown) {
  // A real `rlvr serve-verifier` hosting the math verifier.
  fs::path cfg = dir_ / "verifier.yaml";
  std::ofstream(cfg) << "verifier:\n  name: math\nserve:\n  port: 0\n";
  fs::path log = dir_ / "verifier.log";
  pid_t server = fork();
  if (server == 0) {
    freopen(log.c_str(), "w", stderr);
    freopen((dir_ / "verifier.out").c_str(), "w", stdout);
    execl(RLVR_CLI, RLVR_CLI, "serve-verifier", "--config", cfg.c_str(), nullptr);
    _exit(127);
  }
  std::string port;
  for (int i = 0; i < 600 && port.empty(); ++i) {
    std::string text = ReadFile(log) + ReadFile(dir_ / "verifier.out");
    size_t at = text.find("127.0.0.1:");
    if (at != std::string::npos) {
      size_t end = text.find_first_not_of("0123456789", at + 10);
      port = text.substr(at + 10, end - at - 10);
    }
    if (port.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(port.empty()) << ReadFile(log);
  std::vector<std::string> live = Tiny("remote", 2);
  live.push_back("verifiers.math.use=remote");
  live.push_back("verifiers.math.target=127.0.0.1:" + port);
  Result ok = RunRlvr(live, dir_);
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
  ASSERT_EQ(ok.code, 0) << ok.out;
  EXPECT_TRUE(fs::exists(dir_ / "runs" / "remote" / "summary.json"));

  // The service is gone now: retries, then the step fails with the reason; never a run
  // that quietly trains on zero rewards.
  std::vector<std::string> down = Tiny("down", 2);
  down.push_back("verifiers.math.use=remote");
  down.push_back("verifiers.math.target=127.0.0.1:" + port);
  down.push_back("verifiers.math.max_attempts=2");
  down.push_back("verifiers.math.attempt_timeout_s=2");
  Result failed = RunRlvr(down, dir_);
  EXPECT_NE(failed.code, 0);
  EXPECT_THAT(failed.out, HasSubstr("grading task"));
  EXPECT_FALSE(fs::exists(dir_ / "runs" / "down" / "summary.json"));
}

// configs/code.yaml end to end at a small scale: the built-in code tasks graded by the
// code verifier, which runs every completion in the sandbox (this test holds the
// rlvr_sandbox ctest lock, see tests/CMakeLists.txt).
TEST_F(TrainE2eTest, CodeConfigTrainsAgainstTheSandboxedCodeVerifier) {
  Result r = RunRlvr({"train", "--config", std::string(RLVR_SOURCE_DIR) + "/configs/code.yaml",
                      "run.name=code", "learner.steps=2", "learner.prompts_per_step=2",
                      "rollout.n=4", "data.eval_tasks=6", "checkpoint.every=2"},
                     dir_);
  ASSERT_EQ(r.code, 0) << r.out;
  const fs::path run = dir_ / "runs" / "code";
  nlohmann::json summary = ReadJson(run / "summary.json");
  EXPECT_EQ(summary["steps"], 2);
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "step-00000002" / "manifest.json"));
  std::ifstream metrics(run / "metrics.jsonl");
  int grpo_lines = 0;
  for (std::string line; std::getline(metrics, line);) {
    nlohmann::json m = nlohmann::json::parse(line);
    if (m["phase"] != "grpo") continue;
    ++grpo_lines;
    EXPECT_GE(m["reward"].get<double>(), 0.0);
    EXPECT_LE(m["reward"].get<double>(), 1.0);
  }
  EXPECT_EQ(grpo_lines, 2);
  // The held-out verdicts are the sandbox's: programs ran and were judged, never a
  // sandbox failure. After the SFT warm start some completion passes every test
  // (reward 1: the function ran in the sandbox and returned the expected values).
  int64_t judged = 0, sandbox_errors = 0;
  double best_reward = 0;
  for (const char* phase : {"eval_before", "eval_after"}) {
    const nlohmann::json& eval = summary[phase];
    for (auto& [verdict, count] : eval["verdicts"].items()) {
      if (verdict == "sandbox_error") sandbox_errors += count.get<int64_t>();
      if (verdict == "passed" || verdict == "wrong_answer" || verdict == "runtime_error" ||
          verdict == "timeout") {
        judged += count.get<int64_t>();
      }
    }
    for (const nlohmann::json& s : eval["samples_kept"]) {
      best_reward = std::max(best_reward, s["reward"].get<double>());
    }
    best_reward = std::max(best_reward, eval["mean_reward"].get<double>());
  }
  EXPECT_EQ(sandbox_errors, 0) << summary.dump(2);
  EXPECT_GT(judged, 0) << summary.dump(2);
  EXPECT_GT(best_reward, 0.0) << summary.dump(2);
}

// Last "grpo" metrics line of a run.
nlohmann::json LastGrpoMetrics(const fs::path& run) {
  std::ifstream metrics(run / "metrics.jsonl");
  nlohmann::json last;
  for (std::string line; std::getline(metrics, line);) {
    nlohmann::json m = nlohmann::json::parse(line);
    if (m["phase"] == "grpo") last = m;
  }
  return last;
}

// Curriculum and dynamic sampling through `rlvr train`: their counters reach the
// metrics, and a resumed run continues their state exactly (checkpointed with the
// task cursor), ending with the same totals as a straight run.
TEST_F(TrainE2eTest, CurriculumAndDynamicSamplingCountersSurviveResume) {
  auto args = [](const std::string& name, int steps) {
    std::vector<std::string> a = Tiny(name, steps);
    for (const char* kv : {"data.curriculum.policy=skip", "data.curriculum.key=prompt",
                           "data.curriculum.min_observations=1", "learner.dynamic_sampling=true",
                           "learner.dynamic_sampling_max_rounds=2"}) {
      a.push_back(kv);
    }
    return a;
  };
  Result straight = RunRlvr(args("straight", 4), dir_);
  ASSERT_EQ(straight.code, 0) << straight.out;
  ASSERT_EQ(RunRlvr(args("split", 2), dir_).code, 0);
  std::vector<std::string> resume = args("split", 4);
  resume.push_back("--resume");
  Result second = RunRlvr(resume, dir_);
  ASSERT_EQ(second.code, 0) << second.out;
  EXPECT_THAT(second.out, HasSubstr("resumed after step 2"));
  const nlohmann::json a = LastGrpoMetrics(dir_ / "runs" / "straight");
  const nlohmann::json b = LastGrpoMetrics(dir_ / "runs" / "split");
  ASSERT_EQ(a["step"], 4);
  ASSERT_EQ(b["step"], 4);
  for (const char* key : {"curriculum_admitted", "curriculum_skipped_solved",
                          "curriculum_skipped_unsolved", "curriculum_tracked", "curriculum_forced",
                          "dynamic_dropped_all_passed_total", "dynamic_dropped_all_failed_total",
                          "dynamic_extra_prompts_total", "dynamic_short_batches_total"}) {
    ASSERT_TRUE(a.contains(key)) << key << " missing from " << a.dump();
    EXPECT_EQ(a[key], b[key]) << key;
  }
  // Not vacuous: a barely trained model fails whole groups, which were dropped and
  // replaced, and the curriculum tracked every task it saw.
  EXPECT_GT(a["dynamic_dropped_all_failed_total"].get<double>(), 0) << a.dump();
  EXPECT_GT(a["dynamic_extra_prompts_total"].get<double>(), 0) << a.dump();
  EXPECT_GT(a["curriculum_tracked"].get<double>(), 0) << a.dump();
}

// env.name: tool wires the tool env and its sandbox into `rlvr train` (a test holding
// the rlvr_sandbox lock, see tests/CMakeLists.txt: its name matches *CodeConfig*).
TEST_F(TrainE2eTest, ToolEnvCodeConfigTrainsWithTheSandbox) {
  std::vector<std::string> args = Tiny("tool", 2);
  args.push_back("env.name=tool");
  args.push_back("env.max_tool_calls=2");
  args.push_back("env.sandbox.allow_degraded=true");
  Result r = RunRlvr(args, dir_);
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json m = LastGrpoMetrics(dir_ / "runs" / "tool");
  EXPECT_EQ(m["step"], 2);
  EXPECT_TRUE(m.contains("tool_calls") && m.contains("observation_tokens")) << m.dump();
}

TEST_F(TrainE2eTest, BadEnvCurriculumAndSamplingKeysNameKeyAndFile) {
  Result r =
      RunRlvr({"train", "env.name=bash", "learner.dynamic_sampling=maybe",
               "data.curriculum.policy=skip", "data.curriculum.window=0", "data.curriculum.key=id"},
              dir_);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("the command line: env.name: 'bash' is not one of"));
  EXPECT_THAT(r.out,
              HasSubstr("the command line: learner.dynamic_sampling: expected true or false"));
  EXPECT_THAT(r.out, HasSubstr("data.curriculum.window: value 0 is outside"));
  // Built-in tasks get a new id per draw: tracking them by id would never skip anything.
  EXPECT_THAT(r.out, HasSubstr("data.curriculum.key: built-in tasks get a new id"));
}

TEST_F(TrainE2eTest, BadConfigNamesKeyAndFile) {
  fs::path cfg = dir_ / "bad.yaml";
  std::ofstream(cfg) << "learner:\n  lr: -1\n  stpes: 3\nrollout:\n  top_p: 2\n";
  Result r = RunRlvr({"train", "--config", cfg.string()}, dir_);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("bad.yaml: learner.lr: value -1 is outside"));
  EXPECT_THAT(r.out, HasSubstr("bad.yaml: learner.stpes: unknown key"));
  EXPECT_THAT(r.out, HasSubstr("bad.yaml: rollout.top_p"));
  Result o = RunRlvr({"train", "learner.loss=nope"}, dir_);
  EXPECT_EQ(o.code, 2);
  EXPECT_THAT(o.out, HasSubstr("the command line: learner.loss: unknown policy loss 'nope'"));
  Result m = RunRlvr({"train", "--config", (dir_ / "missing.yaml").string()}, dir_);
  EXPECT_EQ(m.code, 2);
  EXPECT_THAT(m.out, HasSubstr("missing.yaml: cannot open config file"));
}

}  // namespace
