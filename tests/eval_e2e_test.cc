// Evaluation and exporters end to end with the real `rlvr` binary: a tiny training
// run scraped over Prometheus while it trains, its TensorBoard/CSV/JSONL files read
// back, `rlvr eval` on two checkpoints with pass@k checked against Python's math.comb,
// `rlvr export dashboard` rendered in headless Chromium, and bad inputs.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"
#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;
using rlvr::test_util::FreePort;
using rlvr::test_util::ReadFile;
using ::testing::HasSubstr;

struct Result {
  int code = -1;
  std::string out;
};

Result Shell(const std::string& cmd) {
  Result r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

Result Rlvr(const std::vector<std::string>& args, const fs::path& cwd) {
  std::string cmd = "cd " + Quote(cwd.string()) + " && " + Quote(RLVR_CLI);
  for (const auto& a : args) cmd += " " + Quote(a);
  return Shell(cmd);
}

nlohmann::json ReadJson(const fs::path& p) {
  return nlohmann::json::parse(ReadFile(p), nullptr, false);
}

std::map<std::string, int> RenderedCharts(const std::string& dom) {
  std::map<std::string, int> out;
  std::regex re("data-chart=\"([^\"]+)\" data-points=\"([0-9]+)\"");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), re); it != std::sregex_iterator();
       ++it) {
    out[(*it)[1]] = std::stoi((*it)[2]);
  }
  return out;
}

std::string Chromium(const fs::path& profile, const std::string& args) {
  return Shell(
             "timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
             "--no-first-run --user-data-dir=" +
             Quote(profile.string()) + " " + args + " 2>/dev/null")
      .out;
}

