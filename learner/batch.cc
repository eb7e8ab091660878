#include "learner/batch.h"

#include <algorithm>

#include "core/status_macros.h"

namespace rlvr {
namespace {

PackedBatch PackRow(const std::vector<Sequence>& sequences, const std::vector<int64_t>& members) {
  int64_t total = 0, max_completion = 0;
  for (int64_t i : members) {
    total += static_cast<int64_t>(sequences[i].prompt.size() + sequences[i].completion.size());
    max_completion = std::max<int64_t>(max_completion, sequences[i].completion.size());
  }
  std::vector<int64_t> ids, pos, seg, targets;
  ids.reserve(total);
  pos.reserve(total);
  seg.reserve(total);
  targets.reserve(total);
  const int64_t b = static_cast<int64_t>(members.size());
  torch::Tensor gather = torch::zeros({b, std::max<int64_t>(max_completion, 1)}, torch::kInt64);
  torch::Tensor mask = torch::zeros({b, std::max<int64_t>(max_completion, 1)}, torch::kFloat32);
  auto g = gather.accessor<int64_t, 2>();
  auto m = mask.accessor<float, 2>();
  for (int64_t row = 0; row < b; ++row) {
    const Sequence& s = sequences[members[row]];
    const int64_t start = static_cast<int64_t>(ids.size());
    const int64_t len = static_cast<int64_t>(s.prompt.size() + s.completion.size());
    for (int64_t t = 0; t < len; ++t) {
      const int64_t token = t < static_cast<int64_t>(s.prompt.size())
                                ? s.prompt[t]
                                : s.completion[t - s.prompt.size()];
      ids.push_back(token);
      pos.push_back(t);
      seg.push_back(row);
    }
    // Position start+p-1+t predicts completion token t (p = prompt length).
    for (int64_t t = 0; t < len; ++t) {
      targets.push_back(t + 1 < len ? ids[start + t + 1] : 0);
    }
    const int64_t p = static_cast<int64_t>(s.prompt.size());
    for (size_t t = 0; t < s.completion.size(); ++t) {
      g[row][t] = start + p - 1 + static_cast<int64_t>(t);
      m[row][t] = s.completion_mask.empty() ? 1.0f : s.completion_mask[t];
    }
  }
  PackedBatch packed;
  packed.batch.input_ids = torch::tensor(ids, torch::kInt64).view({1, -1});
  packed.batch.position_ids = torch::tensor(pos, torch::kInt64).view({1, -1});
  packed.batch.segment_ids = torch::tensor(seg, torch::kInt64).view({1, -1});
  packed.targets = torch::tensor(targets, torch::kInt64).view({1, -1});
  packed.index = members;
  packed.gather = gather;
  packed.mask = mask;
  return packed;
}

}  // namespace

std::vector<PackedBatch> PackSequences(const std::vector<Sequence>& sequences,
                                       const std::vector<int64_t>& indices, int64_t max_tokens) {
  std::vector<PackedBatch> out;
  std::vector<int64_t> members;
  int64_t tokens = 0;
  for (int64_t i : indices) {
    const int64_t len =
        static_cast<int64_t>(sequences[i].prompt.size() + sequences[i].completion.size());
    if (!members.empty() && tokens + len > max_tokens) {
      out.push_back(PackRow(sequences, members));
      members.clear();
      tokens = 0;
    }
    members.push_back(i);
    tokens += len;
  }
  if (!members.empty()) out.push_back(PackRow(sequences, members));
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
  // row.logprobs: (1, L) -> (B, Tc) by position.
  out.logprobs = row.logprobs.view({-1}).index_select(0, gather.view({-1})).view_as(gather) * mask;
  if (row.entropy.defined()) {
    out.entropy = row.entropy.view({-1}).index_select(0, gather.view({-1})).view_as(gather) * mask;
  }
  return out;
}

}  // namespace rlvr
