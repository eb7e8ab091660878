// `rlvr serve-verifier --config FILE [--port P]`: hosts any registered verifier (or a
// plugin, or a pipeline of them) as the gRPC VerifierService until SIGINT/SIGTERM.
//
// Config (only these two sections):
//   verifier:
//     name: pipeline            # any registered verifier: exact, format, math, plugin, ...
//     config: {...}             # that verifier's config
//   serve:
//     address: 127.0.0.1        # 0.0.0.0 to serve other hosts
//     port: 0                   # 0 = any free port; printed on start
//     token: ""                 # shared token; or set RLVR_VERIFIER_TOKEN
//     token_file: ""            # file holding the token (e.g. a mounted Secret)
//     token_env: ""             # name of an environment variable holding the token
//     tls_cert: ""              # PEM certificate chain: serve TLS (with tls_key)
//     tls_key: ""
//     tls_client_ca: ""         # require client certificates signed by this CA
//     max_message_mb: 64        # largest request message; larger -> RESOURCE_EXHAUSTED
//     threads: 4
//     max_pending_items: 1024   # beyond -> RESOURCE_EXHAUSTED
//     max_batch_items: 4096
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"
#include "verifiers/registry.h"
#include "verifiers/service/verifier_server.h"

namespace rlvr::cli {
namespace {

absl::Status ServeVerifier(const std::string& config_path,
                           const std::vector<std::string>& overrides, int port_flag) {
  if (config_path.empty()) return absl::InvalidArgumentError("--config FILE is required");
  // Block the signals before any thread exists, so every thread inherits the mask and
  // sigwait() below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ASSIGN_OR_RETURN(Config config, LoadConfig(config_path, overrides));
  ConfigReader reader(config);
  std::string name;
  nlohmann::json verifier_config = nlohmann::json::object();
  if (!reader.Read("verifier.name", &name)) reader.AddError("verifier.name", "is required");
  reader.ReadJson("verifier.config", &verifier_config);
  VerifierServerOptions options;
  reader.Read("serve.address", &options.address);
  reader.Read("serve.port", &options.port, {.min = 0, .max = 65535});
  reader.Read("serve.token", &options.token);
  reader.Read("serve.threads", &options.num_threads, {.min = 1, .max = 1024});
  reader.Read("serve.max_pending_items", &options.max_pending_items, {.min = 1});
  reader.Read("serve.max_batch_items", &options.max_batch_items, {.min = 1});
  std::string token_file, token_env;
  int max_message_mb = options.max_message_bytes >> 20;
  reader.Read("serve.token_file", &token_file);
  reader.Read("serve.token_env", &token_env);
  reader.Read("serve.tls_cert", &options.tls.cert_file);
  reader.Read("serve.tls_key", &options.tls.key_file);
  reader.Read("serve.tls_client_ca", &options.tls.client_ca_file);
  reader.Read("serve.max_message_mb", &max_message_mb, {.min = 1, .max = 2047});
  RETURN_IF_ERROR(reader.Finish());
  options.max_message_bytes = max_message_mb << 20;
  if (port_flag >= 0) options.port = port_flag;
  if (!token_file.empty() || !token_env.empty()) {
    if (!options.token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config_path, ": serve.token and serve.token_file/token_env: set only one"));
    }
    absl::StatusOr<std::string> token = ResolveToken(token_file, token_env, "serve.");
    if (!token.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(config_path, ": ", token.status().message()));
    }
    options.token = *std::move(token);
  }
  if (options.token.empty()) {
    if (const char* env = std::getenv("RLVR_VERIFIER_TOKEN")) options.token = env;
  }
  if (verifier_config.is_null()) verifier_config = nlohmann::json::object();

  absl::StatusOr<std::unique_ptr<Verifier>> verifier =
      BuiltinVerifiers().Create(name, verifier_config);
  if (!verifier.ok()) {
    return absl::Status(verifier.status().code(),
                        absl::StrCat(config_path, ": verifier.name '", name,
                                     "': ", std::string(verifier.status().message())));
  }
  std::shared_ptr<const Verifier> shared(std::move(verifier).value());
  ASSIGN_OR_RETURN(std::unique_ptr<VerifierServer> server, VerifierServer::Start(shared, options));
  std::cout << "rlvr serve-verifier: listening on " << server->target() << " (verifier '" << name
            << "'" << (options.tls.enabled() ? ", TLS" : "")
            << (options.token.empty() ? "" : ", token required") << ")" << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  std::cout << "rlvr serve-verifier: " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
            << ", shutting down" << std::endl;
  server->Shutdown(absl::Seconds(5));
  const VerifierServerStats stats = server->stats();
  std::cout << "rlvr serve-verifier: served " << stats.calls << " calls, " << stats.items
            << " items; refused " << stats.rejected_overload << " (overload), "
            << stats.rejected_auth << " (token)" << std::endl;
  return absl::OkStatus();
}

}  // namespace

void AddServeVerifierCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "serve-verifier", "Host a registered or plugin verifier as a gRPC VerifierService");
  auto config = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto port = std::make_shared<int>(-1);
  cmd->add_option("--config", *config, "YAML with `verifier:` and `serve:` sections")->required();
  cmd->add_option("--port", *port, "Port to listen on (overrides serve.port; 0 = any free port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("overrides", *overrides, "Dotted key=value overrides, e.g. serve.threads=8");
  cmd->callback([config, overrides, port] {
    int rc = ReportStatus("serve-verifier", ServeVerifier(*config, *overrides, *port));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
