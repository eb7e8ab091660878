// RolloutClient: a Generator backed by a remote rollout worker
// (rlvr.rollout.v1.RolloutService), so the trainer does not know where
// rollouts come from.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<RolloutClient> worker,
//                    RolloutClient::Connect("127.0.0.1:50051", {}));
//   ASSIGN_OR_RETURN(std::vector<Completion> out, worker->Generate(requests));
//
// Every RPC carries a deadline. Errors keep the server's code (INVALID_ARGUMENT
// naming the field, UNAVAILABLE when the worker is down: retry).
// Thread safety: all methods are thread-safe.
#ifndef RLVR_ROLLOUT_SERVICE_CLIENT_H_
#define RLVR_ROLLOUT_SERVICE_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/grpc_security.h"
#include "rollout/engine.h"
#include "rollout/generator.h"

namespace rlvr {

struct RolloutClientOptions {
  double generate_deadline_s = 3600;  // one Generate call
  double update_deadline_s = 600;     // one UpdateWeights call
  double status_deadline_s = 10;
  int64_t chunk_bytes = int64_t{32} << 20;  // weight bytes per message
  std::string token;     // sent as "authorization: Bearer <token>" when non-empty
  TlsClientOptions tls;  // ca_file set: TLS, verifying the worker's certificate
  // HTTP/2 keepalive: a ping every keepalive_s, the connection declared dead (calls
  // fail UNAVAILABLE) when one is not answered within keepalive_s. This is what
  // notices a worker whose network vanished without closing the connection.
  double keepalive_s = 10;
};

class RolloutClient final : public Generator {
 public:
  // Creates the channel (connects lazily). INVALID_ARGUMENT naming the option when a
  // TLS file cannot be read.
  static absl::StatusOr<std::unique_ptr<RolloutClient>> Connect(
      const std::string& target, const RolloutClientOptions& options);
  ~RolloutClient() override;

  absl::Status GenerateStream(const std::vector<GenerationRequest>& requests,
                              const CompletionCallback& on_completion) override;
  // Streams each tensor (float32/bfloat16/float16) in chunks with its CRC-32.
  absl::Status UpdateWeights(
      int64_t version, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) override;
  absl::StatusOr<EngineStatus> GetStatus();

  struct Impl;

 private:
  explicit RolloutClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rlvr

#endif  // RLVR_ROLLOUT_SERVICE_CLIENT_H_
