// Which instruction set rlvr's own CPU kernels use (cpu_kernels.h, skinny_gemm.h,
// train_kernels.h): the one LibTorch picked for its own kernels (at::get_cpu_capability:
// the widest the CPU has, lowered by ATEN_CPU_CAPABILITY=avx2 or default), so the tests
// can run every copy on one machine.
//
//   if (KernelIsa() == CpuIsa::kAvx512) { ... }
#ifndef RLVR_CORE_CPU_ISA_H_
#define RLVR_CORE_CPU_ISA_H_

namespace rlvr {

enum class CpuIsa {
  kBaseline,  // the architecture's baseline (x86-64: SSE2)
  kAvx2,      // AVX2 with FMA
  kAvx512,    // AVX-512F, BW, VL and DQ
};

// Read once per process. Thread-safe.
CpuIsa KernelIsa();

}  // namespace rlvr

#endif  // RLVR_CORE_CPU_ISA_H_
