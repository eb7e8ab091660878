#include "learner/optim.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <torch/torch.h>

#include "core/status_macros.h"
#include "learner/distributed.h"

namespace rlvr {

double LearningRate(const LrScheduleOptions& o, int64_t step) {
  if (step < o.warmup_steps) {
    return o.lr * static_cast<double>(step) / static_cast<double>(o.warmup_steps);
  }
  if (o.decay == LrDecay::kConstant) return o.lr;
  TORCH_CHECK(o.total_steps > 0, "cosine schedule needs total_steps > 0");
  const double span = std::max<int64_t>(1, o.total_steps - o.warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / span);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return o.lr * (o.min_lr_ratio + (1.0 - o.min_lr_ratio) * cosine);
}

namespace {

bool Is16Bit(const torch::Tensor& t) {
  return t.scalar_type() == torch::kBFloat16 || t.scalar_type() == torch::kHalf;
}

torch::Tensor MasterOf(const torch::Tensor& param) {
  return param.detach().to(torch::kFloat32).clone().set_requires_grad(true);
}

}  // namespace

Optimizer::Optimizer(std::vector<torch::Tensor> params, const OptimizerOptions& options,
                     DataParallel* dp)
    : params_(std::move(params)), options_(options) {
  if (options.shard_state && dp != nullptr && dp->world_size() > 1) {
    dp_ = dp;
    std::vector<int64_t> numels;
    for (const auto& p : params_) numels.push_back(p.numel());
    owned_ = ShardByTokens(numels, dp->world_size())[dp->rank()];
  } else {
    owned_.resize(params_.size());
    std::iota(owned_.begin(), owned_.end(), 0);
  }
  for (int64_t i : owned_) {
    const bool master = Is16Bit(params_[i]);
    has_master_.push_back(master);
    updated_.push_back(master ? MasterOf(params_[i]) : params_[i]);
  }
  if (updated_.empty()) return;
  torch::optim::AdamWOptions adamw(LearningRate(options.schedule, 0));
  adamw.betas({options.beta1, options.beta2}).eps(options.eps).weight_decay(options.weight_decay);
  adamw_ = std::make_unique<torch::optim::AdamW>(updated_, adamw);
}

Optimizer::~Optimizer() = default;

int Optimizer::rank() const { return dp_ != nullptr ? dp_->rank() : 0; }

absl::StatusOr<StepStats> Optimizer::Step() {
  torch::NoGradGuard no_grad;
  StepStats stats;
  stats.lr = LearningRate(options_.schedule, steps_);
  const bool plain = dp_ == nullptr &&
                     std::none_of(has_master_.begin(), has_master_.end(), [](bool m) { return m; });
  if (plain) {
    stats.grad_norm = ClipGradNorm(params_, options_.max_grad_norm);
  } else {
    // The norm of this rank's gradients, summed over the shards of all ranks (every rank
    // holds the all-reduced gradients; each counts only the parameters it owns).
    std::vector<torch::Tensor> norms;
    for (int64_t i : owned_) {
      const torch::Tensor& g = params_[i].grad();
      if (!g.defined()) continue;
      norms.push_back(torch::linalg_vector_norm(g, 2, std::nullopt, false,
                                                Is16Bit(g) ? torch::kFloat32 : g.scalar_type())
                          .to(torch::kFloat64));
    }
    std::vector<double> sq{norms.empty() ? 0.0 : torch::stack(norms).pow(2).sum().item<double>()};
    if (dp_ != nullptr) RETURN_IF_ERROR(dp_->AllReduceSum(&sq));
    stats.grad_norm = std::sqrt(sq[0]);
    if (std::isfinite(stats.grad_norm)) {
      const double coef = options_.max_grad_norm > 0
                              ? std::min(1.0, options_.max_grad_norm / (stats.grad_norm + 1e-6))
                              : 1.0;
      for (size_t k = 0; k < owned_.size(); ++k) {
        torch::Tensor p = params_[owned_[k]];
        // Sharded: every owned parameter gets a gradient, so that every rank's AdamW state
        // covers its whole shard (an unused parameter still decays).
        if (!p.grad().defined()) {
          if (dp_ == nullptr) continue;
          p.mutable_grad() = torch::zeros_like(p);
        }
        if (has_master_[k]) {
          updated_[k].mutable_grad() = p.grad().to(torch::kFloat32).mul_(coef);
        } else if (coef < 1.0) {
          p.grad().mul_(coef);
        }
      }
    }
  }
  if (!std::isfinite(stats.grad_norm)) {
    stats.skipped = true;
    ZeroGrad();
    return stats;
  }
  if (adamw_ != nullptr) {
    for (auto& group : adamw_->param_groups()) group.options().set_lr(stats.lr);
    adamw_->step();
  }
  for (size_t k = 0; k < owned_.size(); ++k) {
    if (has_master_[k]) params_[owned_[k]].detach().copy_(updated_[k]);
  }
  if (dp_ != nullptr) {
    // Every owner broadcasts its updated shard.
    const std::vector<std::vector<int64_t>> shards = Shards();
    for (int r = 0; r < dp_->world_size(); ++r) {
      std::vector<torch::Tensor> shard;
      for (int64_t i : shards[r]) shard.push_back(params_[i]);
      RETURN_IF_ERROR(dp_->Broadcast(shard, r));
    }
  }
  ZeroGrad();
  ++steps_;
  return stats;
}

std::vector<std::vector<int64_t>> Optimizer::Shards() const {
  std::vector<int64_t> numels;
  for (const auto& p : params_) numels.push_back(p.numel());
  return ShardByTokens(numels, dp_ != nullptr ? dp_->world_size() : 1);
}

void Optimizer::ZeroGrad() {
  for (torch::Tensor& p : params_) p.mutable_grad().reset();
  for (torch::Tensor& u : updated_) u.mutable_grad().reset();
}

int64_t Optimizer::state_bytes() const {
  int64_t bytes = 0;
  for (size_t k = 0; k < updated_.size(); ++k) {
    if (has_master_[k]) bytes += static_cast<int64_t>(updated_[k].nbytes());
  }
  if (adamw_ == nullptr) return bytes;
  for (const auto& [key, state] : adamw_->state()) {
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*state);
    if (s.exp_avg().defined()) bytes += static_cast<int64_t>(s.exp_avg().nbytes());
    if (s.exp_avg_sq().defined()) bytes += static_cast<int64_t>(s.exp_avg_sq().nbytes());
    if (s.max_exp_avg_sq().defined()) bytes += static_cast<int64_t>(s.max_exp_avg_sq().nbytes());
  }
  return bytes;
}

