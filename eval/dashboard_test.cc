// The static dashboard: rendered by headless Chromium (Debian `chromium`) from disk,
// every chart checked for the number of points it drew, a screenshot saved; bad runs
// (cut-off lines, unknown metrics, missing files) give warnings and still a page.
#include "eval/dashboard.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"
#include "tests/test_util.h"

namespace rlvr {
namespace {

namespace fs = std::filesystem;
using rlvr::test_util::ReadFile;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// Where screenshots are kept for a human to look at.
fs::path OutputDir() {
  fs::path d = fs::path(RLVR_BINARY_DIR) / "test-output" / "dashboard_test";
  fs::create_directories(d);
  return d;
}

// Loads `page` in headless Chromium; returns the DOM after its scripts ran, and saves
// a screenshot when `screenshot` is non-empty.
std::string RenderInChromium(const fs::path& page, const fs::path& profile,
                             const fs::path& screenshot = {}) {
  const std::string common =
      "timeout 90 chromium --headless --no-sandbox --disable-gpu "
      "--disable-dev-shm-usage --no-first-run --user-data-dir='" +
      profile.string() + "' ";
  const std::string url = "'file://" + fs::absolute(page).string() + "'";
  if (!screenshot.empty()) {
    Shell(common + "--hide-scrollbars --window-size=1400,2600 --screenshot='" +
          screenshot.string() + "' " + url + " 2>/dev/null");
  }
  return Shell(common + "--dump-dom " + url + " 2>/dev/null");
}

// data-chart name -> data-points, as the page's script set them.
std::map<std::string, int> RenderedCharts(const std::string& dom) {
  std::map<std::string, int> out;
  std::regex re("data-chart=\"([^\"]+)\" data-points=\"([0-9]+)\"");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), re); it != std::sregex_iterator();
       ++it) {
    out[(*it)[1]] = std::stoi((*it)[2]);
  }
  return out;
}

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rlvr_dash_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "run");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    fs::create_directories((dir_ / "run" / name).parent_path());
    std::ofstream(dir_ / "run" / name) << text;
  }

  fs::path dir_;
};

constexpr int kSteps = 12;

// A complete run as `rlvr train` writes it.
std::string FullMetrics() {
  std::string out;
  for (int s = 1; s <= 5; ++s) {
    out += nlohmann::json(
               {{"phase", "sft"}, {"step", s}, {"loss", 3.0 / s}, {"lr", 1e-3}, {"grad_norm", 1.0}})
               .dump() +
           "\n";
  }
  for (int s = 1; s <= kSteps; ++s) {
    out += nlohmann::json({{"phase", "grpo"},           {"step", s},
                           {"policy_version", s},       {"reward", 0.1 * s},
                           {"pass_rate", 0.05 * s},     {"loss", -0.01 * s},
                           {"kl", 0.001 * s},           {"entropy", 2.0 - 0.1 * s},
                           {"clip_frac_high", 0.0},     {"clip_frac_low", 0.0},
                           {"grad_norm", 0.5},          {"lr", 5e-4},
                           {"zero_variance_groups", 1}, {"response_length", 30 + s},
                           {"truncated_rate", 0.1},     {"tokens_per_second", 900 + 10 * s},
                           {"staleness", 0.5},          {"stale_dropped", 0},
                           {"generation_seconds", 1.5}, {"train_seconds", 0.7},
                           {"step_seconds", 2.2}})
               .dump() +
           "\n";
  }
  // Eval scalars (written by the sink for TensorBoard/Prometheus) are not charted here.
  out += R"({"phase":"eval","step":12,"pass_at_1":0.5})"
         "\n";
  return out;
}

std::string EvalLine(int step, double pass) {
  nlohmann::json e = {{"tasks", 4},
                      {"samples", 4},
                      {"pass_at_1", pass},
                      {"pass_at_k", {{"1", pass}}},
                      {"mean_reward", pass},
                      {"verdicts", {{"correct", 2}, {"incorrect", 2}}},
                      {"samples_kept",
                       {{{"task_id", "t0"},
                         {"prompt", "1+1?"},
                         {"completion", "</script>2"},
                         {"verdict", "correct"},
                         {"reward", 1.0}}}}};
  return nlohmann::json({{"step", step}, {"eval", e}}).dump() + "\n";
}

