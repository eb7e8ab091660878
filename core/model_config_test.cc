// ModelConfig parsing and bad model directories: every failure is one
// INVALID_ARGUMENT naming the file and the field or tensor.
#include "core/model_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "core/model.h"
#include "core/safetensors_torch.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace rlvr {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using json = nlohmann::json;

json TinyJson() {
  return json::parse(R"({
    "model_type": "qwen3", "vocab_size": 50, "hidden_size": 16, "intermediate_size": 24,
    "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
    "head_dim": 8, "rms_norm_eps": 1e-6, "tie_word_embeddings": true,
    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}})");
}

std::string Error(const json& j) {
  auto config = ModelConfig::FromJson(j.dump(), "dir/config.json");
  EXPECT_FALSE(config.ok());
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

TEST(ModelConfigTest, ParsesAndRoundTrips) {
  auto config = ModelConfig::FromJson(TinyJson().dump(), "x");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->qk_norm);
  EXPECT_TRUE(config->tie_word_embeddings);
  EXPECT_EQ(config->head_dim, 8);
  auto again = ModelConfig::FromJson(config->ToJson(), "y");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ToJson(), config->ToJson());
}

TEST(ModelConfigTest, LegacyRopeFieldsAndDefaults) {
  json j = TinyJson();
  j.erase("rope_parameters");
  j.erase("head_dim");
  j.erase("num_key_value_heads");
  j["model_type"] = "llama";
  j["rope_theta"] = 500000.0;
  j["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  j["eos_token_id"] = {1, 2};
  auto config = ModelConfig::FromJson(j.dump(), "x");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->rope.type, "llama3");
  EXPECT_EQ(config->rope.theta, 500000.0);
  EXPECT_EQ(config->head_dim, 8);
  EXPECT_EQ(config->num_key_value_heads, 2);
  EXPECT_THAT(config->eos_token_ids, ::testing::ElementsAre(1, 2));
  EXPECT_FALSE(config->qk_norm);
}

TEST(ModelConfigTest, EachMissingFieldIsNamed) {
  for (const char* field : {"model_type", "vocab_size", "hidden_size", "intermediate_size",
                            "num_hidden_layers", "num_attention_heads"}) {
    json j = TinyJson();
    j.erase(field);
    EXPECT_THAT(Error(j),
                AllOf(HasSubstr("dir/config.json"), HasSubstr(field), HasSubstr("missing")))
        << field;
  }
}

