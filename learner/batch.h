// Packed micro-batches: (prompt, completion) sequences packed end to end into rows, so
// little compute is spent on padding. The model attends within each sequence only
// (TokenBatch::segment_ids). A micro-batch is several rows run in one forward and
// backward pass; attention costs the square of a row's length, so rows are kept short
// and passes large. Per-token results come back as (B, Tc) tensors aligned with each
// sequence's completion, for the loss functions.
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

struct PackOptions {
  // Tokens per packed row (at most, with attention_tokens): a row's tokens attend
  // within their own sequence, but the attention kernel's cost grows with the square of
  // the row length. A longer sequence gets a row of its own; a group sharing a prompt
  // (below) that is longer is split into parts that fit, each with its own copy of the
  // prompt.
  int64_t row_tokens = 256;
  // Rows x row length per forward and backward pass (activation memory); a row longer
  // than this is a pass of its own.
  int64_t micro_batch_tokens = 8192;
  // 0: rows of row_tokens. > 0: the row cap is chosen per call among row_tokens and the
  // multiples of 16 from 32 below it, for the least estimated cost: padded tokens x
  // (1 + row width / attention_tokens), where attention over a row of that width costs
  // width / attention_tokens of the rest of a token's work (AttentionCostTokens). Short
  // rows waste little on attention, but a group split across rows repeats its prompt
  // and leaves rows part-empty.
  int64_t attention_tokens = 0;
  // Consecutive sequences with the same prompt (a GRPO group) share one copy of it:
  // the prompt but its last token is packed once as a parent segment that each
  // completion attends (TokenBatch::parent_ids), and each completion's segment starts
  // with the prompt's last token, which predicts its first completion token. The
  // results are those of packing each sequence whole, for ~(G-1)/G less prompt work.
  bool share_prompts = true;
};

struct PackedBatch {
  // (R, L): input ids, positions, segment ids and (with shared prompts) parent ids of
  // R rows; a row shorter than L is padded at its end with token 0 in segment -1.
  TokenBatch batch;
  torch::Tensor targets;       // (R, L) int64: next token at each position (0 where unused)
  std::vector<int64_t> index;  // which Sequence (index into the caller's list) each row of
                               // the (B, Tc) outputs belongs to
  torch::Tensor gather;        // (B, Tc) int64: flat position (row * L + column) of
                               // completion token t's prediction
  torch::Tensor mask;          // (B, Tc) float32: 1 on completion tokens in the loss
};

// The row width at which a token's attention costs as much as the rest of its work in
// a layer (its linear layers): per-layer linear parameters / (2 x query width).
int64_t AttentionCostTokens(const ModelConfig& config);

// Packs `sequences[indices]` into rows first-fit in the given order (each sequence,
// or run of sequences sharing a prompt, goes to the first row it fits in), then groups
// consecutive rows into micro-batches of at most options.micro_batch_tokens padded
// tokens; with options.attention_tokens, at the row cap of least estimated cost.
// Deterministic; every index appears in exactly one micro-batch.
std::vector<PackedBatch> PackSequences(const std::vector<Sequence>& sequences,
                                       const std::vector<int64_t>& indices,
                                       const PackOptions& options);

// Log-probabilities (and entropies when asked) of each packed sequence's completion
// tokens: (B, Tc) float32 tensors, times the mask (0 where it is 0). The output layer
// runs only where the mask is nonzero (options.only_positions is set here). Differentiable when
// grad mode is on and the model's parameters require grad.
absl::StatusOr<TokenLogprobsResult> CompletionLogprobs(const Transformer& model,
                                                       const PackedBatch& packed,
                                                       const TokenLogprobsOptions& options);

}  // namespace rlvr

#endif  // RLVR_LEARNER_BATCH_H_
