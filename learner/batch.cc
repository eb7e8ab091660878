#include "learner/batch.h"

#include <algorithm>
#include <memory>

#include "core/status_macros.h"

namespace rlvr {
namespace {

// Sequences packed together: with a shared prompt, the prompt but its last token once
// (the parent segment), then each member's last prompt token and completion.
struct Unit {
  std::vector<int64_t> members;  // indices into the caller's sequences
  int64_t shared = 0;            // tokens of the parent segment; 0 = none
  int64_t length = 0;            // tokens in all
};

// A member joins the previous unit when it has the same prompt and the unit stays
// within `row_cap` tokens; a group too long for one row is split into units that
// each hold a copy of the prompt.
std::vector<Unit> Units(const std::vector<Sequence>& sequences, const std::vector<int64_t>& indices,
                        bool share, int64_t row_cap) {
  std::vector<Unit> units;
  for (int64_t i : indices) {
    const Sequence& s = sequences[i];
    const int64_t p = static_cast<int64_t>(s.prompt.size());
    const int64_t c = static_cast<int64_t>(s.completion.size());
    if (share && !units.empty() && p >= 2 &&
        sequences[units.back().members.front()].prompt == s.prompt) {
      Unit& u = units.back();
      // Shared, a unit holds p - 1 prompt tokens and 1 + c per member (so a lone
      // member's p + c tokens are the same count either way).
      const int64_t length = u.length + 1 + c;
      if (length <= row_cap) {
        u.shared = p - 1;
        u.members.push_back(i);
        u.length = length;
        continue;
      }
    }
    units.push_back({{i}, 0, p + c});
  }
  return units;
}

// One micro-batch of `rows`, each a list of units.
PackedBatch PackRows(const std::vector<Sequence>& sequences,
                     const std::vector<std::vector<const Unit*>>& rows) {
  int64_t width = 1, b = 0, max_completion = 1;
  bool any_shared = false;
  for (const auto& row : rows) {
    int64_t len = 0;
    for (const Unit* u : row) {
      len += u->length;
      any_shared = any_shared || u->shared > 0;
      b += static_cast<int64_t>(u->members.size());
      for (int64_t i : u->members) {
        max_completion = std::max<int64_t>(max_completion, sequences[i].completion.size());
      }
    }
    width = std::max(width, len);
  }
  const int64_t r = static_cast<int64_t>(rows.size());
  torch::Tensor ids = torch::zeros({r, width}, torch::kInt64);
  torch::Tensor pos = torch::zeros({r, width}, torch::kInt64);
  torch::Tensor seg = torch::full({r, width}, -1, torch::kInt64);  // padding: segment -1
  torch::Tensor parent = torch::full({r, width}, -1, torch::kInt64);
  torch::Tensor targets = torch::zeros({r, width}, torch::kInt64);
  torch::Tensor gather = torch::zeros({b, max_completion}, torch::kInt64);
  torch::Tensor mask = torch::zeros({b, max_completion}, torch::kFloat32);
  auto id = ids.accessor<int64_t, 2>();
  auto ps = pos.accessor<int64_t, 2>();
  auto sg = seg.accessor<int64_t, 2>();
  auto pa = parent.accessor<int64_t, 2>();
  auto tg = targets.accessor<int64_t, 2>();
  auto g = gather.accessor<int64_t, 2>();
  auto m = mask.accessor<float, 2>();
  PackedBatch packed;
  int64_t out = 0;      // row of the (B, Tc) outputs
  int64_t segment = 0;  // next segment id
  for (int64_t row = 0; row < r; ++row) {
    int64_t col = 0;
    for (const Unit* u : rows[row]) {
      int64_t parent_segment = -1;
      if (u->shared > 0) {
        const Sequence& first = sequences[u->members.front()];
        parent_segment = segment++;
        for (int64_t t = 0; t < u->shared; ++t) {
          id[row][col + t] = first.prompt[t];
          ps[row][col + t] = t;
          sg[row][col + t] = parent_segment;
        }
        col += u->shared;
      }
      for (int64_t i : u->members) {
        // The member's tokens from prompt position `from` on.
        const Sequence& s = sequences[i];
        const int64_t p = static_cast<int64_t>(s.prompt.size());
        const int64_t from = u->shared;
        const int64_t len = p + static_cast<int64_t>(s.completion.size()) - from;
        for (int64_t t = 0; t < len; ++t) {
          const int64_t k = from + t;  // position in the whole sequence
          id[row][col + t] = k < p ? s.prompt[k] : s.completion[k - p];
          ps[row][col + t] = k;
          sg[row][col + t] = segment;
          pa[row][col + t] = parent_segment;
        }
        // Column col+t predicts the sequence's next token; the last predicts nothing.
        for (int64_t t = 0; t + 1 < len; ++t) tg[row][col + t] = id[row][col + t + 1];
        for (size_t t = 0; t < s.completion.size(); ++t) {
          g[out][t] = row * width + col + (p - 1 - from) + static_cast<int64_t>(t);
          m[out][t] = s.completion_mask.empty() ? 1.0f : s.completion_mask[t];
        }
        packed.index.push_back(i);
        col += len;
        ++segment;
        ++out;
      }
    }
  }
  packed.batch.input_ids = ids;
  packed.batch.position_ids = pos;
  packed.batch.segment_ids = seg;
  if (any_shared) packed.batch.parent_ids = parent;
  packed.targets = targets;
  packed.gather = gather;
  packed.mask = mask;
  return packed;
}

// Units packed into rows of at most `row_cap` tokens, and the rows into passes.
struct Layout {
  std::vector<Unit> units;
  std::vector<std::vector<const Unit*>> rows;  // into `units`
  std::vector<int64_t> used;                   // tokens in each row
  std::vector<size_t> pass_end;                // one past each pass's last row
  double cost = 0;  // padded tokens x (1 + width / attention_tokens), summed over passes
};

// On the heap, as `rows` points into `units`.
std::unique_ptr<Layout> Plan(const std::vector<Sequence>& sequences,
                             const std::vector<int64_t>& indices, const PackOptions& options,
                             int64_t row_cap) {
  auto layout = std::make_unique<Layout>();
  Layout& out = *layout;
  out.units = Units(sequences, indices, options.share_prompts, row_cap);
  // First fit: each unit joins the first row with room for it.
  for (const Unit& u : out.units) {
    size_t r = 0;
    while (r < out.rows.size() && out.used[r] + u.length > row_cap) ++r;
    if (r == out.rows.size()) {
      out.rows.emplace_back();
      out.used.push_back(0);
    }
    out.rows[r].push_back(&u);
    out.used[r] += u.length;
  }
  // Consecutive rows into passes while rows x the longest row fits the budget.
  const double a = static_cast<double>(std::max<int64_t>(1, options.attention_tokens));
  int64_t width = 0, count = 0;
  auto close = [&](size_t end) {
    out.pass_end.push_back(end);
    out.cost += static_cast<double>(count * width) * (1.0 + static_cast<double>(width) / a);
    width = 0;
    count = 0;
  };
  for (size_t r = 0; r < out.rows.size(); ++r) {
    const int64_t w = std::max(width, out.used[r]);
    if (count > 0 && w * (count + 1) > options.micro_batch_tokens) close(r);
    width = std::max(width, out.used[r]);
    ++count;
  }
  if (count > 0) close(out.rows.size());
  return layout;
}

}  // namespace

int64_t AttentionCostTokens(const ModelConfig& config) {
  const int64_t q = config.num_attention_heads * config.head_dim;
  const int64_t kv = config.num_key_value_heads * config.head_dim;
  const int64_t linear = config.hidden_size * (2 * q + 2 * kv + 3 * config.intermediate_size);
  return std::max<int64_t>(1, linear / std::max<int64_t>(1, 2 * q));
}

std::vector<PackedBatch> PackSequences(const std::vector<Sequence>& sequences,
                                       const std::vector<int64_t>& indices,
                                       const PackOptions& options) {
  const int64_t row_cap =
      std::max<int64_t>(1, std::min(options.row_tokens, options.micro_batch_tokens));
  // Row caps to try: the longest alone, or with a cost model also the multiples of 16
  // from 32 below it.
  std::vector<int64_t> caps = {row_cap};
  if (options.attention_tokens > 0) {
    for (int64_t c = 32; c < row_cap; c += 16) caps.push_back(c);
  }
  std::unique_ptr<Layout> best = Plan(sequences, indices, options, caps[0]);
  for (size_t i = 1; i < caps.size(); ++i) {
    std::unique_ptr<Layout> trial = Plan(sequences, indices, options, caps[i]);
    if (trial->cost < best->cost) best = std::move(trial);
  }
  const Layout& plan = *best;
  std::vector<PackedBatch> out;
  size_t first = 0;
  for (size_t end : plan.pass_end) {
    out.push_back(PackRows(sequences, std::vector<std::vector<const Unit*>>(
                                          plan.rows.begin() + first, plan.rows.begin() + end)));
    first = end;
  }
  return out;
}

absl::StatusOr<TokenLogprobsResult> CompletionLogprobs(const Transformer& model,
                                                       const PackedBatch& packed,
                                                       const TokenLogprobsOptions& options) {
  const torch::Device device = model.options().device;
  TokenBatch batch{packed.batch.input_ids.to(device), packed.batch.position_ids.to(device),
                   packed.batch.segment_ids.to(device)};
  if (packed.batch.parent_ids.defined()) batch.parent_ids = packed.batch.parent_ids.to(device);
  // Only the positions in the loss go through the output layer: (N) flat indices into
  // the (B, Tc) outputs and the (R, L) rows.
  torch::Tensor mask = packed.mask.to(device);
  torch::Tensor used = mask.view({-1}).nonzero().view({-1});
  TokenLogprobsOptions only = options;
  only.only_positions = packed.gather.to(device).view({-1}).index_select(0, used);
  ASSIGN_OR_RETURN(TokenLogprobsResult lp,
                   model.TokenLogprobs(batch, packed.targets.to(device), only));
  // (N) -> (B, Tc), times the mask's weights (0 elsewhere).
  auto place = [&](const torch::Tensor& values) {
    return torch::zeros({mask.numel()}, values.options())
               .index_copy(0, used, values)
               .view_as(mask) *
           mask;
  };
  TokenLogprobsResult out;
  out.logprobs = place(lp.logprobs);
  if (lp.entropy.defined()) out.entropy = place(lp.entropy);
  return out;
}

}  // namespace rlvr
