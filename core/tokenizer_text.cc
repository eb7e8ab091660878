// Text stages of the tokenizer: UTF-8 helpers, the PCRE2 regex wrapper, Split,
// normalizers (utf8proc), pre-tokenizers and the added-token matcher.
#include <algorithm>
#include <cstring>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include "absl/strings/str_cat.h"
#include "core/tokenizer_internal.h"

namespace rlvr::tokenizer_internal {

// ---------------------------------------------------------------- UTF-8 / Unicode

int DecodeUtf8(const char* p, const char* end, char32_t* cp) {
  const auto* s = reinterpret_cast<const unsigned char*>(p);
  const size_t avail = static_cast<size_t>(end - p);
  if (avail == 0) return 0;
  const unsigned char b0 = s[0];
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  // Valid ranges of the second byte per lead byte (Unicode Table 3-7).
  unsigned char lo = 0x80, hi = 0xBF;
  int len;
  char32_t c;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    c = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    c = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    c = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (avail < static_cast<size_t>(len)) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  c = (c << 6) | (s[1] & 0x3F);
  for (int i = 2; i < len; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3F);
  }
  *cp = c;
  return len;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsValidUtf8(absl::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    if (static_cast<unsigned char>(*p) < 0x80) {
      ++p;
      continue;
    }
    char32_t cp;
    const int n = DecodeUtf8(p, end, &cp);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

// Length of the longest prefix of [p, end) that starts a valid sequence (>= 1).
static int InvalidPrefixLength(const char* p, const char* end) {
  const auto* s = reinterpret_cast<const unsigned char*>(p);
  const size_t avail = static_cast<size_t>(end - p);
  const unsigned char b0 = s[0];
  unsigned char lo = 0x80, hi = 0xBF;
  int len;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  int i = 1;
  if (avail > 1 && s[1] >= lo && s[1] <= hi) {
    i = 2;
    while (i < len && static_cast<size_t>(i) < avail && (s[i] & 0xC0) == 0x80) ++i;
  }
  return i;
}

void AppendLossyUtf8(absl::string_view bytes, std::string* out) {
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  const char* run = p;  // start of the pending valid run
  while (p < end) {
    if (static_cast<unsigned char>(*p) < 0x80) {
      ++p;
      continue;
    }
    char32_t cp;
    const int n = DecodeUtf8(p, end, &cp);
    if (n > 0) {
      p += n;
      continue;
    }
    out->append(run, p - run);
    out->append("\xEF\xBF\xBD");
    p += InvalidPrefixLength(p, end);
    run = p;
  }
  out->append(run, p - run);
}

bool IsWhiteSpace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  switch (c) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool IsWordChar(char32_t c) {
  if (c < 0x80) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  }
  if (c == 0x200C || c == 0x200D) return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

namespace {

struct ByteTables {
  std::array<char32_t, 256> byte_to_char;
  absl::flat_hash_map<char32_t, int> char_to_byte;
  ByteTables() {
    std::array<bool, 256> printable{};
    for (int b = '!'; b <= '~'; ++b) printable[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      byte_to_char[b] = printable[b] ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      char_to_byte[byte_to_char[b]] = b;
    }
  }
};

const ByteTables& Tables() {
  static const ByteTables* tables = new ByteTables();
  return *tables;
}

}  // namespace

const std::array<char32_t, 256>& ByteToChar() { return Tables().byte_to_char; }

int CharToByte(char32_t c) {
  const auto& m = Tables().char_to_byte;
  auto it = m.find(c);
  return it == m.end() ? -1 : it->second;
}

// ---------------------------------------------------------------- Regex

namespace {

// Unicode White_Space, as a character-class body.
constexpr char kSpaceClass[] =
    "\\t-\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}";
// Oniguruma's Unicode \w, as a character-class body.
constexpr char kWordClass[] = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

// Rewrites \s, \S, \w, \W to explicit classes so that PCRE2 matches what Oniguruma
// (the engine HF uses) matches.
std::string TranslatePattern(absl::string_view p) {
  std::string out;
  out.reserve(p.size() + 64);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char d = p[i + 1];
      const char* body = (d == 's' || d == 'S')   ? kSpaceClass
                         : (d == 'w' || d == 'W') ? kWordClass
                                                  : nullptr;
      const bool negated = d == 'S' || d == 'W';
      if (body != nullptr && !(in_class && negated)) {
        if (in_class) {
          out += body;
        } else {
          absl::StrAppend(&out, negated ? "[^" : "[", body, "]");
        }
      } else {
        out.push_back(c);
        out.push_back(d);
      }
      ++i;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out.push_back(c);
      if (i + 1 < p.size() && p[i + 1] == '^') out.push_back(p[++i]);
      if (i + 1 < p.size() && p[i + 1] == ']') out.push_back(p[++i]);  // literal ]
      continue;
    }
    if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
      const size_t close = p.find(":]", i + 2);
      if (close != absl::string_view::npos) {
        out.append(p.data() + i, close + 2 - i);
        i = close + 1;
        continue;
      }
    }
    if (in_class && c == ']') in_class = false;
    out.push_back(c);
  }
  return out;
}

