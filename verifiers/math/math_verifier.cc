#include "verifiers/math/math_verifier.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rlvr {
namespace {

using nlohmann::json;

absl::Status Bad(const std::string& key, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("math verifier config: '", key, "' ", what));
}

absl::Status ReadNumber(const json& obj, const std::string& key, double min, bool exclusive,
                        double* out) {
  if (!obj.contains(key)) return absl::OkStatus();
  const json& v = obj.at(key);
  if (!v.is_number()) return Bad(key, "must be a number");
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < min || (exclusive && d == min))
    return Bad(key, absl::StrCat("must be ", exclusive ? "> " : ">= ", min));
  *out = d;
  return absl::OkStatus();
}

absl::Status ReadBool(const json& obj, const std::string& key, bool* out) {
  if (!obj.contains(key)) return absl::OkStatus();
  if (!obj.at(key).is_boolean()) return Bad(key, "must be true or false");
  *out = obj.at(key).get<bool>();
  return absl::OkStatus();
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

math::Node Scaled(const math::Node& n, const char* factor) {
  math::Node num;
  num.kind = math::NodeKind::kNumber;
  num.text = factor;
  math::Node d;
  d.kind = math::NodeKind::kDiv;
  d.children = {n, num};
  return d;
}

bool IsScalarLike(const math::Node& n) {
  switch (n.kind) {
    case math::NodeKind::kNumber:
    case math::NodeKind::kAdd:
    case math::NodeKind::kMul:
    case math::NodeKind::kNeg:
    case math::NodeKind::kDiv:
    case math::NodeKind::kPow:
    case math::NodeKind::kFunc:
    case math::NodeKind::kConstant:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<MathVerifierOptions> MathVerifierOptionsFromJson(const json& config) {
  MathVerifierOptions o;
  if (config.is_null()) return o;
  if (!config.is_object()) return Bad("<config>", "must be a mapping");
  static const std::set<std::string> kKeys = {
      "rel_tol",       "timeout_ms",          "max_nodes", "extract_priority",
      "decimal_comma", "percent_as_fraction", "scores"};
  for (const auto& [key, value] : config.items()) {
    if (!kKeys.count(key)) return Bad(key, "is not a known key");
  }
  double d = o.equivalence.rel_tol;
  auto st = ReadNumber(config, "rel_tol", 0, false, &d);
  if (!st.ok()) return st;
  o.equivalence.rel_tol = d;
  d = o.equivalence.timeout_ms;
  if (!(st = ReadNumber(config, "timeout_ms", 0, true, &d)).ok()) return st;
  o.equivalence.timeout_ms = static_cast<int>(std::min(d, 3.6e6));
  d = o.equivalence.max_nodes;
  if (!(st = ReadNumber(config, "max_nodes", 0, true, &d)).ok()) return st;
  o.equivalence.max_nodes = static_cast<int>(std::min(d, 1e6));
  if (!(st = ReadBool(config, "decimal_comma", &o.normalize.decimal_comma)).ok()) return st;
  if (!(st = ReadBool(config, "percent_as_fraction", &o.percent_as_fraction)).ok()) return st;
  if (config.contains("extract_priority")) {
    const json& p = config.at("extract_priority");
    if (!p.is_array() || p.empty()) return Bad("extract_priority", "must be a non-empty list");
    o.extract.priority.clear();
    const auto& known = math::ExtractionMethods();
    for (const json& m : p) {
      if (!m.is_string() ||
          std::find(known.begin(), known.end(), m.get<std::string>()) == known.end()) {
        return Bad("extract_priority",
                   absl::StrCat("has an unknown method ", m.dump(),
                                "; known: boxed, final_answer, gsm8k, answer_colon, chinese, "
                                "answer_is, latex, last_number"));
      }
      o.extract.priority.push_back(m.get<std::string>());
    }
  }
  if (config.contains("scores")) {
    const json& s = config.at("scores");
    if (!s.is_object()) return Bad("scores", "must be a mapping");
    static const std::set<std::string> kVerdicts = {"correct", "incorrect", "no_answer",
                                                    "parse_error", "timeout"};
    for (const auto& [key, value] : s.items()) {
      if (!kVerdicts.count(key)) return Bad("scores." + key, "is not a verdict");
      if (!value.is_number() || !std::isfinite(value.get<double>()))
        return Bad("scores." + key, "must be a finite number");
    }
    o.correct_score = s.value("correct", o.correct_score);
    o.incorrect_score = s.value("incorrect", o.incorrect_score);
    o.no_answer_score = s.value("no_answer", o.no_answer_score);
    o.parse_error_score = s.value("parse_error", o.parse_error_score);
    o.timeout_score = s.value("timeout", o.timeout_score);
  }
  return o;
}

Reward MathVerifier::Make(const std::string& verdict, json details) const {
  Reward r;
  r.verdict = verdict;
  if (verdict == "correct") r.score = options_.correct_score;
  if (verdict == "incorrect") r.score = options_.incorrect_score;
  if (verdict == "no_answer") r.score = options_.no_answer_score;
  if (verdict == "parse_error") r.score = options_.parse_error_score;
  if (verdict == "timeout") r.score = options_.timeout_score;
  r.details = std::move(details);
  return r;
}

absl::StatusOr<Reward> MathVerifier::VerifyChoice(const VerifyRequest& request, int num_choices,
                                                  const std::vector<std::string>& choices) const {
  json details = json::object();
  auto gold = math::ExtractChoiceLetter(request.answer, num_choices, choices);
  if (!gold) {
    return absl::InvalidArgumentError(absl::StrCat("field 'answer' (", request.answer.substr(0, 40),
                                                   ") is not a choice letter A..",
                                                   std::string(1, 'A' + num_choices - 1)));
  }
  details["gold_normalized"] = std::string(1, *gold);
  std::optional<char> pred;
  // The extracted final answer first, then the whole completion.
  if (auto ex = math::ExtractAnswer(request.completion, options_.extract)) {
    details["extracted"] = ex->text;
    details["method"] = ex->method;
    pred = math::ExtractChoiceLetter(ex->text, num_choices, choices);
  }
  if (!pred) pred = math::ExtractChoiceLetter(request.completion, num_choices, choices);
  if (!pred) return Make("no_answer", std::move(details));
  details["normalized"] = std::string(1, *pred);
  details["stage"] = "choice";
  return Make(*pred == *gold ? "correct" : "incorrect", std::move(details));
}

absl::StatusOr<Reward> MathVerifier::Verify(const VerifyRequest& request) const {
  const json& spec = request.spec;
  int num_choices = 0;
  std::vector<std::string> choices;
  if (spec.is_object()) {
    if (spec.contains("choices")) {
      const json& c = spec.at("choices");
      if (!c.is_array()) return absl::InvalidArgumentError("field 'choices' must be a list");
      for (const json& x : c) {
        if (!x.is_string() && !x.is_number())
          return absl::InvalidArgumentError("field 'choices' must hold strings");
        choices.push_back(x.is_string() ? x.get<std::string>() : x.dump());
      }
      num_choices = static_cast<int>(choices.size());
    }
    if (spec.contains("num_choices")) {
      const json& c = spec.at("num_choices");
      if (!c.is_number_integer() || c.get<int64_t>() < 2 || c.get<int64_t>() > 26)
        return absl::InvalidArgumentError("field 'num_choices' must be an integer in 2..26");
      num_choices = c.get<int>();
    }
    if (spec.contains("multiple_choice")) {
      if (!spec.at("multiple_choice").is_boolean())
        return absl::InvalidArgumentError("field 'multiple_choice' must be true or false");
      if (spec.at("multiple_choice").get<bool>() && num_choices == 0) num_choices = 5;
    }
  }
  auto gold = math::ExtractGold(request.answer);
  if (!gold) return absl::InvalidArgumentError("field 'answer' is empty");
  if (num_choices > 0) return VerifyChoice(request, num_choices, choices);

  json details = json::object();
  auto pred = math::ExtractAnswer(request.completion, options_.extract);
  const math::Normalized gn = math::Normalize(gold->text, options_.normalize);
  details["gold_normalized"] = gn.text;
  if (!pred) return Make("no_answer", std::move(details));
  details["extracted"] = pred->text;
  details["method"] = pred->method;
  const math::Normalized pn = math::Normalize(pred->text, options_.normalize);
  details["normalized"] = pn.text;
  if (pn.text.empty()) return Make("no_answer", std::move(details));

  // Stage 0: canonical strings.
  if (gn.text == pn.text || (!gn.text.empty() && Lower(gn.text) == Lower(pn.text) &&
                             gn.text.find("\\text{") != std::string::npos)) {
    details["stage"] = "string";
    return Make("correct", std::move(details));
  }
  auto gtree = math::Parse(gn.text, options_.parse);
  if (!gtree.ok()) {
    // An unparseable gold (free text) is graded by its canonical string alone.
    details["stage"] = "string";
    details["gold_parse_error"] = std::string(gtree.status().message());
    return Make(Lower(gn.text) == Lower(pn.text) ? "correct" : "incorrect", std::move(details));
  }
  auto ptree = math::Parse(pn.text, options_.parse);
  if (!ptree.ok()) {
    details["parse_error"] = std::string(ptree.status().message());
    return Make("parse_error", std::move(details));
  }
  math::Comparison c = math::Compare(*gtree, *ptree, options_.equivalence);
  if (c.outcome == math::Outcome::kUnequal && options_.percent_as_fraction &&
      gn.percent != pn.percent && IsScalarLike(*gtree) && IsScalarLike(*ptree)) {
    // "50%" against 0.5: compare the percentage as a fraction.
    math::Comparison alt = gn.percent
                               ? math::Compare(Scaled(*gtree, "100"), *ptree, options_.equivalence)
                               : math::Compare(*gtree, Scaled(*ptree, "100"), options_.equivalence);
    if (alt.outcome != math::Outcome::kUnequal) c = alt;
  }
  details["stage"] = c.stage;
  switch (c.outcome) {
    case math::Outcome::kEqual:
      return Make("correct", std::move(details));
    case math::Outcome::kUnequal:
      return Make("incorrect", std::move(details));
    case math::Outcome::kTimeout:
      return Make("timeout", std::move(details));
  }
  return Make("incorrect", std::move(details));
}

absl::Status RegisterMathVerifier(VerifierRegistry& registry) {
  return registry.Register(
      "math", [](const nlohmann::json& config) -> absl::StatusOr<std::unique_ptr<Verifier>> {
        auto options = MathVerifierOptionsFromJson(config);
        if (!options.ok()) return options.status();
        return std::unique_ptr<Verifier>(new MathVerifier(*std::move(options)));
      });
}

}  // namespace rlvr
