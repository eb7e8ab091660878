// `rlvr serve-rollout --model DIR [--host H] [--port P]`: a rollout worker
// serving rlvr.rollout.v1.RolloutService until SIGINT/SIGTERM.
// Cluster mode: --token-file/--token-env require a shared token on every call,
// --tls-cert/--tls-key (and --tls-client-ca for client certificates) serve TLS,
// --max-message-mib bounds one request message.
#include <csignal>
#include <iostream>
#include <thread>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "rollout/engine.h"
#include "rollout/policy.h"
#include "rollout/service/server.h"

namespace rlvr::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct ServeFlags {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 50051;
  int64_t kv_mib = 256;
  int64_t max_batch = 64;
  int64_t max_len = 0;
  bool allow_mixed_versions = false;
  std::string token_file;
  std::string token_env;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  int64_t max_message_mib = 256;
};

absl::Status Serve(const ServeFlags& f) {
  absl::StatusOr<std::string> token = ResolveToken(f.token_file, f.token_env, "--");
  if (!token.ok()) return token.status();
  absl::StatusOr<Policy> policy = LoadPolicy(f.model, {});
  if (!policy.ok()) return policy.status();
  EngineOptions options;
  options.kv_byte_budget = f.kv_mib << 20;
  options.max_batch = f.max_batch;
  options.max_len = f.max_len;
  options.allow_mixed_versions = f.allow_mixed_versions;
  auto engine = Engine::Create(std::move(policy->model), std::move(policy->tokenizer), options);
  if (!engine.ok()) return engine.status();
  RolloutServerOptions server_options;
  server_options.host = f.host;
  server_options.port = f.port;
  server_options.max_message_bytes = f.max_message_mib << 20;
  server_options.tls = {
      .cert_file = f.tls_cert, .key_file = f.tls_key, .client_ca_file = f.tls_client_ca};
  server_options.token = *std::move(token);
  auto server = RolloutServer::Start(engine->get(), server_options);
  if (!server.ok()) return server.status();
  std::cerr << "rlvr serve-rollout: listening on " << f.host << ":" << (*server)->port()
            << " (model " << f.model << ", " << (*engine)->GetStatus().kv_slots_total << " KV slots"
            << (server_options.tls.enabled() ? ", TLS" : "")
            << (server_options.token.empty() ? "" : ", token required") << ")" << std::endl;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*server)->Shutdown();
  return absl::OkStatus();
}

}  // namespace

void AddServeRolloutCommand(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve-rollout", "Serve a rollout worker over gRPC");
  cmd->add_option("--model", flags->model, "Model directory, or 'builtin'")->required();
  cmd->add_option("--host", flags->host, "Address to bind (default loopback)");
  cmd->add_option("--port", flags->port, "Port (0 = any free port)");
  cmd->add_option("--kv-mib", flags->kv_mib, "KV cache budget in MiB");
  cmd->add_option("--max-batch", flags->max_batch, "Most concurrent sequences");
  cmd->add_option("--max-len", flags->max_len, "Tokens per sequence (0 = model's)");
  cmd->add_option("--token-file", flags->token_file,
                  "File holding the shared token every call must carry");
  cmd->add_option("--token-env", flags->token_env, "Environment variable holding the shared token");
  cmd->add_option("--tls-cert", flags->tls_cert, "PEM certificate chain: serve TLS");
  cmd->add_option("--tls-key", flags->tls_key, "PEM private key of --tls-cert");
  cmd->add_option("--tls-client-ca", flags->tls_client_ca,
                  "PEM CA: require client certificates it signed");
  cmd->add_option("--max-message-mib", flags->max_message_mib,
                  "Largest gRPC message accepted, MiB (weight chunks are 32)")
      ->check(CLI::Range(1, 2047));
  cmd->add_flag("--allow-mixed-versions", flags->allow_mixed_versions,
                "Let weight updates land mid-sequence (versions are recorded)");
  cmd->callback([flags] {
    int code = ReportStatus("serve-rollout", Serve(*flags));
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace rlvr::cli
