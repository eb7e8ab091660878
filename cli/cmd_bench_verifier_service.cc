// `rlvr bench verifier-service`: N concurrent clients x M batched requests against a
// `rlvr serve-verifier` child process on loopback. Prints one JSON object: p50/p99
// latency, throughput and its ratio to the same verifier called in-process (the
// peer), lost/duplicated/mismatched results (all must be 0), an overload phase
// (RESOURCE_EXHAUSTED counts) and the server's peak RSS before and after it.
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"
#include "verifiers/registry.h"
#include "verifiers/service/remote_verifier.h"

extern char** environ;

namespace rlvr::cli {
namespace {

struct BenchOptions {
  int clients = 8;
  int requests = 200;  // per client
  int batch = 8;       // items per request
  int server_threads = 2;
  int max_pending = 256;
  int overload_clients = 32;
  int overload_batch = 64;
};

// Peak resident set of `pid` in MiB, from /proc (VmHWM).
double PeakRssMb(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

struct Child {
  pid_t pid = -1;
  std::string target;
};

absl::StatusOr<Child> StartServer(const std::string& config_path) {
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return absl::InternalError("cannot find the rlvr binary (/proc/self/exe)");
  exe[n] = '\0';
  int fds[2];
  if (pipe(fds) != 0) return absl::InternalError("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<std::string> args = {exe, "serve-verifier", "--config", config_path, "--port", "0"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child child;
  // The server must not inherit our blocked-signal mask quirks: default attributes.
  const int rc = posix_spawn(&child.pid, exe, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) return absl::InternalError("cannot start rlvr serve-verifier");
  FILE* out = fdopen(fds[0], "r");
  char line[1024];
  const std::string marker = "listening on ";
  while (fgets(line, sizeof(line), out) != nullptr) {
    std::string s(line);
    const size_t at = s.find(marker);
    if (at != std::string::npos) {
      std::string rest = s.substr(at + marker.size());
      child.target = rest.substr(0, rest.find(' '));
      break;
    }
  }
  // Keep the pipe open (the child writes on shutdown); a thread drains it.
  std::thread([out] {
    char buf[1024];
    while (fgets(buf, sizeof(buf), out) != nullptr) {
    }
    fclose(out);
  }).detach();
  if (child.target.empty()) {
    kill(child.pid, SIGKILL);
    waitpid(child.pid, nullptr, 0);
    return absl::InternalError("rlvr serve-verifier did not report its port");
  }
  return child;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

// Item k's completion matches its answer when k % 3 == 0.
VerifyRequest Item(const std::string& prefix, int k) {
  VerifyRequest r;
  r.id = absl::StrCat(prefix, k);
  r.completion = absl::StrCat("answer ", k);
  r.answer = k % 3 == 0 ? r.completion : "other";
  return r;
}

absl::Status Bench(const BenchOptions& o) {
  char dir_template[] = "/tmp/rlvr_bench_vsvc_XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string config_path = absl::StrCat(dir_template, "/serve.yaml");
  {
    std::ofstream cfg(config_path);
    cfg << "verifier:\n  name: exact\nserve:\n  threads: " << o.server_threads
        << "\n  max_pending_items: " << o.max_pending
        << "\n  max_batch_items: " << std::max(o.batch, o.overload_batch) << "\n";
  }
  ASSIGN_OR_RETURN(Child child, StartServer(config_path));

  // Peer: the same verifier in this process, one thread.
  ASSIGN_OR_RETURN(auto local, BuiltinVerifiers().Create("exact", nlohmann::json::object()));
  const int peer_items = o.clients * o.requests * o.batch;
  auto t0 = std::chrono::steady_clock::now();
  double sink = 0;
  for (int k = 0; k < peer_items; ++k) sink += local->Verify(Item("p", k))->score;
  const double peer_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Load phase.
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::map<std::string, int> seen;
  int64_t mismatched = 0, errors = 0;
  RemoteVerifierOptions ro;
  ro.target = child.target;
  ro.max_attempts = 20;
  ro.initial_backoff = absl::Milliseconds(5);
  ro.max_backoff = absl::Milliseconds(200);
  t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) {
    threads.emplace_back([&, c] {
      auto client = RemoteVerifier::Create(ro).value();
      std::vector<double> lat;
      std::map<std::string, int> local_seen;
      int64_t bad = 0, err = 0;
      for (int m = 0; m < o.requests; ++m) {
        std::vector<VerifyRequest> batch;
        for (int b = 0; b < o.batch; ++b)
          batch.push_back(Item(absl::StrCat("c", c, "-"), m * o.batch + b));
        auto start = std::chrono::steady_clock::now();
        auto results = client->VerifyBatch(batch);
        lat.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
        if (!results.ok() || results->size() != batch.size()) {
          ++err;
          continue;
        }
        for (int b = 0; b < o.batch; ++b) {
          const int k = m * o.batch + b;
          const auto& r = (*results)[b];
          if (!r.ok() || r->score != (k % 3 == 0 ? 1.0 : 0.0)) ++bad;
          local_seen[batch[b].id]++;
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies_ms.insert(latencies_ms.end(), lat.begin(), lat.end());
      for (auto& [id, count] : local_seen) seen[id] += count;
      mismatched += bad;
      errors += err;
    });
  }
  for (auto& t : threads) t.join();
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t expected = static_cast<int64_t>(o.clients) * o.requests * o.batch;
  int64_t duplicated = 0;
  for (auto& [id, count] : seen) duplicated += count > 1 ? count - 1 : 0;
  const int64_t lost = expected - static_cast<int64_t>(seen.size());
  const double rss_after_load = PeakRssMb(child.pid);

  // Overload phase: many clients, big batches, no retries: the server must refuse
  // with RESOURCE_EXHAUSTED rather than queue without bound.
  std::atomic<int64_t> ok_calls{0}, exhausted{0}, other{0};
  RemoteVerifierOptions no_retry = ro;
  no_retry.max_attempts = 1;
  threads.clear();
  for (int c = 0; c < o.overload_clients; ++c) {
    threads.emplace_back([&, c] {
      auto client = RemoteVerifier::Create(no_retry).value();
      for (int m = 0; m < 20; ++m) {
        std::vector<VerifyRequest> batch;
        for (int b = 0; b < o.overload_batch; ++b)
          batch.push_back(Item(absl::StrCat("o", c, "-"), m * o.overload_batch + b));
        auto results = client->VerifyBatch(batch);
        if (results.ok()) {
          ok_calls++;
        } else if (results.status().code() == absl::StatusCode::kResourceExhausted) {
          exhausted++;
        } else {
          other++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double rss_after_overload = PeakRssMb(child.pid);

  kill(child.pid, SIGTERM);
  int wstatus = 0;
  waitpid(child.pid, &wstatus, 0);
  std::remove(config_path.c_str());
  rmdir(dir_template);
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);

  const double service_items_per_s = expected / load_s;
  const double peer_items_per_s = peer_items / peer_s;
  nlohmann::json out = {
      {"benchmark", "verifier-service"},
      {"verifier", "exact"},
      {"clients", o.clients},
      {"requests_per_client", o.requests},
      {"batch", o.batch},
      {"server_threads", o.server_threads},
      {"items", expected},
      {"lost", lost},
      {"duplicated", duplicated},
      {"mismatched", mismatched},
      {"errors", errors},
      {"p50_ms", Percentile(latencies_ms, 0.50)},
      {"p99_ms", Percentile(latencies_ms, 0.99)},
      {"requests_per_s", o.clients * o.requests / load_s},
      {"items_per_s", service_items_per_s},
      {"inprocess_items_per_s", peer_items_per_s},
      {"ratio_vs_inprocess", service_items_per_s / peer_items_per_s},
      {"overload",
       {{"clients", o.overload_clients},
        {"batch", o.overload_batch},
        {"max_pending_items", o.max_pending},
        {"ok_calls", ok_calls.load()},
        {"resource_exhausted", exhausted.load()},
        {"other_errors", other.load()}}},
      {"server_peak_rss_mb_after_load", rss_after_load},
      {"server_peak_rss_mb_after_overload", rss_after_overload},
      {"client_peak_rss_mb", usage.ru_maxrss / 1024.0},
      {"server_clean_exit", WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0},
      {"checksum", sink},
  };
  std::cout << out.dump(2) << std::endl;
  if (lost != 0 || duplicated != 0 || mismatched != 0 || errors != 0) {
    return absl::InternalError("lost, duplicated, mismatched or failed results (see JSON)");
  }
  return absl::OkStatus();
}

}  // namespace

void AddBenchVerifierService(CLI::App& bench) {
  CLI::App* cmd = bench.add_subcommand("verifier-service",
                                       "Concurrent clients against serve-verifier on loopback");
  auto o = std::make_shared<BenchOptions>();
  cmd->add_option("--clients", o->clients, "Concurrent clients")->check(CLI::Range(1, 1024));
  cmd->add_option("--requests", o->requests, "Requests per client")->check(CLI::Range(1, 1000000));
  cmd->add_option("--batch", o->batch, "Items per request")->check(CLI::Range(1, 4096));
  cmd->add_option("--server-threads", o->server_threads, "Server verification threads")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--max-pending", o->max_pending, "Server max_pending_items")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--overload-clients", o->overload_clients, "Clients in the overload phase")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--overload-batch", o->overload_batch, "Items per overload request")
      ->check(CLI::Range(1, 4096));
  cmd->callback([o] {
    int rc = ReportStatus("bench verifier-service", Bench(*o));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