// One tiny run shared by the tests (built once; the tests only read it or copy it).
class EvalE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("rlvr_eval_e2e_" + std::to_string(getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    // Train in the background and scrape /metrics while it runs.
    const int port = FreePort();
    std::string cmd = "cd " + Quote(dir_->string()) + " && " + Quote(RLVR_CLI) +
                      " train run.name=tiny sft.steps=3 sft.batch_size=4 learner.steps=4 "
                      "learner.prompts_per_step=2 rollout.n=4 rollout.max_new_tokens=16 "
                      // Exactly 2 x 4 samples a step, for the per-step histograms below.
                      "learner.dynamic_sampling=false "
                      "data.eval_tasks=4 checkpoint.every=2 checkpoint.keep_last=10 "
                      "export.prometheus_port=" +
                      std::to_string(port) + " > train.log 2>&1; echo $? > train.rc";
    std::thread train([cmd] { std::system(cmd.c_str()); });
    const std::string curl =
        "curl -s --max-time 2 http://127.0.0.1:" + std::to_string(port) + "/metrics";
    scrapes_ = new std::vector<std::string>();
    while (!fs::exists(*dir_ / "train.rc")) {
      Result r = Shell(curl);
      if (r.code == 0 && !r.out.empty()) scrapes_->push_back(r.out);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    train.join();
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete scrapes_;
  }
  static fs::path run() { return *dir_ / "runs" / "tiny"; }

  static fs::path* dir_;
  static std::vector<std::string>* scrapes_;
};
fs::path* EvalE2eTest::dir_ = nullptr;
std::vector<std::string>* EvalE2eTest::scrapes_ = nullptr;

TEST_F(EvalE2eTest, TrainingServesPrometheusAndWritesEveryExporter) {
  ASSERT_EQ(ReadFile(*dir_ / "train.rc"), "0\n") << ReadFile(*dir_ / "train.log");
  EXPECT_THAT(ReadFile(*dir_ / "train.log"), HasSubstr("Prometheus metrics at http://127.0.0.1:"));
  // Scraped while training: SFT first, then GRPO gauges with the run's label.
  bool saw_sft = false, saw_grpo = false;
  for (const std::string& body : *scrapes_) {
    saw_sft |= body.find("rlvr_loss{phase=\"sft\",run=\"tiny\"}") != std::string::npos;
    saw_grpo |= body.find("rlvr_reward{phase=\"grpo\",run=\"tiny\"}") != std::string::npos;
  }
  EXPECT_TRUE(saw_sft) << scrapes_->size() << " scrapes";
  EXPECT_TRUE(saw_grpo) << scrapes_->size() << " scrapes";

  // metrics.jsonl is the reference; CSV and TensorBoard must hold the same numbers.
  std::vector<nlohmann::json> grpo;
  std::ifstream metrics(run() / "metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j["phase"] == "grpo") grpo.push_back(j);
  }
  ASSERT_EQ(grpo.size(), 4u);
  std::ifstream csv(run() / "metrics_grpo.csv");
  std::string header;
  std::getline(csv, header);
  std::vector<std::string> cols;
  std::stringstream hs(header);
  for (std::string c; std::getline(hs, c, ',');) cols.push_back(c);
  const size_t tps = std::find(cols.begin(), cols.end(), "tokens_per_second") - cols.begin();
  ASSERT_LT(tps, cols.size()) << header;
  for (int i = 0; i < 4; ++i) {
    std::string line;
    ASSERT_TRUE(std::getline(csv, line));
    std::vector<std::string> cells;
    std::stringstream ls(line);
    for (std::string c; std::getline(ls, c, ',');) cells.push_back(c);
    EXPECT_EQ(cells[0], std::to_string(i + 1));
    EXPECT_NEAR(std::stod(cells[tps]), grpo[i]["tokens_per_second"].get<double>(),
                1e-6 * grpo[i]["tokens_per_second"].get<double>());
  }

  const fs::path script = *dir_ / "tb.py";
  std::ofstream(script) << R"PY(
import json, sys
from tensorboard.backend.event_processing import event_accumulator as ea
acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0})
acc.Reload()
t = acc.Tags()
print(json.dumps({
  "tps": [[e.step, e.value] for e in acc.Scalars("grpo/tokens_per_second")],
  "eval": [[e.step, e.value] for e in acc.Scalars("eval/pass_at_1")],
  "sft": [e.step for e in acc.Scalars("sft/loss")],
  "hist": [[e.step, e.histogram_value.num] for e in acc.Histograms("eval/completion_tokens")],
  "text": [e.step for e in acc.Tensors("eval/samples")],
  "rewards": [[e.step, e.histogram_value.num] for e in acc.Histograms("grpo/reward")],
  "train_text": [e.step for e in acc.Tensors("grpo/samples")]}))
)PY";
  Result tb = Shell(std::string(RLVR_PYTHON) + " " + Quote(script.string()) + " " +
                    Quote((run() / "tensorboard").string()));
  ASSERT_EQ(tb.code, 0) << tb.out;
  nlohmann::json got = nlohmann::json::parse(tb.out.substr(tb.out.find('{')));
  ASSERT_EQ(got["tps"].size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(got["tps"][i][0], i + 1);
    EXPECT_NEAR(got["tps"][i][1].get<double>(), grpo[i]["tokens_per_second"].get<double>(),
                1e-4 * grpo[i]["tokens_per_second"].get<double>());  // float32 in the file
  }
  EXPECT_EQ(got["sft"], nlohmann::json({1, 2, 3}));
  ASSERT_EQ(got["eval"].size(), 2u);
  EXPECT_EQ(got["eval"][0][0], 0);
  EXPECT_EQ(got["eval"][1][0], 4);
  EXPECT_EQ(got["hist"][1], nlohmann::json({4, 4.0}));  // 4 held-out tasks x n=1
  EXPECT_EQ(got["text"], nlohmann::json({0, 4}));
  // Each GRPO step: a histogram of its 2 prompts x 4 samples' rewards, and samples.
  ASSERT_EQ(got["rewards"].size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got["rewards"][i], nlohmann::json({i + 1, 8.0}));
  EXPECT_EQ(got["train_text"], nlohmann::json({1, 2, 3, 4}));
  int train_samples = 0;
  std::ifstream samples(run() / "samples.jsonl");
  for (std::string line; std::getline(samples, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j["tag"] == "grpo/samples") {
      ++train_samples;
      EXPECT_FALSE(j["verdict"].get<std::string>().empty());
      EXPECT_THAT(j["prompt"].get<std::string>(), HasSubstr("Compute"));
    }
  }
  EXPECT_EQ(train_samples, 8);  // 2 per step
  EXPECT_TRUE(fs::exists(run() / "dashboard" / "index.html"));
}

// Tasks graded by the "language" verifier: with two-token answers from a barely
// trained model, some samples have letters (score 1) and some none (score 0), so
// pass@k is neither 0 nor 1 and the estimator is exercised.
void WriteLanguageTasks(const fs::path& path) {
  std::ofstream out(path);
  for (int i = 0; i < 12; ++i) {
    out << nlohmann::json(
               {{"id", "q" + std::to_string(i)},
                {"prompt", "Say something about " + std::to_string(i) + "."},
                {"verifier", "language"},
                {"spec", {{"language", "en"}}},
                {"metadata", {{"source", i % 2 ? "chat" : "trivia"}, {"difficulty", 1 + i % 3}}}})
               .dump()
        << "\n";
  }
}

