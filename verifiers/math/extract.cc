#include "verifiers/math/extract.h"

#include <algorithm>
#include <cctype>

namespace rlvr::math {
namespace {

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && IsSpace(s[b])) ++b;
  while (e > b && IsSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Rightmost case-insensitive occurrence of `needle` (ASCII) in `hay`, or npos.
size_t RFindNoCase(const std::string& hay, const std::string& needle) {
  if (needle.size() > hay.size()) return std::string::npos;
  for (size_t i = hay.size() - needle.size() + 1; i-- > 0;) {
    size_t k = 0;
    while (k < needle.size() && Lower(hay[i + k]) == Lower(needle[k])) ++k;
    if (k == needle.size()) return i;
  }
  return std::string::npos;
}

// From `pos` to the end of its line.
std::string RestOfLine(const std::string& s, size_t pos) {
  size_t e = s.find('\n', pos);
  return s.substr(pos, e == std::string::npos ? std::string::npos : e - pos);
}

// Index just past the brace group opening at s[open] == '{', or npos if unbalanced.
size_t MatchBrace(const std::string& s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      ++i;  // \{ and \} do not count
      continue;
    }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i + 1;
  }
  return std::string::npos;
}

// Removes leading ':' and markdown emphasis, and trailing sentence punctuation.
std::string CleanTail(std::string s) {
  s = Trim(s);
  while (!s.empty() && (s[0] == ':' || s[0] == '*' || s[0] == '_')) s = Trim(s.substr(1));
  while (!s.empty() && (s.back() == '*')) s = Trim(s.substr(0, s.size() - 1));
  while (!s.empty() && (s.back() == '.' || s.back() == ';' || s.back() == ',')) {
    s = Trim(s.substr(0, s.size() - 1));
  }
  return s;
}

// Cuts a "final answer is X. More prose" tail at the end of the sentence.
std::string CutSentence(const std::string& s) {
  std::string out = s;
  size_t hope = RFindNoCase(out, "i hope it is correct");
  if (hope != std::string::npos) out = out.substr(0, hope);
  // A period followed by a space and a capital letter ends the sentence, unless it is
  // inside math ($...$).
  bool in_math = false;
  for (size_t i = 0; i + 2 < out.size(); ++i) {
    if (out[i] == '$') in_math = !in_math;
    if (!in_math && out[i] == '.' && out[i + 1] == ' ' &&
        std::isupper(static_cast<unsigned char>(out[i + 2]))) {
      return out.substr(0, i);
    }
  }
  return out;
}

std::optional<std::string> FinalAnswer(const std::string& s) {
  size_t p = RFindNoCase(s, "final answer is");
  size_t len = 15;
  if (p == std::string::npos) {
    p = RFindNoCase(s, "final answer:");
    len = 13;
  }
  if (p == std::string::npos) return std::nullopt;
  std::string tail = CleanTail(CutSentence(RestOfLine(s, p + len)));
  if (auto boxed = LastBoxed(tail)) return Trim(*boxed);
  if (tail.empty()) return std::nullopt;
  return tail;
}

std::optional<std::string> AnswerColon(const std::string& s) {
  size_t p = RFindNoCase(s, "answer:");
  if (p == std::string::npos) return std::nullopt;
  std::string tail = RestOfLine(s, p + 7);
  // "**Answer:** 5" leaves "** 5".
  tail = CleanTail(tail);
  if (tail.empty()) {
    // "Answer:\n5": the next non-empty line.
    size_t nl = s.find('\n', p);
    if (nl != std::string::npos) tail = CleanTail(RestOfLine(s, nl + 1));
  }
  if (auto boxed = LastBoxed(tail)) return Trim(*boxed);
  if (tail.empty()) return std::nullopt;
  return tail;
}

std::optional<std::string> Gsm8k(const std::string& s) {
  size_t p = s.rfind("####");
  if (p == std::string::npos) return std::nullopt;
  std::string tail = CleanTail(RestOfLine(s, p + 4));
  if (tail.empty()) return std::nullopt;
  return tail;
}

std::optional<std::string> Chinese(const std::string& s) {
  size_t best = std::string::npos, len = 0;
  for (const char* key : {"答案是", "答案为", "答案：", "答案:"}) {
    size_t p = s.rfind(key);
    if (p != std::string::npos && (best == std::string::npos || p > best)) {
      best = p;
      len = std::string(key).size();
    }
  }
  if (best == std::string::npos) return std::nullopt;
  std::string tail = RestOfLine(s, best + len);
  // Trailing Chinese full stop.
  const std::string kStop = "\xE3\x80\x82";
  size_t stop = tail.find(kStop);
  if (stop != std::string::npos) tail = tail.substr(0, stop);
  tail = CleanTail(tail);
  if (auto boxed = LastBoxed(tail)) return Trim(*boxed);
  if (tail.empty()) return std::nullopt;
  return tail;
}

