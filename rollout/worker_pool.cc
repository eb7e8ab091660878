#include "rollout/worker_pool.h"

#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "rollout/service/client.h"

namespace rlvr {

struct WorkerPool::Worker {
  std::string target;
  std::unique_ptr<RolloutClient> client;
  bool up = true;
};

WorkerPool::WorkerPool(const WorkerPoolOptions& options) : options_(options) {}
WorkerPool::~WorkerPool() = default;

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::Create(const WorkerPoolOptions& options) {
  if (options.targets.empty()) {
    return absl::InvalidArgumentError("rollout.workers: at least one worker address is needed");
  }
  std::unique_ptr<WorkerPool> pool(new WorkerPool(options));
  const RolloutClientOptions client_options = pool->ClientOptions();
  for (const std::string& target : options.targets) {
    auto worker = std::make_unique<Worker>();
    worker->target = target;
    ASSIGN_OR_RETURN(worker->client, RolloutClient::Connect(target, client_options));
    pool->workers_.push_back(std::move(worker));
  }
  return pool;
}

RolloutClientOptions WorkerPool::ClientOptions() const {
  RolloutClientOptions o;
  o.generate_deadline_s = options_.generate_deadline_s;
  o.update_deadline_s = options_.update_deadline_s;
  o.status_deadline_s = 5;
  o.token = options_.token;
  o.tls = options_.tls;
  return o;
}

void WorkerPool::ReviveWorkers() {
  for (auto& w : workers_) {
    if (w->up) continue;
    // A fresh channel: the old one may sit in reconnect backoff long after the worker
    // came back.
    absl::StatusOr<std::unique_ptr<RolloutClient>> fresh =
        RolloutClient::Connect(w->target, ClientOptions());
    if (!fresh.ok() || !(*fresh)->GetStatus().ok()) continue;
    w->client = *std::move(fresh);
    if (version_ >= 0 && !w->client->UpdateWeights(version_, latest_).ok()) continue;
    w->up = true;
    ++stats_.rejoined_workers;
  }
}

absl::Status WorkerPool::GenerateStream(const std::vector<GenerationRequest>& requests,
                                        const CompletionCallback& on_completion) {
  std::lock_guard<std::mutex> lock(mu_);
  ReviveWorkers();
  // Samples still owed to the caller: (request index, sample index).
  std::set<std::pair<int64_t, int64_t>> pending;
  for (size_t r = 0; r < requests.size(); ++r) {
    for (int64_t s = 0; s < requests[r].n; ++s) pending.insert({static_cast<int64_t>(r), s});
  }
  std::mutex deliver_mu;
  absl::Status last_error = absl::UnavailableError("no rollout worker is available");
  for (int round = 0; round < options_.max_rounds && !pending.empty(); ++round) {
    std::vector<Worker*> live;
    for (auto& w : workers_) {
      if (w->up) live.push_back(w.get());
    }
    if (live.empty()) {
      ReviveWorkers();
      for (auto& w : workers_) {
        if (w->up) live.push_back(w.get());
      }
      if (live.empty()) break;
    }
    // Re-issue each request with a pending sample; a request keeps its seed, so its
    // samples are the same wherever they run. Requests go round-robin to workers.
    std::vector<std::vector<GenerationRequest>> per_worker(live.size());
    std::vector<std::vector<int64_t>> original_index(live.size());
    std::set<int64_t> pending_requests;
    for (const auto& [r, s] : pending) pending_requests.insert(r);
    if (round > 0) stats_.resent_samples += static_cast<int64_t>(pending.size());
    size_t next = 0;
    for (int64_t r : pending_requests) {
      per_worker[next % live.size()].push_back(requests[r]);
      original_index[next % live.size()].push_back(r);
      ++next;
    }
    std::vector<absl::Status> results(live.size());
    std::vector<std::thread> threads;
    for (size_t w = 0; w < live.size(); ++w) {
      if (per_worker[w].empty()) continue;
      threads.emplace_back([&, w] {
        results[w] = live[w]->client->GenerateStream(per_worker[w], [&, w](Completion c) {
          const int64_t r = original_index[w][c.request_index];
          std::lock_guard<std::mutex> deliver(deliver_mu);
          if (pending.erase({r, c.sample_index}) == 0) return;  // already delivered
          c.request_index = r;
          c.request_id = requests[r].id;
          on_completion(std::move(c));
        });
      });
    }
    for (auto& t : threads) t.join();
    for (size_t w = 0; w < live.size(); ++w) {
      if (results[w].ok()) continue;
      if (results[w].code() == absl::StatusCode::kInvalidArgument) return results[w];
      if (results[w].code() == absl::StatusCode::kUnauthenticated) {  // a config error
        return absl::UnauthenticatedError(
            absl::StrCat("rollout worker ", live[w]->target, ": ", results[w].message()));
      }
      live[w]->up = false;
      ++stats_.worker_failures;
      last_error = absl::Status(results[w].code(), absl::StrCat("rollout worker ", live[w]->target,
                                                                ": ", results[w].message()));
    }
  }
  if (!pending.empty()) {
    return absl::UnavailableError(
        absl::StrCat(pending.size(), " samples could not be generated: ", last_error.message()));
  }
  return absl::OkStatus();
}

absl::Status WorkerPool::UpdateWeights(
    int64_t version, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  std::lock_guard<std::mutex> lock(mu_);
  latest_.clear();
  for (const auto& [name, t] : tensors)
    latest_.emplace_back(name, t.detach().to(torch::kCPU).clone());
  version_ = version;
  int accepted = 0;
  absl::Status last;
  for (auto& w : workers_) {
    if (!w->up) continue;
    absl::Status s = w->client->UpdateWeights(version, latest_);
    if (s.ok()) {
      ++accepted;
    } else {
      if (s.code() == absl::StatusCode::kInvalidArgument) return s;
      if (s.code() == absl::StatusCode::kUnauthenticated) {
        return absl::UnauthenticatedError(
            absl::StrCat("rollout worker ", w->target, ": ", s.message()));
      }
      w->up = false;
      ++stats_.worker_failures;
      last = s;
    }
  }
  ReviveWorkers();
  if (accepted == 0 && LiveLocked() == 0) {
    return absl::UnavailableError(
        absl::StrCat("no rollout worker took weights version ", version,
                     last.ok() ? "" : absl::StrCat(": ", last.message())));
  }
  return absl::OkStatus();
}

WorkerPoolStats WorkerPool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

int WorkerPool::live_workers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return LiveLocked();
}

int WorkerPool::LiveLocked() const {
  int n = 0;
  for (const auto& w : workers_) n += w->up;
  return n;
}

}  // namespace rlvr
