// Transformer: the decoder-only policy model of the Llama / Qwen2 / Qwen3
// families (RMSNorm, RoPE, grouped-query attention, SwiGLU, optional q/k/v
// bias and q/k RMSNorm, tied or untied embeddings), on LibTorch tensors.
//
// Weights use the Hugging Face names ("model.layers.0.self_attn.q_proj.weight")
// everywhere: loading, saving, NamedParameters() and weight sync.
//
//   ASSIGN_OR_RETURN(Transformer model, Transformer::Load("/ckpt/Qwen3-0.6B", {}));
//   ASSIGN_OR_RETURN(TokenLogprobsResult r, model.TokenLogprobs(batch, targets, {}));
//
// Thread safety: const methods may run concurrently with each other; anything
// that changes weights (LoadNamedTensors, optimizer steps on NamedParameters)
// must not overlap any other call. A KVCache is driven by one thread.
//
// Decoding speed: a float32 CPU model made without requires_grad decodes
// (Prefill, PrefillBatch, DecodeStep) through fused kernels and a prepacked
// copy of its matmul weights of at least 512 x 512 (skinny_gemm.h on CPUs with AVX-512,
// else packed_linear.h), made on first use (about the size of those weights again; half
// that with AVX-512 for weights that are bfloat16 values, as a bfloat16 checkpoint's are).
// LoadNamedTensors refreshes that copy; writing into NamedParameters() of such a model does
// not, so change its weights through LoadNamedTensors. Errors: absl::Status; LibTorch
// exceptions never escape these methods.
#ifndef RLVR_CORE_MODEL_H_
#define RLVR_CORE_MODEL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/kv_cache.h"
#include "core/model_config.h"

namespace rlvr {

struct ModelOptions {
  torch::Device device = torch::kCPU;
  // Parameter and activation dtype: kFloat32, kBFloat16 (or kFloat16).
  // Logits and log-probabilities are always returned as float32.
  torch::ScalarType dtype = torch::kFloat32;
  // Parameters are created with requires_grad (for the learner's policy).
  bool requires_grad = false;
};

struct SaveOptions {
  // Shards larger checkpoints as model-0000i-of-0000n.safetensors with a
  // model.safetensors.index.json, like transformers does.
  int64_t max_shard_bytes = int64_t{5} << 30;
};

// One batch of token rows for the full-sequence path.
//
// Padding-free packing: several sequences may be concatenated in one row;
// `segment_ids` tells them apart and attention is causal within each segment
// only (block-diagonal), with `position_ids` restarting per sequence.
// Padding is a segment of its own (e.g. id -1); its outputs are meaningless
// and must be masked by the caller.
struct TokenBatch {
  torch::Tensor input_ids;     // (B, T) int64
  torch::Tensor position_ids;  // (B, T) int64; undefined = position within each
                               //   run of equal segment ids (0, 1, ... per segment)
  torch::Tensor segment_ids;   // (B, T) int64; undefined = one causal sequence per row
  // (B, T) int64 or undefined (none): a segment whose earlier tokens this token also
  // attends, -1 for none. A prompt shared by several completions is packed once as
  // their parent segment. Requires segment_ids and position_ids.
  torch::Tensor parent_ids;
};

struct TokenLogprobsOptions {
  double temperature = 1.0;  // logits are divided by this before log-softmax
  bool with_entropy = false;
  // Sequence positions per chunk of the (chunk, V) logits; beyond the chunks
  // kept under max_saved_bytes, the full (T, V) logits never exist at once, in
  // the forward nor the backward pass.
  int64_t chunk_size = 512;
  // With autograd, the float32 log-softmax of the first chunks is kept for the
  // backward pass up to this many bytes; the backward pass recomputes the logits
  // of the other chunks (one more (chunk, H) x (H, V) matmul each). 0 = always
  // recompute, the least memory.
  int64_t max_saved_bytes = int64_t{256} << 20;
  // Optional (N) int64 flat positions into the (B * T) tokens: the log-probabilities
  // (and entropies) of only these positions, returned as (N) tensors. The output
  // layer and log-softmax, a large share of the work with a large vocabulary, then
  // skip the positions nothing is learned from (prompts, padding). An index outside
  // [0, B * T) is an InvalidArgument error.
  torch::Tensor only_positions;
};

struct PrefillBatchOptions {
  // Tokens per forward pass (bounds the activations); prompts are split across
  // passes where needed.
  int64_t max_chunk_tokens = 4096;
};

struct TokenLogprobsResult {
  // (B, T) float32, or (N) with TokenLogprobsOptions::only_positions:
  torch::Tensor logprobs;  // log p(target[b,t] | input[b, <=t])
  torch::Tensor entropy;   // when with_entropy, else undefined
};

class Transformer {
 public:
  // Reads `dir`/config.json and the weights from `dir`/model.safetensors or
  // the shards listed in `dir`/model.safetensors.index.json, converting them
  // to options.dtype on options.device. INVALID_ARGUMENT naming the file for
  // a missing directory, bad config, missing/unexpected tensor, wrong shape.
  static absl::StatusOr<Transformer> Load(const std::string& dir, const ModelOptions& options);
  // Random weights (normal(0, 0.02) matrices, unit norms, zero biases),
  // deterministic in `seed`.
  static absl::StatusOr<Transformer> RandomInit(const ModelConfig& config, uint64_t seed,
                                                const ModelOptions& options);