// Per-thread PCRE2 match state shared by all patterns.
struct MatchScratch {
  pcre2_match_data* data;
  pcre2_match_context* context;
  pcre2_jit_stack* stack;
  MatchScratch() {
    data = pcre2_match_data_create(4, nullptr);
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~MatchScratch() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

MatchScratch& Scratch() {
  thread_local MatchScratch scratch;
  return scratch;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Regex>> Regex::Compile(absl::string_view pattern, bool literal) {
  const std::string translated = literal ? std::string(pattern) : TranslatePattern(pattern);
  uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
  options |= literal ? PCRE2_LITERAL : PCRE2_UCP;
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()),
                                   translated.size(), options, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return absl::InvalidArgumentError(
        absl::StrCat("bad regex at offset ", offset, ": ", reinterpret_cast<const char*>(message)));
  }
  std::unique_ptr<Regex> regex(new Regex());
  regex->code_ = code;
  regex->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return regex;
}

Regex::~Regex() { pcre2_code_free(code_); }

bool Regex::Find(absl::string_view subject, size_t start, size_t* match_start,
                 size_t* match_end) const {
  MatchScratch& scratch = Scratch();
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  int rc = PCRE2_ERROR_NOMATCH;
  if (jit_) {
    rc = pcre2_jit_match(code_, s, subject.size(), start, 0, scratch.data, scratch.context);
  }
  if (!jit_ || (rc < 0 && rc != PCRE2_ERROR_NOMATCH)) {
    // No JIT, or the JIT stack ran out: the interpreter has no such limit.
    rc = pcre2_match(code_, s, subject.size(), start, 0, scratch.data, nullptr);
  }
  if (rc < 0) return false;
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(scratch.data);
  *match_start = ov[0];
  *match_end = ov[1];
  return true;
}

void SplitByRegex(const Regex& regex, SplitBehavior behavior, bool invert, absl::string_view s,
                  absl::FunctionRef<void(absl::string_view)> emit) {
  if (s.empty()) return;
  // The (offsets, is_match) list of HF's Pattern::find_matches, streamed for Isolated.
  struct Part {
    size_t begin, end;
    bool is_match;
  };
  std::vector<Part> parts;
  const bool stream = behavior == SplitBehavior::kIsolated;
  auto add = [&](size_t b, size_t e, bool m) {
    if (stream) {
      if (e > b) emit(s.substr(b, e - b));
    } else {
      parts.push_back({b, e, m != invert});
    }
  };
  size_t last = 0, pos = 0, ms = 0, me = 0;
  while (pos <= s.size() && regex.Find(s, pos, &ms, &me)) {
    if (ms != last) add(last, ms, false);
    add(ms, me, true);
    last = me;
    if (me > ms) {
      pos = me;
    } else {  // empty match: step over one character
      if (ms >= s.size()) break;
      char32_t cp;
      const int n = DecodeUtf8(s.data() + ms, s.data() + s.size(), &cp);
      pos = ms + (n > 0 ? n : 1);
    }
  }
  if (last != s.size()) add(last, s.size(), false);
  if (stream) return;

  std::vector<Part> out;
  out.reserve(parts.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      out = parts;
      break;
    case SplitBehavior::kRemoved:
      for (const Part& p : parts) {
        if (!p.is_match) out.push_back(p);
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Part& p : parts) {
        if (p.is_match && !previous_match && !out.empty()) {
          out.back().end = p.end;
        } else {
          out.push_back(p);
        }
        previous_match = p.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty()) {
          out.back().begin = it->begin;
        } else {
          out.push_back(*it);
        }
        previous_match = it->is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
    case SplitBehavior::kContiguous:
      for (const Part& p : parts) {
        if (p.is_match == previous_match && !out.empty()) {
          out.back().end = p.end;
        } else {
          out.push_back(p);
        }
        previous_match = p.is_match;
      }
      break;
  }
  for (const Part& p : out) {
    if (p.end > p.begin) emit(s.substr(p.begin, p.end - p.begin));
  }
}

// ---------------------------------------------------------------- Normalizer

namespace {

// True if NFC leaves `cp` unchanged whatever surrounds it: a starter that neither
// decomposes nor composes with what precedes it.
inline bool NfcStable(char32_t cp) {
  return cp < 0x300 || (cp >= 0x3040 && cp <= 0x3098) || (cp >= 0x309B && cp <= 0x30FF) ||
         (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
         (cp >= 0x2010 && cp <= 0x2027) || (cp >= 0x1F300 && cp <= 0x1FAFF);
}

// Applies utf8proc `options` to the valid UTF-8 runs of `in`; invalid bytes pass through.
void Utf8procMap(absl::string_view in, int options, std::string* out) {
  const char* p = in.data();
  const char* end = p + in.size();
  while (p < end) {
    const char* run = p;
    char32_t cp;
    int n;
    while (p < end && (n = DecodeUtf8(p, end, &cp)) > 0) p += n;
    if (p > run) {
      utf8proc_uint8_t* mapped = nullptr;
      const utf8proc_ssize_t len =
          utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(run), p - run, &mapped,
                       static_cast<utf8proc_option_t>(options));
      if (len >= 0) {
        out->append(reinterpret_cast<const char*>(mapped), len);
      } else {
        out->append(run, p - run);
      }
      free(mapped);
    }
    if (p < end) out->push_back(*p++);  // an invalid byte
  }
}

}  // namespace

absl::StatusOr<Normalizer> Normalizer::FromJson(const nlohmann::json& j, const std::string& field) {
  Normalizer result;
  if (j.is_null()) return result;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected an object with a type"));
  }
  const std::string type = j["type"].get<std::string>();
  auto string_field = [&](const char* name) -> absl::StatusOr<std::string> {
    if (!j.contains(name) || !j[name].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".", name, ": expected a string"));
    }
    return j[name].get<std::string>();
  };
  if (type == "Sequence") {
    if (!j.contains("normalizers") || !j["normalizers"].is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".normalizers: expected an array"));
    }
    for (size_t i = 0; i < j["normalizers"].size(); ++i) {
      absl::StatusOr<Normalizer> sub =
          FromJson(j["normalizers"][i], absl::StrCat(field, ".normalizers[", i, "]"));
      if (!sub.ok()) return sub.status();
      for (Step& s : sub->steps_) result.steps_.push_back(std::move(s));
    }
  } else if (type == "NFC") {
    result.steps_.push_back({Step::kNfc, "", nullptr});
  } else if (type == "NFD") {
    result.steps_.push_back({Step::kNfd, "", nullptr});
  } else if (type == "NFKC") {
    result.steps_.push_back({Step::kNfkc, "", nullptr});
  } else if (type == "NFKD") {
    result.steps_.push_back({Step::kNfkd, "", nullptr});
  } else if (type == "Prepend") {
    absl::StatusOr<std::string> prepend = string_field("prepend");
    if (!prepend.ok()) return prepend.status();
    result.steps_.push_back({Step::kPrepend, *prepend, nullptr});
  } else if (type == "Replace") {
    absl::StatusOr<std::string> content = string_field("content");
    if (!content.ok()) return content.status();
    const nlohmann::json& pattern = j.value("pattern", nlohmann::json());
    const bool is_regex = pattern.is_object() && pattern.contains("Regex");
    const bool is_string = pattern.is_object() && pattern.contains("String");
    if (!(is_regex && pattern["Regex"].is_string()) &&
        !(is_string && pattern["String"].is_string())) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".pattern: expected {\"String\": ...} or {\"Regex\": ...}"));
    }
    absl::StatusOr<std::unique_ptr<Regex>> regex = Regex::Compile(
        pattern[is_regex ? "Regex" : "String"].get<std::string>(), /*literal=*/!is_regex);
    if (!regex.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".pattern: ", regex.status().message()));
    }
    result.steps_.push_back({Step::kReplace, *content, std::shared_ptr<Regex>(std::move(*regex))});
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".type: unsupported normalizer \"", type,
                     "\" (supported: NFC, NFD, NFKC, NFKD, Prepend, Replace, Sequence)"));
  }
  return result;
}

