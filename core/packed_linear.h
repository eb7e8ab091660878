// Prepacked float32 linear layers for CPU inference: oneDNN's blocked weight
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

// x (M, K) float32 CPU -> (M, N): x @ weight^T + bias (bias (N) or undefined).
torch::Tensor PackedLinear(const torch::Tensor& x, const torch::Tensor& packed,
                           const torch::Tensor& bias);

}  // namespace rlvr

#endif  // RLVR_CORE_PACKED_LINEAR_H_
