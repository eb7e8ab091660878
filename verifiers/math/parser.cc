#include "verifiers/math/parser.h"

#include <algorithm>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "verifiers/math/lexer.h"

namespace rlvr::math {
namespace {

struct ParseFailure {
  std::string message;
};

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Node Leaf(NodeKind kind, std::string text) {
  Node n;
  n.kind = kind;
  n.text = std::move(text);
  return n;
}

Node Make(NodeKind kind, std::vector<Node> children, std::string text = "") {
  Node n;
  n.kind = kind;
  n.text = std::move(text);
  n.children = std::move(children);
  return n;
}

Node Neg(Node a) {
  // Fold a sign into a literal so "-3" is one number.
  if (a.kind == NodeKind::kNumber && !a.text.empty() && a.text[0] != '-') {
    a.text = "-" + a.text;
    return a;
  }
  return Make(NodeKind::kNeg, {std::move(a)});
}

const std::set<std::string>& Greek() {
  static const std::set<std::string> k = {
      "alpha",    "beta",  "gamma",   "delta",  "epsilon", "varepsilon", "zeta", "eta",     "theta",
      "vartheta", "iota",  "kappa",   "lambda", "mu",      "nu",         "xi",   "omicron", "rho",
      "sigma",    "tau",   "upsilon", "phi",    "varphi",  "chi",        "psi",  "omega",   "Gamma",
      "Delta",    "Theta", "Lambda",  "Xi",     "Sigma",   "Phi",        "Psi",  "Omega",   "ell"};
  return k;
}

// Function commands and their canonical names.
const std::unordered_map<std::string, std::string>& Functions() {
  static const std::unordered_map<std::string, std::string> k = {
      {"\\sin", "sin"},     {"\\cos", "cos"},     {"\\tan", "tan"},     {"\\cot", "cot"},
      {"\\sec", "sec"},     {"\\csc", "csc"},     {"\\arcsin", "asin"}, {"\\arccos", "acos"},
      {"\\arctan", "atan"}, {"\\arccot", "acot"}, {"\\sinh", "sinh"},   {"\\cosh", "cosh"},
      {"\\tanh", "tanh"},   {"\\ln", "ln"},       {"\\log", "log"},     {"\\lg", "lg"},
      {"\\exp", "exp"},     {"\\gcd", "gcd"},     {"\\lcm", "lcm"},     {"\\max", "max"},
      {"\\min", "min"},     {"\\det", "det"},     {"\\arg", "arg"},     {"\\operatorname", "op"}};
  return k;
}

class Parser {
 public:
  Parser(std::vector<Token> toks, const ParseOptions& options)
      : toks_(std::move(toks)), options_(options) {}

  Node ParseAll() {
    if (toks_.empty()) Fail("empty answer");
    std::vector<Node> items = ParseItems();
    if (pos_ < toks_.size()) Fail(absl::StrCat("unexpected '", toks_[pos_].text, "'"));
    if (items.size() == 1) return std::move(items[0]);
    return Make(NodeKind::kList, std::move(items));
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(Parser* p) : p(p) {
      if (++p->depth_ > p->options_.max_depth) p->Fail("expression nested too deeply");
    }
    ~DepthGuard() { --p->depth_; }
    Parser* p;
  };

  [[noreturn]] void Fail(const std::string& msg) { throw ParseFailure{msg}; }

  const Token* Peek(size_t k = 0) const {
    return pos_ + k < toks_.size() ? &toks_[pos_ + k] : nullptr;
  }
  bool AtSym(const char* s, size_t k = 0) const {
    const Token* t = Peek(k);
    return t != nullptr && t->kind == TokKind::kSymbol && t->text == s;
  }
  bool AtCmd(const char* s, size_t k = 0) const {
    const Token* t = Peek(k);
    return t != nullptr && t->kind == TokKind::kCommand && t->text == s;
  }
  void Expect(const char* s) {
    if (!AtSym(s)) Fail(absl::StrCat("expected '", s, "'"));
    ++pos_;
  }
  bool AtEnd() const { return pos_ >= toks_.size(); }

