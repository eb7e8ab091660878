#include "verifiers/pipeline/rewards.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"

namespace rlvr {
namespace {

// Fails on any key of `config` outside `known`, naming it.
absl::Status CheckKeys(const std::string& verifier, const nlohmann::json& config,
                       const std::set<std::string>& known) {
  if (config.is_null()) return absl::OkStatus();
  if (!config.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("verifier '", verifier, "': config must be a JSON object"));
  }
  for (const auto& [key, value] : config.items()) {
    if (known.count(key) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("verifier '", verifier,
                                                     "': unknown config field '", key,
                                                     "'; known: ", absl::StrJoin(known, ", ")));
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status ReadField(const std::string& verifier, const nlohmann::json& config,
                       const std::string& field, T* out) {
  if (config.is_null() || !config.contains(field)) return absl::OkStatus();
  try {
    const nlohmann::json& v = config.at(field);
    if constexpr (std::is_same_v<T, std::string>) {
      if (!v.is_string()) throw std::runtime_error("expected a string");
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) throw std::runtime_error("expected true or false");
    } else {
      if (!v.is_number()) throw std::runtime_error("expected a number");
    }
    *out = v.get<T>();
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("verifier '", verifier, "': config field '", field, "': ", e.what()));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- exact
class ExactVerifier final : public Verifier {
 public:
  explicit ExactVerifier(bool case_sensitive) : case_sensitive_(case_sensitive) {}
  std::string name() const override { return "exact"; }
  absl::StatusOr<Reward> Verify(const VerifyRequest& request) const override {
    const std::string got(absl::StripAsciiWhitespace(request.completion));
    const std::string want(absl::StripAsciiWhitespace(request.answer));
    const bool same = case_sensitive_ ? got == want : absl::EqualsIgnoreCase(got, want);
    Reward r;
    r.score = same ? 1.0 : 0.0;
    r.verdict = same ? "correct" : "incorrect";
    return r;
  }

 private:
  const bool case_sensitive_;
};

// ---------------------------------------------------------------- format
struct Pcre2Deleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};

class FormatVerifier final : public Verifier {
 public:
  FormatVerifier(std::string open, std::string close, std::unique_ptr<pcre2_code, Pcre2Deleter> re)
      : open_(std::move(open)), close_(std::move(close)), answer_re_(std::move(re)) {}
  std::string name() const override { return "format"; }

  absl::StatusOr<Reward> Verify(const VerifyRequest& request) const override {
    const std::string text(absl::StripAsciiWhitespace(request.completion));
    std::string reason;
    if (!absl::StartsWith(text, open_)) {
      reason = absl::StrCat("does not start with ", open_);
    } else {
      const size_t close_at = text.find(close_, open_.size());
      if (close_at == std::string::npos) {
        reason = absl::StrCat("no ", close_, " after ", open_);
      } else if (text.find(open_, open_.size()) < close_at ||
                 text.find(open_, close_at) != std::string::npos ||
                 text.find(close_, close_at + close_.size()) != std::string::npos) {
        reason = "more than one reasoning block";
      } else {
        const std::string answer(
            absl::StripAsciiWhitespace(absl::string_view(text).substr(close_at + close_.size())));
        if (answer.empty()) {
          reason = absl::StrCat("no answer after ", close_);
        } else if (answer_re_ != nullptr) {
          pcre2_match_data* md = pcre2_match_data_create_from_pattern(answer_re_.get(), nullptr);
          const int rc = pcre2_match(answer_re_.get(), reinterpret_cast<PCRE2_SPTR>(answer.data()),
                                     answer.size(), 0, 0, md, nullptr);
          pcre2_match_data_free(md);
          if (rc < 0) reason = "answer does not match answer_regex";
        }
      }
    }
    Reward r;
    r.score = reason.empty() ? 1.0 : 0.0;
    r.verdict = reason.empty() ? "formatted" : "bad_format";
    if (!reason.empty()) r.details["reason"] = reason;
    return r;
  }

 private:
  const std::string open_;
  const std::string close_;
  const std::unique_ptr<pcre2_code, Pcre2Deleter> answer_re_;  // may be null
};

absl::StatusOr<std::unique_ptr<Verifier>> CreateFormat(const nlohmann::json& config) {
  RETURN_IF_ERROR(CheckKeys("format", config, {"open", "close", "answer_regex"}));
  std::string open = "<think>", close = "</think>", answer_regex;
  RETURN_IF_ERROR(ReadField("format", config, "open", &open));
  RETURN_IF_ERROR(ReadField("format", config, "close", &close));
  RETURN_IF_ERROR(ReadField("format", config, "answer_regex", &answer_regex));
  if (open.empty() || close.empty()) {
    return absl::InvalidArgumentError(
        "verifier 'format': config fields 'open' and 'close' must be non-empty");
  }
  std::unique_ptr<pcre2_code, Pcre2Deleter> re;
  if (!answer_regex.empty()) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    re.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(answer_regex.data()), answer_regex.size(),
                           PCRE2_UTF, &err, &offset, nullptr));
    if (re == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return absl::InvalidArgumentError(
          absl::StrCat("verifier 'format': config field 'answer_regex' at offset ", offset, ": ",
                       reinterpret_cast<char*>(msg)));
    }
  }
  return std::unique_ptr<Verifier>(new FormatVerifier(open, close, std::move(re)));
}

