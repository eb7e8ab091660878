// Prepacked float32 linear layers for CPU inference on CPUs without AVX-512
// (with it the model uses skinny_gemm.h instead): oneDNN's blocked weight
// layout (the mkldnn::_reorder_linear_weight and mkldnn::_linear_pointwise ops
// that ship with LibTorch, as PyTorch's own compiler uses them): the weight is
// packed once instead of on every call, which matters most for the skinny
// matmuls of decoding (`rlvr bench rollout` measures the decoding path as a whole).
//
//   torch::Tensor packed = PackLinearWeight(w);   // undefined when unavailable
//   y = packed.defined() ? PackedLinear(x, packed, b) : at::linear(x, w, b);
#ifndef RLVR_CORE_PACKED_LINEAR_H_
#define RLVR_CORE_PACKED_LINEAR_H_

#include <torch/types.h>

namespace rlvr {

// The packed copy of a (N, K) float32 CPU weight; an undefined tensor when this
// LibTorch lacks the ops (builds without oneDNN) or the weight does not qualify.
torch::Tensor PackLinearWeight(const torch::Tensor& weight);

// Whether packing a (N, K) weight pays, and from how many rows M of x: below these
// bounds oneDNN's per-call overhead outweighs the packing (the tiny default model's
// weights, and one-row decoding). `rlvr bench rollout --batch-sizes 1,32,64 --threads 1`
// shows the effect against transformers' generate in the same run (README, Measured).
inline constexpr int64_t kMinPackedDim = 512;
inline constexpr int64_t kMinPackedRows = 8;
bool PackingPays(const torch::Tensor& weight);

// x (M, K) float32 CPU -> (M, N): x @ weight^T + bias (bias (N) or undefined).
// oneDNN builds a kernel for every new M it sees (about 1 ms each): above 128 rows
// (prefill, whose M is the total prompt length) x is padded to a multiple of 64 rows,
// so a run builds a bounded number of kernels.
torch::Tensor PackedLinear(const torch::Tensor& x, const torch::Tensor& packed,
                           const torch::Tensor& bias);

}  // namespace rlvr

#endif  // RLVR_CORE_PACKED_LINEAR_H_
