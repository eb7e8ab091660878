// Tokenizer: loading tokenizer.json / tokenizer_config.json, the encode pipeline,
// decoding and saving. The stages themselves live in tokenizer_text.cc and
// tokenizer_bpe.cc; the built-in tokenizer in tokenizer_builtin.cc.
#include "core/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "core/tokenizer_internal.h"

namespace rlvr {
namespace tokenizer_internal {

struct Impl {
  std::string source;
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  AddedTokenMatcher raw_matcher;                // added tokens with normalized = false
  AddedTokenMatcher normalized_matcher;         // added tokens with normalized = true
  std::vector<int32_t> prefix_ids, suffix_ids;  // post-processor, single sequence

  std::vector<std::string> model_tokens;  // id -> token string ("" = no such id)
  absl::flat_hash_map<std::string, int32_t> model_vocab;
  std::vector<std::array<int32_t, 3>> merges;  // (left, right, merged), rank order
  // Added tokens, as HF's AddedVocabulary holds them.
  absl::flat_hash_map<std::string, int32_t> added_vocab;  // content -> id
  absl::flat_hash_map<int32_t, AddedToken> added_by_id;
  absl::flat_hash_set<std::string> special_contents;

  int32_t vocab_size = 0;
  std::vector<uint8_t> is_special;   // per id
  std::vector<uint8_t> has_token;    // per id
  std::string decoded;               // per id: the bytes it decodes to, concatenated
  std::vector<uint32_t> decoded_at;  // vocab_size + 1 offsets into `decoded`
  bool byte_level_decoder = true;    // false: null decoder (tokens joined by spaces)

  std::optional<int32_t> eos_id, bos_id, pad_id;
  std::string chat_template;

  // Kept for Save().
  nlohmann::json normalizer_json, pre_tokenizer_json, post_processor_json, decoder_json;
  nlohmann::json model_json;  // the model object without vocab and merges
  std::vector<AddedToken> added_in_file_order;
  nlohmann::json config_json;  // tokenizer_config.json object, or null