absl::string_view Normalizer::Apply(absl::string_view in, std::string* buffer) const {
  absl::string_view cur = in;
  std::string tmp;
  for (const Step& step : steps_) {
    std::string next;
    switch (step.kind) {
      case Step::kNfc:
      case Step::kNfd:
      case Step::kNfkc:
      case Step::kNfkd: {
        // Fast path: text that the normal form leaves unchanged.
        const char* p = cur.data();
        const char* end = p + cur.size();
        bool stable = true;
        while (p < end) {
          const unsigned char b = static_cast<unsigned char>(*p);
          if (b < 0x80) {
            ++p;
            continue;
          }
          if (step.kind != Step::kNfc) {
            stable = false;
            break;
          }
          char32_t cp;
          const int n = DecodeUtf8(p, end, &cp);
          if (n == 0 || !NfcStable(cp)) {
            stable = false;
            break;
          }
          p += n;
        }
        if (stable) continue;
        int options = UTF8PROC_STABLE;
        if (step.kind == Step::kNfc || step.kind == Step::kNfkc) options |= UTF8PROC_COMPOSE;
        if (step.kind == Step::kNfd || step.kind == Step::kNfkd) options |= UTF8PROC_DECOMPOSE;
        if (step.kind == Step::kNfkc || step.kind == Step::kNfkd) options |= UTF8PROC_COMPAT;
        Utf8procMap(cur, options, &next);
        break;
      }
      case Step::kPrepend:
        if (cur.empty()) continue;
        next = absl::StrCat(step.text, cur);
        break;
      case Step::kReplace: {
        size_t pos = 0, last = 0, ms, me;
        bool any = false;
        while (pos <= cur.size() && step.pattern->Find(cur, pos, &ms, &me)) {
          if (me == ms) {  // HF never replaces empty matches
            pos = ms + 1;
            continue;
          }
          any = true;
          next.append(cur.data() + last, ms - last);
          next += step.text;
          last = pos = me;
        }
        if (!any) continue;
        next.append(cur.data() + last, cur.size() - last);
        break;
      }
    }
    tmp = std::move(next);
    cur = tmp;
  }
  if (cur.data() == in.data()) return in;
  *buffer = std::move(tmp);
  return *buffer;
}

