// `rlvr bench weight-sync`: bytes/s of publishing a policy's weights to a rollout
// worker as a chunked, checksummed gRPC stream on loopback, against this machine's
// memory-copy bandwidth measured in the same run (JSON).
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "cli/bench_util.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/model.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"
#include "rollout/engine.h"
#include "rollout/service/client.h"
#include "rollout/service/server.h"

namespace rlvr::cli {
namespace {

using Clock = std::chrono::steady_clock;

double MemcpyBytesPerSecond(int64_t bytes) {
  std::vector<char> a(bytes, 1), b(bytes);
  std::memcpy(b.data(), a.data(), bytes);
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    auto start = Clock::now();
    std::memcpy(b.data(), a.data(), bytes);
    best = std::max(best, bytes / std::chrono::duration<double>(Clock::now() - start).count());
  }
  return best + (b[bytes / 2] == 7 ? 1 : 0);  // keep the copy observable
}

absl::Status BenchWeightSync(int64_t chunk_mb, int reps) {
  const ModelConfig config = BenchModelConfig();
  RETURN_IF_ERROR(config.Validate("bench config"));
  ASSIGN_OR_RETURN(Transformer policy, Transformer::RandomInit(config, 0, {}));
  ASSIGN_OR_RETURN(Transformer served, Transformer::RandomInit(config, 1, {}));
  EngineOptions engine_options;
  engine_options.kv_byte_budget = int64_t{16} << 20;
  engine_options.max_len = 256;
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                   Engine::Create(std::move(served), std::nullopt, engine_options));
  ASSIGN_OR_RETURN(std::unique_ptr<RolloutServer> server,
                   RolloutServer::Start(engine.get(), {.host = "127.0.0.1", .port = 0}));
  RolloutClientOptions client_options;
  client_options.chunk_bytes = chunk_mb << 20;
  ASSIGN_OR_RETURN(
      std::unique_ptr<RolloutClient> client,
      RolloutClient::Connect(absl::StrCat("127.0.0.1:", server->port()), client_options));
  std::vector<std::pair<std::string, torch::Tensor>> tensors = policy.NamedParameters();
  int64_t bytes = 0;
  for (const auto& [name, t] : tensors) bytes += static_cast<int64_t>(t.nbytes());
  RETURN_IF_ERROR(client->UpdateWeights(1, tensors));  // warm-up (connection, allocations)
  double best = 0, total = 0;
  for (int i = 0; i < reps; ++i) {
    auto start = Clock::now();
    RETURN_IF_ERROR(client->UpdateWeights(2 + i, tensors));
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    total += s;
    best = std::max(best, bytes / s);
  }
  ASSIGN_OR_RETURN(EngineStatus status, client->GetStatus());
  server->Shutdown();
  const double memcpy_bw = MemcpyBytesPerSecond(bytes);
  double load[1] = {0};
  (void)getloadavg(load, 1);
  nlohmann::json report = {{"benchmark", "weight-sync"},
                           {"transport", "grpc-loopback"},
                           {"bytes", bytes},
                           {"chunk_bytes", chunk_mb << 20},
                           {"reps", reps},
                           {"mean_bytes_per_s", bytes * reps / total},
                           {"best_bytes_per_s", best},
                           {"memcpy_bytes_per_s", memcpy_bw},
                           {"ratio_to_memcpy", (bytes * reps / total) / memcpy_bw},
                           {"final_policy_version", status.policy_version},
                           {"load_average_1m", load[0]},
                           {"goal_bytes_per_s", 1e9}};
  std::cout << report.dump(2) << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddBenchWeightSync(CLI::App& bench) {
  CLI::App* cmd = bench.add_subcommand(
      "weight-sync", "Bytes/s of a ~50M-parameter weight update to a rollout worker over gRPC");
  auto chunk_mb = std::make_shared<int64_t>(32);
  auto reps = std::make_shared<int>(5);
  cmd->add_option("--chunk-mb", *chunk_mb, "MiB per gRPC message");
  cmd->add_option("--reps", *reps, "Timed updates");
  cmd->callback([=] {
    int rc = ReportStatus("bench weight-sync", BenchWeightSync(*chunk_mb, *reps));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
