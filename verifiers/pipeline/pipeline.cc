#include "verifiers/pipeline/pipeline.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"

namespace rlvr {
namespace {

std::string WithPrefix(const std::string& prefix, const absl::Status& s) {
  return absl::StrCat(prefix, std::string(s.message()));
}

absl::Status Prefixed(const std::string& prefix, const absl::Status& s) {
  return absl::Status(s.code(), WithPrefix(prefix, s));
}

absl::StatusOr<double> ReadNumber(const nlohmann::json& config, const std::string& field,
                                  double fallback) {
  if (!config.contains(field)) return fallback;
  const nlohmann::json& v = config.at(field);
  if (!v.is_number() || !std::isfinite(v.get<double>())) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline config field '", field,
                                                   "' must be a finite number, got ", v.dump()));
  }
  return v.get<double>();
}

struct Term {
  std::string name;
  double weight = 1.0;
  std::unique_ptr<Verifier> verifier;
};

class PipelineVerifier final : public Verifier {
 public:
  PipelineVerifier(std::string task_field, std::map<std::string, std::unique_ptr<Verifier>> tasks,
                   std::string default_task, double task_weight, std::vector<Term> terms,
                   double min_total, double max_total)
      : task_field_(std::move(task_field)),
        tasks_(std::move(tasks)),
        default_task_(std::move(default_task)),
        task_weight_(task_weight),
        terms_(std::move(terms)),
        min_total_(min_total),
        max_total_(max_total) {}

  std::string name() const override { return "pipeline"; }

  absl::StatusOr<Reward> Verify(const VerifyRequest& request) const override {
    Reward out;
    out.verdict = "scored";
    double total = 0.0;
    if (!tasks_.empty()) {
      std::string task_name = default_task_;
      if (request.spec.is_object() && request.spec.contains(task_field_)) {
        const nlohmann::json& field = request.spec.at(task_field_);
        if (!field.is_string()) {
          return absl::InvalidArgumentError(absl::StrCat("request '", request.id, "': spec field '",
                                                         task_field_, "' must be a string"));
        }
        task_name = field.get<std::string>();
      }
      if (task_name.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("request '", request.id,
                                                       "': spec has no field '", task_field_,
                                                       "' and the pipeline has no default"));
      }
      auto it = tasks_.find(task_name);
      if (it == tasks_.end()) {
        std::vector<std::string> known;
        for (const auto& [n, v] : tasks_) known.push_back(n);
        return absl::InvalidArgumentError(absl::StrCat(
            "request '", request.id, "': spec field '", task_field_, "' names '", task_name,
            "', not one of the pipeline's task_verifiers: ", absl::StrJoin(known, ", ")));
      }
      absl::StatusOr<Reward> r = VerifyChecked(*it->second, request);
      if (!r.ok())
        return Prefixed(absl::StrCat("pipeline task verifier '", task_name, "': "), r.status());
      total += task_weight_ * r->score;
      out.verdict = r->verdict;
      out.details["task_verifier"] = task_name;
      out.details["task"] = {{"score", r->score}, {"verdict", r->verdict}, {"details", r->details}};
    }
    nlohmann::json terms = nlohmann::json::object();
    for (const Term& term : terms_) {
      absl::StatusOr<Reward> r = VerifyChecked(*term.verifier, request);
      if (!r.ok()) return Prefixed(absl::StrCat("pipeline term '", term.name, "': "), r.status());
      total += term.weight * r->score;
      terms[term.name] = {{"score", r->score}, {"verdict", r->verdict}};
    }
    if (!terms_.empty()) out.details["terms"] = std::move(terms);
    out.details["total"] = total;
    out.score = std::clamp(total, min_total_, max_total_);
    if (!std::isfinite(out.score)) {
      return absl::InternalError(absl::StrCat("verifier 'pipeline' summed to a non-finite reward (",
                                              total, ") for request '", request.id, "'"));
    }
    return out;
  }

 private:
  const std::string task_field_;
  const std::map<std::string, std::unique_ptr<Verifier>> tasks_;
  const std::string default_task_;
  const double task_weight_;
  const std::vector<Term> terms_;
  const double min_total_;
  const double max_total_;
};

}  // namespace

absl::StatusOr<Reward> VerifyChecked(const Verifier& verifier, const VerifyRequest& request) {
  absl::StatusOr<Reward> reward;
  try {
    reward = verifier.Verify(request);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("verifier '", verifier.name(), "' threw an exception: ", e.what()));
  }
  if (reward.ok() && !std::isfinite(reward->score)) {
    return absl::InternalError(absl::StrCat("verifier '", verifier.name(),
                                            "' returned a non-finite reward (", reward->score,
                                            ") for request '", request.id, "'"));
  }
  return reward;
}

