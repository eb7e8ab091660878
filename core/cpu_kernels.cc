#include "core/cpu_kernels.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/cpu_isa.h"
#include "core/cpu_kernels_isa.h"
#include "core/spin_pool.h"

namespace rlvr::cpu {
namespace {

// The copy of the loops for KernelIsa().
const RangeKernels& Kernels() {
  switch (KernelIsa()) {
#if defined(__x86_64__)
    case CpuIsa::kAvx512:
      return avx512::kRangeKernels;
    case CpuIsa::kAvx2:
      return avx2::kRangeKernels;
#endif
    default:
      return baseline::kRangeKernels;
  }
}

int64_t Grain(int64_t work_per_item) {
  // About 32k multiply-adds per task: below that a thread hand-off costs more.
  return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, work_per_item));
}

}  // namespace

void LogitStats(const float* logits, int64_t rows, int64_t vocab, const float* scale,
                int64_t* argmax, float* logsumexp) {
  ParallelFor(0, rows, Grain(4 * vocab), [&](int64_t begin, int64_t end) {
    Kernels().logit_stats(logits, vocab, scale, argmax, logsumexp, begin, end);
  });
}

void SiluMulRows(const float* gate_up, int64_t rows, int64_t inter, float* out) {
  ParallelFor(0, rows, Grain(8 * inter), [&](int64_t begin, int64_t end) {
    Kernels().silu_mul(gate_up, inter, out, begin, end);
  });
}

void RmsNormRows(const float* x, const float* weight, float eps, int64_t rows, int64_t dim,
                 float* out) {
  ParallelFor(0, rows, Grain(dim), [&](int64_t begin, int64_t end) {
    Kernels().rms_norm(x, weight, eps, dim, out, begin, end);
  });
}

void CachedAttention(const CachedAttentionArgs& a) {
  const int64_t items = a.num_tokens * a.num_kv_heads;
  const int64_t group = a.num_heads / a.num_kv_heads;
  ParallelFor(0, items, Grain(a.head_dim * 4),
              [&](int64_t begin, int64_t end) { Kernels().write_kv(a, begin, end); });
  int64_t max_len = 1;
  for (int64_t t = 0; t < a.num_tokens; ++t) max_len = std::max(max_len, a.positions[t] + 1);
  ParallelFor(0, items, Grain(2 * group * a.head_dim * max_len),
              [&](int64_t begin, int64_t end) { Kernels().attend(a, begin, end); });
}

double MeasureFmaPeakFlops(int threads) {
  threads = std::max(threads, 1);
  const auto fma_loop = Kernels().fma_loop;
  // Seconds for `n` threads to run `iters` rounds each; their sums go to `sinks` (so
  // the loops cannot be dropped) and are ignored.
  double flops_per_thread = 0;
  auto seconds = [&](int64_t iters, int n) {
    std::vector<float> sinks(n);
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 1; t < n; ++t) pool.emplace_back([&, t] { fma_loop(iters, &sinks[t]); });
    flops_per_thread = fma_loop(iters, &sinks[0]);
    for (std::thread& t : pool) t.join();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // About 20 ms per pass, scaled from a 1-thread trial of 2^16 rounds.
  const int64_t trial = int64_t{1} << 16;
  const double trial_seconds = std::max(seconds(trial, 1), 1e-6);
  const int64_t iters =
      std::max<int64_t>(trial, static_cast<int64_t>(trial * (0.02 / trial_seconds)));
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) {
    const double s = seconds(iters, threads);
    best = std::max(best, flops_per_thread * threads / std::max(s, 1e-9));
  }
  return best;
}

}  // namespace rlvr::cpu
