// A float32 matmul for the few rows of a decode step: x (M, K), M the number of
// running sequences, against a (N, K) weight prepacked into 16-column panels.
// Written here because a decode step is bound by streaming every weight from
// memory once, and oneDNN's packed matmul at these shapes did not overlap that
// stream with its arithmetic (profile of `rlvr bench rollout --batch-sizes 32`:
// its time was about the stream's plus the arithmetic's). This kernel prefetches
// the next panels while it computes on the current ones, and its panels sit on
// huge pages. `rlvr bench rollout` measures the result against transformers.
//
//   torch::Tensor p = PackSkinnyWeight(w);   // undefined without AVX-512
//   if (p.defined() && x.size(0) <= kMaxSkinnyRows) y = SkinnyLinear(x, p, w.size(0), b);
#ifndef RLVR_CORE_SKINNY_GEMM_H_
#define RLVR_CORE_SKINNY_GEMM_H_

#include <torch/types.h>

namespace rlvr {

// The (ceil(N / 16), K, 16) panel copy of a (N, K) float32 CPU weight, on huge pages
// (huge_pages.h); an undefined tensor where LibTorch's kernels do not use AVX-512
// (cpu_isa.h: a CPU without it, or ATEN_CPU_CAPABILITY=avx2 or default) or the weight
// is not a 2-D float32 CPU tensor with K >= 1 (callers keep their other path).
torch::Tensor PackSkinnyWeight(const torch::Tensor& weight);

// Largest M the model uses the panel kernel for (decode batches). SkinnyLinear takes
// any M, but for prefill's thousands of rows MKL on the plain weight is faster.
inline constexpr int64_t kMaxSkinnyRows = 128;

// x (M, K) float32 CPU, packed from PackSkinnyWeight of a (n, K) weight, bias (n)
// or undefined -> (M, n) = x @ weight^T + bias. Splits the panels over ATen's
// intra-op threads; each output is summed by one thread in one order, so the result
// does not depend on the thread count. Throws c10::Error when the shapes, dtypes or
// the packed layout do not match, or without AVX-512F. Thread-safe.
torch::Tensor SkinnyLinear(const torch::Tensor& x, const torch::Tensor& packed, int64_t n,
                           const torch::Tensor& bias);

// y += x @ weight^T + bias, with y (M, n) float32 (unit column stride; rows may be
// further apart), in the product's stores: the residual add of a decode step without
// an extra pass over y. Each output is one thread's (x @ weight^T + bias) + y, the
// same bits as y.add_(SkinnyLinear(x, packed, n, bias)). Throws as SkinnyLinear, and
// when y's shape or dtype does not match. y must not overlap x.
void SkinnyLinearAddTo(const torch::Tensor& x, const torch::Tensor& packed, int64_t n,
                       const torch::Tensor& bias, const torch::Tensor& y);

}  // namespace rlvr

#endif  // RLVR_CORE_SKINNY_GEMM_H_
