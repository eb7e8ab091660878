#include "core/train_kernels.h"

#include <cstdint>
#include <tuple>
#include <vector>

#include <torch/torch.h>

#include "gtest/gtest.h"

namespace rlvr::train {
namespace {

using torch::Tensor;

constexpr double kEps = 1e-6;

// The LibTorch compositions the fused functions replace (core/model.cc).
Tensor ReferenceRmsNorm(const Tensor& x, const Tensor& w, double eps) {
  return w * (x * torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps));
}

Tensor ReferenceSiluMul(const Tensor& gate, const Tensor& up) { return torch::silu(gate) * up; }

// |actual - expected| <= 1e-5 * max|expected| elementwise (float32 rounding of
// sums in a different order stays far below this; a wrong formula does not).
void ExpectClose(const Tensor& actual, const Tensor& expected, const char* what) {
  ASSERT_TRUE(actual.defined()) << what;
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double scale = std::max(expected.abs().max().item<double>(), 1e-30);
  const double err = (actual - expected).abs().max().item<double>();
  EXPECT_LE(err, 1e-5 * scale) << what << ": max error " << err << " at scale " << scale;
}

// Leaves for one run: fresh copies of x and w with the given requires_grad.
struct Leaves {
  Tensor x, w;
};

Leaves MakeLeaves(const Tensor& x, const Tensor& w, bool x_grad, bool w_grad) {
  return {x.detach().clone().requires_grad_(x_grad), w.detach().clone().requires_grad_(w_grad)};
}

// Checks FusedRmsNorm against the reference: output, dx and dweight for a random
// upstream gradient. `view` maps the leaf x to the tensor normalised (e.g. a
// non-contiguous slice).
template <typename View>
void CheckRmsNorm(const Tensor& x0, int64_t dim, bool x_grad, bool w_grad, View view) {
  Tensor w0 = torch::randn({dim}) * 0.5 + 1.0;
  Leaves fused = MakeLeaves(x0, w0, x_grad, w_grad);
  Leaves ref = MakeLeaves(x0, w0, x_grad, w_grad);
  Tensor y = FusedRmsNorm(view(fused.x), fused.w, kEps);
  Tensor y_ref = ReferenceRmsNorm(view(ref.x), ref.w, kEps);
  ExpectClose(y, y_ref, "y");
  if (!x_grad && !w_grad) {
    EXPECT_FALSE(y.requires_grad());
    return;
  }
  Tensor dy = torch::randn(y_ref.sizes());
  y.backward(dy);
  y_ref.backward(dy);
  if (x_grad) ExpectClose(fused.x.grad(), ref.x.grad(), "dx");
  if (w_grad) ExpectClose(fused.w.grad(), ref.w.grad(), "dweight");
  EXPECT_EQ(fused.x.grad().defined(), x_grad);
  EXPECT_EQ(fused.w.grad().defined(), w_grad);
}

// (dim, rows, x requires grad, weight requires grad)
class RmsNormTest : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, bool, bool>> {};

TEST_P(RmsNormTest, MatchesLibTorch) {
  const auto [dim, rows, x_grad, w_grad] = GetParam();
  torch::manual_seed(dim * 1000 + rows);
  // Rows of different scales, so rstd differs per row.
  Tensor x = torch::randn({rows, dim}) * torch::rand({rows, 1}) * 3;
  CheckRmsNorm(x, dim, x_grad, w_grad, [](const Tensor& t) { return t; });
}

TEST_P(RmsNormTest, NonContiguousSliceMatchesLibTorch) {
  const auto [dim, rows, x_grad, w_grad] = GetParam();
  torch::manual_seed(dim * 1000 + rows + 1);
  // Like the q heads of a fused (B, T, Hq + 2 Hkv, D) projection: (rows, 2, D) of (rows, 5, D).
  Tensor x = torch::randn({rows, 5, dim});
  CheckRmsNorm(x, dim, x_grad, w_grad, [](const Tensor& t) { return t.narrow(1, 1, 2); });
}

INSTANTIATE_TEST_SUITE_P(Sizes, RmsNormTest,
                         ::testing::Combine(::testing::Values(32, 48, 128, 130),
                                            ::testing::Values(1, 7, 513), ::testing::Bool(),
                                            ::testing::Bool()));

TEST(RmsNormTest, TransposedInputMatchesLibTorch) {
  torch::manual_seed(3);
  Tensor x = torch::randn({64, 9});  // normalised over the 9 rows of the transpose's view
  CheckRmsNorm(x, 64, true, true, [](const Tensor& t) { return t.t(); });
}

TEST(RmsNormTest, NoGradModeGivesTheForward) {
  torch::manual_seed(4);
  Tensor x = torch::randn({3, 5, 48}, torch::requires_grad());
  Tensor w = torch::randn({48}, torch::requires_grad());
  torch::NoGradGuard no_grad;
  Tensor y = FusedRmsNorm(x, w, kEps);
  EXPECT_FALSE(y.requires_grad());
  ExpectClose(y, ReferenceRmsNorm(x, w, kEps), "y");
}

TEST(RmsNormTest, WeightGradientDoesNotDependOnThreads) {
  torch::manual_seed(5);
  Tensor x = torch::randn({4099, 130});
  Tensor dy = torch::randn({4099, 130});
  std::vector<Tensor> grads;
  const int threads = at::get_num_threads();
  for (int n : {1, 2, 3}) {
    at::set_num_threads(n);
    Tensor w = torch::ones({130}, torch::requires_grad());
    FusedRmsNorm(x, w, kEps).backward(dy);
    grads.push_back(w.grad());
  }
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(grads[0], grads[1]));
  EXPECT_TRUE(torch::equal(grads[0], grads[2]));
}