  bool AtItemEnd() const {
    const Token* t = Peek();
    if (t == nullptr) return true;
    if (t->kind == TokKind::kSymbol)
      return t->text == ")" || t->text == "]" || t->text == "}" || t->text == "," ||
             t->text == ";" || t->text == "&" || t->text == "|";
    return t->text == "\\}" || t->text == "\\\\" || t->text == "\\end";
  }

  // item (, item)* until a closing bracket or the end.
  std::vector<Node> ParseItems() {
    std::vector<Node> items;
    while (true) {
      if (AtItemEnd() && !AtSym("|")) Fail("missing item");
      items.push_back(ParseRelation());
      if (AtSym(",") || AtSym(";")) {
        ++pos_;
        continue;
      }
      break;
    }
    return items;
  }

  std::string RelOp() const {
    const Token* t = Peek();
    if (t == nullptr) return "";
    if (t->kind == TokKind::kSymbol) {
      if (t->text == "=" || t->text == "<" || t->text == ">") return t->text;
      return "";
    }
    if (t->kind != TokKind::kCommand) return "";
    if (t->text == "\\leq") return "<=";
    if (t->text == "\\geq") return ">=";
    if (t->text == "\\neq") return "!=";
    if (t->text == "\\approx" || t->text == "\\equiv") return "=";
    if (t->text == "\\in") return "in";
    return "";
  }

  Node ParseRelation() {
    DepthGuard g(this);
    std::vector<Node> sides;
    sides.push_back(ParseUnion());
    std::string ops;
    while (true) {
      std::string op = RelOp();
      if (op.empty()) break;
      ++pos_;
      if (op == "in") {
        // "x \in S" is the set S.
        return ParseUnion();
      }
      if (!ops.empty()) ops += ' ';
      ops += op;
      sides.push_back(ParseUnion());
    }
    if (sides.size() == 1) return std::move(sides[0]);
    return Make(NodeKind::kRelation, std::move(sides), ops);
  }

  Node ParseUnion() {
    Node first = ParseExpr();
    if (!AtCmd("\\cup")) return first;
    std::vector<Node> parts;
    parts.push_back(std::move(first));
    while (AtCmd("\\cup")) {
      ++pos_;
      parts.push_back(ParseExpr());
    }
    return Make(NodeKind::kUnion, std::move(parts));
  }

  Node ParseExpr() {
    DepthGuard g(this);
    Node left = ParseSigned();
    while (true) {
      if (AtSym("+")) {
        ++pos_;
        left = Add(std::move(left), ParseSigned());
      } else if (AtSym("-")) {
        ++pos_;
        left = Add(std::move(left), Neg(ParseSigned()));
      } else if (AtCmd("\\pm")) {
        ++pos_;
        left = Make(NodeKind::kPlusMinus, {std::move(left), ParseSigned()});
      } else if (AtCmd("\\mp")) {
        ++pos_;
        left = Make(NodeKind::kPlusMinus, {std::move(left), Neg(ParseSigned())});
      } else {
        return left;
      }
    }
  }

  static Node Add(Node a, Node b) {
    if (a.kind == NodeKind::kAdd) {
      a.children.push_back(std::move(b));
      return a;
    }
    return Make(NodeKind::kAdd, {std::move(a), std::move(b)});
  }

  Node ParseSigned() {
    DepthGuard g(this);
    if (AtSym("-")) {
      ++pos_;
      return Neg(ParseSigned());
    }
    if (AtSym("+")) {
      ++pos_;
      return ParseSigned();
    }
    if (AtCmd("\\pm") || AtCmd("\\mp")) {
      ++pos_;
      return Make(NodeKind::kPlusMinus, {Leaf(NodeKind::kNumber, "0"), ParseSigned()});
    }
    return ParseTerm();
  }

