#include "verifiers/math/lexer.h"

#include <cctype>
#include <cstring>

namespace rlvr::math {
namespace {

struct UnicodeMap {
  const char* utf8;
  TokKind kind;
  const char* text;
};

// Unicode characters models commonly emit, mapped to the LaTeX spelling.
constexpr UnicodeMap kUnicode[] = {
    {"\xE2\x88\x92", TokKind::kSymbol, "-"},         // − minus sign
    {"\xE2\x80\x93", TokKind::kSymbol, "-"},         // – en dash
    {"\xC3\x97", TokKind::kCommand, "\\times"},      // ×
    {"\xC3\xB7", TokKind::kCommand, "\\div"},        // ÷
    {"\xC2\xB7", TokKind::kCommand, "\\cdot"},       // ·
    {"\xE2\x8B\x85", TokKind::kCommand, "\\cdot"},   // ⋅
    {"\xCF\x80", TokKind::kCommand, "\\pi"},         // π
    {"\xE2\x88\x9E", TokKind::kCommand, "\\infty"},  // ∞
    {"\xE2\x89\xA4", TokKind::kCommand, "\\leq"},    // ≤
    {"\xE2\x89\xA5", TokKind::kCommand, "\\geq"},    // ≥
    {"\xE2\x89\xA0", TokKind::kCommand, "\\neq"},    // ≠
    {"\xC2\xB1", TokKind::kCommand, "\\pm"},         // ±
    {"\xE2\x88\x93", TokKind::kCommand, "\\mp"},     // ∓
    {"\xE2\x88\x9A", TokKind::kCommand, "\\sqrt"},   // √
    {"\xC2\xB0", TokKind::kCommand, "\\circ"},       // °
    {"\xE2\x88\xAA", TokKind::kCommand, "\\cup"},    // ∪
    {"\xE2\x82\xAC", TokKind::kCommand, "\\euro"},   // €
    {"\xC2\xA3", TokKind::kCommand, "\\pounds"},     // £
    {"\xC2\xA5", TokKind::kCommand, "\\yen"},        // ¥
    {"\xC2\xA0", TokKind::kSpace, " "},              // no-break space
    {"\xE2\x80\x89", TokKind::kSpace, " "},          // thin space
    {"\xE3\x80\x82", TokKind::kSymbol, "."},         // 。
    {"\xEF\xBC\x8C", TokKind::kSymbol, ","},         // ，
    {"\xEF\xBC\x9A", TokKind::kSymbol, ":"},         // ：
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

std::vector<Token> Tokenize(const std::string& s) {
  std::vector<Token> out;
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const char c = s[i];
    if (c == '\\') {
      size_t j = i + 1;
      if (j < n && IsAlpha(s[j])) {
        while (j < n && IsAlpha(s[j])) ++j;
      } else if (j < n) {
        ++j;
      }
      out.push_back({TokKind::kCommand, s.substr(i, j - i)});
      i = j;
      continue;
    }
    if (IsDigit(c) || (c == '.' && i + 1 < n && IsDigit(s[i + 1]))) {
      size_t j = i;
      while (j < n && IsDigit(s[j])) ++j;
      if (j + 1 < n && s[j] == '.' && IsDigit(s[j + 1])) {
        ++j;
        while (j < n && IsDigit(s[j])) ++j;
      }
      // Scientific notation: 1e-10, 2.5E3 (only when digits follow the exponent).
      if (j < n && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < n && (s[k] == '-' || s[k] == '+')) ++k;
        if (k < n && IsDigit(s[k])) {
          while (k < n && IsDigit(s[k])) ++k;
          j = k;
        }
      }
      out.push_back({TokKind::kNumber, s.substr(i, j - i)});
      i = j;
      continue;
    }
    if (IsAlpha(c)) {
      out.push_back({TokKind::kLetter, std::string(1, c)});
      ++i;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < n && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
      out.push_back({TokKind::kSpace, " "});
      i = j;
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x80) {
      if (i + 1 < n && s[i + 1] == '=' && (c == '<' || c == '>' || c == '!')) {
        out.push_back({TokKind::kCommand, c == '<' ? "\\leq" : c == '>' ? "\\geq" : "\\neq"});
        i += 2;
        continue;
      }
      out.push_back({TokKind::kSymbol, std::string(1, c)});
      ++i;
      continue;
    }
    bool mapped = false;
    for (const UnicodeMap& m : kUnicode) {
      const size_t len = std::strlen(m.utf8);
      if (s.compare(i, len, m.utf8) == 0) {
        out.push_back({m.kind, m.text});
        i += len;
        mapped = true;
        break;
      }
    }
    if (mapped) continue;
    // Unknown UTF-8 character: keep its bytes together.
    size_t j = i + 1;
    while (j < n && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) ++j;
    out.push_back({TokKind::kOther, s.substr(i, j - i)});
    i = j;
  }
  return out;
}

std::string Detokenize(const std::vector<Token>& tokens) {
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    // Two numbers stay apart ("1 2" is not 12).
    if (i > 0 && t.kind == TokKind::kNumber && tokens[i - 1].kind == TokKind::kNumber) out += ' ';
    if (i > 0 && !t.text.empty() && IsAlpha(t.text[0])) {
      const Token& prev = tokens[i - 1];
      if (prev.kind == TokKind::kCommand && prev.text.size() > 1 && IsAlpha(prev.text.back())) {
        out += ' ';
      }
    }
    out += t.text;
  }
  return out;
}

}  // namespace rlvr::math