  Transformer(Transformer&&) noexcept;
  Transformer& operator=(Transformer&&) noexcept;
  ~Transformer();

  // Writes config.json and the weights (in the model's dtype, HF names) to
  // `dir` (created if needed) so that transformers' from_pretrained loads it.
  absl::Status Save(const std::string& dir, const SaveOptions& options = {}) const;

  // A deep copy (e.g. the learner's frozen reference model).
  absl::StatusOr<Transformer> Clone(const ModelOptions& options) const;

  const ModelConfig& config() const;
  const ModelOptions& options() const;

  // Every parameter by HF name, in checkpoint order. The tensors alias the
  // model's storage: optimizers update them in place. With tied embeddings
  // there is no "lm_head.weight".
  std::vector<std::pair<std::string, torch::Tensor>> NamedParameters() const;

  // Atomic weight swap: checks that `tensors` names exactly the model's
  // parameters (tied "lm_head.weight" is accepted and ignored) with the right
  // shapes, then copies them in (converting dtype/device). On error nothing changed.
  absl::Status LoadNamedTensors(const std::map<std::string, torch::Tensor>& tensors);

  // Full forward, for tests and small uses. Returns (B, T, V) float32.
  absl::StatusOr<torch::Tensor> Logits(const TokenBatch& batch) const;
  absl::StatusOr<torch::Tensor> Logits(const torch::Tensor& input_ids) const;  // (B, T) int64

  // Training path: log-probabilities of target_ids (B, T) int64 under the
  // logits at the same positions (targets are usually inputs shifted by one),
  // computed chunk by chunk over the sequence. Autograd flows to the
  // parameters when grad mode is on and requires_grad was set.
  absl::StatusOr<TokenLogprobsResult> TokenLogprobs(const TokenBatch& batch,
                                                    const torch::Tensor& target_ids,
                                                    const TokenLogprobsOptions& options = {}) const;

  // Decoding path (runs under inference mode; no autograd).
  //
  // Appends `tokens` to `slot` at positions length(slot) .. length+n-1 and
  // returns the logits after the last one: (V) float32.
  absl::StatusOr<torch::Tensor> Prefill(KVCache& cache, int64_t slot,
                                        const std::vector<int64_t>& tokens) const;
  // Prefill for several slots in one forward pass: appends prompts[i] to
  // slots[i] (distinct slots) and returns the logits after each prompt's last
  // token: (P, V) float32, row i for prompts[i]. The same numbers as Prefill
  // of each prompt alone, at the cost of one batched pass.
  absl::StatusOr<torch::Tensor> PrefillBatch(KVCache& cache, const std::vector<int64_t>& slots,
                                             const std::vector<std::vector<int64_t>>& prompts,
                                             const PrefillBatchOptions& options = {}) const;
  // One token for each of B slots of possibly different lengths.
  // slot_ids, tokens, positions: (B) int64 on CPU; positions[b] <= length(slot)
  // (usually ==; smaller rewinds the slot). Slots must be distinct.
  // Returns (B, V) float32 logits; afterwards length(slot) = positions[b] + 1.
  absl::StatusOr<torch::Tensor> DecodeStep(KVCache& cache, const torch::Tensor& slot_ids,
                                           const torch::Tensor& tokens,
                                           const torch::Tensor& positions) const;

 private:
  struct Impl;
  explicit Transformer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rlvr

#endif  // RLVR_CORE_MODEL_H_
