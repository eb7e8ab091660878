#include "core/cpu_isa.h"

#include <cstdlib>
#include <cstring>

namespace rlvr {

CpuIsa KernelIsa() {
  static const CpuIsa isa = [] {
    const char* env = std::getenv("ATEN_CPU_CAPABILITY");
    const bool at_most_avx2 = env != nullptr && std::strcmp(env, "avx2") == 0;
    const bool baseline_only = env != nullptr && std::strcmp(env, "default") == 0;
#if defined(__x86_64__)
    if (!baseline_only && !at_most_avx2 && __builtin_cpu_supports("avx512f")) {
      return CpuIsa::kAvx512;
    }
    if (!baseline_only && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      return CpuIsa::kAvx2;
    }
#else
    (void)at_most_avx2;
    (void)baseline_only;
#endif
    return CpuIsa::kBaseline;
  }();
  return isa;
}

}  // namespace rlvr
