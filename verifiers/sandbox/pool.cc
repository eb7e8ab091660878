#include "verifiers/sandbox/pool.h"

#include <memory>

namespace rlvr::sandbox {

SandboxPool::SandboxPool(const Sandbox* sandbox, int workers) : sandbox_(sandbox) {
  if (workers <= 0) workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { Work(); });
}

SandboxPool::~SandboxPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

std::future<absl::StatusOr<RunResult>> SandboxPool::Submit(Program program, Limits limits) {
  auto task = std::make_shared<std::packaged_task<absl::StatusOr<RunResult>()>>(
      [this, program = std::move(program), limits] { return sandbox_->Run(program, limits); });
  std::future<absl::StatusOr<RunResult>> result = task->get_future();
  absl::MutexLock lock(&mu_);
  queue_.push_back([task] { (*task)(); });
  return result;
}

absl::StatusOr<RunResult> SandboxPool::Run(Program program, Limits limits) {
  return Submit(std::move(program), limits).get();
}

void SandboxPool::Work() {
  for (;;) {
    std::function<void()> job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](SandboxPool* p)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return p->stop_ || !p->queue_.empty(); },
          this));
      if (queue_.empty()) return;  // stopping and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

}  // namespace rlvr::sandbox