  bool StartsImplicitFactor() const {
    const Token* t = Peek();
    if (t == nullptr) return false;
    switch (t->kind) {
      case TokKind::kNumber:
      case TokKind::kLetter:
        return true;
      case TokKind::kSymbol:
        return t->text == "(";
      case TokKind::kCommand:
        if (t->text == "\\frac" || t->text == "\\sqrt" || t->text == "\\binom" ||
            t->text == "\\pi" || t->text == "\\infty" || t->text == "\\begin" ||
            t->text == "\\overline" || t->text == "\\vec" || t->text == "\\mathbb")
          return true;
        return Functions().count(t->text) > 0 || Greek().count(t->text.substr(1)) > 0;
      default:
        return false;
    }
  }

  Node ParseTerm() {
    DepthGuard g(this);
    std::vector<Node> factors;
    Node first = ParsePower();
    // Mixed number: 2\frac{1}{2} is 5/2.
    if (first.kind == NodeKind::kNumber && AllDigits(first.text) && AtCmd("\\frac")) {
      size_t save = pos_;
      Node f = ParsePower();
      if (f.kind == NodeKind::kDiv && f.children[0].kind == NodeKind::kNumber &&
          f.children[1].kind == NodeKind::kNumber && AllDigits(f.children[0].text) &&
          AllDigits(f.children[1].text) && !AtSym("^")) {
        first = Make(NodeKind::kAdd, {std::move(first), std::move(f)});
      } else {
        pos_ = save;
      }
    }
    Node left = std::move(first);
    while (true) {
      if (AtSym("*")) {
        ++pos_;
        left = Mul(std::move(left), ParseFactorOperand());
      } else if (AtSym("/")) {
        ++pos_;
        left = Make(NodeKind::kDiv, {std::move(left), ParseFactorOperand()});
      } else if (StartsImplicitFactor()) {
        left = Mul(std::move(left), ParsePower());
      } else {
        return left;
      }
    }
  }

  static Node Mul(Node a, Node b) {
    if (a.kind == NodeKind::kMul) {
      a.children.push_back(std::move(b));
      return a;
    }
    return Make(NodeKind::kMul, {std::move(a), std::move(b)});
  }

  // After * or /, a sign is allowed: 2*-3.
  Node ParseFactorOperand() {
    DepthGuard g(this);
    if (AtSym("-")) {
      ++pos_;
      return Neg(ParseFactorOperand());
    }
    if (AtSym("+")) {
      ++pos_;
      return ParseFactorOperand();
    }
    return ParsePower();
  }

  Node ParsePower() {
    DepthGuard g(this);
    Node base = ParsePostfix();
    if (!AtSym("^")) return base;
    ++pos_;
    Node exponent = ParseExponent();
    Node result = Make(NodeKind::kPow, {std::move(base), std::move(exponent)});
    while (AtSym("!")) {
      ++pos_;
      result = Make(NodeKind::kFactorial, {std::move(result)});
    }
    return result;
  }

  Node ParseExponent() {
    DepthGuard g(this);
    if (AtSym("-")) {
      ++pos_;
      return Neg(ParseExponent());
    }
    if (AtSym("+")) {
      ++pos_;
      return ParseExponent();
    }
    if (AtSym("{")) return ParseBraceGroup();
    Node e = ParsePostfix();
    if (AtSym("^")) {
      ++pos_;
      return Make(NodeKind::kPow, {std::move(e), ParseExponent()});
    }
    return e;
  }

  Node ParsePostfix() {
    Node p = ParsePrimary();
    while (AtSym("!") || AtSym("'")) {
      if (AtSym("'")) Fail("prime marks are not supported");
      ++pos_;
      p = Make(NodeKind::kFactorial, {std::move(p)});
    }
    return p;
  }

  // {expr}
  Node ParseBraceGroup() {
    Expect("{");
    if (AtSym("}")) Fail("empty group");
    std::vector<Node> items = ParseItems();
    Expect("}");
    if (items.size() == 1) return std::move(items[0]);
    return Make(NodeKind::kSet, std::move(items));
  }

