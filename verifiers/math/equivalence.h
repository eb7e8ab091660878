// Mathematical equivalence of two parsed answers, in stages:
//   exact      both sides exact rationals (fast 64-bit path, else GiNaC numerics)
//   numeric    floating evaluation (complex doubles, deterministic sample points for
//              variables): a clear difference is decisive; agreement needs the next stage
//   symbolic   GiNaC: expand/normal of the difference, under a size budget and a deadline;
//              for non-rational values, 40-digit evaluation with a relative tolerance
//   structural sets and lists (order-insensitive), tuples and matrices (ordered),
//              intervals (endpoints and closedness), unions, equations (same solution
//              set: proportional after moving to one side), inequalities (either side
//              order), "x = 5" against "5", plus-minus as the set of both signs.
//
// Thread-safe. GiNaC is not thread-safe (non-atomic reference counts), so every
// GiNaC computation runs under one process-wide mutex; the fast paths take no lock.
#ifndef RLVR_VERIFIERS_MATH_EQUIVALENCE_H_
#define RLVR_VERIFIERS_MATH_EQUIVALENCE_H_

#include <string>

#include "verifiers/math/parser.h"

namespace rlvr::math {

struct EquivalenceOptions {
  // Relative tolerance |a-b| <= rel_tol * max(|a|,|b|), used only when a side is not an
  // exact rational (pi, roots, decimals against irrationals). Exact rationals compare
  // exactly, so 1e-10 and 2e-10 always differ.
  double rel_tol = 1e-9;
  // Wall-clock budget for one comparison's symbolic stage; beyond it the verdict is
  // kTimeout (never a hang).
  int timeout_ms = 1000;
  // Trees larger than this are not compared symbolically.
  int max_nodes = 2000;
  // An expansion estimated to have more terms than this is skipped.
  double max_expand_terms = 5000;
  // Exact numbers (powers, factorials) larger than this many bits are not computed.
  double max_number_bits = 1 << 20;
  // Lists and sets longer than this are not compared.
  int max_elements = 256;
};

enum class Outcome { kEqual, kUnequal, kTimeout };

struct Comparison {
  Outcome outcome = Outcome::kUnequal;
  std::string stage;  // "exact", "numeric", "symbolic", "structural", "budget"
};

// Compares a gold answer with a predicted one.
Comparison Compare(const Node& gold, const Node& pred, const EquivalenceOptions& options);

}  // namespace rlvr::math

#endif  // RLVR_VERIFIERS_MATH_EQUIVALENCE_H_