constexpr char kPassAtK[] = R"PY(
import json, sys
from math import comb
r = json.load(open(sys.argv[1]))["result"]
n = r["samples"] // r["tasks"]
out = {}
for k in [1, 2, 4, 8]:
    out[str(k)] = sum(1 - comb(n - c, k) / comb(n, k) for c in r["correct_per_task"]) / r["tasks"]
print(json.dumps({"n": n, "pass_at_k": out}))
)PY";

TEST_F(EvalE2eTest, EvalComparesCheckpointsWithAnIndependentPassAtK) {
  ASSERT_EQ(ReadFile(*dir_ / "train.rc"), "0\n");
  WriteLanguageTasks(*dir_ / "lang.jsonl");
  Result r = Rlvr({"eval", "--checkpoint", (run() / "checkpoints" / "step-00000002").string(),
                   "--checkpoint", (run() / "checkpoints" / "step-00000004").string(), "--dataset",
                   "lang.jsonl", "data.format=task", "n=8", "max_new_tokens=2"},
                  *dir_);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("pass@8"));
  EXPECT_THAT(r.out, HasSubstr("maj@8"));
  EXPECT_THAT(r.out, HasSubstr("step-00000002"));
  EXPECT_THAT(r.out, HasSubstr("by source:"));
  std::ofstream(*dir_ / "pass_at_k.py") << kPassAtK;
  bool some_mixed = false;
  for (const char* name : {"step-00000002.lang.json", "step-00000004.lang.json"}) {
    const fs::path file = run() / "eval" / name;
    nlohmann::json doc = ReadJson(file);
    ASSERT_FALSE(doc.is_discarded()) << file;
    const nlohmann::json& res = doc["result"];
    EXPECT_EQ(res["tasks"], 12);
    EXPECT_EQ(res["samples"], 96);
    EXPECT_EQ(doc["n"], 8);
    EXPECT_GT(doc["temperature"].get<double>(), 0);  // n > 1 samples, not greedy copies
    // Correct samples per task agree with the verdict histogram.
    int64_t correct = 0;
    for (int64_t c : res["correct_per_task"]) {
      correct += c;
      some_mixed |= c > 0 && c < 8;
    }
    EXPECT_EQ(correct, res["verdicts"].value("consistent", 0));
    Result py = Shell(std::string(RLVR_PYTHON) + " " + Quote((*dir_ / "pass_at_k.py").string()) +
                      " " + Quote(file.string()));
    ASSERT_EQ(py.code, 0) << py.out;
    nlohmann::json oracle = nlohmann::json::parse(py.out);
    for (const char* k : {"1", "2", "4", "8"}) {
      EXPECT_NEAR(res["pass_at_k"][k].get<double>(), oracle["pass_at_k"][k].get<double>(), 1e-12)
          << name << " pass@" << k;
    }
    EXPECT_LE(res["maj_at_k"]["8"].get<double>(), res["pass_at_k"]["8"].get<double>());
    EXPECT_EQ(res["by_source"]["chat"]["tasks"], 6);
    EXPECT_EQ(res["by_difficulty"]["3"]["tasks"], 4);
    EXPECT_EQ(res["completion_tokens_max"], 2);
    EXPECT_EQ(doc["step"], std::string(name).find("04") != std::string::npos ? 4 : 2);
  }
  EXPECT_TRUE(some_mixed) << "every task all right or all wrong: pass@k was not exercised";
  // TensorBoard has the evaluations at the checkpoints' steps.
  const fs::path script = *dir_ / "tb_eval.py";
  std::ofstream(script) << R"PY(
import json, sys
from tensorboard.backend.event_processing import event_accumulator as ea
acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0})
acc.Reload()
print(json.dumps([[e.step, e.value] for e in acc.Scalars("eval_lang/pass_at_8")]))
)PY";
  Result tb = Shell(std::string(RLVR_PYTHON) + " " + Quote(script.string()) + " " +
                    Quote((run() / "tensorboard").string()));
  ASSERT_EQ(tb.code, 0) << tb.out;
  nlohmann::json scalars = nlohmann::json::parse(tb.out.substr(tb.out.find('[')));
  ASSERT_EQ(scalars.size(), 2u) << tb.out;
  for (const nlohmann::json& p : scalars) {
    const int step = p[0];
    const std::string file = step == 2 ? "step-00000002.lang.json" : "step-00000004.lang.json";
    EXPECT_NEAR(p[1].get<double>(),
                ReadJson(run() / "eval" / file)["result"]["pass_at_k"]["8"].get<double>(), 1e-6);
  }
  // The run's dashboard was refreshed with the new results.
  const std::string page = ReadFile(run() / "dashboard" / "index.html");
  EXPECT_THAT(page, HasSubstr("step-00000002.lang"));
  EXPECT_THAT(page, HasSubstr("step-00000004.lang"));
}

