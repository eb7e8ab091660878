// Transport security shared by every rlvr gRPC service and client (RolloutService,
// VerifierService): optional TLS from PEM files and an optional shared bearer token.
// Only service edges (rollout/service, verifiers/service) include this header.
//
//   Server:  ASSIGN_OR_RETURN(auto creds, MakeServerCredentials(options.tls));
//            builder.AddListeningPort(address, creds, &port);
//            // first line of every handler:
//            grpc::Status auth = CheckBearerToken(*context, options.token);
//            if (!auth.ok()) return auth;
//   Client:  grpc::ChannelArguments args;
//            ASSIGN_OR_RETURN(auto creds, MakeChannelCredentials(options.tls, &args));
//            auto channel = grpc::CreateCustomChannel(target, creds, args);
//            AddBearerToken(&client_context, options.token);
//
// The token travels as metadata "authorization: Bearer <token>"; it is compared in
// constant time and never appears in a status message or log line. Without TLS the
// token crosses the network in clear text: use both on untrusted networks.
// The standard health service is not token-checked, so readiness probes work.
// Thread-safe: all functions are pure.
#ifndef RLVR_CORE_GRPC_SECURITY_H_
#define RLVR_CORE_GRPC_SECURITY_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace rlvr {

// Server side TLS. All paths empty = plaintext.
struct TlsServerOptions {
  std::string cert_file;       // PEM certificate chain of this server
  std::string key_file;        // PEM private key of cert_file
  std::string client_ca_file;  // when set, clients must present a certificate it signed
  bool enabled() const {
    return !cert_file.empty() || !key_file.empty() || !client_ca_file.empty();
  }
};

// Client side TLS. ca_file empty (and no client certificate) = plaintext.
struct TlsClientOptions {
  std::string ca_file;      // PEM roots that signed the server's certificate
  std::string cert_file;    // optional client certificate (for client_ca_file servers)
  std::string key_file;     // its private key
  std::string server_name;  // expected name in the server certificate; "" = the target host
  bool enabled() const { return !ca_file.empty() || !cert_file.empty() || !key_file.empty(); }
};

// InsecureServerCredentials when TLS is not enabled. INVALID_ARGUMENT naming the option
// when a file is missing or unreadable, or only one of cert_file/key_file is set.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsServerOptions& tls);

// InsecureChannelCredentials when TLS is not enabled. Sets the expected server name
// on `args` when tls.server_name is given. INVALID_ARGUMENT naming the option on a bad
// file or a lone cert_file/key_file.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsClientOptions& tls, grpc::ChannelArguments* args);

// OK when `token` is empty or the call carries "authorization: Bearer <token>";
// otherwise UNAUTHENTICATED (the message never contains either token).
grpc::Status CheckBearerToken(const grpc::ServerContextBase& context, const std::string& token);

// Adds the token's metadata to an outgoing call; no-op for an empty token.
void AddBearerToken(grpc::ClientContext* context, const std::string& token);

// The first line of `path` without surrounding whitespace, for tokens kept in files
// (Kubernetes Secrets, Slurm-shared files). INVALID_ARGUMENT naming `field` when the
// file cannot be read or the token is empty.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path, const std::string& field);

}  // namespace rlvr

#endif  // RLVR_CORE_GRPC_SECURITY_H_
