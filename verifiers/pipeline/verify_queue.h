// VerifyQueue: a bounded pool that grades completions concurrently, so reward latency
// hides behind rollout. Submit each completion as soon as it finishes; collect the
// reward from a future or a callback.
//
//   VerifyQueue queue(verifier, {.num_threads = 8, .capacity = 1024});
//   ASSIGN_OR_RETURN(auto future, queue.Submit(request));   // blocks while full
//   ...generate more...
//   absl::StatusOr<Reward> reward = future.get();
//
// Bounded: at most `capacity` requests are queued or running. Submit() blocks while the
// queue is full (back-pressure on the producer); TrySubmit()/TrySubmitAll() return
// RESOURCE_EXHAUSTED instead. Rewards pass through VerifyChecked() (non-finite scores
// are errors naming the verifier).
// Thread-safe: every method may be called from any thread. Callbacks run on a worker
// thread and must not call Shutdown() or destroy the queue.
#ifndef RLVR_VERIFIERS_PIPELINE_VERIFY_QUEUE_H_
#define RLVR_VERIFIERS_PIPELINE_VERIFY_QUEUE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "verifiers/verifier.h"

namespace rlvr {

struct VerifyQueueOptions {
  int num_threads = 4;      // worker threads calling Verify(); >= 1
  int64_t capacity = 1024;  // max requests queued or running; >= 1
};

// Per-submission controls, checked when a worker picks the request up (a verifier
// already running is not interrupted).
struct VerifyTaskOptions {
  // Past this time the request is not started: DEADLINE_EXCEEDED.
  absl::Time deadline = absl::InfiniteFuture();
  // When set and true, the request is not started: CANCELLED.
  std::shared_ptr<const std::atomic<bool>> cancelled;
};

class VerifyQueue {
 public:
  using Callback = std::function<void(absl::StatusOr<Reward>)>;
  using IndexedCallback = std::function<void(size_t index, absl::StatusOr<Reward>)>;

  // `verifier` is shared with the caller and must be thread-safe.
  VerifyQueue(std::shared_ptr<const Verifier> verifier, VerifyQueueOptions options);
  // Finishes every accepted request (callbacks run), then joins the workers.
  ~VerifyQueue();
  VerifyQueue(const VerifyQueue&) = delete;
  VerifyQueue& operator=(const VerifyQueue&) = delete;

  // Blocks while the queue is full. FAILED_PRECONDITION after Shutdown().
  absl::StatusOr<std::future<absl::StatusOr<Reward>>> Submit(VerifyRequest request,
                                                             VerifyTaskOptions options = {});
  absl::Status Submit(VerifyRequest request, Callback done, VerifyTaskOptions options = {});

  // Never blocks: RESOURCE_EXHAUSTED when the request does not fit.
  absl::Status TrySubmit(VerifyRequest request, Callback done, VerifyTaskOptions options = {});
  // All or nothing: accepts every request (done(i, reward) runs once per request) or,
  // when they do not all fit, none (RESOURCE_EXHAUSTED) and no callback runs.
  absl::Status TrySubmitAll(std::vector<VerifyRequest> requests, IndexedCallback done,
                            VerifyTaskOptions options = {});

  // Stops accepting requests; accepted ones still finish. Idempotent.
  void Shutdown();

  int64_t pending() const;       // queued + running now
  int64_t peak_pending() const;  // the most ever queued + running at once (<= capacity)

 private:
  struct Task {
    VerifyRequest request;
    Callback done;
    VerifyTaskOptions options;
  };
  void WorkerLoop();
  void EnqueueLocked(std::vector<Task> tasks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<const Verifier> verifier_;
  const VerifyQueueOptions options_;
  mutable absl::Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  int64_t pending_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t peak_pending_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace rlvr

#endif  // RLVR_VERIFIERS_PIPELINE_VERIFY_QUEUE_H_
