#include "rollout/service/server.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <utility>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/grpc_security.h"
#include "core/status_macros.h"
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

// Receive buffers kept from one weight update to the next, so that an update does not
// page in fresh memory (the engine copies the received tensors into its model and keeps
// no reference). Thread-safe.
class BufferPool {
 public:
  std::map<std::string, torch::Tensor> Take() {
    absl::MutexLock lock(&mu_);
    return std::exchange(spare_, {});
  }
  void Return(std::map<std::string, torch::Tensor> buffers) {
    absl::MutexLock lock(&mu_);
    buffers.merge(spare_);
    spare_ = std::move(buffers);
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, torch::Tensor> spare_ ABSL_GUARDED_BY(mu_);
};

// The tensors of one UpdateWeights stream, assembled chunk by chunk: version, names,
// offsets and sizes are checked, and each tensor's CRC-32 is computed on its bytes as
// they are copied in. Not thread-safe.
class WeightAssembly {
 public:
  // Copies the next n bytes of a chunk's data to dst; false when the message ends first.
  using ReadFn = std::function<bool(char* dst, int64_t n)>;

  explicit WeightAssembly(std::map<std::string, torch::Tensor> spare) : spare_(std::move(spare)) {}

  // One chunk: `header` holds every field but data; `read` supplies its `size` data bytes.
  absl::Status Add(const pb::WeightChunk& header, int64_t size, const ReadFn& read) {
    RETURN_IF_ERROR(CheckNoUnknownFields(header));
    if (version_ == -1) version_ = header.version();
    if (header.version() != version_) {
      return absl::InvalidArgumentError(
          absl::StrCat("version: chunks carry both ", version_, " and ", header.version()));
    }
    if (header.name().empty()) return absl::InvalidArgumentError("name: empty tensor name");
    auto it = partial_.find(header.name());
    if (header.offset() == 0) {
      if (it != partial_.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("name: tensor ", header.name(), " sent twice"));
      }
      ASSIGN_OR_RETURN(torch::Tensor tensor, Allocate(header));
      it = partial_.emplace(header.name(), Partial{std::move(tensor), 0, 0, header.crc32()}).first;
      order_.push_back(header.name());
    } else if (it == partial_.end() || it->second.received != header.offset()) {
      return absl::InvalidArgumentError(absl::StrCat("offset: unexpected offset ", header.offset(),
                                                     " for tensor ", header.name()));
    }
    Partial& p = it->second;
    const int64_t capacity = static_cast<int64_t>(p.tensor.nbytes());
    if (p.received + size > capacity) {
      return absl::InvalidArgumentError(
          absl::StrCat("data: too many bytes for tensor ", header.name()));
    }
    // Copy and checksum block by block, so the checksum reads bytes still in cache.
    constexpr int64_t kBlock = int64_t{256} << 10;
    char* dst = static_cast<char*>(p.tensor.data_ptr()) + p.received;
    for (int64_t done = 0; done < size; done += kBlock) {
      const int64_t n = std::min(kBlock, size - done);
      if (!read(dst + done, n)) {
        return absl::InvalidArgumentError(
            absl::StrCat("data: chunk of tensor ", header.name(), " is truncated"));
      }
      p.crc = rollout_internal::Crc32(dst + done, n, p.crc);
    }
    p.received += size;
    bytes_ += size;
    if (p.received == capacity && p.crc != p.expected_crc) {
      return absl::DataLossError(absl::StrCat("crc32: checksum mismatch for tensor ", header.name(),
                                              "; weights not installed"));
    }
    return absl::OkStatus();
  }

