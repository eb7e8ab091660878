#include "envs/decontam.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "envs/test_util.h"

namespace rlvr {
namespace {

using ::rlvr::testing_util::JsonLines;
using ::rlvr::testing_util::MakeTempDir;
using ::rlvr::testing_util::ReadFile;
using ::rlvr::testing_util::WriteFile;
using ::testing::ElementsAre;
using json = nlohmann::json;

TEST(NormalizedWordsTest, CaseFoldPunctuationAndUnicode) {
  EXPECT_THAT(NormalizedWords("Hello,  WORLD! x=3.5; Straße ﬁne"),
              ElementsAre("hello", "world", "x", "3", "5", "strasse", "fine"));
  EXPECT_THAT(NormalizedWords("bad\xff\xfe"
                              "byte"),
              ElementsAre("bad", "byte"));
  EXPECT_TRUE(NormalizedWords("  ...  ").empty());
}

// Eval prompts; the training file copies parts of them at known places.
const char kEval1[] =
    "A train leaves the station at noon traveling at sixty miles per hour toward a city "
    "that is three hundred miles away";
const char kEval2[] =
    "Find the number of positive integers less than one thousand that are divisible by "
    "seven but not by eleven";
const char kEval3[] = "Compute the determinant of matrix";  // 5 words: matched whole

struct Files {
  std::string dir, train, eval;
  std::vector<std::string> train_lines;
};

Files MakeFiles() {
  Files f;
  f.dir = MakeTempDir("decontam");
  f.eval = f.dir + "/eval.jsonl";
  f.train = f.dir + "/train.jsonl";
  WriteFile(f.eval, JsonLines({{{"id", "e1"}, {"prompt", kEval1}, {"answer", "5"}},
                               {{"id", "e2"}, {"prompt", kEval2}, {"answer", "1"}},
                               {{"id", "e3"}, {"prompt", kEval3}, {"answer", "0"}}}));
  f.train_lines = {
      // 13 consecutive words of e1, other case and punctuation: overlap at n=13.
      json({{"id", "t1"},
            {"prompt",
             "Story: THE STATION, at noon; traveling at sixty miles per hour toward a "
             "city that! Then what?"},
            {"answer", "1"}})
          .dump(),
      // 12 consecutive words of e2 only: no overlap at 13, overlap at 8.
      json({{"id", "t2"},
            {"prompt",
             "Count the positive integers less than one thousand that are divisible by "
             "seven but here is another ending"},
            {"answer", "2"}})
          .dump(),
      // e3 whole, inside a longer prompt.
      json({{"id", "t3"},
            {"prompt", "Please compute the determinant of matrix A below, carefully."},
            {"answer", "3"}})
          .dump(),
      json({{"id", "t4"},
            {"prompt", "Unrelated question about apples and oranges."},
            {"answer", "4"}})
          .dump(),
      "{broken json",
  };
  std::string text;
  for (const std::string& line : f.train_lines) text += line + "\n";
  WriteFile(f.train, text);
  return f;
}

DecontamOptions Options(const Files& f, int n) {
  DecontamOptions options;
  options.train.path = f.train;
  options.train.mapping = *MappingForFormat("generic");
  options.train.reporter = [](const std::string&) {};
  options.eval = options.train;
  options.eval.path = f.eval;
  options.ngram.n = n;
  return options;
}

TEST(DecontamTest, FindsTheKnownOverlapsAndFilters) {
  Files f = MakeFiles();
  DecontamOptions options = Options(f, 13);
  options.output_path = f.dir + "/filtered.jsonl";
  absl::StatusOr<json> report = Decontaminate(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ((*report)["train_tasks"], 4);
  EXPECT_EQ((*report)["eval_tasks"], 3);
  EXPECT_EQ((*report)["overlapping_train_tasks"], 2);
  EXPECT_EQ((*report)["contaminated_eval_tasks"], 2);
  EXPECT_EQ((*report)["kept"], 2);
  EXPECT_EQ((*report)["malformed_train_lines"], 1);
  const json& overlaps = (*report)["overlaps"];
  ASSERT_EQ(overlaps.size(), 2u);
  EXPECT_EQ(overlaps[0]["train_id"], "t1");
  EXPECT_EQ(overlaps[0]["train_line"], 1);
  EXPECT_EQ(overlaps[0]["eval_ids"], json({"e1"}));
  EXPECT_EQ(overlaps[0]["ngram"],
            "the station at noon traveling at sixty miles per hour toward a city");
  EXPECT_EQ(overlaps[0]["shared_ngrams"], 2);  // 14 shared words
  EXPECT_EQ(overlaps[1]["train_id"], "t3");
  EXPECT_EQ(overlaps[1]["eval_ids"], json({"e3"}));
  // The filtered file holds the kept lines verbatim.
  EXPECT_EQ(ReadFile(options.output_path), f.train_lines[1] + "\n" + f.train_lines[3] + "\n");
}

TEST(DecontamTest, SmallerNFindsTheNearMiss) {
  Files f = MakeFiles();
  absl::StatusOr<json> report = Decontaminate(Options(f, 8));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ((*report)["overlapping_train_tasks"], 3);
  EXPECT_EQ((*report)["overlaps"][1]["train_id"], "t2");
  EXPECT_EQ((*report)["overlaps"][1]["shared_ngrams"], 5);  // 12 shared words, n = 8
}

TEST(DecontamTest, FatalMalformedLineIsAnError) {
  Files f = MakeFiles();
  DecontamOptions options = Options(f, 13);
  options.train.on_malformed = OnMalformed::kFail;
  options.output_path = f.dir + "/out.jsonl";
  absl::StatusOr<json> report = Decontaminate(options);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), ::testing::HasSubstr("train.jsonl:5:"));
  EXPECT_FALSE(testing_util::FileExists(options.output_path));
}

}  // namespace
}  // namespace rlvr