TEST(RmsNormTest, UseFusedCpuOnlyForCpuFloat32) {
  EXPECT_TRUE(UseFusedCpu(torch::ones({2}), torch::ones({2})));
  EXPECT_FALSE(UseFusedCpu(torch::ones({2}, torch::kBFloat16), torch::ones({2})));
  EXPECT_FALSE(UseFusedCpu(torch::ones({2}), torch::ones({2}, torch::kFloat64)));
}

// Checks FusedSiluMul against the reference for gate and up made from one leaf
// by `split` (which returns {gate, up}).
template <typename Split>
void CheckSiluMul(const Tensor& leaf0, Split split, bool grad = true) {
  Tensor fused_leaf = leaf0.detach().clone().requires_grad_(grad);
  Tensor ref_leaf = leaf0.detach().clone().requires_grad_(grad);
  auto [gate, up] = split(fused_leaf);
  auto [gate_ref, up_ref] = split(ref_leaf);
  Tensor y = FusedSiluMul(gate, up);
  Tensor y_ref = ReferenceSiluMul(gate_ref, up_ref);
  ExpectClose(y, y_ref, "y");
  if (!grad) return;
  Tensor dy = torch::randn(y_ref.sizes());
  y.backward(dy);
  y_ref.backward(dy);
  ExpectClose(fused_leaf.grad(), ref_leaf.grad(), "d(gate_up)");
}

// (inter, rows)
class SiluMulTest : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

TEST_P(SiluMulTest, HalvesOfGateUpMatchLibTorch) {
  const auto [inter, rows] = GetParam();
  torch::manual_seed(inter * 1000 + rows);
  Tensor gate_up = torch::randn({rows, 2 * inter}) * 4;  // silu's tails as well as its middle
  CheckSiluMul(gate_up, [inter = inter](const Tensor& t) {
    return std::make_pair(t.narrow(-1, 0, inter), t.narrow(-1, inter, inter));
  });
}

TEST_P(SiluMulTest, SeparateTensorsMatchLibTorch) {
  const auto [inter, rows] = GetParam();
  torch::manual_seed(inter * 1000 + rows + 1);
  // Stacked only to have one leaf; gate and up are separate contiguous tensors.
  Tensor both = torch::randn({2, 3, rows, inter}) * 4;
  CheckSiluMul(both, [](const Tensor& t) { return std::make_pair(t[0], t[1]); });
}

TEST_P(SiluMulTest, UnevenlyStridedInputsMatchLibTorch) {
  const auto [inter, rows] = GetParam();
  torch::manual_seed(inter * 1000 + rows + 2);
  // (rows, 2, inter) of (rows, 3, inter): gate is the transpose of a slice.
  Tensor t = torch::randn({3, rows, 2 * inter}) * 4;
  CheckSiluMul(t, [inter = inter](const Tensor& x) {
    return std::make_pair(x.narrow(0, 0, 2).transpose(0, 1).narrow(-1, 0, inter),
                          x.narrow(0, 1, 2).transpose(0, 1).narrow(-1, inter, inter));
  });
}