// ---------------------------------------------------------------- Pre-tokenizer

namespace {

// The regex of HF's ByteLevel pre-tokenizer (use_regex = true), from GPT-2.
constexpr char kGpt2Pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

absl::StatusOr<SplitBehavior> ParseBehavior(const nlohmann::json& j, const std::string& field) {
  const std::string b = j.is_string() ? j.get<std::string>() : "";
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  return absl::InvalidArgumentError(absl::StrCat(field, ": unknown split behavior ", j.dump()));
}

bool BoolField(const nlohmann::json& j, const char* name, bool fallback) {
  return j.contains(name) && j[name].is_boolean() ? j[name].get<bool>() : fallback;
}

}  // namespace

absl::StatusOr<PreTokenizer> PreTokenizer::FromJson(const nlohmann::json& j,
                                                    const std::string& field) {
  PreTokenizer result;
  std::vector<std::pair<const nlohmann::json*, std::string>> items;
  if (j.is_object() && j.value("type", "") == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".pretokenizers: expected an array"));
    }
    for (size_t i = 0; i < j["pretokenizers"].size(); ++i) {
      items.emplace_back(&j["pretokenizers"][i], absl::StrCat(field, ".pretokenizers[", i, "]"));
    }
  } else {
    items.emplace_back(&j, field);
  }
  bool byte_level = false;
  for (const auto& [item, name] : items) {
    if (!item->is_object() || !item->contains("type") || !(*item)["type"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name,
                       ": expected an object with a type (a byte-level BPE needs a "
                       "ByteLevel pre_tokenizer)"));
    }
    const std::string type = (*item)["type"].get<std::string>();
    if (byte_level) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", type, " after ByteLevel is not supported"));
    }
    if (type == "Split") {
      const nlohmann::json pattern = item->value("pattern", nlohmann::json());
      const bool is_regex = pattern.is_object() && pattern.contains("Regex");
      const bool is_string = pattern.is_object() && pattern.contains("String");
      if (!(is_regex && pattern["Regex"].is_string()) &&
          !(is_string && pattern["String"].is_string())) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ".pattern: expected {\"Regex\": ...} or {\"String\": ...}"));
      }
      absl::StatusOr<std::unique_ptr<Regex>> regex = Regex::Compile(
          pattern[is_regex ? "Regex" : "String"].get<std::string>(), /*literal=*/!is_regex);
      if (!regex.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ".pattern: ", regex.status().message()));
      }
      absl::StatusOr<SplitBehavior> behavior =
          ParseBehavior(item->value("behavior", nlohmann::json()), name + ".behavior");
      if (!behavior.ok()) return behavior.status();
      result.stages_.push_back({Stage::kSplit, std::shared_ptr<Regex>(std::move(*regex)), *behavior,
                                BoolField(*item, "invert", false)});
    } else if (type == "Digits") {
      absl::StatusOr<std::unique_ptr<Regex>> regex = Regex::Compile("\\p{N}", false);
      if (!regex.ok()) return regex.status();
      result.stages_.push_back({Stage::kSplit, std::shared_ptr<Regex>(std::move(*regex)),
                                BoolField(*item, "individual_digits", false)
                                    ? SplitBehavior::kIsolated
                                    : SplitBehavior::kContiguous,
                                false});
    } else if (type == "ByteLevel") {
      byte_level = true;
      if (BoolField(*item, "add_prefix_space", true)) {
        result.stages_.push_back({Stage::kPrefixSpace, nullptr, SplitBehavior::kIsolated, false});
      }
      if (BoolField(*item, "use_regex", true)) {
        absl::StatusOr<std::unique_ptr<Regex>> regex = Regex::Compile(kGpt2Pattern, false);
        if (!regex.ok()) return regex.status();
        result.stages_.push_back({Stage::kSplit, std::shared_ptr<Regex>(std::move(*regex)),
                                  SplitBehavior::kIsolated, false});
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ".type: unsupported pre-tokenizer \"", type,
                       "\" (supported: Sequence, Split, Digits, ByteLevel)"));
    }
  }
  if (!byte_level) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": no ByteLevel pre-tokenizer; only byte-level BPE is supported"));
  }
  return result;
}

