// Packing: every sequence lands in exactly one row of one micro-batch within the budgets,
// and the packed log-probabilities and their gradients, with and without shared prompts,
// equal those of each sequence run alone through the model (the unpacked path, itself
// checked against transformers in core/model_test).
#include "learner/batch.h"

#include <algorithm>
#include <map>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/model.h"
#include "core/model_config.h"
#include "core/tokenizer.h"
#include "tests/model_test_util.h"

namespace rlvr {
namespace {

// Sequences of varied lengths (one longer than every row budget below), one with an
// empty completion, one with a completion mask and one masked out entirely.
std::vector<Sequence> Sequences() {
  std::vector<Sequence> out;
  const std::vector<std::pair<int, int>> lengths = {{3, 5}, {7, 2}, {2, 9},   {5, 0}, {4, 4},
                                                    {6, 7}, {1, 3}, {30, 12}, {3, 3}, {8, 1}};
  int next = 5;
  for (const auto& [p, c] : lengths) {
    Sequence s;
    for (int i = 0; i < p; ++i) s.prompt.push_back(next++ % 400 + 3);
    for (int i = 0; i < c; ++i) s.completion.push_back(next++ % 400 + 3);
    out.push_back(std::move(s));
  }
  out[4].completion_mask = {1, 0, 0.5, 1};  // a fractional weight too
  // A group of four sharing a prompt (one empty completion), and a pair sharing a
  // one-token prompt (nothing to share).
  for (int c : {4, 6, 0, 3}) {
    Sequence s;
    s.prompt = {7, 8, 9, 10, 11, 12};
    for (int i = 0; i < c; ++i) s.completion.push_back(next++ % 400 + 3);
    out.push_back(std::move(s));
  }
  out[out.size() - 3].completion_mask = {1, 1, 0, 1, 1, 0};
  for (int c : {2, 5}) {
    Sequence s;
    s.prompt = {13};
    for (int i = 0; i < c; ++i) s.completion.push_back(next++ % 400 + 3);
    out.push_back(std::move(s));
  }
  // Fully masked, 24 tokens: a pass of its own with rows of 24 (nothing in the loss).
  Sequence masked;
  for (int i = 0; i < 10; ++i) masked.prompt.push_back(next++ % 400 + 3);
  for (int i = 0; i < 14; ++i) masked.completion.push_back(next++ % 400 + 3);
  masked.completion_mask.assign(14, 0.0f);
  out.push_back(std::move(masked));
  return out;
}

// log p of each completion token of `s` alone: a (1, T) batch, no segments, no padding.
torch::Tensor AloneLogprobs(const Transformer& model, const Sequence& s) {
  std::vector<int64_t> ids = s.prompt;
  ids.insert(ids.end(), s.completion.begin(), s.completion.end());
  const int64_t n = static_cast<int64_t>(ids.size());
  std::vector<int64_t> targets(ids.begin() + 1, ids.end());
  targets.push_back(0);
  TokenBatch batch;
  batch.input_ids = torch::tensor(ids, torch::kInt64).view({1, n});
  absl::StatusOr<TokenLogprobsResult> r =
      model.TokenLogprobs(batch, torch::tensor(targets, torch::kInt64).view({1, n}), {});
  EXPECT_TRUE(r.ok()) << r.status();
  const int64_t p = static_cast<int64_t>(s.prompt.size());
  return r->logprobs.view({-1}).narrow(0, p - 1, static_cast<int64_t>(s.completion.size()));
}

std::vector<int64_t> Iota(size_t n) {
  std::vector<int64_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<int64_t>(i);
  return v;
}

struct Budget {
  int64_t row_tokens, micro_batch_tokens;
  bool share_prompts = true;
  int64_t attention_tokens = 0;  // > 0: the row length is chosen by cost
};

class PackTest : public ::testing::TestWithParam<Budget> {};

TEST_P(PackTest, EverySequenceOnceWithinTheBudgets) {
  const std::vector<Sequence> seqs = Sequences();
  const PackOptions options{GetParam().row_tokens, GetParam().micro_batch_tokens,
                            GetParam().attention_tokens, GetParam().share_prompts};
  std::vector<int64_t> indices = {9, 0, 8, 1, 7, 2, 10, 11, 12, 13, 6, 3, 14, 15, 5, 4, 16};
  std::map<int64_t, int> seen;
  for (const PackedBatch& b : PackSequences(seqs, indices, options)) {
    const int64_t rows = b.batch.input_ids.size(0), width = b.batch.input_ids.size(1);
    ASSERT_EQ(b.batch.segment_ids.sizes(), b.batch.input_ids.sizes());
    ASSERT_EQ(b.targets.sizes(), b.batch.input_ids.sizes());
    EXPECT_TRUE(rows == 1 || rows * width <= options.micro_batch_tokens) << rows << " x " << width;
    ASSERT_EQ(b.gather.size(0), static_cast<int64_t>(b.index.size()));
    // Tokens per row: real (segment >= 0) tokens within the row budget unless the row
    // holds one sequence or one group sharing a prompt (one root segment).
    torch::Tensor seg = b.batch.segment_ids;
    torch::Tensor root = seg;
    if (b.batch.parent_ids.defined()) {
      EXPECT_TRUE(options.share_prompts);
      root = torch::where(b.batch.parent_ids >= 0, b.batch.parent_ids, seg);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t real = (seg[r] >= 0).sum().item<int64_t>();
      const int64_t units = std::get<0>(at::_unique(root[r].masked_select(seg[r] >= 0))).numel();
      EXPECT_TRUE(units == 1 || real <= options.row_tokens) << real << " tokens in a row";
    }
    for (int64_t i : b.index) ++seen[i];
  }
  ASSERT_EQ(seen.size(), seqs.size());
  for (const auto& [i, count] : seen) EXPECT_EQ(count, 1) << "sequence " << i;
}

TEST_P(PackTest, LogprobsAndGradientsEqualEachSequenceAlone) {
  const Transformer model = test_util::BuiltinTinyModel(11);
  const std::vector<Sequence> seqs = Sequences();
  const PackOptions options{GetParam().row_tokens, GetParam().micro_batch_tokens,
                            GetParam().attention_tokens, GetParam().share_prompts};
  std::vector<torch::Tensor> params;
  for (auto& [name, p] : model.NamedParameters()) params.push_back(p);

  // Packed: the sum of every masked completion logprob, backward per micro-batch.
  torch::Tensor packed_sum = torch::zeros({}, torch::kFloat64);
  for (const PackedBatch& b : PackSequences(seqs, Iota(seqs.size()), options)) {
    absl::StatusOr<TokenLogprobsResult> r = CompletionLogprobs(model, b, {});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->logprobs.sizes(), b.mask.sizes());
    for (size_t row = 0; row < b.index.size(); ++row) {
      const Sequence& s = seqs[b.index[row]];
      const int64_t c = static_cast<int64_t>(s.completion.size());
      torch::NoGradGuard no_grad;
      torch::Tensor alone = AloneLogprobs(model, s);
      torch::Tensor mask = b.mask[row].narrow(0, 0, c);
      torch::Tensor got = r->logprobs[row].narrow(0, 0, c);
      EXPECT_TRUE(torch::allclose(got, alone * mask, 1e-5, 1e-5))
          << "sequence " << b.index[row] << "\n"
          << got << "\n"
          << alone * mask;
      if (!s.completion_mask.empty()) {
        EXPECT_TRUE(torch::equal(mask, torch::tensor(s.completion_mask)));
      }
      // Past the completion the outputs are zero.
      EXPECT_EQ(r->logprobs[row].narrow(0, c, r->logprobs.size(1) - c).abs().sum().item<float>(),
                0.0f);
    }
    torch::Tensor total = r->logprobs.sum();
    total.backward();
    packed_sum += total.detach().to(torch::kFloat64);
  }
  std::vector<torch::Tensor> packed_grads;
  for (torch::Tensor& p : params) {
    packed_grads.push_back(p.grad().clone());
    p.mutable_grad().zero_();
  }
  // Alone: the same sum, one sequence at a time.
  torch::Tensor alone_sum = torch::zeros({}, torch::kFloat64);
  for (const Sequence& s : seqs) {
    if (s.completion.empty()) continue;
    torch::Tensor lp = AloneLogprobs(model, s);
    if (!s.completion_mask.empty()) lp = lp * torch::tensor(s.completion_mask);
    torch::Tensor total = lp.sum();
    total.backward();
    alone_sum += total.detach().to(torch::kFloat64);
  }
  EXPECT_NEAR(packed_sum.item<double>(), alone_sum.item<double>(), 1e-3);
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(torch::allclose(packed_grads[i], params[i].grad(), 1e-4, 1e-5))
        << "parameter " << i << " max diff "
        << (packed_grads[i] - params[i].grad()).abs().max().item<float>();
  }
}

