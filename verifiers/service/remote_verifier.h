// RemoteVerifier: a Verifier that grades through a VerifierService over gRPC (a
// `rlvr serve-verifier` process, the Python example server, or any implementation).
//
// Transport failures are never rewards: Verify() returns an error status, after
// retrying UNAVAILABLE and RESOURCE_EXHAUSTED with exponential backoff:
//   on_failure = kFail:  up to max_attempts attempts, then the last error;
//   on_failure = kRetry: keep retrying until retry_deadline has passed since the call
//                        began, then DEADLINE_EXCEEDED naming the last error.
// Each attempt has the deadline attempt_timeout (never beyond the overall deadline).
// Thread-safe; one channel is shared by all calls.
#ifndef RLVR_VERIFIERS_SERVICE_REMOTE_VERIFIER_H_
#define RLVR_VERIFIERS_SERVICE_REMOTE_VERIFIER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/grpc_security.h"
#include "verifiers/registry.h"
#include "verifiers/verifier.h"

namespace rlvr {

struct RemoteVerifierOptions {
  std::string target;    // "host:port", e.g. "127.0.0.1:50051"
  std::string token;     // sent as "authorization: Bearer <token>" when non-empty
  TlsClientOptions tls;  // ca_file set: TLS, verifying the service's certificate
  enum class OnFailure { kFail, kRetry };
  OnFailure on_failure = OnFailure::kFail;
  int max_attempts = 4;                                // kFail: attempts per call, >= 1
  absl::Duration retry_deadline = absl::Minutes(10);   // kRetry: total time per call
  absl::Duration attempt_timeout = absl::Seconds(60);  // deadline of one attempt
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  double backoff_multiplier = 2.0;
  int max_message_bytes = 64 << 20;
};

class RemoteVerifier final : public Verifier {
 public:
  // INVALID_ARGUMENT on an empty target or bad options. Does not connect yet.
  static absl::StatusOr<std::unique_ptr<RemoteVerifier>> Create(RemoteVerifierOptions options);
  ~RemoteVerifier() override;

  // One item; the item's own error (e.g. INVALID_ARGUMENT from the remote verifier)
  // or the call's error after retries.
  absl::StatusOr<Reward> Verify(const VerifyRequest& request) const override;
  // One call for the batch: per-item results in request order, or the call's error
  // after retries. `deadline` caps the whole call including retries.
  absl::StatusOr<std::vector<absl::StatusOr<Reward>>> VerifyBatch(
      const std::vector<VerifyRequest>& requests,
      absl::Time deadline = absl::InfiniteFuture()) const;
  std::string name() const override { return "remote"; }

 private:
  struct Impl;
  explicit RemoteVerifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Registers "remote", configured as {"target": "127.0.0.1:50051", "token": "",
// "token_file": "" (a file holding the token), "tls_ca": "", "tls_cert": "", "tls_key": "",
// "tls_server_name": "",
// "on_failure": "fail" | "retry", "max_attempts": 4, "retry_deadline_s": 600,
// "attempt_timeout_s": 60, "initial_backoff_ms": 100, "max_backoff_ms": 5000}.
absl::Status RegisterRemoteVerifier(VerifierRegistry& registry);

}  // namespace rlvr

#endif  // RLVR_VERIFIERS_SERVICE_REMOTE_VERIFIER_H_
