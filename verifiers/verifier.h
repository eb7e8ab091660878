// The Verifier interface: grades one completion against a task's gold answer or
// tests. Every reward source (math, code, format, plugins, remote services and
// pipelines of them) implements it.
#ifndef RLVR_VERIFIERS_VERIFIER_H_
#define RLVR_VERIFIERS_VERIFIER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace rlvr {

struct VerifyRequest {
  std::string id;          // task or sample id, for messages only
  std::string completion;  // the model's output text
  std::string answer;      // gold answer text (math); may be empty (code uses `spec`)
  // Verifier-specific fields of the task, e.g. for code {"tests": ..., "language": ...,
  // "timeout_s": ..., "memory_mb": ...}; for multiple choice {"choices": [...]}.
  nlohmann::json spec = nlohmann::json::object();
  int64_t completion_tokens = 0;  // for length-based rewards; 0 when unknown
};

struct Reward {
  double score = 0.0;  // finite; 1/0 by default
  // "correct", "incorrect", "no_answer", "parse_error", "timeout" (math);
  // "passed", "wrong_answer", "runtime_error", ... (code).
  std::string verdict;
  // Verifier-specific details merged into `rlvr grade` output lines, e.g.
  // {"extracted": "...", "normalized": "..."} or {"tests": [...]}.
  nlohmann::json details = nlohmann::json::object();
};

// Thread-safe: Verify() is called concurrently from many threads.
// A wrong or unparseable answer, or a timeout, is a Reward with that verdict, not an
// error. An error status means the request itself is malformed (INVALID_ARGUMENT,
// naming the field) or the verifier cannot work (e.g. UNAVAILABLE, FAILED_PRECONDITION).
class Verifier {
 public:
  virtual ~Verifier() = default;
  virtual absl::StatusOr<Reward> Verify(const VerifyRequest& request) const = 0;
  // The registry name, e.g. "math".
  virtual std::string name() const = 0;
};

// Creates a verifier from its JSON config (the `verifier:` block of a config, or {}).
using VerifierFactory =
    std::function<absl::StatusOr<std::unique_ptr<Verifier>>(const nlohmann::json& config)>;

}  // namespace rlvr

#endif  // RLVR_VERIFIERS_VERIFIER_H_