absl::StatusOr<std::unique_ptr<Verifier>> CreatePipelineVerifier(const VerifierRegistry& registry,
                                                                 const nlohmann::json& config) {
  const nlohmann::json cfg = config.is_null() ? nlohmann::json::object() : config;
  if (!cfg.is_object()) {
    return absl::InvalidArgumentError("pipeline config must be a JSON object");
  }
  static const std::vector<std::string> kKnown = {
      "task_field", "task_verifiers", "default_verifier", "task_weight",
      "terms",      "min_total",      "max_total"};
  for (const auto& [key, value] : cfg.items()) {
    if (std::find(kKnown.begin(), kKnown.end(), key) == kKnown.end()) {
      return absl::InvalidArgumentError(absl::StrCat("pipeline config has unknown field '", key,
                                                     "'; known: ", absl::StrJoin(kKnown, ", ")));
    }
  }
  std::string task_field = "verifier";
  if (cfg.contains("task_field")) {
    if (!cfg["task_field"].is_string() || cfg["task_field"].get<std::string>().empty()) {
      return absl::InvalidArgumentError(
          "pipeline config field 'task_field' must be a non-empty string");
    }
    task_field = cfg["task_field"].get<std::string>();
  }
  std::map<std::string, std::unique_ptr<Verifier>> tasks;
  if (cfg.contains("task_verifiers")) {
    if (!cfg["task_verifiers"].is_object()) {
      return absl::InvalidArgumentError(
          "pipeline config field 'task_verifiers' must map verifier names to their configs");
    }
    for (const auto& [name, sub] : cfg["task_verifiers"].items()) {
      absl::StatusOr<std::unique_ptr<Verifier>> v = registry.Create(name, sub);
      if (!v.ok()) {
        return Prefixed(absl::StrCat("pipeline config field 'task_verifiers.", name, "': "),
                        v.status());
      }
      tasks.emplace(name, std::move(v).value());
    }
  }
  std::string default_task;
  if (cfg.contains("default_verifier")) {
    if (!cfg["default_verifier"].is_string()) {
      return absl::InvalidArgumentError(
          "pipeline config field 'default_verifier' must be a string");
    }
    default_task = cfg["default_verifier"].get<std::string>();
    if (!default_task.empty() && tasks.count(default_task) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("pipeline config field 'default_verifier' names '", default_task,
                       "', which is not in task_verifiers"));
    }
  } else if (tasks.size() == 1) {
    default_task = tasks.begin()->first;
  }
  ASSIGN_OR_RETURN(double task_weight, ReadNumber(cfg, "task_weight", 1.0));
  std::vector<Term> terms;
  if (cfg.contains("terms")) {
    if (!cfg["terms"].is_array()) {
      return absl::InvalidArgumentError("pipeline config field 'terms' must be a list");
    }
    for (size_t i = 0; i < cfg["terms"].size(); ++i) {
      const nlohmann::json& t = cfg["terms"][i];
      const std::string where = absl::StrCat("pipeline config field 'terms[", i, "]");
      if (!t.is_object() || !t.contains("verifier") || !t["verifier"].is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(where, "' needs a string 'verifier'"));
      }
      for (const auto& [key, value] : t.items()) {
        if (key != "verifier" && key != "weight" && key != "config" && key != "name") {
          return absl::InvalidArgumentError(absl::StrCat(
              where, "' has unknown field '", key, "'; known: verifier, weight, config, name"));
        }
      }
      Term term;
      const std::string verifier = t["verifier"].get<std::string>();
      term.name =
          t.contains("name") && t["name"].is_string() ? t["name"].get<std::string>() : verifier;
      for (const Term& other : terms) {
        if (other.name == term.name) {
          return absl::InvalidArgumentError(absl::StrCat(where, "': term name '", term.name,
                                                         "' is used twice; give one a 'name'"));
        }
      }
      if (t.contains("weight")) {
        if (!t["weight"].is_number() || !std::isfinite(t["weight"].get<double>())) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ".weight' must be a finite number"));
        }
        term.weight = t["weight"].get<double>();
      }
      absl::StatusOr<std::unique_ptr<Verifier>> v =
          registry.Create(verifier, t.contains("config") ? t["config"] : nlohmann::json::object());
      if (!v.ok()) return Prefixed(absl::StrCat(where, "': "), v.status());
      term.verifier = std::move(v).value();
      terms.push_back(std::move(term));
    }
  }
  if (tasks.empty() && terms.empty()) {
    return absl::InvalidArgumentError(
        "pipeline config needs at least one of 'task_verifiers' or 'terms'");
  }
  ASSIGN_OR_RETURN(double min_total,
                   ReadNumber(cfg, "min_total", -std::numeric_limits<double>::infinity()));
  ASSIGN_OR_RETURN(double max_total,
                   ReadNumber(cfg, "max_total", std::numeric_limits<double>::infinity()));
  if (min_total > max_total) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline config: min_total (", min_total,
                                                   ") exceeds max_total (", max_total, ")"));
  }
  return std::unique_ptr<Verifier>(new PipelineVerifier(std::move(task_field), std::move(tasks),
                                                        std::move(default_task), task_weight,
                                                        std::move(terms), min_total, max_total));
}

absl::Status RegisterPipelineVerifier(VerifierRegistry& registry) {
  return registry.Register("pipeline", [](const nlohmann::json& config) {
    return CreatePipelineVerifier(BuiltinVerifiers(), config);
  });
}

}  // namespace rlvr
