#include "envs/template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "envs/test_util.h"
#include "rlvr/test_paths.h"

namespace rlvr {
namespace {

using ::rlvr::testing_util::FileExists;
using ::rlvr::testing_util::MakeTempDir;
using ::rlvr::testing_util::ReadFile;
using ::rlvr::testing_util::RunCommand;
using ::rlvr::testing_util::WriteFile;
using json = nlohmann::json;

Task PromptTask(const std::string& prompt) {
  Task t;
  t.id = "x";
  t.prompt = prompt;
  return t;
}

// The conversations rendered by both rlvr and transformers.
struct Case {
  std::vector<Message> messages;
  TemplateOptions options;
};

std::vector<Case> Cases(const std::string& format) {
  std::vector<Case> cases;
  TemplateOptions base;
  base.format = format;

  cases.push_back({BuildMessages(PromptTask("What is 2+2?"), base), base});

  TemplateOptions sys = base;
  sys.system_prompt = "You are a careful mathematician.";
  sys.user_suffix = "Put the final answer in \\boxed{}.";
  cases.push_back({BuildMessages(PromptTask("  Leading and trailing spaces \n"), sys), sys});

  TemplateOptions shots = sys;
  shots.few_shot = {{"1+1?", "2 is \\boxed{2}."},
                    {"3*3?", "<think>\nmultiply\n</think>\n\nThe answer is \\boxed{9}."}};
  cases.push_back({BuildMessages(PromptTask("12*12?"), shots), shots});

  Task chat;
  chat.id = "c";
  chat.messages = {{"system", "Own system."},
                   {"user", "first"},
                   {"assistant", "reply"},
                   {"user", "second\nline"}};
  cases.push_back({BuildMessages(chat, sys), sys});

  if (format == "qwen") {
    TemplateOptions no_think = base;
    no_think.enable_thinking = false;
    cases.push_back({BuildMessages(PromptTask("Quick: 5-3?"), no_think), no_think});
    // A conversation ending with an assistant turn after the last query (reasoning kept),
    // and tool responses: the parts of Qwen3's template the tool env relies on.
    TemplateOptions no_gen = base;
    no_gen.add_generation_prompt = false;
    cases.push_back({{{"user", "compute"},
                      {"assistant", "<think>\nplan\n</think>\n\ncalling"},
                      {"tool", "out1"},
                      {"tool", "out2"},
                      {"assistant", "done"}},
                     no_gen});
  }
  return cases;
}

const char kQwenDir[] = RLVR_SHARED_DIR "/fixtures/qwen3-tokenizer";
const char kLlamaDir[] = RLVR_SOURCE_DIR "/envs/testdata/llama3_tokenizer";

void WriteCases(const std::string& path, const std::vector<Case>& cases) {
  json input = json::array();
  for (const Case& c : cases) {
    json messages = json::array();
    for (const Message& m : c.messages)
      messages.push_back({{"role", m.role}, {"content", m.content}});
    json kwargs = {{"add_generation_prompt", c.options.add_generation_prompt}};
    if (!c.options.enable_thinking) kwargs["enable_thinking"] = false;
    input.push_back({{"messages", messages}, {"kwargs", kwargs}});
  }
  WriteFile(path, input.dump());
}

// Renders every case with transformers' apply_chat_template, in one python run.
class ChatTemplateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!FileExists(RLVR_PYTHON)) return;
    dir_ = new std::string(MakeTempDir("tmpl"));
    std::string command = std::string("'") + RLVR_PYTHON + "' '" + RLVR_SOURCE_DIR +
                          "/envs/testdata/render_chat_template.py'";
    for (const char* format : {"qwen", "llama3"}) {
      const std::string tokenizer_dir = std::string(format) == "qwen" ? kQwenDir : kLlamaDir;
      if (!FileExists(tokenizer_dir + "/tokenizer_config.json")) continue;
      WriteCases(*dir_ + "/" + format + ".json", Cases(format));
      command += " '" + tokenizer_dir + "' '" + *dir_ + "/" + format + ".json' '" + *dir_ + "/" +
                 format + ".out.json'";
    }
    rc_ = RunCommand(command);
    if (rc_ != 0) ADD_FAILURE() << command;
  }

  void Compare(const std::string& format) {
    const std::string out = *dir_ + "/" + format + ".out.json";
    ASSERT_TRUE(FileExists(out)) << "no reference output " << out;
    std::vector<Case> cases = Cases(format);
    std::vector<std::string> expected = json::parse(ReadFile(out)).get<std::vector<std::string>>();
    ASSERT_EQ(expected.size(), cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
      EXPECT_EQ(RenderMessages(cases[i].messages, cases[i].options), expected[i]) << "case " << i;
    }
  }

  static std::string* dir_;
  static int rc_;
};
std::string* ChatTemplateTest::dir_ = nullptr;
int ChatTemplateTest::rc_ = 0;

TEST_F(ChatTemplateTest, QwenMatchesTransformersApplyChatTemplate) {
  if (!FileExists(RLVR_PYTHON)) GTEST_SKIP() << "no python at " << RLVR_PYTHON;
  if (!FileExists(std::string(kQwenDir) + "/tokenizer_config.json")) {
    GTEST_SKIP() << "Qwen3 tokenizer fixture absent: " << kQwenDir;
  }
  Compare("qwen");
}

TEST_F(ChatTemplateTest, Llama3MatchesTransformersApplyChatTemplate) {
  if (!FileExists(RLVR_PYTHON)) GTEST_SKIP() << "no python at " << RLVR_PYTHON;
  Compare("llama3");
}

TEST(TemplateTest, BuildMessagesOrdersSystemFewShotAndTask) {
  TemplateOptions options;
  options.system_prompt = "S";
  options.few_shot = {{"q1", "a1"}};
  options.user_suffix = "Think.";
  std::vector<Message> m = BuildMessages(PromptTask("q"), options);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].role, "system");
  EXPECT_EQ(m[1].content, "q1\n\nThink.");
  EXPECT_EQ(m[2].role, "assistant");
  EXPECT_EQ(m[3].content, "q\n\nThink.");
  Task chat;
  chat.messages = {{"system", "own"}, {"user", "u"}};
  m = BuildMessages(chat, options);
  EXPECT_EQ(m[0].content, "own");  // the task's system turn wins
  EXPECT_EQ(m.size(), 4u);
}

TEST(TemplateTest, Plain) {
  TemplateOptions options;
  options.format = "plain";
  options.system_prompt = "Solve.";
  options.few_shot = {{"1+1", "2"}};
  EXPECT_EQ(RenderPrompt(PromptTask("2+2"), options),
            "Solve.\n\nUser: 1+1\n\nAssistant: 2\n\nUser: 2+2\n\nAssistant:");
  EXPECT_EQ(EndOfTurn(options), "");
  options.format = "bogus";
  EXPECT_FALSE(ValidateTemplateOptions(options).ok());
}

}  // namespace
}  // namespace rlvr
