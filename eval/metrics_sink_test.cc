// Exporters: JSONL and CSV contents, histogram buckets, CRC-32C against published
// check values, and TensorBoard event files read back by tensorboard's own reader.
#include "eval/metrics_sink.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "eval/tensorboard_sink.h"
#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"
#include "tests/test_util.h"

namespace rlvr {
namespace {

namespace fs = std::filesystem;
using rlvr::test_util::ReadFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Lines(const fs::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class SinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rlvr_sink_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

ScalarRecord Record(const std::string& phase, int64_t step,
                    std::vector<std::pair<std::string, double>> values) {
  return {phase, step, std::move(values)};
}

TEST(Crc32cTest, MatchesPublishedCheckValues) {
  // The CRC-32C check value of "123456789" (RFC 3720 / iSCSI) and of 32 zero bytes.
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  const uint32_t c = Crc32c("123456789");
  EXPECT_EQ(MaskedCrc32c("123456789"), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(BucketizeTest, CountsEveryValueOnceWithIncreasingEdges) {
  std::vector<double> v = {0, 1, 1, 2, 3, 3, 3, 10};
  auto b = Bucketize(v, 10);
  ASSERT_EQ(b.size(), 10u);
  int64_t total = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    total += b[i].second;
    if (i) EXPECT_GT(b[i].first, b[i - 1].first);
  }
  EXPECT_EQ(total, 8);
  EXPECT_DOUBLE_EQ(b.back().first, 10);
  // Width 1: (0,1] holds 0 (the first bucket also takes the minimum), 1, 1.
  EXPECT_EQ(b[0].second, 3);
  EXPECT_EQ(b[1].second, 1);  // 2
  EXPECT_EQ(b[2].second, 3);  // 3
  EXPECT_EQ(b[9].second, 1);  // 10
  EXPECT_THAT(Bucketize({5, 5, 5}), ElementsAre(std::make_pair(5.0, int64_t{3})));
  EXPECT_TRUE(Bucketize({}).empty());
}

TEST_F(SinkTest, JsonlAndCsvHoldWhatWasWritten) {
  ExportOptions o;
  o.dir = dir_.string();
  o.tensorboard = false;
  auto sinks = OpenRunSinks(o);
  ASSERT_TRUE(sinks.ok()) << sinks.status();
  MetricsSink& s = *sinks->sink;
  ASSERT_TRUE(s.AddScalars(Record("sft", 1, {{"loss", 2.5}, {"lr", 1e-3}})).ok());
  ASSERT_TRUE(s.AddScalars(Record("grpo", 1, {{"reward", 0.25}, {"kl", 0.125}})).ok());
  // A later record without "kl" and with a name not in the first record's columns.
  ASSERT_TRUE(s.AddScalars(Record("grpo", 2, {{"reward", 0.5}, {"new_metric", 7}})).ok());
  ASSERT_TRUE(s.AddHistogram(2, "eval/completion_tokens", {1, 2, 3, 4}).ok());
  // Invalid UTF-8 from a byte-level tokenizer must not break the JSONL writer.
  ASSERT_TRUE(s.AddSamples(2, "eval/samples", {{"t1", "1+1?", "2 \xff", "correct", 1.0}}).ok());
  ASSERT_TRUE(s.Flush().ok());

  std::vector<std::string> metrics = Lines(dir_ / "metrics.jsonl");
  ASSERT_EQ(metrics.size(), 3u);
  nlohmann::json m0 = nlohmann::json::parse(metrics[0]);
  EXPECT_EQ(m0["phase"], "sft");
  EXPECT_EQ(m0["step"], 1);
  EXPECT_DOUBLE_EQ(m0["loss"].get<double>(), 2.5);
  nlohmann::json m2 = nlohmann::json::parse(metrics[2]);
  EXPECT_DOUBLE_EQ(m2["new_metric"].get<double>(), 7);
  EXPECT_FALSE(m2.contains("kl"));

  nlohmann::json h = nlohmann::json::parse(Lines(dir_ / "histograms.jsonl").at(0));
  EXPECT_EQ(h["count"], 4);
  EXPECT_DOUBLE_EQ(h["sum"].get<double>(), 10);
  EXPECT_DOUBLE_EQ(h["min"].get<double>(), 1);
  EXPECT_DOUBLE_EQ(h["max"].get<double>(), 4);

  nlohmann::json sample = nlohmann::json::parse(Lines(dir_ / "samples.jsonl").at(0));
  EXPECT_EQ(sample["verdict"], "correct");
  EXPECT_THAT(sample["completion"].get<std::string>(), HasSubstr("2 "));

  EXPECT_THAT(Lines(dir_ / "metrics_grpo.csv"),
              ElementsAre("step,reward,kl", "1,0.25,0.125", "2,0.5,"));
  EXPECT_THAT(Lines(dir_ / "metrics_sft.csv"), ElementsAre("step,loss,lr", "1,2.5,0.001"));

  // Appending after a resume keeps the existing header's columns (kl before reward).
  sinks->sink.reset();
  {
    std::ofstream rewrite(dir_ / "metrics_grpo.csv");
    rewrite << "step,kl,reward\n";
  }
  auto again = OpenRunSinks(o);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->sink->AddScalars(Record("grpo", 3, {{"reward", 1}, {"kl", 2}})).ok());
  EXPECT_THAT(Lines(dir_ / "metrics_grpo.csv"), ElementsAre("step,kl,reward", "3,2,1"));
}

TEST_F(SinkTest, AppendingAfterACutOffLineStartsANewLine) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "metrics.jsonl") << "{\"phase\":\"grpo\",\"step\":1}\n{\"phase\":\"gr";
  auto sink = OpenJsonlSink(dir_.string());
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->AddScalars(Record("grpo", 2, {{"reward", 1}})).ok());
  std::vector<std::string> lines = Lines(dir_ / "metrics.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], "{\"phase\":\"gr");
  EXPECT_EQ(nlohmann::json::parse(lines[2])["step"], 2);
}

TEST_F(SinkTest, UnwritableDirectoryIsAnErrorNamingIt) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";
  ExportOptions o;
  o.dir = (dir_ / "file" / "sub").string();
  auto sinks = OpenRunSinks(o);
  ASSERT_FALSE(sinks.ok());
  EXPECT_THAT(std::string(sinks.status().message()), HasSubstr("file/sub"));
}

