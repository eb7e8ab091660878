// The AVX-512 kernel behind skinny_gemm.h; this file alone is compiled with
// -mavx512f, and skinny_gemm.cc calls it only on CPUs that have AVX-512F.
//
// y = x @ w^T over groups of three 16-column weight panels. Every 8-row tile of x
// runs over a group's whole K (the group is in L2 after the first tile), and the
// next group's panels are prefetched into L2 a little per 64-byte line (one k of float32
// panels, two of bfloat16 pairs), so reading the weights
// from memory overlaps the arithmetic. (Blocking K by 64 so a group's block stays in
// L1 across the tiles measured within noise in `rlvr bench rollout --batch-sizes
// 32,64`, alternating runs: +2% at batch 32, -3% at 64; not kept.)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "core/skinny_gemm_isa.h"

namespace rlvr::skinny::avx512 {
namespace {

constexpr int kLanes = 16;     // output columns per panel (one zmm register)
constexpr int kMaxRows = 8;    // rows of x per tile
constexpr int kMaxPanels = 3;  // 8 x 3 accumulators + 3 weight vectors + a broadcast
constexpr int64_t kLine = 64;

struct TileArgs {
  const float* x;  // row 0 of the tile, row stride ldx
  int64_t ldx;
  const char* w;  // the group's first panel; panels panel_bytes apart
  int64_t K;
  int64_t panel_bytes;
  const float* bias;  // the group's bias columns, or null
  int64_t cols;       // valid columns of the group (<= 16 * panels)
  float* y;           // row 0, column 0 of the tile's output, row stride ldy
  int64_t ldy;
  bool accumulate;  // add to y rather than overwrite it
  const char* pf;   // next bytes to prefetch, below pf_end
  const char* pf_end;
  int64_t pf_step;  // bytes to prefetch per 64-byte line of a panel
};

// acc[r][j] += x[r][k] * wv[j], with x[r][k] at x0 or x4 (rows 0-3, 4-7) plus 0, 1, 2
// or 3 row strides: each an address mode (base + index * scale) on four registers,
// where eight row pointers left too few general registers and the loop spilled. Same
// bits; `rlvr bench rollout --batch-sizes 32,64 --hf-batch-sizes "" --threads 1`, four
// alternating runs: batch-32 decode 1046-1110 -> 1067-1117 tokens/s, batch 64
// 1241-1274 -> 1224-1339 (two threads: within noise).
template <int MR, int NB>
__attribute__((always_inline)) inline void MulAdd(__m512 (&acc)[MR][NB], const __m512 (&wv)[NB],
                                                  const char* x0, const char* x4, int64_t ldx,
                                                  int64_t ldx3) {
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    const char* base = r < 4 ? x0 : x4;
    const char* row = (r & 3) == 0   ? base
                      : (r & 3) == 1 ? base + ldx
                      : (r & 3) == 2 ? base + 2 * ldx
                                     : base + ldx3;
    const __m512 b = _mm512_set1_ps(*reinterpret_cast<const float*>(row));
#pragma GCC unroll 3
    for (int j = 0; j < NB; ++j) acc[r][j] = _mm512_fmadd_ps(b, wv[j], acc[r][j]);
  }
}

// The float32 (kBf16 false) or bfloat16-pair panels of skinny_gemm_isa.h. A bfloat16
// weight widens to float32 exactly (its bits in the high half), so both compute the
// same float32 products in the same order: the same bits for weights that are
// bfloat16 values, from half the bytes.
template <int MR, int NB, bool kBf16>
void Tile(const TileArgs& t) {
  __m512 acc[MR][NB];
  // Columns past t.cols are padding panels' zeros, or past the group: masked.
  __mmask16 mask[NB];
#pragma GCC unroll 3
  for (int j = 0; j < NB; ++j) {
    const int64_t n = std::clamp<int64_t>(t.cols - j * kLanes, 0, kLanes);
    mask[j] = static_cast<__mmask16>((1u << n) - 1);
  }
  const bool full = t.cols >= NB * kLanes;
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 3
    for (int j = 0; j < NB; ++j) acc[r][j] = _mm512_setzero_ps();
  }
  // Locals, so the loop keeps them in registers.
  const char* x0 = reinterpret_cast<const char*>(t.x);
  const int64_t ldx = t.ldx * int64_t{sizeof(float)}, ldx3 = 3 * ldx;
  const char* x4 = MR > 4 ? x0 + 4 * ldx : x0;  // only rows that exist
  const char* w = t.w;
  const int64_t panel = t.panel_bytes, pf_step = t.pf_step;
  const char* pf = t.pf;
  const char* const pf_end = t.pf_end;
  int64_t pf_due = 0;
  constexpr int64_t kStep = kBf16 ? 2 : 1;  // k per 64-byte line
  const int64_t lines = t.K / kStep;
  __m512 wv[NB];
  for (int64_t i = 0; i < lines; ++i, w += kLine) {
    if constexpr (kBf16) {
      // The low halves hold even k, the high halves odd k.
#pragma GCC unroll 3
      for (int j = 0; j < NB; ++j) {
        wv[j] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_load_si512(w + j * panel), 16));
      }
      MulAdd<MR, NB>(acc, wv, x0, x4, ldx, ldx3);
      x0 += sizeof(float), x4 += sizeof(float);
      const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
#pragma GCC unroll 3
      for (int j = 0; j < NB; ++j) {
        wv[j] = _mm512_castsi512_ps(_mm512_and_si512(_mm512_load_si512(w + j * panel), high));
      }
    } else {
#pragma GCC unroll 3
      for (int j = 0; j < NB; ++j) {
        wv[j] = _mm512_load_ps(reinterpret_cast<const float*>(w + j * panel));
      }
    }
    MulAdd<MR, NB>(acc, wv, x0, x4, ldx, ldx3);
    x0 += sizeof(float), x4 += sizeof(float);
    for (pf_due += pf_step; pf_due >= kLine && pf < pf_end; pf_due -= kLine, pf += kLine) {
      _mm_prefetch(pf, _MM_HINT_T1);
    }
  }
