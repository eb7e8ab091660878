#include "core/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "nlohmann/json.hpp"

namespace rlvr {
namespace {

using ::testing::HasSubstr;

Config Parse(const char* yaml) {
  absl::StatusOr<Config> c = Config::FromString(yaml, "test.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

TEST(ConfigTest, ReadsTypedValuesAndKeepsDefaults) {
  Config c = Parse("learner:\n  lr: 1.0e-6\n  steps: 10\n  name: run\n  bf16: true\n");
  ConfigReader r(c);
  double lr = 0;
  int64_t steps = 0;
  int missing = 7;
  std::string name;
  bool bf16 = false;
  EXPECT_TRUE(r.Read("learner.lr", &lr));
  EXPECT_TRUE(r.Read("learner.steps", &steps));
  EXPECT_TRUE(r.Read("learner.name", &name));
  EXPECT_TRUE(r.Read("learner.bf16", &bf16));
  EXPECT_FALSE(r.Read("learner.missing", &missing));
  EXPECT_TRUE(r.Finish().ok()) << r.Finish();
  EXPECT_DOUBLE_EQ(lr, 1e-6);
  EXPECT_EQ(steps, 10);
  EXPECT_EQ(name, "run");
  EXPECT_TRUE(bf16);
  EXPECT_EQ(missing, 7);
}

TEST(ConfigTest, UnknownKeyNamesKeyAndFile) {
  Config c = Parse("learner:\n  lr: 1\n  lrr: 2\n");
  ConfigReader r(c);
  double lr = 0;
  r.Read("learner.lr", &lr);
  absl::Status s = r.Finish();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("test.yaml: learner.lrr: unknown key"));
}

TEST(ConfigTest, WrongTypeAndOutOfRange) {
  Config c = Parse("a: abc\nb: -1\nc: [1, x]\n");
  ConfigReader r(c);
  double a = 0, b = 0;
  std::vector<int64_t> cs;
  EXPECT_FALSE(r.Read("a", &a));
  EXPECT_FALSE(r.Read("b", &b, {.min = 0}));
  EXPECT_FALSE(r.Read("c", &cs));
  std::string msg(r.Finish().message());
  EXPECT_THAT(msg, HasSubstr("test.yaml: a: expected a number, got \"abc\""));
  EXPECT_THAT(msg, HasSubstr("test.yaml: b: value -1 is outside the allowed range [0, inf)"));
  EXPECT_THAT(msg, HasSubstr("c: expected a list of integers"));
}

TEST(ConfigTest, OverridesWinAndAreAttributedToCommandLine) {
  Config c = Parse("learner:\n  lr: 1\n");
  ASSERT_TRUE(c.ApplyOverride("learner.lr=0.5").ok());
  ASSERT_TRUE(c.ApplyOverride("rollout.n=4").ok());
  ASSERT_TRUE(c.ApplyOverride("learner.typo=3").ok());
  ConfigReader r(c);
  double lr = 0;
  int n = 0;
  r.Read("learner.lr", &lr);
  r.Read("rollout.n", &n);
  EXPECT_EQ(lr, 0.5);
  EXPECT_EQ(n, 4);
  EXPECT_THAT(std::string(r.Finish().message()),
              HasSubstr("the command line: learner.typo: unknown key"));
}

TEST(ConfigTest, BadOverrides) {
  Config c = Parse("a: 1\n");
  EXPECT_EQ(c.ApplyOverride("novalue").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.ApplyOverride("=3").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.ApplyOverride("a.b=3").message()), HasSubstr("'a' is not a mapping"));
}

TEST(ConfigTest, SyntaxErrorNamesFileAndLine) {
  absl::StatusOr<Config> c = Config::FromString("a: 1\nb: [1, 2\n", "bad.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("bad.yaml:"));
  absl::StatusOr<Config> missing = Config::LoadFile("/nonexistent/x.yaml");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/x.yaml"));
}

TEST(ConfigTest, ChoiceAndJsonSubtree) {
  Config c = Parse("loss: gspoo\nverifier:\n  name: math\n  weights: [1, 2]\n");
  ConfigReader r(c);
  std::string loss = "grpo";
  nlohmann::json v;
  EXPECT_FALSE(r.ReadChoice("loss", &loss, {"grpo", "gspo"}));
  EXPECT_TRUE(r.ReadJson("verifier", &v));
  EXPECT_EQ(loss, "grpo");
  EXPECT_EQ(v["name"], "math");
  EXPECT_EQ(v["weights"][1], 2);
  EXPECT_THAT(std::string(r.Finish().message()), HasSubstr("'gspoo' is not one of: grpo, gspo"));
}

TEST(ConfigTest, ToYamlRoundTrips) {
  Config c = Parse("a:\n  b: 3\n");
  ASSERT_TRUE(c.ApplyOverride("a.c=x").ok());
  absl::StatusOr<Config> again = Config::FromString(c.ToYaml(), "again");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ToJson(), c.ToJson());
  EXPECT_EQ(c.ToJson()["a"]["b"], 3);
}

}  // namespace
}  // namespace rlvr
