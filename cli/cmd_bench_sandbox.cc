// `rlvr bench sandbox`: the cost of running one program in rlvr's sandbox, against bare
// `python3 -c pass` and against bubblewrap (`bwrap`) with equivalent isolation (user, PID,
// mount, network, IPC, UTS namespaces; read-only binds of the same system directories; a
// private /proc, /dev and tmpfs /tmp; no capabilities; as the same unprivileged host
// user), measured in the same run with the three interleaved so that load drifts hit all
// alike. bwrap has no cgroups, rlimits or seccomp here, so rlvr does strictly more work.
// Each of the three programs runs in a session of its own (bwrap --new-session, rlvr's
// init, setsid here), so all get the same treatment from scheduler autogroups.
// Then executions per second through the SandboxPool against bwrap launched by as many
// threads. --rounds repeats all of it and reports, for each figure, the median, min and
// max over rounds (load drifts between rounds). Prints one JSON object; failed runs are
// counted per kind with the first reason, and make the command fail.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <numeric>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "nlohmann/json.hpp"
#include "verifiers/sandbox/pool.h"
#include "verifiers/sandbox/sandbox.h"

namespace rlvr::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
  int runs = 40;              // sequential runs of each kind
  int throughput_runs = 120;  // runs of each kind through `workers` concurrent launchers
  int workers = 0;            // 0 = one per core
  int rounds = 1;             // the whole measurement, repeated; spreads are over rounds
  std::string python = "/usr/bin/python3";
  std::string bwrap = "/usr/bin/bwrap";
};

struct SpawnArgs {
  char* const* argv;
  char* const* envp;
  uid_t uid;
  gid_t gid;
  int devnull;
  int err;  // stderr
};

// vfork-style child: the parent thread is suspended until execve, so the raw system calls
// here touch nothing another thread uses.
int SpawnChild(void* p) {
  const SpawnArgs* a = static_cast<const SpawnArgs*>(p);
  // Its own session, as bwrap's program (--new-session) and rlvr's: with scheduler
  // autogroups on, a session is a CPU-share group, and under other load a program sharing
  // this process's group gets a smaller share than one in its own.
  syscall(SYS_setsid);
  syscall(SYS_dup3, a->devnull, 0, 0);
  syscall(SYS_dup3, a->devnull, 1, 0);
  syscall(SYS_dup3, a->err, 2, 0);
  if (a->uid != 0) {
    if (syscall(SYS_setgroups, 0, nullptr) != 0 ||
        syscall(SYS_setresgid, a->gid, a->gid, a->gid) != 0 ||
        syscall(SYS_setresuid, a->uid, a->uid, a->uid) != 0) {
      syscall(SYS_exit, 126);
    }
  }
  syscall(SYS_execve, a->argv[0], a->argv, a->envp);
  syscall(SYS_exit, 127);
  return 127;
}

// Runs argv as `uid` (when rlvr is root) with output discarded; returns its exit status.
// The start of its stderr goes to *err when it fails.
int Spawn(const std::vector<std::string>& args, uid_t uid, gid_t gid, std::string* err = nullptr) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  char path[] = "PATH=/usr/bin:/bin";
  char* envp[] = {path, nullptr};
  SpawnArgs sa{argv.data(), envp, uid, gid, open("/dev/null", O_RDWR | O_CLOEXEC), -1};
  sa.err = err != nullptr ? memfd_create("stderr", MFD_CLOEXEC) : -1;
  if (sa.err < 0) sa.err = sa.devnull;
  std::vector<char> stack(64 * 1024);
  pid_t pid = clone(SpawnChild, stack.data() + stack.size(), CLONE_VM | CLONE_VFORK | SIGCHLD, &sa);
  close(sa.devnull);
  struct ErrFd {
    int fd, devnull;
    ~ErrFd() {
      if (fd != devnull) close(fd);
    }
  } err_fd{sa.err, sa.devnull};
  if (pid < 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (rc != 0 && err != nullptr && sa.err != sa.devnull) {
    char buf[512];
    const ssize_t n = pread(sa.err, buf, sizeof(buf), 0);
    if (n > 0) err->assign(buf, static_cast<size_t>(n));
  }
  return rc;
}

std::vector<std::string> BwrapArgs(const BenchOptions& o, const sandbox::SandboxOptions& so) {
  std::vector<std::string> a = {o.bwrap,
                                "--unshare-all",
                                "--unshare-user",
                                "--uid",
                                "0",
                                "--gid",
                                "0",
                                "--die-with-parent",
                                "--new-session",
                                "--cap-drop",
                                "ALL",
                                "--clearenv",
                                "--setenv",
                                "PATH",
                                "/usr/bin:/bin",
                                "--setenv",
                                "HOME",
                                "/tmp",
                                "--hostname",
                                "sandbox"};
  for (const std::string& b : so.ro_binds) {
    struct stat st;
    if (lstat(b.c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = readlink(b.c_str(), target, sizeof(target) - 1);
      if (n <= 0) continue;
      target[n] = '\0';
      a.insert(a.end(), {"--symlink", target, b});
    } else {
      a.insert(a.end(), {"--ro-bind", b, b});
    }
  }
  a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp",
                     o.python, "-c", "pass"});
  return a;
}

