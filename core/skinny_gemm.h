// A float32 matmul for the few rows of a decode step (x (M, K), M the number of
// running sequences) and the many of a prefill, against a (N, K) weight prepacked
// into 16-column panels.
// Written here because a decode step is bound by streaming every weight from
// memory once, and oneDNN's packed matmul at these shapes did not overlap that
// stream with its arithmetic (profile of `rlvr bench rollout --batch-sizes 32`:
// its time was about the stream's plus the arithmetic's). This kernel prefetches
// the next panels while it computes on the current ones, and its panels sit on
// huge pages. `rlvr bench rollout` measures the result against transformers.
//
// Prefill takes it too: MKL does not use AVX-512 on every CPU that has it (on the AMD
// EPYC host its GEMM peak was 178-206 GFLOP/s on two threads, the multiply-add peak
// 455-506). There `rlvr bench rollout --batch-sizes 32 --hf-batch-sizes 32` (two
// threads, two alternating runs of binaries that differ only in this) went from
// 2002-2076 to 2497-2704 end-to-end tokens/s, 3.07-3.56x -> 3.74-3.90x transformers;
// with `--prompt-len 256 --new-tokens 8` (one run each pair): 75-77 -> 152-156 tokens/s,
// 1.28-1.38x -> 2.55-2.74x.
//
//   torch::Tensor p = PackSkinnyWeight(w);   // undefined without AVX-512
//   if (p.defined()) y = SkinnyLinear(x, p, w.size(0), b);
#ifndef RLVR_CORE_SKINNY_GEMM_H_
#define RLVR_CORE_SKINNY_GEMM_H_

#include <torch/types.h>

namespace rlvr {

// How PackSkinnyWeight stores the panels.
enum class PanelDtype {
  // bfloat16 where K is even and every value of the weight is a bfloat16 value (a
  // bfloat16 checkpoint's weights, widened to float32 on loading), else float32. Exact
  // either way: the kernel widens the bfloat16 values back, and SkinnyLinear gives the
  // same bits from half the bytes a decode step streams. `rlvr bench rollout
  // --batch-sizes 1,32,64 --hf-batch-sizes 32 --checkpoint-dtype {float32,bfloat16}` (two
  // threads, five alternating runs): batch-1 decode 193-244 -> 442-497 tokens/s, batch-32
  // decode MFU 0.64-0.68 -> 0.68-0.71, 3.58-4.14x -> 3.82-4.28x transformers.
  kExact,
  kFloat32,  // always float32
};

// The panel copy of a (N, K) float32 CPU weight, on huge pages (huge_pages.h):
// float32 (ceil(N / 16), K, 16), or bfloat16 (ceil(N / 16), K / 2, 32) holding k in
// pairs. An undefined tensor where LibTorch's kernels do not use AVX-512
// (cpu_isa.h: a CPU without it, or ATEN_CPU_CAPABILITY=avx2 or default) or the weight
// is not a 2-D float32 CPU tensor with K >= 1 (callers keep their other path).
torch::Tensor PackSkinnyWeight(const torch::Tensor& weight, PanelDtype dtype = PanelDtype::kExact);

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