// Reads the event files in `logdir` with tensorboard's EventAccumulator and prints
// one JSON document of what it found.
constexpr char kReadBack[] = R"PY(
import json, sys
from tensorboard.backend.event_processing import event_accumulator as ea
acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0})
acc.Reload()
tags = acc.Tags()
out = {"scalars": {}, "histograms": {}, "text": {}}
for t in tags["scalars"]:
    out["scalars"][t] = [[e.step, e.value] for e in acc.Scalars(t)]
for t in tags["histograms"]:
    out["histograms"][t] = [{"step": e.step, "min": e.histogram_value.min, "max": e.histogram_value.max,
        "num": e.histogram_value.num, "sum": e.histogram_value.sum, "sum_squares": e.histogram_value.sum_squares,
        "bucket_limit": list(e.histogram_value.bucket_limit), "bucket": list(e.histogram_value.bucket)}
        for e in acc.Histograms(t)]
for t in tags["tensors"]:
    plugin = acc.SummaryMetadata(t).plugin_data.plugin_name
    out["text"][t] = [{"step": e.step, "plugin": plugin,
        "text": e.tensor_proto.string_val[0].decode("utf-8")} for e in acc.Tensors(t)]
print(json.dumps(out))
)PY";

nlohmann::json ReadBackWithTensorBoard(const fs::path& logdir, const fs::path& work) {
  const fs::path script = work / "read_back.py";
  std::ofstream(script) << kReadBack;
  const fs::path out = work / "read_back.json";
  const std::string cmd = std::string(RLVR_PYTHON) + " '" + script.string() + "' '" +
                          logdir.string() + "' > '" + out.string() + "' 2> '" +
                          (work / "read_back.err").string() + "'";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << ReadFile(work / "read_back.err");
  return nlohmann::json::parse(ReadFile(out), nullptr, false);
}

