// Loading a policy for generation: a Hugging Face model directory (config.json,
// safetensors, tokenizer.json when present) or "builtin" (the built-in tiny
// Qwen3-shaped model with the built-in tokenizer, random weights from seed 0,
// for examples and smoke tests).
#ifndef RLVR_ROLLOUT_POLICY_H_
#define RLVR_ROLLOUT_POLICY_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/model.h"
#include "core/tokenizer.h"

namespace rlvr {

struct Policy {
  Transformer model;
  std::optional<Tokenizer> tokenizer;  // absent when the directory has none
};

// INVALID_ARGUMENT / NOT_FOUND naming the file on a bad directory.
absl::StatusOr<Policy> LoadPolicy(const std::string& dir_or_builtin, const ModelOptions& options);

}  // namespace rlvr

#endif  // RLVR_ROLLOUT_POLICY_H_