// "the answer is X" (rightmost such phrase whose X looks like an answer): X up to the
// end of its sentence or a ", <word>" aside ("The answer is 5, not 6" gives 5). X must
// start like math (a digit, sign, '$', '\\', a bracket, or a lone letter as in "x = 3"),
// so "the answer is not obvious" or "the answer is seven" do not match.
std::optional<std::string> AnswerIs(const std::string& s) {
  size_t end = s.size();
  // The 8 rightmost phrases at most: a text full of them stays linear.
  for (int tries = 0; tries < 8; ++tries) {
    size_t p = RFindNoCase(s.substr(0, end), "answer is");
    if (p == std::string::npos) return std::nullopt;
    end = p;
    std::string tail = CleanTail(CutSentence(RestOfLine(s, p + 9)));
    if (tail.empty()) continue;
    if (auto boxed = LastBoxed(tail)) return Trim(*boxed);
    const char c = tail[0];
    // A lone letter: "B", "x = 3", "x=3" (not "a bit").
    size_t after = 1;
    while (after < tail.size() && IsSpace(tail[after])) ++after;
    const bool lone_letter = std::isalpha(static_cast<unsigned char>(c)) &&
                             (tail.size() == 1 || (after < tail.size() && tail[after] == '='));
    if (!(IsDigit(c) || c == '-' || c == '+' || c == '.' || c == '$' || c == '\\' || c == '(' ||
          c == '[' || c == '{' || lone_letter)) {
      continue;
    }
    // The first math segment, when X is one.
    if (c == '$' || (c == '\\' && tail.size() > 1 && (tail[1] == '(' || tail[1] == '['))) {
      const size_t open = c == '$' ? (tail.size() > 1 && tail[1] == '$' ? 2 : 1) : 2;
      const std::string close =
          c == '$' ? std::string(open, '$') : (tail[1] == '(' ? "\\)" : "\\]");
      size_t e = tail.find(close, open);
      if (e == std::string::npos) continue;
      std::string seg = Trim(tail.substr(open, e - open));
      if (seg.empty()) continue;
      return seg;
    }
    // Cut at a top-level ", word" aside (a word of two or more letters other than "and"/
    // "or", which join a list) and at a connective ("5 because ...", "5 not 6").
    int depth = 0;
    for (size_t i = 0; i < tail.size(); ++i) {
      const char d = tail[i];
      if (d == '(' || d == '[' || d == '{') ++depth;
      if (d == ')' || d == ']' || d == '}') --depth;
      if (depth != 0 || (d != ',' && d != ' ') || i + 1 >= tail.size()) continue;
      size_t w = i + 1;
      while (w < tail.size() && IsSpace(tail[w])) ++w;
      size_t we = w;
      while (we < tail.size() && std::isalpha(static_cast<unsigned char>(tail[we]))) ++we;
      std::string word;
      for (size_t k = w; k < we; ++k) word += Lower(tail[k]);
      static const char* const kConnectives[] = {"because", "since", "which", "as",       "so",
                                                 "but",     "not",   "when",  "where",    "if",
                                                 "given",   "hence", "thus",  "therefore"};
      bool cut = false;
      if (d == ',' && word.size() >= 2 && word != "and" && word != "or") cut = true;
      for (const char* k : kConnectives) cut = cut || word == k;
      if (cut) {
        tail = CleanTail(tail.substr(0, i));
        break;
      }
    }
    if (tail.empty()) continue;
    return tail;
  }
  return std::nullopt;
}

