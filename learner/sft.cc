#include "learner/sft.h"

#include <numeric>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "learner/distributed.h"
#include "learner/optim.h"

namespace rlvr {

absl::StatusOr<SftStepStats> SftStep(const Transformer& model, Optimizer& optimizer,
                                     DataParallel* dp, const std::vector<Sequence>& sequences,
                                     const SftOptions& options) {
  double local_tokens = 0;
  for (const Sequence& s : sequences) {
    if (s.prompt.empty()) return absl::InvalidArgumentError("sft: a sequence has an empty prompt");
    if (!s.completion_mask.empty() && s.completion_mask.size() != s.completion.size()) {
      return absl::InvalidArgumentError("sft: completion_mask must have one entry per token");
    }
    if (s.completion_mask.empty()) {
      local_tokens += static_cast<double>(s.completion.size());
    } else {
      local_tokens += std::accumulate(s.completion_mask.begin(), s.completion_mask.end(), 0.0);
    }
  }
  std::vector<double> totals{local_tokens};
  if (dp != nullptr) RETURN_IF_ERROR(dp->AllReduceSum(&totals));
  const double global_tokens = totals[0];
  if (global_tokens <= 0) {
    return absl::InvalidArgumentError("sft: the batch holds no completion tokens");
  }
  std::vector<int64_t> order(sequences.size());
  std::iota(order.begin(), order.end(), 0);
  double loss_sum = 0;
  try {
    torch::AutoGradMode grad(true);
    for (const PackedBatch& packed : PackSequences(sequences, order, options.packing)) {
      ASSIGN_OR_RETURN(TokenLogprobsResult r, CompletionLogprobs(model, packed, {}));
      torch::Tensor loss = -r.logprobs.sum() / global_tokens;
      loss.backward();
      loss_sum += loss.item<double>();
    }
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("sft step: ", e.what()));
  }
  std::vector<torch::Tensor> params;
  for (auto& [name, p] : model.NamedParameters()) params.push_back(p);
  if (dp != nullptr) {
    RETURN_IF_ERROR(dp->AllReduceGradients(params));
    std::vector<double> loss{loss_sum};
    RETURN_IF_ERROR(dp->AllReduceSum(&loss));
    loss_sum = loss[0];
  }
  ASSIGN_OR_RETURN(StepStats step, optimizer.Step());
  return SftStepStats{loss_sum, global_tokens, step.grad_norm, step.lr};
}

}  // namespace rlvr
