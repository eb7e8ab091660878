// A fixed set of worker threads running sandboxed programs, one at a time each.
#ifndef RLVR_VERIFIERS_SANDBOX_POOL_H_
#define RLVR_VERIFIERS_SANDBOX_POOL_H_

#include <deque>
#include <functional>
#include <future>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "verifiers/sandbox/sandbox.h"

namespace rlvr::sandbox {

// Thread-safe. `sandbox` must outlive the pool. Runs beyond `workers` wait in a FIFO
// queue, so at most `workers` sandboxed programs compete for the cores at once.
class SandboxPool {
 public:
  // workers <= 0: one per core (std::thread::hardware_concurrency()).
  SandboxPool(const Sandbox* sandbox, int workers);
  ~SandboxPool();  // runs what is queued, then joins the workers

  std::future<absl::StatusOr<RunResult>> Submit(Program program, Limits limits);
  // Submit() and wait.
  absl::StatusOr<RunResult> Run(Program program, Limits limits);
  int workers() const { return static_cast<int>(threads_.size()); }
  const Sandbox& sandbox() const { return *sandbox_; }

 private:
  void Work();

  const Sandbox* sandbox_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace rlvr::sandbox

#endif  // RLVR_VERIFIERS_SANDBOX_POOL_H_