  void Encode(absl::string_view text, bool add_special_tokens, std::vector<int32_t>* out) const;
  std::optional<int32_t> TokenToId(absl::string_view token) const;
};

void Impl::Encode(absl::string_view text, bool add_special_tokens,
                  std::vector<int32_t>* out) const {
  if (add_special_tokens) out->insert(out->end(), prefix_ids.begin(), prefix_ids.end());
  std::string buffer;
  auto encode_words = [&](absl::string_view piece) {
    pre_tokenizer.ForEachWord(piece, [&](absl::string_view word) { model->Tokenize(word, out); });
  };
  raw_matcher.Split(text, [&](absl::string_view piece, int32_t id) {
    if (id >= 0) {
      out->push_back(id);
      return;
    }
    const absl::string_view normalized = normalizer.Apply(piece, &buffer);
    normalized_matcher.Split(normalized, [&](absl::string_view sub, int32_t sub_id) {
      if (sub_id >= 0) {
        out->push_back(sub_id);
      } else {
        encode_words(sub);
      }
    });
  });
  if (add_special_tokens) out->insert(out->end(), suffix_ids.begin(), suffix_ids.end());
}

std::optional<int32_t> Impl::TokenToId(absl::string_view token) const {
  auto it = added_vocab.find(token);
  if (it != added_vocab.end()) return it->second;
  auto jt = model_vocab.find(token);
  if (jt != model_vocab.end()) return jt->second;
  return std::nullopt;
}

namespace {

using nlohmann::json;

absl::Status Invalid(const std::string& source, const std::string& field,
                     absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", field, ": ", problem));
}

// The raw bytes a byte-level token string stands for; nullopt if it has a character
// outside the ByteLevel alphabet.
std::optional<std::string> TokenBytes(absl::string_view token) {
  std::string bytes;
  bytes.reserve(token.size());
  const char* p = token.data();
  const char* end = p + token.size();
  while (p < end) {
    char32_t cp;
    const int n = DecodeUtf8(p, end, &cp);
    if (n == 0) return std::nullopt;
    const int b = CharToByte(cp);
    if (b < 0) return std::nullopt;
    bytes.push_back(static_cast<char>(b));
    p += n;
  }
  return bytes;
}

// The ids a post-processor adds before and after a single sequence.
absl::Status ParsePostProcessor(const json& j, const std::string& source, const std::string& field,
                                const Impl& impl, std::vector<int32_t>* prefix,
                                std::vector<int32_t>* suffix) {
  if (j.is_null()) return absl::OkStatus();
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    return Invalid(source, field, "expected an object with a type");
  }
  const std::string type = j["type"].get<std::string>();
  auto token_id = [&](const json& pair, const std::string& name) -> absl::StatusOr<int32_t> {
    // ["<s>", 0] as RobertaProcessing/BertProcessing write it.
    if (!pair.is_array() || pair.size() != 2 || !pair[1].is_number_integer()) {
      return Invalid(source, absl::StrCat(field, ".", name), "expected [token, id]");
    }
    return pair[1].get<int32_t>();
  };
  if (type == "ByteLevel") return absl::OkStatus();
  if (type == "Sequence") {
    if (!j.contains("processors") || !j["processors"].is_array()) {
      return Invalid(source, field + ".processors", "expected an array");
    }
    for (size_t i = 0; i < j["processors"].size(); ++i) {
      std::vector<int32_t> p, s;
      RETURN_IF_ERROR(ParsePostProcessor(
          j["processors"][i], source, absl::StrCat(field, ".processors[", i, "]"), impl, &p, &s));
      prefix->insert(prefix->begin(), p.begin(), p.end());
      suffix->insert(suffix->end(), s.begin(), s.end());
    }
    return absl::OkStatus();
  }
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    ASSIGN_OR_RETURN(int32_t cls, token_id(j.value("cls", json()), "cls"));
    ASSIGN_OR_RETURN(int32_t sep, token_id(j.value("sep", json()), "sep"));
    prefix->push_back(cls);
    suffix->push_back(sep);
    return absl::OkStatus();
  }
  if (type == "TemplateProcessing") {
    const json& single = j.value("single", json());
    const json& specials = j.value("special_tokens", json::object());
    if (!single.is_array()) return Invalid(source, field + ".single", "expected an array");
    bool seen_sequence = false;
    for (size_t i = 0; i < single.size(); ++i) {
      const std::string item_field = absl::StrCat(field, ".single[", i, "]");
      const json& item = single[i];
      if (item.is_object() && item.contains("Sequence")) {
        if (item["Sequence"].value("id", "") != "A") {
          return Invalid(source, item_field, "a single-sequence template may only use $A");
        }
        seen_sequence = true;
        continue;
      }
      if (!item.is_object() || !item.contains("SpecialToken") ||
          !item["SpecialToken"].contains("id") || !item["SpecialToken"]["id"].is_string()) {
        return Invalid(source, item_field,
                       "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
      const std::string name = item["SpecialToken"]["id"].get<std::string>();
      if (!specials.is_object() || !specials.contains(name) || !specials[name].contains("ids") ||
          !specials[name]["ids"].is_array()) {
        return Invalid(source, field + ".special_tokens",
                       absl::StrCat("no entry with ids for \"", name, "\""));
      }
      for (const json& id : specials[name]["ids"]) {
        if (!id.is_number_integer()) {
          return Invalid(source, absl::StrCat(field, ".special_tokens.", name, ".ids"),
                         "expected integers");
        }
        (seen_sequence ? suffix : prefix)->push_back(id.get<int32_t>());
      }
    }
    return absl::OkStatus();
  }
  return Invalid(source, field + ".type",
                 absl::StrCat("unsupported post-processor \"", type,
                              "\" (supported: ByteLevel, TemplateProcessing, RobertaProcessing, "
                              "BertProcessing, Sequence)"));
}

absl::Status ParseDecoder(const json& j, const std::string& source, bool* byte_level) {
  if (j.is_null()) {
    *byte_level = false;
    return absl::OkStatus();
  }
  if (j.is_object() && j.value("type", "") == "ByteLevel") {
    *byte_level = true;
    return absl::OkStatus();
  }
  if (j.is_object() && j.value("type", "") == "Sequence" && j.contains("decoders") &&
      j["decoders"].is_array() && j["decoders"].size() == 1) {
    return ParseDecoder(j["decoders"][0], source, byte_level);
  }
  return Invalid(source, "decoder",
                 absl::StrCat("unsupported decoder ", j.dump(), " (supported: null, ByteLevel)"));
}

// The content of a tokenizer_config.json token entry: "<s>" or {"content": "<s>", ...}.
std::optional<std::string> ConfigToken(const json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return std::nullopt;
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return std::nullopt;
}

absl::Status ParseModel(const json& model, const std::string& source, Impl* impl) {
  if (!model.is_object()) return Invalid(source, "model", "expected an object");
  const std::string type = model.value("type", "BPE");
  if (type != "BPE") {
    return Invalid(source, "model.type",
                   absl::StrCat("unsupported model \"", type, "\" (only BPE is supported)"));
  }
  auto empty_or_null = [&](const char* key) {
    return !model.contains(key) || model[key].is_null() ||
           (model[key].is_string() && model[key].get<std::string>().empty());
  };
  if (!empty_or_null("continuing_subword_prefix") || !empty_or_null("end_of_word_suffix")) {
    return Invalid(source, "model",
                   "continuing_subword_prefix / end_of_word_suffix are not supported");
  }
  if (model.value("byte_fallback", false)) {
    return Invalid(source, "model.byte_fallback", "byte_fallback BPE is not supported");
  }
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0)) {
    return Invalid(source, "model.dropout", "BPE dropout is not supported");
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return Invalid(source, "model.vocab", "expected an object of token -> id");
  }
  const json& vocab = model["vocab"];
  impl->model_vocab.reserve(vocab.size());
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() >= (int64_t{1} << 30)) {
      return Invalid(source, absl::StrCat("model.vocab[\"", it.key(), "\"]"),
                     absl::StrCat("expected a non-negative id, got ", it.value().dump()));
    }
    const int32_t id = it.value().get<int32_t>();
    impl->model_vocab[it.key()] = id;
    max_id = std::max<int64_t>(max_id, id);
  }
  impl->model_tokens.assign(max_id + 1, std::string());
  for (const auto& [token, id] : impl->model_vocab) impl->model_tokens[id] = token;

  if (!model.contains("merges") || !model["merges"].is_array()) {
    return Invalid(source, "model.merges", "expected an array");
  }
  const json& merges = model["merges"];
  impl->merges.reserve(merges.size());
  std::string left, right;
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    const std::string field = absl::StrCat("model.merges[", i, "]");
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        return Invalid(source, field, absl::StrCat("expected \"left right\", got ", m.dump()));
      }
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      return Invalid(source, field,
                     absl::StrCat("expected \"left right\" or [left, right], got ", m.dump()));
    }
    auto l = impl->model_vocab.find(left);
    auto r = impl->model_vocab.find(right);
    auto merged = impl->model_vocab.find(left + right);
    if (l == impl->model_vocab.end() || r == impl->model_vocab.end()) {
      return Invalid(source, field,
                     absl::StrCat("token \"", l == impl->model_vocab.end() ? left : right,
                                  "\" is not in model.vocab"));
    }
    if (merged == impl->model_vocab.end()) {
      return Invalid(source, field,
                     absl::StrCat("merged token \"", left + right, "\" is not in model.vocab"));
    }
    impl->merges.push_back({l->second, r->second, merged->second});
  }

  BpeModel::Options options;
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    auto unk = impl->model_vocab.find(model["unk_token"].get<std::string>());
    if (unk == impl->model_vocab.end()) {
      return Invalid(source, "model.unk_token", "not in model.vocab");
    }
    options.unk_id = unk->second;
  }
  options.fuse_unk = model.value("fuse_unk", false);
  options.ignore_merges = model.value("ignore_merges", false);
  std::vector<std::optional<std::string>> token_bytes(impl->model_tokens.size());
  for (const auto& [token, id] : impl->model_vocab) token_bytes[id] = TokenBytes(token);
  impl->model = std::make_unique<BpeModel>(token_bytes, impl->merges, options);

  impl->model_json = json::object();
  for (auto it = model.begin(); it != model.end(); ++it) {
    if (it.key() != "vocab" && it.key() != "merges") impl->model_json[it.key()] = it.value();
  }
  return absl::OkStatus();
}

