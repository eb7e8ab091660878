#include "core/skinny_gemm.h"

#include <cmath>
#include <cstdint>

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace rlvr {
namespace {

// Packs w, or skips the test where the CPU has no AVX-512 (the model then keeps
// its oneDNN path, which model_test and engine_test cover).
#define PACK_OR_SKIP(packed, w)               \
  torch::Tensor packed = PackSkinnyWeight(w); \
  if (!packed.defined()) GTEST_SKIP() << "this CPU has no AVX-512F";

// x @ w^T + b against LibTorch's linear (MKL), over row counts that cover full 8-row
// tiles, every tail of 1 to 7 rows, and more than one 256-row block; column counts that are and are
// not whole 16-column panels and 3-panel groups; k from 1 to 200; with and
// without bias; x a strided view (rows further apart than k).
TEST(SkinnyGemmTest, EqualsLinear) {
  torch::manual_seed(0);
  for (int64_t n : {1, 16, 40, 48, 49, 100, 515}) {
    for (int64_t k : {1, 3, 64, 65, 200}) {
      torch::Tensor w = torch::randn({n, k});
      torch::Tensor b = torch::randn({n});
      PACK_OR_SKIP(packed, w);
      for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 32, 33, 64, 130, 300}) {
        torch::Tensor wide = torch::randn({m, k + 5});
        torch::Tensor x = wide.narrow(1, 2, k);  // row stride k + 5
        for (bool bias : {false, true}) {
          torch::Tensor got = SkinnyLinear(x, packed, n, bias ? b : torch::Tensor());
          torch::Tensor want = torch::linear(x, w, bias ? b : torch::Tensor());
          ASSERT_EQ(got.sizes(), want.sizes());
          EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-4))
              << "m " << m << " n " << n << " k " << k << " bias " << bias << ": max diff "
              << (got - want).abs().max().item<float>();
        }
      }
    }
  }
}

// Each output is computed by one thread in one order: two threads give the same bits.
// 980 columns are 62 panels, so the last 3-panel group is partial and the last panel
// too.
TEST(SkinnyGemmTest, ThreadsGiveTheSameBits) {
  torch::manual_seed(1);
  torch::Tensor w = torch::randn({980, 96}), x = torch::randn({40, 96});
  PACK_OR_SKIP(packed, w);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  torch::Tensor one = SkinnyLinear(x, packed, 980, {});
  at::set_num_threads(2);
  torch::Tensor two = SkinnyLinear(x, packed, 980, {});
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one, two));
  EXPECT_TRUE(torch::allclose(one, torch::linear(x, w), 1e-4, 1e-4));
}

// Where LibTorch runs its own kernels with AVX-512 the model's decode weights must
// take the panel path: the tests above skip without it, and the engine's
// PackedWeightsTest would pass through oneDNN's path instead.
TEST(SkinnyGemmTest, PacksWhereTheCpuHasAvx512) {
  const bool avx512 = at::get_cpu_capability() == "AVX512";
  EXPECT_EQ(PackSkinnyWeight(torch::randn({512, 512})).defined(), avx512);
}

// y += x @ w^T + b, in the product's stores: the same bits as adding SkinnyLinear's
// result, against LibTorch for the value; y's rows may be further apart than n, and
// columns past n in those rows are left alone.
TEST(SkinnyGemmTest, AddToAccumulates) {
  torch::manual_seed(2);
  for (int64_t n : {16, 49, 515}) {
    torch::Tensor w = torch::randn({n, 70}), b = torch::randn({n});
    PACK_OR_SKIP(packed, w);
    for (int64_t m : {1, 7, 32, 300}) {
      torch::Tensor x = torch::randn({m, 70});
      torch::Tensor wide = torch::randn({m, n + 3});
      torch::Tensor y = wide.narrow(1, 0, n);
      const torch::Tensor before = wide.clone();
      SkinnyLinearAddTo(x, packed, n, b, y);
      torch::Tensor want = before.narrow(1, 0, n) + SkinnyLinear(x, packed, n, b);
      EXPECT_TRUE(torch::equal(y, want)) << "m " << m << " n " << n;
      EXPECT_TRUE(torch::allclose(y, before.narrow(1, 0, n) + torch::linear(x, w, b), 1e-4, 1e-4));
      EXPECT_TRUE(torch::equal(wide.narrow(1, n, 3), before.narrow(1, n, 3)));
    }
  }
  torch::Tensor w = torch::randn({32, 20});
  PACK_OR_SKIP(packed, w);
  EXPECT_THROW(SkinnyLinearAddTo(torch::randn({4, 20}), packed, 32, {}, torch::zeros({4, 31})),
               c10::Error);
  EXPECT_THROW(SkinnyLinearAddTo(torch::randn({4, 20}), packed, 32, {}, torch::zeros({5, 32})),
               c10::Error);
  EXPECT_THROW(SkinnyLinearAddTo(torch::randn({4, 20}), packed, 32, {},
                                 torch::zeros({4, 32}, torch::kFloat64)),
               c10::Error);
}

