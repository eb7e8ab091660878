// The range functions behind cpu_kernels.h, private to it. This file is compiled once
// per instruction set (core/CMakeLists.txt: AVX-512, AVX2 with FMA, and the baseline),
// each copy in its own namespace RLVR_CPU_ISA; cpu_kernels.cc picks one at run time.
// The 16-lane vectors below are GCC vector extensions: one AVX-512 register, two AVX2
// or four SSE registers, the same arithmetic in each.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/cpu_kernels.h"
#include "core/cpu_kernels_isa.h"

#ifndef RLVR_CPU_ISA
#error "compile with -DRLVR_CPU_ISA=<namespace>"
#endif

namespace rlvr::cpu::RLVR_CPU_ISA {
namespace {

// Helpers are always inlined into the range functions.
#define RLVR_INLINE inline __attribute__((always_inline))

// Independent partial sums, so the compiler vectorises without reassociating.
RLVR_INLINE float Dot(const float* a, const float* b, int64_t n) {
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
RLVR_INLINE void Axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

RLVR_INLINE float InvRms(const float* x, int64_t n, float eps) {
  return 1.0f / std::sqrt(Dot(x, x, n) / static_cast<float>(n) + eps);
}

// out = RoPE(norm(x)): RMSNorm with `weight` when given, then
// out[i] = y[i] * cos[i] + rotate_half(y)[i] * sin[i]. out must not alias x.
RLVR_INLINE void NormRope(const float* x, const float* weight, float eps, const float* cos,
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

void RmsNormRange(const float* x, const float* weight, float eps, int64_t dim, float* out,
                  int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = x + r * dim;
    float* o = out + r * dim;
    const float inv = InvRms(xr, dim, eps);
    for (int64_t i = 0; i < dim; ++i) o[i] = weight[i] * (xr[i] * inv);
  }
}

// Items are (token, kv head) pairs: item = t * Hkv + h.
void WriteKvRange(const CachedAttentionArgs& a, int64_t begin, int64_t end) {
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

#pragma GCC diagnostic ignored "-Wpsabi"  // V16 never crosses a call: always inlined
// 16 floats; compiled to one AVX-512 register, two AVX2 or four SSE registers.
typedef float V16 __attribute__((vector_size(64)));

RLVR_INLINE V16 Load16(const float* p) {
  V16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

RLVR_INLINE float HSum(const V16& v) {
  float s = 0;
  for (int i = 0; i < 16; ++i) s += v[i];
  return s;
}

typedef int32_t V16i __attribute__((vector_size(64)));

RLVR_INLINE float Max(const float* x, int64_t n) {
  float m = x[0];
  int64_t i = 0;
  if (n >= 16) {
    V16 v = Load16(x);
    for (i = 16; i + 16 <= n; i += 16) {
      const V16 y = Load16(x + i);
      v = v > y ? v : y;
    }
    for (int j = 0; j < 16; ++j) m = std::max(m, v[j]);
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

// e^x for x <= 0, 16 lanes: x = k ln2 + r with |r| <= ln2 / 2, e^r by a degree-7
// polynomial (relative error about 1e-7, as std::exp's float), 2^k from the exponent
// bits; below -87 (e^x < 2^-125) the result is 0.
RLVR_INLINE V16 ExpNonPositive(V16 x) {
  const V16 floor = V16{} - 87.0f;
  const V16i underflow = x < floor;
  x = underflow ? floor : x;
  const float round = 12582912.0f;  // 1.5 x 2^23: adding it rounds to an integer
  const V16 k = (x * 1.44269504088896341f + round) - round;
  const V16 r = (x - k * 0.693359375f) + k * 2.12194440e-4f;  // ln 2 in two parts
  V16 p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const V16i bits = (__builtin_convertvector(k, V16i) + 127) << 23;
  V16 scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return underflow ? V16{} : p * scale;
}

// x[i] = e^(x[i] - m) for x[i] <= m; returns their sum.
RLVR_INLINE float ExpMinusAndSum(float* x, int64_t n, float m) {
  V16 sums = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const V16 e = ExpNonPositive(Load16(x + i) - m);
    std::memcpy(x + i, &e, sizeof(e));
    sums += e;
  }
  float sum = HSum(sums);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  return sum;
}

// out[i] = sum of a[i]'s 16 lanes, for 16 vectors at once: four levels of pairwise
// "even chunks + odd chunks" (chunk sizes 8, 4, 2, 1) of two concatenated vectors. 15
// shuffle pairs instead of 16 serial horizontal sums, whose float adds cannot be
// reassociated by the compiler.
RLVR_INLINE V16 HSum16x16(V16 a[16]) {
  // __builtin_shufflevector (GCC >= 12 and clang) takes constant lane indices into the
  // concatenation of its two operands.
  for (int i = 0; i < 8; ++i) {  // a[i]: lanes 0-7 key 2i, 8-15 key 2i+1
    const V16 x = a[2 * i], y = a[2 * i + 1];
    a[i] =
        __builtin_shufflevector(x, y, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
        __builtin_shufflevector(x, y, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  }
  for (int i = 0; i < 4; ++i) {  // 4 lanes per key, keys 4i..4i+3
    const V16 x = a[2 * i], y = a[2 * i + 1];
    a[i] =
        __builtin_shufflevector(x, y, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
        __builtin_shufflevector(x, y, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  }
  for (int i = 0; i < 2; ++i) {  // 2 lanes per key, keys 8i..8i+7
    const V16 x = a[2 * i], y = a[2 * i + 1];
    a[i] =
        __builtin_shufflevector(x, y, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
        __builtin_shufflevector(x, y, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
  }
  return __builtin_shufflevector(a[0], a[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28,
                                 30) +
         __builtin_shufflevector(a[0], a[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29,
                                 31);
}

// softmax(scale * q_g . keys) . values for G query heads sharing one key/value head,
// all G at once so each key and value is loaded once for the group; head_dim = 16 * C
// known at compile time so the partial sums stay in registers. q: (G, d); keys,
// values: (len, d) contiguous; scores: (G, len) scratch; out: (G, d).
// The 16-key scores, vector max and exp and paired value sums pay in
// `rlvr bench rollout --batch-sizes 32 --new-tokens 200 --hf-batch-sizes "" --threads 1`
// (alternating runs): 742-767 decode tokens/s with 4-key scores and a scalar softmax,
// 803-819 with these; the vector max and exp alone, against a scalar loop with
// std::exp: 800-842 -> 841-874. Taking a group's heads together (each key and value
// loaded once, not once per head), on the bench's 2 heads of 64 dims per key/value
// head, with `--batch-sizes 32 --new-tokens 256 --hf-batch-sizes ""` on 2 threads
// (three alternating runs): 1568-1652 -> 1631-1710 decode tokens/s.
template <int C, int G>
RLVR_INLINE void AttendGroup(const float* q, const float* keys, const float* values, int64_t len,
                             float scale, float* scores, float* out) {
  static_assert(16 % G == 0 && G * C <= 8, "the sums would not fit in registers");
  constexpr int64_t d = 16 * C;
  constexpr int kKeys = 16 / G;  // keys per transposed sum: kKeys x G = 16 scores
  V16 qv[G][C];
  for (int g = 0; g < G; ++g) {
    for (int c = 0; c < C; ++c) qv[g][c] = Load16(q + g * d + 16 * c);
  }
  int64_t l = 0;
  for (; l + kKeys <= len; l += kKeys) {
    V16 acc[16];  // acc[j * G + g]: key l + j, head g
    const float* k = keys + l * d;
    for (int j = 0; j < kKeys; ++j) {
      V16 kv[C];
      for (int c = 0; c < C; ++c) kv[c] = Load16(k + j * d + 16 * c);
      for (int g = 0; g < G; ++g) {
        acc[j * G + g] = qv[g][0] * kv[0];
        for (int c = 1; c < C; ++c) acc[j * G + g] += qv[g][c] * kv[c];
      }
    }
    const V16 sums = HSum16x16(acc) * scale;
    for (int j = 0; j < kKeys; ++j) {
      for (int g = 0; g < G; ++g) scores[g * len + l + j] = sums[j * G + g];
    }
  }
  for (int g = 0; g < G; ++g) {  // the last len % kKeys keys, one head at a time
    float* s = scores + g * len;
    int64_t i = l;
    for (; i + 4 <= len; i += 4) {  // four keys at once: independent sums
      V16 a0 = {}, a1 = {}, a2 = {}, a3 = {};
      const float* k = keys + i * d;
      for (int c = 0; c < C; ++c) {
        a0 += qv[g][c] * Load16(k + 16 * c);
        a1 += qv[g][c] * Load16(k + d + 16 * c);
        a2 += qv[g][c] * Load16(k + 2 * d + 16 * c);
        a3 += qv[g][c] * Load16(k + 3 * d + 16 * c);
      }
      s[i] = HSum(a0) * scale;
      s[i + 1] = HSum(a1) * scale;
      s[i + 2] = HSum(a2) * scale;
      s[i + 3] = HSum(a3) * scale;
    }
    for (; i < len; ++i) {
      V16 a = {};
      for (int c = 0; c < C; ++c) a += qv[g][c] * Load16(keys + i * d + 16 * c);
      s[i] = HSum(a) * scale;
    }
  }
  float inv[G];
  for (int g = 0; g < G; ++g) {
    float* s = scores + g * len;
    inv[g] = 1.0f / ExpMinusAndSum(s, len, Max(s, len));
  }
  // Two independent sums per head over alternate keys, so consecutive multiply-adds
  // overlap.
  V16 acc[G][C] = {}, odd[G][C] = {};
  int64_t i = 0;
  for (; i + 2 <= len; i += 2) {
    for (int c = 0; c < C; ++c) {
      const V16 v0 = Load16(values + i * d + 16 * c), v1 = Load16(values + (i + 1) * d + 16 * c);
      for (int g = 0; g < G; ++g) {
        acc[g][c] += scores[g * len + i] * v0;
        odd[g][c] += scores[g * len + i + 1] * v1;
      }
    }
  }
  for (; i < len; ++i) {
    for (int c = 0; c < C; ++c) {
      const V16 v = Load16(values + i * d + 16 * c);
      for (int g = 0; g < G; ++g) acc[g][c] += scores[g * len + i] * v;
    }
  }
  for (int g = 0; g < G; ++g) {
    for (int c = 0; c < C; ++c) acc[g][c] = (acc[g][c] + odd[g][c]) * inv[g];
    std::memcpy(out + g * d, acc[g], sizeof(acc[g]));
  }
}

// AttendGroup for `group` heads: together where their sums fit in registers (up to 4
// heads of 32 dims, 2 of 64), otherwise one head at a time.
template <int C>
RLVR_INLINE void AttendHeads(const float* q, const float* keys, const float* values, int64_t len,
                             int64_t group, float scale, float* scores, float* out) {
  constexpr int64_t d = 16 * C;
  if constexpr (4 * C <= 8) {
    if (group % 4 == 0) {
      for (int64_t g = 0; g < group; g += 4) {
        AttendGroup<C, 4>(q + g * d, keys, values, len, scale, scores, out + g * d);
      }
      return;
    }
  }
  if constexpr (2 * C <= 8) {
    if (group % 2 == 0) {
      for (int64_t g = 0; g < group; g += 2) {
        AttendGroup<C, 2>(q + g * d, keys, values, len, scale, scores, out + g * d);
      }
      return;
    }
  }
  for (int64_t g = 0; g < group; ++g) {
    AttendGroup<C, 1>(q + g * d, keys, values, len, scale, scores, out + g * d);
  }
}

void AttendRange(const CachedAttentionArgs& a, int64_t begin, int64_t end) {
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
    float* out = a.out + t * hq * d + h * group * d;  // the group's heads are adjacent
    switch (d) {  // the common head sizes, with register-resident sums
      case 32:
        AttendHeads<2>(q, keys, values, len, group, a.scale, scores, out);
        continue;
      case 64:
        AttendHeads<4>(q, keys, values, len, group, a.scale, scores, out);
        continue;
      case 128:
        AttendHeads<8>(q, keys, values, len, group, a.scale, scores, out);
        continue;
      default:
        break;
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
    std::memset(out, 0, sizeof(float) * group * d);
    for (int64_t l = 0; l < len; ++l) {
      const float* v = values + l * d;
      for (int64_t g = 0; g < group; ++g) Axpy(scores[g * len + l], v, out + g * d, d);
    }
  }
}

// Rows [begin, end) of SiluMulRows. sigmoid(g) from e = exp(-|g|) <= 1, which cannot
// overflow: 1 / (1 + e) for g >= 0, e / (1 + e) below.
void SiluMulRange(const float* gate_up, int64_t inter, float* out, int64_t begin, int64_t end) {
  const V16 zero = {}, one = zero + 1.0f;
  for (int64_t r = begin; r < end; ++r) {
    const float* g = gate_up + r * 2 * inter;
    const float* u = g + inter;
    float* o = out + r * inter;
    int64_t i = 0;
    for (; i + 16 <= inter; i += 16) {
      const V16 x = Load16(g + i);
      const V16i positive = x >= zero;
      const V16 e = ExpNonPositive(positive ? zero - x : x);
      const V16 y = x * ((positive ? one : e) / (one + e)) * Load16(u + i);
      std::memcpy(o + i, &y, sizeof(y));
    }
    for (; i < inter; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

// Rows [begin, end) of LogitStats.
void LogitStatsRange(const float* logits, int64_t vocab, const float* scale, int64_t* argmax,
                     float* logsumexp, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const float* x = logits + r * vocab;
    // Per lane: the largest value so far and its first index (a later equal value
    // does not replace it); then the smallest index among the lanes holding the max.
    float best = x[0];
    int64_t best_at = 0;
    int64_t i = 0;
    if (vocab >= 16) {
      V16 vmax = Load16(x);
      V16i vidx, step;
      for (int j = 0; j < 16; ++j) {
        vidx[j] = j;
        step[j] = 16;
      }
      V16i idx = vidx;
      for (i = 16; i + 16 <= vocab; i += 16) {
        idx += step;
        const V16 y = Load16(x + i);
        const V16i greater = y > vmax;
        vmax = greater ? y : vmax;
        vidx = greater ? idx : vidx;
      }
      best = vmax[0];
      best_at = vidx[0];
      for (int j = 1; j < 16; ++j) {
        if (vmax[j] > best || (vmax[j] == best && vidx[j] < best_at)) {
          best = vmax[j];
          best_at = vidx[j];
        }
      }
    }
    for (; i < vocab; ++i) {
      if (x[i] > best) {
        best = x[i];
        best_at = i;
      }
    }
    argmax[r] = best_at;
    // log sum exp(x * s) = m + log sum exp(x * s - m), m = best * s (s > 0). Where the
    // compiler fuses x * s - m into one FMA (the AVX2 and AVX-512 copies), a term may
    // differ from log_softmax(logits * scale)'s by an ulp of m.
    // Float lanes over blocks of 4096 logits, then a double total: float lanes alone
    // drift by ~3e-5 over a 32k vocabulary of near-equal terms.
    const float s = scale[r], m = best * s;
    double sum = 0;
    i = 0;
    while (i + 16 <= vocab) {
      V16 sums = {};
      const int64_t block_end = std::min(vocab, i + 4096);
      for (; i + 16 <= block_end; i += 16) sums += ExpNonPositive(Load16(x + i) * s - m);
      for (int j = 0; j < 16; ++j) sum += sums[j];
    }
    for (; i < vocab; ++i) sum += std::exp(x[i] * s - m);
    logsumexp[r] = m + static_cast<float>(std::log(sum));
  }
}

// acc = acc * m + a per chain, on the instruction set's own register width (a V16 is
// two AVX2 or four SSE registers, which GCC keeps on the stack here): FMAs where the
// instruction set has them (GCC contracts the expression under its default
// -ffp-contract=fast), with enough independent chains to keep the pipes full that
// still fit the registers beside m and a. m < 1 keeps the values bounded; none starts
// at the fixed point 1, where the compiler could drop its chain.
#if defined(__AVX512F__)
constexpr int kFmaBytes = 64, kFmaChains = 16;  // of 32 registers
#elif defined(__AVX__)
constexpr int kFmaBytes = 32, kFmaChains = 12;  // of 16
#else
constexpr int kFmaBytes = 16, kFmaChains = 12;  // of 16
#endif
typedef float VFma __attribute__((vector_size(kFmaBytes)));

double FmaLoop(int64_t iters, float* sink) {
  VFma acc[kFmaChains];
  for (int c = 0; c < kFmaChains; ++c) acc[c] = VFma{} + (2.0f + static_cast<float>(c));
  const VFma m = VFma{} + 0.999f, a = VFma{} + 0.001f;
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kFmaChains; ++c) acc[c] = acc[c] * m + a;
  }
  float s = 0;
  for (int c = 0; c < kFmaChains; ++c) {
    for (int l = 0; l < kFmaBytes / 4; ++l) s += acc[c][l];
  }
  *sink = s;
  return 2.0 * (kFmaBytes / 4) * kFmaChains * static_cast<double>(iters);
}

}  // namespace

extern const RangeKernels kRangeKernels = {&RmsNormRange, &WriteKvRange,    &AttendRange,
                                           &SiluMulRange, &LogitStatsRange, &FmaLoop};

}  // namespace rlvr::cpu::RLVR_CPU_ISA