// The group of four (prompt of 6 tokens) packs 5 prompt tokens once instead of 4 times;
// a row budget too small for the whole group splits it into parts that fit.
TEST(PackSharingTest, SharesAGroupsPromptWithinTheRowBudget) {
  const std::vector<Sequence> seqs = Sequences();
  const std::vector<int64_t> group = {10, 11, 12, 13};
  auto real_tokens = [&](const PackOptions& options, int64_t* max_row, bool* shared) {
    int64_t total = 0;
    *max_row = 0;
    *shared = false;
    for (const PackedBatch& b : PackSequences(seqs, group, options)) {
      torch::Tensor real = (b.batch.segment_ids >= 0).sum(1);
      total += real.sum().item<int64_t>();
      *max_row = std::max(*max_row, real.max().item<int64_t>());
      *shared = *shared || b.batch.parent_ids.defined();
    }
    return total;
  };
  int64_t max_row = 0;
  bool shared = false;
  const int64_t whole = real_tokens({8192, 8192, 0, false}, &max_row, &shared);
  EXPECT_EQ(whole, 4 * 6 + 4 + 6 + 0 + 3);
  EXPECT_FALSE(shared);
  EXPECT_EQ(real_tokens({8192, 8192, 0, true}, &max_row, &shared), whole - 3 * 5);
  EXPECT_TRUE(shared);
  // 12 tokens a row: {4-token completion} alone (10), {6} alone (12), {0, 3} shared (10).
  EXPECT_EQ(real_tokens({12, 8192, 0, true}, &max_row, &shared), whole - 5);
  EXPECT_TRUE(shared);
  EXPECT_LE(max_row, 12);
}

