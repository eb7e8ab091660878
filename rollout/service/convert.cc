#include "rollout/service/convert.h"

#include <libdeflate.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace rlvr::rollout_internal {
namespace pb = rlvr::rollout::v1;

namespace {

absl::Status CheckUnknown(const google::protobuf::Message& m, const std::string& path) {
  const google::protobuf::Reflection* r = m.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown = r->GetUnknownFields(m);
  const std::string prefix = path.empty() ? "" : path + ".";
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path.empty() ? "request" : path, ": unknown field number ", unknown.field(0).number()));
  }
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        absl::Status s = CheckUnknown(r->GetRepeatedMessage(m, f, i),
                                      absl::StrCat(prefix, f->name(), "[", i, "]"));
        if (!s.ok()) return s;
      }
    } else {
      absl::Status s = CheckUnknown(r->GetMessage(m, f), prefix + f->name());
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

void ApplySampling(const pb::SamplingParams& p, SamplingParams& out) {
  if (p.has_temperature()) out.temperature = p.temperature();
  if (p.has_top_k()) out.top_k = p.top_k();
  if (p.has_top_p()) out.top_p = p.top_p();
  if (p.has_min_p()) out.min_p = p.min_p();
  if (p.has_max_new_tokens()) out.max_new_tokens = p.max_new_tokens();
  if (p.stop_token_ids_size() > 0) {
    out.stop_token_ids.assign(p.stop_token_ids().begin(), p.stop_token_ids().end());
  }
  if (p.stop_strings_size() > 0) {
    out.stop_strings.assign(p.stop_strings().begin(), p.stop_strings().end());
  }
  if (p.ignore_eos()) out.ignore_eos = true;
  if (p.seed() != 0) out.seed = p.seed();
}

pb::SamplingParams SamplingToProto(const SamplingParams& s) {
  pb::SamplingParams p;
  p.set_temperature(s.temperature);
  p.set_top_k(s.top_k);
  p.set_top_p(s.top_p);
  p.set_min_p(s.min_p);
  p.set_max_new_tokens(s.max_new_tokens);
  for (int64_t id : s.stop_token_ids) p.add_stop_token_ids(id);
  for (const auto& str : s.stop_strings) p.add_stop_strings(str);
  p.set_ignore_eos(s.ignore_eos);
  p.set_seed(s.seed);
  return p;
}

}  // namespace

absl::Status CheckNoUnknownFields(const google::protobuf::Message& message) {
  return CheckUnknown(message, "");
}

std::vector<GenerationRequest> FromProto(const pb::GenerateRequest& request) {
  std::vector<GenerationRequest> out;
  for (const pb::Prompt& p : request.prompts()) {
    GenerationRequest r;
    r.id = p.id();
    r.prompt_ids.assign(p.token_ids().begin(), p.token_ids().end());
    r.n = p.n();
    ApplySampling(request.sampling(), r.sampling);
    if (p.has_sampling()) ApplySampling(p.sampling(), r.sampling);
    out.push_back(std::move(r));
  }
  return out;
}

pb::GenerateRequest ToProto(const std::vector<GenerationRequest>& requests) {
  pb::GenerateRequest out;
  for (const GenerationRequest& r : requests) {
    pb::Prompt* p = out.add_prompts();
    p->set_id(r.id);
    for (int32_t id : r.prompt_ids) p->add_token_ids(id);
    p->set_n(r.n);
    *p->mutable_sampling() = SamplingToProto(r.sampling);
  }
  return out;
}

pb::Completion ToProto(const Completion& c) {
  pb::Completion p;
  p.set_request_id(c.request_id);
  p.set_request_index(c.request_index);
  p.set_sample_index(c.sample_index);
  for (int32_t id : c.token_ids) p.add_token_ids(id);
  p.set_text(c.text);
  for (float lp : c.logprobs) p.add_logprobs(lp);
  switch (c.finish_reason) {
    case FinishReason::kStop:
      p.set_finish_reason(pb::FINISH_REASON_STOP);
      break;
    case FinishReason::kLength:
      p.set_finish_reason(pb::FINISH_REASON_LENGTH);
      break;
    case FinishReason::kAbort:
      p.set_finish_reason(pb::FINISH_REASON_ABORT);
      break;
  }
  p.set_policy_version(c.policy_version);
  for (int64_t v : c.policy_versions) p.add_policy_versions(v);
  return p;
}

Completion FromProto(const pb::Completion& p) {
  Completion c;
  c.request_id = p.request_id();
  c.request_index = p.request_index();
  c.sample_index = p.sample_index();
  c.token_ids.assign(p.token_ids().begin(), p.token_ids().end());
  c.text = p.text();
  c.logprobs.assign(p.logprobs().begin(), p.logprobs().end());
  switch (p.finish_reason()) {
    case pb::FINISH_REASON_LENGTH:
      c.finish_reason = FinishReason::kLength;
      break;
    case pb::FINISH_REASON_ABORT:
      c.finish_reason = FinishReason::kAbort;
      break;
    default:
      c.finish_reason = FinishReason::kStop;
  }
  c.policy_version = p.policy_version();
  c.policy_versions.assign(p.policy_versions().begin(), p.policy_versions().end());
  return c;
}

absl::StatusOr<torch::ScalarType> DtypeFromName(const std::string& name) {
  if (name == "float32") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float16") return torch::kFloat16;
  return absl::InvalidArgumentError(absl::StrCat("dtype: unsupported \"", name, "\""));
}

absl::StatusOr<std::string> DtypeName(torch::ScalarType dtype) {
  if (dtype == torch::kFloat32) return std::string("float32");
  if (dtype == torch::kBFloat16) return std::string("bfloat16");
  if (dtype == torch::kFloat16) return std::string("float16");
  return absl::InvalidArgumentError("dtype: only float32, bfloat16 and float16 weights are sent");
}

uint32_t Crc32(const void* data, size_t size, uint32_t crc) {
  return libdeflate_crc32(crc, data, size);
}

std::string WeightChunkPrefix(const pb::WeightChunk& chunk, size_t data_size) {
  std::string out = chunk.SerializeAsString();
  constexpr uint8_t kDataKey = (8 << 3) | 2;  // field 8, length-delimited
  out.push_back(static_cast<char>(kDataKey));
  uint64_t n = data_size;
  while (n >= 0x80) {  // base-128 varint, low groups first
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
  return out;
}

}  // namespace rlvr::rollout_internal
