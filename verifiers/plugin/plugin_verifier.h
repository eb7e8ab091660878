// Loads verifiers from shared libraries that implement the C ABI in
// verifiers/include/rlvr/verifier_plugin.h.
//
//   PluginLoadOptions options{.allowed_dirs = {"/opt/rewards"}};
//   ASSIGN_OR_RETURN(auto v, LoadPluginVerifier("libmy_reward.so", {{"scale", 2}}, options));
//
// Only libraries whose real path (symlinks resolved) lies inside one of allowed_dirs
// load. Every failure names the file: not found, outside the allowed directories,
// dlopen error, missing entry symbol, ABI version mismatch, NULL function pointer,
// create() refusing the config (with the plugin's last_error()).
// A plugin runs in this process: one that may crash belongs behind serve-verifier.
#ifndef RLVR_VERIFIERS_PLUGIN_PLUGIN_VERIFIER_H_
#define RLVR_VERIFIERS_PLUGIN_PLUGIN_VERIFIER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "verifiers/registry.h"
#include "verifiers/verifier.h"

namespace rlvr {

struct PluginLoadOptions {
  // Directories plugins may be loaded from; empty = no plugin may load.
  std::vector<std::string> allowed_dirs;
};

// A verifier backed by one plugin instance. Thread-safe as the ABI requires of the
// plugin. Keeps the library loaded while it lives.
class PluginVerifier : public Verifier {
 public:
  // "plugin:<the plugin's name>".
  std::string name() const override = 0;
  // Grades a batch with one verify_batch() call; results in request order. A
  // non-finite score is INTERNAL naming the plugin.
  virtual absl::StatusOr<std::vector<Reward>> VerifyBatch(
      const std::vector<VerifyRequest>& requests) const = 0;
  // The resolved path of the library.
  virtual const std::string& path() const = 0;
};

// `library` is a path, or a bare file name looked up in allowed_dirs in order.
// `config` is passed to the plugin's create() as JSON text.
absl::StatusOr<std::unique_ptr<PluginVerifier>> LoadPluginVerifier(
    const std::string& library, const nlohmann::json& config, const PluginLoadOptions& options);

// Registers "plugin", configured as
//   {"library": "libmy_reward.so", "plugin_dirs": ["/opt/rewards"], "config": {...}}.
absl::Status RegisterPluginVerifier(VerifierRegistry& registry);

}  // namespace rlvr

#endif  // RLVR_VERIFIERS_PLUGIN_PLUGIN_VERIFIER_H_
