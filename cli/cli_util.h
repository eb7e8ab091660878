// Small helpers shared by the cli/ subcommands.
#ifndef RLVR_CLI_CLI_UTIL_H_
#define RLVR_CLI_CLI_UTIL_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/config.h"

namespace rlvr::cli {

// Prints "rlvr <command>: <message>" to stderr and returns the exit code for `status`
// (0 when OK; 2 for INVALID_ARGUMENT/NOT_FOUND, the user's input; 1 otherwise).
int ReportStatus(const std::string& command, const absl::Status& status);

// Loads `config_path` (or the embedded text `builtin_yaml` named `builtin_name`
// when the path is empty) and applies `key=value` overrides in order.
absl::StatusOr<Config> LoadConfig(const std::string& config_path,
                                  const std::vector<std::string>& overrides,
                                  const char* builtin_yaml = "",
                                  const char* builtin_name = "<built-in default>");

// The shared service token from the file `token_file` or the environment variable
// named `token_env` (at most one may be set); "" when neither is. Errors name
// `<prefix>token_file` / `<prefix>token_env` and never contain the token.
absl::StatusOr<std::string> ResolveToken(const std::string& token_file,
                                         const std::string& token_env, const std::string& prefix);

}  // namespace rlvr::cli

#endif  // RLVR_CLI_CLI_UTIL_H_