// The last math segment: $$...$$, $...$, \(...\), \[...\].
std::optional<std::string> LastLatex(const std::string& s) {
  std::optional<std::string> last;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '(' || s[i + 1] == '[')) {
      const std::string close = s[i + 1] == '(' ? "\\)" : "\\]";
      size_t e = s.find(close, i + 2);
      if (e == std::string::npos) break;
      last = s.substr(i + 2, e - i - 2);
      i = e + 2;
      continue;
    }
    if (s[i] == '\\' && i + 1 < s.size()) {
      i += 2;  // \$ is a dollar sign, not a delimiter
      continue;
    }
    if (s[i] == '$') {
      const bool display = i + 1 < s.size() && s[i + 1] == '$';
      const std::string close = display ? "$$" : "$";
      size_t start = i + close.size();
      size_t e = start;
      while (true) {
        e = s.find(close, e);
        if (e == std::string::npos || e == 0 || s[e - 1] != '\\') break;
        ++e;
      }
      if (e == std::string::npos) break;
      last = s.substr(start, e - start);
      i = e + close.size();
      continue;
    }
    ++i;
  }
  if (last) {
    std::string t = Trim(*last);
    if (t.empty()) return std::nullopt;
    return t;
  }
  return last;
}

// The last number: -1,234.5 or 3/4 (a plain fraction).
std::optional<std::string> LastNumber(const std::string& s) {
  size_t best_b = std::string::npos, best_e = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (!IsDigit(s[i])) {
      ++i;
      continue;
    }
    size_t b = i;
    size_t e = i;
    while (e < s.size() && IsDigit(s[e])) ++e;
    // Thousands groups: ,ddd; or " ddd" after a first group of 1-3 digits ("1 000 000",
    // the SI separator). A space never joins other groups: "2 3" stays two numbers.
    const bool short_head = e - b <= 3;
    while (e + 3 < s.size() + 0 && (s[e] == ',' || (s[e] == ' ' && short_head)) &&
           IsDigit(s[e + 1]) && IsDigit(s[e + 2]) && IsDigit(s[e + 3]) &&
           (e + 4 >= s.size() || !IsDigit(s[e + 4]))) {
      e += 4;
    }
    if (e + 1 < s.size() && s[e] == '.' && IsDigit(s[e + 1])) {
      ++e;
      while (e < s.size() && IsDigit(s[e])) ++e;
    }
    if (e + 1 < s.size() && s[e] == '/' && IsDigit(s[e + 1])) {
      ++e;
      while (e < s.size() && IsDigit(s[e])) ++e;
    }
    if (b > 0 && s[b - 1] == '-') --b;
    // A digit run glued to a letter on the left is part of a name (x2, a1): skip it.
    const bool glued = b > 0 && std::isalpha(static_cast<unsigned char>(s[b - 1]));
    if (!glued) {
      best_b = b;
      best_e = e;
    }
    i = e;
  }
  if (best_b == std::string::npos) return std::nullopt;
  return s.substr(best_b, best_e - best_b);
}

std::optional<std::string> RunMethod(const std::string& method, const std::string& s) {
  if (method == "boxed") return LastBoxed(s);
  if (method == "final_answer") return FinalAnswer(s);
  if (method == "gsm8k") return Gsm8k(s);
  if (method == "answer_colon") return AnswerColon(s);
  if (method == "chinese") return Chinese(s);
  if (method == "answer_is") return AnswerIs(s);
  if (method == "latex") return LastLatex(s);
  if (method == "last_number") return LastNumber(s);
  return std::nullopt;
}

}  // namespace

const std::vector<std::string>& ExtractionMethods() {
  static const std::vector<std::string> kMethods = {"boxed",        "final_answer", "gsm8k",
                                                    "answer_colon", "chinese",      "answer_is",
                                                    "latex",        "last_number"};
  return kMethods;
}

bool EndsInsideBox(const std::string& text) {
  size_t search_end = text.size();
  while (search_end > 0) {
    size_t pb = text.rfind("\\boxed", search_end - 1);
    size_t pf = text.rfind("\\fbox", search_end - 1);
    size_t p = pb;
    size_t len = 6;
    if (pb == std::string::npos || (pf != std::string::npos && pf > pb)) {
      p = pf;
      len = 5;
    }
    if (p == std::string::npos) return false;
    size_t i = p + len;
    if (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) {
      search_end = p;  // \boxedx: another command
      continue;
    }
    while (i < text.size() && IsSpace(text[i])) ++i;
    if (i >= text.size()) return true;  // "\boxed" at the very end
    if (text[i] != '{') return false;   // "\boxed 5"
    return MatchBrace(text, i) == std::string::npos;
  }
  return false;
}