// Registers the added tokens as HF's AddedVocabulary::add_tokens does (ids of tokens
// already known are kept; others get the next free id) and builds the matchers.
absl::Status ParseAddedTokens(const json& j, const std::string& source, Impl* impl) {
  if (j.is_null()) return absl::OkStatus();
  if (!j.is_array()) return Invalid(source, "added_tokens", "expected an array");
  std::vector<AddedToken> tokens;
  for (size_t i = 0; i < j.size(); ++i) {
    const json& t = j[i];
    const std::string field = absl::StrCat("added_tokens[", i, "]");
    if (!t.is_object() || !t.contains("content") || !t["content"].is_string()) {
      return Invalid(source, field + ".content", "expected a string");
    }
    if (!t.contains("id") || !t["id"].is_number_integer() || t["id"].get<int64_t>() < 0) {
      return Invalid(source, field + ".id", "expected a non-negative integer");
    }
    for (const char* flag : {"single_word", "lstrip", "rstrip", "normalized", "special"}) {
      if (t.contains(flag) && !t[flag].is_boolean()) {
        return Invalid(source, absl::StrCat(field, ".", flag), "expected true or false");
      }
    }
    AddedToken token;
    token.id = t["id"].get<int32_t>();
    token.content = t["content"].get<std::string>();
    token.special = t.value("special", false);
    token.single_word = t.value("single_word", false);
    token.lstrip = t.value("lstrip", false);
    token.rstrip = t.value("rstrip", false);
    token.normalized = t.value("normalized", !token.special);
    tokens.push_back(token);
  }
  impl->added_in_file_order = tokens;

  auto same = [](const AddedToken& a, const AddedToken& b) {
    return a.content == b.content && a.single_word == b.single_word && a.lstrip == b.lstrip &&
           a.rstrip == b.rstrip && a.normalized == b.normalized && a.special == b.special;
  };
  const int32_t model_size = static_cast<int32_t>(impl->model_vocab.size());
  int32_t next_id = model_size;  // empty added vocabulary so far
  for (const AddedToken& t : tokens) {
    if (t.content.empty()) continue;
    auto known = impl->added_vocab.find(t.content);
    if (known != impl->added_vocab.end() && same(impl->added_by_id.at(known->second), t)) continue;
    int32_t id;
    if (std::optional<int32_t> existing = impl->TokenToId(t.content)) {
      id = *existing;
    } else {
      id = next_id++;
    }
    impl->added_vocab[t.content] = id;
    if (t.special) impl->special_contents.insert(t.content);
    AddedToken assigned = t;
    assigned.id = id;
    impl->added_by_id[id] = assigned;
  }

  std::vector<int32_t> ids;
  for (const auto& [id, token] : impl->added_by_id) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  std::vector<const AddedToken*> raw_tokens, norm_tokens;
  std::vector<std::string> raw_patterns, norm_patterns;
  for (int32_t id : ids) {
    const AddedToken* token = &impl->added_by_id.at(id);
    if (token->normalized) {
      std::string buffer;
      norm_tokens.push_back(token);
      norm_patterns.emplace_back(impl->normalizer.Apply(token->content, &buffer));
    } else {
      raw_tokens.push_back(token);
      raw_patterns.push_back(token->content);
    }
  }
  impl->raw_matcher.Build(std::move(raw_tokens), std::move(raw_patterns));
  impl->normalized_matcher.Build(std::move(norm_tokens), std::move(norm_patterns));
  return absl::OkStatus();
}