INSTANTIATE_TEST_SUITE_P(Sizes, SiluMulTest,
                         ::testing::Combine(::testing::Values(32, 48, 128, 130, 384),
                                            ::testing::Values(1, 7, 513)));

TEST(SiluMulTest, GradientToOneInputOnly) {
  torch::manual_seed(6);
  Tensor gate = torch::randn({7, 48}, torch::requires_grad());
  Tensor up = torch::randn({7, 48});
  Tensor gate_ref = gate.detach().clone().requires_grad_(true);
  Tensor dy = torch::randn({7, 48});
  FusedSiluMul(gate, up).backward(dy);
  ReferenceSiluMul(gate_ref, up).backward(dy);
  ExpectClose(gate.grad(), gate_ref.grad(), "dgate");
}

TEST(SiluMulTest, NoGradModeGivesTheForward) {
  torch::manual_seed(7);
  Tensor gate_up = torch::randn({2, 5, 96}) * 4;
  CheckSiluMul(
      gate_up,
      [](const Tensor& t) { return std::make_pair(t.narrow(-1, 0, 48), t.narrow(-1, 48, 48)); },
      /*grad=*/false);
}

Tensor ReferenceRope(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  Tensor rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

// (dim, tokens)
class RopeTest : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

// Checks FusedRope on x = view(leaf) (B, T, H, D) against the reference.
template <typename View>
void CheckRope(const Tensor& leaf0, const Tensor& cos, const Tensor& sin, View view) {
  Tensor leaf = leaf0.detach().clone().requires_grad_(true);
  Tensor leaf_ref = leaf0.detach().clone().requires_grad_(true);
  Tensor y = FusedRope(view(leaf), cos, sin);
  Tensor y_ref = ReferenceRope(view(leaf_ref), cos, sin);
  ExpectClose(y, y_ref, "y");
  Tensor dy = torch::randn(y_ref.sizes());
  y.backward(dy);
  y_ref.backward(dy);
  ExpectClose(leaf.grad(), leaf_ref.grad(), "dx");
}

TEST_P(RopeTest, RotaryAnglesMatchLibTorch) {
  const auto [dim, tokens] = GetParam();
  torch::manual_seed(dim * 1000 + tokens);
  // As the model builds them: cat(freqs, freqs), so both halves share angles.
  Tensor freqs = torch::rand({1, tokens, 1, dim / 2}) * 50;
  Tensor emb = torch::cat({freqs, freqs}, -1);
  Tensor x = torch::randn({1, tokens, 3, dim});
  CheckRope(x, emb.cos(), emb.sin(), [](const Tensor& t) { return t; });
}

TEST_P(RopeTest, ArbitraryCosSinAndHeadSliceMatchLibTorch) {
  const auto [dim, tokens] = GetParam();
  torch::manual_seed(dim * 1000 + tokens + 1);
  // Halves with different cos and sin check each term's index; x is the k heads
  // of a fused (B, T, Hq + 2 Hkv, D) projection, not contiguous.
  Tensor cos = torch::randn({2, tokens, 1, dim}), sin = torch::randn({2, tokens, 1, dim});
  Tensor qkv = torch::randn({2, tokens, 8, dim});
  CheckRope(qkv, cos, sin, [](const Tensor& t) { return t.narrow(2, 4, 2); });
}

INSTANTIATE_TEST_SUITE_P(Sizes, RopeTest,
                         ::testing::Combine(::testing::Values(32, 48, 128, 130),
                                            ::testing::Values(1, 7, 513)));

TEST(RopeTest, NoGradModeGivesTheForward) {
  torch::manual_seed(8);
  Tensor x = torch::randn({2, 5, 4, 64}, torch::requires_grad());
  Tensor cos = torch::randn({2, 5, 1, 64}), sin = torch::randn({2, 5, 1, 64});
  torch::NoGradGuard no_grad;
  Tensor y = FusedRope(x, cos, sin);
  EXPECT_FALSE(y.requires_grad());
  ExpectClose(y, ReferenceRope(x, cos, sin), "y");
}

}  // namespace
}  // namespace rlvr::train