  // After the last chunk: the tensors in arrival order, each complete and checked.
  absl::StatusOr<std::vector<std::pair<std::string, torch::Tensor>>> Tensors() const {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const std::string& name : order_) {
      const Partial& p = partial_.at(name);
      if (p.received != static_cast<int64_t>(p.tensor.nbytes())) {
        return absl::InvalidArgumentError(absl::StrCat("data: tensor ", name, " incomplete (",
                                                       p.received, " of ", p.tensor.nbytes(),
                                                       " bytes)"));
      }
      out.emplace_back(name, p.tensor);
    }
    if (out.empty()) return absl::InvalidArgumentError("no tensors received");
    return out;
  }

  int64_t version() const { return version_; }
  int64_t bytes() const { return bytes_; }

  // The receive buffers, for the next update.
  std::map<std::string, torch::Tensor> TakeBuffers() {
    std::map<std::string, torch::Tensor> out = std::move(spare_);
    for (auto& [name, p] : partial_) out[name] = std::move(p.tensor);
    partial_.clear();
    return out;
  }

 private:
  struct Partial {
    torch::Tensor tensor;  // (shape) dtype, filled chunk by chunk
    int64_t received = 0;
    uint32_t crc = 0;
    uint32_t expected_crc = 0;
  };

  absl::StatusOr<torch::Tensor> Allocate(const pb::WeightChunk& header) {
    ASSIGN_OR_RETURN(torch::ScalarType dtype, rollout_internal::DtypeFromName(header.dtype()));
    std::vector<int64_t> shape(header.shape().begin(), header.shape().end());
    torch::Tensor tensor;
    auto spare = spare_.find(header.name());
    if (spare != spare_.end() && spare->second.scalar_type() == dtype &&
        spare->second.sizes() == c10::IntArrayRef(shape)) {
      tensor = std::move(spare->second);
      spare_.erase(spare);
    } else {
      try {
        tensor = torch::empty(shape, torch::TensorOptions().dtype(dtype));
      } catch (const std::exception& e) {
        return absl::InvalidArgumentError(
            absl::StrCat("shape: tensor ", header.name(), ": ", e.what()));
      }
    }
    if (static_cast<int64_t>(tensor.nbytes()) != header.total_bytes()) {
      return absl::InvalidArgumentError(absl::StrCat("total_bytes: tensor ", header.name(), " has ",
                                                     tensor.nbytes(), " bytes, chunk says ",
                                                     header.total_bytes()));
    }
    return tensor;
  }

  std::map<std::string, torch::Tensor> spare_;
  std::map<std::string, Partial> partial_;
  std::vector<std::string> order_;
  int64_t version_ = -1;
  int64_t bytes_ = 0;
};

