#include "learner/batch.h"

#include <algorithm>

#include "core/status_macros.h"

namespace rlvr {
namespace {

int64_t Length(const Sequence& s) {
  return static_cast<int64_t>(s.prompt.size() + s.completion.size());
}

// One micro-batch of `rows`, each a list of indices into `sequences`.
PackedBatch PackRows(const std::vector<Sequence>& sequences,
                     const std::vector<std::vector<int64_t>>& rows) {
  int64_t width = 1, b = 0, max_completion = 1;
  for (const auto& row : rows) {
    int64_t len = 0;
    for (int64_t i : row) {
      len += Length(sequences[i]);
      max_completion = std::max<int64_t>(max_completion, sequences[i].completion.size());
    }
    width = std::max(width, len);
    b += static_cast<int64_t>(row.size());
  }
  const int64_t r = static_cast<int64_t>(rows.size());
  torch::Tensor ids = torch::zeros({r, width}, torch::kInt64);
  torch::Tensor pos = torch::zeros({r, width}, torch::kInt64);
  torch::Tensor seg = torch::full({r, width}, -1, torch::kInt64);  // padding: segment -1
  torch::Tensor targets = torch::zeros({r, width}, torch::kInt64);
  torch::Tensor gather = torch::zeros({b, max_completion}, torch::kInt64);
  torch::Tensor mask = torch::zeros({b, max_completion}, torch::kFloat32);
  auto id = ids.accessor<int64_t, 2>();
  auto ps = pos.accessor<int64_t, 2>();
  auto sg = seg.accessor<int64_t, 2>();
  auto tg = targets.accessor<int64_t, 2>();
  auto g = gather.accessor<int64_t, 2>();
  auto m = mask.accessor<float, 2>();
  PackedBatch packed;
  int64_t out = 0;  // row of the (B, Tc) outputs
  for (int64_t row = 0; row < r; ++row) {
    int64_t col = 0;
    for (int64_t i : rows[row]) {
      const Sequence& s = sequences[i];
      const int64_t p = static_cast<int64_t>(s.prompt.size()), len = Length(s);
      for (int64_t t = 0; t < len; ++t) {
        id[row][col + t] = t < p ? s.prompt[t] : s.completion[t - p];
        ps[row][col + t] = t;
        sg[row][col + t] = out;
      }
      // Position col+t predicts token t+1 of the sequence; the last predicts nothing.
      for (int64_t t = 0; t + 1 < len; ++t) tg[row][col + t] = id[row][col + t + 1];
      for (size_t t = 0; t < s.completion.size(); ++t) {
        g[out][t] = row * width + col + p - 1 + static_cast<int64_t>(t);
        m[out][t] = s.completion_mask.empty() ? 1.0f : s.completion_mask[t];
      }
      packed.index.push_back(i);
      col += len;
      ++out;
    }
  }
  packed.batch.input_ids = ids;
  packed.batch.position_ids = pos;
  packed.batch.segment_ids = seg;
  packed.targets = targets;
  packed.gather = gather;
  packed.mask = mask;
  return packed;
}

}  // namespace

std::vector<PackedBatch> PackSequences(const std::vector<Sequence>& sequences,
                                       const std::vector<int64_t>& indices,
                                       const PackOptions& options) {
  const int64_t row_cap = std::max<int64_t>(1, std::min(options.row_tokens,
                                                         options.micro_batch_tokens));
  // First fit: each sequence joins the first row with room for it.
  std::vector<std::vector<int64_t>> rows;
  std::vector<int64_t> used;
  for (int64_t i : indices) {
    const int64_t len = Length(sequences[i]);
    size_t r = 0;
    while (r < rows.size() && used[r] + len > row_cap) ++r;
    if (r == rows.size()) {
      rows.emplace_back();
      used.push_back(0);
    }
    rows[r].push_back(i);
    used[r] += len;
  }
  // Consecutive rows into passes while rows x the longest row fits the budget.
  std::vector<PackedBatch> out;
  std::vector<std::vector<int64_t>> pass;
  int64_t width = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t w = std::max(width, used[r]);
    if (!pass.empty() && w * static_cast<int64_t>(pass.size() + 1) > options.micro_batch_tokens) {
      out.push_back(PackRows(sequences, pass));
      pass.clear();
      width = 0;
    }
    pass.push_back(std::move(rows[r]));
    width = std::max(width, used[r]);
  }
  if (!pass.empty()) out.push_back(PackRows(sequences, pass));
  return out;
}

absl::StatusOr<TokenLogprobsResult> CompletionLogprobs(const Transformer& model,
                                                       const PackedBatch& packed,
                                                       const TokenLogprobsOptions& options) {
  const torch::Device device = model.options().device;
  TokenBatch batch{packed.batch.input_ids.to(device), packed.batch.position_ids.to(device),
                   packed.batch.segment_ids.to(device)};
  ASSIGN_OR_RETURN(TokenLogprobsResult row,
                   model.TokenLogprobs(batch, packed.targets.to(device), options));
  torch::Tensor gather = packed.gather.to(device);
  torch::Tensor mask = packed.mask.to(device);
  TokenLogprobsResult out;
  // row.logprobs: (R, L) -> (B, Tc) by flat position.
  out.logprobs = row.logprobs.view({-1}).index_select(0, gather.view({-1})).view_as(gather) * mask;
  if (row.entropy.defined()) {
    out.entropy = row.entropy.view({-1}).index_select(0, gather.view({-1})).view_as(gather) * mask;
  }
  return out;
}

}  // namespace rlvr
