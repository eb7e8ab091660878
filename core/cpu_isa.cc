#include "core/cpu_isa.h"

#include <string>

#include <ATen/Version.h>

namespace rlvr {

CpuIsa KernelIsa() {
  // LibTorch's own choice (the CPU's features, lowered by ATEN_CPU_CAPABILITY): its
  // "AVX512" implies AVX-512F/BW/VL/DQ, "AVX2" implies FMA; anything else (DEFAULT, or
  // another architecture's names) is the baseline.
  static const CpuIsa isa = [] {
#if defined(__x86_64__)
    const std::string capability = at::get_cpu_capability();
    if (capability == "AVX512") return CpuIsa::kAvx512;
    if (capability == "AVX2") return CpuIsa::kAvx2;
#endif
    return CpuIsa::kBaseline;
  }();
  return isa;
}

}  // namespace rlvr
