#include "verifiers/math/normalize.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <unordered_map>
#include <vector>

#include "verifiers/math/lexer.h"

namespace rlvr::math {
namespace {

using Toks = std::vector<Token>;

// A Space token made from LaTeX spacing (\, \! ...); only these join digit groups.
const char kThinSpace[] = "\\,";

bool IsSym(const Token& t, const char* s) { return t.kind == TokKind::kSymbol && t.text == s; }
bool IsCmd(const Token& t, const char* s) { return t.kind == TokKind::kCommand && t.text == s; }
bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

const std::set<std::string>& DropCommands() {
  static const std::set<std::string> k = {
      "\\left",       "\\right",       "\\big",    "\\Big",    "\\bigg",
      "\\Bigg",       "\\bigl",        "\\bigr",   "\\Bigl",   "\\Bigr",
      "\\biggl",      "\\biggr",       "\\Biggl",  "\\Biggr",  "\\displaystyle",
      "\\textstyle",  "\\scriptstyle", "\\limits", "\\hfill",  "\\nonumber",
      "\\notag",      "\\mathstrut",   "\\(",      "\\)",      "\\[",
      "\\]",          "\\$",           "\\euro",   "\\pounds", "\\yen",
      "\\mathdollar", "\\middle",      "\\quad",   "\\qquad",  "\\rm",
      "\\bf",         "\\it"};
  return k;
}

const std::set<std::string>& SpacingCommands() {
  static const std::set<std::string> k = {"\\,", "\\;", "\\:", "\\!", "\\ ", "\\>"};
  return k;
}

const std::unordered_map<std::string, Token>& Renames() {
  static const std::unordered_map<std::string, Token> k = {
      {"\\dfrac", {TokKind::kCommand, "\\frac"}},
      {"\\tfrac", {TokKind::kCommand, "\\frac"}},
      {"\\cfrac", {TokKind::kCommand, "\\frac"}},
      {"\\dbinom", {TokKind::kCommand, "\\binom"}},
      {"\\tbinom", {TokKind::kCommand, "\\binom"}},
      {"\\le", {TokKind::kCommand, "\\leq"}},
      {"\\leqslant", {TokKind::kCommand, "\\leq"}},
      {"\\leqq", {TokKind::kCommand, "\\leq"}},
      {"\\ge", {TokKind::kCommand, "\\geq"}},
      {"\\geqslant", {TokKind::kCommand, "\\geq"}},
      {"\\geqq", {TokKind::kCommand, "\\geq"}},
      {"\\ne", {TokKind::kCommand, "\\neq"}},
      {"\\lt", {TokKind::kSymbol, "<"}},
      {"\\gt", {TokKind::kSymbol, ">"}},
      {"\\times", {TokKind::kSymbol, "*"}},
      {"\\cdot", {TokKind::kSymbol, "*"}},
      {"\\ast", {TokKind::kSymbol, "*"}},
      {"\\div", {TokKind::kSymbol, "/"}},
      {"\\lvert", {TokKind::kSymbol, "|"}},
      {"\\rvert", {TokKind::kSymbol, "|"}},
      {"\\vert", {TokKind::kSymbol, "|"}},
      {"\\mid", {TokKind::kSymbol, "|"}},
      {"\\lbrace", {TokKind::kCommand, "\\{"}},
      {"\\rbrace", {TokKind::kCommand, "\\}"}},
      {"\\langle", {TokKind::kSymbol, "("}},
      {"\\rangle", {TokKind::kSymbol, ")"}},
      {"\\lbrack", {TokKind::kSymbol, "["}},
      {"\\rbrack", {TokKind::kSymbol, "]"}},
      {"\\infin", {TokKind::kCommand, "\\infty"}},
      {"\\land", {TokKind::kSymbol, ","}},
      {"\\wedge", {TokKind::kSymbol, ","}},
      {"\\text{and}", {TokKind::kSymbol, ","}},
      {"\\varnothing", {TokKind::kCommand, "\\emptyset"}},
  };
  return k;
}

const std::set<std::string>& TextCommands() {
  static const std::set<std::string> k = {
      "\\text",   "\\textbf", "\\textit",     "\\textrm",     "\\textsf",
      "\\texttt", "\\mathrm", "\\mathbf",     "\\mathit",     "\\mathsf",
      "\\mathtt", "\\mbox",   "\\hbox",       "\\textnormal", "\\operatorname",
      "\\emph",   "\\textup", "\\boldsymbol", "\\bm"};
  return k;
}

const std::set<std::string>& FunctionWords() {
  static const std::set<std::string> k = {"sin",    "cos",    "tan",    "cot",  "sec",   "csc",
                                          "arcsin", "arccos", "arctan", "sinh", "cosh",  "tanh",
                                          "log",    "ln",     "exp",    "sqrt", "lg",    "gcd",
                                          "lcm",    "max",    "min",    "det",  "arccot"};
  return k;
}

// Words dropped after a quantity: units, currencies, counted things.
const std::set<std::string>& UnitWords() {
  static const std::set<std::string> k = {
      "cm",        "mm",    "km",      "meter", "metre",  "centimeter", "centimetre", "millimeter",
      "kilometer", "inch",  "inches",  "ft",    "foot",   "feet",       "yard",       "yd",
      "mile",      "mi",    "mph",     "kg",    "gram",   "kilogram",   "lb",         "lbs",
      "pound",     "ounce", "oz",      "sec",   "second", "minute",     "min",        "hour",
      "hr",        "hrs",   "day",     "week",  "month",  "year",       "dollar",     "cent",
      "usd",       "unit",  "square",  "sq",    "cubic",  "liter",      "litre",      "ml",
      "gallon",    "gal",   "calorie", "mpg",   "people", "person",     "ton",        "tonne",
      "kmh",       "kph",   "cc",      "mile",  "inches", "euros",      "euro",       "rupee",
      "yuan",      "m",     "s",       "g",     "h"};
  return k;
}

bool IsUnitWord(const std::string& word) {
  std::string w = Lower(Trim(word));
  while (!w.empty() && (w.back() == '.')) w.pop_back();
  if (w.empty()) return false;
  const auto& u = UnitWords();
  if (u.count(w)) return true;
  if (w.size() > 2 && w.back() == 's' && u.count(w.substr(0, w.size() - 1))) return true;
  if (w.size() > 3 && w.compare(w.size() - 2, 2, "es") == 0 && u.count(w.substr(0, w.size() - 2)))
    return true;
  return false;
}

// A phrase of unit words, e.g. "square feet", "cm", "sq. units".
bool IsUnitPhrase(const std::string& phrase) {
  std::string cur;
  bool any = false;
  for (size_t i = 0; i <= phrase.size(); ++i) {
    if (i == phrase.size() || phrase[i] == ' ') {
      if (!cur.empty()) {
        if (!IsUnitWord(cur)) return false;
        any = true;
      }
      cur.clear();
    } else {
      cur += phrase[i];
    }
  }
  return any;
}

bool IsWordText(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isalpha(static_cast<unsigned char>(c)) && c != ' ' && c != '-' && c != '\'')
      return false;
  }
  return true;
}

