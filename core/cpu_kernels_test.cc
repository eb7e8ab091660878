#include "core/cpu_kernels.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace rlvr {
namespace {

struct Stats {
  std::vector<int64_t> argmax;
  std::vector<float> logsumexp;
};

Stats LogitStatsOf(const torch::Tensor& logits, const torch::Tensor& scale) {
  const int64_t rows = logits.size(0);
  Stats s{std::vector<int64_t>(rows), std::vector<float>(rows)};
  cpu::LogitStats(logits.data_ptr<float>(), rows, logits.size(1), scale.data_ptr<float>(),
                  s.argmax.data(), s.logsumexp.data());
  return s;
}

// Against LibTorch's argmax (the first maximal index) and logsumexp of logits * scale,
// over vocab sizes below, at and around the 16-lane width and a real vocabulary;
// rows with ties, -inf entries (masked tokens) and scales of greedy (1) and of
// temperatures 0.3 and 1.7.
TEST(LogitStatsTest, EqualsArgmaxAndLogsumexp) {
  torch::manual_seed(0);
  for (int64_t vocab : {1, 2, 15, 16, 17, 33, 1000, 32768}) {
    torch::Tensor logits = torch::randn({8, vocab}) * 4;
    // Row 1: ties at the max in different lanes (the first one must win); row 2: a
    // run of equal values, max at the end; row 3: half the tokens masked; row 7: ties
    // in one lane, 16 apart, and in the scalar tail.
    if (vocab >= 3) {
      logits[1].fill_(-1);
      logits[1][vocab - 1] = 5;
      logits[1][vocab / 2] = 5;
      logits[1][1] = 5;
    }
    logits[2].fill_(0.25);
    logits[2][vocab - 1] = 0.5;
    if (vocab >= 2)
      logits[3].narrow(0, 0, vocab / 2).fill_(-std::numeric_limits<float>::infinity());
    logits[4] += 300;  // large logits: exp would overflow without the max shift
    logits[7].fill_(-2);
    for (int64_t v : {int64_t{3}, int64_t{19}, int64_t{51}, vocab - 1}) {
      if (v < vocab) logits[7][v] = 7;
    }
    torch::Tensor scale =
        torch::tensor({1.0f, 1.0f, 1.0f, 1 / 0.3f, 1 / 1.7f, 1.0f, 1 / 0.3f, 1.0f});
    const Stats got = LogitStatsOf(logits, scale);
    torch::Tensor want_argmax = logits.argmax(-1);
    torch::Tensor want_lse = torch::logsumexp(logits * scale.unsqueeze(1), -1);
    for (int64_t r = 0; r < logits.size(0); ++r) {
      EXPECT_EQ(got.argmax[r], want_argmax[r].item<int64_t>()) << "vocab " << vocab << " row " << r;
      const float want = want_lse[r].item<float>();
      EXPECT_NEAR(got.logsumexp[r], want, 2e-6 * std::max(1.0f, std::abs(want)))
          << "vocab " << vocab << " row " << r;
    }
  }
}

// The log-probabilities it implies equal LibTorch's log_softmax of the scaled row.
TEST(LogitStatsTest, GivesLogSoftmax) {
  torch::manual_seed(1);
  torch::Tensor logits = torch::randn({5, 32768}) * 3;
  torch::Tensor scale = torch::tensor({1.0f, 2.0f, 0.5f, 1 / 0.7f, 1.0f});
  const Stats got = LogitStatsOf(logits, scale);
  torch::Tensor lp = torch::log_softmax(logits * scale.unsqueeze(1), -1);
  for (int64_t r = 0; r < 5; ++r) {
    for (int64_t v : {int64_t{0}, got.argmax[r], int64_t{12345}, int64_t{32767}}) {
      const float mine = logits[r][v].item<float>() * scale[r].item<float>() - got.logsumexp[r];
      EXPECT_NEAR(mine, lp[r][v].item<float>(), 1e-5) << "row " << r << " token " << v;
    }
  }
}

// Rows split over threads give the same bits as one thread.
TEST(LogitStatsTest, SameOnAnyThreadCount) {
  torch::manual_seed(2);
  torch::Tensor logits = torch::randn({33, 5000});
  torch::Tensor scale = torch::rand({33}) + 0.5;
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const Stats one = LogitStatsOf(logits, scale);
  at::set_num_threads(2);
  const Stats two = LogitStatsOf(logits, scale);
  at::set_num_threads(threads);
  EXPECT_EQ(one.argmax, two.argmax);
  EXPECT_EQ(one.logsumexp, two.logsumexp);
}

// A NaN or +infinity in a row gives a NaN logsumexp, not a number that looks valid.
TEST(LogitStatsTest, NonFiniteRowGivesNan) {
  torch::Tensor logits = torch::randn({2, 40});
  logits[0][17] = std::numeric_limits<float>::quiet_NaN();
  logits[1][3] = std::numeric_limits<float>::infinity();
  const Stats got = LogitStatsOf(logits, torch::ones({2}));
  EXPECT_TRUE(std::isnan(got.logsumexp[0]));
  EXPECT_TRUE(std::isnan(got.logsumexp[1]));
}

torch::Tensor SiluMulOf(const torch::Tensor& gate_up) {
  const int64_t rows = gate_up.size(0), inter = gate_up.size(1) / 2;
  torch::Tensor out = torch::full({rows, inter}, std::numeric_limits<float>::quiet_NaN());
  cpu::SiluMulRows(gate_up.data_ptr<float>(), rows, inter, out.data_ptr<float>());
  return out;
}

// Against LibTorch's silu(gate) * up, over widths with and without a tail past the
// last 16 lanes, with gates far in both tails of the sigmoid (where exp(-g) overflows
// float), zeros of both signs and a NaN, which must come through as NaN.
TEST(SiluMulRowsTest, EqualsSiluTimesUp) {
  torch::manual_seed(3);
  for (int64_t inter : {1, 15, 16, 17, 40, 1536}) {
    torch::Tensor gate_up = torch::randn({5, 2 * inter}) * 4;
    gate_up[0][0] = 100.0f;
    gate_up[1][0] = -100.0f;
    gate_up[2][0] = -0.0f;
    gate_up[3][0] = 1e-30f;
    gate_up[4][0] = std::numeric_limits<float>::quiet_NaN();
    if (inter > 16) {
      gate_up[0][16] = -90.0f;  // e^90 overflows float
      gate_up[1][16] = 88.0f;
    }
    torch::Tensor gate = gate_up.narrow(1, 0, inter), up = gate_up.narrow(1, inter, inter);
    torch::Tensor want = torch::silu(gate) * up;
    torch::Tensor got = SiluMulOf(gate_up);
    EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-6, /*equal_nan=*/true))
        << "inter " << inter << ": max diff "
        << (got - want).abs().nan_to_num(0).max().item<float>();
    EXPECT_TRUE(std::isnan(got[4][0].item<float>()));
  }
}

TEST(SiluMulRowsTest, SameOnAnyThreadCount) {
  torch::manual_seed(4);
  torch::Tensor gate_up = torch::randn({64, 2 * 1536});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  torch::Tensor one = SiluMulOf(gate_up);
  at::set_num_threads(2);
  torch::Tensor two = SiluMulOf(gate_up);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one, two));
}

}  // namespace
}  // namespace rlvr
