// Buffers on transparent huge pages, for data a decode step streams through once
// per step (the prepacked weights of skinny_gemm.h, the CPU KV cache): with 4 KiB
// pages the page walks cap the read rate. A kernel microbenchmark over the bench
// model's 41 weights streamed 13 GB/s on 4 KiB pages and 21 on huge pages at batch 1;
// `rlvr bench rollout --batch-sizes 32 --new-tokens 200 --hf-batch-sizes "" --threads 1`
// (alternating runs) went 792-853 -> 895-934 decode tokens/s with the KV cache on them.
#ifndef RLVR_CORE_HUGE_PAGES_H_
#define RLVR_CORE_HUGE_PAGES_H_

#include <torch/types.h>

namespace rlvr {

// A zero-filled float32 CPU tensor of `sizes` (each >= 0) on a fresh anonymous
// mapping aligned to 2 MiB and advised for huge pages (madvise; pages are faulted
// in on first touch, so untouched parts cost no memory). Freeing the tensor unmaps
// it. Where mmap fails, a plain torch::zeros tensor (64-byte aligned) instead.
// Throws c10::Error on a negative size. Thread-safe.
torch::Tensor ZerosOnHugePages(at::IntArrayRef sizes);

}  // namespace rlvr

#endif  // RLVR_CORE_HUGE_PAGES_H_
