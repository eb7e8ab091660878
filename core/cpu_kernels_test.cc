// The decoding path's sampling kernels against LibTorch's log_softmax and an
// element-by-element inverse-CDF scan. (CachedAttention is checked through the engine
// against full forward passes in rollout/engine_test.)
#include "core/cpu_kernels.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace rlvr::cpu {
namespace {

TEST(LogSoftmaxRowsTest, EqualsTorchAtEveryTemperatureAndWidth) {
  for (int64_t vocab : {1, 15, 33, 1007, 32768}) {
    SCOPED_TRACE(vocab);
    torch::manual_seed(vocab);
    // Rows of logits at several scales, one with a huge spread (exp underflows to 0).
    torch::Tensor logits =
        torch::randn({4, vocab}) * torch::tensor({1.0f, 5.0f, 0.1f, 60.0f}).view({4, 1});
    torch::Tensor inv_t = torch::tensor({1.0f, 1.0f / 0.7f, 1.0f / 1.2f, 2.0f});
    torch::Tensor lp = torch::empty_like(logits), probs = torch::empty_like(logits);
    LogSoftmaxRows(logits.data_ptr<float>(), inv_t.data_ptr<float>(), 4, vocab,
                   lp.data_ptr<float>(), probs.data_ptr<float>());
    torch::Tensor want = torch::log_softmax(logits.to(torch::kFloat64) * inv_t.view({4, 1}), -1);
    // Within twice LibTorch's own float32 error (log-probabilities reach -1e4 here).
    torch::Tensor torch_f32 = torch::log_softmax(logits * inv_t.view({4, 1}), -1);
    const double torch_error = (torch_f32 - want).abs().max().item<double>();
    EXPECT_LE((lp - want).abs().max().item<double>(), 2 * torch_error + 1e-6);
    EXPECT_LT((probs - want.exp()).abs().max().item<double>(), 1e-6);
    EXPECT_TRUE(torch::isfinite(lp).all().item<bool>());
    // Without probabilities the log-probabilities are the same.
    torch::Tensor lp2 = torch::empty_like(logits);
    LogSoftmaxRows(logits.data_ptr<float>(), inv_t.data_ptr<float>(), 4, vocab,
                   lp2.data_ptr<float>(), nullptr);
    EXPECT_TRUE(torch::equal(lp, lp2));
  }
}

// The plain definition: running double sum, zeros skipped, the last nonzero when u is
// beyond the total.
int64_t ReferenceDraw(const std::vector<float>& p, double u) {
  double cum = 0;
  int64_t last = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    last = static_cast<int64_t>(i);
    cum += p[i];
    if (u < cum) return last;
  }
  return last;
}

TEST(SampleFromProbsTest, EqualsTheElementwiseScan) {
  std::mt19937_64 rng(7);
  for (int64_t n : {1, 5, 63, 64, 65, 1000, 32768}) {
    SCOPED_TRACE(n);
    // Peaked probabilities with runs of zeros, normalised in float.
    std::vector<float> p(n);
    std::exponential_distribution<float> e(1.0f);
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      p[i] = (i % 7 == 3 || (i / 64) % 5 == 2) ? 0.0f : std::pow(e(rng), 3.0f);
      total += p[i];
    }
    if (total == 0) p[0] = 1, total = 1;
    for (float& x : p) x = static_cast<float>(x / total);
    // Whole blocks are summed in float, so where u is within rounding (~1e-7) of a
    // running sum the draw may be the neighbour: the drawn entry's interval must hold
    // u to 1e-6, and almost every draw equals the element-wise scan.
    std::vector<double> before(n + 1, 0.0);
    for (int64_t i = 0; i < n; ++i) before[i + 1] = before[i] + p[i];
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    int same = 0;
    for (int k = 0; k < 2000; ++k) {
      const double u = uniform(rng);
      const int64_t got = SampleFromProbs(p.data(), n, u);
      ASSERT_GT(p[got], 0.0f) << "u " << u;
      EXPECT_LE(before[got], u + 1e-6) << "u " << u << " drew " << got;
      EXPECT_LT(u, before[got + 1] + 1e-6) << "u " << u << " drew " << got;
      same += got == ReferenceDraw(p, u);
    }
    EXPECT_GE(same, 1990);
    EXPECT_GT(p[SampleFromProbs(p.data(), n, std::nextafter(1.0, 0.0))], 0.0f);
  }
  // u beyond the total (rounding): the last nonzero entry, not a zero-probability one.
  std::vector<float> short_total(300, 0.001f);
  for (int i = 290; i < 300; ++i) short_total[i] = 0;
  EXPECT_EQ(SampleFromProbs(short_total.data(), 300, 0.5), 289);
  const std::vector<float> zeros(100, 0.0f);
  EXPECT_EQ(SampleFromProbs(zeros.data(), 100, 0.5), 0);
}

}  // namespace
}  // namespace rlvr::cpu