  // The argument of \frac, \sqrt, \binom: a group or one token (\frac12 is 1/2).
  Node ParseArg() {
    DepthGuard g(this);
    const Token* t = Peek();
    if (t == nullptr) Fail("missing argument");
    if (AtSym("{")) return ParseBraceGroup();
    if (t->kind == TokKind::kNumber) {
      if (t->text.size() > 1 && AllDigits(t->text)) {
        std::string first(1, t->text[0]);
        toks_[pos_].text = t->text.substr(1);
        return Leaf(NodeKind::kNumber, first);
      }
      ++pos_;
      return Leaf(NodeKind::kNumber, t->text);
    }
    if (t->kind == TokKind::kLetter || t->kind == TokKind::kCommand) return ParsePrimary();
    Fail("missing argument");
  }

  Node ParsePrimary() {
    DepthGuard g(this);
    const Token* t = Peek();
    if (t == nullptr) Fail("unexpected end");
    switch (t->kind) {
      case TokKind::kNumber: {
        ++pos_;
        return Leaf(NodeKind::kNumber, t->text);
      }
      case TokKind::kLetter: {
        std::string name = t->text;
        ++pos_;
        if (AtSym("_")) {
          ++pos_;
          name += "_" + SubscriptText();
          return Leaf(NodeKind::kSymbol, name);
        }
        if (name == "e" || name == "i") return Leaf(NodeKind::kConstant, name);
        return Leaf(NodeKind::kSymbol, name);
      }
      case TokKind::kOther: {
        const std::string& s = t->text;
        ++pos_;
        if (s.rfind("\\text{", 0) == 0 && s.back() == '}')
          return Leaf(NodeKind::kText, s.substr(6, s.size() - 7));
        Fail(absl::StrCat("unexpected '", s, "'"));
      }
      case TokKind::kSymbol:
        return ParseSymbolPrimary();
      case TokKind::kCommand:
        return ParseCommand();
      default:
        Fail("unexpected token");
    }
  }

  std::string SubscriptText() {
    if (AtSym("{")) {
      int depth = 0;
      std::string s;
      while (!AtEnd()) {
        const Token& t = toks_[pos_++];
        if (t.kind == TokKind::kSymbol && t.text == "{") {
          if (depth++ > 0) s += "{";
          continue;
        }
        if (t.kind == TokKind::kSymbol && t.text == "}") {
          if (--depth == 0) return s;
          s += "}";
          continue;
        }
        s += t.text;
      }
      Fail("unbalanced subscript");
    }
    const Token* t = Peek();
    if (t == nullptr) Fail("missing subscript");
    ++pos_;
    return t->text;
  }

  Node ParseSymbolPrimary() {
    const std::string s = Peek()->text;
    if (s == "(" || s == "[") return ParseBracketed();
    if (s == "{") return ParseBraceGroup();
    if (s == "|") {
      ++pos_;
      Node inner = ParseExpr();
      Expect("|");
      return Make(NodeKind::kFunc, {std::move(inner)}, "abs");
    }
    Fail(absl::StrCat("unexpected '", s, "'"));
  }

  Node ParseBracketed() {
    const std::string open = Peek()->text;
    ++pos_;
    if (AtSym(")") || AtSym("]")) Fail("empty brackets");
    std::vector<Node> items = ParseItems();
    const Token* close = Peek();
    if (close == nullptr || close->kind != TokKind::kSymbol ||
        (close->text != ")" && close->text != "]")) {
      Fail("unclosed bracket");
    }
    const std::string c = close->text;
    ++pos_;
    if (items.size() == 1) {
      if ((open == "(") != (c == ")")) Fail("mismatched brackets");
      return std::move(items[0]);
    }
    if (items.size() == 2) {
      if (open == "(" && c == ")") return Make(NodeKind::kPair, std::move(items));
      Node iv = Make(NodeKind::kInterval, std::move(items));
      iv.left_closed = open == "[";
      iv.right_closed = c == "]";
      return iv;
    }
    return Make(NodeKind::kTuple, std::move(items));
  }

