#include "rollout/service/client.h"

#include <chrono>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/grpc_security.h"
#include "rollout.grpc.pb.h"
#include "rollout/service/convert.h"

namespace rlvr {
namespace pb = rlvr::rollout::v1;

namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

void SetDeadline(grpc::ClientContext& ctx, double seconds) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
}

}  // namespace

struct RolloutClient::Impl {
  RolloutClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::RolloutService::Stub> stub;
};

RolloutClient::RolloutClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RolloutClient::~RolloutClient() = default;

absl::StatusOr<std::unique_ptr<RolloutClient>> RolloutClient::Connect(
    const std::string& target, const RolloutClientOptions& options) {
  if (options.chunk_bytes <= 0) return absl::InvalidArgumentError("chunk_bytes must be > 0");
  if (options.keepalive_s < 1) return absl::InvalidArgumentError("keepalive_s must be >= 1");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  const int keepalive_ms = static_cast<int>(options.keepalive_s * 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, keepalive_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);  // also during long Generate streams
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(options.tls, &args);
  if (!credentials.ok()) return credentials.status();
  impl->channel = grpc::CreateCustomChannel(target, *credentials, args);
  if (!impl->channel) return absl::InvalidArgumentError(absl::StrCat("bad target ", target));
  impl->stub = pb::RolloutService::NewStub(impl->channel);
  return std::unique_ptr<RolloutClient>(new RolloutClient(std::move(impl)));
}

absl::Status RolloutClient::GenerateStream(const std::vector<GenerationRequest>& requests,
                                           const CompletionCallback& on_completion) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, impl_->options.generate_deadline_s);
  AddBearerToken(&ctx, impl_->options.token);
  pb::GenerateRequest request = rollout_internal::ToProto(requests);
  std::unique_ptr<grpc::ClientReader<pb::GenerateResponse>> reader =
      impl_->stub->Generate(&ctx, request);
  pb::GenerateResponse response;
  while (reader->Read(&response)) {
    if (on_completion) on_completion(rollout_internal::FromProto(response.completion()));
  }
  return FromGrpc(reader->Finish());
}

absl::Status RolloutClient::UpdateWeights(
    int64_t version, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  // Every tensor as contiguous CPU memory, checked before anything is sent.
  std::vector<std::pair<torch::Tensor, std::string>> sources;  // tensor, dtype name
  sources.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    absl::StatusOr<std::string> dtype = rollout_internal::DtypeName(tensor.scalar_type());
    if (!dtype.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", std::string(dtype.status().message())));
    }
    sources.emplace_back(tensor.detach().to(torch::kCPU).contiguous(), *std::move(dtype));
  }
  grpc::ClientContext ctx;
  SetDeadline(ctx, impl_->options.update_deadline_s);
  AddBearerToken(&ctx, impl_->options.token);
  // The call goes through the generic stub so that each message is a ByteBuffer of two
  // slices: the encoded chunk fields, then the tensor's own memory (no copy; the slice
  // holds a reference to the tensor until gRPC has written it).
  grpc::GenericStub generic(impl_->channel);
  grpc::CompletionQueue cq;
  const std::string method =
      absl::StrCat("/", pb::RolloutService::service_full_name(), "/UpdateWeights");
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      generic.PrepareCall(&ctx, method, &cq);
  // One operation in flight at a time; returns whether it succeeded.
  auto await = [&cq]() {
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && ok;
  };
  void* const kTag = reinterpret_cast<void*>(1);
  call->StartCall(kTag);
  bool open = await();
  for (size_t i = 0; i < tensors.size() && open; ++i) {
    const std::string& name = tensors[i].first;
    const auto& [t, dtype] = sources[i];
    char* data = static_cast<char*>(t.data_ptr());
    const int64_t total = static_cast<int64_t>(t.nbytes());
    int64_t offset = 0;
    do {
      pb::WeightChunk chunk;
      chunk.set_version(version);
      chunk.set_name(name);
      chunk.set_offset(offset);
      if (offset == 0) {
        chunk.set_dtype(dtype);
        for (int64_t d : t.sizes()) chunk.add_shape(d);
        chunk.set_total_bytes(total);
        chunk.set_crc32(rollout_internal::Crc32(data, total));
      }
      const int64_t n = std::min(impl_->options.chunk_bytes, total - offset);
      grpc::Slice slices[2] = {
          grpc::Slice(rollout_internal::WeightChunkPrefix(chunk, n)),
          grpc::Slice(
              data + offset, n, [](void* held) { delete static_cast<torch::Tensor*>(held); },
              new torch::Tensor(t))};
      grpc::ByteBuffer message(slices, n > 0 ? 2 : 1);
      offset += n;
      call->Write(message, kTag);
      open = await();  // false: the server ended the call; Finish() says why
    } while (offset < total && open);
  }
  if (open) {
    call->WritesDone(kTag);
    open = await();
  }
  grpc::ByteBuffer reply;
  if (open) {
    call->Read(&reply, kTag);
    (void)await();  // false when the server answered with an error status
  }
  grpc::Status status;
  call->Finish(&status, kTag);
  (void)await();
  call.reset();
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
  return FromGrpc(status);
}

absl::StatusOr<EngineStatus> RolloutClient::GetStatus() {
  grpc::ClientContext ctx;
  SetDeadline(ctx, impl_->options.status_deadline_s);
  AddBearerToken(&ctx, impl_->options.token);
  pb::GetStatusResponse r;
  grpc::Status s = impl_->stub->GetStatus(&ctx, pb::GetStatusRequest(), &r);
  if (!s.ok()) return FromGrpc(s);
  EngineStatus st;
  st.policy_version = r.policy_version();
  st.queued_samples = r.queued_samples();
  st.running_sequences = r.running_sequences();
  st.kv_slots_used = r.kv_slots_used();
  st.kv_slots_total = r.kv_slots_total();
  st.kv_bytes_used = r.kv_bytes_used();
  st.kv_bytes_total = r.kv_bytes_total();
  st.tokens_per_second = r.tokens_per_second();
  st.tokens_generated = r.tokens_generated();
  return st;
}

}  // namespace rlvr
