#include "rollout/service/server.h"

#include <chrono>
#include <deque>
#include <map>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "rollout.grpc.pb.h"
#include "rollout/service/convert.h"

namespace rlvr {
namespace pb = rlvr::rollout::v1;
using rollout_internal::CheckNoUnknownFields;

namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// Completions of one Generate call, handed from the engine thread to the
// handler thread. Shared so late engine callbacks stay safe.
struct Stream {
  absl::Mutex mu;
  std::deque<Completion> ready ABSL_GUARDED_BY(mu);
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::Status status ABSL_GUARDED_BY(mu);
};

class Service final : public pb::RolloutService::Service {
 public:
  explicit Service(Engine* engine) : engine_(engine) {}

  grpc::Status Generate(grpc::ServerContext* ctx, const pb::GenerateRequest* request,
                        grpc::ServerWriter<pb::GenerateResponse>* writer) override {
    absl::Status s = CheckNoUnknownFields(*request);
    if (!s.ok()) return ToGrpc(s);
    std::vector<GenerationRequest> requests = rollout_internal::FromProto(*request);
    for (size_t i = 0; i < requests.size(); ++i) {
      absl::Status v = engine_->ValidateRequest(requests[i]);
      if (!v.ok()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("prompts[", i, "].", std::string(v.message())));
      }
    }
    auto stream = std::make_shared<Stream>();
    absl::StatusOr<int64_t> ticket = engine_->Submit(
        std::move(requests),
        [stream](Completion c) {
          absl::MutexLock lock(&stream->mu);
          stream->ready.push_back(std::move(c));
        },
        [stream](absl::Status st) {
          absl::MutexLock lock(&stream->mu);
          stream->done = true;
          stream->status = std::move(st);
        });
    if (!ticket.ok()) return ToGrpc(ticket.status());
    while (true) {
      std::deque<Completion> batch;
      bool done = false;
      absl::Status status;
      {
        absl::MutexLock lock(&stream->mu);
        auto has_work = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return !stream->ready.empty() || stream->done;
        };
        stream->mu.AwaitWithTimeout(absl::Condition(&has_work), absl::Milliseconds(50));
        batch.swap(stream->ready);
        done = stream->done;
        status = stream->status;
      }
      for (Completion& c : batch) {
        pb::GenerateResponse response;
        *response.mutable_completion() = rollout_internal::ToProto(c);
        if (!writer->Write(response)) {
          engine_->Cancel(*ticket);
          return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
        }
      }
      if (done) return ToGrpc(status);
      if (ctx->IsCancelled()) {
        engine_->Cancel(*ticket);
        if (ctx->deadline() <= std::chrono::system_clock::now()) {
          return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded");
        }
        return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client");
      }
    }
  }

  grpc::Status UpdateWeights(grpc::ServerContext* ctx, grpc::ServerReader<pb::WeightChunk>* reader,
                             pb::UpdateWeightsResponse* response) override {
    struct Partial {
      torch::Tensor tensor;  // (shape) dtype, filled chunk by chunk
      int64_t received = 0;
      uint32_t crc = 0;
      uint32_t expected_crc = 0;
    };
    std::map<std::string, Partial> partial;
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    int64_t version = -1;
    int64_t bytes = 0;
    pb::WeightChunk chunk;
    while (reader->Read(&chunk)) {
      absl::Status s = CheckNoUnknownFields(chunk);
      if (!s.ok()) return ToGrpc(s);
      if (version == -1) version = chunk.version();
      if (chunk.version() != version) {
        return grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            absl::StrCat("version: chunks carry both ", version, " and ", chunk.version()));
      }
      if (chunk.name().empty()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "name: empty tensor name");
      }
      auto it = partial.find(chunk.name());
      if (chunk.offset() == 0) {
        if (it != partial.end()) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              absl::StrCat("name: tensor ", chunk.name(), " sent twice"));
        }
        absl::StatusOr<torch::ScalarType> dtype = rollout_internal::DtypeFromName(chunk.dtype());
        if (!dtype.ok()) return ToGrpc(dtype.status());
        std::vector<int64_t> shape(chunk.shape().begin(), chunk.shape().end());
        Partial p;
        try {
          p.tensor = torch::empty(shape, torch::TensorOptions().dtype(*dtype));
        } catch (const std::exception& e) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              absl::StrCat("shape: tensor ", chunk.name(), ": ", e.what()));
        }
        if (static_cast<int64_t>(p.tensor.nbytes()) != chunk.total_bytes()) {
          return grpc::Status(
              grpc::StatusCode::INVALID_ARGUMENT,
              absl::StrCat("total_bytes: tensor ", chunk.name(), " has ", p.tensor.nbytes(),
                           " bytes, chunk says ", chunk.total_bytes()));
        }
        p.expected_crc = chunk.crc32();
        it = partial.emplace(chunk.name(), std::move(p)).first;
      } else if (it == partial.end() || it->second.received != chunk.offset()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("offset: unexpected offset ", chunk.offset(),
                                         " for tensor ", chunk.name()));
      }
      Partial& p = it->second;
      const int64_t n = static_cast<int64_t>(chunk.data().size());
      if (p.received + n > static_cast<int64_t>(p.tensor.nbytes())) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("data: too many bytes for tensor ", chunk.name()));
      }
      std::memcpy(static_cast<char*>(p.tensor.data_ptr()) + p.received, chunk.data().data(), n);
      p.crc = rollout_internal::Crc32(chunk.data().data(), n, p.crc);
      p.received += n;
      bytes += n;
      if (p.received == static_cast<int64_t>(p.tensor.nbytes())) {
        if (p.crc != p.expected_crc) {
          return grpc::Status(grpc::StatusCode::DATA_LOSS,
                              absl::StrCat("crc32: checksum mismatch for tensor ", chunk.name(),
                                           "; weights not installed"));
        }
        tensors.emplace_back(chunk.name(), p.tensor);
      }
      if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    for (const auto& [name, p] : partial) {
      if (p.received != static_cast<int64_t>(p.tensor.nbytes())) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("data: tensor ", name, " incomplete (", p.received, " of ",
                                         p.tensor.nbytes(), " bytes)"));
      }
    }
    if (tensors.empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no tensors received");
    }
    absl::Status s = engine_->UpdateWeights(version, tensors);
    if (!s.ok()) return ToGrpc(s);
    response->set_version(version);
    response->set_tensors(static_cast<int64_t>(tensors.size()));
    response->set_bytes(bytes);
    return grpc::Status::OK;
  }

  grpc::Status GetStatus(grpc::ServerContext*, const pb::GetStatusRequest* request,
                         pb::GetStatusResponse* response) override {
    absl::Status s = CheckNoUnknownFields(*request);
    if (!s.ok()) return ToGrpc(s);
    EngineStatus st = engine_->GetStatus();
    response->set_policy_version(st.policy_version);
    response->set_queued_samples(st.queued_samples);
    response->set_running_sequences(st.running_sequences);
    response->set_kv_slots_used(st.kv_slots_used);
    response->set_kv_slots_total(st.kv_slots_total);
    response->set_kv_bytes_used(st.kv_bytes_used);
    response->set_kv_bytes_total(st.kv_bytes_total);
    response->set_tokens_per_second(st.tokens_per_second);
    response->set_tokens_generated(st.tokens_generated);
    response->set_model_type(engine_->model_config().model_type);
    response->set_max_len(engine_->max_len());
    return grpc::Status::OK;
  }

 private:
  Engine* engine_;
};

}  // namespace

struct RolloutServer::Impl {
  std::unique_ptr<Service> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  bool shut_down = false;
};

RolloutServer::RolloutServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RolloutServer::~RolloutServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<RolloutServer>> RolloutServer::Start(
    Engine* engine, const RolloutServerOptions& options) {
  grpc::EnableDefaultHealthCheckService(true);
  auto impl = std::make_unique<Impl>();
  impl->service = std::make_unique<Service>(engine);
  grpc::ServerBuilder builder;
  const std::string address = absl::StrCat(options.host, ":", options.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &impl->port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  builder.RegisterService(impl->service.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  }
  impl->server->GetHealthCheckService()->SetServingStatus(true);
  return std::unique_ptr<RolloutServer>(new RolloutServer(std::move(impl)));
}

int RolloutServer::port() const { return impl_->port; }

void RolloutServer::Wait() { impl_->server->Wait(); }

void RolloutServer::Shutdown() {
  if (impl_ && impl_->server && !impl_->shut_down) {
    impl_->shut_down = true;
    impl_->server->GetHealthCheckService()->SetServingStatus(false);
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
}

}  // namespace rlvr
