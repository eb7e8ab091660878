// Parses a normalised answer (see normalize.h) into an expression tree: numbers,
// symbols, + - * / ^, roots, trig/log/exp, factorials, binomials, plus-minus,
// relations (= < > \leq \geq \neq), tuples, sets, intervals, unions, matrices and
// text atoms. LaTeX and plain text are both accepted ("\frac{1}{2}", "1/2").
//
// Thread-safe: pure function. Never throws; bounded recursion.
#ifndef RLVR_VERIFIERS_MATH_PARSER_H_
#define RLVR_VERIFIERS_MATH_PARSER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rlvr::math {

enum class NodeKind {
  kNumber,     // text: exact decimal literal "12", "0.5", "1e-10"
  kSymbol,     // text: name ("x", "x_1", "alpha")
  kConstant,   // text: "pi", "e", "i", "inf"
  kText,       // text: lower-case words ("monday")
  kAdd,        // children: terms
  kMul,        // children: factors
  kNeg,        // children[0]
  kDiv,        // children[0] / children[1]
  kPow,        // children[0] ^ children[1]
  kFunc,       // text: "sin", "ln", "sqrt", "abs", "log"... ; children: arguments
               // ("root": children {radicand, index}; "log" with 2 args: {arg, base})
  kFactorial,  // children[0]!
  kBinom,      // binom(children[0], children[1])
  kPlusMinus,  // children[0] ± children[1] (the set {a+b, a-b})
  kRelation,   // text: operators joined by ' ' ("=", "< <=" for chains); children: sides
  kTuple,      // ordered, 3+ elements, or "[a, b, c]"
  kPair,       // "(a, b)": a 2-tuple or an open interval, decided by the other side
  kInterval,   // children {lo, hi}; left_closed / right_closed
  kSet,        // "\{...\}": unordered
  kList,       // "a, b" at top level: unordered list of answers (solutions)
  kUnion,      // children: intervals/sets joined by \cup
  kMatrix,     // rows x cols, children row-major
  kEmptySet,   // \emptyset, \{\}
};

struct Node {
  NodeKind kind = NodeKind::kNumber;
  std::string text;
  std::vector<Node> children;
  bool left_closed = false;
  bool right_closed = false;
  int rows = 0;
  int cols = 0;
};

struct ParseOptions {
  int max_depth = 1000;   // recursion bound, ~6 per bracket level (INVALID_ARGUMENT beyond)
  int max_tokens = 4000;  // input size bound (INVALID_ARGUMENT beyond)
};

// The tree, or INVALID_ARGUMENT saying what could not be read.
absl::StatusOr<Node> Parse(const std::string& normalized, const ParseOptions& options = {});

// A compact prefix rendering for messages and tests, e.g. "(add x (mul 2 y))".
std::string DebugString(const Node& node);

// Number of nodes in the tree.
int CountNodes(const Node& node);

}  // namespace rlvr::math

#endif  // RLVR_VERIFIERS_MATH_PARSER_H_
