// Which instruction set rlvr's own CPU kernels use (cpu_kernels.h, skinny_gemm.h): the
// widest the CPU has, narrowed by ATEN_CPU_CAPABILITY (avx2, default) as LibTorch's
// own kernels are, so the tests can run every copy on one machine.
//
//   if (KernelIsa() == CpuIsa::kAvx512) { ... }
#ifndef RLVR_CORE_CPU_ISA_H_
#define RLVR_CORE_CPU_ISA_H_

namespace rlvr {

enum class CpuIsa {
  kBaseline,  // the architecture's baseline (x86-64: SSE2)
  kAvx2,      // AVX2 with FMA
  kAvx512,    // AVX-512F
};

// Read once per process. Thread-safe.
CpuIsa KernelIsa();

}  // namespace rlvr

#endif  // RLVR_CORE_CPU_ISA_H_
