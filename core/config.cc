#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace rlvr {
namespace {

std::vector<std::string> SplitKey(absl::string_view key) {
  return absl::StrSplit(key, '.', absl::SkipEmpty());
}

std::string Describe(const YAML::Node& node) {
  if (node.IsScalar()) return absl::StrCat("\"", node.Scalar(), "\"");
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

nlohmann::json ToJsonNode(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = ToJsonNode(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(ToJsonNode(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!") return s;  // quoted in the source: keep as a string
      bool b;
      if (YAML::convert<bool>::decode(node, b) && s != "y" && s != "n") return b;
      try {
        size_t pos = 0;
        long long i = std::stoll(s, &pos);
        if (pos == s.size()) return i;
      } catch (...) {
      }
      try {
        size_t pos = 0;
        double d = std::stod(s, &pos);
        if (pos == s.size()) return d;
      } catch (...) {
      }
      return s;
    }
    default:
      return nullptr;
  }
}

// Collects every leaf key path ("a.b.c") of a mapping tree.
void CollectLeaves(const YAML::Node& node, const std::string& prefix, std::vector<std::string>* out) {
  if (!node.IsMap()) {
    if (!prefix.empty()) out->push_back(prefix);
    return;
  }
  if (node.size() == 0 && !prefix.empty()) out->push_back(prefix);
  for (const auto& kv : node) {
    std::string key = kv.first.as<std::string>();
    CollectLeaves(kv.second, prefix.empty() ? key : absl::StrCat(prefix, ".", key), out);
  }
}

}  // namespace

Config::Config() : root_(std::make_unique<YAML::Node>(YAML::NodeType::Map)) {}
Config::Config(const Config& other)
    : root_(std::make_unique<YAML::Node>(YAML::Clone(*other.root_))),
      source_(other.source_),
      overridden_(other.overridden_) {}
Config& Config::operator=(const Config& other) {
  if (this != &other) {
    root_ = std::make_unique<YAML::Node>(YAML::Clone(*other.root_));
    source_ = other.source_;
    overridden_ = other.overridden_;
  }
  return *this;
}
Config::Config(Config&&) noexcept = default;
Config& Config::operator=(Config&&) noexcept = default;
Config::~Config() = default;

absl::StatusOr<Config> Config::FromString(absl::string_view yaml, std::string source) {
  Config config;
  config.source_ = std::move(source);
  try {
    YAML::Node node = YAML::Load(std::string(yaml));
    if (node.IsNull()) node = YAML::Node(YAML::NodeType::Map);
    if (!node.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config.source_, ": the top level must be a mapping of keys"));
    }
    *config.root_ = node;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(config.source_, ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": ", e.msg));
  }
  return config;
}

absl::StatusOr<Config> Config::LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open config file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return FromString(buffer.str(), path);
}

absl::Status Config::ApplyOverride(absl::string_view assignment) {
  size_t eq = assignment.find('=');
  if (eq == absl::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("override '", assignment, "' is not of the form key=value"));
  }
  std::string key(assignment.substr(0, eq));
  std::string value(assignment.substr(eq + 1));
  std::vector<std::string> parts = SplitKey(key);
  if (parts.empty()) return absl::InvalidArgumentError(absl::StrCat("override '", assignment, "' has an empty key"));
  YAML::Node parsed;
  try {
    parsed = value.empty() ? YAML::Node(std::string()) : YAML::Load(value);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("the command line: ", key, ": cannot parse value '", value, "': ", e.msg));
  }
  // yaml-cpp nodes are handles; walk with fresh handles so we modify in place.
  std::vector<YAML::Node> chain{*root_};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = chain.back()[parts[i]];
    if (!next.IsDefined() || next.IsNull()) {
      chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = chain.back()[parts[i]];
    } else if (!next.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the command line: ", key, ": '", absl::StrJoin(parts.begin(), parts.begin() + i + 1, "."),
          "' is not a mapping"));
    }
    chain.push_back(next);
  }
  chain.back()[parts.back()] = parsed;
  overridden_.insert(absl::StrJoin(parts, "."));
  return absl::OkStatus();
}

std::string Config::ToYaml() const {
  YAML::Emitter out;
  out << *root_;
  return std::string(out.c_str()) + "\n";
}

nlohmann::json Config::ToJson() const { return ToJsonNode(*root_); }

std::string Config::SourceOf(absl::string_view dotted_key) const {
  std::string key(dotted_key);
  for (const std::string& o : overridden_) {
    if (key == o || absl::StartsWith(key, o + ".")) return "the command line";
  }
  return source_;
}

// ---------------------------------------------------------------------------

ConfigReader::ConfigReader(const Config& config) : config_(config) {}

std::optional<YAML::Node> ConfigReader::Find(absl::string_view key) {
  // Index through const nodes: a missing key yields an undefined node, never an insert.
  YAML::Node walk = *config_.root_;
  for (const std::string& part : SplitKey(key)) {
    if (!walk.IsMap()) return std::nullopt;
    YAML::Node next = static_cast<const YAML::Node&>(walk)[part];
    if (!next.IsDefined()) return std::nullopt;
    walk.reset(next);
  }
  read_.insert(std::string(key));
  if (walk.IsNull()) return std::nullopt;
  return walk;
}

bool ConfigReader::Has(absl::string_view key) const {
  YAML::Node walk = *config_.root_;
  for (const std::string& part : SplitKey(key)) {
    if (!walk.IsMap()) return false;
    YAML::Node next = static_cast<const YAML::Node&>(walk)[part];
    if (!next.IsDefined()) return false;
    walk.reset(next);
  }
  return true;
}

