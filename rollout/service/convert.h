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
uint32_t Crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace rlvr::rollout_internal

#endif  // RLVR_ROLLOUT_SERVICE_CONVERT_H_
