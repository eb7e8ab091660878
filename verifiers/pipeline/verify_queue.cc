#include "verifiers/pipeline/verify_queue.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "verifiers/pipeline/pipeline.h"

namespace rlvr {

VerifyQueue::VerifyQueue(std::shared_ptr<const Verifier> verifier, VerifyQueueOptions options)
    : verifier_(std::move(verifier)), options_(options) {
  const int threads = std::max(1, options_.num_threads);
  workers_.reserve(threads);
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

VerifyQueue::~VerifyQueue() {
  Shutdown();
  for (std::thread& t : workers_) t.join();
}

void VerifyQueue::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

int64_t VerifyQueue::pending() const {
  absl::MutexLock lock(&mu_);
  return pending_;
}

int64_t VerifyQueue::peak_pending() const {
  absl::MutexLock lock(&mu_);
  return peak_pending_;
}

void VerifyQueue::EnqueueLocked(std::vector<Task> tasks) {
  pending_ += static_cast<int64_t>(tasks.size());
  peak_pending_ = std::max(peak_pending_, pending_);
  for (Task& t : tasks) queue_.push_back(std::move(t));
}

absl::Status VerifyQueue::Submit(VerifyRequest request, Callback done, VerifyTaskOptions options) {
  const int64_t capacity = std::max<int64_t>(1, options_.capacity);
  absl::MutexLock lock(&mu_);
  auto has_room = [this, capacity]()
                      ABSL_SHARED_LOCKS_REQUIRED(mu_) { return shutdown_ || pending_ < capacity; };
  mu_.Await(absl::Condition(&has_room));
  if (shutdown_) return absl::FailedPreconditionError("verify queue is shut down");
  std::vector<Task> tasks;
  tasks.push_back(Task{std::move(request), std::move(done), std::move(options)});
  EnqueueLocked(std::move(tasks));
  return absl::OkStatus();
}

absl::StatusOr<std::future<absl::StatusOr<Reward>>> VerifyQueue::Submit(VerifyRequest request,
                                                                        VerifyTaskOptions options) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<Reward>>>();
  std::future<absl::StatusOr<Reward>> future = promise->get_future();
  absl::Status s = Submit(
      std::move(request),
      [promise](absl::StatusOr<Reward> reward) { promise->set_value(std::move(reward)); },
      std::move(options));
  if (!s.ok()) return s;
  return future;
}

absl::Status VerifyQueue::TrySubmit(VerifyRequest request, Callback done,
                                    VerifyTaskOptions options) {
  std::vector<VerifyRequest> one;
  one.push_back(std::move(request));
  return TrySubmitAll(
      std::move(one),
      [done = std::move(done)](size_t, absl::StatusOr<Reward> reward) { done(std::move(reward)); },
      std::move(options));
}

absl::Status VerifyQueue::TrySubmitAll(std::vector<VerifyRequest> requests, IndexedCallback done,
                                       VerifyTaskOptions options) {
  const int64_t capacity = std::max<int64_t>(1, options_.capacity);
  const int64_t n = static_cast<int64_t>(requests.size());
  auto shared_done = std::make_shared<IndexedCallback>(std::move(done));
  std::vector<Task> tasks;
  tasks.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    tasks.push_back(Task{
        std::move(requests[i]),
        [shared_done, i](absl::StatusOr<Reward> r) { (*shared_done)(i, std::move(r)); }, options});
  }
  absl::MutexLock lock(&mu_);
  if (shutdown_) return absl::FailedPreconditionError("verify queue is shut down");
  if (pending_ + n > capacity) {
    return absl::ResourceExhaustedError(absl::StrCat("verify queue full: ", pending_, " of ",
                                                     capacity, " slots in use, ", n, " requested"));
  }
  EnqueueLocked(std::move(tasks));
  return absl::OkStatus();
}

void VerifyQueue::WorkerLoop() {
  while (true) {
    Task task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_SHARED_LOCKS_REQUIRED(mu_) { return shutdown_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // shut down and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::StatusOr<Reward> reward;
    if (task.options.cancelled && task.options.cancelled->load()) {
      reward = absl::CancelledError(absl::StrCat("request '", task.request.id, "' was cancelled"));
    } else if (absl::Now() > task.options.deadline) {
      reward = absl::DeadlineExceededError(
          absl::StrCat("request '", task.request.id, "' passed its deadline before it started"));
    } else {
      reward = VerifyChecked(*verifier_, task.request);
    }
    task.done(std::move(reward));
    absl::MutexLock lock(&mu_);
    --pending_;
  }
}

}  // namespace rlvr