// ---------------------------------------------------------------- overlong
class OverlongVerifier final : public Verifier {
 public:
  OverlongVerifier(int64_t max_tokens, int64_t buffer) : max_(max_tokens), buffer_(buffer) {}
  std::string name() const override { return "overlong"; }
  absl::StatusOr<Reward> Verify(const VerifyRequest& request) const override {
    const int64_t n = request.completion_tokens;
    if (n < 0 || (n == 0 && !request.completion.empty())) {
      return absl::InvalidArgumentError(absl::StrCat("verifier 'overlong': request '", request.id,
                                                     "' field 'completion_tokens' is ", n,
                                                     " (unknown) for a non-empty completion"));
    }
    Reward r;
    const int64_t free_len = max_ - buffer_;
    if (n <= free_len) {
      r.score = 0.0;
      r.verdict = "within_limit";
    } else if (n <= max_) {
      r.score = static_cast<double>(free_len - n) / static_cast<double>(buffer_);
      r.verdict = "soft_overlong";
    } else {
      r.score = -1.0;
      r.verdict = "overlong";
    }
    r.details["completion_tokens"] = n;
    return r;
  }

 private:
  const int64_t max_;
  const int64_t buffer_;
};

absl::StatusOr<std::unique_ptr<Verifier>> CreateOverlong(const nlohmann::json& config) {
  RETURN_IF_ERROR(CheckKeys("overlong", config, {"max_tokens", "buffer_tokens"}));
  int64_t max_tokens = 4096, buffer = 1024;
  RETURN_IF_ERROR(ReadField("overlong", config, "max_tokens", &max_tokens));
  RETURN_IF_ERROR(ReadField("overlong", config, "buffer_tokens", &buffer));
  if (max_tokens <= 0 || buffer <= 0 || buffer > max_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "verifier 'overlong': need 0 < buffer_tokens <= max_tokens, got buffer_tokens=", buffer,
        " max_tokens=", max_tokens));
  }
  return std::unique_ptr<Verifier>(new OverlongVerifier(max_tokens, buffer));
}

// ---------------------------------------------------------------- language
enum class Script {
  kLatin,
  kCyrillic,
  kHan,
  kKana,
  kHangul,
  kArabic,
  kDevanagari,
  kGreek,
  kHebrew,
  kThai,
  kOther
};