  std::string EnvName() {
    Expect("{");
    std::string name;
    while (!AtEnd() && !AtSym("}")) name += toks_[pos_++].text;
    Expect("}");
    return name;
  }

  Node ParseMatrix() {
    const std::string env = EnvName();
    if (env == "array" && AtSym("{")) EnvName();  // column spec
    std::vector<std::vector<Node>> rows(1);
    while (true) {
      if (AtCmd("\\end")) {
        ++pos_;
        if (EnvName() != env) Fail("mismatched \\end");
        break;
      }
      if (AtEnd()) Fail("unterminated matrix");
      rows.back().push_back(ParseRelation());
      if (AtSym("&")) {
        ++pos_;
      } else if (AtCmd("\\\\")) {
        ++pos_;
        if (!AtCmd("\\end")) rows.emplace_back();
      } else if (!AtCmd("\\end")) {
        Fail("unexpected token in matrix");
      }
    }
    Node m;
    m.kind = NodeKind::kMatrix;
    m.rows = static_cast<int>(rows.size());
    m.cols = static_cast<int>(rows[0].size());
    for (auto& r : rows) {
      if (static_cast<int>(r.size()) != m.cols) Fail("ragged matrix");
      for (auto& c : r) m.children.push_back(std::move(c));
    }
    return m;
  }

  Node ParseCommand() {
    const std::string cmd = Peek()->text;
    ++pos_;
    if (cmd == "\\frac") {
      Node a = ParseArg();
      Node b = ParseArg();
      return Make(NodeKind::kDiv, {std::move(a), std::move(b)});
    }
    if (cmd == "\\binom") {
      Node a = ParseArg();
      Node b = ParseArg();
      return Make(NodeKind::kBinom, {std::move(a), std::move(b)});
    }
    if (cmd == "\\sqrt") {
      if (AtSym("[")) {
        ++pos_;
        Node index = ParseExpr();
        Expect("]");
        Node arg = ParseArg();
        return Make(NodeKind::kFunc, {std::move(arg), std::move(index)}, "root");
      }
      return Make(NodeKind::kFunc, {ParseArg()}, "sqrt");
    }
    if (cmd == "\\pi") return Leaf(NodeKind::kConstant, "pi");
    if (cmd == "\\infty") return Leaf(NodeKind::kConstant, "inf");
    if (cmd == "\\imath") return Leaf(NodeKind::kConstant, "i");
    if (cmd == "\\emptyset") return Leaf(NodeKind::kEmptySet, "");
    if (cmd == "\\{") {
      if (AtCmd("\\}")) {
        ++pos_;
        return Leaf(NodeKind::kEmptySet, "");
      }
      std::vector<Node> items = ParseItems();
      if (!AtCmd("\\}")) Fail("unclosed \\{");
      ++pos_;
      return Make(NodeKind::kSet, std::move(items));
    }
    if (cmd == "\\begin") return ParseMatrix();
    if (cmd == "\\mathbb") {
      Expect("{");
      std::string name;
      while (!AtEnd() && !AtSym("}")) name += toks_[pos_++].text;
      Expect("}");
      if (name == "R") {
        Node iv = Make(NodeKind::kInterval,
                       {Neg(Leaf(NodeKind::kConstant, "inf")), Leaf(NodeKind::kConstant, "inf")});
        return iv;
      }
      return Leaf(NodeKind::kSymbol, "bb" + name);
    }
    if (cmd == "\\overline" || cmd == "\\vec" || cmd == "\\hat" || cmd == "\\bar" ||
        cmd == "\\tilde" || cmd == "\\widehat" || cmd == "\\overrightarrow") {
      return ParseArg();
    }
    if (cmd == "\\cdots" || cmd == "\\ldots" || cmd == "\\dots") {
      return Leaf(NodeKind::kText, "...");
    }
    auto fn = Functions().find(cmd);
    if (fn != Functions().end()) return ParseFunction(fn->second);
    const std::string bare = cmd.substr(1);
    if (Greek().count(bare)) {
      std::string name = bare;
      if (AtSym("_")) {
        ++pos_;
        name += "_" + SubscriptText();
      }
      return Leaf(NodeKind::kSymbol, name);
    }
    Fail(absl::StrCat("unsupported command ", cmd));
  }

