// End to end: `rlvr grade --verifier code` over a JSONL file with every test format, a
// malformed line and a hostile line; grading goes on past bad lines, order is kept.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"

namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

TEST(GradeCodeTest, GradesEveryFormatAndReportsBadInput) {
  char dir_template[] = "/tmp/rlvr_grade_code_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string in = dir + "/in.jsonl", out = dir + "/out.jsonl";
  const std::vector<json> lines = {
      {{"id", "mbpp-ok"},
       {"completion", "```python\ndef add(a, b):\n    return a + b\n```"},
       {"tests",
        {{"type", "assert"}, {"code", {"assert add(1, 2) == 3", "assert add(0, 0) == 0"}}}}},
      {{"id", "mbpp-wrong"},
       {"completion", "def add(a, b):\n    return a - b\n"},
       {"tests",
        {{"type", "assert"}, {"code", {"assert add(1, 2) == 3", "assert add(0, 0) == 0"}}}}},
      {{"id", "stdio"},
       {"completion", "print(sum(map(int, input().split())))"},
       {"tests", {{"type", "stdio"}, {"cases", {{{"input", "2 3\n"}, {"output", "5"}}}}}}},
      {{"id", "call"},
       {"completion", "def sq(x):\n    return x * x\n"},
       {"tests",
        json::parse(R"({"type": "call", "fn": "sq", "cases": [{"args": [3], "expected": 9}]})")}},
      {{"id", "malformed"}, {"completion", "x"}, {"tests", {{"type", "stdio"}}}},
      {{"id", "cpp"},
       {"language", "cpp"},
       {"completion",
        "#include <cstdio>\nint main(){int a,b;scanf(\"%d %d\",&a,&b);printf(\"%d\\n\",a*b);}"},
       {"tests", {{"type", "stdio"}, {"cases", {{{"input", "6 7"}, {"output", "42"}}}}}}},
      {{"id", "exit-early"},
       {"completion", "import os\nos._exit(0)\n"},
       {"tests", {{"type", "assert"}, {"code", "assert False"}}}},
  };
  {
    std::ofstream f(in);
    for (size_t i = 0; i < lines.size(); ++i) {
      f << lines[i].dump() << "\n";
      if (i == 2) f << "{not json\n";
    }
  }
  const std::string cmd = std::string(RLVR_CLI) + " grade --verifier code --input " + in +
                          " --output " + out + " --threads 2 2>" + dir + "/stderr.txt";
  const int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << cmd;

  std::ifstream f(out);
  std::vector<json> got;
  for (std::string line; std::getline(f, line);) got.push_back(json::parse(line));
  ASSERT_EQ(got.size(), lines.size() + 1);
  auto expect = [&](size_t i, const std::string& id, const std::string& verdict, double reward) {
    SCOPED_TRACE(got[i].dump());
    if (!id.empty()) EXPECT_EQ(got[i]["id"], id);
    EXPECT_EQ(got[i]["verdict"], verdict);
    EXPECT_EQ(got[i]["reward"].get<double>(), reward);
  };
  expect(0, "mbpp-ok", "passed", 1.0);
  EXPECT_EQ(got[0]["tests"].size(), 2u);
  EXPECT_TRUE(got[0]["tests"][0].contains("time_s"));
  expect(1, "mbpp-wrong", "wrong_answer", 0.0);
  expect(2, "stdio", "passed", 1.0);
  expect(3, "", "bad_input", 0.0);  // the invalid JSON line
  expect(4, "call", "passed", 1.0);
  expect(5, "malformed", "bad_input", 0.0);
  EXPECT_THAT(got[5]["reason"].get<std::string>(), HasSubstr("tests.cases"));
  expect(6, "cpp", "passed", 1.0);
  expect(7, "exit-early", "runtime_error", 0.0);
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