Script ScriptOf(utf8proc_int32_t c) {
  if (c < 0x250) return Script::kLatin;  // Basic Latin .. Latin Extended-B
  if ((c >= 0x1E00 && c <= 0x1EFF) || (c >= 0x2C60 && c <= 0x2C7F) ||
      (c >= 0xA720 && c <= 0xA7FF) || (c >= 0xFF21 && c <= 0xFF5A))
    return Script::kLatin;
  if (c >= 0x370 && c <= 0x3FF) return Script::kGreek;
  if ((c >= 0x400 && c <= 0x52F) || (c >= 0x1C80 && c <= 0x1C8F)) return Script::kCyrillic;
  if (c >= 0x590 && c <= 0x5FF) return Script::kHebrew;
  if ((c >= 0x600 && c <= 0x6FF) || (c >= 0x750 && c <= 0x77F) || (c >= 0xFB50 && c <= 0xFDFF) ||
      (c >= 0xFE70 && c <= 0xFEFF))
    return Script::kArabic;
  if (c >= 0x900 && c <= 0x97F) return Script::kDevanagari;
  if (c >= 0xE00 && c <= 0xE7F) return Script::kThai;
  if ((c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F) || (c >= 0xAC00 && c <= 0xD7AF))
    return Script::kHangul;
  if ((c >= 0x3040 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF) || (c >= 0xFF66 && c <= 0xFF9F))
    return Script::kKana;
  if ((c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
      (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x3134F))
    return Script::kHan;
  return Script::kOther;
}

const std::map<std::string, std::set<Script>>& LanguageScripts() {
  static const auto* m = new std::map<std::string, std::set<Script>>{
      {"latin", {Script::kLatin}},
      {"cyrillic", {Script::kCyrillic}},
      {"han", {Script::kHan}},
      {"hangul", {Script::kHangul}},
      {"arabic", {Script::kArabic}},
      {"devanagari", {Script::kDevanagari}},
      {"greek", {Script::kGreek}},
      {"hebrew", {Script::kHebrew}},
      {"thai", {Script::kThai}},
      {"en", {Script::kLatin}},
      {"fr", {Script::kLatin}},
      {"de", {Script::kLatin}},
      {"es", {Script::kLatin}},
      {"it", {Script::kLatin}},
      {"pt", {Script::kLatin}},
      {"nl", {Script::kLatin}},
      {"ru", {Script::kCyrillic}},
      {"uk", {Script::kCyrillic}},
      {"zh", {Script::kHan}},
      {"ja", {Script::kHan, Script::kKana}},
      {"ko", {Script::kHangul, Script::kHan}},
      {"ar", {Script::kArabic}},
      {"hi", {Script::kDevanagari}},
      {"el", {Script::kGreek}},
      {"he", {Script::kHebrew}},
      {"th", {Script::kThai}},
  };
  return *m;
}

std::vector<std::string> KnownLanguages() {
  std::vector<std::string> names;
  for (const auto& [k, v] : LanguageScripts()) names.push_back(k);
  return names;
}

class LanguageVerifier final : public Verifier {
 public:
  LanguageVerifier(std::string language, double threshold)
      : language_(std::move(language)), threshold_(threshold) {}
  std::string name() const override { return "language"; }

  absl::StatusOr<Reward> Verify(const VerifyRequest& request) const override {
    std::string language = language_;
    if (request.spec.is_object() && request.spec.contains("language")) {
      if (!request.spec["language"].is_string()) {
        return absl::InvalidArgumentError(absl::StrCat("verifier 'language': request '", request.id,
                                                       "' spec field 'language' must be a string"));
      }
      language = request.spec["language"].get<std::string>();
    }
    auto it = LanguageScripts().find(absl::AsciiStrToLower(language));
    if (it == LanguageScripts().end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("verifier 'language': request '", request.id, "' names unknown language '",
                       language, "'; known: ", absl::StrJoin(KnownLanguages(), ", ")));
    }
    int64_t letters = 0, in_target = 0;
    const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(request.completion.data());
    utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(request.completion.size());
    while (left > 0) {
      utf8proc_int32_t c = 0;
      utf8proc_ssize_t n = utf8proc_iterate(p, left, &c);
      if (n <= 0) {  // invalid UTF-8: skip one byte
        n = 1;
        c = -1;
      }
      p += n;
      left -= n;
      if (c < 0) continue;
      const utf8proc_category_t cat = utf8proc_category(c);
      const bool is_letter = cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL ||
                             cat == UTF8PROC_CATEGORY_LT || cat == UTF8PROC_CATEGORY_LM ||
                             cat == UTF8PROC_CATEGORY_LO;
      if (!is_letter) continue;
      ++letters;
      if (it->second.count(ScriptOf(c)) > 0) ++in_target;
    }
    Reward r;
    if (letters == 0) {
      r.score = 0.0;
      r.verdict = "no_text";
    } else {
      r.score = static_cast<double>(in_target) / static_cast<double>(letters);
      r.verdict = r.score >= threshold_ ? "consistent" : "mixed";
    }
    r.details["language"] = language;
    r.details["letters"] = letters;
    r.details["in_language"] = in_target;
    return r;
  }

 private:
  const std::string language_;
  const double threshold_;
};

absl::StatusOr<std::unique_ptr<Verifier>> CreateLanguage(const nlohmann::json& config) {
  RETURN_IF_ERROR(CheckKeys("language", config, {"language", "threshold"}));
  std::string language = "en";
  double threshold = 0.95;
  RETURN_IF_ERROR(ReadField("language", config, "language", &language));
  RETURN_IF_ERROR(ReadField("language", config, "threshold", &threshold));
  if (LanguageScripts().count(absl::AsciiStrToLower(language)) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("verifier 'language': config field 'language': unknown '", language,
                     "'; known: ", absl::StrJoin(KnownLanguages(), ", ")));
  }
  if (!(threshold >= 0.0 && threshold <= 1.0)) {
    return absl::InvalidArgumentError(
        "verifier 'language': config field 'threshold' must be in [0, 1]");
  }
  return std::unique_ptr<Verifier>(new LanguageVerifier(language, threshold));
}

}  // namespace

absl::Status RegisterRewardVerifiers(VerifierRegistry& registry) {
  RETURN_IF_ERROR(registry.Register(
      "exact", [](const nlohmann::json& config) -> absl::StatusOr<std::unique_ptr<Verifier>> {
        RETURN_IF_ERROR(CheckKeys("exact", config, {"case_sensitive"}));
        bool case_sensitive = true;
        RETURN_IF_ERROR(ReadField("exact", config, "case_sensitive", &case_sensitive));
        return std::unique_ptr<Verifier>(new ExactVerifier(case_sensitive));
      }));
  RETURN_IF_ERROR(registry.Register("format", CreateFormat));
  RETURN_IF_ERROR(registry.Register("overlong", CreateOverlong));
  RETURN_IF_ERROR(registry.Register("language", CreateLanguage));
  return absl::OkStatus();
}

}  // namespace rlvr
