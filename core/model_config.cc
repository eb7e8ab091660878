#include "core/model_config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"

namespace rlvr {
namespace {

using json = nlohmann::json;

// Reads typed fields from one JSON object, naming the file and field in errors.
class FieldReader {
 public:
  FieldReader(const json& object, std::string source, std::string prefix = "")
      : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

  absl::Status Error(const std::string& field, const std::string& what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": field '", prefix_, field, "' ", what));
  }
  bool Has(const std::string& field) const {
    auto it = object_.find(field);
    return it != object_.end() && !it->is_null();
  }
  absl::Status Int(const std::string& field, bool required, int64_t* out) const {
    if (!Has(field)) return required ? Error(field, "is missing") : absl::OkStatus();
    const json& v = object_.at(field);
    if (!v.is_number_integer()) return Error(field, "must be an integer");
    *out = v.get<int64_t>();
    return absl::OkStatus();
  }
  absl::Status Double(const std::string& field, bool required, double* out) const {
    if (!Has(field)) return required ? Error(field, "is missing") : absl::OkStatus();
    const json& v = object_.at(field);
    if (!v.is_number()) return Error(field, "must be a number");
    *out = v.get<double>();
    return absl::OkStatus();
  }
  absl::Status Bool(const std::string& field, bool* out) const {
    if (!Has(field)) return absl::OkStatus();
    const json& v = object_.at(field);
    if (!v.is_boolean()) return Error(field, "must be true or false");
    *out = v.get<bool>();
    return absl::OkStatus();
  }
  absl::Status String(const std::string& field, bool required, std::string* out) const {
    if (!Has(field)) return required ? Error(field, "is missing") : absl::OkStatus();
    const json& v = object_.at(field);
    if (!v.is_string()) return Error(field, "must be a string");
    *out = v.get<std::string>();
    return absl::OkStatus();
  }

 private:
  const json& object_;
  std::string source_;
  std::string prefix_;
};

const char* Architecture(const std::string& model_type) {
  if (model_type == "llama") return "LlamaForCausalLM";
  if (model_type == "qwen2") return "Qwen2ForCausalLM";
  return "Qwen3ForCausalLM";
}

