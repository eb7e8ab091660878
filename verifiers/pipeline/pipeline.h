// RewardPipeline: a Verifier composed in config from other verifiers.
//
//   total = task_weight * task_verifier(request) + sum_i weight_i * term_i(request)
//   score = clamp(total, min_total, max_total)
//
// The task verifier is chosen per request from request.spec[task_field] (e.g. a task
// with {"verifier": "math"}), among the verifiers listed in task_verifiers. Config:
//
//   {
//     "task_field": "verifier",          // spec field naming the task's verifier
//     "task_verifiers": {"math": {}, "code": {"timeout_s": 5}},  // name -> its config
//     "default_verifier": "math",        // when the spec lacks task_field; "" = error
//     "task_weight": 1.0,
//     "terms": [                         // shaping rewards, each any registered verifier
//       {"verifier": "format", "weight": 0.1, "config": {}, "name": "format"},
//       {"verifier": "overlong", "weight": 1.0, "config": {"max_tokens": 4096}}
//     ],
//     "min_total": -1.0, "max_total": 1.5  // optional cap on the total
//   }
//
// The reward's verdict is the task verifier's (or "scored" without one); details hold
// {"task_verifier", "task": {score, verdict, details}, "terms": {name: {score,
// verdict}}, "total": unclamped sum}. A component's error is returned with the
// component named; a NaN or infinite score from any component is INTERNAL naming it.
#ifndef RLVR_VERIFIERS_PIPELINE_PIPELINE_H_
#define RLVR_VERIFIERS_PIPELINE_PIPELINE_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "verifiers/registry.h"
#include "verifiers/verifier.h"

namespace rlvr {

// Runs verifier.Verify(request) and rejects a non-finite score with INTERNAL naming
// the verifier and the request id. Every caller that hands rewards to the learner
// (pipelines, queues, the service) goes through this.
absl::StatusOr<Reward> VerifyChecked(const Verifier& verifier, const VerifyRequest& request);

// Builds a pipeline whose components are created from `registry`, which must outlive
// nothing (components are created now). INVALID_ARGUMENT naming the field on a bad
// config; a component factory's error is returned naming the component.
absl::StatusOr<std::unique_ptr<Verifier>> CreatePipelineVerifier(const VerifierRegistry& registry,
                                                                 const nlohmann::json& config);

// Registers "pipeline", whose components come from BuiltinVerifiers().
absl::Status RegisterPipelineVerifier(VerifierRegistry& registry);

}  // namespace rlvr

#endif  // RLVR_VERIFIERS_PIPELINE_PIPELINE_H_
