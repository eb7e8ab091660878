// Grading formats of the code verifier: MBPP test_list asserts, HumanEval check(), stdio
// cases with the tolerant comparator, call cases; sentinel; per-test limits; C++.
#include "verifiers/code/code_verifier.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "verifiers/code/compare.h"
#include "verifiers/code/task.h"
#include "verifiers/registry.h"

namespace rlvr {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

// ---- pure functions -------------------------------------------------------------------

TEST(ExtractCodeTest, LastFencedBlockElseWholeText) {
  EXPECT_EQ(code::ExtractCode("plain\ncode"), "plain\ncode");
  EXPECT_EQ(code::ExtractCode("a\n```python\nx = 1\n```\nthen\n```py\ny = 2\n```\nbye"), "y = 2\n");
  EXPECT_EQ(code::ExtractCode("text\n```\nunterminated\nrest"), "unterminated\nrest\n");
  EXPECT_EQ(code::ExtractCode("~~~cpp\nint main(){}\n~~~"), "int main(){}\n");
}

TEST(ParseCodeTaskTest, NamesTheBadField) {
  auto err = [](const json& spec) {
    auto t = code::ParseCodeTask("x", spec);
    EXPECT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(t.status().message());
  };
  EXPECT_THAT(err(json::object()), HasSubstr("tests: missing"));
  EXPECT_THAT(err({{"tests", {{"type", "fuzz"}}}}), HasSubstr("tests.type"));
  EXPECT_THAT(
      err({{"tests",
            {{"type", "stdio"},
             {"cases", {{{"input", "1"}, {"output", "1"}}, {{"input", "2"}, {"output", 2}}}}}}}),
      HasSubstr("tests.cases[1].output"));
  EXPECT_THAT(err({{"tests", {{"type", "assert"}}}}), HasSubstr("tests.code"));
  EXPECT_THAT(err({{"language", "rust"}, {"tests", {{"type", "assert"}, {"code", "assert 1"}}}}),
              HasSubstr("language"));
  EXPECT_THAT(err({{"language", "cpp"},
                   {"tests", {{"type", "call"}, {"fn", "f"}, {"cases", {{{"expected", 1}}}}}}}),
              HasSubstr("tests.type"));
  EXPECT_THAT(err({{"timeout_s", -1}, {"tests", {{"type", "assert"}, {"code", "assert 1"}}}}),
              HasSubstr("timeout_s"));
  auto ok = code::ParseCodeTask(
      "```python\nx=1\n```", {{"tests", {{"type", "assert"}, {"code", {"assert x", "assert 1"}}}}});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->assert_code, "assert x\nassert 1");
  EXPECT_EQ(ok->program, "x=1\n");
}

TEST(CompareTest, TolerantStdout) {
  EXPECT_TRUE(code::OutputsMatch("1 2  \n3\n\n\n", "1 2\n3", 0));
  EXPECT_TRUE(code::OutputsMatch("0.3333333\n", "0.33333333\n", 1e-6));
  EXPECT_FALSE(code::OutputsMatch("0.3333\n", "0.33333333\n", 1e-6));
  EXPECT_TRUE(code::OutputsMatch("1000000.5\n", "1000000.4\n", 1e-6));  // relative
  EXPECT_FALSE(code::OutputsMatch("1\n2\n", "1\n", 1e-6));
  EXPECT_FALSE(code::OutputsMatch("abc\n", "abd\n", 1e-6));
  EXPECT_FALSE(code::OutputsMatch("1 2\n", "12\n", 1e-6));
  EXPECT_FALSE(code::OutputsMatch("nan\n", "nan\n", 1e-6) && false);
}

TEST(CompareTest, JsonValues) {
  EXPECT_TRUE(code::ValuesMatch(json::parse("[1, 2.0000000001, {\"a\": [true]}]"),
                                json::parse("[1, 2, {\"a\": [true]}]"), 1e-6));
  EXPECT_FALSE(code::ValuesMatch(json(true), json(1), 1e-6));
  EXPECT_FALSE(code::ValuesMatch(json::parse("[1, 2]"), json::parse("[1, 2, 3]"), 1e-6));
  EXPECT_FALSE(code::ValuesMatch(json::parse("{\"a\": 1}"), json::parse("{\"b\": 1}"), 1e-6));
  EXPECT_TRUE(code::ValuesMatch(json(0.1 + 0.2), json(0.3), 1e-9));
  EXPECT_FALSE(code::ValuesMatch(json(3), json(4), 0.1));
}

// ---- grading in the sandbox -----------------------------------------------------------

class CodeVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto v = CodeVerifier::Create(CodeVerifierOptions());
    ASSERT_TRUE(v.ok()) << v.status();
    verifier_ = v->release();
  }
  static void TearDownTestSuite() {
    delete verifier_;
    verifier_ = nullptr;
  }
  static Reward Grade(const std::string& completion, const json& spec,
                      const Verifier* v = nullptr) {
    VerifyRequest req;
    req.id = "t";
    req.completion = completion;
    req.spec = spec;
    auto r = (v ? v : verifier_)->Verify(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Reward{};
  }
  static std::vector<std::string> Verdicts(const Reward& r) {
    std::vector<std::string> out;
    for (const json& t : r.details["tests"]) out.push_back(t["verdict"].get<std::string>());
    return out;
  }
  static CodeVerifier* verifier_;
};
CodeVerifier* CodeVerifierTest::verifier_ = nullptr;

const json kMbpp = {
    {"tests",
     {{"type", "assert"},
      {"code",
       {"assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)",
        "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)",
        "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)"}}}}};

TEST_F(CodeVerifierTest, MbppTestListPasses) {
  Reward r = Grade(
      "Here you go:\n```python\ndef similar_elements(a, b):\n"
      "    return tuple(sorted(set(a) & set(b)))\n```\n",
      kMbpp);
  EXPECT_EQ(r.verdict, "passed") << r.details.dump();
  EXPECT_EQ(r.score, 1.0);
  EXPECT_THAT(Verdicts(r), ElementsAre("passed", "passed", "passed"));
  EXPECT_TRUE(r.details["tests"][0]["time_s"].is_number());
}

TEST_F(CodeVerifierTest, MbppOneWrongTest) {
  // Wrong only when 3 is common: the second test fails.
  const std::string prog =
      "def similar_elements(a, b):\n"
      "    s = set(a) & set(b)\n"
      "    return tuple(sorted(s - {3}))\n";
  Reward r = Grade(prog, kMbpp);
  EXPECT_EQ(r.verdict, "wrong_answer");
  EXPECT_EQ(r.score, 0.0);
  EXPECT_THAT(Verdicts(r), ElementsAre("passed", "wrong_answer", "passed"));

  auto opts = CodeVerifierOptionsFromJson({{"reward", "fraction"}, {"workers", 1}});
  ASSERT_TRUE(opts.ok());
  auto fraction = CodeVerifier::Create(*opts);
  ASSERT_TRUE(fraction.ok()) << fraction.status();
  Reward f = Grade(prog, kMbpp, fraction->get());
  EXPECT_NEAR(f.score, 2.0 / 3.0, 1e-12);
}

TEST_F(CodeVerifierTest, HumanEvalCheckEntryPoint) {
  const json spec = {{"tests",
                      {{"type", "assert"},
                       {"entry_point", "has_close_elements"},
                       {"code",
                        "METADATA = {}\n\n"
                        "def check(candidate):\n"
                        "    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True\n"
                        "    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False\n"
                        "    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True\n"}}}};
  const std::string good =
      "from typing import List\n\n"
      "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
      "    for i, a in enumerate(numbers):\n"
      "        for j, b in enumerate(numbers):\n"
      "            if i != j and abs(a - b) < threshold:\n"
      "                return True\n"
      "    return False\n";
  Reward ok = Grade(good, spec);
  EXPECT_EQ(ok.verdict, "passed") << ok.details.dump();
  EXPECT_THAT(Verdicts(ok), ElementsAre("passed"));
  Reward bad = Grade("def has_close_elements(numbers, threshold):\n    return True\n", spec);
  EXPECT_EQ(bad.verdict, "wrong_answer");
  Reward missing = Grade("def other(): pass\n", spec);
  EXPECT_EQ(missing.verdict, "runtime_error");
}

TEST_F(CodeVerifierTest, StdioWithTolerantComparator) {
  const json spec = {{"tests",
                      {{"type", "stdio"},
                       {"cases",
                        {{{"input", "1 2\n"}, {"output", "3\n0.5\n"}},
                         {{"input", "10 3\n"}, {"output", "13\n3.333333333\n"}}}}}}};
  Reward ok = Grade("a, b = map(int, input().split())\nprint(a + b, '  ')\nprint(a / b)\n\n", spec);
  EXPECT_EQ(ok.verdict, "passed") << ok.details.dump();
  EXPECT_THAT(Verdicts(ok), ElementsAre("passed", "passed"));
  Reward wrong = Grade("a, b = map(int, input().split())\nprint(a + b)\nprint(a // b)\n", spec);
  EXPECT_THAT(Verdicts(wrong), ElementsAre("wrong_answer", "wrong_answer"));
  Reward crash =
      Grade("a, b = map(int, input().split())\nprint(a + b)\nprint(1 / (a - 1))\n", spec);
  EXPECT_THAT(Verdicts(crash), ElementsAre("runtime_error", "wrong_answer"));
  EXPECT_EQ(crash.verdict, "runtime_error");
}

