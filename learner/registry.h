// Loss and advantage functions chosen by name from registries that refuse duplicate names,
// so the trainer holds no if/else chain over algorithm names.
#ifndef RLVR_LEARNER_REGISTRY_H_
#define RLVR_LEARNER_REGISTRY_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "learner/advantages.h"
#include "learner/losses.h"

namespace rlvr {

// Functions of one signature by name. Not thread-safe while registering; Get() may be
// called concurrently afterwards.
template <typename Fn>
class FunctionRegistry {
 public:
  // `kind` names the registry in errors ("advantage estimator").
  explicit FunctionRegistry(std::string kind) : kind_(std::move(kind)) {}

  // ALREADY_EXISTS if `name` is taken.
  absl::Status Register(const std::string& name, Fn fn) {
    if (!fns_.emplace(name, std::move(fn)).second) {
      return absl::AlreadyExistsError(absl::StrCat(kind_, " '", name, "' is already registered"));
    }
    return absl::OkStatus();
  }

  // INVALID_ARGUMENT naming the known names if `name` is not registered.
  absl::StatusOr<Fn> Get(const std::string& name) const {
    auto it = fns_.find(name);
    if (it == fns_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown ", kind_, " '", name, "'; known: ", absl::StrJoin(Names(), ", ")));
    }
    return it->second;
  }

  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& entry : fns_) names.push_back(entry.first);
    return names;
  }

 private:
  std::string kind_;
  std::map<std::string, Fn> fns_;
};

// Built-in registries, built on first use (thread-safe).
// Advantages: "grpo", "dr_grpo", "rloo", "grpo_batch_std".
const FunctionRegistry<AdvantageFn>& AdvantageEstimators();
// Policy objectives: "ppo_clip", "gspo", "cispo".
const FunctionRegistry<PolicyObjectiveFn>& PolicyObjectives();

// Names used in configs: "token-mean", "seq-mean-token-mean", "constant".
absl::StatusOr<Aggregation> AggregationFromName(const std::string& name);
// "k1", "k2", "k3".
absl::StatusOr<KlEstimator> KlEstimatorFromName(const std::string& name);
// "none", "token_truncate", "token_mask", "sequence_truncate", "sequence_mask".
absl::StatusOr<IsMode> IsModeFromName(const std::string& name);

}  // namespace rlvr

#endif  // RLVR_LEARNER_REGISTRY_H_