// Per-id tables for decoding and lookups.
void BuildIdTables(Impl* impl) {
  int32_t size = static_cast<int32_t>(impl->model_tokens.size());
  for (const auto& [id, token] : impl->added_by_id) size = std::max(size, id + 1);
  impl->vocab_size = size;
  impl->is_special.assign(size, 0);
  impl->has_token.assign(size, 0);
  impl->decoded_at.assign(size + 1, 0);
  impl->decoded.clear();
  for (int32_t id = 0; id < size; ++id) {
    impl->decoded_at[id] = static_cast<uint32_t>(impl->decoded.size());
    const std::string* token = nullptr;
    auto added = impl->added_by_id.find(id);
    std::string normalized_content;
    if (added != impl->added_by_id.end()) {
      token = &added->second.content;
      if (added->second.normalized) {
        // HF decodes a normalized added token from its normalized form.
        std::string buffer;
        normalized_content = std::string(impl->normalizer.Apply(*token, &buffer));
        token = &normalized_content;
      }
      impl->is_special[id] = impl->special_contents.contains(*token);
    } else if (id < static_cast<int32_t>(impl->model_tokens.size()) &&
               impl->model_vocab.contains(impl->model_tokens[id])) {
      token = &impl->model_tokens[id];
    }
    if (token == nullptr) continue;
    impl->has_token[id] = 1;
    if (impl->byte_level_decoder) {
      // HF's ByteLevel decoder: a token whose characters are all in the byte alphabet
      // gives those bytes; any other token gives its UTF-8 text unchanged.
      std::optional<std::string> bytes = TokenBytes(*token);
      impl->decoded += bytes.has_value() ? *bytes : *token;
    } else {
      impl->decoded += *token;
    }
  }
  impl->decoded_at[size] = static_cast<uint32_t>(impl->decoded.size());
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat(path, ": read error"));
  return ss.str();
}

