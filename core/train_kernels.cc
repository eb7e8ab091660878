#include "core/train_kernels.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <ATen/Parallel.h>

#include "core/cpu_isa.h"
#include "core/train_kernels_isa.h"

namespace rlvr::train {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Elements per parallel task: below this a tensor runs on the calling thread.
constexpr int64_t kGrainElements = 32768;
// The weight gradient is summed per block of rows, then over the blocks in
// order: at most kMaxBlocks partial sums, of at least kMinBlockRows rows each.
constexpr int64_t kMaxBlocks = 64;
constexpr int64_t kMinBlockRows = 16;

int64_t DivUp(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t RowGrain(int64_t dim) { return std::max<int64_t>(1, kGrainElements / dim); }

// The row kernels compiled for the instruction set LibTorch's own CPU kernels
// use (cpu_isa.h).
const RowKernels& Kernels() {
  switch (KernelIsa()) {
#if defined(__x86_64__)
    case CpuIsa::kAvx512:
      return AVX512::Kernels();
    case CpuIsa::kAvx2:
      return AVX2::Kernels();
#endif
    default:
      return DEFAULT::Kernels();
  }
}

// A (..., n) tensor as rows of n floats, row r at data + r * stride; `copy`
// holds a contiguous copy when the rows are not evenly strided.
struct RowView {
  Tensor copy;
  const float* data = nullptr;
  int64_t stride = 0;
};

RowView Rows(const Tensor& t) {
  const int64_t n = t.size(-1);
  int64_t stride = -1, expected = 0;
  bool even = n == 1 || t.stride(-1) == 1;
  for (int64_t d = t.dim() - 2; even && d >= 0; --d) {
    if (t.size(d) == 1) continue;
    if (stride < 0) {
      stride = t.stride(d);
      expected = stride * t.size(d);
    } else {
      even = t.stride(d) == expected;
      expected *= t.size(d);
    }
  }
  RowView v;
  if (!even) {
    v.copy = t.contiguous();
    stride = n;
  }
  const Tensor& base = even ? t : v.copy;
  v.data = base.data_ptr<float>();
  v.stride = stride < 0 ? n : stride;
  return v;
}

int64_t NumRows(const Tensor& t) { return t.numel() / t.size(-1); }

// x, weight contiguous. Returns y (x's shape) and rstd (rows).
std::pair<Tensor, Tensor> RmsNormForward(const Tensor& x, const Tensor& weight, double eps) {
  const int64_t dim = x.size(-1), rows = NumRows(x);
  Tensor y = torch::empty_like(x, torch::MemoryFormat::Contiguous);
  Tensor rstd = torch::empty({rows}, x.options());
  const float* xp = x.data_ptr<float>();
  const float* wp = weight.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  float* rp = rstd.data_ptr<float>();
  const RowKernels& k = Kernels();
  at::parallel_for(0, rows, RowGrain(dim), [&](int64_t begin, int64_t end) {
    k.rms_norm_forward(xp, wp, static_cast<float>(eps), dim, begin, end, yp, rp);
  });
  return {y, rstd};
}

class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& weight, double eps) {
    Tensor xc = x.contiguous(), w = weight.contiguous();
    auto [y, rstd] = RmsNormForward(xc, w, eps);
    ctx->save_for_backward({xc, w, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const bool need_x = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    if (!grads[0].defined() || (!need_x && !need_w)) return {Tensor(), Tensor(), Tensor()};
    auto saved = ctx->get_saved_variables();
    const Tensor& x = saved[0];
    const Tensor& weight = saved[1];
    const Tensor& rstd = saved[2];
    const Tensor dy = grads[0].contiguous();
    const int64_t dim = x.size(-1), rows = NumRows(x);
    Tensor dx = need_x ? torch::empty_like(x) : Tensor();
    Tensor dw = need_w ? torch::zeros_like(weight) : Tensor();
    const float* xp = x.data_ptr<float>();
    const float* wp = weight.data_ptr<float>();
    const float* rp = rstd.data_ptr<float>();
    const float* dyp = dy.data_ptr<float>();
    float* dxp = need_x ? dx.data_ptr<float>() : nullptr;
    const RowKernels& k = Kernels();
    if (!need_w) {
      at::parallel_for(0, rows, RowGrain(dim), [&](int64_t begin, int64_t end) {
        k.rms_norm_backward(xp, wp, rp, dyp, dim, begin, end, dxp, nullptr);
      });
      return {dx, dw, Tensor()};
    }
    const int64_t block = std::max(kMinBlockRows, DivUp(rows, kMaxBlocks));
    const int64_t blocks = DivUp(rows, block);
    std::vector<float> partial(static_cast<size_t>(blocks * dim), 0.0f);  // (blocks, dim)
    at::parallel_for(0, blocks, DivUp(RowGrain(dim), block), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        k.rms_norm_backward(xp, wp, rp, dyp, dim, b * block, std::min(rows, (b + 1) * block), dxp,
                            partial.data() + b * dim);
      }
    });
    float* dwp = dw.data_ptr<float>();
    for (int64_t b = 0; b < blocks; ++b) {
      const float* p = partial.data() + b * dim;
      for (int64_t i = 0; i < dim; ++i) dwp[i] += p[i];
    }
    return {dx, dw, Tensor()};
  }
};

Tensor SiluMulForward(const Tensor& gate, const Tensor& up) {
  const int64_t inter = gate.size(-1), rows = NumRows(gate);
  const RowView g = Rows(gate), u = Rows(up);
  Tensor out = torch::empty(gate.sizes(), gate.options());
  float* op = out.data_ptr<float>();
  const RowKernels& k = Kernels();
  at::parallel_for(0, rows, RowGrain(inter), [&](int64_t begin, int64_t end) {
    k.silu_mul_forward(g.data, g.stride, u.data, u.stride, inter, begin, end, op);
  });
  return out;
}

