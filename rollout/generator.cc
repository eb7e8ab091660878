#include "rollout/generator.h"

#include <algorithm>
#include <tuple>

namespace rlvr {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kAbort:
      return "abort";
  }
  return "unknown";
}

absl::StatusOr<std::vector<Completion>> Generator::Generate(
    const std::vector<GenerationRequest>& requests) {
  std::vector<Completion> out;
  absl::Status status =
      GenerateStream(requests, [&out](Completion c) { out.push_back(std::move(c)); });
  if (!status.ok()) return status;
  std::sort(out.begin(), out.end(), [](const Completion& a, const Completion& b) {
    return std::tie(a.request_index, a.sample_index) < std::tie(b.request_index, b.sample_index);
  });
  return out;
}

}  // namespace rlvr