// One UpdateWeights call. Each message is a WeightChunk whose non-data fields are parsed
// with protobuf; its data bytes are read from the received slices straight into the
// tensor being filled (no intermediate message). After the last chunk the tensors go to
// the engine, which installs them between decode steps; that wait happens on the gRPC
// callback thread, once per update. Deletes itself when gRPC is done with the call.
class WeightReceiver final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  WeightReceiver(Engine* engine, BufferPool* pool, grpc::ByteBuffer* response,
                 const grpc::Status& auth)
      : engine_(engine), pool_(pool), response_(response), assembly_(pool->Take()) {
    if (!auth.ok()) {
      Finish(auth);
      return;
    }
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client finished sending (or the call broke)
      Finish(cancelled_ ? grpc::Status(grpc::StatusCode::CANCELLED, "cancelled") : Install());
      return;
    }
    absl::Status s = Consume();
    message_.Clear();
    if (!s.ok()) {
      Finish(ToGrpc(s));
      return;
    }
    StartRead(&message_);
  }

  void OnCancel() override { cancelled_ = true; }

  void OnDone() override {
    pool_->Return(assembly_.TakeBuffers());
    delete this;
  }

 private:
  absl::Status Consume() {
    grpc::ProtoBufferReader reader(&message_);
    google::protobuf::io::CodedInputStream in(&reader);
    in.SetTotalBytesLimit(std::numeric_limits<int>::max());
    constexpr uint32_t kDataTag = (8 << 3) | 2;  // WeightChunk.data, length-delimited
    const google::protobuf::Descriptor* descriptor = pb::WeightChunk::descriptor();
    pb::WeightChunk header;
    bool has_data = false;
    while (const uint32_t tag = in.ReadTag()) {
      if (tag == kDataTag && !has_data) {
        uint32_t size = 0;
        if (!in.ReadVarint32(&size)) break;
        has_data = true;
        RETURN_IF_ERROR(assembly_.Add(header, size, [&in](char* dst, int64_t n) {
          return in.ReadRaw(dst, static_cast<int>(n));
        }));
        continue;
      }
      const google::protobuf::FieldDescriptor* field = descriptor->FindFieldByNumber(
          google::protobuf::internal::WireFormatLite::GetTagFieldNumber(tag));
      if (!google::protobuf::internal::WireFormat::ParseAndMergeField(tag, field, &header, &in)) {
        break;
      }
    }
    if (in.CurrentPosition() != static_cast<int>(message_.Length())) {
      return absl::InvalidArgumentError("weight chunk: malformed message");
    }
    if (!has_data) return assembly_.Add(header, 0, [](char*, int64_t) { return true; });
    return CheckNoUnknownFields(header);  // fields after the data
  }

  grpc::Status Install() {
    absl::StatusOr<std::vector<std::pair<std::string, torch::Tensor>>> tensors =
        assembly_.Tensors();
    if (!tensors.ok()) return ToGrpc(tensors.status());
    absl::Status s = engine_->UpdateWeights(assembly_.version(), *tensors);
    if (!s.ok()) return ToGrpc(s);
    pb::UpdateWeightsResponse response;
    response.set_version(assembly_.version());
    response.set_tensors(static_cast<int64_t>(tensors->size()));
    response.set_bytes(assembly_.bytes());
    grpc::Slice slice(response.SerializeAsString());
    *response_ = grpc::ByteBuffer(&slice, 1);
    return grpc::Status::OK;
  }

  Engine* const engine_;
  BufferPool* const pool_;
  grpc::ByteBuffer* const response_;
  WeightAssembly assembly_;
  grpc::ByteBuffer message_;
  std::atomic<bool> cancelled_{false};
};

// Generate and GetStatus are synchronous handlers; UpdateWeights is a callback handler
// on raw ByteBuffers so that chunk bytes go from gRPC's slices straight into tensors.
class Service final
    : public pb::RolloutService::WithRawCallbackMethod_UpdateWeights<pb::RolloutService::Service> {
 public:
  Service(Engine* engine, std::string token) : engine_(engine), token_(std::move(token)) {}

  grpc::Status Generate(grpc::ServerContext* ctx, const pb::GenerateRequest* request,
                        grpc::ServerWriter<pb::GenerateResponse>* writer) override {
    if (grpc::Status auth = CheckBearerToken(*ctx, token_); !auth.ok()) return auth;
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

  grpc::ServerReadReactor<grpc::ByteBuffer>* UpdateWeights(grpc::CallbackServerContext* ctx,
                                                           grpc::ByteBuffer* response) override {
    return new WeightReceiver(engine_, &buffers_, response, CheckBearerToken(*ctx, token_));
  }

  grpc::Status GetStatus(grpc::ServerContext* ctx, const pb::GetStatusRequest* request,
                         pb::GetStatusResponse* response) override {
    if (grpc::Status auth = CheckBearerToken(*ctx, token_); !auth.ok()) return auth;
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
  const std::string token_;
  BufferPool buffers_;
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
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  impl->service = std::make_unique<Service>(engine, options.token);
  grpc::ServerBuilder builder;
  const std::string address = absl::StrCat(options.host, ":", options.port);
  builder.AddListeningPort(address, *credentials, &impl->port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  // Accept the clients' keepalive pings (RolloutClientOptions::keepalive_s), also
  // between calls, without counting them as abuse.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
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
