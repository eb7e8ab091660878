// The instruction-set-specific range functions behind cpu_kernels.h, private to it:
// cpu_kernels_isa.cc compiled once per instruction set, one table each.
#ifndef RLVR_CORE_CPU_KERNELS_ISA_H_
#define RLVR_CORE_CPU_KERNELS_ISA_H_

#include <cstdint>

#include "core/cpu_kernels.h"

namespace rlvr::cpu {

// Each runs the items [begin, end) of the public function of the same name.
struct RangeKernels {
  void (*rms_norm)(const float* x, const float* weight, float eps, int64_t dim, float* out,
                   int64_t begin, int64_t end);
  // Items are (token, kv head) pairs: item = t * Hkv + h.
  void (*write_kv)(const CachedAttentionArgs& a, int64_t begin, int64_t end);
  void (*attend)(const CachedAttentionArgs& a, int64_t begin, int64_t end);
  void (*silu_mul)(const float* gate_up, int64_t inter, float* out, int64_t begin, int64_t end);
  void (*logit_stats)(const float* logits, int64_t vocab, const float* scale, int64_t* argmax,
                      float* logsumexp, int64_t begin, int64_t end);
  // Not a range: `iters` rounds of independent 16-lane multiply-adds held in registers
  // (MeasureFmaPeakFlops); returns the FLOPs done and writes a sum to *sink so nothing
  // is optimised away.
  double (*fma_loop)(int64_t iters, float* sink);
};

namespace baseline {
extern const RangeKernels kRangeKernels;
}
#if defined(__x86_64__)
namespace avx2 {
extern const RangeKernels kRangeKernels;  // AVX2 and FMA
}
namespace avx512 {
extern const RangeKernels kRangeKernels;  // AVX-512F
}
#endif

}  // namespace rlvr::cpu

#endif  // RLVR_CORE_CPU_KERNELS_ISA_H_
