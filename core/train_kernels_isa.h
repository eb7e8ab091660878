// Row kernels behind core/train_kernels.h, private to it. train_kernels_isa.cc
// is compiled once per x86 instruction set (DEFAULT, AVX2, AVX512), each copy in
// its own namespace, because at::vec::Vectorized<float> is 8 or 16 lanes wide
// (and its exp a Sleef call) only when ATen's CPU_CAPABILITY macros are set at
// compile time; train_kernels.cc picks the copy LibTorch itself runs with.
//
// Every function handles the rows [begin, end) of row-major float32 buffers,
// allocates nothing and is safe to call concurrently on disjoint rows.
#ifndef RLVR_CORE_TRAIN_KERNELS_ISA_H_
#define RLVR_CORE_TRAIN_KERNELS_ISA_H_

#include <cstdint>

namespace rlvr::train {

struct RowKernels {
  // y[r] = w * (x[r] * rstd[r]), rstd[r] = 1 / sqrt(mean(x[r]^2) + eps).
  // x, y: (rows, dim); w: (dim); rstd: (rows).
  void (*rms_norm_forward)(const float* x, const float* w, float eps, int64_t dim, int64_t begin,
                           int64_t end, float* y, float* rstd);
  // With g = w * dy[r] and xhat = x[r] * rstd[r]:
  //   dx[r] = rstd[r] * (g - xhat * mean(xhat * g))   (skipped when dx is null)
  //   dw   += dy[r] * xhat, summed over the rows       (skipped when dw is null)
  // dy, dx: (rows, dim); dw: (dim), accumulated into.
  void (*rms_norm_backward)(const float* x, const float* w, const float* rstd, const float* dy,
                            int64_t dim, int64_t begin, int64_t end, float* dx, float* dw);
  // out[r] = silu(gate[r]) * up[r]; row r of gate starts at gate + r * gate_stride
  // (likewise up), each `inter` floats; out: (rows, inter) contiguous.
  void (*silu_mul_forward)(const float* gate, int64_t gate_stride, const float* up,
                           int64_t up_stride, int64_t inter, int64_t begin, int64_t end,
                           float* out);
  // With s = sigmoid(gate): dgate = dout * up * s * (1 + gate * (1 - s)) and
  // dup = dout * gate * s. dout, dgate, dup: (rows, inter) contiguous; dgate or
  // dup may be null (not computed).
  void (*silu_mul_backward)(const float* gate, int64_t gate_stride, const float* up,
                            int64_t up_stride, const float* dout, int64_t inter, int64_t begin,
                            int64_t end, float* dgate, float* dup);
  // RoPE of `heads` rows of `dim` (even) floats per token, each with its token's
  // cos and sin row: with x = (x1, x2) and cos, sin split into halves likewise,
  //   forward:  out = (x1 * cos1 - x2 * sin1, x2 * cos2 + x1 * sin2)
  //             (= x * cos + rotate_half(x) * sin)
  //   backward: out = (x1 * cos1 + x2 * sin2, x2 * cos2 - x1 * sin1)
  //             (the transpose: dx for an upstream gradient x)
  // x, out: (tokens, heads, dim); cos, sin: (tokens, dim); rows are tokens.
  void (*rope)(const float* x, const float* cos, const float* sin, int64_t heads, int64_t dim,
               bool backward, int64_t begin, int64_t end, float* out);
};

// One table per compiled instruction set; call only those the CPU supports.
namespace DEFAULT {
const RowKernels& Kernels();
}
#if defined(__x86_64__)
namespace AVX2 {
const RowKernels& Kernels();
}
namespace AVX512 {
const RowKernels& Kernels();
}
#endif

}  // namespace rlvr::train

#endif  // RLVR_CORE_TRAIN_KERNELS_ISA_H_
