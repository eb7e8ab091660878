// Tokenizer tests. The oracle is HF `tokenizers` (core/testdata/tokenizer/
// tokenizer_oracle.py run with RLVR_PYTHON): ids and decoded text must be identical on
// a varied corpus for the real Qwen3 vocabulary, for tiny GPT-2-, Llama-3- and
// custom-style tokenizers trained by the oracle, and for the built-in tokenizer saved
// to disk.
#include "core/tokenizer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"

namespace rlvr {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kTestData = std::string(RLVR_SOURCE_DIR) + "/core/testdata/tokenizer";
const std::string kCorpus = kTestData + "/corpus.jsonl";
const std::string kOracle = kTestData + "/tokenizer_oracle.py";
const std::string kQwenDir = std::string(RLVR_SHARED_DIR) + "/fixtures/qwen3-tokenizer";

std::string TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "tokenizer_test_XXXXXX").string();
  const char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

std::vector<json> ReadJsonl(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

std::vector<std::string> CorpusTexts() {
  std::vector<std::string> texts;
  for (const json& j : ReadJsonl(kCorpus)) texts.push_back(j["text"].get<std::string>());
  return texts;
}

// Runs the oracle script; returns false (with a test failure) when it fails.
bool RunOracle(const std::string& args) {
  const std::string cmd = absl::StrCat("'", RLVR_PYTHON, "' '", kOracle, "' ", args, " 2>&1");
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << "oracle failed: " << cmd;
  return rc == 0;
}

// Compares `tok` with the oracle's output for the corpus, line by line.
void ExpectMatchesOracle(const Tokenizer& tok, const std::string& oracle_jsonl) {
  const std::vector<std::string> texts = CorpusTexts();
  const std::vector<json> expected = ReadJsonl(oracle_jsonl);
  ASSERT_EQ(texts.size(), expected.size());
  int failures = 0;
  for (size_t i = 0; i < texts.size() && failures < 5; ++i) {
    const json& e = expected[i];
    const std::vector<int32_t> ids = tok.Encode(texts[i]);
    const std::vector<int32_t> half(ids.begin(), ids.begin() + ids.size() / 2);
    const bool ok = ids == e["ids"].get<std::vector<int32_t>>() &&
                    tok.Encode(texts[i], true) == e["ids_special"].get<std::vector<int32_t>>() &&
                    tok.Decode(ids) == e["decoded"].get<std::string>() &&
                    tok.Decode(ids, true) == e["decoded_skip"].get<std::string>() &&
                    tok.Decode(half) == e["decoded_half"].get<std::string>();
    if (!ok) {
      ++failures;
      ADD_FAILURE() << "corpus line " << i + 1 << ": " << json(texts[i]).dump()
                    << "\n  hf:   " << e.dump() << "\n  rlvr: "
                    << json({{"ids", ids},
                             {"ids_special", tok.Encode(texts[i], true)},
                             {"decoded", tok.Decode(ids)},
                             {"decoded_skip", tok.Decode(ids, true)},
                             {"decoded_half", tok.Decode(half)}})
                           .dump(-1, ' ', false, json::error_handler_t::replace);
    }
  }
}

class QwenTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kQwenDir + "/tokenizer.json")) return;
    absl::StatusOr<Tokenizer> tok = Tokenizer::FromFile(kQwenDir);
    ASSERT_TRUE(tok.ok()) << tok.status();
    qwen_ = new Tokenizer(*std::move(tok));
  }
  void SetUp() override {
    if (qwen_ == nullptr) {
      GTEST_SKIP() << "shared fixture " << kQwenDir
                   << "/tokenizer.json is absent (RLVR_SHARED_DIR); skipping the Qwen3 tests";
    }
  }
  static Tokenizer* qwen_;
};
Tokenizer* QwenTokenizerTest::qwen_ = nullptr;

