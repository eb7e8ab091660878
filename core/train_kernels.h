// Fused CPU float32 RMSNorm, SwiGLU and RoPE for the training (autograd) path
// of Transformer: each forward and each backward is one pass over the rows,
// replacing the chain of small LibTorch elementwise ops (pow, mean, rsqrt, mul,
// silu, neg, cat and their backward nodes) that otherwise dominates the step of
// a small model on the CPU. Private to core/model.cc; the decoding path uses
// FusedSiluMul too, and its own kernels (cpu_kernels.h) for the rest.
//
// The functions are differentiable (custom torch::autograd::Function nodes) when
// grad mode is on and an input requires grad, and plain kernels otherwise. They
// parallelise over rows with ATen's intra-op thread pool; the weight gradient is
// reduced in a fixed order, so results do not depend on the thread count.
#ifndef RLVR_CORE_TRAIN_KERNELS_H_
#define RLVR_CORE_TRAIN_KERNELS_H_

#include <torch/torch.h>

namespace rlvr::train {

// Whether the fused functions below take these tensors: all on the CPU and
// float32. Callers keep the LibTorch composition otherwise (bf16, CUDA).
bool UseFusedCpu(const torch::Tensor& a, const torch::Tensor& b);

// transformers' RMSNorm in float32: weight * (x / sqrt(mean(x^2, -1) + eps)).
// x: (..., D) float32 CPU, any strides (copied once when not contiguous);
// weight: (D) float32 CPU. Returns (..., D) contiguous. Gradients flow to x and
// to weight, each only when it requires grad.
torch::Tensor FusedRmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// SwiGLU: silu(gate) * up. gate, up: (..., I) float32 CPU of the same shape; each
// is read in place when its rows are evenly strided with a unit last stride
// (e.g. the two halves of a (..., 2I) gate_up projection), else copied once.
// Returns (..., I) contiguous.
torch::Tensor FusedSiluMul(const torch::Tensor& gate, const torch::Tensor& up);

// RoPE in the rotate_half form: x * cos + rotate_half(x) * sin, where
// rotate_half(x) = cat(-x2, x1) over the halves of the last dim.
// x: (..., H, D) float32 CPU, D even, any strides (copied once when not
// contiguous); cos, sin: (..., 1, D) float32 CPU, the same leading sizes as x,
// one row per token shared by its H heads; they must not require grad. Returns
// (..., H, D) contiguous; the gradient flows to x.
torch::Tensor FusedRope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace rlvr::train

#endif  // RLVR_CORE_TRAIN_KERNELS_H_