absl::Status ReadRope(const json& root, const std::string& source, int64_t max_pos,
                      RopeConfig* rope) {
  FieldReader top(root, source);
  RETURN_IF_ERROR(top.Double("rope_theta", false, &rope->theta));
  // transformers >= 5 writes "rope_parameters"; older versions "rope_scaling".
  std::string key;
  for (const char* k : {"rope_parameters", "rope_scaling"}) {
    if (top.Has(k)) {
      key = k;
      break;
    }
  }
  if (key.empty()) return absl::OkStatus();
  const json& params = root.at(key);
  if (!params.is_object()) return top.Error(key, "must be an object");
  FieldReader r(params, source, key + ".");
  RETURN_IF_ERROR(r.Double("rope_theta", false, &rope->theta));
  std::string type = "default";
  if (r.Has("rope_type")) {
    RETURN_IF_ERROR(r.String("rope_type", false, &type));
  } else {
    RETURN_IF_ERROR(r.String("type", false, &type));
  }
  if (type != "default" && type != "linear" && type != "dynamic" && type != "llama3") {
    return r.Error(
        "rope_type",
        absl::StrCat("'", type, "' is not supported (default, linear, dynamic, llama3)"));
  }
  rope->type = type;
  if (type == "default") return absl::OkStatus();
  RETURN_IF_ERROR(r.Double("factor", true, &rope->factor));
  if (rope->factor <= 0) return r.Error("factor", "must be positive");
  if (type == "llama3") {
    RETURN_IF_ERROR(r.Double("low_freq_factor", true, &rope->low_freq_factor));
    RETURN_IF_ERROR(r.Double("high_freq_factor", true, &rope->high_freq_factor));
    rope->original_max_position_embeddings = max_pos;
    RETURN_IF_ERROR(
        r.Int("original_max_position_embeddings", false, &rope->original_max_position_embeddings));
    if (rope->high_freq_factor <= rope->low_freq_factor) {
      return r.Error("high_freq_factor", "must exceed low_freq_factor");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfig::FromJson(absl::string_view json_text,
                                                  const std::string& source) {
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError(source + ": not valid JSON");
  if (!root.is_object()) return absl::InvalidArgumentError(source + ": not a JSON object");
  FieldReader r(root, source);
  ModelConfig c;
  RETURN_IF_ERROR(r.String("model_type", true, &c.model_type));
  if (c.model_type != "llama" && c.model_type != "qwen2" && c.model_type != "qwen3") {
    return r.Error("model_type",
                   absl::StrCat("is '", c.model_type, "'; supported: llama, qwen2, qwen3"));
  }
  RETURN_IF_ERROR(r.Int("vocab_size", true, &c.vocab_size));
  RETURN_IF_ERROR(r.Int("hidden_size", true, &c.hidden_size));
  RETURN_IF_ERROR(r.Int("intermediate_size", true, &c.intermediate_size));
  RETURN_IF_ERROR(r.Int("num_hidden_layers", true, &c.num_hidden_layers));
  RETURN_IF_ERROR(r.Int("num_attention_heads", true, &c.num_attention_heads));
  c.num_key_value_heads = c.num_attention_heads;
  RETURN_IF_ERROR(r.Int("num_key_value_heads", false, &c.num_key_value_heads));
  if (c.num_attention_heads > 0) c.head_dim = c.hidden_size / c.num_attention_heads;
  RETURN_IF_ERROR(r.Int("head_dim", false, &c.head_dim));
  c.max_position_embeddings = c.model_type == "llama" ? 2048 : 32768;
  RETURN_IF_ERROR(r.Int("max_position_embeddings", false, &c.max_position_embeddings));
  RETURN_IF_ERROR(r.Double("rms_norm_eps", false, &c.rms_norm_eps));
  RETURN_IF_ERROR(ReadRope(root, source, c.max_position_embeddings, &c.rope));
  RETURN_IF_ERROR(r.Bool("tie_word_embeddings", &c.tie_word_embeddings));
  std::string act = "silu";
  RETURN_IF_ERROR(r.String("hidden_act", false, &act));
  if (act != "silu") return r.Error("hidden_act", absl::StrCat("is '", act, "'; only silu"));
  bool sliding = false;
  RETURN_IF_ERROR(r.Bool("use_sliding_window", &sliding));
  if (sliding)
    return r.Error("use_sliding_window", "is true; sliding-window attention is not supported");
  bool attention_bias = false;
  RETURN_IF_ERROR(r.Bool("attention_bias", &attention_bias));
  RETURN_IF_ERROR(r.Bool("mlp_bias", &c.mlp_bias));
  if (c.model_type == "qwen2") {
    c.qkv_bias = true;
  } else {
    c.qkv_bias = c.o_bias = attention_bias;
  }
  c.qk_norm = c.model_type == "qwen3";
  if (c.model_type != "llama" && c.mlp_bias)
    return r.Error("mlp_bias", "is only supported for llama");
  RETURN_IF_ERROR(r.Int("bos_token_id", false, &c.bos_token_id));
  RETURN_IF_ERROR(r.Int("pad_token_id", false, &c.pad_token_id));
  if (r.Has("eos_token_id")) {
    const json& eos = root.at("eos_token_id");
    if (eos.is_number_integer()) {
      c.eos_token_ids.push_back(eos.get<int64_t>());
    } else if (eos.is_array()) {
      for (const json& e : eos) {
        if (!e.is_number_integer()) return r.Error("eos_token_id", "must hold integers");
        c.eos_token_ids.push_back(e.get<int64_t>());
      }
    } else {
      return r.Error("eos_token_id", "must be an integer or a list of integers");
    }
  }
  if (r.Has("dtype")) {
    RETURN_IF_ERROR(r.String("dtype", false, &c.torch_dtype));
  } else {
    RETURN_IF_ERROR(r.String("torch_dtype", false, &c.torch_dtype));
  }
  RETURN_IF_ERROR(c.Validate(source));
  return c;
}

absl::StatusOr<ModelConfig> ModelConfig::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(path + ": cannot open (missing config.json?)");
  std::stringstream text;
  text << in.rdbuf();
  return FromJson(text.str(), path);
}

absl::Status ModelConfig::Validate(const std::string& source) const {
  auto error = [&](const std::string& field, const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field '", field, "' ", what));
  };
  if (model_type != "llama" && model_type != "qwen2" && model_type != "qwen3") {
    return error("model_type", "must be llama, qwen2 or qwen3");
  }
  const std::pair<const char*, int64_t> positive[] = {
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"num_key_value_heads", num_key_value_heads},
      {"head_dim", head_dim},
      {"max_position_embeddings", max_position_embeddings}};
  for (const auto& [name, value] : positive) {
    if (value <= 0) return error(name, absl::StrCat("must be positive, got ", value));
  }
  if (num_attention_heads % num_key_value_heads != 0) {
    return error("num_key_value_heads",
                 absl::StrCat("(", num_key_value_heads, ") must divide num_attention_heads (",
                              num_attention_heads, ")"));
  }
  if (head_dim % 2 != 0) return error("head_dim", "must be even for RoPE");
  if (!(rms_norm_eps > 0)) return error("rms_norm_eps", "must be positive");
  if (!(rope.theta > 0)) return error("rope_theta", "must be positive");
  if (model_type == "qwen2" && (!qkv_bias || o_bias || mlp_bias || qk_norm)) {
    return error("model_type", "qwen2 has q/k/v bias and nothing else");
  }
  if (model_type == "qwen3" && (!qk_norm || qkv_bias != o_bias || mlp_bias)) {
    return error("model_type", "qwen3 has q/k norm and attention_bias on q/k/v/o together");
  }
  if (model_type == "llama" && (qk_norm || qkv_bias != o_bias)) {
    return error("model_type", "llama has attention_bias on q/k/v/o together and no q/k norm");
  }
  if (torch_dtype != "float32" && torch_dtype != "bfloat16" && torch_dtype != "float16") {
    return error("dtype",
                 absl::StrCat("is '", torch_dtype, "'; expected float32, bfloat16 or float16"));
  }
  return absl::OkStatus();
}

std::string ModelConfig::ToJson() const {
  json j;
  j["architectures"] = {Architecture(model_type)};
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (model_type != "qwen2") j["attention_bias"] = qkv_bias;
  if (model_type == "llama") j["mlp_bias"] = mlp_bias;
  json rope_params = {{"rope_type", rope.type}, {"rope_theta", rope.theta}};
  if (rope.type != "default") rope_params["factor"] = rope.factor;
  if (rope.type == "llama3") {
    rope_params["low_freq_factor"] = rope.low_freq_factor;
    rope_params["high_freq_factor"] = rope.high_freq_factor;
    rope_params["original_max_position_embeddings"] = rope.original_max_position_embeddings;
  }
  j["rope_parameters"] = rope_params;
  j["bos_token_id"] = bos_token_id >= 0 ? json(bos_token_id) : json(nullptr);
  j["pad_token_id"] = pad_token_id >= 0 ? json(pad_token_id) : json(nullptr);
  if (eos_token_ids.empty()) {
    j["eos_token_id"] = nullptr;
  } else if (eos_token_ids.size() == 1) {
    j["eos_token_id"] = eos_token_ids[0];
  } else {
    j["eos_token_id"] = eos_token_ids;
  }
  j["dtype"] = torch_dtype;
  return j.dump(2) + "\n";
}

int64_t ModelConfig::NumParameters() const {
  const int64_t q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim;
  int64_t attn = hidden_size * q * 2 + hidden_size * kv * 2;
  if (qkv_bias) attn += q + 2 * kv;
  if (o_bias) attn += hidden_size;
  if (qk_norm) attn += 2 * head_dim;
  int64_t mlp = 3 * hidden_size * intermediate_size;
  if (mlp_bias) mlp += 2 * intermediate_size + hidden_size;
  const int64_t layer = attn + mlp + 2 * hidden_size;
  const int64_t embed = vocab_size * hidden_size;
  return num_hidden_layers * layer + hidden_size + embed * (tie_word_embeddings ? 1 : 2);
}

ModelConfig BuiltinTinyConfig(int64_t vocab_size) {
  ModelConfig c;
  c.model_type = "qwen3";
  c.vocab_size = vocab_size;
  c.hidden_size = 128;
  c.intermediate_size = 384;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 32;
  c.max_position_embeddings = 2048;
  c.rms_norm_eps = 1e-6;
  c.rope.theta = 10000.0;
  c.tie_word_embeddings = true;
  c.qk_norm = true;
  c.torch_dtype = "float32";
  return c;
}

}  // namespace rlvr