absl::StatusOr<std::shared_ptr<Impl>> Load(absl::string_view json_text, const std::string& source,
                                           absl::string_view config_text,
                                           const std::string& config_source,
                                           const std::string& chat_template_file) {
  auto impl = std::make_shared<Impl>();
  impl->source = source;
  json doc;
  try {
    doc = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid JSON: ", e.what()));
  }
  if (!doc.is_object()) return Invalid(source, "(top level)", "expected a JSON object");
  try {
    auto field = [&](const char* key) { return doc.contains(key) ? doc[key] : json(); };
    if (!doc.contains("model")) return Invalid(source, "model", "missing");
    RETURN_IF_ERROR(ParseModel(doc["model"], source, impl.get()));
    impl->normalizer_json = field("normalizer");
    impl->pre_tokenizer_json = field("pre_tokenizer");
    impl->post_processor_json = field("post_processor");
    impl->decoder_json = field("decoder");
    absl::StatusOr<Normalizer> normalizer =
        Normalizer::FromJson(impl->normalizer_json, "normalizer");
    if (!normalizer.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", normalizer.status().message()));
    }
    impl->normalizer = std::move(*normalizer);
    absl::StatusOr<PreTokenizer> pre =
        PreTokenizer::FromJson(impl->pre_tokenizer_json, "pre_tokenizer");
    if (!pre.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", pre.status().message()));
    }
    impl->pre_tokenizer = std::move(*pre);
    RETURN_IF_ERROR(ParseAddedTokens(field("added_tokens"), source, impl.get()));
    RETURN_IF_ERROR(ParseDecoder(impl->decoder_json, source, &impl->byte_level_decoder));
    RETURN_IF_ERROR(ParsePostProcessor(impl->post_processor_json, source, "post_processor", *impl,
                                       &impl->prefix_ids, &impl->suffix_ids));
    BuildIdTables(impl.get());
    for (int32_t id : impl->prefix_ids) {
      if (id < 0 || id >= impl->vocab_size) {
        return Invalid(source, "post_processor", absl::StrCat("id ", id, " is out of range"));
      }
    }
    for (int32_t id : impl->suffix_ids) {
      if (id < 0 || id >= impl->vocab_size) {
        return Invalid(source, "post_processor", absl::StrCat("id ", id, " is out of range"));
      }
    }
    if (!impl->prefix_ids.empty()) impl->bos_id = impl->prefix_ids.front();

    if (!config_text.empty()) {
      try {
        impl->config_json = json::parse(config_text.begin(), config_text.end());
      } catch (const json::exception& e) {
        return absl::InvalidArgumentError(
            absl::StrCat(config_source, ": invalid JSON: ", e.what()));
      }
      if (!impl->config_json.is_object()) {
        return Invalid(config_source, "(top level)", "expected a JSON object");
      }
      struct Special {
        const char* key;
        std::optional<int32_t>* id;
      };
      for (const Special& s :
           {Special{"eos_token", &impl->eos_id}, Special{"bos_token", &impl->bos_id},
            Special{"pad_token", &impl->pad_id}}) {
        const std::optional<std::string> token = ConfigToken(impl->config_json, s.key);
        if (!token.has_value()) continue;
        const std::optional<int32_t> id = impl->TokenToId(*token);
        if (!id.has_value()) {
          return Invalid(config_source, s.key,
                         absl::StrCat("\"", *token, "\" is not in the vocabulary of ", source));
        }
        *s.id = id;
      }
      const json& tmpl = impl->config_json.value("chat_template", json());
      if (tmpl.is_string()) {
        impl->chat_template = tmpl.get<std::string>();
      } else if (tmpl.is_array()) {
        for (const json& t : tmpl) {
          if (t.is_object() && t.value("name", "") == "default" && t.contains("template") &&
              t["template"].is_string()) {
            impl->chat_template = t["template"].get<std::string>();
          }
        }
      }
    }
    if (impl->chat_template.empty() && !chat_template_file.empty()) {
      absl::StatusOr<std::string> text = ReadFile(chat_template_file);
      if (text.ok()) impl->chat_template = *text;
    }
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": malformed field: ", e.what()));
  }
  return impl;
}

}  // namespace
}  // namespace tokenizer_internal

