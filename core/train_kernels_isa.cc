// Compiled once per instruction set: CPU_CAPABILITY is DEFAULT, AVX2 or AVX512
// (core/CMakeLists.txt), naming this copy's namespace as ATen names its own.
// Only the vectorisation header is included, so little else is compiled with the
// wider instruction set.
#include <algorithm>
#include <cmath>

#include <ATen/cpu/vec/vec.h>

#include "core/train_kernels_isa.h"

namespace rlvr::train::CPU_CAPABILITY {
namespace {

using Vec = at::vec::Vectorized<float>;
constexpr int64_t kLanes = Vec::size();

// Lanes of a vector covering [i, n): a full vector, or the tail (loaded with zeros).
inline int64_t Count(int64_t i, int64_t n) { return std::min(kLanes, n - i); }

inline float HorizontalSum(const Vec& v) {
  __at_align__ float lanes[kLanes];
  v.store(lanes);
  float sum = 0;
  for (int64_t i = 0; i < kLanes; ++i) sum += lanes[i];
  return sum;
}

// sum(a * b * c) over n floats, or sum(a * b) when c is null.
inline float Dot(const float* a, const float* b, const float* c, int64_t n) {
  Vec acc0(0.0f), acc1(0.0f);  // two chains, so the FMA latency overlaps
  int64_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    Vec b0 = Vec::loadu(b + i), b1 = Vec::loadu(b + i + kLanes);
    if (c != nullptr) {
      b0 = b0 * Vec::loadu(c + i);
      b1 = b1 * Vec::loadu(c + i + kLanes);
    }
    acc0 = at::vec::fmadd(Vec::loadu(a + i), b0, acc0);
    acc1 = at::vec::fmadd(Vec::loadu(a + i + kLanes), b1, acc1);
  }
  for (; i < n; i += kLanes) {
    const int64_t k = Count(i, n);
    Vec bv = Vec::loadu(b + i, k);
    if (c != nullptr) bv = bv * Vec::loadu(c + i, k);
    acc0 = at::vec::fmadd(Vec::loadu(a + i, k), bv, acc0);
  }
  return HorizontalSum(acc0 + acc1);
}

void RmsNormForward(const float* x, const float* w, float eps, int64_t dim, int64_t begin,
                    int64_t end, float* y, float* rstd) {
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    const float inv = 1.0f / std::sqrt(Dot(xr, xr, nullptr, dim) / static_cast<float>(dim) + eps);
    rstd[r] = inv;
    const Vec vinv(inv);
    for (int64_t i = 0; i < dim; i += kLanes) {
      const int64_t k = Count(i, dim);
      (Vec::loadu(w + i, k) * (Vec::loadu(xr + i, k) * vinv)).store(yr + i, k);
    }
  }
}

void RmsNormBackward(const float* x, const float* w, const float* rstd, const float* dy,
                     int64_t dim, int64_t begin, int64_t end, float* dx, float* dw) {
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = x + r * dim;
    const float* dyr = dy + r * dim;
    const float a = rstd[r];
    const Vec va(a);
    if (dx != nullptr) {
      // dx = a * g - x * (a^3 * sum(x * g) / dim), the formula of the header
      // with xhat = a * x and mean(xhat * g) = a * sum(x * g) / dim.
      const float b = a * a * a * Dot(xr, w, dyr, dim) / static_cast<float>(dim);
      const Vec vb(b);
      float* dxr = dx + r * dim;
      for (int64_t i = 0; i < dim; i += kLanes) {
        const int64_t k = Count(i, dim);
        const Vec g = Vec::loadu(w + i, k) * Vec::loadu(dyr + i, k);
        at::vec::fmsub(va, g, vb * Vec::loadu(xr + i, k)).store(dxr + i, k);
      }
    }
    if (dw != nullptr) {
      for (int64_t i = 0; i < dim; i += kLanes) {
        const int64_t k = Count(i, dim);
        const Vec xhat = Vec::loadu(xr + i, k) * va;
        at::vec::fmadd(Vec::loadu(dyr + i, k), xhat, Vec::loadu(dw + i, k)).store(dw + i, k);
      }
    }
  }
}

void SiluMulForward(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                    int64_t inter, int64_t begin, int64_t end, float* out) {
  const Vec one(1.0f);
  for (int64_t r = begin; r < end; ++r) {
    const float* g = gate + r * gate_stride;
    const float* u = up + r * up_stride;
    float* o = out + r * inter;
    for (int64_t i = 0; i < inter; i += kLanes) {
      const int64_t k = Count(i, inter);
      const Vec gv = Vec::loadu(g + i, k);
      // silu as ATen computes it: x / (1 + exp(-x)).
      ((gv / (one + gv.neg().exp())) * Vec::loadu(u + i, k)).store(o + i, k);
    }
  }
}

void SiluMulBackward(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                     const float* dout, int64_t inter, int64_t begin, int64_t end, float* dgate,
                     float* dup) {
  const Vec one(1.0f);
  for (int64_t r = begin; r < end; ++r) {
    const float* g = gate + r * gate_stride;
    const float* u = up + r * up_stride;
    const float* d = dout + r * inter;
    for (int64_t i = 0; i < inter; i += kLanes) {
      const int64_t k = Count(i, inter);
      const Vec gv = Vec::loadu(g + i, k);
      const Vec dv = Vec::loadu(d + i, k);
      const Vec denom = one + gv.neg().exp();
      if (dup != nullptr) (dv * (gv / denom)).store(dup + r * inter + i, k);
      if (dgate != nullptr) {
        const Vec s = one / denom;
        const Vec du = dv * Vec::loadu(u + i, k);
        (du * s * at::vec::fmadd(gv, one - s, one)).store(dgate + r * inter + i, k);
      }
    }
  }
}

void Rope(const float* x, const float* cos, const float* sin, int64_t heads, int64_t dim,
          bool backward, int64_t begin, int64_t end, float* out) {
  const int64_t half = dim / 2;
  for (int64_t t = begin; t < end; ++t) {
    const float* c = cos + t * dim;
    const float* s = sin + t * dim;
    for (int64_t h = 0; h < heads; ++h) {
      const float* xr = x + (t * heads + h) * dim;
      float* o = out + (t * heads + h) * dim;
      for (int64_t i = 0; i < half; i += kLanes) {
        const int64_t k = Count(i, half);
        const Vec x1 = Vec::loadu(xr + i, k), x2 = Vec::loadu(xr + half + i, k);
        const Vec c1 = Vec::loadu(c + i, k), c2 = Vec::loadu(c + half + i, k);
        const Vec s1 = Vec::loadu(s + i, k), s2 = Vec::loadu(s + half + i, k);
        if (backward) {
          (x1 * c1 + x2 * s2).store(o + i, k);
          (x2 * c2 - x1 * s1).store(o + half + i, k);
        } else {
          (x1 * c1 - x2 * s1).store(o + i, k);
          (x2 * c2 + x1 * s2).store(o + half + i, k);
        }
      }
    }
  }
}

constexpr RowKernels kKernels = {&RmsNormForward, &RmsNormBackward, &SiluMulForward,
                                 &SiluMulBackward, &Rope};

}  // namespace

const RowKernels& Kernels() { return kKernels; }

}  // namespace rlvr::train::CPU_CAPABILITY
