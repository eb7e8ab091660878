// WorkerPool: one Generator over several remote rollout workers (RolloutClient).
//
// Requests are spread over the live workers. When a worker fails mid-call
// (UNAVAILABLE, DEADLINE_EXCEEDED, a dropped stream), every sample it had not
// finished is sent again to a live worker; a sample is delivered to the caller
// exactly once (keyed by request and sample index), so nothing is lost or counted
// twice. Sample i of a request draws from an RNG seeded by (seed, i), so a resent
// sample is the one the failed worker would have produced.
//
// The pool keeps a copy of the latest weights. A worker that failed is probed
// again before later calls; once it answers, it first receives the latest weights
// and only then serves requests.
//
// Thread safety: as Generator. Calls are serialised internally.
#ifndef RLVR_ROLLOUT_WORKER_POOL_H_
#define RLVR_ROLLOUT_WORKER_POOL_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/grpc_security.h"
#include "rollout/generator.h"

namespace rlvr {

class RolloutClient;
struct RolloutClientOptions;

struct WorkerPoolOptions {
  std::vector<std::string> targets;  // "host:port" of each worker
  double generate_deadline_s = 3600;
  double update_deadline_s = 600;
  // Attempts to place the samples of one call before giving up (all workers down).
  int max_rounds = 4;
  std::string token;     // shared token of the workers ("" = none)
  TlsClientOptions tls;  // TLS to the workers (ca_file set)
};

struct WorkerPoolStats {
  int64_t resent_samples = 0;    // samples re-sent after a worker failed
  int64_t worker_failures = 0;   // calls that failed on a worker
  int64_t rejoined_workers = 0;  // workers that came back and were given the weights
};

class WorkerPool final : public Generator {
 public:
  // INVALID_ARGUMENT when no target is given. Connects lazily.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Create(const WorkerPoolOptions& options);
  ~WorkerPool() override;

  absl::Status GenerateStream(const std::vector<GenerationRequest>& requests,
                              const CompletionCallback& on_completion) override;
  // Sends the weights to every live worker; a worker that fails is marked down and
  // gets the weights when it rejoins. UNAVAILABLE only when no worker took them.
  absl::Status UpdateWeights(
      int64_t version, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) override;

  WorkerPoolStats stats() const;
  int live_workers() const;

 private:
  struct Worker;
  explicit WorkerPool(const WorkerPoolOptions& options);
  // Probes down workers; a worker that answers gets the latest weights first.
  void ReviveWorkers();
  int LiveLocked() const;
  RolloutClientOptions ClientOptions() const;

  WorkerPoolOptions options_;
  mutable std::mutex mu_;  // serialises calls and guards the fields below
  std::vector<std::unique_ptr<Worker>> workers_;
  int64_t version_ = -1;                                       // -1: no weights pushed yet
  std::vector<std::pair<std::string, torch::Tensor>> latest_;  // CPU copies
  WorkerPoolStats stats_;
};

}  // namespace rlvr

#endif  // RLVR_ROLLOUT_WORKER_POOL_H_
