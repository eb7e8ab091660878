#include "core/spin_pool.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace rlvr {
namespace {

// Sets ATen's intra-op thread count for the test's scope.
class Threads {
 public:
  explicit Threads(int n) : saved_(at::get_num_threads()) { at::set_num_threads(n); }
  ~Threads() { at::set_num_threads(saved_); }

 private:
  int saved_;
};

using Chunks = std::set<std::pair<int64_t, int64_t>>;

// The chunks of one loop, and the threads that ran them.
struct Record {
  std::mutex mu;
  Chunks chunks;
  std::set<std::thread::id> threads;
  void Add(int64_t b, int64_t e) {
    std::lock_guard<std::mutex> lock(mu);
    chunks.emplace(b, e);
    threads.insert(std::this_thread::get_id());
  }
};

// The same chunks as at::parallel_for makes of the range, over thread counts,
// lengths and grains that give one chunk, fewer chunks than threads and a short
// last chunk; and at least two threads run them whenever there are two chunks.
TEST(SpinPoolTest, SplitsAsAtenParallelFor) {
  for (int threads : {1, 2, 3, 4}) {
    Threads t(threads);
    for (int64_t n : {1, 2, 5, 7, 64, 1001}) {
      for (int64_t grain : {1, 3, 8, 2000}) {
        Record mine, aten;
        ParallelFor(10, 10 + n, grain, [&](int64_t b, int64_t e) { mine.Add(b, e); });
        at::parallel_for(10, 10 + n, grain, [&](int64_t b, int64_t e) { aten.Add(b, e); });
        EXPECT_EQ(mine.chunks, aten.chunks)
            << "threads " << threads << " n " << n << " grain " << grain;
        EXPECT_EQ(mine.threads.size(), std::min<size_t>(mine.chunks.size(), threads));
      }
    }
  }
}

// Every item is run exactly once, loop after loop, including after the workers
// have gone to sleep (a pause longer than they spin).
TEST(SpinPoolTest, RunsEveryItemOnceAcrossSleeps) {
  Threads t(2);
  std::vector<std::atomic<int>> hits(5000);
  for (int round = 0; round < 200; ++round) {
    if (round % 50 == 49) {
      std::this_thread::sleep_for(std::chrono::microseconds(3 * kSpinMicros));
    }
    ParallelFor(0, 5000, 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
    });
  }
  for (int64_t i = 0; i < 5000; ++i) ASSERT_EQ(hits[i].load(), 200) << "item " << i;
}

// A loop inside a chunk runs inline on that chunk's thread.
TEST(SpinPoolTest, NestedLoopRunsInline) {
  Threads t(2);
  std::atomic<int> items{0}, foreign{0};
  ParallelFor(0, 2, 1, [&](int64_t b, int64_t e) {
    const auto outer = std::this_thread::get_id();
    ParallelFor(0, 100, 1, [&](int64_t ib, int64_t ie) {
      items += static_cast<int>(ie - ib);
      if (std::this_thread::get_id() != outer) ++foreign;
    });
  });
  EXPECT_EQ(items.load(), 200);
  EXPECT_EQ(foreign.load(), 0);
}

// An exception from any chunk reaches the caller after all chunks ran, and the
// pool keeps working.
TEST(SpinPoolTest, RethrowsAndRecovers) {
  Threads t(2);
  std::atomic<int> ran{0};
  for (int64_t thrower : {0, 1}) {  // the caller's chunk, then the worker's
    ran = 0;
    EXPECT_THROW(ParallelFor(0, 2, 1,
                             [&](int64_t b, int64_t) {
                               if (b == thrower) throw std::runtime_error("chunk");
                               std::this_thread::sleep_for(std::chrono::milliseconds(20));
                               ++ran;
                             }),
                 std::runtime_error);
    EXPECT_EQ(ran.load(), 1) << "the other chunk finished before the rethrow";
  }
  std::atomic<int64_t> sum{0};
  ParallelFor(0, 1000, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
}

// Loops from several threads at once all complete with every item run once (one
// holds the workers, the others take at::parallel_for).
TEST(SpinPoolTest, ConcurrentCallers) {
  std::vector<std::thread> callers;
  std::vector<int64_t> sums(4, 0);
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      at::set_num_threads(2);
      for (int round = 0; round < 300; ++round) {
        std::atomic<int64_t> sum{0};
        ParallelFor(0, 3000, 8, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) sum += i;
        });
        sums[c] += sum.load();
      }
    });
  }
  for (auto& th : callers) th.join();
  for (int c = 0; c < 4; ++c) EXPECT_EQ(sums[c], 300 * (2999 * 3000 / 2)) << "caller " << c;
}

// A child forked after the workers started (as a sandbox's fork) runs loops with
// workers of its own instead of waiting forever for its parent's.
TEST(SpinPoolTest, WorksInForkedChild) {
  Threads t(2);
  std::atomic<int> warm{0};
  ParallelFor(0, 2, 1, [&](int64_t, int64_t) { ++warm; });
  ASSERT_EQ(warm.load(), 2);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::atomic<int> items{0};
    ParallelFor(0, 100, 1, [&](int64_t b, int64_t e) { items += static_cast<int>(e - b); });
    _exit(items.load() == 100 ? 0 : 1);
  }
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 1000 && done == 0; ++i) {  // up to 10 s
    done = waitpid(pid, &status, WNOHANG);
    if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL() << "the forked child's loop did not finish in 10 s";
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace rlvr
