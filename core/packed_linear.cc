#include "core/packed_linear.h"

#include <optional>
#include <string>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

namespace rlvr {
namespace {

struct Ops {
  std::optional<c10::OperatorHandle> reorder, linear;
};

// Looked up once; the ops are registered when libtorch_cpu loads.
const Ops& GetOps() {
  static const Ops ops = [] {
    Ops o;
    auto& dispatcher = c10::Dispatcher::singleton();
    o.reorder = dispatcher.findSchema({"mkldnn::_reorder_linear_weight", ""});
    o.linear = dispatcher.findSchema({"mkldnn::_linear_pointwise", ""});
    if (!o.reorder || !o.linear) o.reorder = o.linear = std::nullopt;
    return o;
  }();
  return ops;
}

}  // namespace

torch::Tensor PackLinearWeight(const torch::Tensor& weight) {
  const Ops& ops = GetOps();
  if (!ops.reorder || !weight.defined() || weight.dim() != 2 || !weight.device().is_cpu() ||
      weight.scalar_type() != torch::kFloat32) {
    return {};
  }
  torch::jit::Stack stack{weight.contiguous(), c10::IValue()};
  ops.reorder->callBoxed(&stack);
  return stack.at(0).toTensor();
}

bool PackingPays(const torch::Tensor& weight) {
  return weight.defined() && weight.dim() == 2 && weight.size(0) >= kMinPackedDim &&
         weight.size(1) >= kMinPackedDim;
}

torch::Tensor PackedLinear(const torch::Tensor& x, const torch::Tensor& packed,
                           const torch::Tensor& bias) {
  const int64_t m = x.size(0);
  if (m > 128 && m % 64 != 0) {
    const int64_t padded = (m + 63) / 64 * 64;
    return PackedLinear(torch::constant_pad_nd(x, {0, 0, 0, padded - m}), packed, bias)
        .narrow(0, 0, m);
  }
  torch::jit::Stack stack{x,
                          packed,
                          bias.defined() ? c10::IValue(bias) : c10::IValue(),
                          c10::IValue(std::string("none")),
                          c10::IValue(c10::List<std::optional<c10::Scalar>>()),
                          c10::IValue()};
  GetOps().linear->callBoxed(&stack);
  return stack.at(0).toTensor();
}

}  // namespace rlvr
