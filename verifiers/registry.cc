#include "verifiers/registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rlvr {

absl::Status VerifierRegistry::Register(const std::string& name, VerifierFactory factory) {
  if (!factories_.emplace(name, std::move(factory)).second) {
    return absl::AlreadyExistsError(absl::StrCat("verifier '", name, "' is already registered"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Verifier>> VerifierRegistry::Create(
    const std::string& name, const nlohmann::json& config) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown verifier '", name,
                                            "'; known: ", absl::StrJoin(Names(), ", ")));
  }
  return it->second(config);
}

std::vector<std::string> VerifierRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, factory] : factories_) names.push_back(name);
  return names;
}

}  // namespace rlvr
