// KVCache: preallocated key/value storage for incremental decoding with
// continuous batching. The cache holds `num_slots` independent sequences of up
// to `max_len` tokens each; a slot is one running sequence. Slots are handed
// out with Allocate() and returned with Free(); Transformer::Prefill and
// Transformer::DecodeStep (core/model.h) write into them.
//
//   ASSIGN_OR_RETURN(KVCache cache, KVCache::Create(model.config(), {.max_len = 1024,
//                                      .byte_budget = 256 << 20}, model.options()));
//   int slot = *cache.Allocate();
//   logits = model.Prefill(cache, slot, prompt);            // (V)
//   for (g = 1..G-1) cache.CopyPrefix(slot, other[g], prompt.size());  // share the prompt
//   logits = model.DecodeStep(cache, slots, tokens, positions);          // (B, V)
//   cache.Free(slot);
//
// Storage is allocated once in Create(); nothing is reallocated per step.
// Thread safety: none; one thread drives a cache (and its model calls).
#ifndef RLVR_CORE_KV_CACHE_H_
#define RLVR_CORE_KV_CACHE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model_config.h"

namespace rlvr {

struct KVCacheOptions {
  // Tokens per slot (prompt + completion). Must not exceed the positions the
  // caller will use; positions >= max_len are rejected.
  int64_t max_len = 2048;
  // Number of slots; 0 = as many as fit in byte_budget.
  int64_t num_slots = 0;
  // Bytes for keys and values of all layers and slots (used when num_slots == 0).
  int64_t byte_budget = int64_t{256} << 20;
};

class KVCache {
 public:
  // Allocates the storage on `device` in `dtype` (the model's). Fails with
  // INVALID_ARGUMENT when the options are inconsistent or the budget holds no
  // slot, RESOURCE_EXHAUSTED when the allocation fails.
  static absl::StatusOr<KVCache> Create(const ModelConfig& config, const KVCacheOptions& options,
                                        torch::Device device, torch::ScalarType dtype);

  KVCache(KVCache&&) = default;
  KVCache& operator=(KVCache&&) = default;

  int64_t num_slots() const { return static_cast<int64_t>(lengths_.size()); }
  int64_t max_len() const { return max_len_; }
  // Bytes per slot (keys and values of every layer).
  int64_t bytes_per_slot() const { return bytes_per_slot_; }
  // Tokens currently held by `slot` (0 for a free slot).
  int64_t length(int64_t slot) const { return lengths_[slot]; }
  bool in_use(int64_t slot) const { return in_use_[slot]; }
  int64_t num_free() const;

  // Returns a free slot (length 0) and marks it used; nullopt when all are used.
  std::optional<int64_t> Allocate();
  // Returns `slot` to the pool (length becomes 0). Freeing a free slot is a no-op.
  void Free(int64_t slot);
  // Drops tokens of `slot` beyond `len` (len <= length(slot)).
  absl::Status Truncate(int64_t slot, int64_t len);
  // Copies the first `len` tokens of `src` into `dst` (which must be allocated)
  // and sets length(dst) = len. len <= length(src).
  absl::Status CopyPrefix(int64_t src, int64_t dst, int64_t len);

  // Raw storage, for Transformer: per layer, a (num_slots, max_len, n_kv, head_dim)
  // view of head-major memory laid out as (num_slots, n_kv, max_len, head_dim), so
  // one head's keys of a slot are contiguous; data_ptr() is the start of that memory.
  torch::Tensor& keys(int64_t layer) { return keys_[layer]; }
  torch::Tensor& values(int64_t layer) { return values_[layer]; }
  void set_length(int64_t slot, int64_t len) { lengths_[slot] = len; }
  absl::Status CheckSlot(int64_t slot) const;

 private:
  KVCache() = default;
  int64_t max_len_ = 0;
  int64_t bytes_per_slot_ = 0;
  std::vector<torch::Tensor> keys_, values_;
  std::vector<int64_t> lengths_;
  std::vector<bool> in_use_;
};

}  // namespace rlvr

#endif  // RLVR_CORE_KV_CACHE_H_