std::string CollapseSpaces(const std::string& s) {
  std::string out;
  for (char c : Trim(s)) {
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  return out;
}

size_t SkipSpaces(const Toks& t, size_t i) {
  while (i < t.size() && t[i].kind == TokKind::kSpace) ++i;
  return i;
}

// Reads a brace group at t[i] == "{" into *inner; returns the index past "}", or
// t.size()+1 when t[i] is not "{" or the group is unbalanced.
size_t ReadGroup(const Toks& t, size_t i, Toks* inner) {
  if (i >= t.size() || !IsSym(t[i], "{")) return t.size() + 1;
  int depth = 0;
  for (size_t j = i; j < t.size(); ++j) {
    if (IsSym(t[j], "{")) ++depth;
    if (IsSym(t[j], "}") && --depth == 0) {
      inner->assign(t.begin() + i + 1, t.begin() + j);
      return j + 1;
    }
  }
  return t.size() + 1;
}

// The last non-space token of `out`, or nullptr.
const Token* LastNonSpace(const Toks& out) {
  for (size_t i = out.size(); i-- > 0;) {
    if (out[i].kind != TokKind::kSpace) return &out[i];
  }
  return nullptr;
}

// After a unit: "^2", "^3", "^{2}" belong to it.
size_t SkipUnitPower(const Toks& in, size_t i) {
  size_t j = SkipSpaces(in, i);
  if (j < in.size() && IsSym(in[j], "^")) {
    size_t k = SkipSpaces(in, j + 1);
    if (k < in.size() && in[k].kind == TokKind::kNumber) return k + 1;
    Toks inner;
    size_t e = ReadGroup(in, k, &inner);
    if (e <= in.size()) return e;
  }
  return i;
}

size_t Repeating(const Toks& in, size_t i, Toks* out);

class Normalizer {
 public:
  explicit Normalizer(Normalized* flags) : flags_(flags) {}

  // Pass 1: commands, text, degrees, percent, currency, boxes.
  Toks Commands(const Toks& in, int depth) {
    Toks out;
    if (depth > 20) return in;
    for (size_t i = 0; i < in.size(); ++i) {
      const Token& t = in[i];
      if (t.kind == TokKind::kCommand) {
        const std::string& name = t.text;
        if (DropCommands().count(name)) {
          // \left. and \right. are invisible delimiters.
          if ((name == "\\left" || name == "\\right") && i + 1 < in.size() && IsSym(in[i + 1], "."))
            ++i;
          continue;
        }
        if (SpacingCommands().count(name)) {
          out.push_back({TokKind::kSpace, kThinSpace});
          continue;
        }
        auto rn = Renames().find(name);
        if (rn != Renames().end()) {
          out.push_back(rn->second);
          continue;
        }
        if (name == "\\%") {
          flags_->percent = true;
          continue;
        }
        if (name == "\\circ" || name == "\\degree") {
          while (!out.empty() && (IsSym(out.back(), "^") || out.back().kind == TokKind::kSpace))
            out.pop_back();
          Degrees(&out);
          continue;
        }
        if (name == "\\boxed" || name == "\\fbox" || TextCommands().count(name)) {
          Toks inner;
          size_t e = ReadGroup(in, SkipSpaces(in, i + 1), &inner);
          if (e > in.size()) continue;  // no group: drop the command
          i = e - 1;
          if (name == "\\boxed" || name == "\\fbox") {
            Toks sub = Commands(inner, depth + 1);
            out.insert(out.end(), sub.begin(), sub.end());
            continue;
          }
          i = Text(in, e, inner, name, depth, &out) - 1;
          continue;
        }
        out.push_back(t);
        continue;
      }
      if (t.kind == TokKind::kSymbol) {
        if (t.text == "$") continue;
        if (t.text == "%") {
          flags_->percent = true;
          continue;
        }
        if (t.text == "~") {
          out.push_back({TokKind::kSpace, kThinSpace});
          continue;
        }
        if (t.text == "^") {
          size_t j = SkipSpaces(in, i + 1);
          if (j < in.size() && IsCmd(in[j], "\\circ")) {
            Degrees(&out);
            i = j;
            continue;
          }
          Toks inner;
          size_t e = ReadGroup(in, j, &inner);
          if (e <= in.size()) {
            Toks trimmed;
            for (const Token& x : inner)
              if (x.kind != TokKind::kSpace) trimmed.push_back(x);
            if (trimmed.size() == 1 && IsCmd(trimmed[0], "\\circ")) {
              Degrees(&out);
              i = e - 1;
              continue;
            }
          }
        }
        if (t.text == "{" && i + 2 < in.size() && IsSym(in[i + 1], ",") && IsSym(in[i + 2], "}")) {
          i += 2;  // 1{,}234: a thousands separator
          out.push_back({TokKind::kSpace, kThinSpace});
          continue;
        }
      }
      out.push_back(t);
    }
    return out;
  }

  // Pass 2: plain words (units, "infinity", "and", function names, text answers).
  Toks Words(const Toks& in) {
    Toks out;
    for (size_t i = 0; i < in.size();) {
      if (in[i].kind != TokKind::kLetter) {
        out.push_back(in[i++]);
        continue;
      }
      size_t j = i;
      std::string word;
      while (j < in.size() && in[j].kind == TokKind::kLetter) word += in[j++].text;
      const std::string lw = Lower(word);
      if (out.size() >= 2 && IsSym(out.back(), "{") &&
          (IsCmd(out[out.size() - 2], "\\begin") || IsCmd(out[out.size() - 2], "\\end"))) {
        out.insert(out.end(), in.begin() + i, in.begin() + j);  // environment name
        i = j;
        continue;
      }
      const Token* prev = LastNonSpace(out);
      const bool after_quantity =
          prev != nullptr && (prev->kind == TokKind::kNumber || IsSym(*prev, ")") ||
                              IsSym(*prev, "}") || prev->kind == TokKind::kOther);
      const bool spaced_before = !out.empty() && out.back().kind == TokKind::kSpace;
      if (lw == "infinity" || lw == "inf" || lw == "infty") {
        out.push_back({TokKind::kCommand, "\\infty"});
      } else if (lw == "pi" && word.size() == 2) {
        out.push_back({TokKind::kCommand, "\\pi"});
      } else if (lw == "percent") {
        flags_->percent = true;
      } else if (lw == "degree" || lw == "degrees") {
        flags_->degrees = true;
      } else if (lw == "and" || lw == "or") {
        out.push_back({TokKind::kSymbol, ","});
      } else if (word.size() >= 2 && word == lw && FunctionWords().count(lw)) {
        out.push_back({TokKind::kCommand, "\\" + lw});
      } else if (word.size() >= 2 && after_quantity && IsUnitWord(word)) {
        i = SkipUnitPower(in, j);
        continue;
      } else if (word.size() >= 3 && after_quantity && spaced_before) {
        // "20 apples", "15 minutes": a counted noun after a number.
        i = SkipUnitPower(in, j);
        continue;
      } else if (word.size() >= 4 || IsSmallWord(lw)) {
        out.push_back({TokKind::kOther, "\\text{" + lw + "}"});
      } else {
        out.insert(out.end(), in.begin() + i, in.begin() + j);
      }
      i = j;
    }
    return out;
  }

  // Pass 3: digit groups (thousands, decimal comma, mixed numbers written "2 1/2").
  Toks Numbers(const Toks& in, const NormalizeOptions& options) {
    Toks out;
    int bracket_depth = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      const Token& t = in[i];
      if (IsSym(t, "(") || IsSym(t, "[") || IsCmd(t, "\\{")) ++bracket_depth;
      if (IsSym(t, ")") || IsSym(t, "]") || IsCmd(t, "\\}")) --bracket_depth;
      if (t.kind != TokKind::kNumber) {
        out.push_back(t);
        continue;
      }
      const Token* prev = LastNonSpace(out);
      const bool prev_operand =
          prev != nullptr && (prev->kind == TokKind::kNumber || prev->kind == TokKind::kLetter ||
                              IsSym(*prev, ")") || IsSym(*prev, ","));
      std::string num = t.text;
      size_t j = i + 1;
      if (options.decimal_comma && j + 1 < in.size() && IsSym(in[j], ",") &&
          in[j + 1].kind == TokKind::kNumber && AllDigits(in[j + 1].text)) {
        std::string whole;
        for (char c : num)
          if (c != '.') whole += c;
        out.push_back({TokKind::kNumber, whole + "." + in[j + 1].text});
        i = j + 1;
        continue;
      }
      if (AllDigits(num) && num.size() <= 3 && !prev_operand) {
        // 1,234,567 (at top level only: "(1,234)" is a pair) or 1\,234\,567.
        std::string merged = num;
        size_t k = j;
        while (k + 1 < in.size()) {
          const bool comma = IsSym(in[k], ",") && bracket_depth == 0 && !options.decimal_comma;
          const bool thin = in[k].kind == TokKind::kSpace && in[k].text == kThinSpace;
          // "1 000 000": a plain space between groups of exactly three digits (the SI
          // separator), at top level and not before '/' or '^' ("2 100/3" stays mixed).
          const bool space =
              in[k].kind == TokKind::kSpace && in[k].text == " " && bracket_depth == 0 &&
              !(k + 2 < in.size() && (IsSym(in[k + 2], "/") || IsSym(in[k + 2], "^")));
          // "10,\!000": a comma followed by LaTeX spacing.
          if (comma && k + 2 < in.size() && in[k + 1].kind == TokKind::kSpace &&
              in[k + 1].text == kThinSpace && in[k + 2].kind == TokKind::kNumber) {
            ++k;
          }
          const Token& g = in[k + 1];
          if (!(comma || thin || space) || g.kind != TokKind::kNumber) break;
          const std::string& gt = g.text;
          const size_t dot = gt.find('.');
          const std::string head = gt.substr(0, dot);
          if (head.size() != 3 || !AllDigits(head) || gt.find_first_of("eE") != std::string::npos)
            break;
          merged += gt;
          k += 2;
          if (dot != std::string::npos) break;
        }
        if (k > j) {
          out.push_back({TokKind::kNumber, merged});
          i = k - 1;
          continue;
        }
      }
      // Repeating decimal: 0.\overline{3}, 0.1\overline{6}.
      if (size_t e = Repeating(in, i, &out); e != 0) {
        i = e - 1;
        continue;
      }
      // Mixed number "2 1/2" -> 2\frac{1}{2} (the parser reads it as 5/2).
      if (AllDigits(num) && !prev_operand && j + 3 < in.size() + 0 &&
          in[j].kind == TokKind::kSpace && in[j + 1].kind == TokKind::kNumber &&
          AllDigits(in[j + 1].text) && IsSym(in[j + 2], "/") &&
          in[j + 3].kind == TokKind::kNumber && AllDigits(in[j + 3].text) &&
          (j + 4 >= in.size() || !IsSym(in[j + 4], "^"))) {
        out.push_back(t);
        out.push_back({TokKind::kCommand, "\\frac"});
        out.push_back({TokKind::kSymbol, "{"});
        out.push_back(in[j + 1]);
        out.push_back({TokKind::kSymbol, "}"});
        out.push_back({TokKind::kSymbol, "{"});
        out.push_back(in[j + 3]);
        out.push_back({TokKind::kSymbol, "}"});
        i = j + 3;
        continue;
      }
      out.push_back(t);
    }
    return out;
  }

 private:
  // A degree sign: dropped (the answer's unit), except inside a trig argument, where
  // it becomes a factor pi/180 ("\sin 30^\circ" is 1/2).
  void Degrees(Toks* out) {
    static const std::set<std::string> kTrig = {"\\sin", "\\cos", "\\tan",
                                                "\\cot", "\\sec", "\\csc"};
    int seen = 0;
    for (size_t k = out->size(); k-- > 0 && seen < 8; ++seen) {
      const Token& t = (*out)[k];
      if (IsSym(t, "+") || IsSym(t, "-") || IsSym(t, "=") || IsSym(t, ",")) break;
      if (t.kind == TokKind::kCommand && kTrig.count(t.text)) {
        for (const char* x : {"\\frac", "{", "\\pi", "}", "{", "180", "}"}) {
          const std::string xs = x;
          out->push_back({xs == "180"     ? TokKind::kNumber
                          : xs[0] == '\\' ? TokKind::kCommand
                                          : TokKind::kSymbol,
                          xs});
        }
        return;
      }
    }
    flags_->degrees = true;
  }

  static bool IsSmallWord(const std::string& w) {
    static const std::set<std::string> k = {"yes",  "no",    "odd",  "none", "all",
                                            "true", "false", "even", "both", "never"};
    return k.count(w) > 0;
  }

  // Handles \text{...}-like content; returns the index in `in` to continue from.
  size_t Text(const Toks& in, size_t next, const Toks& inner, const std::string& cmd, int depth,
              Toks* out) {
    const std::string content = CollapseSpaces(Detokenize(inner));
    const std::string lc = Lower(content);
    const Token* prev = LastNonSpace(*out);
    const bool after_quantity =
        prev != nullptr && (prev->kind == TokKind::kNumber || IsSym(*prev, ")") ||
                            IsSym(*prev, "}") || prev->kind == TokKind::kOther);
    if (content.empty()) return next;
    if (lc == "and" || lc == "or" || lc == ",") {
      out->push_back({TokKind::kSymbol, ","});
      return next;
    }
    if (lc == "%" || lc == "percent" || lc == "\\%") {
      flags_->percent = true;
      return next;
    }
    if (lc == "degree" || lc == "degrees" || lc == "\\circ") {
      flags_->degrees = true;
      return next;
    }
    if (IsWordText(content) && (IsUnitPhrase(lc) || after_quantity) &&
        (content.size() >= 2 || after_quantity)) {
      return SkipUnitPower(in, next);
    }
    if (cmd == "\\operatorname" && FunctionWords().count(lc)) {
      out->push_back({TokKind::kCommand, "\\" + lc});
      return next;
    }
    if (IsWordText(content) && content.size() >= 2) {
      out->push_back({TokKind::kOther, "\\text{" + lc + "}"});
      return next;
    }
    Toks sub = Commands(Tokenize(content), depth + 1);
    out->insert(out->end(), sub.begin(), sub.end());
    return next;
  }

  Normalized* flags_;
};