using tokenizer_internal::Impl;

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<Tokenizer> Tokenizer::FromFile(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path file(path);
  if (fs::is_directory(file, ec)) file /= "tokenizer.json";
  if (!fs::exists(file, ec)) {
    return absl::NotFoundError(absl::StrCat(file.string(),
                                            ": no such file (expected a "
                                            "tokenizer.json or a directory "
                                            "containing one)"));
  }
  ASSIGN_OR_RETURN(std::string text, tokenizer_internal::ReadFile(file.string()));
  const fs::path dir = file.parent_path();
  const fs::path config = dir / "tokenizer_config.json";
  std::string config_text;
  if (fs::exists(config, ec)) {
    ASSIGN_OR_RETURN(config_text, tokenizer_internal::ReadFile(config.string()));
  }
  const fs::path jinja = dir / "chat_template.jinja";
  ASSIGN_OR_RETURN(std::shared_ptr<Impl> impl,
                   tokenizer_internal::Load(text, file.string(), config_text, config.string(),
                                            fs::exists(jinja, ec) ? jinja.string() : ""));
  return Tokenizer(std::move(impl));
}

absl::StatusOr<Tokenizer> Tokenizer::FromJson(absl::string_view json_text,
                                              absl::string_view source_name,
                                              absl::string_view config_json) {
  ASSIGN_OR_RETURN(std::shared_ptr<Impl> impl,
                   tokenizer_internal::Load(json_text, std::string(source_name), config_json,
                                            absl::StrCat(source_name, " (tokenizer_config)"), ""));
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::Encode(absl::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  impl_->Encode(text, add_special_tokens, &ids);
  return ids;
}

void Tokenizer::EncodeAppend(absl::string_view text, bool add_special_tokens,
                             std::vector<int32_t>* ids) const {
  impl_->Encode(text, add_special_tokens, ids);
}

std::string Tokenizer::Decode(absl::Span<const int32_t> ids, bool skip_special_tokens) const {
  const Impl& impl = *impl_;
  std::string bytes;
  bool first = true;
  for (int32_t id : ids) {
    if (id < 0 || id >= impl.vocab_size || !impl.has_token[id]) continue;
    if (skip_special_tokens && impl.is_special[id]) continue;
    if (!impl.byte_level_decoder && !first) bytes.push_back(' ');
    first = false;
    bytes.append(impl.decoded, impl.decoded_at[id], impl.decoded_at[id + 1] - impl.decoded_at[id]);
  }
  std::string out;
  out.reserve(bytes.size());
  tokenizer_internal::AppendLossyUtf8(bytes, &out);
  return out;
}

std::optional<int32_t> Tokenizer::TokenToId(absl::string_view token) const {
  return impl_->TokenToId(token);
}

std::optional<std::string> Tokenizer::IdToToken(int32_t id) const {
  auto added = impl_->added_by_id.find(id);
  if (added != impl_->added_by_id.end()) return added->second.content;
  if (id >= 0 && id < static_cast<int32_t>(impl_->model_tokens.size()) && impl_->has_token[id]) {
    return impl_->model_tokens[id];
  }
  return std::nullopt;
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < impl_->vocab_size && impl_->is_special[id];
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos_id; }
std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos_id; }
std::optional<int32_t> Tokenizer::pad_id() const { return impl_->pad_id; }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }
const std::string& Tokenizer::source() const { return impl_->source; }

