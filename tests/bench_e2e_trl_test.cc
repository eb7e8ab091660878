// `rlvr bench e2e-trl` with real processes at a tiny scale: both sides train and
// report, and TRL really ran. Timings are printed, never asserted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct Result {
  int code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

Result RunBench(const std::vector<std::string>& args) {
  const fs::path err_path =
      fs::temp_directory_path() / ("bench_e2e_trl_test_" + std::to_string(getpid()) + ".err");
  std::string cmd = std::string("'") + RLVR_CLI + "' bench e2e-trl";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>'" + err_path.string() + "'";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_path);
  std::stringstream s;
  s << in.rdbuf();
  r.err = s.str();
  fs::remove(err_path);
  return r;
}

void ExpectCurve(const nlohmann::json& side, int steps) {
  ASSERT_EQ(side["step_seconds"].size(), static_cast<size_t>(steps)) << side.dump();
  ASSERT_EQ(side["reward"].size(), static_cast<size_t>(steps)) << side.dump();
  for (double s : side["step_seconds"]) EXPECT_GT(s, 0);
  for (double s : side["step_cpu_seconds"]) EXPECT_GT(s, 0);
  for (double r : side["reward"]) {
    EXPECT_GE(r, 0);
    EXPECT_LE(r, 1);
  }
}

TEST(BenchE2eTrlTest, BothSidesTrainOnTheSameTasks) {
  Result r = RunBench({"--steps", "2", "--sft-steps", "1", "sft.batch_size=4",
                       "learner.prompts_per_step=2", "rollout.n=2", "rollout.max_new_tokens=8"});
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json report = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << r.out;
  EXPECT_EQ(report["benchmark"], "e2e-trl");
  EXPECT_EQ(report["steps"], 2);
  ExpectCurve(report["rlvr"], 2);
  ExpectCurve(report["trl"], 2);
  // TRL's own trainer state: it ran the optimizer steps asked for.
  EXPECT_EQ(report["trl"]["global_step"], 2);
  EXPECT_THAT(report["trl"]["trl_version"].get<std::string>(), HasSubstr("."));
  EXPECT_GT(report["speedup_per_step"].get<double>(), 0);
  std::cout << "speedup per step (not asserted): " << report["speedup_per_step"] << " wall, "
            << report["speedup_per_step_cpu"] << " CPU\n";
}

TEST(BenchE2eTrlTest, BadInputIsOneClearLine) {
  Result steps = RunBench({"--steps", "0"});
  EXPECT_EQ(steps.code, 2);
  EXPECT_THAT(steps.err, HasSubstr("--steps"));
  Result source = RunBench({"--steps", "1", "data.source=code"});
  EXPECT_EQ(source.code, 2);
  EXPECT_THAT(source.err, HasSubstr("data.source"));
  Result async = RunBench({"--steps", "1", "learner.max_staleness=1"});
  EXPECT_EQ(async.code, 2);
  EXPECT_THAT(async.err, HasSubstr("learner.max_staleness"));
}

}  // namespace
