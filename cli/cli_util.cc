#include "cli/cli_util.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "core/grpc_security.h"
#include "core/status_macros.h"

namespace rlvr::cli {

int ReportStatus(const std::string& command, const absl::Status& status) {
  if (status.ok()) return 0;
  std::cerr << "rlvr " << command << ": " << status.message() << "\n";
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
      return 2;
    default:
      return 1;
  }
}

absl::StatusOr<Config> LoadConfig(const std::string& config_path,
                                  const std::vector<std::string>& overrides,
                                  const char* builtin_yaml, const char* builtin_name) {
  absl::StatusOr<Config> config = config_path.empty()
                                      ? Config::FromString(builtin_yaml, builtin_name)
                                      : Config::LoadFile(config_path);
  if (!config.ok()) return config.status();
  for (const std::string& o : overrides) RETURN_IF_ERROR(config->ApplyOverride(o));
  return config;
}

absl::StatusOr<std::string> ResolveToken(const std::string& token_file,
                                         const std::string& token_env, const std::string& prefix) {
  if (!token_file.empty() && !token_env.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "token_file and ", prefix, "token_env: set at most one"));
  }
  if (!token_file.empty()) return ReadTokenFile(token_file, prefix + "token_file");
  if (!token_env.empty()) {
    const char* value = std::getenv(token_env.c_str());
    if (value == nullptr || *value == '\0') {
      return absl::InvalidArgumentError(absl::StrCat(prefix, "token_env: environment variable ",
                                                     token_env, " is unset or empty"));
    }
    return std::string(value);
  }
  return std::string();
}

}  // namespace rlvr::cli
