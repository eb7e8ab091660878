// Token-aware normalisation of an extracted answer into a canonical LaTeX-like
// string that the parser reads. It removes presentation (\left/\right, spacing,
// \dfrac/\tfrac, math delimiters, \text{} units, degrees, currency, thousands
// separators, trailing punctuation) without ever editing inside a command, so
// "\alpha", "\left(" or "\infty" cannot be corrupted by substring removal.
//
// Thread-safe: pure function.
#ifndef RLVR_VERIFIERS_MATH_NORMALIZE_H_
#define RLVR_VERIFIERS_MATH_NORMALIZE_H_

#include <string>

namespace rlvr::math {

struct NormalizeOptions {
  // Read "3,5" as 3.5 and "1.234,5" as 1234.5 (European style). Default: off, so
  // "1,234" is one thousand two hundred thirty-four and "1, 2" is a list.
  bool decimal_comma = false;
};

struct Normalized {
  std::string text;      // canonical form, e.g. "\frac{1}{2}", "(1,2]", "\text{monday}"
  bool percent = false;  // a "%" / "\%" / "percent" was removed
  bool degrees = false;  // a degree sign ("^\circ", "°", "degrees") was removed
};

Normalized Normalize(const std::string& answer, const NormalizeOptions& options = {});

}  // namespace rlvr::math

#endif  // RLVR_VERIFIERS_MATH_NORMALIZE_H_
