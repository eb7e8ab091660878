// VerifierServer: hosts any Verifier as the gRPC VerifierService (proto/verifier.proto),
// with the standard health service and server reflection.
//
//   ASSIGN_OR_RETURN(auto server, VerifierServer::Start(verifier, {.port = 0}));
//   std::cout << server->port();   // the bound port
//   server->Wait();                // until Shutdown() from another thread
//
// Each call's items run on a bounded VerifyQueue. A call whose items do not fit in
// max_pending_items is refused at once with RESOURCE_EXHAUSTED (memory stays bounded
// under overload; clients back off and retry). Items not yet started when the call's
// deadline passes or the client cancels are skipped. With `token` set, calls must
// carry metadata "authorization: Bearer <token>" or get UNAUTHENTICATED.
// Thread-safe. The destructor shuts down and joins.
#ifndef RLVR_VERIFIERS_SERVICE_VERIFIER_SERVER_H_
#define RLVR_VERIFIERS_SERVICE_VERIFIER_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/grpc_security.h"
#include "verifiers/verifier.h"

namespace rlvr {

struct VerifierServerOptions {
  std::string address = "127.0.0.1";  // bind address; "0.0.0.0" serves other hosts
  int port = 0;                       // 0 = any free port (see port())
  std::string token;                  // "" = no token check
  int num_threads = 4;                // verification worker threads
  int64_t max_pending_items = 1024;   // items queued or running; beyond -> RESOURCE_EXHAUSTED
  int64_t max_batch_items = 4096;     // items in one call; beyond -> INVALID_ARGUMENT
  int max_message_bytes = 64 << 20;   // largest request or response message; larger ->
                                      // RESOURCE_EXHAUSTED
  TlsServerOptions tls;               // certificate and key: serve TLS only
};

struct VerifierServerStats {
  int64_t calls = 0;               // Verify calls received
  int64_t items = 0;               // items accepted for verification
  int64_t rejected_overload = 0;   // calls refused with RESOURCE_EXHAUSTED
  int64_t rejected_auth = 0;       // calls refused with UNAUTHENTICATED
  int64_t peak_pending_items = 0;  // most items queued or running at once
};

class VerifierServer {
 public:
  // Binds and starts serving. UNAVAILABLE if the address cannot be bound;
  // INVALID_ARGUMENT naming the option when a TLS file cannot be read.
  static absl::StatusOr<std::unique_ptr<VerifierServer>> Start(
      std::shared_ptr<const Verifier> verifier, const VerifierServerOptions& options);
  virtual ~VerifierServer() = default;

  virtual int port() const = 0;
  // "address:port", e.g. "127.0.0.1:45123".
  virtual std::string target() const = 0;
  // Marks the service NOT_SERVING, stops accepting calls, cancels calls still running
  // after `grace`, and finishes accepted items. Idempotent.
  virtual void Shutdown(absl::Duration grace = absl::Seconds(5)) = 0;
  // Blocks until Shutdown() has completed.
  virtual void Wait() = 0;
  virtual VerifierServerStats stats() const = 0;
};

// The fully qualified service name, for health checks.
inline constexpr char kVerifierServiceName[] = "rlvr.verifier.v1.VerifierService";

}  // namespace rlvr

#endif  // RLVR_VERIFIERS_SERVICE_VERIFIER_SERVER_H_
