// Checkpoints: atomic, checksummed, keep-last-k.
//
// A checkpoint is a directory `<root>/step-<8 digits>/` holding
//   model/            the policy in Hugging Face layout (config.json + *.safetensors)
//   optimizer.pt      AdamW state of every parameter (Optimizer::GatherState(), a LibTorch
//                     archive), when an optimizer is given; loads at any world size
//   rng.pt            LibTorch's default CPU generator state
//   state.json        step, policy version and the caller's resumable state (data and
//                     curriculum cursors, scheduler, trainer RNG, ...)
//   config.yaml       the resolved run config
//   manifest.json     size and SHA-256 of every file above; written last
// It is written under a temporary name, every file fsync'ed, then renamed into place,
// so a crash leaves either the whole checkpoint or none. Loading verifies the manifest;
// a corrupt or partial checkpoint is skipped with a warning and the previous good one
// is used.
//
// Not thread-safe; one trainer owns a checkpoint root.
#ifndef RLVR_LEARNER_CHECKPOINT_H_
#define RLVR_LEARNER_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace rlvr {

class Transformer;
class Optimizer;

struct CheckpointOptions {
  std::string root;   // directory holding step-* checkpoints (created if needed)
  int keep_last = 3;  // older checkpoints are deleted after a successful save; <= 0 keeps all
};

struct CheckpointMeta {
  int64_t step = 0;
  int64_t policy_version = 0;
  nlohmann::json state = nlohmann::json::object();  // caller's resumable state
  std::string config_yaml;                          // the resolved config
};

// Saves `model` (and `optimizer` when non-null) with `meta` as step meta.step.
// Returns the final directory. With a sharded (ZeRO-1) optimizer every rank calls it:
// the others send rank 0 their optimizer shards and return "" without writing.
absl::StatusOr<std::string> SaveCheckpoint(const CheckpointOptions& options,
                                           const Transformer& model, Optimizer* optimizer,
                                           const CheckpointMeta& meta);

struct LoadedCheckpoint {
  std::string dir;
  CheckpointMeta meta;
  // One line per newer checkpoint that was skipped as corrupt or partial.
  std::vector<std::string> warnings;
};

// Verifies `dir` and loads it into `model` (weights) and `optimizer` (when non-null).
// DATA_LOSS naming the file when a checksum or size does not match; NOT_FOUND when
// the manifest is missing (a partial checkpoint).
absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& dir, Transformer* model,
                                                Optimizer* optimizer);

// Loads the newest valid checkpoint under options.root, skipping corrupt ones (named
// in `warnings`). NOT_FOUND when there is none.
absl::StatusOr<LoadedCheckpoint> LoadLatestCheckpoint(const CheckpointOptions& options,
                                                      Transformer* model, Optimizer* optimizer);

// Checkpoint directories under `root`, oldest first (complete or not).
std::vector<std::string> ListCheckpoints(const std::string& root);

// Checks a checkpoint's manifest (sizes and SHA-256) without loading it.
absl::Status VerifyCheckpoint(const std::string& dir);

}  // namespace rlvr

#endif  // RLVR_LEARNER_CHECKPOINT_H_