void ConfigReader::AddError(absl::string_view key, absl::string_view message) {
  errors_.push_back(absl::StrCat(config_.SourceOf(key), ": ", key, ": ", message));
}

bool ConfigReader::CheckBounds(absl::string_view key, double value, const Bounds& b) {
  if (!std::isfinite(value)) {
    AddError(key, "must be a finite number");
    return false;
  }
  bool ok = true;
  if (b.min && (b.min_exclusive ? value <= *b.min : value < *b.min)) ok = false;
  if (b.max && (b.max_exclusive ? value >= *b.max : value > *b.max)) ok = false;
  if (!ok) {
    std::string range = absl::StrCat(b.min ? (b.min_exclusive ? "(" : "[") : "(",
                                     b.min ? absl::StrCat(*b.min) : "-inf", ", ",
                                     b.max ? absl::StrCat(*b.max) : "inf",
                                     b.max ? (b.max_exclusive ? ")" : "]") : ")");
    AddError(key, absl::StrCat("value ", value, " is outside the allowed range ", range));
  }
  return ok;
}

bool ConfigReader::Read(absl::string_view key, double* out, Bounds bounds) {
  std::optional<YAML::Node> node = Find(key);
  if (!node) return false;
  double v;
  if (!node->IsScalar() || !YAML::convert<double>::decode(*node, v)) {
    AddError(key, absl::StrCat("expected a number, got ", Describe(*node)));
    return false;
  }
  if (!CheckBounds(key, v, bounds)) return false;
  *out = v;
  return true;
}

bool ConfigReader::Read(absl::string_view key, float* out, Bounds bounds) {
  double v = *out;
  if (!Read(key, &v, bounds)) return false;
  *out = static_cast<float>(v);
  return true;
}

bool ConfigReader::Read(absl::string_view key, int64_t* out, Bounds bounds) {
  std::optional<YAML::Node> node = Find(key);
  if (!node) return false;
  long long v;
  if (!node->IsScalar() || !YAML::convert<long long>::decode(*node, v)) {
    AddError(key, absl::StrCat("expected an integer, got ", Describe(*node)));
    return false;
  }
  if (!CheckBounds(key, static_cast<double>(v), bounds)) return false;
  *out = v;
  return true;
}

bool ConfigReader::Read(absl::string_view key, int* out, Bounds bounds) {
  int64_t v = *out;
  if (!bounds.min) bounds.min = static_cast<double>(INT32_MIN);
  if (!bounds.max) bounds.max = static_cast<double>(INT32_MAX);
  if (!Read(key, &v, bounds)) return false;
  *out = static_cast<int>(v);
  return true;
}

bool ConfigReader::Read(absl::string_view key, bool* out) {
  std::optional<YAML::Node> node = Find(key);
  if (!node) return false;
  bool v;
  if (!node->IsScalar() || !YAML::convert<bool>::decode(*node, v)) {
    AddError(key, absl::StrCat("expected true or false, got ", Describe(*node)));
    return false;
  }
  *out = v;
  return true;
}

bool ConfigReader::Read(absl::string_view key, std::string* out) {
  std::optional<YAML::Node> node = Find(key);
  if (!node) return false;
  if (!node->IsScalar()) {
    AddError(key, absl::StrCat("expected a string, got ", Describe(*node)));
    return false;
  }
  *out = node->Scalar();
  return true;
}

bool ConfigReader::ReadChoice(absl::string_view key, std::string* out,
                              const std::vector<std::string>& choices) {
  std::string v;
  if (!Read(key, &v)) return false;
  for (const std::string& c : choices) {
    if (v == c) {
      *out = v;
      return true;
    }
  }
  AddError(key, absl::StrCat("'", v, "' is not one of: ", absl::StrJoin(choices, ", ")));
  return false;
}

bool ConfigReader::Read(absl::string_view key, std::vector<std::string>* out) {
  std::optional<YAML::Node> node = Find(key);
  if (!node) return false;
  if (!node->IsSequence()) {
    AddError(key, absl::StrCat("expected a list of strings, got ", Describe(*node)));
    return false;
  }
  std::vector<std::string> v;
  for (const auto& item : *node) {
    if (!item.IsScalar()) {
      AddError(key, "expected a list of strings");
      return false;
    }
    v.push_back(item.Scalar());
  }
  *out = std::move(v);
  return true;
}

bool ConfigReader::Read(absl::string_view key, std::vector<int64_t>* out) {
  std::optional<YAML::Node> node = Find(key);
  if (!node) return false;
  if (!node->IsSequence()) {
    AddError(key, absl::StrCat("expected a list of integers, got ", Describe(*node)));
    return false;
  }
  std::vector<int64_t> v;
  for (const auto& item : *node) {
    long long x;
    if (!item.IsScalar() || !YAML::convert<long long>::decode(item, x)) {
      AddError(key, "expected a list of integers");
      return false;
    }
    v.push_back(x);
  }
  *out = std::move(v);
  return true;
}

bool ConfigReader::ReadJson(absl::string_view key, nlohmann::json* out) {
  std::optional<YAML::Node> node = Find(key);
  if (!node) return false;
  *out = ToJsonNode(*node);
  return true;
}

absl::Status ConfigReader::Finish() const {
  std::vector<std::string> errors = errors_;
  std::vector<std::string> leaves;
  CollectLeaves(*config_.root_, "", &leaves);
  for (const std::string& leaf : leaves) {
    bool known = false;
    for (const std::string& r : read_) {
      if (leaf == r || absl::StartsWith(leaf, r + ".")) {
        known = true;
        break;
      }
    }
    if (!known) errors.push_back(absl::StrCat(config_.SourceOf(leaf), ": ", leaf, ": unknown key"));
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
}

}  // namespace rlvr