TEST_F(EvalE2eTest, ExportDashboardRendersTheRunInChromium) {
  ASSERT_EQ(ReadFile(*dir_ / "train.rc"), "0\n");
  const fs::path out = *dir_ / "dash";
  Result r = Rlvr({"export", "dashboard", "--run", run().string(), "--out", out.string()}, *dir_);
  ASSERT_EQ(r.code, 0) << r.out;
  const fs::path shots = fs::path(RLVR_BINARY_DIR) / "test-output" / "eval_e2e_test";
  fs::create_directories(shots);
  const fs::path png = shots / "dashboard.png";
  fs::remove(png);
  const std::string url = Quote("file://" + (out / "index.html").string());
  Chromium(*dir_ / "profile", "--hide-scrollbars --window-size=1400,2400 --screenshot=" +
                                  Quote(png.string()) + " " + url);
  const std::string dom = Chromium(*dir_ / "profile", "--dump-dom " + url);
  ASSERT_THAT(dom, HasSubstr("data-rendered=\"true\""));
  std::map<std::string, int> charts = RenderedCharts(dom);
  ASSERT_GE(charts.size(), 11u);
  for (const auto& [name, points] : charts) EXPECT_GT(points, 0) << name;
  EXPECT_EQ(charts["reward"], 4);
  EXPECT_EQ(charts["sft_loss"], 3);
  EXPECT_EQ(charts["step_time"], 12);
  EXPECT_EQ(charts["eval_pass_at_1"], 2);
  EXPECT_THAT(dom, HasSubstr("training, step 4"));
  EXPECT_THAT(dom, HasSubstr("class=\"verdict"));
  EXPECT_GT(fs::file_size(png), 20000u);
}

TEST_F(EvalE2eTest, BadRunsGiveClearMessages) {
  ASSERT_EQ(ReadFile(*dir_ / "train.rc"), "0\n");
  // A copy of the run whose metrics.jsonl is cut off mid-line and has an unknown name.
  const fs::path copy = *dir_ / "broken";
  fs::remove_all(copy);
  fs::copy(run(), copy, fs::copy_options::recursive);
  std::string metrics = ReadFile(copy / "metrics.jsonl");
  metrics += "{\"phase\":\"grpo\",\"step\":5,\"mystery\":1}\n{\"phase\":\"grpo\",\"st";
  std::ofstream(copy / "metrics.jsonl", std::ios::trunc) << metrics;
  const int lines = static_cast<int>(std::count(metrics.begin(), metrics.end(), '\n'));
  Result r = Rlvr({"export", "dashboard", "--run", copy.string()}, *dir_);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr((copy / "metrics.jsonl").string() + ":" + std::to_string(lines + 1) +
                               ": cut off mid-line"));
  EXPECT_THAT(r.out, HasSubstr(":" + std::to_string(lines) + ": unknown metric \"mystery\""));
  EXPECT_TRUE(fs::exists(copy / "dashboard" / "index.html"));

  Result missing = Rlvr({"export", "dashboard", "--run", "runs/none"}, *dir_);
  EXPECT_EQ(missing.code, 2);
  EXPECT_THAT(missing.out, HasSubstr("rlvr export dashboard: runs/none: no such run directory"));

  Result no_ckpt = Rlvr({"eval", "--checkpoint", "runs/none"}, *dir_);
  EXPECT_EQ(no_ckpt.code, 2);
  EXPECT_THAT(no_ckpt.out, HasSubstr("runs/none: not a checkpoint"));
  Result neither = Rlvr({"eval"}, *dir_);
  EXPECT_EQ(neither.code, 2);
  EXPECT_THAT(neither.out, HasSubstr("--checkpoint DIR"));
  Result bad_data =
      Rlvr({"eval", "--checkpoint", run().string(), "--dataset", "nope.jsonl"}, *dir_);
  EXPECT_NE(bad_data.code, 0);
  EXPECT_THAT(bad_data.out, HasSubstr("nope.jsonl"));
  EXPECT_THAT(bad_data.out, ::testing::Not(HasSubstr("terminate")));
}

}  // namespace