void PreTokenizer::ForEachWord(absl::string_view text,
                               absl::FunctionRef<void(absl::string_view)> emit) const {
  Walk(0, text, emit);
}

void PreTokenizer::Walk(size_t stage, absl::string_view s,
                        absl::FunctionRef<void(absl::string_view)> emit) const {
  if (s.empty()) return;
  if (stage == stages_.size()) {
    emit(s);
    return;
  }
  const Stage& st = stages_[stage];
  if (st.kind == Stage::kPrefixSpace) {
    if (s[0] == ' ') {
      Walk(stage + 1, s, emit);
    } else {
      const std::string prefixed = absl::StrCat(" ", s);
      Walk(stage + 1, prefixed, emit);
    }
    return;
  }
  SplitByRegex(*st.regex, st.behavior, st.invert, s,
               [&](absl::string_view sub) { Walk(stage + 1, sub, emit); });
}

// ---------------------------------------------------------------- Added tokens

AddedTokenMatcher::AddedTokenMatcher() {
  nodes_.emplace_back();
  nodes_[0].next.fill(-1);
}

void AddedTokenMatcher::Build(std::vector<const AddedToken*> tokens,
                              std::vector<std::string> patterns) {
  tokens_ = std::move(tokens);
  for (size_t t = 0; t < patterns.size(); ++t) {
    const std::string& pat = patterns[t];
    if (pat.empty()) continue;
    first_byte_[static_cast<unsigned char>(pat[0])] = true;
    int32_t node = 0;
    for (unsigned char c : pat) {
      if (nodes_[node].next[c] < 0) {
        nodes_[node].next[c] = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
        nodes_.back().next.fill(-1);
      }
      node = nodes_[node].next[c];
    }
    // With duplicate patterns Aho-Corasick reports the first one.
    if (nodes_[node].token < 0) nodes_[node].token = static_cast<int32_t>(t);
  }
}