// "I.F\overline{R}" at in[i] (I.F a number token, optionally followed by "."):
// appends \frac{num}{den} to *out and returns the index past it, or 0.
size_t Repeating(const Toks& in, size_t i, Toks* out) {
  std::string num = in[i].text;
  size_t j = i + 1;
  if (j < in.size() && IsSym(in[j], ".") && num.find('.') == std::string::npos) {
    num += ".";
    ++j;
  }
  if (num.find('.') == std::string::npos || j >= in.size() || !IsCmd(in[j], "\\overline")) return 0;
  Toks rep;
  const size_t e = ReadGroup(in, j + 1, &rep);
  if (e > in.size() || rep.size() != 1 || !AllDigits(rep[0].text)) return 0;
  const std::string whole = num.substr(0, num.find('.'));
  const std::string frac = num.substr(num.find('.') + 1);
  const std::string r = rep[0].text;
  if (!AllDigits(whole) || !(frac.empty() || AllDigits(frac)) ||
      whole.size() + frac.size() + r.size() > 30)
    return 0;
  // x = (IFR - IF) / (10^|F| (10^|R| - 1)), as decimal strings via long arithmetic
  // on at most 30 digits: emit it as a LaTeX fraction of exact integers.
  // (IFR - IF) is computed digit-wise by the parser: emit "(IFR-IF)/(den)".
  std::string den = std::string(r.size(), '9') + std::string(frac.size(), '0');
  out->push_back({TokKind::kCommand, "\\frac"});
  out->push_back({TokKind::kSymbol, "{"});
  out->push_back({TokKind::kNumber, whole + frac + r});
  out->push_back({TokKind::kSymbol, "-"});
  out->push_back({TokKind::kNumber, whole + frac});
  out->push_back({TokKind::kSymbol, "}"});
  out->push_back({TokKind::kSymbol, "{"});
  out->push_back({TokKind::kNumber, den});
  out->push_back({TokKind::kSymbol, "}"});
  return e;
}

