// Verifiers are created by name from a registry that refuses duplicate names.
#ifndef RLVR_VERIFIERS_REGISTRY_H_
#define RLVR_VERIFIERS_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "verifiers/verifier.h"

namespace rlvr {

// Not thread-safe while registering; Create() is safe to call concurrently afterwards.
class VerifierRegistry {
 public:
  // ALREADY_EXISTS if `name` is taken.
  absl::Status Register(const std::string& name, VerifierFactory factory);
  // NOT_FOUND naming the known verifiers if `name` is not registered; otherwise the
  // factory's result (INVALID_ARGUMENT naming the config field on a bad config).
  absl::StatusOr<std::unique_ptr<Verifier>> Create(const std::string& name,
                                                   const nlohmann::json& config) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, VerifierFactory> factories_;
};

// The registry of every built-in verifier ("math", "code", ...), built on first use.
const VerifierRegistry& BuiltinVerifiers();

}  // namespace rlvr

#endif  // RLVR_VERIFIERS_REGISTRY_H_
