// The wheel's LibTorch is built with Gloo (and NCCL in CUDA builds) but its headers
// are guarded by these macros; gloo's own headers come from Debian's libgloo-dev.
#define USE_C10D_GLOO 1
#include "rlvr/build_config.h"
#if RLVR_WITH_CUDA
#define USE_C10D_NCCL 1
#endif

#include "learner/distributed.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if RLVR_WITH_CUDA
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace rlvr {

class ProcessGroupHandle {
 public:
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
};

namespace {

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

absl::Status CollectiveError(const char* what, const DistributedOptions& o,
                             const std::exception& e) {
  std::string msg = e.what();
  if (msg.size() > 300) msg = msg.substr(0, 300) + "...";
  return absl::UnavailableError(
      absl::StrCat("distributed ", what, " failed on rank ", o.rank, " of ", o.world_size,
                   " (a peer died or timed out after ", o.timeout_s, " s): ", msg));
}

}  // namespace

DataParallel::DataParallel(const DistributedOptions& options) : options_(options) {}
DataParallel::~DataParallel() = default;

absl::StatusOr<std::unique_ptr<DataParallel>> DataParallel::Create(const DistributedOptions& o) {
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("distributed: rank ", o.rank, " is outside world_size ", o.world_size));
  }
  if (o.backend != "gloo" && o.backend != "nccl") {
    return absl::InvalidArgumentError(
        absl::StrCat("distributed.backend: unknown backend '", o.backend, "' (gloo or nccl)"));
  }
#if !RLVR_WITH_CUDA
  if (o.backend == "nccl") {
    return absl::FailedPreconditionError("distributed.backend: nccl needs a build with RLVR_CUDA");
  }
#endif
  std::unique_ptr<DataParallel> dp(new DataParallel(o));
  if (o.world_size == 1) return dp;
  auto handle = std::make_unique<ProcessGroupHandle>();
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(o.master_port);
    store_options.isServer = o.rank == 0;
    store_options.numWorkers = o.world_size;
    store_options.waitWorkers = true;
    store_options.timeout = Millis(o.timeout_s);
    handle->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, store_options);
    if (o.backend == "gloo") {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create();
      gloo_options->timeout = Millis(o.timeout_s);
      gloo_options->devices.push_back(
          o.gloo_interface.empty()
              ? c10d::ProcessGroupGloo::createDefaultDevice()
              : c10d::ProcessGroupGloo::createDeviceForInterface(o.gloo_interface));
      handle->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(handle->store, o.rank,
                                                                    o.world_size, gloo_options);
    } else {
#if RLVR_WITH_CUDA
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = Millis(o.timeout_s);
      handle->backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(handle->store, o.rank,
                                                                    o.world_size, nccl_options);
#endif
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("distributed rendezvous at ", o.master_addr, ":",
                                               o.master_port, " failed on rank ", o.rank, ": ",
                                               std::string(e.what()).substr(0, 300)));
  }
  dp->group_ = std::move(handle);
  return dp;
}

absl::Status DataParallel::AllReduceFlat(torch::Tensor flat, const char* what) {
  if (options_.world_size == 1) return absl::OkStatus();
  try {
    std::vector<at::Tensor> tensors{flat};
    group_->backend->allreduce(tensors)->wait(Millis(options_.timeout_s));
  } catch (const std::exception& e) {
    return CollectiveError(what, options_, e);
  }
  return absl::OkStatus();
}

namespace {

// Consecutive runs of `tensors` sharing dtype and device, each of at most `bucket_bytes`
// (a larger tensor is a bucket of its own): [begin, end) index pairs.
std::vector<std::pair<size_t, size_t>> Buckets(const std::vector<torch::Tensor>& tensors,
                                               int64_t bucket_bytes) {
  std::vector<std::pair<size_t, size_t>> buckets;
  size_t i = 0;
  while (i < tensors.size()) {
    const size_t begin = i;
    int64_t bytes = 0;
    while (i < tensors.size() && tensors[i].dtype() == tensors[begin].dtype() &&
           tensors[i].device() == tensors[begin].device() &&
           (i == begin || bytes + static_cast<int64_t>(tensors[i].nbytes()) <= bucket_bytes)) {
      bytes += static_cast<int64_t>(tensors[i].nbytes());
      ++i;
    }
    buckets.emplace_back(begin, i);
  }
  return buckets;
}

}  // namespace

