// Configuration: one YAML file plus dotted `key=value` overrides, read into
// typed options structs with every error naming the key and where it came from.
//
//   ASSIGN_OR_RETURN(Config config, Config::LoadFile("configs/quickstart.yaml"));
//   RETURN_IF_ERROR(config.ApplyOverride("learner.lr=1e-6"));
//   ConfigReader reader(config);
//   reader.Read("learner.lr", &options.lr, {.min = 0, .min_exclusive = true});
//   RETURN_IF_ERROR(reader.Finish());  // wrong types, out of range, unknown keys
//
// Components never see this class: only cli/ turns a Config into options structs.
#ifndef RLVR_CORE_CONFIG_H_
#define RLVR_CORE_CONFIG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"

namespace YAML {
class Node;
}

namespace rlvr {

class Config {
 public:
  // Parses a YAML file whose top level is a mapping (an empty file is an empty mapping).
  static absl::StatusOr<Config> LoadFile(const std::string& path);
  // Parses YAML text; `source` names it in error messages (e.g. "<built-in quickstart>").
  static absl::StatusOr<Config> FromString(absl::string_view yaml, std::string source);

  Config(const Config& other);
  Config& operator=(const Config& other);
  Config(Config&&) noexcept;
  Config& operator=(Config&&) noexcept;
  ~Config();

  // Applies "a.b.c=value"; the value is parsed as YAML ("1e-6", "true", "[1, 2]", "x").
  // Creates intermediate mappings; fails if a prefix of the key is not a mapping.
  absl::Status ApplyOverride(absl::string_view assignment);

  // The resolved document, as YAML text (saved beside checkpoints).
  std::string ToYaml() const;
  // The resolved document as JSON.
  nlohmann::json ToJson() const;

  // Where `dotted_key` was set: "the command line" or the source file name.
  std::string SourceOf(absl::string_view dotted_key) const;
  const std::string& source() const { return source_; }

 private:
  friend class ConfigReader;
  Config();
  std::unique_ptr<YAML::Node> root_;
  std::string source_;
  std::set<std::string> overridden_;  // dotted keys set on the command line
};

// Bounds for numeric reads; unset fields do not constrain.
struct Bounds {
  std::optional<double> min;
  std::optional<double> max;
  bool min_exclusive = false;
  bool max_exclusive = false;
};

// Reads typed values out of a Config. Collects every error; Finish() reports them
// together with any key the document holds that no Read() asked for.
// Not thread-safe.
class ConfigReader {
 public:
  explicit ConfigReader(const Config& config);

  // Each Read leaves *out unchanged (its default) when the key is absent.
  // Returns true when the key was present and valid.
  bool Read(absl::string_view key, double* out, Bounds bounds = {});
  bool Read(absl::string_view key, float* out, Bounds bounds = {});
  bool Read(absl::string_view key, int64_t* out, Bounds bounds = {});
  bool Read(absl::string_view key, int* out, Bounds bounds = {});
  bool Read(absl::string_view key, bool* out);
  bool Read(absl::string_view key, std::string* out);
  // Reads a string that must be one of `choices`.
  bool ReadChoice(absl::string_view key, std::string* out, const std::vector<std::string>& choices);
  bool Read(absl::string_view key, std::vector<std::string>* out);
  bool Read(absl::string_view key, std::vector<int64_t>* out);
  // Reads a whole subtree as JSON (for verifier specs and other free-form parts);
  // its inner keys count as read.
  bool ReadJson(absl::string_view key, nlohmann::json* out);

  // True if the key is present in the document.
  bool Has(absl::string_view key) const;
  // Records an error for `key` (custom validation that Bounds cannot express).
  void AddError(absl::string_view key, absl::string_view message);

  // OK, or INVALID_ARGUMENT listing every error, one per line, each naming key and source.
  absl::Status Finish() const;

 private:
  std::optional<YAML::Node> Find(absl::string_view key);
  bool CheckBounds(absl::string_view key, double value, const Bounds& bounds);

  const Config& config_;
  std::set<std::string> read_;  // keys read, including subtrees from ReadJson
  std::vector<std::string> errors_;
};

}  // namespace rlvr

#endif  // RLVR_CORE_CONFIG_H_
