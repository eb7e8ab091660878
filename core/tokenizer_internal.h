// Internal pieces of core/tokenizer: not part of the public interface. Each piece
// mirrors one stage of HF `tokenizers`' encode pipeline:
//   added tokens (raw) -> normalizer -> added tokens (normalized) -> pre-tokenizer
//   -> BPE model -> post-processor;  decode: ids -> bytes -> lossy UTF-8.
// All classes are immutable after construction and safe to use from many threads
// (BpeModel's word cache is synchronised internally).
#ifndef RLVR_CORE_TOKENIZER_INTERNAL_H_
#define RLVR_CORE_TOKENIZER_INTERNAL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

struct pcre2_real_code_8;

namespace rlvr::tokenizer_internal {

// ---------------------------------------------------------------- UTF-8 / Unicode

// Decodes the code point at [p, end); returns its length in bytes (1-4), or 0 if the
// bytes there are not valid UTF-8.
int DecodeUtf8(const char* p, const char* end, char32_t* cp);
void AppendUtf8(char32_t cp, std::string* out);
bool IsValidUtf8(absl::string_view s);
// Appends `bytes` to `out`, replacing each maximal invalid subsequence by U+FFFD
// (Rust's String::from_utf8_lossy, which HF's ByteLevel decoder uses).
void AppendLossyUtf8(absl::string_view bytes, std::string* out);
// Unicode White_Space (Rust's char::is_whitespace and regex \s).
bool IsWhiteSpace(char32_t c);
// Rust regex \w: Alphabetic, marks, decimal digits, connector punctuation, join controls.
bool IsWordChar(char32_t c);

// GPT-2's byte <-> printable character mapping used by ByteLevel.
const std::array<char32_t, 256>& ByteToChar();
// The byte a ByteLevel character stands for, or -1.
int CharToByte(char32_t c);

// ---------------------------------------------------------------- Regex (PCRE2 JIT)

// A compiled pattern with Oniguruma-compatible classes: \s means Unicode White_Space and
// \w Rust/Oniguruma word characters (PCRE2's own differ slightly). UTF mode; invalid
// UTF-8 in the subject never matches.
class Regex {
 public:
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(absl::string_view pattern, bool literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Finds the leftmost match at or after `start`; false when none.
  bool Find(absl::string_view subject, size_t start, size_t* match_start, size_t* match_end) const;

 private:
  Regex() = default;
  pcre2_real_code_8* code_ = nullptr;
  bool jit_ = false;
};

// How Split treats the matched delimiters (HF SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Splits `s` by `regex` as HF's NormalizedString::split does, calling `emit` for each
// non-empty piece in order.
void SplitByRegex(const Regex& regex, SplitBehavior behavior, bool invert, absl::string_view s,
                  absl::FunctionRef<void(absl::string_view)> emit);

// ---------------------------------------------------------------- Normalizer

// A chain of normalizers (NFC, NFD, NFKC, NFKD, Prepend, Replace).
class Normalizer {
 public:
  // Parses the tokenizer.json `normalizer` value (null allowed); errors name `field`.
  static absl::StatusOr<Normalizer> FromJson(const nlohmann::json& j, const std::string& field);
  bool empty() const { return steps_.empty(); }
  // Returns the normalized text: `in` itself when unchanged, else a view of `*buffer`.
  absl::string_view Apply(absl::string_view in, std::string* buffer) const;

 private:
  struct Step {
    enum Kind { kNfc, kNfd, kNfkc, kNfkd, kPrepend, kReplace } kind;
    std::string text;                // Prepend: prefix; Replace: replacement
    std::shared_ptr<Regex> pattern;  // Replace
  };
  std::vector<Step> steps_;
};

// ---------------------------------------------------------------- Pre-tokenizer

// Split / Digits stages followed by ByteLevel (optional prefix space and GPT-2 regex).
class PreTokenizer {
 public:
  // Parses `pre_tokenizer`; a byte-level BPE needs ByteLevel as the last stage.
  static absl::StatusOr<PreTokenizer> FromJson(const nlohmann::json& j, const std::string& field);
  // Calls `emit` with each pre-token (raw bytes, before the byte-level mapping).
  void ForEachWord(absl::string_view text, absl::FunctionRef<void(absl::string_view)> emit) const;

 private:
  struct Stage {
    enum Kind { kSplit, kPrefixSpace } kind;
    std::shared_ptr<Regex> regex;
    SplitBehavior behavior = SplitBehavior::kIsolated;
    bool invert = false;
  };
  void Walk(size_t stage, absl::string_view s,
            absl::FunctionRef<void(absl::string_view)> emit) const;
  std::vector<Stage> stages_;
};

// ---------------------------------------------------------------- Added tokens

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// Finds added tokens as HF's AddedVocabulary does (Aho-Corasick, leftmost-longest,
// then the single_word / lstrip / rstrip rules).
class AddedTokenMatcher {
 public:
  AddedTokenMatcher();
  // `patterns[i]` is matched for `tokens[i]` (the content, normalized when needed).
  void Build(std::vector<const AddedToken*> tokens, std::vector<std::string> patterns);
  // Calls emit(piece, id) over `text` in order: id >= 0 for a token, -1 for text between
  // tokens. Empty pieces are skipped.
  void Split(absl::string_view text,
             absl::FunctionRef<void(absl::string_view, int32_t)> emit) const;

 private:
  struct Node {
    std::array<int32_t, 256> next;
    int32_t token = -1;  // index into tokens_ ending here
  };
  std::vector<Node> nodes_;
  std::vector<const AddedToken*> tokens_;
  std::array<bool, 256> first_byte_{};
};

// ---------------------------------------------------------------- BPE model

class BpeModel {
 public:
  struct Options {
    std::optional<int32_t> unk_id;  // used for bytes missing from the vocabulary
    bool fuse_unk = false;
    bool ignore_merges = false;  // a word found whole in the vocabulary is one token
    size_t cache_capacity = 1 << 16;
  };
  // token_bytes[id]: the raw bytes of each model token (nullopt if not byte-level).
  // merges: (left, right, merged) ids in rank order.
  BpeModel(const std::vector<std::optional<std::string>>& token_bytes,
           const std::vector<std::array<int32_t, 3>>& merges, Options options);

  // Appends the ids of one pre-token (raw bytes).
  void Tokenize(absl::string_view word, std::vector<int32_t>* out) const;

 private:
  using Ids = absl::InlinedVector<int32_t, 6>;
  void Merge(absl::string_view word, Ids* ids) const;
  void MergeLong(Ids* ids) const;
  int32_t PairRank(int32_t a, int32_t b, int32_t* merged) const;

  struct MergeInfo {
    int32_t rank;
    int32_t merged;
  };
  std::array<int32_t, 256> byte_id_;
  absl::flat_hash_map<uint64_t, MergeInfo> merges_;
  absl::flat_hash_map<std::string, int32_t> bytes_to_id_;  // only with ignore_merges
  Options options_;

  static constexpr int kShards = 32;
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, Ids> map ABSL_GUARDED_BY(mu);
  };
  std::unique_ptr<Shard[]> cache_;
};

}  // namespace rlvr::tokenizer_internal

#endif  // RLVR_CORE_TOKENIZER_INTERNAL_H_
