// Byte-level BPE tokenizer read from a Hugging Face `tokenizer.json` (Qwen2/Qwen3,
// Llama 3, GPT-2 families), encoding and decoding exactly as HF `tokenizers` does.
//
//   ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::FromFile("/models/qwen3"));
//   std::vector<int32_t> ids = tok.Encode("Hello <|im_end|>");
//   std::string text = tok.Decode(ids);
//
// Supported pieces of tokenizer.json (anything else is an INVALID_ARGUMENT error naming
// the field, never a silent difference):
//   normalizer:     null, NFC, NFD, NFKC, NFKD, Prepend, Replace, Sequence of these
//   pre_tokenizer:  Sequence of Split (Regex or String pattern, any behavior, invert),
//                   Digits, ending with ByteLevel (add_prefix_space, use_regex)
//   model:          BPE (merges as "a b" or ["a", "b"], ignore_merges, unk_token)
//   post_processor: null, ByteLevel, TemplateProcessing (single), RobertaProcessing,
//                   BertProcessing, Sequence of these
//   decoder:        null, ByteLevel
//   added_tokens:   with their special / lstrip / rstrip / single_word / normalized flags,
//                   matched in the text before pre-tokenization as HF does.
// `truncation` and `padding` are ignored: callers truncate and pad.
//
// Text is UTF-8. Bytes that are not valid UTF-8 are neither normalized nor matched by
// the pre-tokenizer regex; they are encoded as byte tokens, so nothing is lost.
//
// Thread safety: a Tokenizer is immutable after construction (its word cache is
// internally synchronised); all const methods may be called concurrently. Copies are
// cheap and share the same tables.
#ifndef RLVR_CORE_TOKENIZER_H_
#define RLVR_CORE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace rlvr {

namespace tokenizer_internal {
struct Impl;
}  // namespace tokenizer_internal

class Tokenizer {
 public:
  // Loads `path`: a tokenizer.json file, or a directory containing one. A
  // tokenizer_config.json beside it, when present, supplies eos/bos/pad tokens and the
  // chat template. Errors: NOT_FOUND (no such file), INVALID_ARGUMENT (bad JSON,
  // unsupported or malformed field), each naming the file and the field.
  static absl::StatusOr<Tokenizer> FromFile(const std::string& path);

  // Parses tokenizer.json text; `source_name` names it in error messages.
  // `config_json` is the optional text of tokenizer_config.json ("" = none).
  static absl::StatusOr<Tokenizer> FromJson(absl::string_view json_text,
                                            absl::string_view source_name,
                                            absl::string_view config_json = "");

  // The built-in tokenizer for built-in tasks and tiny models: byte-level BPE (256 byte
  // tokens, a few hundred merges learned from a built-in text, Qwen-style
  // pre-tokenizer that splits every digit, no normalizer) plus the special tokens
  // <|endoftext|> (pad), <|im_start|>, <|im_end|> (eos) and the added tokens <think>,
  // </think>. vocab_size() <= 512. Decode(Encode(x)) == x for every UTF-8 string x.
  // Built once on first use; the same code path as a loaded file.
  static Tokenizer Builtin();

  // Writes `dir`/tokenizer.json (loadable by HF `tokenizers`, which then encodes
  // identically) and `dir`/tokenizer_config.json. Creates `dir` if needed.
  absl::Status Save(const std::string& dir) const;

  // Token ids of `text`. With `add_special_tokens`, the post-processor's tokens are
  // added (e.g. Llama 3's <|begin_of_text|>); special tokens written in the text are
  // always recognised, as HF does.
  std::vector<int32_t> Encode(absl::string_view text, bool add_special_tokens = false) const;
  // As Encode, appending to `*ids`.
  void EncodeAppend(absl::string_view text, bool add_special_tokens,
                    std::vector<int32_t>* ids) const;

  // The text of `ids`; unknown ids are skipped, and bytes that do not form valid
  // UTF-8 become U+FFFD, as HF does. `skip_special_tokens` drops special added tokens.
  std::string Decode(absl::Span<const int32_t> ids, bool skip_special_tokens = false) const;

  // The id of a token string as written in tokenizer.json (added tokens first).
  std::optional<int32_t> TokenToId(absl::string_view token) const;
  // The token string of `id` as written in tokenizer.json (byte-level characters).
  std::optional<std::string> IdToToken(int32_t id) const;
  // True if `id` is an added token marked special.
  bool IsSpecial(int32_t id) const;

  // One more than the largest id: the number of embedding rows the ids need.
  int32_t vocab_size() const;
  // From tokenizer_config.json (eos_token, bos_token, pad_token) when given, else
  // bos from the post-processor template; nullopt when unknown.
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> pad_id() const;
  // tokenizer_config.json's chat_template (Jinja), or "" when none.
  const std::string& chat_template() const;
  // Where the tokenizer came from (a path or "<built-in>").
  const std::string& source() const;

 private:
  explicit Tokenizer(std::shared_ptr<const tokenizer_internal::Impl> impl);
  std::shared_ptr<const tokenizer_internal::Impl> impl_;
};

}  // namespace rlvr

#endif  // RLVR_CORE_TOKENIZER_H_
