#include "core/cpu_kernels.h"

#include <algorithm>
#include <chrono>
#include <cmath>
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
  float sink = 0;
  // FLOP/s of `n` threads running `iters` rounds each.
  auto rate = [&](int64_t iters, int n) {
    std::vector<float> sinks(n);
    std::vector<double> flops(n);
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 1; t < n; ++t) {
      pool.emplace_back([&, t] { flops[t] = fma_loop(iters, &sinks[t]); });
    }
    flops[0] = fma_loop(iters, &sinks[0]);
    for (std::thread& t : pool) t.join();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double total = 0;
    for (int t = 0; t < n; ++t) sink += sinks[t], total += flops[t];
    return total / std::max(s, 1e-9);
  };
  // About 20 ms per pass, from a 1-thread trial.
  const int64_t trial = int64_t{1} << 16;
  const double trial_rate = rate(trial, 1);
  const double flops_per_iter = fma_loop(1, &sink);
  const int64_t iters =
      std::max<int64_t>(trial, static_cast<int64_t>(0.02 * trial_rate / flops_per_iter));
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) best = std::max(best, rate(iters, threads));
  // The sums are finite (m < 1 bounds them), so this never fires; reading them keeps
  // the loops observable.
  if (!std::isfinite(sink)) return 0;
  return best;
}

}  // namespace rlvr::cpu
