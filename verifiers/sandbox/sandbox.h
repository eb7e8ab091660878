// A sandbox for untrusted programs (model-written code), built from Linux primitives:
//
//  - new user, PID, mount, network, IPC and UTS namespaces: the program runs as the
//    namespace's root mapped to an unprivileged host user (`host_uid`), with no
//    capabilities (empty bounding set), no network interface but a down loopback, and sees
//    only its own processes;
//  - a minimal read-only root: read-only binds of the host's system directories
//    (`ro_binds`), a few device nodes, a private /proc, and a fresh size-capped tmpfs as
//    working directory (`Limits::workdir_mb`), mounted at /tmp;
//  - a seccomp filter denying what a test program never needs (ptrace, mount, kexec, bpf,
//    perf_event_open, keyctl, namespace creation, ...; see seccomp_policy.h);
//  - rlimits (CPU time, address space, file size, open files, processes), per-run cgroup
//    memory and pids limits (cgroup v2, or v1 memory+pids), out-of-memory kills read from
//    the cgroup's counters, a wall-clock backstop, stdout/stderr captured up to a cap;
//  - PID 1 of the namespace is rlvr-sandbox-init (init_main.cc); when the program exits it
//    kills everything the program left, and when it dies the kernel kills the rest. No
//    process and no file (the working directory is a tmpfs) outlives Run().
//
// Zygotes: with namespaces and cgroups, each cgroup slot (one per worker thread) keeps a
// long-lived `rlvr-sandbox-init zygote` in the slot's cgroup, in a user namespace of its
// own (root there = `host_uid` outside) and a network namespace with only a down
// loopback. Each run's PID 1 is forked by it into fresh user, PID, mount, IPC and UTS
// namespaces; the run's user namespace is a child of the zygote's, so the program has no
// capability over the network namespace and cannot bring the loopback up. Runs of one slot
// are sequential and every process of a run is dead before the next starts, so sharing
// the network namespace across them carries nothing from one run to the next (no
// interface, no socket outlives its processes; SysV IPC, which can, stays per run).
// Forking from the small zygote instead of cloning and exec'ing per run saves the init's
// exec and C library start-up and the network namespace's creation and teardown. Zygotes
// hold no program state; they live until the Sandbox is destroyed or this process exits
// (then their socket hangs up and they kill their run and exit).
//
// Where namespaces or cgroups are unavailable, Create() refuses unless `allow_degraded`,
// naming what is missing. Degraded runs use what exists (rlimits and seccomp always; a
// temporary host directory as working directory without namespaces).
#ifndef RLVR_VERIFIERS_SANDBOX_SANDBOX_H_
#define RLVR_VERIFIERS_SANDBOX_SANDBOX_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rlvr::sandbox {

struct SandboxOptions {
  // Run with weaker isolation when namespaces or cgroups are unavailable (default: refuse).
  bool allow_degraded = false;
  // Path of the rlvr-sandbox-init binary; "" = next to the running executable, else the
  // one in the build tree this library was built in.
  std::string init_path;
  // Host paths visible read-only at the same place inside; absent ones are skipped, symlinks
  // are recreated as symlinks. Enough for /usr/bin/python3 and g++ on Debian.
  std::vector<std::string> ro_binds = {"/usr",
                                       "/bin",
                                       "/sbin",
                                       "/lib",
                                       "/lib64",
                                       "/lib32",
                                       "/libx32",
                                       "/etc/ld.so.cache",
                                       "/etc/alternatives",
                                       "/etc/localtime",
                                       "/etc/python3",
                                       "/etc/python3.11"};
  // Device nodes bound read-write (no others exist inside).
  std::vector<std::string> dev_nodes = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                        "/dev/urandom"};
  // The host user and group the sandbox's root maps to when rlvr runs as root (otherwise
  // the caller's own ids). 65534 is nobody/nogroup.
  uint32_t host_uid = 65534;
  uint32_t host_gid = 65534;
  // Use cgroups for memory and process limits when writable.
  bool use_cgroups = true;
  // cgroup v2 only: a delegated cgroup to create run cgroups in ("" = this process's own).
  std::string cgroup_parent;
};

