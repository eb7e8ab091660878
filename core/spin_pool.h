// A fork-join loop for the decode step's kernels (skinny_gemm.h, cpu_kernels.h):
// like at::parallel_for, but its worker threads spin between loops instead of
// sleeping. A decode step runs about seven parallel loops per layer, each a
// fraction of a millisecond long. LibTorch's OpenMP pool cannot keep its workers
// awake across them in rlvr's processes: the engine's loop thread has its own
// OpenMP team next to the main thread's, and libgomp throttles spinning to a few
// microseconds whenever more OpenMP threads exist than CPUs, so every loop paid a
// futex wake-up (perf: a quarter of the two-thread step idle or in the scheduler;
// GOMP_SPINCOUNT=100000 and OMP_WAIT_POLICY=PASSIVE measured the same as the
// default, and OMP_WAIT_POLICY=ACTIVE 40% slower, the main thread's idle team
// spinning on the second core).
//
//   ParallelFor(0, rows, grain, [&](int64_t begin, int64_t end) { ... });
//
// Workers spin for up to kSpinMicros after a loop, yielding the core to any other
// thread that wants it, then sleep until the next. The loops of one step follow
// each other within microseconds, so the workers are awake for all of them.
// `rlvr bench rollout --batch-sizes 1,32,64 --hf-batch-sizes ""` (two threads, three
// alternating runs each), at::parallel_for -> this: decode tokens/s at batch 1 91-98
// -> 137-140, batch 32 1344-1408 -> 1597-1648, batch 64 1699-1789 -> 1939-1987 (with
// 2 ms of spinning; 200 us measured the same).
#ifndef RLVR_CORE_SPIN_POOL_H_
#define RLVR_CORE_SPIN_POOL_H_

#include <cstdint>

#include "absl/functional/function_ref.h"

namespace rlvr {

// How long an idle worker spins before it sleeps.
inline constexpr int64_t kSpinMicros = 200;

// Runs fn over [begin, end) in at most at::get_num_threads() contiguous chunks, all
// but the last of at least `grain` items (the calling thread runs the first), as
// at::parallel_for divides it, and returns when all have run. A chunk's items are
// always run by one thread, so results do not depend on timing. Runs inline (one
// chunk) when nested inside another ParallelFor; falls back to at::parallel_for while
// another thread's loop holds the workers (or a worker thread cannot be started). An
// exception thrown by fn is rethrown here after every chunk has finished.
void ParallelFor(int64_t begin, int64_t end, int64_t grain,
                 absl::FunctionRef<void(int64_t, int64_t)> fn);

}  // namespace rlvr

#endif  // RLVR_CORE_SPIN_POOL_H_