absl::Status Tokenizer::Save(const std::string& dir) const {
  namespace fs = std::filesystem;
  using ojson = nlohmann::ordered_json;
  const Impl& impl = *impl_;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat(dir, ": ", ec.message()));

  auto to_ordered = [](const nlohmann::json& j) { return ojson::parse(j.dump()); };
  ojson doc;
  doc["version"] = "1.0";
  doc["truncation"] = nullptr;
  doc["padding"] = nullptr;
  std::vector<const tokenizer_internal::AddedToken*> added;
  for (const auto& [id, token] : impl.added_by_id) added.push_back(&token);
  std::sort(added.begin(), added.end(), [](auto* a, auto* b) { return a->id < b->id; });
  ojson added_json = ojson::array();
  for (const auto* t : added) {
    added_json.push_back({{"id", t->id},
                          {"content", t->content},
                          {"single_word", t->single_word},
                          {"lstrip", t->lstrip},
                          {"rstrip", t->rstrip},
                          {"normalized", t->normalized},
                          {"special", t->special}});
  }
  doc["added_tokens"] = added_json;
  doc["normalizer"] = to_ordered(impl.normalizer_json);
  doc["pre_tokenizer"] = to_ordered(impl.pre_tokenizer_json);
  doc["post_processor"] = to_ordered(impl.post_processor_json);
  doc["decoder"] = to_ordered(impl.decoder_json);
  ojson model = to_ordered(impl.model_json);
  ojson vocab = ojson::object();
  for (size_t id = 0; id < impl.model_tokens.size(); ++id) {
    const std::string& token = impl.model_tokens[id];
    auto it = impl.model_vocab.find(token);
    if (it != impl.model_vocab.end() && it->second == static_cast<int32_t>(id)) {
      vocab[token] = id;
    }
  }
  model["vocab"] = std::move(vocab);
  ojson merges = ojson::array();
  for (const auto& m : impl.merges) {
    merges.push_back({impl.model_tokens[m[0]], impl.model_tokens[m[1]]});
  }
  model["merges"] = std::move(merges);
  doc["model"] = std::move(model);

  ojson config;
  if (impl.config_json.is_object()) {
    config = to_ordered(impl.config_json);
  } else {
    auto token_or_null = [&](const std::optional<int32_t>& id) -> ojson {
      if (!id.has_value()) return nullptr;
      return *IdToToken(*id);
    };
    config["tokenizer_class"] = "PreTrainedTokenizerFast";
    config["bos_token"] = token_or_null(impl.bos_id);
    config["eos_token"] = token_or_null(impl.eos_id);
    config["pad_token"] = token_or_null(impl.pad_id);
    config["unk_token"] = nullptr;
    config["add_bos_token"] = false;
    config["clean_up_tokenization_spaces"] = false;
    config["model_max_length"] = 1 << 20;
    if (!impl.chat_template.empty()) config["chat_template"] = impl.chat_template;
  }
  for (const auto& [name, content] :
       {std::pair<std::string, std::string>{"tokenizer.json", doc.dump(1)},
        {"tokenizer_config.json", config.dump(1)}}) {
    const fs::path path = fs::path(dir) / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content << "\n";
    out.close();
    if (!out) return absl::UnavailableError(absl::StrCat(path.string(), ": write failed"));
  }
  return absl::OkStatus();
}

}  // namespace rlvr
