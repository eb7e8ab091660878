// Padding-free micro-batches: (prompt, completion) sequences packed end to end into
// one row, so no FLOP is spent on padding. The model attends within each sequence
// only (TokenBatch::segment_ids). Per-token results come back as (B, Tc) tensors
// aligned with each sequence's completion, for the loss functions.
#ifndef RLVR_LEARNER_BATCH_H_
#define RLVR_LEARNER_BATCH_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model.h"

namespace rlvr {

// One training sequence. The model predicts every completion token from what precedes it.
struct Sequence {
  std::vector<int64_t> prompt;      // at least one token
  std::vector<int64_t> completion;  // may be empty (contributes nothing)
  // Optional, completion.size() entries: 0 excludes a token from the loss (tool
  // observations in multi-turn episodes); empty = all 1.
  std::vector<float> completion_mask;
};

struct PackedBatch {
  TokenBatch batch;            // (1, L): input ids, positions and segment ids
  torch::Tensor targets;       // (1, L) int64: next token at each position (0 where unused)
  std::vector<int64_t> index;  // which Sequence (index into the caller's list) each row of
                               // the (B, Tc) outputs belongs to
  torch::Tensor gather;        // (B, Tc) int64: position in the row of completion token t
  torch::Tensor mask;          // (B, Tc) float32: 1 on completion tokens in the loss
};

// Packs `sequences[indices]` greedily, in the given order, into rows of at most
// `max_tokens` tokens (a longer sequence gets a row of its own).
std::vector<PackedBatch> PackSequences(const std::vector<Sequence>& sequences,
                                       const std::vector<int64_t>& indices, int64_t max_tokens);

// Log-probabilities (and entropies when asked) of each packed sequence's completion
// tokens: (B, Tc) float32 tensors, 0 where mask is 0. Differentiable when grad mode is
// on and the model's parameters require grad.
absl::StatusOr<TokenLogprobsResult> CompletionLogprobs(const Transformer& model,
                                                       const PackedBatch& packed,
                                                       const TokenLogprobsOptions& options);

}  // namespace rlvr

#endif  // RLVR_LEARNER_BATCH_H_