  // sin x, \sin^2 x, \sin^{-1} x, \log_2 8, \ln(x+1), \gcd(a, b).
  Node ParseFunction(std::string name) {
    DepthGuard g(this);
    std::optional<Node> power;
    std::optional<Node> base;
    for (int k = 0; k < 2; ++k) {
      if (AtSym("^")) {
        ++pos_;
        power = ParseExponent();
      } else if (AtSym("_") && name == "log") {
        ++pos_;
        base = AtSym("{") ? ParseBraceGroup() : ParsePostfix();
      }
    }
    if (power && power->kind == NodeKind::kNumber && power->text == "-1" &&
        (name == "sin" || name == "cos" || name == "tan")) {
      name = "a" + name;
      power.reset();
    }
    std::vector<Node> args;
    if (AtSym("(")) {
      ++pos_;
      args = ParseItems();
      Expect(")");
    } else {
      // Juxtaposed factors without another function: \sin 2x, \log 8.
      Node arg = ParsePower();
      while (!AtEnd() && StartsImplicitFactor() && !Functions().count(Peek()->text) &&
             !AtSym("(")) {
        arg = Mul(std::move(arg), ParsePower());
      }
      args.push_back(std::move(arg));
    }
    if (base) args.push_back(std::move(*base));
    Node f = Make(NodeKind::kFunc, std::move(args), name);
    if (power) return Make(NodeKind::kPow, {std::move(f), std::move(*power)});
    return f;
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  int depth_ = 0;
  const ParseOptions& options_;
};

}  // namespace

absl::StatusOr<Node> Parse(const std::string& normalized, const ParseOptions& options) {
  std::vector<Token> toks;
  for (Token& t : Tokenize(normalized)) {
    if (t.kind != TokKind::kSpace) toks.push_back(std::move(t));
  }
  if (static_cast<int>(toks.size()) > options.max_tokens) {
    return absl::InvalidArgumentError("answer too long to parse");
  }
  try {
    Parser p(std::move(toks), options);
    return p.ParseAll();
  } catch (const ParseFailure& f) {
    return absl::InvalidArgumentError(f.message);
  }
}

std::string DebugString(const Node& n) {
  static const char* kNames[] = {"num",  "sym",   "const",  "text",    "add",      "mul",
                                 "neg",  "div",   "pow",    "func",    "fact",     "binom",
                                 "pm",   "rel",   "tuple",  "pair",    "interval", "set",
                                 "list", "union", "matrix", "emptyset"};
  switch (n.kind) {
    case NodeKind::kNumber:
    case NodeKind::kSymbol:
    case NodeKind::kConstant:
      return n.text;
    case NodeKind::kText:
      return "\"" + n.text + "\"";
    default:
      break;
  }
  std::string s = "(";
  s += kNames[static_cast<int>(n.kind)];
  if (!n.text.empty()) s += ":" + n.text;
  if (n.kind == NodeKind::kInterval) s += n.left_closed ? "[" : "(";
  if (n.kind == NodeKind::kInterval) s += n.right_closed ? "]" : ")";
  for (const Node& c : n.children) s += " " + DebugString(c);
  return s + ")";
}

int CountNodes(const Node& node) {
  int n = 1;
  for (const Node& c : node.children) n += CountNodes(c);
  return n;
}

}  // namespace rlvr::math
