// `rlvr data show` and `rlvr data decontam`, run as the user runs them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "envs/test_util.h"
#include "rlvr/test_paths.h"

namespace rlvr {
namespace {

using ::rlvr::testing_util::JsonLines;
using ::rlvr::testing_util::MakeTempDir;
using ::rlvr::testing_util::ReadFile;
using ::rlvr::testing_util::RunCommand;
using ::rlvr::testing_util::WriteFile;
using ::testing::HasSubstr;
using json = nlohmann::json;

struct Result {
  int rc;
  std::string out, err;
};

Result Cli(const std::string& dir, const std::string& args) {
  const std::string command = std::string("'") + RLVR_CLI + "' " + args + " > '" + dir +
                              "/out.txt' 2> '" + dir + "/err.txt'";
  Result r;
  r.rc = RunCommand(command);
  r.out = ReadFile(dir + "/out.txt");
  r.err = ReadFile(dir + "/err.txt");
  return r;
}

TEST(DataCliTest, ShowRendersPromptAndGold) {
  const std::string dir = MakeTempDir("cli_show");
  WriteFile(dir + "/gsm.jsonl", JsonLines({{{"question", "Q0?"}, {"answer", "x\n#### 10"}},
                                           {{"question", "Q1?"}, {"answer", "y\n#### 11"}}}) +
                                    "not json\n" +
                                    JsonLines({{{"question", "Q3?"}, {"answer", "#### 13"}}}));
  Result r = Cli(dir, "data show --dataset '" + dir + "/gsm.jsonl' --format gsm8k --index 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("<|im_start|>user\nQ1?<|im_end|>\n<|im_start|>assistant\n"));
  EXPECT_THAT(r.out, HasSubstr("--- gold ---\n11\n"));

  // --id past a malformed line (reported with file:line), template and system prompt from
  // a config plus an override.
  WriteFile(dir + "/c.yaml",
            "template:\n  format: llama3\n  system_prompt: Be brief.\nlearner:\n  lr: 1\n");
  r = Cli(dir, "data show --dataset '" + dir + "/gsm.jsonl' --format gsm8k --id gsm-4 --config '" +
                   dir + "/c.yaml' --json template.user_suffix=Think.");
  ASSERT_EQ(r.rc, 0) << r.err;
  json task = json::parse(r.out);
  EXPECT_EQ(task["gold"], "13");
  EXPECT_EQ(task["line"], 4);
  EXPECT_EQ(task["rendered_prompt"],
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nQ3?\n\nThink.<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_THAT(r.err, HasSubstr("gsm.jsonl:3: invalid JSON"));

  r = Cli(dir, "data show --dataset '" + dir + "/gsm.jsonl' --format gsm8k --id nope");
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, HasSubstr("no task with id 'nope'"));
  r = Cli(dir, "data show --dataset '" + dir + "/missing.jsonl' --format gsm8k");
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot open dataset"));
  r = Cli(dir, "data show --builtin arithmetic --difficulty 3 --seed 4 --template plain --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["verifier"], "math");
}

TEST(DataCliTest, DecontamReportsAndFilters) {
  const std::string dir = MakeTempDir("cli_decontam");
  const std::string shared =
      "one two three four five six seven eight nine ten eleven twelve thirteen";
  WriteFile(dir + "/eval.jsonl", JsonLines({{{"id", "e"}, {"prompt", "Zero " + shared + " end"}}}));
  WriteFile(dir + "/train.jsonl",
            JsonLines({{{"id", "a"}, {"prompt", "clean prompt"}, {"answer", "1"}},
                       {{"id", "b"}, {"prompt", "Prefix " + shared}, {"answer", "2"}}}));
  Result r = Cli(dir, "data decontam --train '" + dir + "/train.jsonl' --eval '" + dir +
                          "/eval.jsonl' --n 13 --output '" + dir + "/filtered.jsonl'");
  ASSERT_EQ(r.rc, 0) << r.err;
  json report = json::parse(r.out);
  EXPECT_EQ(report["overlapping_train_tasks"], 1);
  EXPECT_EQ(report["overlaps"][0]["train_id"], "b");
  EXPECT_EQ(report["overlaps"][0]["train_line"], 2);
  EXPECT_EQ(json::parse(ReadFile(dir + "/filtered.jsonl"))["id"], "a");
  r = Cli(dir, "data decontam --train '" + dir + "/nope.jsonl' --eval '" + dir + "/eval.jsonl'");
  EXPECT_EQ(r.rc, 2);
}

}  // namespace
}  // namespace rlvr