TEST_F(DashboardTest, EveryChartRendersWithDataInChromium) {
  Write("metrics.jsonl", FullMetrics());
  Write("eval.jsonl", EvalLine(0, 0.25) + EvalLine(kSteps, 0.5));
  Write("samples.jsonl", nlohmann::json({{"step", 12},
                                         {"tag", "eval/samples"},
                                         {"task_id", "arith-0-1"},
                                         {"prompt", "What is 3*4?"},
                                         {"completion", "<b>12</b> \\boxed{12}"},
                                         {"verdict", "correct"},
                                         {"reward", 1.0}})
                                 .dump() +
                             "\n");
  Write("eval/step-00000012.json",
        nlohmann::json(
            {{"label", "checkpoint step-00000012"},
             {"step", 12},
             {"result",
              {{"tasks", 4},
               {"samples", 16},
               {"pass_at_1", 0.4375},
               {"pass_at_k", {{"1", 0.4375}, {"4", 0.75}}},
               {"maj_at_k", {{"1", 0.25}, {"4", 0.5}}},
               {"by_source", {{"builtin/arithmetic", {{"tasks", 4}, {"pass_at_1", 0.4375}}}}},
               {"verdicts", {{"correct", 7}}}}}})
            .dump());
  Write(
      "summary.json",
      R"({"run":"run","steps":12,"wall_seconds":30.5,"pass_at_1_before":0.25,"pass_at_1_after":0.5})");
  Write("config.yaml", "run:\n  name: run\n");

  auto report =
      WriteDashboard({.run_dir = (dir_ / "run").string(), .out_dir = (dir_ / "out").string()});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->warnings.empty()) << report->warnings[0];
  EXPECT_EQ(report->charts, report->charts_with_data);
  const std::string html = ReadFile(report->path);
  // Self-contained: no external script, stylesheet or URL.
  EXPECT_THAT(html, Not(HasSubstr("<script src")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("url(")));
  EXPECT_THAT(html, Not(HasSubstr("https://")));
  EXPECT_THAT(html, Not(HasSubstr("</script>2")));  // a completion cannot end the data block

  const fs::path png = OutputDir() / "dashboard.png";
  fs::remove(png);
  const std::string dom = RenderInChromium(report->path, dir_ / "profile", png);
  ASSERT_THAT(dom, HasSubstr("data-rendered=\"true\"")) << dom.substr(0, 2000);
  std::map<std::string, int> charts = RenderedCharts(dom);
  EXPECT_EQ(static_cast<int>(charts.size()), report->charts);
  for (const char* name : {"reward", "pass_rate", "kl", "entropy", "response_length",
                           "tokens_per_second", "staleness", "loss", "grad_norm"}) {
    EXPECT_EQ(charts[name], kSteps) << name;
  }
  EXPECT_EQ(charts["step_time"], 3 * kSteps);  // generation, train and whole step
  EXPECT_EQ(charts["sft_loss"], 5);
  EXPECT_EQ(charts["eval_pass_at_1"], 2);
  for (const auto& [name, points] : charts) EXPECT_GT(points, 0) << name;
  EXPECT_THAT(dom, Not(HasSubstr("data-error=\"")));
  // Evaluation table: two training evaluations and the checkpoint's, with maj@4.
  EXPECT_THAT(dom, HasSubstr("checkpoint step-00000012"));
  EXPECT_THAT(dom, HasSubstr("<th>maj@4</th>"));
  EXPECT_THAT(dom, HasSubstr("0.7500"));
  // Samples, with their verdicts; markup in a completion is text, not HTML.
  EXPECT_THAT(dom, HasSubstr("What is 3*4?"));
  EXPECT_THAT(dom, HasSubstr("&lt;b&gt;12&lt;/b&gt;"));
  EXPECT_THAT(dom, HasSubstr("class=\"verdict good\">correct"));
  // The screenshot is a real PNG of a non-trivial page.
  const std::string bytes = ReadFile(png);
  ASSERT_GT(bytes.size(), 20000u) << png;
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST_F(DashboardTest, BadInputGivesWarningsAndAPageOfWhatExists) {
  // Cut off mid-line at the end, a garbage line, an unknown metric, a string value.
  Write("metrics.jsonl",
        "{\"phase\":\"grpo\",\"step\":1,\"reward\":0.5,\"my_metric\":3}\n"
        "not json\n"
        "{\"phase\":\"grpo\",\"step\":2,\"reward\":0.75,\"kl\":\"high\",\"my_metric\":4}\n"
        "{\"phase\":\"grpo\",\"step\":3,\"rew");
  Write("eval.jsonl", "{\"step\": 0}\n");
  Write("summary.json", "{\"steps\": 3");
  auto report =
      WriteDashboard({.run_dir = (dir_ / "run").string(), .out_dir = (dir_ / "out").string()});
  ASSERT_TRUE(report.ok()) << report.status();
  const std::string m = (dir_ / "run" / "metrics.jsonl").string();
  EXPECT_THAT(report->warnings, Contains(m + ":4: cut off mid-line (ignored)"));
  EXPECT_THAT(report->warnings, Contains(m + ":2: not valid JSON (ignored)"));
  EXPECT_THAT(report->warnings,
              Contains(m + ":1: unknown metric \"my_metric\" (drawn under Other metrics)"));
  EXPECT_THAT(report->warnings, Contains(AllOf(HasSubstr(m + ":3:"), HasSubstr("\"kl\""))));
  EXPECT_THAT(report->warnings, Contains(HasSubstr("eval.jsonl:1: no \"eval\" object")));
  EXPECT_THAT(report->warnings, Contains(HasSubstr("summary.json: not a JSON object")));

  const std::string dom = RenderInChromium(report->path, dir_ / "profile");
  ASSERT_THAT(dom, HasSubstr("data-rendered=\"true\""));
  std::map<std::string, int> charts = RenderedCharts(dom);
  EXPECT_EQ(charts["reward"], 2);
  EXPECT_EQ(charts["kl"], 0);
  EXPECT_EQ(charts["my_metric"], 2);
  EXPECT_THAT(dom, HasSubstr("cut off mid-line"));  // the page lists the problems too
}

TEST_F(DashboardTest, EmptyRunDirectoryStillGivesAPage) {
  auto report =
      WriteDashboard({.run_dir = (dir_ / "run").string(), .out_dir = (dir_ / "out").string()});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->warnings, Contains(HasSubstr("metrics.jsonl: missing")));
  EXPECT_EQ(report->charts_with_data, 0);
  const std::string dom = RenderInChromium(report->path, dir_ / "profile");
  EXPECT_THAT(dom, HasSubstr("data-rendered=\"true\""));
  EXPECT_THAT(dom, HasSubstr("No evaluations yet."));
}

TEST_F(DashboardTest, MissingRunDirectoryIsNotFound) {
  auto report =
      WriteDashboard({.run_dir = (dir_ / "nope").string(), .out_dir = (dir_ / "out").string()});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("nope"));
  EXPECT_FALSE(fs::exists(dir_ / "out" / "index.html"));
}

}  // namespace
}  // namespace rlvr
