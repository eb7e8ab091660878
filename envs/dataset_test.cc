#include "envs/dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "envs/test_util.h"

namespace rlvr {
namespace {

using ::rlvr::testing_util::JsonLines;
using ::rlvr::testing_util::MakeTempDir;
using ::rlvr::testing_util::WriteFile;
using ::testing::HasSubstr;
using json = nlohmann::json;

Task MustConvert(const json& record, const std::string& format) {
  absl::StatusOr<FieldMapping> mapping = MappingForFormat(format);
  EXPECT_TRUE(mapping.ok()) << mapping.status();
  absl::StatusOr<Task> task = TaskFromRecord(record, *mapping, "default-7");
  EXPECT_TRUE(task.ok()) << task.status();
  return task.ok() ? *task : Task();
}

std::string ConvertError(const json& record, const std::string& format) {
  absl::StatusOr<Task> task = TaskFromRecord(record, *MappingForFormat(format), "d");
  EXPECT_FALSE(task.ok());
  return task.ok() ? "" : std::string(task.status().message());
}

TEST(MappingTest, Gsm8k) {
  Task t = MustConvert({{"question", "How many?"},
                        {"answer", "She has 3 + 4 = <<3+4=7>>7 apples... 1000 more.\n#### 1,007"}},
                       "gsm8k");
  EXPECT_EQ(t.id, "default-7");
  EXPECT_EQ(t.prompt, "How many?");
  EXPECT_EQ(t.gold, "1007");
  EXPECT_EQ(t.verifier, "math");
  EXPECT_THAT(ConvertError({{"question", "q"}, {"answer", "no marker"}}, "gsm8k"),
              HasSubstr("####"));
  EXPECT_THAT(ConvertError({{"answer", "#### 1"}}, "gsm8k"), HasSubstr("'question'"));
}

TEST(MappingTest, MathAnswerOrBoxed) {
  Task a =
      MustConvert({{"problem", "p"}, {"answer", "\\frac{1}{2}"}, {"level", "Level 3"}}, "math");
  EXPECT_EQ(a.gold, "\\frac{1}{2}");
  EXPECT_EQ(a.metadata["level"], "Level 3");
  Task b = MustConvert({{"problem", "p"},
                        {"unique_id", "test/algebra/1.json"},
                        {"solution", "So $x=\\boxed{2}$ first, then $\\boxed{\\frac{a}{b^{2}}}$."}},
                       "math");
  EXPECT_EQ(b.id, "test/algebra/1.json");
  EXPECT_EQ(b.gold, "\\frac{a}{b^{2}}");
  Task c = MustConvert({{"problem", "p"}, {"solution", "thus \\fbox{7}"}}, "math");
  EXPECT_EQ(c.gold, "7");
  EXPECT_THAT(ConvertError({{"problem", "p"}, {"solution", "no box"}}, "math"), HasSubstr("boxed"));
  EXPECT_EQ(LastBoxed("\\boxed{\\{1,2\\}}"), "\\{1,2\\}");
  EXPECT_EQ(LastBoxed("\\boxed{unbalanced"), "");
}

TEST(MappingTest, Mbpp) {
  Task t = MustConvert({{"task_id", 11},
                        {"text", "Write a function to add."},
                        {"code", "def add(a, b):\n    return a + b"},
                        {"test_list", {"assert add(1, 2) == 3", "assert add(0, 0) == 0"}},
                        {"test_setup_code", "import math"}},
                       "mbpp");
  EXPECT_EQ(t.id, "11");
  EXPECT_EQ(t.verifier, "code");
  EXPECT_THAT(t.prompt, HasSubstr("Write a function to add."));
  EXPECT_THAT(t.prompt, HasSubstr("assert add(1, 2) == 3\nassert add(0, 0) == 0"));
  EXPECT_EQ(t.gold, "def add(a, b):\n    return a + b");
  EXPECT_EQ(t.spec["tests"],
            json({{"type", "assert"},
                  {"code", "import math\nassert add(1, 2) == 3\nassert add(0, 0) == 0\n"}}));
  EXPECT_THAT(ConvertError({{"text", "t"}, {"test_list", "assert 1"}}, "mbpp"),
              HasSubstr("must be a list"));
}

TEST(MappingTest, HumanEval) {
  Task t = MustConvert({{"task_id", "HumanEval/0"},
                        {"prompt", "def f(x):\n    \"\"\"doc\"\"\"\n"},
                        {"canonical_solution", "    return x\n"},
                        {"test", "def check(candidate):\n    assert candidate(1) == 1\n"},
                        {"entry_point", "f"}},
                       "humaneval");
  EXPECT_EQ(t.id, "HumanEval/0");
  EXPECT_THAT(t.prompt, HasSubstr("```python\ndef f(x):"));
  EXPECT_EQ(t.gold, "def f(x):\n    \"\"\"doc\"\"\"\n    return x\n");
  EXPECT_EQ(t.spec["tests"]["type"], "assert");
  EXPECT_EQ(t.spec["tests"]["entry_point"], "f");
  EXPECT_EQ(t.spec["tests"]["code"], "def check(candidate):\n    assert candidate(1) == 1\n");
}

TEST(MappingTest, StdioAppsAndCodeContests) {
  Task apps = MustConvert(
      {{"problem_id", 5},
       {"question", "Read n, print 2n."},
       {"input_output", json({{"inputs", {"1\n", "2\n"}}, {"outputs", {"2\n", "4\n"}}}).dump()},
       {"difficulty", "introductory"}},
      "stdio");
  EXPECT_EQ(apps.id, "5");
  EXPECT_EQ(apps.metadata["difficulty"], "introductory");
  EXPECT_EQ(
      apps.spec["tests"],
      json({{"type", "stdio"},
            {"cases",
             {{{"input", "1\n"}, {"output", "2\n"}}, {{"input", "2\n"}, {"output", "4\n"}}}}}));
  Task call =
      MustConvert({{"question", "q"},
                   {"input_output",
                    json({{"fn_name", "add"}, {"inputs", {{1, 2}}}, {"outputs", {{3}}}}).dump()}},
                  "stdio");
  EXPECT_EQ(
      call.spec["tests"],
      json({{"type", "call"}, {"fn", "add"}, {"cases", {{{"args", {1, 2}}, {"expected", {3}}}}}}));
  Task cc = MustConvert({{"name", "1A"},
                         {"description", "d"},
                         {"public_tests", {{"input", {"a"}}, {"output", {"b"}}}},
                         {"private_tests", {{"input", {"c"}}, {"output", {"d"}}}}},
                        "stdio");
  EXPECT_EQ(cc.id, "1A");
  EXPECT_EQ(cc.prompt, "d");
  ASSERT_EQ(cc.spec["tests"]["cases"].size(), 2u);
  EXPECT_EQ(cc.spec["tests"]["cases"][1]["input"], "c");
  EXPECT_THAT(ConvertError({{"question", "q"}, {"input_output", "{not json"}}, "stdio"),
              HasSubstr("not valid JSON"));
  EXPECT_THAT(
      ConvertError({{"question", "q"},
                    {"input_output", json({{"inputs", {"1"}}, {"outputs", json::array()}})}},
                   "stdio"),
      HasSubstr("equally long"));
}

TEST(MappingTest, GenericAndCanonical) {
  Task t = MustConvert(
      {{"id", "g1"},
       {"prompt", {{{"role", "system"}, {"content", "s"}}, {{"role", "user"}, {"content", "u"}}}},
       {"answer", 42},
       {"verifier", "code"},
       {"spec", {{"tests", {{"type", "assert"}, {"code", "assert True"}}}}}},
      "generic");
  ASSERT_EQ(t.messages.size(), 2u);
  EXPECT_EQ(t.messages[1].content, "u");
  EXPECT_EQ(t.gold, "42");
  EXPECT_EQ(t.verifier, "code");
  EXPECT_EQ(t.spec["tests"]["code"], "assert True");
  EXPECT_THAT(ConvertError({{"prompt", 3}}, "generic"), HasSubstr("'prompt'"));
  EXPECT_THAT(ConvertError({{"prompt", {{{"role", "user"}}}}}, "generic"),
              HasSubstr("messages[0]"));

  Task round = MustConvert(TaskToJson(t), "task");
  EXPECT_EQ(TaskToJson(round), TaskToJson(t));
  EXPECT_FALSE(MappingForFormat("nope").ok());
}

// ---- Reader ---------------------------------------------------------------------

std::string WriteNumbered(const std::string& dir, int n) {
  std::vector<json> records;
  for (int i = 0; i < n; ++i) {
    records.push_back({{"id", "t" + std::to_string(i)}, {"prompt", "p"}, {"answer", "a"}});
  }
  const std::string path = dir + "/data.jsonl";
  WriteFile(path, JsonLines(records));
  return path;
}

DatasetOptions Options(const std::string& path) {
  DatasetOptions options;
  options.path = path;
  options.mapping = *MappingForFormat("generic");
  options.reporter = [](const std::string&) {};
  return options;
}

std::vector<std::string> ReadIds(DatasetReader& reader, int max = 1 << 30) {
  std::vector<std::string> ids;
  while (static_cast<int>(ids.size()) < max) {
    absl::StatusOr<std::optional<Task>> task = reader.Next();
    EXPECT_TRUE(task.ok()) << task.status();
    if (!task.ok() || !task->has_value()) break;
    ids.push_back((*task)->id);
  }
  return ids;
}

TEST(DatasetReaderTest, SequentialReadsEveryRecordAndDefaultIds) {
  const std::string dir = MakeTempDir("seq");
  const std::string path = dir + "/gsm.jsonl";
  WriteFile(path,
            "{\"question\":\"a\",\"answer\":\"#### 1\"}\n\n"
            "{\"question\":\"b\",\"answer\":\"#### 2\"}\r\n"
            "{\"question\":\"c\",\"answer\":\"#### 3\"}");  // no final newline
  DatasetOptions options = Options(path);
  options.mapping = *MappingForFormat("gsm8k");
  auto reader = *DatasetReader::Open(options);
  std::vector<std::string> ids = ReadIds(*reader);
  EXPECT_EQ(ids, (std::vector<std::string>{"gsm-1", "gsm-3", "gsm-4"}));
  EXPECT_EQ(reader->stats().tasks, 3);
  EXPECT_EQ(reader->stats().lines, 4);
}

TEST(DatasetReaderTest, MalformedLinesSkippedWithFileLineOrFatal) {
  const std::string dir = MakeTempDir("bad");
  const std::string path = dir + "/bad.jsonl";
  WriteFile(path,
            "{\"id\":\"a\",\"prompt\":\"x\"}\n"
            "{not json\n"
            "{\"id\":\"c\"}\n"
            "[1,2]\n"
            "{\"id\":\"e\",\"prompt\":\"x\"}\n");
  DatasetOptions options = Options(path);
  std::vector<std::string> reports;
  options.reporter = [&](const std::string& r) { reports.push_back(r); };
  auto reader = *DatasetReader::Open(options);
  EXPECT_EQ(ReadIds(*reader), (std::vector<std::string>{"a", "e"}));
  EXPECT_EQ(reader->stats().malformed, 3);
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_THAT(reports[0], HasSubstr(path + ":2: invalid JSON"));
  EXPECT_THAT(reports[1], HasSubstr(path + ":3: missing field 'prompt|messages'"));
  EXPECT_THAT(reports[2], HasSubstr(path + ":4: the line is not a JSON object"));

  options.on_malformed = OnMalformed::kFail;
  auto fatal = *DatasetReader::Open(options);
  EXPECT_EQ((*fatal->Next())->id, "a");
  absl::StatusOr<std::optional<Task>> bad = fatal->Next();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr(path + ":2:"));
  EXPECT_FALSE(fatal->Next().ok());  // line 3, then it goes on
  EXPECT_FALSE(fatal->Next().ok());
  EXPECT_EQ((*fatal->Next())->id, "e");
}

TEST(DatasetReaderTest, OverlongLineIsMalformedNotLoaded) {
  const std::string dir = MakeTempDir("long");
  const std::string path = dir + "/long.jsonl";
  WriteFile(path, "{\"id\":\"a\",\"prompt\":\"" + std::string(100000, 'x') + "\"}\n" +
                      "{\"id\":\"b\",\"prompt\":\"y\"}\n");
  DatasetOptions options = Options(path);
  options.max_line_bytes = 1000;
  std::vector<std::string> reports;
  options.reporter = [&](const std::string& r) { reports.push_back(r); };
  auto reader = *DatasetReader::Open(options);
  EXPECT_EQ(ReadIds(*reader), (std::vector<std::string>{"b"}));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_THAT(reports[0], HasSubstr(":1: line longer than 1000 bytes"));
}

TEST(DatasetReaderTest, MissingFileIsNotFound) {
  absl::StatusOr<std::unique_ptr<DatasetReader>> reader =
      DatasetReader::Open(Options("/nonexistent/x.jsonl"));
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
}

// Current resident set size in bytes, from /proc/self/statm.
int64_t ResidentBytes() {
  std::ifstream in("/proc/self/statm");
  int64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

TEST(DatasetReaderTest, StreamingMemoryStaysBoundedOnALargeFile) {
  // 64 MiB of records, read with a sampled resident-set bound far below the file
  // size: the reader holds one line at a time, so it would read a file larger than RAM.
  const std::string dir = MakeTempDir("big");
  const std::string path = dir + "/big.jsonl";
  const std::string filler(4000, 'w');
  int64_t written = 0;
  int records = 0;
  {
    std::ofstream out(path);
    while (written < (64 << 20)) {
      std::string line = "{\"id\":\"r" + std::to_string(records++) + "\",\"prompt\":\"" + filler +
                         "\",\"answer\":\"1\"}\n";
      out << line;
      written += line.size();
    }
  }
  auto reader = *DatasetReader::Open(Options(path));
  const int64_t baseline = ResidentBytes();
  int64_t peak = 0;
  int count = 0;
  while (true) {
    absl::StatusOr<std::optional<Task>> task = reader->Next();
    ASSERT_TRUE(task.ok()) << task.status();
    if (!task->has_value()) break;
    if (++count % 1024 == 0) peak = std::max(peak, ResidentBytes() - baseline);
  }
  EXPECT_EQ(count, records);
  EXPECT_LT(peak, 16 << 20) << "resident memory grew by " << peak << " bytes";
}

TEST(DatasetReaderTest, ShuffleIsADeterministicPermutationPerEpoch) {
  const std::string dir = MakeTempDir("shuf");
  const std::string path = WriteNumbered(dir, 200);
  DatasetOptions options = Options(path);
  options.shuffle = true;
  options.seed = 7;
  options.max_epochs = 2;
  std::vector<std::string> a = ReadIds(**DatasetReader::Open(options));
  std::vector<std::string> b = ReadIds(**DatasetReader::Open(options));
  ASSERT_EQ(a.size(), 400u);
  EXPECT_EQ(a, b);
  std::vector<std::string> e0(a.begin(), a.begin() + 200), e1(a.begin() + 200, a.end());
  EXPECT_NE(e0, e1);
  EXPECT_EQ(std::set<std::string>(e0.begin(), e0.end()).size(), 200u);
  EXPECT_EQ(std::set<std::string>(e1.begin(), e1.end()).size(), 200u);
  std::vector<std::string> sequential = ReadIds(**DatasetReader::Open(Options(path)));
  EXPECT_NE(e0, sequential);
  options.seed = 8;
  std::vector<std::string> c = ReadIds(**DatasetReader::Open(options));
  EXPECT_NE(a, c);
}

void CheckResume(DatasetOptions options, int consumed_before_checkpoint) {
  std::vector<std::string> full = ReadIds(**DatasetReader::Open(options));
  auto first = *DatasetReader::Open(options);
  std::vector<std::string> head = ReadIds(*first, consumed_before_checkpoint);
  const std::string saved = first->Cursor().ToJson().dump();
  std::vector<std::string> tail = ReadIds(*first);

  auto resumed = *DatasetReader::Open(options);
  absl::StatusOr<DatasetCursor> cursor = DatasetCursor::FromJson(json::parse(saved));
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  ASSERT_TRUE(resumed->Restore(*cursor).ok());
  EXPECT_EQ(ReadIds(*resumed), tail);
  head.insert(head.end(), tail.begin(), tail.end());
  EXPECT_EQ(head, full);
}

TEST(DatasetReaderTest, CursorRestoresTheExactNextTask) {
  const std::string dir = MakeTempDir("resume");
  const std::string path = WriteNumbered(dir, 50);
  DatasetOptions options = Options(path);
  options.max_epochs = 3;
  for (int k : {0, 1, 17, 50, 73, 149}) CheckResume(options, k);
  options.shuffle = true;
  options.seed = 3;
  for (int k : {0, 1, 17, 50, 73, 149}) CheckResume(options, k);
}

TEST(DatasetReaderTest, RestoreRefusesAChangedFileOrOptions) {
  const std::string dir = MakeTempDir("changed");
  const std::string path = WriteNumbered(dir, 10);
  DatasetOptions options = Options(path);
  auto reader = *DatasetReader::Open(options);
  ReadIds(*reader, 3);
  DatasetCursor cursor = reader->Cursor();
  WriteNumbered(dir, 11);
  auto other = *DatasetReader::Open(options);
  EXPECT_EQ(other->Restore(cursor).code(), absl::StatusCode::kFailedPrecondition);
  cursor.file_size = other->Cursor().file_size;
  cursor.shuffle = true;
  EXPECT_EQ(other->Restore(cursor).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(DatasetCursor::FromJson(json({{"epoch", "x"}})).ok());
}

TEST(DatasetReaderTest, HashSplitIsDisjointCompleteAndOrderIndependent) {
  const std::string dir = MakeTempDir("split");
  const std::string path = WriteNumbered(dir, 1000);
  DatasetOptions options = Options(path);
  options.eval_fraction = 0.2;
  options.split = Split::kTrain;
  std::vector<std::string> train = ReadIds(**DatasetReader::Open(options));
  options.split = Split::kEval;
  std::vector<std::string> eval = ReadIds(**DatasetReader::Open(options));
  EXPECT_EQ(train.size() + eval.size(), 1000u);
  std::set<std::string> all(train.begin(), train.end());
  for (const auto& id : eval) EXPECT_EQ(all.count(id), 0u) << id;
  EXPECT_GT(eval.size(), 150u);  // ~200 expected; binomial sd ~13
  EXPECT_LT(eval.size(), 250u);
  options.shuffle = true;  // same split whatever the order
  std::vector<std::string> eval_shuffled = ReadIds(**DatasetReader::Open(options));
  EXPECT_EQ(std::set<std::string>(eval.begin(), eval.end()),
            std::set<std::string>(eval_shuffled.begin(), eval_shuffled.end()));
}

TEST(DatasetReaderTest, RepeatForeverOnAnEmptySplitFailsInsteadOfHanging) {
  const std::string dir = MakeTempDir("empty");
  const std::string path = WriteNumbered(dir, 3);
  DatasetOptions options = Options(path);
  options.max_epochs = 0;
  options.split = Split::kEval;  // eval_fraction 0: nothing in eval
  auto reader = *DatasetReader::Open(options);
  EXPECT_EQ(reader->Next().status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace rlvr
