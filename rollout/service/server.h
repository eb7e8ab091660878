// RolloutServer: serves an Engine as rlvr.rollout.v1.RolloutService over gRPC,
// with the standard grpc.health.v1.Health service.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<RolloutServer> server,
//                    RolloutServer::Start(engine.get(), {.host = "127.0.0.1", .port = 0}));
//   server->port();  server->Wait();  // or Shutdown()
//
// Generate streams each completion as it finishes; bad requests get
// INVALID_ARGUMENT naming the field while other clients are served; a
// cancelled call or an exceeded deadline aborts its samples and frees their
// KV slots. UpdateWeights receives chunked tensors, checks each tensor's CRC-32
// (DATA_LOSS naming the tensor on mismatch, nothing installed) and swaps them
// in atomically.
// Thread safety: all methods are thread-safe. The engine must outlive the server.
#ifndef RLVR_ROLLOUT_SERVICE_SERVER_H_
#define RLVR_ROLLOUT_SERVICE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/grpc_security.h"
#include "rollout/engine.h"

namespace rlvr {

struct RolloutServerOptions {
  std::string host = "127.0.0.1";                  // loopback unless configured otherwise
  int port = 0;                                    // 0 = any free port (see port())
  int64_t max_message_bytes = int64_t{256} << 20;  // per gRPC message; larger -> RESOURCE_EXHAUSTED
  // Non-empty: every RolloutService call must carry "authorization: Bearer <token>"
  // or gets UNAUTHENTICATED (health checks stay open).
  std::string token;
  TlsServerOptions tls;  // certificate and key: serve TLS only
};

class RolloutServer {
 public:
  // Binds and starts serving. UNAVAILABLE when the address cannot be bound;
  // INVALID_ARGUMENT naming the option when a TLS file cannot be read.
  static absl::StatusOr<std::unique_ptr<RolloutServer>> Start(Engine* engine,
                                                              const RolloutServerOptions& options);
  ~RolloutServer();  // Shutdown()

  int port() const;
  // Blocks until Shutdown() (from another thread).
  void Wait();
  // Stops accepting calls, cancels running ones, and returns when they ended.
  void Shutdown();

  struct Impl;

 private:
  explicit RolloutServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rlvr

#endif  // RLVR_ROLLOUT_SERVICE_SERVER_H_