TEST_F(QwenTokenizerTest, MatchesHfOnCorpus) {
  const std::string dir = TempDir();
  ASSERT_TRUE(
      RunOracle(absl::StrCat("encode '", kQwenDir, "' '", kCorpus, "' '", dir, "/qwen.jsonl'")));
  ExpectMatchesOracle(*qwen_, dir + "/qwen.jsonl");

  // decode(encode(x)) == x, except where NFC changes x (then it is NFC(x)).
  const std::vector<json> expected = ReadJsonl(dir + "/qwen.jsonl");
  const std::vector<std::string> texts = CorpusTexts();
  int nfc_lines = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string nfc = expected[i]["nfc"].get<std::string>();
    nfc_lines += nfc != texts[i];
    EXPECT_EQ(qwen_->Decode(qwen_->Encode(texts[i])), nfc) << "corpus line " << i + 1;
  }
  EXPECT_GT(texts.size() - nfc_lines, 250u);  // most lines are already NFC
  fs::remove_all(dir);
}

TEST_F(QwenTokenizerTest, VocabularyAndConfig) {
  EXPECT_EQ(qwen_->vocab_size(), 151669);
  EXPECT_EQ(qwen_->TokenToId("<|im_end|>"), 151645);
  EXPECT_EQ(qwen_->eos_id(), 151645);  // tokenizer_config.json: eos_token <|im_end|>
  EXPECT_EQ(qwen_->pad_id(), 151643);  // pad_token <|endoftext|>
  EXPECT_EQ(qwen_->bos_id(), std::nullopt);
  EXPECT_TRUE(qwen_->IsSpecial(151645));
  EXPECT_FALSE(qwen_->IsSpecial(151667));  // <think> is added but not special
  EXPECT_EQ(qwen_->IdToToken(151667), "<think>");
  EXPECT_EQ(qwen_->IdToToken(1000000), std::nullopt);
  EXPECT_NE(qwen_->chat_template().find("<|im_start|>"), std::string::npos);
  // Unknown ids are skipped when decoding, as HF does.
  EXPECT_EQ(qwen_->Decode({-1, 9707, 99999999}), qwen_->Decode({9707}));
}

TEST_F(QwenTokenizerTest, ConcurrentEncodeMatchesSequential) {
  const std::vector<std::string> texts = CorpusTexts();
  std::vector<std::vector<int32_t>> expected;
  for (const std::string& t : texts) expected.push_back(qwen_->Encode(t));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = t; i < texts.size(); i += 1 + t % 2) {
          if (qwen_->Encode(texts[i]) != expected[i]) ++mismatches;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(QwenTokenizerTest, InvalidUtf8IsEncodedAsBytes) {
  const std::string text = "ok \xff\xfe bad \xe4\xb8 cut";
  const std::vector<int32_t> ids = qwen_->Encode(text);
  EXPECT_FALSE(ids.empty());
  // Decoding gives U+FFFD for the invalid bytes, as HF's lossy decoding does.
  EXPECT_EQ(qwen_->Decode(ids), "ok \xEF\xBF\xBD\xEF\xBF\xBD bad \xEF\xBF\xBD cut");
}

class TinyTokenizerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyTokenizerTest, MatchesHfOnCorpus) {
  const std::string dir = TempDir();
  ASSERT_TRUE(RunOracle(absl::StrCat("train ", GetParam(), " '", kCorpus, "' '", dir, "'")));
  ASSERT_TRUE(
      RunOracle(absl::StrCat("encode '", dir, "' '", kCorpus, "' '", dir, "/oracle.jsonl'")));
  absl::StatusOr<Tokenizer> tok = Tokenizer::FromFile(dir);
  ASSERT_TRUE(tok.ok()) << tok.status();
  ExpectMatchesOracle(*tok, dir + "/oracle.jsonl");
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Styles, TinyTokenizerTest,
                         ::testing::Values("gpt2", "llama3", "custom", "custom2"));

