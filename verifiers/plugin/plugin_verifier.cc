#include "verifiers/plugin/plugin_verifier.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rlvr/verifier_plugin.h"

namespace rlvr {
namespace {

// The real path of `path`, or "" when it does not exist.
std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return "";
  return buf;
}

bool Inside(const std::string& file, const std::string& dir) {
  if (dir.empty()) return false;
  const std::string prefix = dir.back() == '/' ? dir : dir + "/";
  return absl::StartsWith(file, prefix);
}

std::string PluginError(const rlvr_verifier_plugin* table) {
  const char* e = table->last_error();
  return e != nullptr && *e != '\0' ? e : "(the plugin gave no message)";
}

class LoadedPlugin final : public PluginVerifier {
 public:
  LoadedPlugin(std::shared_ptr<void> handle, const rlvr_verifier_plugin* table,
               rlvr_verifier* instance, std::string path)
      : handle_(std::move(handle)),
        table_(table),
        instance_(instance),
        path_(std::move(path)),
        name_(absl::StrCat("plugin:", table->name != nullptr ? table->name : "unnamed")) {}
  ~LoadedPlugin() override { table_->destroy(instance_); }

  std::string name() const override { return name_; }
  const std::string& path() const override { return path_; }

  absl::StatusOr<Reward> Verify(const VerifyRequest& request) const override {
    const std::string spec = request.spec.dump();
    rlvr_verify_request req = ToC(request, spec);
    rlvr_verify_result out{};
    if (table_->verify(instance_, &req, &out) != 0) {
      return absl::InternalError(absl::StrCat("verifier '", name_, "' (", path_,
                                              ") failed on request '", request.id,
                                              "': ", PluginError(table_)));
    }
    return TakeResult(&out, request.id);
  }

  absl::StatusOr<std::vector<Reward>> VerifyBatch(
      const std::vector<VerifyRequest>& requests) const override {
    std::vector<std::string> specs;
    specs.reserve(requests.size());
    for (const VerifyRequest& r : requests) specs.push_back(r.spec.dump());
    std::vector<rlvr_verify_request> reqs;
    reqs.reserve(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) reqs.push_back(ToC(requests[i], specs[i]));
    std::vector<rlvr_verify_result> outs(requests.size(), rlvr_verify_result{});
    if (table_->verify_batch(instance_, reqs.data(), reqs.size(), outs.data()) != 0) {
      return absl::InternalError(absl::StrCat("verifier '", name_, "' (", path_,
                                              ") failed on a batch of ", requests.size(), ": ",
                                              PluginError(table_)));
    }
    std::vector<Reward> rewards;
    absl::Status first_error;
    for (size_t i = 0; i < outs.size(); ++i) {
      absl::StatusOr<Reward> r = TakeResult(&outs[i], requests[i].id);  // releases every result
      if (r.ok()) {
        rewards.push_back(std::move(r).value());
      } else if (first_error.ok()) {
        first_error = r.status();
      }
    }
    if (!first_error.ok()) return first_error;
    return rewards;
  }

 private:
  static rlvr_verify_request ToC(const VerifyRequest& r, const std::string& spec) {
    return rlvr_verify_request{r.id.c_str(), r.completion.c_str(), r.answer.c_str(), spec.c_str(),
                               r.completion_tokens};
  }

  // Copies a filled result and releases it.
  absl::StatusOr<Reward> TakeResult(rlvr_verify_result* out, const std::string& id) const {
    Reward reward;
    reward.score = out->score;
    if (out->verdict != nullptr) reward.verdict = out->verdict;
    absl::Status status;
    if (out->details_json != nullptr && *out->details_json != '\0') {
      reward.details =
          nlohmann::json::parse(out->details_json, nullptr, /*allow_exceptions=*/false);
      if (reward.details.is_discarded() || !reward.details.is_object()) {
        status = absl::InternalError(absl::StrCat("verifier '", name_, "' (", path_,
                                                  ") returned details_json that is not a JSON "
                                                  "object for request '",
                                                  id, "'"));
      }
    }
    table_->release_result(instance_, out);
    if (!status.ok()) return status;
    if (!std::isfinite(reward.score)) {
      return absl::InternalError(absl::StrCat("verifier '", name_, "' (", path_,
                                              ") returned a non-finite reward (", reward.score,
                                              ") for request '", id, "'"));
    }
    return reward;
  }

