#include "rollout/generator.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"

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

absl::Status CheckFitsContext(const GenerationRequest& request, int64_t new_tokens, int64_t context,
                              const std::string& context_key) {
  const int64_t need = static_cast<int64_t>(request.prompt_ids.size()) + new_tokens;
  if (context <= 0 || need <= context) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(context_key, ": request ", request.id, ": a prompt of ",
                   request.prompt_ids.size(), " tokens and ", new_tokens, " new tokens need ", need,
                   " tokens, more than the context of ", context));
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