namespace {

// One owned parameter's state as named tensors (empty when AdamW has none yet).
void AppendState(int64_t index, const torch::Tensor& updated, bool master,
                 const torch::optim::AdamW* adamw, std::map<std::string, torch::Tensor>* out) {
  const std::string i = std::to_string(index);
  if (master) (*out)["master." + i] = updated.detach().clone();
  if (adamw == nullptr) return;
  auto it = adamw->state().find(updated.unsafeGetTensorImpl());
  if (it == adamw->state().end()) return;
  const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
  (*out)["exp_avg." + i] = s.exp_avg().clone();
  (*out)["exp_avg_sq." + i] = s.exp_avg_sq().clone();
  (*out)["step." + i] = torch::tensor(s.step(), torch::kInt64);
}

}  // namespace

absl::StatusOr<std::map<std::string, torch::Tensor>> Optimizer::GatherState() {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> state;
  for (size_t k = 0; k < owned_.size(); ++k) {
    AppendState(owned_[k], updated_[k], has_master_[k], adamw_.get(), &state);
  }
  state["steps_taken"] = torch::tensor(steps_, torch::kInt64);
  if (dp_ == nullptr) return state;
  // Sharded: each other rank sends rank 0 a count, then per tensor a fixed-size header
  // holding its name and the tensor itself (rank 0 knows every shape from the params).
  constexpr int64_t kHeader = 64;
  if (dp_->rank() != 0) {
    state.erase("steps_taken");
    RETURN_IF_ERROR(dp_->Send(torch::tensor({static_cast<int64_t>(state.size())}), 0));
    for (auto& [name, t] : state) {
      std::vector<int64_t> header(kHeader, 0);
      std::copy_n(name.begin(), std::min<size_t>(name.size(), kHeader - 1), header.begin());
      RETURN_IF_ERROR(dp_->Send(torch::tensor(header, torch::kInt64), 0));
      RETURN_IF_ERROR(dp_->Send(t.reshape({-1}), 0));
    }
    return std::map<std::string, torch::Tensor>();
  }
  for (int r = 1; r < dp_->world_size(); ++r) {
    torch::Tensor count = torch::zeros({1}, torch::kInt64);
    RETURN_IF_ERROR(dp_->Recv(count, r));
    for (int64_t n = 0; n < count.item<int64_t>(); ++n) {
      torch::Tensor header = torch::zeros({kHeader}, torch::kInt64);
      RETURN_IF_ERROR(dp_->Recv(header, r));
      std::string name;
      for (int64_t c = 0; c < kHeader && header[c].item<int64_t>() != 0; ++c) {
        name += static_cast<char>(header[c].item<int64_t>());
      }
      const size_t dot = name.find('.');
      const int64_t index = dot == std::string::npos ? -1 : std::atoll(name.c_str() + dot + 1);
      if (index < 0 || index >= static_cast<int64_t>(params_.size())) {
        return absl::InternalError("optimizer state gather: bad tensor name '" + name + "'");
      }
      const std::string kind = name.substr(0, dot);
      const torch::Tensor& p = params_[index];
      torch::Tensor t =
          kind == "step" ? torch::zeros({}, torch::kInt64)
                         : torch::empty(p.sizes(), p.options().dtype(kind == "master" || Is16Bit(p)
                                                                         ? torch::kFloat32
                                                                         : p.scalar_type()));
      torch::Tensor flat = t.reshape({-1});
      RETURN_IF_ERROR(dp_->Recv(flat, r));
      state[name] = t;
    }
  }
  return state;
}

