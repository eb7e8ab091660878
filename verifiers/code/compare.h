// Comparators for program outputs.
#ifndef RLVR_VERIFIERS_CODE_COMPARE_H_
#define RLVR_VERIFIERS_CODE_COMPARE_H_

#include <string>

#include "nlohmann/json.hpp"

namespace rlvr::code {

// Tolerant stdout comparison: trailing whitespace on each line and trailing blank lines are
// ignored, tokens on a line are whitespace-separated, and two tokens that both parse as
// numbers match when |a - b| <= tol * max(1, |b|) (exact equality when tol = 0).
bool OutputsMatch(const std::string& got, const std::string& expected, double tol);

// JSON value comparison for call results: numbers within the tolerance above (an integer
// and a float may match; booleans only match booleans), arrays elementwise, objects by key.
bool ValuesMatch(const nlohmann::json& got, const nlohmann::json& expected, double tol);

}  // namespace rlvr::code

#endif  // RLVR_VERIFIERS_CODE_COMPARE_H_