namespace {

// The code point ending just before `pos` (pos > 0), or -1 if invalid.
char32_t CharBefore(absl::string_view s, size_t pos, size_t* char_start) {
  size_t b = pos - 1;
  while (b > 0 && pos - b < 4 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  char32_t cp;
  const int n = DecodeUtf8(s.data() + b, s.data() + pos, &cp);
  if (n == 0 || b + n != pos) {
    *char_start = pos - 1;
    return static_cast<char32_t>(-1);
  }
  *char_start = b;
  return cp;
}

}  // namespace

void AddedTokenMatcher::Split(absl::string_view text,
                              absl::FunctionRef<void(absl::string_view, int32_t)> emit) const {
  const size_t n = text.size();
  if (tokens_.empty()) {
    if (n > 0) emit(text, -1);
    return;
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < n) {
    if (!first_byte_[bytes[pos]]) {
      ++pos;
      continue;
    }
    int32_t node = 0, best = -1;
    size_t best_end = 0;
    for (size_t i = pos; i < n; ++i) {
      node = nodes_[node].next[bytes[i]];
      if (node < 0) break;
      if (nodes_[node].token >= 0) {
        best = nodes_[node].token;
        best_end = i + 1;
      }
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = best_end;
    pos = best_end;
    const AddedToken& token = *tokens_[best];
    if (token.single_word) {
      size_t unused;
      char32_t cp;
      const bool start_space = start == 0 || !IsWordChar(CharBefore(text, start, &unused));
      const bool stop_space =
          stop == n || DecodeUtf8(text.data() + stop, text.data() + n, &cp) == 0 || !IsWordChar(cp);
      if (!start_space || !stop_space) continue;
    }
    if (token.lstrip) {
      size_t new_start = start;
      while (new_start > 0) {
        size_t char_start;
        const char32_t cp = CharBefore(text, new_start, &char_start);
        if (!IsWhiteSpace(cp)) break;
        new_start = char_start;
      }
      start = std::max(new_start, start_offset);
    }
    if (token.rstrip) {
      char32_t cp;
      int len;
      while (stop < n && (len = DecodeUtf8(text.data() + stop, text.data() + n, &cp)) > 0 &&
             IsWhiteSpace(cp)) {
        stop += len;
      }
    }
    if (start_offset < start) emit(text.substr(start_offset, start - start_offset), -1);
    emit(text.substr(start, stop - start), token.id);
    start_offset = stop;
  }
  if (start_offset < n) emit(text.substr(start_offset), -1);
}

}  // namespace rlvr::tokenizer_internal