nlohmann::json Stats(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / ms.size();
  return {{"median_ms", ms[ms.size() / 2]}, {"mean_ms", mean}, {"p90_ms", ms[ms.size() * 9 / 10]}};
}

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// `workers` threads each run `job` until `total` jobs are done; returns jobs per second.
template <typename F>
double Throughput(int workers, int total, F job) {
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      while (next.fetch_add(1) < total) {
        job();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return total / (Ms(start, Clock::now()) / 1000.0);
}

// Failed runs of each kind, and the first failure's reason.
struct Failures {
  std::atomic<int> bare{0}, rlvr{0}, bwrap{0};
  absl::Mutex mu;
  std::string first ABSL_GUARDED_BY(mu);
  void Note(std::atomic<int>* counter, const std::string& why) {
    counter->fetch_add(1);
    absl::MutexLock lock(&mu);
    if (first.empty()) first = why;
  }
  nlohmann::json Json() {
    absl::MutexLock lock(&mu);
    nlohmann::json j = {{"bare", bare.load()}, {"rlvr", rlvr.load()}, {"bwrap", bwrap.load()}};
    if (!first.empty()) j["first"] = first;
    return j;
  }
  int total() const { return bare + rlvr + bwrap; }
};

// One sandboxed `python3 -c pass`; false (noted in `f`) unless it exited 0.
bool RunOnce(const std::function<absl::StatusOr<sandbox::RunResult>()>& run, Failures* f) {
  absl::StatusOr<sandbox::RunResult> r = run();
  if (!r.ok()) {
    f->Note(&f->rlvr, std::string(r.status().message()));
    return false;
  }
  if (r->outcome != sandbox::Outcome::kExited || r->exit_code != 0) {
    f->Note(&f->rlvr, absl::StrCat("rlvr: ", sandbox::OutcomeName(r->outcome), " exit ",
                                   r->exit_code, " signal ", r->signal, ": ", r->stderr_data));
    return false;
  }
  return true;
}

bool SpawnOk(const std::vector<std::string>& args, uid_t uid, gid_t gid, std::atomic<int>* counter,
             Failures* f) {
  std::string err;
  const int rc = Spawn(args, uid, gid, &err);
  if (rc == 0) return true;
  f->Note(counter, absl::StrCat(args[0], " exited with ", rc, ": ", err));
  return false;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

nlohmann::json Spread(const std::vector<double>& v) {
  return {{"median", Median(v)},
          {"min", *std::min_element(v.begin(), v.end())},
          {"max", *std::max_element(v.begin(), v.end())}};
}

// One round: `runs` interleaved sequential runs of each kind, then the three throughputs.
struct Round {
  std::vector<double> t_bare, t_rlvr, t_bwrap;
  double rlvr_rate = 0, bwrap_rate = 0, bare_rate = 0;
};

absl::Status RunBench(const BenchOptions& o) {
  if (o.runs < 3 || o.throughput_runs < 1 || o.rounds < 1) {
    return absl::InvalidArgumentError(
        "--runs must be >= 3, --throughput-runs >= 1 and --rounds >= 1");
  }
  // rlvr runs only on pool threads: with cgroup v1 a thread that runs a sandbox lives in
  // a cgroup slot (sandbox/cgroup.h), and the bare and bwrap processes this thread starts
  // must not be born in one (its pids and memory limits, and its counts, are rlvr's).
  sandbox::SandboxOptions so;
  absl::StatusOr<std::unique_ptr<sandbox::Sandbox>> sb;
  std::thread([&] { sb = sandbox::Sandbox::Create(so); }).join();
  const bool root = geteuid() == 0;
  const uid_t uid = root ? so.host_uid : 0;
  const gid_t gid = root ? so.host_gid : 0;
  if (access(o.bwrap.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(o.bwrap, " not found (Debian package bubblewrap)"));
  }
  const std::vector<std::string> bare = {o.python, "-c", "pass"};
  const std::vector<std::string> bwrap = BwrapArgs(o, so);
  sandbox::Program prog;
  prog.argv = bare;
  const sandbox::Limits limits;

  // Warm up and check that each path works.
  if (Spawn(bare, uid, gid) != 0) return absl::InternalError("bare python3 -c pass failed");
  if (Spawn(bwrap, uid, gid) != 0) return absl::InternalError("bwrap python3 -c pass failed");
  sandbox::SandboxPool sequential(sb->get(), 1);
  absl::StatusOr<sandbox::RunResult> warm = sequential.Run(prog, limits);
  if (!warm.ok()) return warm.status();
  if (warm->exit_code != 0) return absl::InternalError("sandboxed python3 -c pass failed");

  const int workers = o.workers > 0
                          ? o.workers
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  sandbox::SandboxPool pool(sb->get(), workers);
  Failures fail;
  auto direct = [&] { return sequential.Run(prog, limits); };
  auto pooled = [&] { return pool.Run(prog, limits); };
  std::vector<Round> rounds(o.rounds);
  for (Round& round : rounds) {
    for (int i = 0; i < o.runs; ++i) {
      auto a = Clock::now();
      SpawnOk(bare, uid, gid, &fail.bare, &fail);
      auto b = Clock::now();
      RunOnce(direct, &fail);
      auto c = Clock::now();
      SpawnOk(bwrap, uid, gid, &fail.bwrap, &fail);
      auto d = Clock::now();
      round.t_bare.push_back(Ms(a, b));
      round.t_rlvr.push_back(Ms(b, c));
      round.t_bwrap.push_back(Ms(c, d));
    }
    // The pool's own workers run the jobs; `workers` submitting threads keep it full.
    round.rlvr_rate =
        Throughput(workers, o.throughput_runs, [&] { return RunOnce(pooled, &fail); });
    round.bwrap_rate = Throughput(workers, o.throughput_runs,
                                  [&] { return SpawnOk(bwrap, uid, gid, &fail.bwrap, &fail); });
    round.bare_rate = Throughput(workers, o.throughput_runs,
                                 [&] { return SpawnOk(bare, uid, gid, &fail.bare, &fail); });
  }

  // Per round: medians of the sequential runs, their differences, the throughput ratio.
  std::vector<double> over_bare, over_bwrap, bwrap_over_bare, ratio, rlvr_rate, bwrap_rate,
      bare_rate;
  std::vector<double> all_bare, all_rlvr, all_bwrap;
  for (const Round& r : rounds) {
    const double bare_ms = Median(r.t_bare), rlvr_ms = Median(r.t_rlvr),
                 bwrap_ms = Median(r.t_bwrap);
    over_bare.push_back(rlvr_ms - bare_ms);
    over_bwrap.push_back(rlvr_ms - bwrap_ms);
    bwrap_over_bare.push_back(bwrap_ms - bare_ms);
    ratio.push_back(r.rlvr_rate / r.bwrap_rate);
    rlvr_rate.push_back(r.rlvr_rate);
    bwrap_rate.push_back(r.bwrap_rate);
    bare_rate.push_back(r.bare_rate);
    all_bare.insert(all_bare.end(), r.t_bare.begin(), r.t_bare.end());
    all_rlvr.insert(all_rlvr.end(), r.t_rlvr.begin(), r.t_rlvr.end());
    all_bwrap.insert(all_bwrap.end(), r.t_bwrap.begin(), r.t_bwrap.end());
  }
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  nlohmann::json out = {
      {"bench", "sandbox"},
      {"program", "python3 -c pass"},
      {"isolation", (*sb)->Describe()},
      {"runs", o.runs},
      {"rounds", o.rounds},
      {"load_average_1m", load[0]},
      {"bare_python", Stats(all_bare)},
      {"rlvr_sandbox", Stats(all_rlvr)},
      {"bwrap", Stats(all_bwrap)},
      // Over rounds: median, min and max of each round's median difference.
      {"overhead_vs_bare_ms", Spread(over_bare)},
      {"overhead_vs_bwrap_ms", Spread(over_bwrap)},
      {"bwrap_overhead_vs_bare_ms", Spread(bwrap_over_bare)},
      {"throughput",
       {{"workers", workers},
        {"runs", o.throughput_runs},
        {"rlvr_pool_per_s", Spread(rlvr_rate)},
        {"bwrap_per_s", Spread(bwrap_rate)},
        {"bare_python_per_s", Spread(bare_rate)},
        {"rlvr_vs_bwrap", Spread(ratio)}}},
      {"goal_overhead_le_15ms", Median(over_bare) <= 15.0},
      {"goal_throughput_ge_bwrap", Median(ratio) >= 1.0},
      {"failures", fail.Json()},
  };
  std::cout << out.dump(2) << std::endl;
  if (fail.total() > 0) {
    return absl::InternalError(absl::StrCat(fail.total(), " runs failed (see \"failures\")"));
  }
  return absl::OkStatus();
}

}  // namespace

void AddBenchSandbox(CLI::App& bench) {
  auto opts = std::make_shared<BenchOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "sandbox", "Sandbox overhead vs bare python3 and bubblewrap; pool executions/s");
  cmd->add_option("--runs", opts->runs, "Sequential runs of each kind")->capture_default_str();
  cmd->add_option("--throughput-runs", opts->throughput_runs, "Runs of each kind for executions/s")
      ->capture_default_str();
  cmd->add_option("--workers", opts->workers, "Concurrent runs (0 = one per core)")
      ->capture_default_str();
  cmd->add_option("--rounds", opts->rounds,
                  "Repeat the whole measurement; reports median, min and max over rounds")
      ->capture_default_str();
  cmd->add_option("--python", opts->python, "Python interpreter to run")->capture_default_str();
  cmd->add_option("--bwrap", opts->bwrap, "bubblewrap binary")->capture_default_str();
  cmd->callback([opts] {
    const int rc = ReportStatus("bench sandbox", RunBench(*opts));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
