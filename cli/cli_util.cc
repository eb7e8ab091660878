#include "cli/cli_util.h"

#include <iostream>

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

}  // namespace rlvr::cli