// Limits of one run. Every process in the sandbox gets the rlimits; the cgroup limits
// cover the whole run.
struct Limits {
  double cpu_s = 2.0;            // CPU time (user+sys) of the program; exceeding it is kCpuLimit
  double wall_s = 0.0;           // wall-clock backstop; 0 = 2 * cpu_s + 1
  int64_t memory_mb = 512;       // cgroup memory, working-directory files included
  int64_t address_space_mb = 0;  // RLIMIT_AS per process; 0 = 4 * memory_mb + 256; <0 none
  int64_t file_size_mb = 32;     // RLIMIT_FSIZE
  int64_t workdir_mb = 64;       // size of the /tmp tmpfs
  int64_t max_processes = 64;    // pids.max and RLIMIT_NPROC (threads count)
  int64_t max_open_files = 256;  // RLIMIT_NOFILE
  int64_t max_output_bytes = 1 << 20;   // cap of each of stdout and stderr; more is kOutputLimit
  int64_t max_report_bytes = 16 << 20;  // cap of fd 3 (harness reports); more is kOutputLimit
};

struct File {
  std::string path;  // relative to the working directory, no ".."
  std::string content;
  bool executable = false;
};

struct Program {
  // argv[0]: absolute path inside the sandbox, or "./name" in the working directory.
  std::vector<std::string> argv;
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp",
                                  "LANG=C.UTF-8"};
  std::string stdin_data;                 // then EOF
  std::vector<File> files;                // written to the working directory first
  std::vector<std::string> output_files;  // read back after the run (relative paths)
};

enum class Outcome {
  kExited,       // exit_code holds the status
  kSignaled,     // killed by `signal`, not for a limit
  kCpuLimit,     // used more than Limits::cpu_s of CPU
  kWallLimit,    // still running at the wall-clock backstop
  kMemoryLimit,  // the cgroup's OOM killer fired
  kOutputLimit,  // stdout, stderr or fd 3 went over its cap
};
const char* OutcomeName(Outcome o);

struct RunResult {
  Outcome outcome = Outcome::kExited;
  int exit_code = -1;  // when the program exited
  int signal = 0;      // when a signal ended it
  std::string stdout_data;
  std::string stderr_data;
  std::string report;   // what the program wrote to fd 3 (a pipe, like stdout)
  double cpu_s = 0.0;   // the program and the children it waited for
  double wall_s = 0.0;  // the whole run, sandbox setup included
  int64_t max_rss_kb = 0;
  bool pids_limit_hit = false;                      // a fork was refused by the process limit
  std::map<std::string, std::string> output_files;  // the requested files that existed
};

class Sandbox {
 public:
  // Checks what this machine allows (namespaces, cgroups, the init binary, seccomp) with
  // one trial run. FAILED_PRECONDITION saying what is missing, unless allow_degraded.
  static absl::StatusOr<std::unique_ptr<Sandbox>> Create(const SandboxOptions& options);
  ~Sandbox();

  // Thread-safe; runs may proceed concurrently. Runs `program` to its end under `limits`.
  // A program that fails, crashes or hits a limit is an OK result saying so. Errors:
  // INVALID_ARGUMENT for an empty argv or a bad file path; INTERNAL/UNAVAILABLE when the
  // sandbox could not be built (message says which step failed).
  absl::StatusOr<RunResult> Run(const Program& program, const Limits& limits) const;

  // One line: the isolation in effect and, when degraded, what is missing.
  std::string Describe() const;
  bool degraded() const;

  struct State;  // implementation detail (sandbox.cc)

 private:
  explicit Sandbox(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace rlvr::sandbox

#endif  // RLVR_VERIFIERS_SANDBOX_SANDBOX_H_
