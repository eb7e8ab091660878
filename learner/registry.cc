#include "learner/registry.h"

#include <cstdlib>
#include <iostream>

namespace rlvr {
namespace {

template <typename Fn>
void RegisterOrDie(FunctionRegistry<Fn>& registry, const std::string& name, Fn fn) {
  absl::Status s = registry.Register(name, std::move(fn));
  if (!s.ok()) {  // two built-ins with one name: a programming error
    std::cerr << s << "\n";
    std::abort();
  }
}

template <typename E>
absl::StatusOr<E> FromName(const std::map<std::string, E>& names, const std::string& name,
                           const char* what) {
  auto it = names.find(name);
  if (it != names.end()) return it->second;
  std::vector<std::string> known;
  for (const auto& entry : names) known.push_back(entry.first);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown ", what, " '", name, "'; known: ", absl::StrJoin(known, ", ")));
}

}  // namespace

const FunctionRegistry<AdvantageFn>& AdvantageEstimators() {
  static const auto* registry = [] {
    auto* r = new FunctionRegistry<AdvantageFn>("advantage estimator");
    RegisterOrDie<AdvantageFn>(*r, "grpo", GroupNormalizedAdvantages);
    RegisterOrDie<AdvantageFn>(*r, "dr_grpo", GroupMeanAdvantages);
    RegisterOrDie<AdvantageFn>(*r, "rloo", LeaveOneOutAdvantages);
    RegisterOrDie<AdvantageFn>(*r, "grpo_batch_std", BatchNormalizedAdvantages);
    return r;
  }();
  return *registry;
}

const FunctionRegistry<PolicyObjectiveFn>& PolicyObjectives() {
  static const auto* registry = [] {
    auto* r = new FunctionRegistry<PolicyObjectiveFn>("policy loss");
    RegisterOrDie<PolicyObjectiveFn>(*r, "ppo_clip", ClippedSurrogate);
    RegisterOrDie<PolicyObjectiveFn>(*r, "gspo", SequenceClippedSurrogate);
    RegisterOrDie<PolicyObjectiveFn>(*r, "cispo", Cispo);
    return r;
  }();
  return *registry;
}

absl::StatusOr<Aggregation> AggregationFromName(const std::string& name) {
  static const std::map<std::string, Aggregation> kNames = {
      {"token-mean", Aggregation::kTokenMean},
      {"seq-mean-token-mean", Aggregation::kSeqMeanTokenMean},
      {"constant", Aggregation::kConstant}};
  return FromName(kNames, name, "loss aggregation");
}

absl::StatusOr<KlEstimator> KlEstimatorFromName(const std::string& name) {
  static const std::map<std::string, KlEstimator> kNames = {
      {"k1", KlEstimator::kK1}, {"k2", KlEstimator::kK2}, {"k3", KlEstimator::kK3}};
  return FromName(kNames, name, "KL estimator");
}

absl::StatusOr<IsMode> IsModeFromName(const std::string& name) {
  static const std::map<std::string, IsMode> kNames = {
      {"none", IsMode::kNone},
      {"token_truncate", IsMode::kTokenTruncate},
      {"token_mask", IsMode::kTokenMask},
      {"sequence_truncate", IsMode::kSequenceTruncate},
      {"sequence_mask", IsMode::kSequenceMask}};
  return FromName(kNames, name, "importance-sampling mode");
}

}  // namespace rlvr