absl::Status DataParallel::AllReduceGradients(const std::vector<torch::Tensor>& params) {
  if (options_.world_size == 1) return absl::OkStatus();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (torch::Tensor p : params) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  for (const auto& [begin, end] : Buckets(grads, options_.bucket_bytes)) {
    std::vector<torch::Tensor> flats;
    for (size_t i = begin; i < end; ++i) flats.push_back(grads[i].reshape({-1}));
    torch::Tensor flat = torch::cat(flats);
    RETURN_IF_ERROR(AllReduceFlat(flat, "gradient all-reduce"));
    int64_t offset = 0;
    for (size_t i = begin; i < end; ++i) {
      grads[i].copy_(flat.narrow(0, offset, grads[i].numel()).view_as(grads[i]));
      offset += grads[i].numel();
    }
  }
  return absl::OkStatus();
}

absl::Status DataParallel::AllReduceSum(std::vector<double>* values) {
  if (options_.world_size == 1 || values->empty()) return absl::OkStatus();
  torch::Tensor t = torch::tensor(*values, torch::kFloat64);
  RETURN_IF_ERROR(AllReduceFlat(t, "metric all-reduce"));
  for (size_t i = 0; i < values->size(); ++i) (*values)[i] = t[i].item<double>();
  return absl::OkStatus();
}

absl::Status DataParallel::Broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  if (options_.world_size == 1) return absl::OkStatus();
  torch::NoGradGuard no_grad;
  try {
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    for (const auto& [begin, end] : Buckets(tensors, options_.bucket_bytes)) {
      std::vector<torch::Tensor> flats;
      for (size_t i = begin; i < end; ++i) flats.push_back(tensors[i].detach().reshape({-1}));
      std::vector<at::Tensor> one{torch::cat(flats)};
      group_->backend->broadcast(one, opts)->wait(Millis(options_.timeout_s));
      int64_t offset = 0;
      for (size_t i = begin; i < end; ++i) {
        torch::Tensor t = tensors[i].detach();
        t.copy_(one[0].narrow(0, offset, t.numel()).view_as(t));
        offset += t.numel();
      }
    }
  } catch (const std::exception& e) {
    return CollectiveError("broadcast", options_, e);
  }
  return absl::OkStatus();
}

absl::Status DataParallel::Send(const torch::Tensor& tensor, int dst) {
  if (options_.world_size == 1) return absl::OkStatus();
  try {
    std::vector<at::Tensor> one{tensor.contiguous()};
    group_->backend->send(one, dst, /*tag=*/0)->wait(Millis(options_.timeout_s));
  } catch (const std::exception& e) {
    return CollectiveError("send", options_, e);
  }
  return absl::OkStatus();
}

absl::Status DataParallel::Recv(torch::Tensor& tensor, int src) {
  if (options_.world_size == 1) return absl::OkStatus();
  try {
    std::vector<at::Tensor> one{tensor};
    group_->backend->recv(one, src, /*tag=*/0)->wait(Millis(options_.timeout_s));
  } catch (const std::exception& e) {
    return CollectiveError("recv", options_, e);
  }
  return absl::OkStatus();
}

absl::Status DataParallel::Barrier() {
  if (options_.world_size == 1) return absl::OkStatus();
  try {
    group_->backend->barrier()->wait(Millis(options_.timeout_s));
  } catch (const std::exception& e) {
    return CollectiveError("barrier", options_, e);
  }
  return absl::OkStatus();
}

std::vector<std::vector<int64_t>> ShardByTokens(const std::vector<int64_t>& lengths,
                                                int world_size) {
  std::vector<std::vector<int64_t>> shards(std::max(world_size, 1));
  std::vector<int64_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
  std::vector<int64_t> load(shards.size(), 0);
  for (int64_t idx : order) {
    size_t best = std::min_element(load.begin(), load.end()) - load.begin();
    shards[best].push_back(idx);
    load[best] += lengths[idx];
  }
  for (auto& s : shards) std::sort(s.begin(), s.end());
  return shards;
}

}  // namespace rlvr
