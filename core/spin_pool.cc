#include "core/spin_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <system_error>
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

// One loop at a time: the caller publishes it in `state_` (a new sequence number
// and how many workers take part); each participant runs its chunk and counts down
// `pending_`, and the caller returns only at zero, so the loop's fields are never
// rewritten while a participant still reads them. Other workers read only state_.
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

  // Runs the loop; false when another thread's loop holds the workers, or when a
  // worker thread cannot be started.
  bool TryRun(int64_t begin, int64_t end, int64_t chunk, int tasks,
              absl::FunctionRef<void(int64_t, int64_t)> fn) {
    std::unique_lock<std::mutex> run(run_mu_, std::try_to_lock);
    if (!run.owns_lock()) return false;
    const uint64_t participants = std::min<uint64_t>(tasks - 1, kMaxParticipants);
    while (workers_.size() < participants) {
      // The new worker starts from the current state, so it takes part in this loop
      // even if it starts running after the loop is published.
      const uint64_t index = workers_.size();
      const uint64_t state = state_.load(std::memory_order_relaxed);
      try {
        workers_.emplace_back([this, index, state] { Work(index, state); });
      } catch (const std::system_error&) {
        return false;  // e.g. EAGAIN: the caller falls back to at::parallel_for
      }
    }
    fn_ = &fn;
    begin_ = begin;
    end_ = end;
    chunk_ = chunk;
    tasks_ = static_cast<int>(participants) + 1;
    error_ = nullptr;
    pending_.store(static_cast<int>(participants), std::memory_order_relaxed);
    // Only this thread (holding run_mu_) writes state_.
    const uint64_t sequence = (state_.load(std::memory_order_relaxed) >> kSequenceShift) + 1;
    state_.store(sequence << kSequenceShift | participants, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(sleep_mu_);
      if (sleepers_ > 0) sleep_cv_.notify_all();
    }
    RunTask(0);
    // A short pause-spin, then yield the core: the worker may be waiting for it.
    for (int i = 0; pending_.load(std::memory_order_acquire) != 0; ++i) {
      if (i < 1024) {
        CpuRelax();
      } else {
        sched_yield();
      }
    }
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

  // Worker `index` runs task index + 1 of every loop published after state `seen`
  // that counts it among its participants; other loops it leaves alone, reading
  // none of their fields.
  void Work(uint64_t index, uint64_t seen) {
    while (true) {
      // Spin with sched_yield, not pause: the core goes at once to any other thread
      // waiting for it (an OpenMP worker of a LibTorch op, the learner), where
      // a pause loop would hold it until the scheduler preempts the loop. Pause loops
      // measured no faster (`rlvr bench rollout --batch-sizes 1,32,64`, two threads).
      const auto published = [&] {
        return state_.load(std::memory_order_acquire) >> kSequenceShift != seen >> kSequenceShift;
      };
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
      for (int i = 1; !published(); ++i) {
        sched_yield();
        if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) {
          std::unique_lock<std::mutex> lock(sleep_mu_);
          ++sleepers_;
          sleep_cv_.wait(lock, published);
          --sleepers_;
        }
      }
      seen = state_.load(std::memory_order_acquire);
      if (index < (seen & kMaxParticipants)) {
        RunTask(static_cast<int>(index) + 1);
        pending_.fetch_sub(1, std::memory_order_release);
      }
    }
  }

  // state_: a loop's sequence number above kSequenceShift, its participating workers
  // (the first ones of workers_) below.
  static constexpr int kSequenceShift = 16;
  static constexpr uint64_t kMaxParticipants = (uint64_t{1} << kSequenceShift) - 1;

  std::mutex run_mu_;  // held by the loop in flight
  std::vector<std::thread> workers_;
  // The loop in flight; written before state_ publishes it.
  const absl::FunctionRef<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t begin_ = 0, end_ = 0, chunk_ = 0;
  int tasks_ = 0;
  std::atomic<uint64_t> state_{0};
  std::atomic<int> pending_{0};  // participants yet to finish the loop
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
