#include "verifiers/service/verifier_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "core/grpc_security.h"
#include "verifier.grpc.pb.h"
#include "verifiers/pipeline/verify_queue.h"
#include "verifiers/service/convert.h"

namespace rlvr {
namespace {

namespace pb = ::rlvr::verifier::v1;

struct Counters {
  std::atomic<int64_t> calls{0}, items{0}, rejected_overload{0}, rejected_auth{0};
};

// One Verify call: collects per-item results and finishes the call once.
class VerifyReactor final : public grpc::ServerUnaryReactor {
 public:
  VerifyReactor(pb::VerifyResponse* response, size_t n)
      : response_(response),
        results_(n),
        remaining_(static_cast<int64_t>(n)),
        cancelled_(std::make_shared<std::atomic<bool>>(false)) {}

  std::shared_ptr<const std::atomic<bool>> cancelled() const { return cancelled_; }

  void SetResult(size_t i, std::string id, absl::StatusOr<Reward> reward) {
    results_[i] = {std::move(id), std::move(reward)};
    if (remaining_.fetch_sub(1) == 1) FinishOk();
  }
  // Called once the admitted items are known; `pre_done` items were set before.
  void FinishOk() {
    for (auto& [id, reward] : results_) service::ToProto(id, reward, response_->add_results());
    Finish(grpc::Status::OK);
  }
  void OnCancel() override { cancelled_->store(true); }
  void OnDone() override { delete this; }

  std::atomic<int64_t>& remaining() { return remaining_; }

 private:
  pb::VerifyResponse* const response_;
  std::vector<std::pair<std::string, absl::StatusOr<Reward>>> results_;
  std::atomic<int64_t> remaining_;
  const std::shared_ptr<std::atomic<bool>> cancelled_;
};

class ServiceImpl final : public pb::VerifierService::CallbackService {
 public:
  ServiceImpl(VerifyQueue* queue, const VerifierServerOptions& options, Counters* counters)
      : queue_(queue), options_(options), counters_(counters) {}

  grpc::ServerUnaryReactor* Verify(grpc::CallbackServerContext* context,
                                   const pb::VerifyRequest* request,
                                   pb::VerifyResponse* response) override {
    counters_->calls++;
    const int n = request->items_size();
    auto* reactor = new VerifyReactor(response, n);
    if (grpc::Status auth = CheckBearerToken(*context, options_.token); !auth.ok()) {
      counters_->rejected_auth++;
      reactor->Finish(auth);
      return reactor;
    }
    if (n > options_.max_batch_items) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   absl::StrCat("batch of ", n, " items exceeds max_batch_items ",
                                                options_.max_batch_items)));
      return reactor;
    }
    if (n == 0) {
      reactor->FinishOk();
      return reactor;
    }
    // Items with a malformed spec get their error now; the rest go to the queue.
    std::vector<VerifyRequest> admitted;
    std::vector<size_t> index;
    std::vector<std::pair<size_t, absl::Status>> bad;
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<VerifyRequest> r = service::FromProto(request->items(i), i);
      if (r.ok()) {
        admitted.push_back(std::move(r).value());
        index.push_back(i);
      } else {
        bad.emplace_back(i, r.status());
      }
    }
    VerifyTaskOptions task_options;
    task_options.deadline = absl::FromChrono(context->deadline());
    task_options.cancelled = reactor->cancelled();
    std::vector<std::string> ids;
    ids.reserve(admitted.size());
    for (const VerifyRequest& r : admitted) ids.push_back(r.id);
    if (!admitted.empty()) {
      const int64_t count = static_cast<int64_t>(admitted.size());
      absl::Status s = queue_->TrySubmitAll(
          std::move(admitted),
          [reactor, index, ids = std::move(ids)](size_t k, absl::StatusOr<Reward> reward) {
            reactor->SetResult(index[k], ids[k], std::move(reward));
          },
          task_options);
      if (!s.ok()) {
        if (s.code() == absl::StatusCode::kResourceExhausted) counters_->rejected_overload++;
        reactor->Finish(grpc::Status(s.code() == absl::StatusCode::kResourceExhausted
                                         ? grpc::StatusCode::RESOURCE_EXHAUSTED
                                         : grpc::StatusCode::UNAVAILABLE,
                                     std::string(s.message())));
        return reactor;
      }
      counters_->items += count;
    }
    for (auto& [i, status] : bad) reactor->SetResult(i, request->items(i).id(), status);
    return reactor;
  }

 private:
  VerifyQueue* const queue_;
  const VerifierServerOptions options_;
  Counters* const counters_;
};

class ServerImpl final : public VerifierServer {
 public:
  ServerImpl(std::shared_ptr<const Verifier> verifier, const VerifierServerOptions& options)
      : options_(options),
        queue_(std::move(verifier),
               {.num_threads = options.num_threads, .capacity = options.max_pending_items}),
        service_(&queue_, options, &counters_) {}

  ~ServerImpl() override { Shutdown(absl::Seconds(1)); }

  absl::Status Init() {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
        MakeServerCredentials(options_.tls);
    if (!credentials.ok()) return credentials.status();
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat(options_.address, ":", options_.port), *credentials,
                             &port_);
    builder.RegisterService(&service_);
    builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
    builder.SetMaxSendMessageSize(options_.max_message_bytes);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port_ == 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", options_.address, ":", options_.port));
    }
    server_->GetHealthCheckService()->SetServingStatus(kVerifierServiceName, true);
    return absl::OkStatus();
  }

  int port() const override { return port_; }
  std::string target() const override { return absl::StrCat(options_.address, ":", port_); }

  void Shutdown(absl::Duration grace) override {
    absl::MutexLock lock(&shutdown_mu_);
    if (shut_down_.HasBeenNotified()) return;
    if (server_ != nullptr) {
      server_->GetHealthCheckService()->SetServingStatus(false);
      server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    }
    queue_.Shutdown();
    shut_down_.Notify();
  }

  void Wait() override { shut_down_.WaitForNotification(); }

  VerifierServerStats stats() const override {
    VerifierServerStats s;
    s.calls = counters_.calls;
    s.items = counters_.items;
    s.rejected_overload = counters_.rejected_overload;
    s.rejected_auth = counters_.rejected_auth;
    s.peak_pending_items = queue_.peak_pending();
    return s;
  }

 private:
  const VerifierServerOptions options_;
  Counters counters_;
  VerifyQueue queue_;
  ServiceImpl service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Mutex shutdown_mu_;
  absl::Notification shut_down_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<VerifierServer>> VerifierServer::Start(
    std::shared_ptr<const Verifier> verifier, const VerifierServerOptions& options) {
  if (verifier == nullptr) return absl::InvalidArgumentError("VerifierServer needs a verifier");
  auto server = std::make_unique<ServerImpl>(std::move(verifier), options);
  absl::Status s = server->Init();
  if (!s.ok()) return s;
  return std::unique_ptr<VerifierServer>(std::move(server));
}

}  // namespace rlvr
