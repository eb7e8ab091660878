// Tokenizer for LaTeX and plain-text math answers, shared by the normalizer and
// the parser. Tokens are whole LaTeX commands ("\alpha", "\left", "\,"), numbers,
// single letters, single symbols and runs of whitespace, so later passes work on
// tokens and never corrupt a command by substring replacement ("\left(" stays one
// command and a paren; "\alpha" never loses its "a").
//
// Thread-safe: pure functions.
#ifndef RLVR_VERIFIERS_MATH_LEXER_H_
#define RLVR_VERIFIERS_MATH_LEXER_H_

#include <string>
#include <vector>

namespace rlvr::math {

enum class TokKind {
  kCommand,  // "\name" or "\" + one non-letter ("\{", "\,", "\%", "\\")
  kNumber,   // "12", "3.5", ".5", "1e-10"
  kLetter,   // one ASCII letter
  kSymbol,   // one ASCII symbol, or a two-char operator ("<=", ">=", "!=")
  kSpace,    // a run of whitespace
  kOther,    // any other byte sequence (unknown UTF-8 character)
};

struct Token {
  TokKind kind;
  std::string text;
};

// Splits `text` into tokens. Known Unicode math characters are mapped to their LaTeX
// commands ("−" -> "-", "π" -> "\pi", "≤" -> "\leq", "√" -> "\sqrt", "°" -> "\circ").
std::vector<Token> Tokenize(const std::string& text);

// Joins tokens back into text, inserting a space where a command would otherwise run
// into a following letter ("\pi" "x" -> "\pi x") or two numbers would merge ("1 2").
std::string Detokenize(const std::vector<Token>& tokens);

}  // namespace rlvr::math

#endif  // RLVR_VERIFIERS_MATH_LEXER_H_