TEST(BuiltinTokenizerTest, SavedFileEncodesIdenticallyInHf) {
  const Tokenizer tok = Tokenizer::Builtin();
  EXPECT_LE(tok.vocab_size(), 512);
  const std::string dir = TempDir();
  ASSERT_TRUE(tok.Save(dir).ok());
  ASSERT_TRUE(
      RunOracle(absl::StrCat("encode '", dir, "' '", kCorpus, "' '", dir, "/oracle.jsonl'")));
  ExpectMatchesOracle(tok, dir + "/oracle.jsonl");
  // And the saved file loads back here with the same behaviour and config.
  absl::StatusOr<Tokenizer> reloaded = Tokenizer::FromFile(dir);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  for (const std::string& t : CorpusTexts()) ASSERT_EQ(reloaded->Encode(t), tok.Encode(t));
  EXPECT_EQ(reloaded->eos_id(), tok.eos_id());
  EXPECT_EQ(reloaded->pad_id(), tok.pad_id());
  EXPECT_EQ(reloaded->chat_template(), tok.chat_template());
  fs::remove_all(dir);
}

TEST(BuiltinTokenizerTest, SpecialTokensAndRoundTrip) {
  const Tokenizer tok = Tokenizer::Builtin();
  ASSERT_TRUE(tok.eos_id().has_value());
  EXPECT_EQ(tok.IdToToken(*tok.eos_id()), "<|im_end|>");
  EXPECT_EQ(tok.IdToToken(*tok.pad_id()), "<|endoftext|>");
  for (const char* t : {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"}) {
    const std::optional<int32_t> id = tok.TokenToId(t);
    ASSERT_TRUE(id.has_value()) << t;
    EXPECT_EQ(tok.Encode(absl::StrCat("a", t, "b")).size(), 3u) << t;
  }
  // Every digit is its own token.
  EXPECT_EQ(tok.Encode("12345").size(), 5u);
  // Any UTF-8 text round-trips, whatever its normal form.
  for (const std::string& t : CorpusTexts()) EXPECT_EQ(tok.Decode(tok.Encode(t)), t);
  std::mt19937 rng(7);
  for (int n = 0; n < 300; ++n) {
    std::string s;
    const int len = rng() % 40;
    for (int i = 0; i < len; ++i) {
      char32_t cp;
      switch (rng() % 4) {
        case 0:
          cp = rng() % 0x80;
          break;
        case 1:
          cp = 0x80 + rng() % 0x780;
          break;
        case 2:
          cp = 0x800 + rng() % 0xF800;
          break;
        default:
          cp = 0x10000 + rng() % 0x100000;
          break;
      }
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else if (cp < 0x10000) {
        s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else {
        s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
    }
    ASSERT_EQ(tok.Decode(tok.Encode(s)), s) << json(s).dump();
  }
}

// ---------------------------------------------------------------- bad files

class CorruptFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    ASSERT_TRUE(Tokenizer::Builtin().Save(dir_).ok());
    std::ifstream in(dir_ + "/tokenizer.json");
    good_ = json::parse(in);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `text` as tokenizer.json and loads it.
  absl::Status LoadText(const std::string& text) {
    std::ofstream(dir_ + "/tokenizer.json", std::ios::trunc) << text;
    return Tokenizer::FromFile(dir_).status();
  }
  absl::Status LoadJson(const json& j) { return LoadText(j.dump()); }

  std::string dir_;
  json good_;
};

#define EXPECT_ERROR(status, code_, substr)                                    \
  do {                                                                         \
    const absl::Status s_ = (status);                                          \
    EXPECT_EQ(s_.code(), absl::StatusCode::code_) << s_;                       \
    EXPECT_NE(std::string(s_.message()).find(substr), std::string::npos)       \
        << "message: " << s_.message() << "\nexpected to contain: " << substr; \
  } while (0)

TEST_F(CorruptFileTest, MissingFile) {
  EXPECT_ERROR(Tokenizer::FromFile(dir_ + "/nope.json").status(), kNotFound, "nope.json");
  fs::remove(dir_ + "/tokenizer.json");
  EXPECT_ERROR(Tokenizer::FromFile(dir_).status(), kNotFound, "tokenizer.json");
}

TEST_F(CorruptFileTest, BadJson) {
  const std::string text = good_.dump();
  EXPECT_ERROR(LoadText(text.substr(0, text.size() / 2)), kInvalidArgument, "invalid JSON");
  EXPECT_ERROR(LoadText(""), kInvalidArgument, "tokenizer.json: invalid JSON");
  EXPECT_ERROR(LoadText("[1, 2]"), kInvalidArgument, "expected a JSON object");
}

TEST_F(CorruptFileTest, UnsupportedModelAndStages) {
  json j = good_;
  j["model"]["type"] = "WordPiece";
  EXPECT_ERROR(LoadJson(j), kInvalidArgument, "model.type: unsupported model \"WordPiece\"");
  j = good_;
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_ERROR(LoadJson(j), kInvalidArgument, "pre_tokenizer.type: unsupported pre-tokenizer");
  j = good_;
  j["pre_tokenizer"] = nullptr;
  EXPECT_ERROR(LoadJson(j), kInvalidArgument, "pre_tokenizer");
  j = good_;
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  EXPECT_ERROR(LoadJson(j), kInvalidArgument, "pre_tokenizer.pretokenizers[0].pattern: bad regex");
  j = good_;
  j["normalizer"] = {{"type", "Lowercase"}};
  EXPECT_ERROR(LoadJson(j), kInvalidArgument, "normalizer.type: unsupported normalizer");
  j = good_;
  j["decoder"] = {{"type", "WordPiece"}};
  EXPECT_ERROR(LoadJson(j), kInvalidArgument, "decoder: unsupported decoder");
  j = good_;
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", json::array({{{"SpecialToken", {{"id", "<x>"}}}}})},
                         {"special_tokens", json::object()}};
  EXPECT_ERROR(LoadJson(j), kInvalidArgument, "post_processor.special_tokens");
}

TEST_F(CorruptFileTest, BadVocabAndMerges) {
  json j = good_;
  j["model"]["merges"][3] = json::array({"zzz", "qqq"});
  EXPECT_ERROR(LoadJson(j), kInvalidArgument,
               "model.merges[3]: token \"zzz\" is not in model.vocab");
  j = good_;
  j["model"]["merges"][0] = "no-space";
  EXPECT_ERROR(LoadJson(j), kInvalidArgument, "model.merges[0]: expected");
  j = good_;
  j["model"]["merges"].push_back(json::array({"a", "b"}));  // "ab" is not in the vocab
  EXPECT_ERROR(LoadJson(j), kInvalidArgument, "merged token \"ab\" is not in model.vocab");
  j = good_;
  j["model"]["vocab"]["a"] = -4;
  EXPECT_ERROR(LoadJson(j), kInvalidArgument, "model.vocab[\"a\"]");
  j = good_;
  j["model"].erase("vocab");
  EXPECT_ERROR(LoadJson(j), kInvalidArgument, "model.vocab");
  j = good_;
  j["added_tokens"][0]["content"] = 5;
  EXPECT_ERROR(LoadJson(j), kInvalidArgument, "added_tokens[0].content");
}

TEST_F(CorruptFileTest, BadTokenizerConfig) {
  std::ofstream(dir_ + "/tokenizer_config.json", std::ios::trunc) << "{\"eos_token\": ";
  EXPECT_ERROR(Tokenizer::FromFile(dir_).status(), kInvalidArgument,
               "tokenizer_config.json: invalid JSON");
  std::ofstream(dir_ + "/tokenizer_config.json", std::ios::trunc)
      << "{\"eos_token\": \"<|nope|>\"}";
  EXPECT_ERROR(Tokenizer::FromFile(dir_).status(), kInvalidArgument,
               "tokenizer_config.json: eos_token: \"<|nope|>\" is not in the vocabulary");
}

}  // namespace
}  // namespace rlvr
