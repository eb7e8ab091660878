// Conversions between rollout.proto messages and the domain types of
// rollout/generator.h. Internal to the service edge (server and client).
#ifndef RLVR_ROLLOUT_SERVICE_CONVERT_H_
#define RLVR_ROLLOUT_SERVICE_CONVERT_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rollout.pb.h"
#include "rollout/generator.h"

namespace rlvr::rollout_internal {

// INVALID_ARGUMENT naming the first unknown field (by number) in `message` or
// any nested message, e.g. "prompts[0].sampling: unknown field 42".
absl::Status CheckNoUnknownFields(const google::protobuf::Message& message);

// Requests from a GenerateRequest (no range checks; the engine validates).
std::vector<GenerationRequest> FromProto(const rlvr::rollout::v1::GenerateRequest& request);
rlvr::rollout::v1::GenerateRequest ToProto(const std::vector<GenerationRequest>& requests);

rlvr::rollout::v1::Completion ToProto(const Completion& completion);
Completion FromProto(const rlvr::rollout::v1::Completion& completion);

// Weight bytes: "float32" / "bfloat16" / "float16".
absl::StatusOr<torch::ScalarType> DtypeFromName(const std::string& name);
absl::StatusOr<std::string> DtypeName(torch::ScalarType dtype);

// CRC-32 with zlib's polynomial and results (crc32(crc, data, size)), computed with
// libdeflate's carry-less-multiply routine, several times faster than zlib's.
// Chains: Crc32(b, nb, Crc32(a, na)) == Crc32(a followed by b).
uint32_t Crc32(const void* data, size_t size, uint32_t crc = 0);

// The wire bytes of `chunk`, whose data field must be empty, followed by the key and
// length of a data field (field 8) of `data_size` bytes. Those bytes appended to the
// prefix form exactly the message protobuf writes for `chunk` with that data, so a
// sender can pass tensor memory to gRPC without copying it into the message.
std::string WeightChunkPrefix(const rlvr::rollout::v1::WeightChunk& chunk, size_t data_size);

}  // namespace rlvr::rollout_internal

#endif  // RLVR_ROLLOUT_SERVICE_CONVERT_H_
