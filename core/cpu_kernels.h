// CPU float32 kernels for the decoding path of Transformer (Prefill,
// PrefillBatch, DecodeStep): each replaces a run of small LibTorch ops per layer
// and token with one pass over the data. Written here because no packaged
// library attends over this KV cache layout with the q/k RMSNorm and RoPE of
// the Qwen3 family applied on the way in.
//
// Arguments are raw row-major float32 buffers; the functions parallelise with
// ATen's intra-op thread count (core/spin_pool.h) and never allocate tensors. They run
// the AVX-512, AVX2 or baseline copy of their loops (cpu_kernels_isa.h), as LibTorch
// picked for its own kernels (cpu_isa.h).
#ifndef RLVR_CORE_CPU_KERNELS_H_
#define RLVR_CORE_CPU_KERNELS_H_

#include <cstdint>

namespace rlvr::cpu {

// Largest head_dim CachedAttention handles (its per-head scratch lives on the stack).
inline constexpr int64_t kMaxHeadDim = 512;

// out[r, :] = weight * (x[r, :] / sqrt(mean(x[r, :]^2) + eps)), for `rows` rows of
// `dim` floats; as transformers' RMSNorm computes it in float32. out may equal x.
void RmsNormRows(const float* x, const float* weight, float eps, int64_t rows, int64_t dim,
                 float* out);

// out[r, i] = silu(gate_up[r, i]) * gate_up[r, inter + i] for `rows` rows, silu(g) =
// g * sigmoid(g): the SwiGLU of a (rows, 2 * inter) fused gate/up projection into
// (rows, inter). out must not overlap gate_up. On the decode path in place of
// train::FusedSiluMul, whose OpenMP loop woke the engine thread's own team every layer:
// with it and the residual add in the matmul's stores (skinny_gemm.h), `rlvr bench
// rollout --batch-sizes 1,32 --hf-batch-sizes ""` (two threads, three alternating runs
// each) went 1551-1577 -> 1653-1735 batch-32 decode tokens/s.
void SiluMulRows(const float* gate_up, int64_t rows, int64_t inter, float* out);

struct CachedAttentionArgs {
  int64_t num_tokens = 0;
  int64_t num_heads = 0;     // Hq
  int64_t num_kv_heads = 0;  // Hkv; query head j uses key/value head j / (Hq / Hkv)
  int64_t head_dim = 0;      // D <= kMaxHeadDim
  // (num_tokens, (Hq + 2 * Hkv) * D): the q heads, then the k heads, then the v heads.
  const float* qkv = nullptr;
  const float* q_norm = nullptr;  // (D): RMSNorm weight of every q head, or null (none)
  const float* k_norm = nullptr;  // (D) or null
  float norm_eps = 1e-6f;
  // (num_tokens, D) each: RoPE cos and sin of the token's position (rotate_half form).
  const float* cos = nullptr;
  const float* sin = nullptr;
  const int64_t* slots = nullptr;      // (num_tokens): the token's KV cache slot
  const int64_t* positions = nullptr;  // (num_tokens): its position in that slot
  // (num_slots, Hkv, max_len, D) each: a slot's keys of one head are contiguous.
  float* key_cache = nullptr;
  float* value_cache = nullptr;
  int64_t max_len = 0;
  float scale = 0;       // on q.k before the softmax
  float* out = nullptr;  // (num_tokens, Hq * D)
};

// For every token t: applies the q/k RMSNorm (where given) and RoPE, writes its key
// and value to the cache at (slots[t], positions[t]), then attends its queries over
// the cache positions 0..positions[t] of its slot. All keys and values are written
// before any token attends, so a prompt's tokens may be processed in one call.
// (slot, position) pairs must be distinct; the caller checks bounds.
void CachedAttention(const CachedAttentionArgs& args);

// What sampling needs of each row r of `logits` (rows, vocab >= 1), in one read for
// the argmax and one for the sum:
//   argmax[r]: the first index of the row's largest logit;
//   logsumexp[r] = log(sum_v exp(logits[r, v] * scale[r])) (scale > 0), so that
//   log_softmax(logits[r] * scale[r])[v] = logits[r, v] * scale[r] - logsumexp[r].
// A row holding a NaN or +infinity, or all -infinity, gets a NaN logsumexp (and any
// index as argmax).
// Replaces LibTorch's argmax and log_softmax on the decode step, which write a
// (rows, vocab) log-softmax nobody reads but for one token per row.
void LogitStats(const float* logits, int64_t rows, int64_t vocab, const float* scale,
                int64_t* argmax, float* logsumexp);

// The float32 multiply-add rate of this copy of the loops on `threads` threads at once,
// in FLOP/s (best of 5 passes of about 20 ms): independent chains of multiply-adds held
// in registers, the ceiling of any float32 matmul the kernels can run. The rollout
// bench's MFU denominator where it beats LibTorch's GEMM (whose MKL may not use
// AVX-512 on every CPU). threads >= 1.
double MeasureFmaPeakFlops(int threads);

}  // namespace rlvr::cpu

#endif  // RLVR_CORE_CPU_KERNELS_H_
