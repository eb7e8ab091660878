#include "core/kv_cache.h"

#include <exception>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/huge_pages.h"

namespace rlvr {

absl::StatusOr<KVCache> KVCache::Create(const ModelConfig& config, const KVCacheOptions& options,
                                        torch::Device device, torch::ScalarType dtype) {
  if (options.max_len <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("KVCacheOptions.max_len must be positive, got ", options.max_len));
  }
  if (options.num_slots < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("KVCacheOptions.num_slots must be >= 0, got ", options.num_slots));
  }
  const int64_t elem = static_cast<int64_t>(c10::elementSize(dtype));
  const int64_t per_token =
      2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim * elem;
  KVCache cache;
  cache.max_len_ = options.max_len;
  cache.bytes_per_slot_ = per_token * options.max_len;
  int64_t slots = options.num_slots;
  if (slots == 0) {
    slots = options.byte_budget / cache.bytes_per_slot_;
    if (slots <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "KVCacheOptions.byte_budget (", options.byte_budget, " bytes) holds no slot of ",
          options.max_len, " tokens (", cache.bytes_per_slot_, " bytes each)"));
    }
  }
  try {
    auto opts = torch::TensorOptions().device(device).dtype(dtype);
    for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
      // Head-major storage, seen through a (slot, position, head, dim) view.
      for (auto* store : {&cache.keys_, &cache.values_}) {
        const std::vector<int64_t> shape = {slots, config.num_key_value_heads, options.max_len,
                                            config.head_dim};
        // Decode steps stream through the cache: on the CPU it goes on huge pages.
        torch::Tensor t = device.is_cpu() && dtype == torch::kFloat32 ? ZerosOnHugePages(shape)
                                                                      : torch::zeros(shape, opts);
        store->push_back(t.permute({0, 2, 1, 3}));
      }
    }
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a KV cache of ", slots,
                                                     " slots x ", cache.bytes_per_slot_,
                                                     " bytes: ", e.what()));
  }
  cache.lengths_.assign(slots, 0);
  cache.in_use_.assign(slots, false);
  return cache;
}

int64_t KVCache::num_free() const {
  int64_t n = 0;
  for (bool used : in_use_) n += used ? 0 : 1;
  return n;
}

std::optional<int64_t> KVCache::Allocate() {
  for (size_t i = 0; i < in_use_.size(); ++i) {
    if (!in_use_[i]) {
      in_use_[i] = true;
      lengths_[i] = 0;
      return static_cast<int64_t>(i);
    }
  }
  return std::nullopt;
}

void KVCache::Free(int64_t slot) {
  if (slot < 0 || slot >= num_slots()) return;
  in_use_[slot] = false;
  lengths_[slot] = 0;
}

absl::Status KVCache::CheckSlot(int64_t slot) const {
  if (slot < 0 || slot >= num_slots()) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache slot ", slot, " out of range [0, ", num_slots(), ")"));
  }
  if (!in_use_[slot]) {
    return absl::FailedPreconditionError(absl::StrCat("KV cache slot ", slot, " is not allocated"));
  }
  return absl::OkStatus();
}

absl::Status KVCache::Truncate(int64_t slot, int64_t len) {
  absl::Status status = CheckSlot(slot);
  if (!status.ok()) return status;
  if (len < 0 || len > lengths_[slot]) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot truncate slot ", slot, " of length ", lengths_[slot], " to ", len));
  }
  lengths_[slot] = len;
  return absl::OkStatus();
}

absl::Status KVCache::CopyPrefix(int64_t src, int64_t dst, int64_t len) {
  absl::Status status = CheckSlot(src);
  if (status.ok()) status = CheckSlot(dst);
  if (!status.ok()) return status;
  if (len < 0 || len > lengths_[src]) {
    return absl::InvalidArgumentError(
        absl::StrCat("CopyPrefix: len ", len, " exceeds slot ", src, " length ", lengths_[src]));
  }
  if (src != dst && len > 0) {
    try {
      torch::NoGradGuard no_grad;
      for (size_t l = 0; l < keys_.size(); ++l) {
        keys_[l][dst].narrow(0, 0, len).copy_(keys_[l][src].narrow(0, 0, len));
        values_[l][dst].narrow(0, 0, len).copy_(values_[l][src].narrow(0, 0, len));
      }
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("CopyPrefix: ", e.what()));
    }
  }
  lengths_[dst] = len;
  return absl::OkStatus();
}

}  // namespace rlvr
