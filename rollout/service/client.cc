#include "rollout/service/client.h"

#include <chrono>

#include <grpcpp/grpcpp.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
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
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  impl->channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  if (!impl->channel) return absl::InvalidArgumentError(absl::StrCat("bad target ", target));
  impl->stub = pb::RolloutService::NewStub(impl->channel);
  return std::unique_ptr<RolloutClient>(new RolloutClient(std::move(impl)));
}

absl::Status RolloutClient::GenerateStream(const std::vector<GenerationRequest>& requests,
                                           const CompletionCallback& on_completion) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, impl_->options.generate_deadline_s);
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
  grpc::ClientContext ctx;
  SetDeadline(ctx, impl_->options.update_deadline_s);
  pb::UpdateWeightsResponse response;
  std::unique_ptr<grpc::ClientWriter<pb::WeightChunk>> writer =
      impl_->stub->UpdateWeights(&ctx, &response);
  for (const auto& [name, tensor] : tensors) {
    absl::StatusOr<std::string> dtype = rollout_internal::DtypeName(tensor.scalar_type());
    if (!dtype.ok()) {
      ctx.TryCancel();
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", std::string(dtype.status().message())));
    }
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const char* data = static_cast<const char*>(t.data_ptr());
    const int64_t total = static_cast<int64_t>(t.nbytes());
    const uint32_t crc = rollout_internal::Crc32(data, total);
    int64_t offset = 0;
    do {
      pb::WeightChunk chunk;
      chunk.set_version(version);
      chunk.set_name(name);
      chunk.set_offset(offset);
      if (offset == 0) {
        chunk.set_dtype(*dtype);
        for (int64_t d : t.sizes()) chunk.add_shape(d);
        chunk.set_total_bytes(total);
        chunk.set_crc32(crc);
      }
      const int64_t n = std::min(impl_->options.chunk_bytes, total - offset);
      chunk.set_data(data + offset, n);
      offset += n;
      if (!writer->Write(chunk)) break;  // the server ended the call; Finish() says why
    } while (offset < total);
  }
  writer->WritesDone();
  return FromGrpc(writer->Finish());
}

absl::StatusOr<EngineStatus> RolloutClient::GetStatus() {
  grpc::ClientContext ctx;
  SetDeadline(ctx, impl_->options.status_deadline_s);
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