  const std::shared_ptr<void> handle_;  // keeps the library loaded; declared first
  const rlvr_verifier_plugin* const table_;
  rlvr_verifier* const instance_;
  const std::string path_;
  const std::string name_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PluginVerifier>> LoadPluginVerifier(
    const std::string& library, const nlohmann::json& config, const PluginLoadOptions& options) {
  if (options.allowed_dirs.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("plugin '", library, "': no plugin directories are configured (plugin_dirs)"));
  }
  std::vector<std::string> dirs;
  for (const std::string& d : options.allowed_dirs) {
    std::string real = RealPath(d);
    if (!real.empty()) dirs.push_back(real);
  }
  std::string path;
  if (library.find('/') == std::string::npos) {
    for (const std::string& d : dirs) {
      std::string candidate = RealPath(d + "/" + library);
      if (!candidate.empty()) {
        path = candidate;
        break;
      }
    }
    if (path.empty()) {
      return absl::NotFoundError(absl::StrCat("plugin '", library, "' not found in plugin_dirs: ",
                                              absl::StrJoin(options.allowed_dirs, ", ")));
    }
  } else {
    path = RealPath(library);
    if (path.empty())
      return absl::NotFoundError(absl::StrCat("plugin '", library, "' does not exist"));
  }
  bool allowed = false;
  for (const std::string& d : dirs) allowed = allowed || Inside(path, d);
  if (!allowed) {
    return absl::PermissionDeniedError(
        absl::StrCat("plugin '", path, "' is outside the allowed plugin directories (",
                     absl::StrJoin(options.allowed_dirs, ", "), ")"));
  }
  void* raw = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (raw == nullptr) {
    const char* e = dlerror();
    return absl::InvalidArgumentError(
        absl::StrCat("plugin '", path, "': dlopen failed: ", e != nullptr ? e : "unknown error"));
  }
  std::shared_ptr<void> handle(raw, [](void* h) { dlclose(h); });
  dlerror();
  void* sym = dlsym(raw, RLVR_VERIFIER_PLUGIN_ENTRY);
  if (sym == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("plugin '", path, "': missing symbol '",
                                                   RLVR_VERIFIER_PLUGIN_ENTRY,
                                                   "' (not an rlvr verifier plugin, or built "
                                                   "for another ABI version)"));
  }
  auto entry = reinterpret_cast<rlvr_verifier_plugin_entry_fn>(sym);
  const rlvr_verifier_plugin* table = entry();
  if (table == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("plugin '", path, "': ", RLVR_VERIFIER_PLUGIN_ENTRY, "() returned NULL"));
  }
  if (table->abi_version != RLVR_VERIFIER_PLUGIN_ABI_VERSION) {
    return absl::InvalidArgumentError(
        absl::StrCat("plugin '", path, "': ABI version mismatch: plugin has ", table->abi_version,
                     ", rlvr needs ", RLVR_VERIFIER_PLUGIN_ABI_VERSION));
  }
  if (table->struct_size < sizeof(rlvr_verifier_plugin)) {
    return absl::InvalidArgumentError(absl::StrCat("plugin '", path, "': function table has ",
                                                   table->struct_size, " bytes, rlvr needs ",
                                                   sizeof(rlvr_verifier_plugin)));
  }
  const std::pair<const char*, bool> fns[] = {
      {"create", table->create != nullptr},
      {"verify", table->verify != nullptr},
      {"verify_batch", table->verify_batch != nullptr},
      {"release_result", table->release_result != nullptr},
      {"last_error", table->last_error != nullptr},
      {"destroy", table->destroy != nullptr},
  };
  for (const auto& [fn, present] : fns) {
    if (!present) {
      return absl::InvalidArgumentError(
          absl::StrCat("plugin '", path, "': missing function '", fn, "' (NULL in the table)"));
    }
  }
  const std::string config_text = config.is_null() ? "{}" : config.dump();
  rlvr_verifier* instance = table->create(config_text.c_str());
  if (instance == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("plugin '", path, "': create() refused the config: ", PluginError(table)));
  }
  return std::unique_ptr<PluginVerifier>(
      new LoadedPlugin(std::move(handle), table, instance, path));
}

absl::Status RegisterPluginVerifier(VerifierRegistry& registry) {
  return registry.Register(
      "plugin", [](const nlohmann::json& config) -> absl::StatusOr<std::unique_ptr<Verifier>> {
        if (!config.is_object() || !config.contains("library") || !config["library"].is_string()) {
          return absl::InvalidArgumentError(
              "verifier 'plugin': config needs a string field 'library'");
        }
        PluginLoadOptions options;
        if (config.contains("plugin_dirs")) {
          if (!config["plugin_dirs"].is_array()) {
            return absl::InvalidArgumentError(
                "verifier 'plugin': config field 'plugin_dirs' must be a list");
          }
          for (const nlohmann::json& d : config["plugin_dirs"]) {
            if (!d.is_string()) {
              return absl::InvalidArgumentError(
                  "verifier 'plugin': config field 'plugin_dirs' must hold strings");
            }
            options.allowed_dirs.push_back(d.get<std::string>());
          }
        }
        for (const auto& [key, value] : config.items()) {
          if (key != "library" && key != "plugin_dirs" && key != "config") {
            return absl::InvalidArgumentError(
                absl::StrCat("verifier 'plugin': unknown config field '", key,
                             "'; known: library, plugin_dirs, config"));
          }
        }
        absl::StatusOr<std::unique_ptr<PluginVerifier>> v = LoadPluginVerifier(
            config["library"].get<std::string>(),
            config.contains("config") ? config["config"] : nlohmann::json::object(), options);
        if (!v.ok()) return v.status();
        return std::unique_ptr<Verifier>(std::move(v).value());
      });
}

}  // namespace rlvr
