// ModelConfig: the shape of a decoder-only transformer of the Llama / Qwen2 /
// Qwen3 families, read from a Hugging Face `config.json`. No LibTorch here, so
// any module can include it cheaply.
//
//   ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::FromFile(dir + "/config.json"));
//
// Every error is INVALID_ARGUMENT naming the file and the field.
#ifndef RLVR_CORE_MODEL_CONFIG_H_
#define RLVR_CORE_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rlvr {

// Rotary position embedding. `type` is HF's rope_type: "default", "linear",
// "dynamic" (dynamic NTK) or "llama3".
struct RopeConfig {
  std::string type = "default";
  double theta = 10000.0;
  double factor = 1.0;                           // linear, dynamic, llama3
  double low_freq_factor = 1.0;                  // llama3
  double high_freq_factor = 4.0;                 // llama3
  int64_t original_max_position_embeddings = 0;  // llama3; 0 = max_position_embeddings
};

struct ModelConfig {
  std::string model_type = "qwen3";  // "llama", "qwen2" or "qwen3"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // GQA groups; == num_attention_heads for MHA
  int64_t head_dim = 0;             // hidden_size / num_attention_heads when absent
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  RopeConfig rope;
  bool tie_word_embeddings = false;
  // Biases: qwen2 has q/k/v bias; llama's attention_bias puts bias on q/k/v/o;
  // qwen3's attention_bias likewise on q/k/v/o; llama's mlp_bias on the MLP.
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  bool qk_norm = false;  // qwen3: RMSNorm over head_dim on q and k before RoPE
  // Token ids (-1 when absent). eos_token_ids holds every id of a list.
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  int64_t pad_token_id = -1;
  // The checkpoint's dtype as named in config.json ("float32", "bfloat16", ...).
  std::string torch_dtype = "float32";

  // Parses config.json text; `source` names it in errors (usually the path).
  static absl::StatusOr<ModelConfig> FromJson(absl::string_view json_text,
                                              const std::string& source);
  static absl::StatusOr<ModelConfig> FromFile(const std::string& path);

  // config.json text that transformers loads as this model (architectures,
  // model_type, every field above).
  std::string ToJson() const;

  // Checks the numbers are consistent (positive sizes, heads divide, ...).
  // `source` names the config in the message.
  absl::Status Validate(const std::string& source) const;

  // Parameter count (embedding counted once when tied).
  int64_t NumParameters() const;
};

// A Qwen3-shaped tiny model (~1-3M parameters for vocabularies of a few
// thousand), for the built-in default run, examples and tests.
ModelConfig BuiltinTinyConfig(int64_t vocab_size);

}  // namespace rlvr

#endif  // RLVR_CORE_MODEL_CONFIG_H_
