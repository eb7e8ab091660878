// The "math" verifier: extracts the final answer from a completion (and from the
// gold answer), normalises both, parses them and decides equivalence (see
// extract.h, normalize.h, parser.h, equivalence.h).
//
// Verdicts: "correct", "incorrect", "no_answer" (nothing extracted), "parse_error"
// (the extracted answer cannot be read and is not string-equal to the gold),
// "timeout" (the symbolic budget ran out). Details: "extracted", "normalized",
// "gold_normalized", "method", "stage".
//
// Per-request spec fields: "choices": [str...] or "num_choices": n (or
// "multiple_choice": true, 5 choices) switch to multiple-choice letter grading.
#ifndef RLVR_VERIFIERS_MATH_MATH_VERIFIER_H_
#define RLVR_VERIFIERS_MATH_MATH_VERIFIER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "verifiers/math/equivalence.h"
#include "verifiers/math/extract.h"
#include "verifiers/math/normalize.h"
#include "verifiers/math/parser.h"
#include "verifiers/registry.h"
#include "verifiers/verifier.h"

namespace rlvr {

struct MathVerifierOptions {
  math::ExtractOptions extract;          // extraction priority
  math::NormalizeOptions normalize;      // decimal comma
  math::ParseOptions parse;              // size bounds
  math::EquivalenceOptions equivalence;  // tolerance, time and size budget
  // "50%" also matches 0.5 (and "0.5" matches a gold of "50\%").
  bool percent_as_fraction = true;
  // Score per verdict: partial credit and format rewards are non-zero values here.
  double correct_score = 1.0;
  double incorrect_score = 0.0;
  double no_answer_score = 0.0;
  double parse_error_score = 0.0;
  double timeout_score = 0.0;
};

// Reads options from the verifier's JSON config. Keys (all optional):
//   rel_tol (>= 0), timeout_ms (> 0), max_nodes (> 0), extract_priority ([method...]),
//   decimal_comma (bool), percent_as_fraction (bool),
//   scores: {correct, incorrect, no_answer, parse_error, timeout} (finite numbers).
// INVALID_ARGUMENT naming the key on an unknown key, wrong type or bad value.
absl::StatusOr<MathVerifierOptions> MathVerifierOptionsFromJson(const nlohmann::json& config);

// Thread-safe: Verify() may be called concurrently.
class MathVerifier final : public Verifier {
 public:
  explicit MathVerifier(MathVerifierOptions options) : options_(std::move(options)) {}
  // INVALID_ARGUMENT if `answer` is empty or a spec field has the wrong type.
  absl::StatusOr<Reward> Verify(const VerifyRequest& request) const override;
  std::string name() const override { return "math"; }

 private:
  absl::StatusOr<Reward> VerifyChoice(const VerifyRequest& request, int num_choices,
                                      const std::vector<std::string>& choices) const;
  Reward Make(const std::string& verdict, nlohmann::json details) const;

  MathVerifierOptions options_;
};

// Registers "math" (factory: MathVerifierOptionsFromJson + MathVerifier).
absl::Status RegisterMathVerifier(VerifierRegistry& registry);

}  // namespace rlvr

#endif  // RLVR_VERIFIERS_MATH_MATH_VERIFIER_H_
