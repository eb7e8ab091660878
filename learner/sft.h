// Supervised fine-tuning: cross-entropy on completion tokens only, on the same packing,
// optimiser and data-parallel machinery as GRPO. It is the warm start of the built-in
// default run.
#ifndef RLVR_LEARNER_SFT_H_
#define RLVR_LEARNER_SFT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "learner/batch.h"

namespace rlvr {

class Optimizer;
class DataParallel;

struct SftOptions {
  PackOptions packing;  // rows and passes of the forward and backward passes
};

struct SftStepStats {
  double loss = 0;    // mean cross-entropy per completion token over the global batch
  double tokens = 0;  // completion tokens in the global batch
  double grad_norm = 0;
  double lr = 0;
};

// One optimizer step over this rank's `sequences` (its shard of the global batch). The
// loss is normalised by the global completion-token count, so 1 rank with the whole batch
// and N ranks with shards take the same step. `dp` may be null (one rank).
// `model`'s parameters must be the ones `optimizer` updates.
absl::StatusOr<SftStepStats> SftStep(const Transformer& model, Optimizer& optimizer,
                                     DataParallel* dp, const std::vector<Sequence>& sequences,
                                     const SftOptions& options);

}  // namespace rlvr

#endif  // RLVR_LEARNER_SFT_H_
