#include "verifiers/service/remote_verifier.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/grpc_security.h"
#include "verifier.grpc.pb.h"
#include "verifiers/service/convert.h"

namespace rlvr {
namespace {

namespace pb = ::rlvr::verifier::v1;

absl::Status FromGrpc(const grpc::Status& s, const std::string& target) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat("remote verifier ", target, ": ", s.error_message()));
}

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

}  // namespace

struct RemoteVerifier::Impl {
  RemoteVerifierOptions options;
  std::unique_ptr<pb::VerifierService::Stub> stub;
};

RemoteVerifier::RemoteVerifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RemoteVerifier::~RemoteVerifier() = default;

absl::StatusOr<std::unique_ptr<RemoteVerifier>> RemoteVerifier::Create(
    RemoteVerifierOptions options) {
  if (options.target.empty()) {
    return absl::InvalidArgumentError("remote verifier: 'target' (host:port) is empty");
  }
  if (options.max_attempts < 1 || options.backoff_multiplier < 1.0 ||
      options.initial_backoff <= absl::ZeroDuration() ||
      options.attempt_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "remote verifier: need max_attempts >= 1, backoff_multiplier >= 1, positive "
        "initial_backoff and attempt_timeout");
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  // Reconnect quickly once a (late or restarted) server comes up; our own loop paces
  // the retries of failed calls. GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays at its default:
  // gRPC also uses it as the minimum connect timeout, and at 100 ms a loaded machine's
  // TCP + HTTP/2 handshake was cut off ("tcp handshaker shutdown") on every attempt.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(options.tls, &args);
  if (!credentials.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("remote verifier: ", credentials.status().message()));
  }
  auto channel = grpc::CreateCustomChannel(options.target, *credentials, args);
  auto impl = std::make_unique<Impl>();
  impl->stub = pb::VerifierService::NewStub(channel);
  impl->options = std::move(options);
  return std::unique_ptr<RemoteVerifier>(new RemoteVerifier(std::move(impl)));
}

absl::StatusOr<std::vector<absl::StatusOr<Reward>>> RemoteVerifier::VerifyBatch(
    const std::vector<VerifyRequest>& requests, absl::Time deadline) const {
  const RemoteVerifierOptions& o = impl_->options;
  const absl::Time start = absl::Now();
  if (o.on_failure == RemoteVerifierOptions::OnFailure::kRetry) {
    deadline = std::min(deadline, start + o.retry_deadline);
  }
  pb::VerifyRequest request;
  for (const VerifyRequest& r : requests) service::ToProto(r, request.add_items());

  absl::Duration backoff = o.initial_backoff;
  grpc::Status last;
  for (int attempt = 1;; ++attempt) {
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("remote verifier ", o.target, ": deadline passed after ", attempt - 1,
                       " attempt(s); last error: ", last.ok() ? "none" : last.error_message()));
    }
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(std::min(deadline, now + o.attempt_timeout)));
    AddBearerToken(&context, o.token);
    pb::VerifyResponse response;
    last = impl_->stub->Verify(&context, request, &response);
    if (last.ok()) {
      if (response.results_size() != static_cast<int>(requests.size())) {
        return absl::InternalError(absl::StrCat("remote verifier ", o.target, ": sent ",
                                                requests.size(), " items, got ",
                                                response.results_size(), " results"));
      }
      std::vector<absl::StatusOr<Reward>> out;
      out.reserve(requests.size());
      for (int i = 0; i < response.results_size(); ++i) {
        const pb::VerifyResult& result = response.results(i);
        if (result.id() != requests[i].id) {
          return absl::InternalError(absl::StrCat("remote verifier ", o.target, ": result ", i,
                                                  " has id '", result.id(), "', expected '",
                                                  requests[i].id, "'"));
        }
        out.push_back(service::FromProto(result));
      }
      return out;
    }
    if (!Retryable(last.error_code())) return FromGrpc(last, o.target);
    if (o.on_failure == RemoteVerifierOptions::OnFailure::kFail && attempt >= o.max_attempts) {
      absl::Status s = FromGrpc(last, o.target);
      return absl::Status(s.code(), absl::StrCat(s.message(), " (after ", attempt, " attempts)"));
    }
    const absl::Duration sleep = std::min(backoff, deadline - absl::Now());
    if (sleep > absl::ZeroDuration()) absl::SleepFor(sleep);
    backoff = std::min(o.max_backoff, backoff * o.backoff_multiplier);
  }
}

