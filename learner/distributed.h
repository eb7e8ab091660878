// Data parallelism over a c10d process group: Gloo on CPU, NCCL when built with CUDA
// and the tensors live on a GPU.
//
// Ranks rendezvous through a TCPStore at master_addr:master_port, as torchrun, srun
// and Kubernetes arrange with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
// MASTER_PORT (cli/ reads those variables into DistributedOptions).
//
// Every collective has a timeout: a peer that died or hangs turns into an UNAVAILABLE
// or DEADLINE_EXCEEDED status naming the operation, never a hang.
// Not thread-safe: one trainer thread issues the collectives, in the same order on
// every rank.
#ifndef RLVR_LEARNER_DISTRIBUTED_H_
#define RLVR_LEARNER_DISTRIBUTED_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rlvr {

struct DistributedOptions {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // "gloo" (CPU tensors) or "nccl" (CUDA tensors; needs a CUDA build).
  std::string backend = "gloo";
  // Rendezvous and per-collective timeout.
  double timeout_s = 300;
  // Gradients are flattened into buckets of about this many bytes per all-reduce.
  int64_t bucket_bytes = int64_t{25} << 20;
  // Network interface Gloo uses (e.g. "eth0"); "" = the address this host's name
  // resolves to, or loopback. Set it when the hostname resolves to a loopback
  // address (common on Debian) or a host has several networks.
  std::string gloo_interface;
};

class ProcessGroupHandle;  // c10d process group, kept out of this header

class DataParallel {
 public:
  // Joins the group (blocks until all world_size ranks arrived or the timeout passed).
  // world_size == 1 needs no network and no rendezvous.
  static absl::StatusOr<std::unique_ptr<DataParallel>> Create(const DistributedOptions& options);
  ~DataParallel();

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }

  // Sums the .grad() of `params` over all ranks in place, in buckets. Parameters
  // without a gradient contribute zeros. The loss normalisers are global, so the
  // sum (not the mean) is the full-batch gradient.
  absl::Status AllReduceGradients(const std::vector<torch::Tensor>& params);
  // Sums each value over ranks (token counts, metrics).
  absl::Status AllReduceSum(std::vector<double>* values);
  // Copies rank `root`'s tensors into every rank's (initial weights; ZeRO-1 shards after
  // their owner's update), in buckets. Every rank passes tensors of the same shapes.
  absl::Status Broadcast(const std::vector<torch::Tensor>& tensors, int root = 0);
  // Point to point, for gathering optimizer shards: `tensor` (contiguous) goes to rank
  // `dst`, whose Recv() from this rank fills its tensor of the same shape and dtype.
  absl::Status Send(const torch::Tensor& tensor, int dst);
  absl::Status Recv(torch::Tensor& tensor, int src);
  absl::Status Barrier();

 private:
  explicit DataParallel(const DistributedOptions& options);
  absl::Status AllReduceFlat(torch::Tensor flat, const char* what);

  DistributedOptions options_;
  std::unique_ptr<ProcessGroupHandle> group_;
};

// Splits sequences among `world_size` ranks so that token counts are balanced: longest
// first, each to the rank with the fewest tokens so far (ties to the lower rank).
// Deterministic; every index appears exactly once. lengths: tokens per sequence.
std::vector<std::vector<int64_t>> ShardByTokens(const std::vector<int64_t>& lengths,
                                                int world_size);

}  // namespace rlvr

#endif  // RLVR_LEARNER_DISTRIBUTED_H_
