// Runs the built `rlvr` binary: `rlvr tokenize` (ids checked against HF tokenizers on
// the saved built-in tokenizer; malformed input) and `rlvr bench tokenizer`.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "core/tokenizer.h"
#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"

namespace rlvr {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct RunResult {
  int exit_code;
  std::string output;  // stdout and stderr
};

RunResult RunCli(const std::string& args) {
  const std::string cmd = absl::StrCat("'", RLVR_CLI, "' ", args, " 2>&1");
  RunResult r{-1, ""};
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class TokenizeCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "cmd_tokenize_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << text;
  }
  std::string dir_;
};

TEST_F(TokenizeCommandTest, AddsIdsMatchingHf) {
  const std::vector<std::string> texts = {
      "Hello world, it's 12345!", "<|im_start|>user\nWhat is 2+2?<|im_end|>\n",
      "\u4eca\u5929\u5929\u6c14\u5f88\u597d \U0001f468\u200d\U0001f469\u200d\U0001f467",
      "def f(x):\n\treturn x  \r\n", ""};
  std::string in;
  for (size_t i = 0; i < texts.size(); ++i) {
    in += json({{"id", i}, {"text", texts[i]}, {"meta", {{"k", "v"}}}}).dump() + "\n";
    if (i == 1) in += "\n";  // blank lines are skipped
  }
  Write("in.jsonl", in);
  const RunResult r = RunCli(absl::StrCat("tokenize --tokenizer builtin --input ", dir_,
                                          "/in.jsonl --output ", dir_, "/out.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // The oracle: HF tokenizers on the saved built-in tokenizer.
  ASSERT_TRUE(Tokenizer::Builtin().Save(dir_ + "/builtin").ok());
  std::string corpus;
  for (const std::string& t : texts) corpus += json({{"text", t}}).dump() + "\n";
  Write("corpus.jsonl", corpus);
  const std::string oracle_cmd =
      absl::StrCat("'", RLVR_PYTHON, "' '", RLVR_SOURCE_DIR,
                   "/core/testdata/tokenizer/tokenizer_oracle.py' encode '", dir_, "/builtin' '",
                   dir_, "/corpus.jsonl' '", dir_, "/oracle.jsonl'");
  ASSERT_EQ(std::system(oracle_cmd.c_str()), 0) << oracle_cmd;

  std::ifstream out(dir_ + "/out.jsonl"), oracle(dir_ + "/oracle.jsonl");
  std::string line, oracle_line;
  size_t n = 0;
  while (std::getline(out, line)) {
    ASSERT_TRUE(std::getline(oracle, oracle_line));
    const json got = json::parse(line);
    EXPECT_EQ(got["id"], n);
    EXPECT_EQ(got["text"], texts[n]);
    EXPECT_EQ(got["meta"]["k"], "v");
    EXPECT_EQ(got["ids"], json::parse(oracle_line)["ids"]) << "line " << n + 1;
    // The input's fields come first, in their order, then "ids".
    EXPECT_EQ(line.rfind("{\"id\":", 0), 0u) << line;
    ++n;
  }
  EXPECT_EQ(n, texts.size());
}

TEST_F(TokenizeCommandTest, MalformedLineNamesFileAndLine) {
  Write("in.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"ok\"}\n{\"text\": 5}\n{\"text\": \"x\"}\n");
  RunResult r = RunCli(absl::StrCat("tokenize --tokenizer builtin --input ", dir_,
                                    "/in.jsonl --output ", dir_, "/out.jsonl"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(dir_ + "/in.jsonl:3: expected a string field \"text\""),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir_ + "/out.jsonl"));
  EXPECT_FALSE(fs::exists(dir_ + "/out.jsonl.tmp"));

  Write("in.jsonl", "{\"text\": \"ok\"}\n{not json\n");
  r = RunCli(absl::StrCat("tokenize --tokenizer builtin --input ", dir_, "/in.jsonl --output ",
                          dir_, "/out.jsonl"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("in.jsonl:2: invalid JSON"), std::string::npos) << r.output;

  // With --skip-bad-lines the good lines are written and the bad one is reported.
  r = RunCli(absl::StrCat("tokenize --skip-bad-lines --tokenizer builtin --input ", dir_,
                          "/in.jsonl --output ", dir_, "/out.jsonl"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("skipping"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir_ + "/out.jsonl"));
}

TEST_F(TokenizeCommandTest, BadTokenizerOrInputIsOneErrorLine) {
  Write("in.jsonl", "{\"text\": \"ok\"}\n");
  RunResult r = RunCli(absl::StrCat("tokenize --tokenizer ", dir_, "/missing --input ", dir_,
                                    "/in.jsonl --output ", dir_, "/out.jsonl"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(dir_ + "/missing"), std::string::npos) << r.output;

  Write("tokenizer.json", "{\"model\": {\"type\": \"Unigram\"}}");
  r = RunCli(absl::StrCat("tokenize --tokenizer ", dir_, " --input ", dir_, "/in.jsonl --output ",
                          dir_, "/out.jsonl"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("tokenizer.json"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  r = RunCli(absl::StrCat("tokenize --tokenizer builtin --input ", dir_, "/nope.jsonl --output ",
                          dir_, "/out.jsonl"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("nope.jsonl"), std::string::npos) << r.output;
}

TEST(BenchTokenizerTest, PrintsJsonWithBothRates) {
  const RunResult r = RunCli("bench tokenizer --tokenizer builtin --mb 0.05");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json j = json::parse(r.output.substr(r.output.find('{')));
  EXPECT_GT(j["rlvr_mb_per_s"].get<double>(), 0);
  ASSERT_TRUE(j.contains("hf_mb_per_s")) << r.output;
  EXPECT_GT(j["ratio_rlvr_over_hf"].get<double>(), 0);
  EXPECT_TRUE(j["same_token_count"].get<bool>()) << r.output;
}

}  // namespace
}  // namespace rlvr
