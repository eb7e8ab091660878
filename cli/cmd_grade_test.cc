// `rlvr grade` end to end: runs the built binary on a small JSONL file.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class GradeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rlvr_grade_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(Path(name)) << text;
  }

  // Runs `rlvr grade ...`; returns the exit code, stderr in *err.
  int Grade(const std::string& args, std::string* err = nullptr) const {
    const std::string cmd = std::string(RLVR_CLI) + " grade " + args + " 2>" + Path("stderr");
    const int rc = std::system(cmd.c_str());
    if (err != nullptr) {
      std::ifstream e(Path("stderr"));
      std::stringstream ss;
      ss << e.rdbuf();
      *err = ss.str();
    }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }

  std::vector<json> ReadOutput(const std::string& name) const {
    std::ifstream in(Path(name));
    std::vector<json> out;
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line));
    return out;
  }

  fs::path dir_;
};

TEST_F(GradeTest, GradesInOrderAndKeepsGoingPastBadLines) {
  Write("in.jsonl", R"({"id": "a", "completion": "so \\boxed{\\frac12}", "answer": "0.5"})"
                    "\n"
                    R"({"id": 2, "completion": "the answer is 3", "answer": "4", "extra": [1]})"
                    "\n"
                    "this is not json\n"
                    "\n"
                    R"({"id": "c", "answer": "1"})"
                    "\n"
                    R"({"id": "d", "completion": 5, "answer": "5"})"
                    "\n"
                    R"({"id": "e", "completion": "\\boxed{7}", "answer": ""})"
                    "\n"
                    R"({"id": "f", "completion": "nothing", "answer": 12})"
                    "\n");
  std::string err;
  ASSERT_EQ(Grade("--verifier math --input " + Path("in.jsonl") + " --output " + Path("out.jsonl") +
                      " --threads 3",
                  &err),
            0)
      << err;
  std::vector<json> out = ReadOutput("out.jsonl");
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(out[0]["id"], "a");
  EXPECT_EQ(out[0]["verdict"], "correct");
  EXPECT_EQ(out[0]["reward"], 1.0);
  EXPECT_EQ(out[0]["extracted"], "\\frac12");
  EXPECT_TRUE(out[0].contains("normalized"));
  EXPECT_EQ(out[1]["id"], 2);
  EXPECT_EQ(out[1]["verdict"], "incorrect");
  EXPECT_EQ(out[1]["extra"], json::array({1}));
  EXPECT_EQ(out[2]["verdict"], "bad_input");
  EXPECT_EQ(out[2]["line"], 3);
  EXPECT_NE(out[2]["reason"].get<std::string>().find("line 3"), std::string::npos);
  EXPECT_EQ(out[3]["verdict"], "bad_input");  // line 5: no completion
  EXPECT_NE(out[3]["reason"].get<std::string>().find("completion"), std::string::npos);
  EXPECT_NE(out[3]["reason"].get<std::string>().find("line 5"), std::string::npos);
  EXPECT_EQ(out[4]["verdict"], "bad_input");  // completion is a number
  EXPECT_EQ(out[5]["verdict"], "bad_input");  // empty answer
  EXPECT_NE(out[5]["reason"].get<std::string>().find("answer"), std::string::npos);
  EXPECT_EQ(out[6]["verdict"], "no_answer");
  EXPECT_NE(err.find("\"bad_input\":4"), std::string::npos) << err;
  EXPECT_NE(err.find("per_second"), std::string::npos) << err;
}

TEST_F(GradeTest, ThreadsDoNotChangeTheOutput) {
  std::ifstream cases(std::string(RLVR_SOURCE_DIR) + "/verifiers/math/testdata/cases.jsonl");
  std::ofstream in(Path("in.jsonl"));
  std::string line;
  while (std::getline(cases, line)) {
    json c = json::parse(line);
    in << json{{"completion", c["completion"]}, {"answer", c["gold"]}}.dump() << "\n";
  }
  in.close();
  ASSERT_EQ(Grade("--verifier math --input " + Path("in.jsonl") + " --output " + Path("one.jsonl") +
                  " --threads 1"),
            0);
  ASSERT_EQ(Grade("--verifier math --input " + Path("in.jsonl") + " --output " +
                  Path("many.jsonl") + " --threads 8"),
            0);
  EXPECT_EQ(ReadOutput("one.jsonl"), ReadOutput("many.jsonl"));
}

TEST_F(GradeTest, ConfigAndOverridesReachTheVerifier) {
  Write("in.jsonl", R"({"completion": "about 3.14", "answer": "\\pi"})"
                    "\n");
  Write("cfg.yaml", "verifier:\n  rel_tol: 0.01\n");
  ASSERT_EQ(Grade("--verifier math --input " + Path("in.jsonl") + " --output " + Path("a.jsonl") +
                  " --config " + Path("cfg.yaml")),
            0);
  EXPECT_EQ(ReadOutput("a.jsonl")[0]["verdict"], "correct");
  ASSERT_EQ(Grade("--verifier math --input " + Path("in.jsonl") + " --output " + Path("b.jsonl") +
                  " --config " + Path("cfg.yaml") + " verifier.rel_tol=1e-9"),
            0);
  EXPECT_EQ(ReadOutput("b.jsonl")[0]["verdict"], "incorrect");
}

TEST_F(GradeTest, UnusableFilesOrConfigFail) {
  Write("in.jsonl", R"({"completion": "1", "answer": "1"})"
                    "\n");
  std::string err;
  EXPECT_NE(
      Grade("--verifier math --input " + Path("missing.jsonl") + " --output " + Path("o.jsonl"),
            &err),
      0);
  EXPECT_NE(err.find("missing.jsonl"), std::string::npos) << err;
  EXPECT_NE(Grade("--verifier math --input " + Path("in.jsonl") + " --output " +
                      Path("no/such/dir/o.jsonl"),
                  &err),
            0);
  EXPECT_NE(
      Grade("--verifier nosuch --input " + Path("in.jsonl") + " --output " + Path("o.jsonl"), &err),
      0);
  EXPECT_NE(err.find("nosuch"), std::string::npos) << err;
  EXPECT_NE(Grade("--verifier math --input " + Path("in.jsonl") + " --output " + Path("o.jsonl") +
                      " verifier.rel_tolerance=1",
                  &err),
            0);
  EXPECT_NE(err.find("rel_tolerance"), std::string::npos) << err;
}

}  // namespace