#pragma GCC unroll 3
  for (int j = 0; j < NB; ++j) {
    const __m512 bv = t.bias != nullptr ? _mm512_maskz_loadu_ps(mask[j], t.bias + j * kLanes)
                                        : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      float* out = t.y + r * t.ldy + j * kLanes;
      __m512 v = _mm512_add_ps(acc[r][j], bv);
      if (t.accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask[j], out));
      if (full) {
        _mm512_storeu_ps(out, v);
      } else {
        _mm512_mask_storeu_ps(out, mask[j], v);
      }
    }
  }
}

using TileFn = void (*)(const TileArgs&);

template <int NB, bool kBf16, int MR = kMaxRows>
TileFn TileFor(int rows) {
  if constexpr (MR == 1) {
    return &Tile<1, NB, kBf16>;
  } else {
    return rows >= MR ? &Tile<MR, NB, kBf16> : TileFor<NB, kBf16, MR - 1>(rows);
  }
}

template <bool kBf16>
TileFn TileFor(int rows, int panels) {
  switch (panels) {
    case 1:
      return TileFor<1, kBf16>(rows);
    case 2:
      return TileFor<2, kBf16>(rows);
    default:
      return TileFor<3, kBf16>(rows);
  }
}

}  // namespace

void Gemm(const GemmArgs& a, int64_t panel_begin, int64_t panel_end) {
  const int64_t K = a.k;
  // A panel is `lines` 64-byte lines: one k each in float32, two in bfloat16 pairs.
  const int64_t lines = a.bfloat16_pairs ? K / 2 : K;
  const int64_t panel_bytes = lines * kLine;
  const int64_t tiles = (a.m + kMaxRows - 1) / kMaxRows;
  for (int64_t p0 = panel_begin; p0 < panel_end; p0 += kMaxPanels) {
    const int panels = static_cast<int>(std::min<int64_t>(kMaxPanels, panel_end - p0));
    const int64_t next = std::min<int64_t>(kMaxPanels, panel_end - p0 - panels);
    TileArgs t;
    t.w = static_cast<const char*>(a.packed) + p0 * panel_bytes;
    t.K = K;
    t.panel_bytes = panel_bytes;
    t.bias = a.bias != nullptr ? a.bias + p0 * kLanes : nullptr;
    t.cols = std::min<int64_t>(panels * kLanes, a.n - p0 * kLanes);
    t.accumulate = a.accumulate;
    // The next group is contiguous after this one; its bytes are spread evenly
    // over this group's tiles and lines.
    t.pf = t.w + panels * panel_bytes;
    const char* pf_end = t.pf + next * panel_bytes;
    t.pf_step = (next * kLine + tiles - 1) / tiles;
    for (int64_t i = 0; i < tiles; ++i) {
      const int64_t r0 = i * kMaxRows;
      t.x = a.x + r0 * a.ldx;
      t.ldx = a.ldx;
      t.y = a.y + r0 * a.ldy + p0 * kLanes;
      t.ldy = a.ldy;
      t.pf_end = t.pf + std::min<int64_t>(t.pf_step * lines, pf_end - t.pf);
      const int rows = static_cast<int>(std::min<int64_t>(kMaxRows, a.m - r0));
      (a.bfloat16_pairs ? TileFor<true>(rows, panels) : TileFor<false>(rows, panels))(t);
      t.pf = t.pf_end;
    }
  }
}

}  // namespace rlvr::skinny::avx512