class SiluMulFunction : public torch::autograd::Function<SiluMulFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& gate, const Tensor& up) {
    ctx->save_for_backward({gate, up});
    return SiluMulForward(gate, up);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const bool need_gate = ctx->needs_input_grad(0), need_up = ctx->needs_input_grad(1);
    if (!grads[0].defined() || (!need_gate && !need_up)) return {Tensor(), Tensor()};
    auto saved = ctx->get_saved_variables();
    const Tensor& gate = saved[0];
    const Tensor& up = saved[1];
    const Tensor dout = grads[0].contiguous();
    const int64_t inter = gate.size(-1), rows = NumRows(gate);
    const RowView g = Rows(gate), u = Rows(up);
    Tensor dgate = need_gate ? torch::empty(gate.sizes(), gate.options()) : Tensor();
    Tensor dup = need_up ? torch::empty(up.sizes(), up.options()) : Tensor();
    const float* dp = dout.data_ptr<float>();
    float* dgp = need_gate ? dgate.data_ptr<float>() : nullptr;
    float* dup_p = need_up ? dup.data_ptr<float>() : nullptr;
    const RowKernels& k = Kernels();
    at::parallel_for(0, rows, RowGrain(inter), [&](int64_t begin, int64_t end) {
      k.silu_mul_backward(g.data, g.stride, u.data, u.stride, dp, inter, begin, end, dgp, dup_p);
    });
    return {dgate, dup};
  }
};

// x: (tokens, heads, dim) contiguous; cos, sin: (tokens, dim) contiguous.
Tensor RopeRows(const Tensor& x, const Tensor& cos, const Tensor& sin, bool backward) {
  const int64_t dim = x.size(-1), heads = x.size(-2), tokens = x.numel() / (heads * dim);
  Tensor out = torch::empty_like(x, torch::MemoryFormat::Contiguous);
  const float* xp = x.data_ptr<float>();
  const float* cp = cos.data_ptr<float>();
  const float* sp = sin.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const RowKernels& k = Kernels();
  at::parallel_for(0, tokens, RowGrain(heads * dim), [&](int64_t begin, int64_t end) {
    k.rope(xp, cp, sp, heads, dim, backward, begin, end, op);
  });
  return out;
}

class RopeFunction : public torch::autograd::Function<RopeFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& cos,
                        const Tensor& sin) {
    Tensor c = cos.contiguous(), s = sin.contiguous();
    ctx->save_for_backward({c, s});
    return RopeRows(x.contiguous(), c, s, /*backward=*/false);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined() || !ctx->needs_input_grad(0)) return {Tensor(), Tensor(), Tensor()};
    auto saved = ctx->get_saved_variables();
    return {RopeRows(grads[0].contiguous(), saved[0], saved[1], /*backward=*/true), Tensor(),
            Tensor()};
  }
};

bool Differentiable(const Tensor& a, const Tensor& b) {
  return torch::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad());
}

}  // namespace

bool UseFusedCpu(const Tensor& a, const Tensor& b) {
  return a.device().is_cpu() && b.device().is_cpu() && a.scalar_type() == torch::kFloat32 &&
         b.scalar_type() == torch::kFloat32;
}

Tensor FusedRmsNorm(const Tensor& x, const Tensor& weight, double eps) {
  TORCH_CHECK(UseFusedCpu(x, weight), "FusedRmsNorm takes CPU float32 tensors");
  TORCH_CHECK(x.dim() >= 1 && weight.dim() == 1 && weight.size(0) == x.size(-1) && x.size(-1) > 0,
              "FusedRmsNorm: weight ", weight.sizes(), " does not match x ", x.sizes());
  if (Differentiable(x, weight)) return RmsNormFunction::apply(x, weight, eps);
  return RmsNormForward(x.contiguous(), weight.contiguous(), eps).first;
}

Tensor FusedSiluMul(const Tensor& gate, const Tensor& up) {
  TORCH_CHECK(UseFusedCpu(gate, up), "FusedSiluMul takes CPU float32 tensors");
  TORCH_CHECK(gate.dim() >= 1 && gate.sizes() == up.sizes() && gate.size(-1) > 0,
              "FusedSiluMul: gate ", gate.sizes(), " and up ", up.sizes(), " differ");
  if (Differentiable(gate, up)) return SiluMulFunction::apply(gate, up);
  return SiluMulForward(gate, up);
}

Tensor FusedRope(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  TORCH_CHECK(UseFusedCpu(x, cos) && UseFusedCpu(x, sin), "FusedRope takes CPU float32 tensors");
  TORCH_CHECK(x.dim() >= 2 && x.size(-1) % 2 == 0 && x.size(-1) > 0 && x.size(-2) > 0,
              "FusedRope: x ", x.sizes(), " is not (..., H, D) with D even");
  std::vector<int64_t> rows = x.sizes().vec();
  rows[rows.size() - 2] = 1;
  TORCH_CHECK(cos.sizes() == rows && sin.sizes() == rows, "FusedRope: cos ", cos.sizes(),
              " and sin ", sin.sizes(), " are not ", c10::IntArrayRef(rows));
  TORCH_CHECK(!cos.requires_grad() && !sin.requires_grad(),
              "FusedRope: no gradient flows to cos and sin");
  if (torch::GradMode::is_enabled() && x.requires_grad()) return RopeFunction::apply(x, cos, sin);
  return RopeRows(x.contiguous(), cos.contiguous(), sin.contiguous(), /*backward=*/false);
}

}  // namespace rlvr::train
