#include "core/spin_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>

#include <ATen/Parallel.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace rlvr {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

thread_local bool in_loop = false;  // inside a chunk: nested loops run inline

// One loop at a time: the caller publishes it by bumping `epoch_`; every worker
// acknowledges every epoch (running its chunk, if it has one), so the loop's
// fields are never rewritten while a late worker still reads them.
class SpinPool {
 public:
  // The process's pool. Never destroyed (its workers outlive main()); a forked child,
  // which has none of the parent's workers, starts a new one.
  static SpinPool& Get() {
    static const bool registered = [] {
      pthread_atfork(nullptr, nullptr, [] { pool.store(nullptr); });
      return true;
    }();
    (void)registered;
    SpinPool* current = pool.load(std::memory_order_acquire);
    if (current != nullptr) return *current;
    auto fresh = std::make_unique<SpinPool>();
    if (pool.compare_exchange_strong(current, fresh.get())) return *fresh.release();
    return *current;  // another thread's, made meanwhile
  }

  // Runs the loop; false when another thread's loop holds the workers.
  bool TryRun(int64_t begin, int64_t end, int64_t chunk, int tasks,
              absl::FunctionRef<void(int64_t, int64_t)> fn) {
    std::unique_lock<std::mutex> run(run_mu_, std::try_to_lock);
    if (!run.owns_lock()) return false;
    while (static_cast<int>(workers_.size()) < tasks - 1) {
      // The new worker starts from the current epoch, so it takes part in this loop
      // even if it starts running after the loop is published.
      const int index = static_cast<int>(workers_.size());
      const uint64_t epoch = epoch_.load(std::memory_order_relaxed);
      workers_.emplace_back([this, index, epoch] { Work(index, epoch); });
    }
    fn_ = &fn;
    begin_ = begin;
    end_ = end;
    chunk_ = chunk;
    tasks_ = tasks;
    error_ = nullptr;
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    epoch_.fetch_add(1, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(sleep_mu_);
      if (sleepers_ > 0) sleep_cv_.notify_all();
    }
    RunTask(0);
    while (pending_.load(std::memory_order_acquire) != 0) CpuRelax();
    if (error_ != nullptr) std::rethrow_exception(error_);
    return true;
  }

 private:
  void RunTask(int task) {
    const int64_t b = begin_ + task * chunk_;
    if (task >= tasks_ || b >= end_) return;
    in_loop = true;
    try {
      (*fn_)(b, std::min(end_, b + chunk_));
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu_);
      if (error_ == nullptr) error_ = std::current_exception();
    }
    in_loop = false;
  }

  // Worker `index` runs task index + 1 of every loop after epoch `seen` that has one.
  void Work(int index, uint64_t seen) {
    while (true) {
      // Spin with sched_yield, not pause: the core goes at once to any other thread
      // waiting for it (an OpenMP worker of MKL's prefill matmul, the learner), where
      // a pause loop would hold it until the scheduler preempts the loop. Pause loops
      // measured no faster (`rlvr bench rollout --batch-sizes 1,32,64`, two threads).
      uint64_t now = epoch_.load(std::memory_order_acquire);
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
      for (int i = 1; now == seen; ++i) {
        sched_yield();
        if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) {
          std::unique_lock<std::mutex> lock(sleep_mu_);
          ++sleepers_;
          sleep_cv_.wait(lock, [&] { return epoch_.load(std::memory_order_acquire) != seen; });
          --sleepers_;
        }
        now = epoch_.load(std::memory_order_acquire);
      }
      seen = now;
      RunTask(index + 1);
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }

  std::mutex run_mu_;  // held by the loop in flight
  std::vector<std::thread> workers_;
  // The loop in flight; written before `epoch_` is bumped.
  const absl::FunctionRef<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t begin_ = 0, end_ = 0, chunk_ = 0;
  int tasks_ = 0;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int> pending_{0};  // workers yet to acknowledge the loop
  std::mutex error_mu_;
  std::exception_ptr error_;
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  int sleepers_ = 0;

  static std::atomic<SpinPool*> pool;
};

std::atomic<SpinPool*> SpinPool::pool{nullptr};

}  // namespace

void ParallelFor(int64_t begin, int64_t end, int64_t grain,
                 absl::FunctionRef<void(int64_t, int64_t)> fn) {
  if (begin >= end) return;
  const int64_t n = end - begin;
  const int64_t tasks = std::min<int64_t>(
      at::get_num_threads(), (n + std::max<int64_t>(grain, 1) - 1) / std::max<int64_t>(grain, 1));
  if (tasks <= 1 || in_loop || at::in_parallel_region()) {
    fn(begin, end);
    return;
  }
  const int64_t chunk = (n + tasks - 1) / tasks;
  if (!SpinPool::Get().TryRun(begin, end, chunk, static_cast<int>(tasks), fn)) {
    at::parallel_for(begin, end, grain, [&](int64_t b, int64_t e) { fn(b, e); });
  }
}

}  // namespace rlvr