// Eight GRPO-like groups of 180 tokens (a 29-token prompt, 8 completions of 18). Rows of
// 512 hold two groups each, no padding either way; with attention costed, rows of one
// group (half the attention per token) are cheaper and chosen; a cost that makes
// attention dominate splits the groups into short rows.
TEST(PackCostTest, ChoosesTheRowLengthByCost) {
  std::vector<Sequence> seqs;
  for (int g = 0; g < 8; ++g) {
    std::vector<int64_t> prompt;
    for (int i = 0; i < 29; ++i) prompt.push_back(3 + (g * 29 + i) % 400);
    for (int j = 0; j < 8; ++j) {
      Sequence s;
      s.prompt = prompt;
      for (int i = 0; i < 18; ++i) s.completion.push_back(3 + (g * 7 + j * 18 + i) % 400);
      seqs.push_back(std::move(s));
    }
  }
  auto widths = [&](int64_t attention_tokens) {
    std::vector<int64_t> w;
    for (const PackedBatch& b :
         PackSequences(seqs, Iota(seqs.size()), {512, 8192, attention_tokens, true})) {
      for (int64_t r = 0; r < b.batch.input_ids.size(0); ++r) {
        w.push_back((b.batch.segment_ids[r] >= 0).sum().item<int64_t>());
      }
    }
    return w;
  };
  EXPECT_EQ(widths(0), std::vector<int64_t>(4, 360));
  EXPECT_EQ(widths(768), std::vector<int64_t>(8, 180));
  for (int64_t w : widths(16)) EXPECT_LT(w, 180);
  // The builtin tiny model: 128 x (2*128 + 2*64 + 3*384) / (2*128) linear parameters.
  EXPECT_EQ(AttentionCostTokens(BuiltinTinyConfig(483)), 768);
}

INSTANTIATE_TEST_SUITE_P(Budgets, PackTest,
                         ::testing::Values(Budget{16, 64},              // many rows and passes
                                           Budget{24, 24},              // one row per pass
                                           Budget{1, 8192},             // one unit per row
                                           Budget{40, 8192},            // one pass, padded rows
                                           Budget{8192, 8192},          // one row
                                           Budget{40, 8192, false},     // prompts not shared
                                           Budget{8192, 8192, false},   // one row, not shared
                                           Budget{64, 8192, true, 8},   // short rows chosen
                                           Budget{256, 128, true, 768}  // rows chosen by cost
                                           ),
                         [](const ::testing::TestParamInfo<Budget>& info) {
                           return "row" + std::to_string(info.param.row_tokens) + "_pass" +
                                  std::to_string(info.param.micro_batch_tokens) +
                                  (info.param.share_prompts ? "" : "_unshared") +
                                  (info.param.attention_tokens > 0
                                       ? "_cost" + std::to_string(info.param.attention_tokens)
                                       : "");
                         });

}  // namespace
}  // namespace rlvr
