// Shaping rewards that need no gold answer beyond the request itself. Each is a
// Verifier created by name from a registry; a RewardPipeline (pipeline.h) weights them.
//
//   "exact"    score 1 if the trimmed completion equals the trimmed answer, else 0.
//              config {"case_sensitive": true}
//   "format"   score 1 if the completion is one reasoning block then an answer, e.g.
//              "<think>...</think> 42", else 0 (verdict "formatted" / "bad_format",
//              details.reason says what is wrong).
//              config {"open": "<think>", "close": "</think>",
//                      "answer_regex": ""}  // PCRE2 the text after `close` must match
//                                           // (search, not full match); "" = non-empty
//   "overlong" DAPO soft overlong penalty from request.completion_tokens L:
//              0 if L <= max_tokens - buffer_tokens; (max_tokens - buffer_tokens - L) /
//              buffer_tokens inside the buffer (linear down to -1); -1 beyond max_tokens.
//              config {"max_tokens": 4096, "buffer_tokens": 1024}
//              A non-empty completion with completion_tokens == 0 (unknown) is an
//              INVALID_ARGUMENT error, never a silent 0.
//   "language" fraction of letters in the completion written in the target script,
//              in [0, 1] (verdict "consistent" when >= threshold, "mixed", or "no_text"
//              with score 0 when there are no letters).
//              config {"language": "en", "threshold": 0.95}; request.spec["language"]
//              overrides the config. Languages: en fr de es it pt nl (latin), ru uk
//              (cyrillic), zh (han), ja (han + kana), ko (hangul), ar, hi, el, he, th;
//              or a script name directly: latin cyrillic han hangul arabic
//              devanagari greek hebrew thai.
// Config errors are INVALID_ARGUMENT naming the field. All are thread-safe.
#ifndef RLVR_VERIFIERS_PIPELINE_REWARDS_H_
#define RLVR_VERIFIERS_PIPELINE_REWARDS_H_

#include "absl/status/status.h"
#include "verifiers/registry.h"

namespace rlvr {

// Registers "exact", "format", "overlong" and "language".
absl::Status RegisterRewardVerifiers(VerifierRegistry& registry);

}  // namespace rlvr

#endif  // RLVR_VERIFIERS_PIPELINE_REWARDS_H_