TEST_F(SinkTest, TensorBoardReadsBackScalarsHistogramsAndText) {
  auto sink = OpenTensorBoardSink((dir_ / "tb").string());
  ASSERT_TRUE(sink.ok()) << sink.status();
  for (int step = 1; step <= 3; ++step) {
    ASSERT_TRUE(
        (*sink)
            ->AddScalars(Record("grpo", step, {{"reward", 0.5 * step}, {"kl", -0.25 * step}}))
            .ok());
  }
  ASSERT_TRUE((*sink)->AddScalars(Record("sft", 7, {{"loss", 3.0}})).ok());
  const std::vector<double> values = {1, 2, 2, 3, 10};
  ASSERT_TRUE((*sink)->AddHistogram(4, "eval/completion_tokens", values).ok());
  ASSERT_TRUE((*sink)
                  ->AddSamples(4, "eval/samples",
                               {{"arith-1", "What is 2+2?", "\\boxed{4}", "correct", 1.0},
                                {"arith-2", "a|b", "line1\nline2", "incorrect", 0.0}})
                  .ok());
  ASSERT_TRUE((*sink)->Flush().ok());

  nlohmann::json got = ReadBackWithTensorBoard(dir_ / "tb", dir_);
  ASSERT_FALSE(got.is_discarded());
  const nlohmann::json& reward = got["scalars"]["grpo/reward"];
  ASSERT_EQ(reward.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(reward[i][0], i + 1);
    EXPECT_DOUBLE_EQ(reward[i][1].get<double>(), 0.5 * (i + 1));
  }
  EXPECT_DOUBLE_EQ(got["scalars"]["grpo/kl"][2][1].get<double>(), -0.75);
  EXPECT_EQ(got["scalars"]["sft/loss"][0][0], 7);

  const nlohmann::json& h = got["histograms"]["eval/completion_tokens"].at(0);
  EXPECT_EQ(h["step"], 4);
  EXPECT_DOUBLE_EQ(h["min"].get<double>(), 1);
  EXPECT_DOUBLE_EQ(h["max"].get<double>(), 10);
  EXPECT_DOUBLE_EQ(h["num"].get<double>(), 5);
  EXPECT_DOUBLE_EQ(h["sum"].get<double>(), 18);
  EXPECT_DOUBLE_EQ(h["sum_squares"].get<double>(), 1 + 4 + 4 + 9 + 100);
  double counted = 0;
  for (double c : h["bucket"]) counted += c;
  EXPECT_DOUBLE_EQ(counted, 5);
  EXPECT_DOUBLE_EQ(h["bucket_limit"].back().get<double>(), 10);

  const nlohmann::json& text = got["text"]["eval/samples"].at(0);
  EXPECT_EQ(text["step"], 4);
  EXPECT_EQ(text["plugin"], "text");
  const std::string md = text["text"];
  EXPECT_THAT(md, HasSubstr("| arith-1 | correct | 1 | What is 2+2? | \\boxed{4} |"));
  EXPECT_THAT(md, HasSubstr("a\\|b"));           // pipes escaped
  EXPECT_THAT(md, HasSubstr("line1<br>line2"));  // one row per sample
}

TEST_F(SinkTest, TensorBoardReaderChecksOurCrcs) {
  // A flipped byte in a record must be caught by the reader's CRC check: proof that
  // the CRCs we write are the ones it verifies (a wrong CRC would fail both ways).
  auto sink = OpenTensorBoardSink((dir_ / "tb").string());
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->AddScalars(Record("grpo", 1, {{"reward", 1}})).ok());
  ASSERT_TRUE((*sink)->Flush().ok());
  sink->reset();
  fs::path file;
  for (const auto& e : fs::directory_iterator(dir_ / "tb")) file = e.path();
  std::string bytes = ReadFile(file);
  const fs::path good = dir_ / "good";
  fs::create_directories(good);
  std::ofstream(good / file.filename(), std::ios::binary) << bytes;
  EXPECT_EQ(ReadBackWithTensorBoard(good, dir_)["scalars"]["grpo/reward"].size(), 1u);
  bytes[bytes.size() - 6] ^= 0x40;  // inside the last record's data
  const fs::path bad = dir_ / "bad";
  fs::create_directories(bad);
  std::ofstream(bad / file.filename(), std::ios::binary) << bytes;
  EXPECT_FALSE(ReadBackWithTensorBoard(bad, dir_)["scalars"].contains("grpo/reward"));
}

}  // namespace
}  // namespace rlvr