TEST_F(CodeVerifierTest, CallCases) {
  const json spec = json::parse(R"({"tests": {"type": "call", "fn": "minmax", "cases": [
      {"args": [[3, 1, 2]], "expected": [1, 3]},
      {"args": [[5]], "expected": [5, 5]},
      {"args": [[0.1, 0.2]], "expected": [0.1, 0.2]}]}})");
  Reward ok = Grade("def minmax(xs):\n    return (min(xs), max(xs))\n", spec);
  EXPECT_EQ(ok.verdict, "passed") << ok.details.dump();
  Reward wrong =
      Grade("def minmax(xs):\n    return [min(xs), max(xs) if len(xs) > 1 else 0]\n", spec);
  EXPECT_THAT(Verdicts(wrong), ElementsAre("passed", "wrong_answer", "passed"));
  // An object that claims equality with everything is not a value.
  Reward trick = Grade(
      "class Any:\n    def __eq__(self, o): return True\n"
      "def minmax(xs):\n    return Any()\n",
      spec);
  EXPECT_THAT(Verdicts(trick), ElementsAre("wrong_answer", "wrong_answer", "wrong_answer"));
}

TEST_F(CodeVerifierTest, EarlyExitFailsDespiteExitCodeZero) {
  for (const char* exit : {"import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n"}) {
    Reward r = Grade(std::string("def similar_elements(a, b):\n    return ()\n") + exit, kMbpp);
    EXPECT_EQ(r.verdict, "runtime_error") << exit;
    EXPECT_EQ(r.score, 0.0);
  }
  // Exiting inside the function under test, after printing a fake sentinel.
  Reward r = Grade(
      "import os\n"
      "def similar_elements(a, b):\n"
      "    os.write(3, b'deadbeef done\\n'); print('done'); os._exit(0)\n",
      kMbpp);
  EXPECT_EQ(r.verdict, "runtime_error");
  EXPECT_EQ(r.score, 0.0);
}

TEST_F(CodeVerifierTest, PerTestCpuLimit) {
  const json spec = {
      {"timeout_s", 0.5},
      {"tests",
       {{"type", "assert"}, {"code", "assert f(1) == 1\nassert f(0) == 0\nassert f(2) == 2\n"}}}};
  Reward r = Grade("def f(x):\n    while x == 0: pass\n    return x\n", spec);
  EXPECT_THAT(Verdicts(r), ElementsAre("passed", "timeout", "passed"));
  EXPECT_EQ(r.verdict, "timeout");
  EXPECT_GE(r.details["tests"][1]["time_s"].get<double>(), 0.5);
}

TEST_F(CodeVerifierTest, BadTestCodeIsBadInput) {
  VerifyRequest req;
  req.completion = "x = 1";
  req.spec = {{"tests", {{"type", "assert"}, {"code", "assert (x ==\n"}}}};
  auto r = verifier_->Verify(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("tests.code"));
}

TEST_F(CodeVerifierTest, CppStdio) {
  const json spec = {
      {"language", "cpp"},
      {"tests",
       {{"type", "stdio"},
        {"cases",
         {{{"input", "2 3\n"}, {"output", "5\n"}}, {{"input", "-1 1\n"}, {"output", "0\n"}}}}}}};
  Reward ok = Grade(
      "```cpp\n#include <iostream>\nint main() { long a, b; std::cin >> a >> b; "
      "std::cout << a + b << \"\\n\"; }\n```",
      spec);
  EXPECT_EQ(ok.verdict, "passed") << ok.details.dump();
  Reward bad = Grade("int main() { return undefined_name; }", spec);
  EXPECT_EQ(bad.verdict, "compile_error");
  EXPECT_THAT(Verdicts(bad), ElementsAre("compile_error", "compile_error"));
  EXPECT_THAT(bad.details["error"].get<std::string>(), HasSubstr("undefined_name"));
}

TEST_F(CodeVerifierTest, CppAssert) {
  const json spec = {
      {"language", "cpp"},
      {"tests",
       {{"type", "assert"},
        {"code", "#include <cassert>\nint main() { assert(sq(3) == 9); return 0; }"}}}};
  EXPECT_EQ(Grade("int sq(int x) { return x * x; }", spec).verdict, "passed");
  EXPECT_EQ(Grade("int sq(int x) { return x + x; }", spec).verdict, "wrong_answer");
  EXPECT_EQ(Grade("#include <cstdlib>\nint sq(int x) { std::exit(0); }", spec).verdict,
            "runtime_error");
}

TEST(CodeVerifierRegistryTest, BuiltinAndConfigErrors) {
  auto v = BuiltinVerifiers().Create("code", json::object());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ((*v)->name(), "code");
  auto bad = BuiltinVerifiers().Create("code", {{"reward", "half"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("verifier.reward"));
  auto unknown = CodeVerifierOptionsFromJson({{"sandbox", {{"allow_degradd", true}}}});
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("verifier.sandbox.allow_degradd"));
}

}  // namespace
}  // namespace rlvr