std::optional<std::string> LastBoxed(const std::string& text) {
  size_t search_end = text.size();
  while (true) {
    size_t pb = text.rfind("\\boxed", search_end == 0 ? 0 : search_end - 1);
    size_t pf = text.rfind("\\fbox", search_end == 0 ? 0 : search_end - 1);
    if (search_end == 0) return std::nullopt;
    size_t p = pb;
    size_t len = 6;
    if (pb == std::string::npos || (pf != std::string::npos && pf > pb)) {
      p = pf;
      len = 5;
    }
    if (p == std::string::npos) return std::nullopt;
    size_t i = p + len;
    // Not a prefix of a longer command (\boxedx).
    if (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) {
      search_end = p;
      continue;
    }
    while (i < text.size() && IsSpace(text[i])) ++i;
    if (i < text.size() && text[i] == '{') {
      size_t e = MatchBrace(text, i);
      if (e != std::string::npos) return text.substr(i + 1, e - i - 2);
    } else if (i > p + len && i < text.size()) {
      // "\boxed 5": one token up to whitespace or '$'.
      size_t e = i;
      while (e < text.size() && !IsSpace(text[e]) && text[e] != '$') ++e;
      return text.substr(i, e - i);
    }
    search_end = p;
  }
}

std::optional<Extraction> ExtractAnswer(const std::string& completion,
                                        const ExtractOptions& options) {
  // A completion cut off inside its last \boxed{...: the final answer is incomplete
  // ("\boxed{12" may have been "\boxed{123}"), so nothing is extracted, neither an
  // earlier box nor a number inside the unfinished one.
  if (std::find(options.priority.begin(), options.priority.end(), "boxed") !=
          options.priority.end() &&
      EndsInsideBox(completion)) {
    return std::nullopt;
  }
  for (const std::string& method : options.priority) {
    if (auto found = RunMethod(method, completion)) {
      std::string t = Trim(*found);
      if (!t.empty()) return Extraction{t, method};
    }
  }
  return std::nullopt;
}

std::optional<Extraction> ExtractGold(const std::string& gold) {
  std::string g = Trim(gold);
  if (g.empty()) return std::nullopt;
  for (const char* method : {"boxed", "gsm8k", "final_answer"}) {
    if (auto found = RunMethod(method, g)) {
      std::string t = Trim(*found);
      if (!t.empty()) return Extraction{t, method};
    }
  }
  return Extraction{g, "bare"};
}

std::optional<char> ExtractChoiceLetter(const std::string& text, int num_choices,
                                        const std::vector<std::string>& choices) {
  const char last = static_cast<char>('A' + std::max(1, std::min(num_choices, 26)) - 1);
  auto is_choice = [&](char c) { return c >= 'A' && c <= last; };
  auto is_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  // 1. A boxed answer that is a letter or a choice's text.
  std::string scope = text;
  if (auto boxed = LastBoxed(text)) scope = *boxed;
  std::string t = Trim(scope);
  // Strip \textbf{...}, \text{...}, parentheses around a single letter.
  std::string letters_only;
  for (char c : t) {
    if (!IsSpace(c) && c != '(' && c != ')' && c != '{' && c != '}' && c != '$' && c != '.' &&
        c != '*') {
      letters_only += c;
    }
  }
  for (const char* cmd : {"\\textbf", "\\text", "\\mathrm", "\\mathbf"}) {
    if (letters_only.rfind(cmd, 0) == 0)
      letters_only = letters_only.substr(std::string(cmd).size());
  }
  if (letters_only.size() == 1 && is_choice(static_cast<char>(std::toupper(letters_only[0])))) {
    return static_cast<char>(std::toupper(letters_only[0]));
  }
  for (size_t k = 0; k < choices.size() && k < 26; ++k) {
    if (!choices[k].empty() && Trim(choices[k]) == t) return static_cast<char>('A' + k);
  }
  // 2. "(B)" rightmost, in the boxed scope first, then the whole text.
  for (const std::string* s : std::initializer_list<const std::string*>{&scope, &text}) {
    for (size_t i = s->size(); i-- > 2;) {
      if ((*s)[i] == ')' && (*s)[i - 2] == '(' && is_choice((*s)[i - 1])) return (*s)[i - 1];
    }
  }
  // 3. "answer is B" / "Answer: B" / a lone capital letter, rightmost.
  for (const char* key : {"answer is", "answer:", "option", "choice"}) {
    size_t p = RFindNoCase(text, key);
    if (p == std::string::npos) continue;
    for (size_t i = p + std::string(key).size(); i < text.size() && i < p + 40; ++i) {
      char c = text[i];
      if (is_choice(c) && !is_word(i > 0 ? text[i - 1] : ' ') &&
          (i + 1 >= text.size() || !is_word(text[i + 1]))) {
        return c;
      }
    }
  }
  return std::nullopt;
}

}  // namespace rlvr::math