absl::StatusOr<Reward> RemoteVerifier::Verify(const VerifyRequest& request) const {
  absl::StatusOr<std::vector<absl::StatusOr<Reward>>> results = VerifyBatch({request});
  if (!results.ok()) return results.status();
  return std::move((*results)[0]);
}

absl::Status RegisterRemoteVerifier(VerifierRegistry& registry) {
  return registry.Register(
      "remote", [](const nlohmann::json& config) -> absl::StatusOr<std::unique_ptr<Verifier>> {
        static const std::set<std::string> kKnown = {"target",
                                                     "token",
                                                     "token_file",
                                                     "tls_ca",
                                                     "tls_cert",
                                                     "tls_key",
                                                     "tls_server_name",
                                                     "on_failure",
                                                     "max_attempts",
                                                     "retry_deadline_s",
                                                     "attempt_timeout_s",
                                                     "initial_backoff_ms",
                                                     "max_backoff_ms"};
        if (!config.is_object())
          return absl::InvalidArgumentError("verifier 'remote': config must be an object");
        RemoteVerifierOptions o;
        try {
          for (const auto& [key, value] : config.items()) {
            if (kKnown.count(key) == 0) {
              return absl::InvalidArgumentError(
                  absl::StrCat("verifier 'remote': unknown config field '", key,
                               "'; known: ", absl::StrJoin(kKnown, ", ")));
            }
          }
          o.target = config.value("target", "");
          o.token = config.value("token", "");
          const std::string token_file = config.value("token_file", "");
          if (!token_file.empty()) {
            absl::StatusOr<std::string> token = ReadTokenFile(token_file, "token_file");
            if (!token.ok()) {
              return absl::InvalidArgumentError(
                  absl::StrCat("verifier 'remote': ", token.status().message()));
            }
            o.token = *std::move(token);
          }
          o.tls.ca_file = config.value("tls_ca", "");
          o.tls.cert_file = config.value("tls_cert", "");
          o.tls.key_file = config.value("tls_key", "");
          o.tls.server_name = config.value("tls_server_name", "");
          const std::string on_failure = config.value("on_failure", "fail");
          if (on_failure != "fail" && on_failure != "retry") {
            return absl::InvalidArgumentError(
                "verifier 'remote': config field 'on_failure' must be \"fail\" or \"retry\"");
          }
          o.on_failure = on_failure == "retry" ? RemoteVerifierOptions::OnFailure::kRetry
                                               : RemoteVerifierOptions::OnFailure::kFail;
          o.max_attempts = config.value("max_attempts", o.max_attempts);
          o.retry_deadline = absl::Seconds(config.value("retry_deadline_s", 600.0));
          o.attempt_timeout = absl::Seconds(config.value("attempt_timeout_s", 60.0));
          o.initial_backoff = absl::Milliseconds(config.value("initial_backoff_ms", 100.0));
          o.max_backoff = absl::Milliseconds(config.value("max_backoff_ms", 5000.0));
        } catch (const nlohmann::json::exception& e) {
          return absl::InvalidArgumentError(
              absl::StrCat("verifier 'remote': bad config: ", e.what()));
        }
        absl::StatusOr<std::unique_ptr<RemoteVerifier>> v = RemoteVerifier::Create(std::move(o));
        if (!v.ok()) return v.status();
        return std::unique_ptr<Verifier>(std::move(v).value());
      });
}

}  // namespace rlvr
