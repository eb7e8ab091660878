#include "core/cpu_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <ATen/Parallel.h>

namespace rlvr::cpu {
namespace {

// The range functions below are compiled for AVX-512, AVX2 and baseline x86-64
// and picked at load time; the helpers they call are inlined into each version.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RLVR_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RLVR_CPU_CLONES
#endif

// Independent partial sums, so the compiler vectorises without reassociating.
inline float Dot(const float* a, const float* b, int64_t n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float sum = 0;
  for (int j = 0; j < kLanes; ++j) sum += acc[j];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// y += alpha * x
inline void Axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

inline float InvRms(const float* x, int64_t n, float eps) {
  return 1.0f / std::sqrt(Dot(x, x, n) / static_cast<float>(n) + eps);
}

// out = RoPE(norm(x)): RMSNorm with `weight` when given, then
// out[i] = y[i] * cos[i] + rotate_half(y)[i] * sin[i]. out must not alias x.
inline void NormRope(const float* x, const float* weight, float eps, const float* cos,
                     const float* sin, int64_t d, float* out) {
  float y[kMaxHeadDim];
  if (weight != nullptr) {
    const float inv = InvRms(x, d, eps);
    for (int64_t i = 0; i < d; ++i) y[i] = weight[i] * (x[i] * inv);
  } else {
    std::memcpy(y, x, sizeof(float) * d);
  }
  const int64_t half = d / 2;
  for (int64_t i = 0; i < half; ++i) out[i] = y[i] * cos[i] - y[i + half] * sin[i];
  for (int64_t i = half; i < d; ++i) out[i] = y[i] * cos[i] + y[i - half] * sin[i];
}

RLVR_CPU_CLONES void RmsNormRange(const float* x, const float* weight, float eps, int64_t dim,
                                  float* out, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = x + r * dim;
    float* o = out + r * dim;
    const float inv = InvRms(xr, dim, eps);
    for (int64_t i = 0; i < dim; ++i) o[i] = weight[i] * (xr[i] * inv);
  }
}

RLVR_CPU_CLONES void SiluMulRange(const float* gate_up, int64_t inter, float* out, int64_t begin,
                                  int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const float* g = gate_up + r * 2 * inter;
    const float* u = g + inter;
    float* o = out + r * inter;
    for (int64_t i = 0; i < inter; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

// Items are (token, kv head) pairs: item = t * Hkv + h.
RLVR_CPU_CLONES void WriteKvRange(const CachedAttentionArgs& a, int64_t begin, int64_t end) {
  const int64_t hq = a.num_heads, hkv = a.num_kv_heads, d = a.head_dim;
  const int64_t row = (hq + 2 * hkv) * d;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t t = item / hkv, h = item % hkv;
    const int64_t at = ((a.slots[t] * hkv + h) * a.max_len + a.positions[t]) * d;
    const float* k = a.qkv + t * row + (hq + h) * d;
    NormRope(k, a.k_norm, a.norm_eps, a.cos + t * d, a.sin + t * d, d, a.key_cache + at);
    std::memcpy(a.value_cache + at, k + hkv * d, sizeof(float) * d);
  }
}

RLVR_CPU_CLONES void AttendRange(const CachedAttentionArgs& a, int64_t begin, int64_t end) {
  const int64_t hq = a.num_heads, hkv = a.num_kv_heads, d = a.head_dim;
  const int64_t group = hq / hkv, row = (hq + 2 * hkv) * d;
  thread_local std::vector<float> scratch;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t t = item / hkv, h = item % hkv;
    const int64_t len = a.positions[t] + 1;
    const float* keys = a.key_cache + (a.slots[t] * hkv + h) * a.max_len * d;  // (len, d)
    const float* values = a.value_cache + (a.slots[t] * hkv + h) * a.max_len * d;
    scratch.resize(static_cast<size_t>(group * (d + len)));
    float* q = scratch.data();      // (group, d)
    float* scores = q + group * d;  // (group, len)
    for (int64_t g = 0; g < group; ++g) {
      const float* src = a.qkv + t * row + (h * group + g) * d;
      NormRope(src, a.q_norm, a.norm_eps, a.cos + t * d, a.sin + t * d, d, q + g * d);
    }
    for (int64_t l = 0; l < len; ++l) {
      const float* k = keys + l * d;
      for (int64_t g = 0; g < group; ++g) scores[g * len + l] = Dot(q + g * d, k, d) * a.scale;
    }
    for (int64_t g = 0; g < group; ++g) {
      float* s = scores + g * len;
      const float m = *std::max_element(s, s + len);
      float sum = 0;
      for (int64_t l = 0; l < len; ++l) {
        s[l] = std::exp(s[l] - m);
        sum += s[l];
      }
      const float inv = 1.0f / sum;
      for (int64_t l = 0; l < len; ++l) s[l] *= inv;
    }
    float* out = a.out + t * hq * d + h * group * d;  // the group's heads are adjacent
    std::memset(out, 0, sizeof(float) * group * d);
    for (int64_t l = 0; l < len; ++l) {
      const float* v = values + l * d;
      for (int64_t g = 0; g < group; ++g) Axpy(scores[g * len + l], v, out + g * d, d);
    }
  }
}

int64_t Grain(int64_t work_per_item) {
  // About 32k multiply-adds per task: below that a thread hand-off costs more.
  return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, work_per_item));
}

}  // namespace

void RmsNormRows(const float* x, const float* weight, float eps, int64_t rows, int64_t dim,
                 float* out) {
  at::parallel_for(0, rows, Grain(dim), [&](int64_t begin, int64_t end) {
    RmsNormRange(x, weight, eps, dim, out, begin, end);
  });
}

void SiluMulRows(const float* gate_up, int64_t rows, int64_t inter, float* out) {
  at::parallel_for(0, rows, Grain(inter * 8), [&](int64_t begin, int64_t end) {
    SiluMulRange(gate_up, inter, out, begin, end);
  });
}

void CachedAttention(const CachedAttentionArgs& a) {
  const int64_t items = a.num_tokens * a.num_kv_heads;
  const int64_t group = a.num_heads / a.num_kv_heads;
  at::parallel_for(0, items, Grain(a.head_dim * 4),
                   [&](int64_t begin, int64_t end) { WriteKvRange(a, begin, end); });
  int64_t max_len = 1;
  for (int64_t t = 0; t < a.num_tokens; ++t) max_len = std::max(max_len, a.positions[t] + 1);
  at::parallel_for(0, items, Grain(2 * group * a.head_dim * max_len),
                   [&](int64_t begin, int64_t end) { AttendRange(a, begin, end); });
}

}  // namespace rlvr::cpu
