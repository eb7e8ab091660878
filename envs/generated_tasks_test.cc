#include "envs/generated_tasks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "envs/test_util.h"
#include "rlvr/test_paths.h"
#include "verifiers/registry.h"

namespace rlvr {
namespace {

using ::rlvr::testing_util::FileExists;
using ::rlvr::testing_util::MakeTempDir;
using ::rlvr::testing_util::RunCommand;
using ::rlvr::testing_util::WriteFile;
using json = nlohmann::json;

std::string ToString(__int128 v) {
  if (v == 0) return "0";
  const bool negative = v < 0;
  if (negative) v = -v;
  std::string s;
  while (v > 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return negative ? "-" + s : s;
}

TEST(ArithmeticTasksTest, DeterministicBySeedAndIndex) {
  ArithmeticOptions options;
  std::vector<Task> a = *GenerateArithmeticTasks(5, 20, options);
  std::vector<Task> b = *GenerateArithmeticTasks(5, 20, options);
  std::vector<Task> c = *GenerateArithmeticTasks(6, 20, options);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(TaskToJson(a[i]), TaskToJson(b[i]));
    EXPECT_EQ(TaskToJson(a[i]), TaskToJson(MakeArithmeticTask(5, i, options)));
  }
  int differ = 0;
  for (int i = 0; i < 20; ++i) differ += a[i].prompt != c[i].prompt;
  EXPECT_GT(differ, 15);
}

TEST(ArithmeticTasksTest, OperandSizesGoldAndReferenceCompletion) {
  // Digit counts per difficulty, from the table in generated_tasks.h.
  const int add_digits[] = {1, 2, 3, 4, 5, 6, 8, 10};
  const int mul_digits[][2] = {{1, 1}, {2, 1}, {2, 2}, {3, 2}, {3, 3}, {4, 3}, {4, 4}, {5, 5}};
  const std::regex pattern(R"(^Compute (\d+) ([-+*]) (\d+)\. )");
  for (int difficulty = 1; difficulty <= 8; ++difficulty) {
    for (const std::string format : {"boxed", "answer"}) {
      ArithmeticOptions options;
      options.difficulty = difficulty;
      options.answer_format = format;
      std::set<std::string> ops;
      const std::vector<Task> tasks = *GenerateArithmeticTasks(difficulty, 60, options);
      for (const Task& task : tasks) {
        std::smatch m;
        ASSERT_TRUE(std::regex_search(task.prompt, m, pattern)) << task.prompt;
        const std::string a = m[1], op = m[2], b = m[3];
        ops.insert(op);
        const int want_a = op == "*" ? mul_digits[difficulty - 1][0] : add_digits[difficulty - 1];
        const int want_b = op == "*" ? mul_digits[difficulty - 1][1] : add_digits[difficulty - 1];
        EXPECT_EQ(static_cast<int>(a.size()), want_a) << task.prompt;
        EXPECT_EQ(static_cast<int>(b.size()), want_b) << task.prompt;
        const __int128 x = std::stoll(a), y = std::stoll(b);
        const std::string expected = ToString(op == "+" ? x + y : op == "-" ? x - y : x * y);
        EXPECT_EQ(task.gold, expected) << task.prompt;
        EXPECT_EQ(task.verifier, "math");
        const std::string reference = task.metadata["reference_completion"];
        const std::string ending =
            format == "boxed" ? "\\boxed{" + expected + "}" : "Answer: " + expected;
        EXPECT_TRUE(reference.size() >= ending.size() &&
                    reference.compare(reference.size() - ending.size(), ending.size(), ending) == 0)
            << reference;
      }
      EXPECT_EQ(ops.size(), 3u);
    }
  }
  ArithmeticOptions bad;
  bad.difficulty = 9;
  EXPECT_FALSE(GenerateArithmeticTasks(0, 1, bad).ok());
  bad = ArithmeticOptions();
  bad.ops = {"/"};
  EXPECT_FALSE(GenerateArithmeticTasks(0, 1, bad).ok());
}

TEST(ArithmeticTasksTest, MathVerifierGradesReferenceCompletions) {
  absl::StatusOr<std::unique_ptr<Verifier>> math =
      BuiltinVerifiers().Create("math", json::object());
  if (!math.ok()) GTEST_SKIP() << "math verifier unavailable: " << math.status();
  for (const std::string format : {"boxed", "answer"}) {
    ArithmeticOptions options;
    options.difficulty = 4;
    options.answer_format = format;
    const std::vector<Task> tasks = *GenerateArithmeticTasks(11, 30, options);
    for (const Task& task : tasks) {
      VerifyRequest request;
      request.completion = task.metadata["reference_completion"];
      request.answer = task.gold;
      absl::StatusOr<Reward> reward = (*math)->Verify(request);
      ASSERT_TRUE(reward.ok()) << reward.status();
      EXPECT_EQ(reward->score, 1.0) << request.completion << "\n" << reward->details;
      request.completion = format == "boxed" ? "\\boxed{" + task.gold + "1}" : "Answer: 0.5";
      EXPECT_EQ((*math)->Verify(request)->score, 0.0) << request.completion;
    }
  }
}

TEST(CodeTasksTest, ReferenceSolutionsPassTheirTestsInPython) {
  if (!FileExists(RLVR_PYTHON)) GTEST_SKIP() << "no python at " << RLVR_PYTHON;
  std::string lines;
  std::set<std::string> families;
  for (int difficulty = 1; difficulty <= 3; ++difficulty) {
    CodeTaskOptions options;
    options.difficulty = difficulty;
    options.num_tests = 8;
    const std::vector<Task> tasks = *GenerateCodeTasks(difficulty, 40, options);
    for (const Task& task : tasks) {
      families.insert(task.metadata["family"].get<std::string>());
      EXPECT_EQ(task.verifier, "code");
      EXPECT_EQ(task.spec["tests"]["type"], "call");
      EXPECT_EQ(task.spec["tests"]["cases"].size(), 8u);
      lines += TaskToJson(task).dump() + "\n";
    }
  }
  EXPECT_EQ(families.size(), CodeTaskFamilies().size());
  const std::string dir = MakeTempDir("code");
  WriteFile(dir + "/tasks.jsonl", lines);
  EXPECT_EQ(RunCommand(std::string("'") + RLVR_PYTHON + "' '" + RLVR_SOURCE_DIR +
                       "/envs/testdata/check_code_tasks.py' '" + dir + "/tasks.jsonl'"),
            0);
}

TEST(CodeTasksTest, CodeVerifierGradesReferenceCompletions) {
  absl::StatusOr<std::unique_ptr<Verifier>> code =
      BuiltinVerifiers().Create("code", {{"sandbox", {{"allow_degraded", true}}}});
  if (!code.ok()) GTEST_SKIP() << "code verifier unavailable: " << code.status();
  // One task per family.
  std::map<std::string, Task> by_family;
  const std::vector<Task> tasks = *GenerateCodeTasks(3, 60, CodeTaskOptions());
  for (const Task& task : tasks) {
    by_family.emplace(task.metadata["family"].get<std::string>(), task);
  }
  for (const auto& [family, task] : by_family) {
    VerifyRequest request;
    request.completion = task.metadata["reference_completion"];
    request.spec = task.spec;
    absl::StatusOr<Reward> reward = (*code)->Verify(request);
    ASSERT_TRUE(reward.ok()) << reward.status();
    EXPECT_EQ(reward->score, 1.0) << family << ": " << reward->verdict << " " << reward->details;
    request.completion = "```python\ndef " + task.spec["tests"]["fn"].get<std::string>() +
                         "(*args):\n    return None\n```";
    EXPECT_EQ((*code)->Verify(request)->score, 0.0) << family;
  }
}

}  // namespace
}  // namespace rlvr
