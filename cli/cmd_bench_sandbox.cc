// `rlvr bench sandbox`: the cost of running one program in rlvr's sandbox, against bare
// `python3 -c pass` and against bubblewrap (`bwrap`) with equivalent isolation (user, PID,
// mount, network, IPC, UTS namespaces; read-only binds of the same system directories; a
// private /proc, /dev and tmpfs /tmp; no capabilities; as the same unprivileged host
// user), measured in the same run with the three interleaved so that load drifts hit all
// alike. bwrap has no cgroups, rlimits or seccomp here, so rlvr does strictly more work.
// Then executions per second through the SandboxPool against bwrap launched by as many
// threads. Prints one JSON object.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <numeric>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
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
  std::string python = "/usr/bin/python3";
  std::string bwrap = "/usr/bin/bwrap";
};

struct SpawnArgs {
  char* const* argv;
  char* const* envp;
  uid_t uid;
  gid_t gid;
  int devnull;
};

// vfork-style child: the parent thread is suspended until execve, so the raw system calls
// here touch nothing another thread uses.
int SpawnChild(void* p) {
  const SpawnArgs* a = static_cast<const SpawnArgs*>(p);
  syscall(SYS_dup3, a->devnull, 0, 0);
  syscall(SYS_dup3, a->devnull, 1, 0);
  syscall(SYS_dup3, a->devnull, 2, 0);
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
int Spawn(const std::vector<std::string>& args, uid_t uid, gid_t gid) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  char path[] = "PATH=/usr/bin:/bin";
  char* envp[] = {path, nullptr};
  SpawnArgs sa{argv.data(), envp, uid, gid, open("/dev/null", O_RDWR | O_CLOEXEC)};
  std::vector<char> stack(64 * 1024);
  pid_t pid = clone(SpawnChild, stack.data() + stack.size(), CLONE_VM | CLONE_VFORK | SIGCHLD, &sa);
  close(sa.devnull);
  if (pid < 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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
double Throughput(int workers, int total, F job, std::atomic<int>* failures) {
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      while (next.fetch_add(1) < total) {
        if (!job()) failures->fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return total / (Ms(start, Clock::now()) / 1000.0);
}

absl::Status RunBench(const BenchOptions& o) {
  if (o.runs < 3 || o.throughput_runs < 1) {
    return absl::InvalidArgumentError("--runs must be >= 3 and --throughput-runs >= 1");
  }
  sandbox::SandboxOptions so;
  absl::StatusOr<std::unique_ptr<sandbox::Sandbox>> sb = sandbox::Sandbox::Create(so);
  if (!sb.ok()) return sb.status();
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
  absl::StatusOr<sandbox::RunResult> warm = (*sb)->Run(prog, limits);
  if (!warm.ok()) return warm.status();
  if (warm->exit_code != 0) return absl::InternalError("sandboxed python3 -c pass failed");

  std::vector<double> t_bare, t_rlvr, t_bwrap;
  int failures = 0;
  for (int i = 0; i < o.runs; ++i) {
    auto a = Clock::now();
    failures += Spawn(bare, uid, gid) != 0;
    auto b = Clock::now();
    absl::StatusOr<sandbox::RunResult> r = (*sb)->Run(prog, limits);
    failures += !r.ok() || r->exit_code != 0;
    auto c = Clock::now();
    failures += Spawn(bwrap, uid, gid) != 0;
    auto d = Clock::now();
    t_bare.push_back(Ms(a, b));
    t_rlvr.push_back(Ms(b, c));
    t_bwrap.push_back(Ms(c, d));
  }

  const int workers = o.workers > 0
                          ? o.workers
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  sandbox::SandboxPool pool(sb->get(), workers);
  std::atomic<int> tfail{0};
  // The pool's own workers run the jobs; `workers` submitting threads keep it full.
  const double rlvr_rate = Throughput(
      workers, o.throughput_runs,
      [&] {
        absl::StatusOr<sandbox::RunResult> r = pool.Run(prog, limits);
        return r.ok() && r->exit_code == 0;
      },
      &tfail);
  const double bwrap_rate = Throughput(
      workers, o.throughput_runs, [&] { return Spawn(bwrap, uid, gid) == 0; }, &tfail);
  const double bare_rate = Throughput(
      workers, o.throughput_runs, [&] { return Spawn(bare, uid, gid) == 0; }, &tfail);

  nlohmann::json s_bare = Stats(t_bare), s_rlvr = Stats(t_rlvr), s_bwrap = Stats(t_bwrap);
  const double over_bare = s_rlvr["median_ms"].get<double>() - s_bare["median_ms"].get<double>();
  const double over_bwrap = s_rlvr["median_ms"].get<double>() - s_bwrap["median_ms"].get<double>();
  nlohmann::json out = {
      {"bench", "sandbox"},
      {"program", "python3 -c pass"},
      {"isolation", (*sb)->Describe()},
      {"runs", o.runs},
      {"bare_python", s_bare},
      {"rlvr_sandbox", s_rlvr},
      {"bwrap", s_bwrap},
      {"overhead_vs_bare_ms", over_bare},
      {"overhead_vs_bwrap_ms", over_bwrap},
      {"bwrap_overhead_vs_bare_ms",
       s_bwrap["median_ms"].get<double>() - s_bare["median_ms"].get<double>()},
      {"throughput",
       {{"workers", workers},
        {"runs", o.throughput_runs},
        {"rlvr_pool_per_s", rlvr_rate},
        {"bwrap_per_s", bwrap_rate},
        {"bare_python_per_s", bare_rate},
        {"rlvr_vs_bwrap", rlvr_rate / bwrap_rate}}},
      {"goal_overhead_le_15ms", over_bare <= 15.0},
      {"goal_throughput_ge_bwrap", rlvr_rate >= bwrap_rate},
      {"failures", failures + tfail.load()},
  };
  std::cout << out.dump(2) << std::endl;
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
  cmd->add_option("--python", opts->python, "Python interpreter to run")->capture_default_str();
  cmd->add_option("--bwrap", opts->bwrap, "bubblewrap binary")->capture_default_str();
  cmd->callback([opts] {
    const int rc = ReportStatus("bench sandbox", RunBench(*opts));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
