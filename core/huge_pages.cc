#include "core/huge_pages.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>

#include <torch/torch.h>

namespace rlvr {

torch::Tensor ZerosOnHugePages(at::IntArrayRef sizes) {
  constexpr size_t kHuge = size_t{2} << 20;
  int64_t numel = 1;
  for (int64_t s : sizes) {
    TORCH_CHECK(s >= 0, "ZerosOnHugePages: negative size in ", sizes);
    numel *= s;
  }
  const size_t bytes =
      std::max<size_t>(1, (static_cast<size_t>(numel) * sizeof(float) + kHuge - 1) / kHuge) * kHuge;
  // A fresh mapping rather than malloc: memory the heap has already touched keeps its
  // 4 KiB pages whatever madvise says, and the process keeps freed memory (cli/main.cc).
  void* raw =
      mmap(nullptr, bytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return torch::zeros(sizes, torch::kFloat32);
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHuge - 1) / kHuge * kHuge;
  if (aligned > start) munmap(raw, aligned - start);
  if (aligned - start < kHuge) {
    munmap(reinterpret_cast<void*>(aligned + bytes), kHuge - (aligned - start));
  }
  void* data = reinterpret_cast<void*>(aligned);
  (void)madvise(data, bytes, MADV_HUGEPAGE);  // advice only: 4 KiB pages still work
  try {
    return torch::from_blob(
        data, sizes, [bytes](void* p) { munmap(p, bytes); }, torch::kFloat32);
  } catch (...) {
    munmap(data, bytes);
    throw;
  }
}

}  // namespace rlvr