// Weights that are all bfloat16 values (a bfloat16 checkpoint's) with even k pack as
// bfloat16 k-pairs and give the float32 panels' bits, from half the bytes; x's
// columns past k (NaN here) must not be read. Odd k, or one value off bfloat16, keeps
// the weight in float32.
TEST(SkinnyGemmTest, Bfloat16PanelsGiveTheFloat32Bits) {
  torch::manual_seed(3);
  for (int64_t n : {16, 49, 515}) {
    for (int64_t k : {2, 4, 64, 200}) {
      torch::Tensor w = torch::randn({n, k}).to(torch::kBFloat16).to(torch::kFloat32);
      torch::Tensor b = torch::randn({n});
      PACK_OR_SKIP(pairs, w);
      const torch::Tensor singles = PackSkinnyWeight(w, PanelDtype::kFloat32);
      ASSERT_EQ(pairs.scalar_type(), torch::kBFloat16);
      ASSERT_EQ(pairs.sizes(), torch::IntArrayRef({(n + 15) / 16, k / 2, 32}));
      ASSERT_EQ(singles.scalar_type(), torch::kFloat32);
      for (int64_t m : {1, 5, 8, 9, 33, 130, 300}) {
        torch::Tensor wide = torch::full({m, k + 5}, std::nanf(""));
        torch::Tensor x = wide.narrow(1, 2, k);
        x.normal_();
        torch::Tensor got = SkinnyLinear(x, pairs, n, b);
        EXPECT_TRUE(torch::equal(got, SkinnyLinear(x, singles, n, b)))
            << "m " << m << " n " << n << " k " << k;
        EXPECT_TRUE(torch::allclose(got, torch::linear(x, w, b), 1e-4, 1e-4))
            << "m " << m << " n " << n << " k " << k;
        torch::Tensor y = torch::randn({m, n}), y2 = y.clone();
        SkinnyLinearAddTo(x, pairs, n, b, y);
        SkinnyLinearAddTo(x, singles, n, b, y2);
        EXPECT_TRUE(torch::equal(y, y2)) << "m " << m << " n " << n << " k " << k;
      }
    }
  }
  torch::Tensor w = torch::randn({64, 64}).to(torch::kBFloat16).to(torch::kFloat32);
  w[5][7] += 1e-4;  // no longer a bfloat16 value
  PACK_OR_SKIP(packed, w);
  EXPECT_EQ(packed.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(SkinnyLinear(torch::ones({2, 64}), packed, 64, {}),
                              torch::linear(torch::ones({2, 64}), w), 1e-4, 1e-4));
  torch::Tensor odd = torch::randn({64, 65}).to(torch::kBFloat16).to(torch::kFloat32);
  EXPECT_EQ(PackSkinnyWeight(odd).scalar_type(), torch::kFloat32);
  // A bfloat16 pack holds K / 2 lines: x of K - 1 or K + 1 columns is refused.
  torch::Tensor even = torch::randn({32, 20}).to(torch::kBFloat16).to(torch::kFloat32);
  const torch::Tensor pairs = PackSkinnyWeight(even);
  EXPECT_THROW(SkinnyLinear(torch::randn({4, 19}), pairs, 32, {}), c10::Error);
  EXPECT_THROW(SkinnyLinear(torch::randn({4, 21}), pairs, 32, {}), c10::Error);
  EXPECT_TRUE(torch::allclose(SkinnyLinear(torch::ones({3, 20}), pairs, 32, {}),
                              torch::linear(torch::ones({3, 20}), even), 1e-4, 1e-4));
}

TEST(SkinnyGemmTest, MismatchedShapesAreRefused) {
  torch::Tensor w = torch::randn({32, 20});
  PACK_OR_SKIP(packed, w);
  EXPECT_THROW(SkinnyLinear(torch::randn({4, 21}), packed, 32, {}), c10::Error);
  EXPECT_THROW(SkinnyLinear(torch::randn({4, 20}), packed, 33, {}), c10::Error);
  EXPECT_THROW(SkinnyLinear(torch::randn({4, 20}), packed, 32, torch::randn({31})), c10::Error);
  EXPECT_THROW(SkinnyLinear(torch::randn({4, 20}).to(torch::kFloat64), packed, 32, {}), c10::Error);
  EXPECT_FALSE(PackSkinnyWeight(torch::randn({16, 0})).defined());
  EXPECT_FALSE(PackSkinnyWeight(torch::randn({16, 8}).to(torch::kFloat64)).defined());
}

}  // namespace
}  // namespace rlvr
