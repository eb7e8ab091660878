// The instruction-set-specific kernel behind skinny_gemm.h, private to it.
#ifndef RLVR_CORE_SKINNY_GEMM_ISA_H_
#define RLVR_CORE_SKINNY_GEMM_ISA_H_

#include <cstdint>

namespace rlvr::skinny {

struct GemmArgs {
  int64_t m = 0, n = 0, k = 0;
  const float* x = nullptr;  // (m, k), row stride ldx
  int64_t ldx = 0;
  // 16-column panels, zero past n: float32 (ceil(n / 16), k, 16), or with
  // bfloat16_pairs (k even) bfloat16 (ceil(n / 16), k / 2, 16, 2), where [p][i][c][t]
  // is column 16p + c at k = 2i + t: one 64-byte line holds two k.
  const void* packed = nullptr;
  bool bfloat16_pairs = false;
  const float* bias = nullptr;  // (n) or null
  float* y = nullptr;           // (m, n), row stride ldy
  int64_t ldy = 0;
  bool accumulate = false;  // y += x @ w^T + bias instead of y =
};

#if defined(__x86_64__)
namespace avx512 {
// y[:, 16 * panel_begin, 16 * panel_end) = x @ w^T + bias over those panels (+= with
// args.accumulate).
// Needs AVX-512F; allocates nothing; disjoint panel ranges may run concurrently.
void Gemm(const GemmArgs& args, int64_t panel_begin, int64_t panel_end);
}  // namespace avx512
#endif

}  // namespace rlvr::skinny

#endif  // RLVR_CORE_SKINNY_GEMM_ISA_H_