absl::Status Optimizer::LoadState(const std::map<std::string, torch::Tensor>& state) {
  torch::NoGradGuard no_grad;
  auto steps = state.find("steps_taken");
  if (steps == state.end()) return absl::InvalidArgumentError("optimizer state: no steps_taken");
  steps_ = steps->second.item<int64_t>();
  for (size_t k = 0; k < owned_.size(); ++k) {
    const std::string i = std::to_string(owned_[k]);
    if (has_master_[k]) {
      auto m = state.find("master." + i);
      updated_[k].detach().copy_(m != state.end() ? m->second : params_[owned_[k]].detach());
    }
    auto avg = state.find("exp_avg." + i), sq = state.find("exp_avg_sq." + i),
         step = state.find("step." + i);
    if (avg == state.end() || sq == state.end() || step == state.end()) continue;
    if (adamw_ == nullptr || avg->second.sizes() != updated_[k].sizes()) {
      return absl::InvalidArgumentError("optimizer state: parameter " + i +
                                        " does not match the model");
    }
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(step->second.item<int64_t>());
    s->exp_avg(avg->second.to(updated_[k].options()).clone());
    s->exp_avg_sq(sq->second.to(updated_[k].options()).clone());
    adamw_->state()[updated_[k].unsafeGetTensorImpl()] = std::move(s);
  }
  return absl::OkStatus();
}

double ClipGradNorm(const std::vector<torch::Tensor>& params, double max_norm) {
  std::vector<torch::Tensor> with_grad;
  for (const auto& p : params) {
    if (p.grad().defined()) with_grad.push_back(p);
  }
  if (with_grad.empty()) return 0.0;
  const double limit = max_norm > 0 ? max_norm : std::numeric_limits<double>::infinity();
  return torch::nn::utils::clip_grad_norm_(with_grad, limit, /*norm_type=*/2.0);
}

std::vector<std::vector<int64_t>> PlanMicroBatches(const std::vector<int64_t>& lengths,
                                                   int64_t max_tokens) {
  TORCH_CHECK(max_tokens > 0, "max_tokens must be > 0");
  std::vector<int64_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
  std::vector<std::vector<int64_t>> batches;
  int64_t longest = 0;
  for (int64_t i : order) {
    // Sorted longest first: the first sequence of a micro-batch sets its padded length.
    if (batches.empty() || static_cast<int64_t>(batches.back().size() + 1) * longest > max_tokens) {
      batches.emplace_back();
      longest = std::max<int64_t>(lengths[i], 1);
    }
    batches.back().push_back(i);
  }
  return batches;
}

}  // namespace rlvr
