// The plugin loader against the C example plugin (examples/plugin_verifier) and
// deliberately broken builds of it.
#include "verifiers/plugin/plugin_verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "verifiers/pipeline/pipeline.h"

namespace rlvr {
namespace {

using ::testing::HasSubstr;

// Set by CMake: directories holding the example plugin and the broken test builds.
const std::string kExampleDir = RLVR_EXAMPLE_PLUGIN_DIR;
const std::string kExample = RLVR_EXAMPLE_PLUGIN;
const std::string kBrokenDir = RLVR_BROKEN_PLUGIN_DIR;

VerifyRequest Req(std::string id, std::string completion, std::string answer) {
  VerifyRequest r;
  r.id = std::move(id);
  r.completion = std::move(completion);
  r.answer = std::move(answer);
  return r;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(PluginVerifierTest, GoodPluginGradesOneAndBatch) {
  auto v = LoadPluginVerifier(kExample, {{"scale", 2.5}}, {.allowed_dirs = {kExampleDir}});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ((*v)->name(), "plugin:exact_match");
  absl::StatusOr<Reward> r = (*v)->Verify(Req("a", " 42\n", "42"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->score, 2.5);
  EXPECT_EQ(r->verdict, "correct");
  EXPECT_EQ(r->details["answer_chars"], 2);
  r = (*v)->Verify(Req("b", "41", "42"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->score, 0.0);
  EXPECT_EQ(r->verdict, "incorrect");

  std::vector<VerifyRequest> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(Req(std::to_string(i), std::to_string(i % 3), "1"));
  absl::StatusOr<std::vector<Reward>> rewards = (*v)->VerifyBatch(batch);
  ASSERT_TRUE(rewards.ok()) << rewards.status();
  ASSERT_EQ(rewards->size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ((*rewards)[i].score, i % 3 == 1 ? 2.5 : 0.0) << i;
}

TEST(PluginVerifierTest, BareNameIsFoundInAllowedDirsAndRegistryCreatesIt) {
  const std::string file = kExample.substr(kExample.rfind('/') + 1);
  auto v = BuiltinVerifiers().Create("plugin", {{"library", file},
                                                {"plugin_dirs", {kBrokenDir, kExampleDir}},
                                                {"config", nlohmann::json::object()}});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ((*v)->Verify(Req("a", "x", "x"))->score, 1.0);
}

TEST(PluginVerifierTest, RefusesPathOutsideAllowedDirs) {
  absl::Status s = LoadPluginVerifier(kExample, {}, {.allowed_dirs = {kBrokenDir}}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(Message(s), HasSubstr(kExample.substr(kExample.rfind('/'))));
  EXPECT_THAT(Message(s), HasSubstr("outside the allowed plugin directories"));
  // A relative escape resolves to the same file and is refused the same way.
  s = LoadPluginVerifier(kBrokenDir + "/../../examples/plugin_verifier/" +
                             kExample.substr(kExample.rfind('/') + 1),
                         {}, {.allowed_dirs = {kBrokenDir}})
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  s = LoadPluginVerifier(kExample, {}, {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  s = LoadPluginVerifier("libnope.so", {}, {.allowed_dirs = {kExampleDir}}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(s), HasSubstr("libnope.so"));
}

TEST(PluginVerifierTest, WrongAbiVersionNamesTheFile) {
  const std::string path = kBrokenDir + "/libplugin_bad_version.so";
  absl::Status s = LoadPluginVerifier(path, {}, {.allowed_dirs = {kBrokenDir}}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("libplugin_bad_version.so"));
  EXPECT_THAT(Message(s), HasSubstr("ABI version mismatch: plugin has 99, rlvr needs 1"));
}

TEST(PluginVerifierTest, MissingSymbolNamesTheFile) {
  absl::Status s =
      LoadPluginVerifier(kBrokenDir + "/libplugin_no_entry.so", {}, {.allowed_dirs = {kBrokenDir}})
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("libplugin_no_entry.so"));
  EXPECT_THAT(Message(s), HasSubstr("missing symbol 'rlvr_verifier_plugin_v1'"));
  s = LoadPluginVerifier(kBrokenDir + "/libplugin_null_function.so", {},
                         {.allowed_dirs = {kBrokenDir}})
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("libplugin_null_function.so"));
  EXPECT_THAT(Message(s), HasSubstr("missing function 'verify_batch'"));
}

TEST(PluginVerifierTest, BadConfigAndNaNAreErrorsNamingThePlugin) {
  absl::Status s =
      LoadPluginVerifier(kExample, {{"scale", "big"}}, {.allowed_dirs = {kExampleDir}}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s),
              HasSubstr("create() refused the config: config field 'scale' must be a number"));

  auto nan =
      LoadPluginVerifier(kBrokenDir + "/libplugin_nan.so", {}, {.allowed_dirs = {kBrokenDir}});
  ASSERT_TRUE(nan.ok()) << nan.status();
  s = (*nan)->Verify(Req("a", "1", "1")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(Message(s), HasSubstr("plugin:exact_match"));
  EXPECT_THAT(Message(s), HasSubstr("non-finite"));
  EXPECT_EQ((*nan)->VerifyBatch({Req("a", "1", "1")}).status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace rlvr
