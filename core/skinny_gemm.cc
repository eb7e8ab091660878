#include "core/skinny_gemm.h"

#include <algorithm>
#include <cstdint>

#include <torch/torch.h>

#include "core/cpu_isa.h"
#include "core/huge_pages.h"
#include "core/skinny_gemm_isa.h"
#include "core/spin_pool.h"

namespace rlvr {
namespace {

constexpr int64_t kLanes = 16;
constexpr int64_t kRowBlock = 256;

// Where LibTorch's kernels use AVX-512 (cpu_isa.h): not under ATEN_CPU_CAPABILITY=avx2
// or default, where the model decodes as on a CPU without it (how the tests run that
// path here).
bool HasAvx512() { return KernelIsa() == CpuIsa::kAvx512; }

// Rows per pass of the packing's temporaries, so packing a large output layer does not
// make whole-weight integer copies.
constexpr int64_t kPackRows = 4096;

// Whether every value of the contiguous float32 (N, K) `w` is a bfloat16 value: its
// low 16 bits zero.
bool AllBfloat16(const torch::Tensor& w) {
  for (int64_t r = 0; r < w.size(0); r += kPackRows) {
    const torch::Tensor bits =
        w.narrow(0, r, std::min(kPackRows, w.size(0) - r)).view(torch::kInt32);
    if (torch::bitwise_and(bits, 0xFFFF).any().item<bool>()) return false;
  }
  return true;
}

}  // namespace

torch::Tensor PackSkinnyWeight(const torch::Tensor& weight, PanelDtype dtype) {
  if (!HasAvx512() || !weight.defined() || weight.dim() != 2 || !weight.device().is_cpu() ||
      weight.scalar_type() != torch::kFloat32 || weight.size(1) < 1) {
    return {};
  }
  const int64_t n = weight.size(0), k = weight.size(1), panels = (n + kLanes - 1) / kLanes;
  torch::NoGradGuard no_grad;
  torch::Tensor w = weight.detach().contiguous();
  const bool bfloat16 = dtype == PanelDtype::kExact && k % 2 == 0 && AllBfloat16(w);
  if (panels * kLanes != n) w = torch::constant_pad_nd(w, {0, 0, 0, panels * kLanes - n});
  if (!bfloat16) {
    torch::Tensor packed = ZerosOnHugePages({panels, k, kLanes});
    // (P*16, K) -> (P, 16, K) -> (P, K, 16)
    packed.copy_(w.reshape({panels, kLanes, k}).transpose(1, 2));
    return packed;
  }
  // (P, K/2, 16) float32 on huge pages, filled as (P, K/2, 32) 16-bit values: each
  // weight's high half, bit for bit (NaN payloads too), in kPackRows-row passes.
  torch::Tensor packed = ZerosOnHugePages({panels, k / 2, kLanes});
  torch::Tensor halves = packed.view(torch::kInt16);
  const int64_t step = kPackRows / kLanes;
  for (int64_t p0 = 0; p0 < panels; p0 += step) {
    const int64_t c = std::min(step, panels - p0);
    const torch::Tensor high =
        torch::bitwise_right_shift(w.narrow(0, p0 * kLanes, c * kLanes).view(torch::kInt32), 16)
            .to(torch::kInt16);
    // (c*16, K) -> (c, 16, K/2, 2) -> (c, K/2, 16, 2)
    halves.narrow(0, p0, c).copy_(
        high.reshape({c, kLanes, k / 2, 2}).permute({0, 2, 1, 3}).reshape({c, k / 2, 2 * kLanes}));
  }
  return packed.view(torch::kBFloat16);
}

namespace {

// y (M, n) = or += x @ weight^T + bias; y is float32 with unit column stride.
void Run(const torch::Tensor& x, const torch::Tensor& packed, int64_t n, const torch::Tensor& bias,
         const torch::Tensor& y, bool accumulate) {
  TORCH_CHECK(HasAvx512(), "SkinnyLinear needs AVX-512F");
  const bool pairs = packed.scalar_type() == torch::kBFloat16;
  TORCH_CHECK(x.dim() == 2 && x.size(1) >= 1 && x.device().is_cpu() &&
                  x.scalar_type() == torch::kFloat32 && packed.dim() == 3 &&
                  packed.is_contiguous() && (pairs || packed.scalar_type() == torch::kFloat32) &&
                  packed.size(1) * (pairs ? 2 : 1) == x.size(1) &&
                  packed.size(2) == kLanes * (pairs ? 2 : 1) &&
                  packed.size(0) == (n + kLanes - 1) / kLanes &&
                  reinterpret_cast<uintptr_t>(packed.data_ptr()) % 64 == 0,
              "SkinnyLinear: x ", x.sizes(), " ", x.scalar_type(), " with n = ", n,
              " does not match the packed weight ", packed.sizes());
  TORCH_CHECK(!bias.defined() || (bias.numel() == n && bias.scalar_type() == torch::kFloat32),
              "SkinnyLinear: bias ", bias.sizes(), " for n = ", n);
  TORCH_CHECK(y.dim() == 2 && y.size(0) == x.size(0) && y.size(1) == n && y.device().is_cpu() &&
                  y.scalar_type() == torch::kFloat32 && y.stride(1) == 1,
              "SkinnyLinear: output ", y.sizes(), " ", y.scalar_type(), " is not (", x.size(0),
              ", ", n, ") float32 with unit column stride");
  torch::Tensor xc = x.stride(1) == 1 ? x : x.contiguous();
  skinny::GemmArgs a;
  a.m = x.size(0);
  a.n = n;
  a.k = x.size(1);
  a.x = xc.data_ptr<float>();
  a.ldx = xc.stride(0);
  a.packed = packed.data_ptr();
  a.bfloat16_pairs = pairs;
  torch::Tensor bc = bias.defined() ? bias.contiguous() : bias;
  a.bias = bc.defined() ? bc.data_ptr<float>() : nullptr;
  a.y = y.data_ptr<float>();
  a.ldy = y.stride(0);
  a.accumulate = accumulate;
#if defined(__x86_64__)
  const int64_t m = a.m, panels = (n + kLanes - 1) / kLanes;
  // Row blocks bound the x rows each weight group meets (prefill has thousands);
  // within one, grains of whole 3-panel groups give each thread its own contiguous
  // stretch of the weight stream.
  for (int64_t r0 = 0; r0 < m; r0 += kRowBlock) {
    skinny::GemmArgs block = a;
    block.m = std::min(kRowBlock, m - r0);
    block.x = a.x + r0 * a.ldx;
    block.y = a.y + r0 * a.ldy;
    ParallelFor(0, (panels + 2) / 3, 8, [&](int64_t begin, int64_t end) {
      skinny::avx512::Gemm(block, begin * 3, std::min(end * 3, panels));
    });
  }
#endif
}

}  // namespace

torch::Tensor SkinnyLinear(const torch::Tensor& x, const torch::Tensor& packed, int64_t n,
                           const torch::Tensor& bias) {
  torch::Tensor y = torch::empty({x.dim() == 2 ? x.size(0) : 0, n}, x.options());
  Run(x, packed, n, bias, y, /*accumulate=*/false);
  return y;
}

void SkinnyLinearAddTo(const torch::Tensor& x, const torch::Tensor& packed, int64_t n,
                       const torch::Tensor& bias, const torch::Tensor& y) {
  Run(x, packed, n, bias, y, /*accumulate=*/true);
}

}  // namespace rlvr