TEST(ModelConfigTest, BadValuesAreNamed) {
  json j = TinyJson();
  j["model_type"] = "gpt2";
  EXPECT_THAT(Error(j), HasSubstr("model_type"));
  j = TinyJson();
  j["hidden_size"] = "big";
  EXPECT_THAT(Error(j), AllOf(HasSubstr("hidden_size"), HasSubstr("integer")));
  j = TinyJson();
  j["num_key_value_heads"] = 3;
  EXPECT_THAT(Error(j), HasSubstr("num_key_value_heads"));
  j = TinyJson();
  j["vocab_size"] = 0;
  EXPECT_THAT(Error(j), HasSubstr("vocab_size"));
  j = TinyJson();
  j["hidden_act"] = "gelu";
  EXPECT_THAT(Error(j), HasSubstr("hidden_act"));
  j = TinyJson();
  j["rope_parameters"]["rope_type"] = "yarn";
  EXPECT_THAT(Error(j), HasSubstr("rope_parameters.rope_type"));
  j = TinyJson();
  j["rope_parameters"] = {{"rope_type", "linear"}};
  EXPECT_THAT(Error(j), HasSubstr("rope_parameters.factor"));
  j = TinyJson();
  j["use_sliding_window"] = true;
  EXPECT_THAT(Error(j), HasSubstr("use_sliding_window"));
  auto bad = ModelConfig::FromJson("{\"model_type\": ", "dir/config.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("dir/config.json: not valid JSON"));
}

TEST(ModelConfigTest, BuiltinTinyConfig) {
  ModelConfig c = BuiltinTinyConfig(4096);
  EXPECT_TRUE(c.Validate("builtin").ok());
  EXPECT_GT(c.NumParameters(), 1000000);
  EXPECT_LT(c.NumParameters(), 3000000);
  auto model = Transformer::RandomInit(c, 1, {});
  ASSERT_TRUE(model.ok()) << model.status();
  int64_t n = 0;
  for (const auto& [name, t] : model->NamedParameters()) n += t.numel();
  EXPECT_EQ(n, c.NumParameters());
}

class BadModelDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("rlvr_bad_model_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    auto config = ModelConfig::FromJson(TinyJson().dump(), "tiny");
    ASSERT_TRUE(config.ok());
    auto model = Transformer::RandomInit(*config, 3, {});
    ASSERT_TRUE(model.ok());
    ASSERT_TRUE(model->Save(dir_.string()).ok());
    ASSERT_TRUE(Transformer::Load(dir_.string(), {}).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string LoadError() {
    auto model = Transformer::Load(dir_.string(), {});
    EXPECT_FALSE(model.ok());
    if (model.ok()) return "";
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(model.status().message());
  }
  // Rewrites model.safetensors after `edit` changes its tensors.
  void EditWeights(const std::function<void(std::map<std::string, torch::Tensor>&)>& edit) {
    auto tensors = safetensors::LoadTensors((dir_ / "model.safetensors").string());
    ASSERT_TRUE(tensors.ok());
    edit(*tensors);
    std::vector<std::pair<std::string, torch::Tensor>> list(tensors->begin(), tensors->end());
    ASSERT_TRUE(safetensors::SaveTensors((dir_ / "model.safetensors").string(), list).ok());
  }

  fs::path dir_;
};

TEST_F(BadModelDirTest, MissingDirectory) {
  auto model = Transformer::Load((dir_ / "nope").string(), {});
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()), AllOf(HasSubstr("nope"), HasSubstr("exist")));
}

TEST_F(BadModelDirTest, MissingOrCorruptConfig) {
  fs::remove(dir_ / "config.json");
  EXPECT_THAT(LoadError(), HasSubstr("config.json"));
  std::ofstream(dir_ / "config.json") << "{\"model_type\": \"qwen3\",";
  EXPECT_THAT(LoadError(), AllOf(HasSubstr("config.json"), HasSubstr("JSON")));
  json j = TinyJson();
  j.erase("num_hidden_layers");
  std::ofstream(dir_ / "config.json") << j.dump();
  EXPECT_THAT(LoadError(), AllOf(HasSubstr("config.json"), HasSubstr("num_hidden_layers")));
}

TEST_F(BadModelDirTest, MissingWeights) {
  fs::remove(dir_ / "model.safetensors");
  EXPECT_THAT(LoadError(), HasSubstr("model.safetensors"));
}

TEST_F(BadModelDirTest, MissingTensor) {
  EditWeights([](auto& t) { t.erase("model.layers.1.mlp.up_proj.weight"); });
  EXPECT_THAT(LoadError(),
              AllOf(HasSubstr("model.safetensors"), HasSubstr("model.layers.1.mlp.up_proj.weight"),
                    HasSubstr("missing")));
}

TEST_F(BadModelDirTest, WrongShape) {
  EditWeights([](auto& t) { t["model.layers.0.self_attn.k_proj.weight"] = torch::zeros({9, 16}); });
  EXPECT_THAT(LoadError(), AllOf(HasSubstr("model.safetensors"),
                                 HasSubstr("model.layers.0.self_attn.k_proj.weight"),
                                 HasSubstr("[9, 16]"), HasSubstr("[8, 16]")));
}

TEST_F(BadModelDirTest, UnexpectedTensor) {
  EditWeights([](auto& t) { t["model.layers.0.self_attn.q_proj.bias"] = torch::zeros({16}); });
  EXPECT_THAT(LoadError(), AllOf(HasSubstr("model.safetensors"),
                                 HasSubstr("model.layers.0.self_attn.q_proj.bias")));
}

TEST_F(BadModelDirTest, CorruptSafetensors) {
  fs::resize_file(dir_ / "model.safetensors", 1000);
  EXPECT_THAT(LoadError(), HasSubstr("model.safetensors"));
}

}  // namespace
}  // namespace rlvr