// Removes spaces, trailing punctuation and redundant outer braces.
Toks Finish(const Toks& in) {
  Toks out;
  for (const Token& t : in)
    if (t.kind != TokKind::kSpace) out.push_back(t);
  // An AMC-style choice label before the value: "(B) 12" -> "12".
  if (out.size() > 3 && IsSym(out[0], "(") && out[1].kind == TokKind::kLetter &&
      out[1].text[0] >= 'A' && out[1].text[0] <= 'E' && IsSym(out[2], ")")) {
    out.erase(out.begin(), out.begin() + 3);
  }
  bool changed = true;
  while (changed && !out.empty()) {
    changed = false;
    const Token& b = out.back();
    if (IsSym(b, ".") || IsSym(b, ",") || IsSym(b, ";") || IsSym(b, ":") || IsCmd(b, "\\\\")) {
      out.pop_back();
      changed = true;
      continue;
    }
    const Token& f = out.front();
    if (IsSym(f, ":") || IsSym(f, ",") || IsSym(f, ";")) {
      out.erase(out.begin());
      changed = true;
      continue;
    }
    if (IsSym(f, "{") && IsSym(out.back(), "}")) {
      Toks inner;
      if (ReadGroup(out, 0, &inner) == out.size()) {
        out = inner;
        changed = true;
      }
    }
  }
  return out;
}

}  // namespace

Normalized Normalize(const std::string& answer, const NormalizeOptions& options) {
  Normalized result;
  Normalizer n(&result);
  Toks toks = n.Commands(Tokenize(answer), 0);
  toks = n.Words(toks);
  toks = n.Numbers(toks, options);
  result.text = Detokenize(Finish(toks));
  return result;
}

}  // namespace rlvr::math
