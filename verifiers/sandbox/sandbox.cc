#include "verifiers/sandbox/sandbox.h"

#include <fcntl.h>
#include <linux/limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "core/status_macros.h"
#include "verifiers/sandbox/cgroup.h"
#include "verifiers/sandbox/seccomp_policy.h"
#include "verifiers/sandbox/wire.h"

#ifndef RLVR_SANDBOX_INIT_BUILD_PATH
#define RLVR_SANDBOX_INIT_BUILD_PATH ""
#endif

namespace rlvr::sandbox {
namespace {

constexpr int kNamespaceFlags =
    CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;

// A system call that leaves errno alone: the clone child below shares memory (and the TLS
// block, hence errno) with the thread that created it.
long RawSyscall(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
#if defined(__x86_64__)
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return ret;
#else
  return syscall(nr, a, b, c, d, e);
#endif
}

// Arguments of the clone child; prepared by the parent, read-only for the child.
struct ChildArgs {
  int fds[6];         // become 0..nfds-1 in init: stdin, stdout, stderr, report, config, status
  int nfds = 6;       // the zygote gets 0..3: /dev/null x3 and its control socket
  int go_fd;          // one byte arrives here once the uid/gid maps are written
  int init_fd;        // O_PATH fd of rlvr-sandbox-init
  bool become_root;   // setresuid/gid(0) in the new user namespace first
  char* const* argv;  // of init
  char* const* envp;
  const char* exec_error;  // a pre-encoded wire::kSetupError record
  size_t exec_error_len;
};

// Runs in a CLONE_VM child on its own small stack: raw system calls only, no libc state.
int ChildMain(void* p) {
  const ChildArgs* a = static_cast<const ChildArgs*>(p);
  char go = 0;
  // Wait for the parent to write our uid/gid maps and put us in the cgroups.
  if (RawSyscall(SYS_read, a->go_fd, reinterpret_cast<long>(&go), 1) != 1) {
    RawSyscall(SYS_exit, 126);
  }
  if (a->become_root) {
    if (RawSyscall(SYS_setresgid, 0, 0, 0) != 0 || RawSyscall(SYS_setresuid, 0, 0, 0) != 0) {
      RawSyscall(SYS_exit, 125);
    }
  }
  int tmp[6];
  for (int i = 0; i < a->nfds; ++i)
    tmp[i] = static_cast<int>(RawSyscall(SYS_fcntl, a->fds[i], F_DUPFD, 100));
  const long init_fd = RawSyscall(SYS_fcntl, a->init_fd, F_DUPFD, 100);  // may be <= 5
  for (int i = 0; i < a->nfds; ++i) RawSyscall(SYS_dup3, tmp[i], i, 0);
  long rc =
      RawSyscall(SYS_execveat, init_fd, reinterpret_cast<long>(""), reinterpret_cast<long>(a->argv),
                 reinterpret_cast<long>(a->envp), AT_EMPTY_PATH);
  RawSyscall(SYS_write, 5, reinterpret_cast<long>(a->exec_error),
             static_cast<long>(a->exec_error_len));
  RawSyscall(SYS_exit, -rc);
  return 127;
}

double Now() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + t.tv_nsec * 1e-9;
}

absl::Status WriteProcFile(pid_t pid, const char* name, const std::string& value) {
  const std::string path = absl::StrCat("/proc/", pid, "/", name);
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", strerror(errno)));
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return absl::InternalError(absl::StrCat("write ", path, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

// Owns the fds of one run.
struct Pipes {
  int child[6] = {-1, -1, -1, -1, -1, -1};
  int parent[6] = {-1, -1, -1, -1, -1, -1};  // [0] stdin w, [1..3] r, [4] config w, [5] status r
  ~Pipes() {
    for (int i = 0; i < 6; ++i) {
      if (child[i] >= 0) close(child[i]);
      if (parent[i] >= 0) close(parent[i]);
    }
  }
  absl::Status Open() {
    for (int i = 0; i < 6; ++i) {
      int p[2];
      if (pipe2(p, O_CLOEXEC) != 0)
        return absl::UnavailableError(absl::StrCat("pipe2: ", strerror(errno)));
      const bool child_reads = (i == 0 || i == 4);
      child[i] = child_reads ? p[0] : p[1];
      parent[i] = child_reads ? p[1] : p[0];
      fcntl(parent[i], F_SETFL, O_NONBLOCK);
    }
    return absl::OkStatus();
  }
  void CloseChildEnds() {
    for (int& fd : child) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
  }
};

// CPU time and run-queue wait (ns) of `pid`'s descendants, from /proc/<pid>/schedstat.
void SumDescendants(pid_t pid, int depth, int64_t* cpu_ns, int64_t* wait_ns) {
  if (depth > 8) return;
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
  FILE* f = fopen(path, "re");
  if (f == nullptr) return;
  std::vector<pid_t> kids;
  int kid;
  while (kids.size() < 256 && fscanf(f, "%d", &kid) == 1) kids.push_back(kid);
  fclose(f);
  for (pid_t k : kids) {
    snprintf(path, sizeof(path), "/proc/%d/schedstat", k);
    if (FILE* s = fopen(path, "re")) {
      long long cpu = 0, wait = 0;
      if (fscanf(s, "%lld %lld", &cpu, &wait) == 2) {
        *cpu_ns += cpu;
        *wait_ns += wait;
      }
      fclose(s);
    }
    SumDescendants(k, depth + 1, cpu_ns, wait_ns);
  }
}

std::string DefaultInitPath() {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = '\0';
    std::string dir(self);
    dir = dir.substr(0, dir.rfind('/'));
    std::string candidate = dir + "/rlvr-sandbox-init";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return RLVR_SANDBOX_INIT_BUILD_PATH;
}

// Closes namespace fds off the callers' path: dropping the last reference to a run's mount
// namespace unmounts its tree, which waits for an RCU grace period (tens of milliseconds
// on a loaded machine). Holding that reference until the run's init has exited moves the
// wait here.
class DeferredCloser {
 public:
  DeferredCloser() : thread_([this] { Loop(); }) {}
  ~DeferredCloser() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }
  void Close(int fd) {
    absl::MutexLock lock(&mu_);
    fds_.push_back(fd);
  }

 private:
  void Loop() {
    for (;;) {
      std::vector<int> batch;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](DeferredCloser* c)
                 ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) { return c->stop_ || !c->fds_.empty(); },
            this));
        batch.swap(fds_);
        if (batch.empty() && stop_) return;
      }
      for (int fd : batch) close(fd);
    }
  }
  absl::Mutex mu_;
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// A zygote (init_main.cc): the creator of one cgroup slot's runs, living in the slot.
struct Zygote {
  pid_t pid = -1;
  int sock = -1;  // our end of its control socket
};

// Kills and reaps `z` (its runs die with it).
void StopZygote(Zygote* z) {
  if (z->sock >= 0) close(z->sock);
  if (z->pid > 0) {
    kill(z->pid, SIGKILL);
    while (waitpid(z->pid, nullptr, __WALL) < 0 && errno == EINTR) {
    }
  }
  *z = Zygote();
}

// One message from a zygote; a pidfd it carried goes to *fd (else -1).
absl::StatusOr<wire::ZygoteReply> RecvReply(int sock, int* fd) {
  wire::ZygoteReply r;
  struct iovec iov = {&r, sizeof(r)};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (fd != nullptr) *fd = -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int got;
    std::memcpy(&got, CMSG_DATA(c), sizeof(int));
    if (fd != nullptr && *fd < 0) {
      *fd = got;
    } else {
      close(got);
    }
  }
  if (n != static_cast<ssize_t>(sizeof(r))) {
    return absl::UnavailableError(n == 0 ? "the sandbox zygote exited"
                                         : absl::StrCat("zygote: ", strerror(errno)));
  }
  return r;
}

// Asks the zygote for a run with `fds` (the child ends of Pipes) as its fds 0..5.
bool SendRun(int sock, const int* fds) {
  char req = 'r';
  struct iovec iov = {&req, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 6)] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * 6);
  std::memcpy(CMSG_DATA(c), fds, sizeof(int) * 6);
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1;
}

}  // namespace

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kExited:
      return "exited";
    case Outcome::kSignaled:
      return "signaled";
    case Outcome::kCpuLimit:
      return "cpu_limit";
    case Outcome::kWallLimit:
      return "wall_limit";
    case Outcome::kMemoryLimit:
      return "memory_limit";
    case Outcome::kOutputLimit:
      return "output_limit";
  }
  return "?";
}

struct Sandbox::State {
  SandboxOptions options;
  int init_fd = -1;
  std::string init_path;
  std::string seccomp_bpf;
  bool namespaces = false;
  std::unique_ptr<CgroupPool> cgroups;
  std::vector<std::string> missing;
  uid_t map_uid = 0;
  gid_t map_gid = 0;
  std::unique_ptr<DeferredCloser> closer = std::make_unique<DeferredCloser>();
  // One zygote per cgroup slot, used only by the run holding the slot.
  mutable absl::Mutex zygote_mu;
  mutable std::map<const CgroupSlot*, Zygote> zygotes ABSL_GUARDED_BY(zygote_mu);

  ~State() {
    {
      absl::MutexLock lock(&zygote_mu);
      for (auto& [slot, z] : zygotes) StopZygote(&z);
    }
    if (init_fd >= 0) close(init_fd);
  }

  // Starts the zygote of `slot`: rlvr-sandbox-init in a new user namespace (its root is
  // the host's map_uid) and a new network namespace, born in the slot's cgroup (or moved
  // there when the calling thread does not live in it).
  absl::Status StartZygote(Zygote* z, CgroupSlot* slot, bool thread_slot) const {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
      return absl::UnavailableError(absl::StrCat("sandbox: socketpair: ", strerror(errno)));
    const int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    char init_name[] = "rlvr-sandbox-init";
    char zygote_arg[] = "zygote";
    char* init_argv[] = {init_name, zygote_arg, nullptr};
    char* init_envp[] = {nullptr};
    ChildArgs args;
    args.fds[0] = args.fds[1] = args.fds[2] = devnull;
    args.fds[3] = sv[1];
    args.nfds = 4;
    args.go_fd = sv[1];
    args.init_fd = init_fd;
    args.become_root = true;
    args.argv = init_argv;
    args.envp = init_envp;
    args.exec_error = "";
    args.exec_error_len = 0;
    // The child runs on this stack until it has exec'd, which the kReady reply proves.
    std::unique_ptr<char[]> stack(new char[65536]);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = clone(ChildMain, stack.get() + 65536,
                      CLONE_VM | SIGCHLD | CLONE_NEWUSER | CLONE_NEWNET, &args);
    const int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (devnull >= 0) close(devnull);
    close(sv[1]);
    if (pid < 0) {
      close(sv[0]);
      return absl::UnavailableError(absl::StrCat("sandbox: clone zygote: ", strerror(clone_errno)));
    }
    z->pid = pid;
    z->sock = sv[0];
    absl::Status st = WriteProcFile(pid, "setgroups", "deny");
    if (st.ok()) st = WriteProcFile(pid, "uid_map", absl::StrCat("0 ", map_uid, " 1\n"));
    if (st.ok()) st = WriteProcFile(pid, "gid_map", absl::StrCat("0 ", map_gid, " 1\n"));
    if (st.ok() && !thread_slot) st = slot->Join(pid);
    if (st.ok() && send(z->sock, "g", 1, MSG_NOSIGNAL) != 1)
      st = absl::UnavailableError(absl::StrCat("start zygote: ", strerror(errno)));
    if (st.ok()) {
      absl::StatusOr<wire::ZygoteReply> ready = RecvReply(z->sock, nullptr);
      if (!ready.ok()) {
        st = ready.status();
      } else if (ready->tag != wire::ZygoteReply::kReady) {
        st = absl::InternalError("sandbox: unexpected first message from the zygote");
      }
    }
    if (!st.ok()) {
      StopZygote(z);  // also waits for the child to be gone, so the stack is free
      return absl::InternalError(absl::StrCat("sandbox: zygote: ", st.message()));
    }
    return absl::OkStatus();
  }

  // Starts one run in the zygote of `slot` with `fds` as its fds 0..5; its PID 1's host
  // pid and a pidfd of it are returned. Restarts a zygote that died, once.
  absl::StatusOr<Zygote*> StartRun(CgroupSlot* slot, bool thread_slot, const int* fds, pid_t* pid,
                                   int* pidfd) const {
    Zygote* z;
    {
      absl::MutexLock lock(&zygote_mu);
      z = &zygotes[slot];
    }
    for (int attempt = 0;; ++attempt) {
      if (z->pid < 0) RETURN_IF_ERROR(StartZygote(z, slot, thread_slot));
      absl::StatusOr<wire::ZygoteReply> r =
          SendRun(z->sock, fds) ? RecvReply(z->sock, pidfd)
                                : absl::UnavailableError("the sandbox zygote is gone");
      if (!r.ok()) {
        StopZygote(z);
        if (attempt == 0) continue;
        return absl::UnavailableError(absl::StrCat("sandbox: ", r.status().message()));
      }
      if (r->tag != wire::ZygoteReply::kStarted) {
        if (*pidfd >= 0) close(*pidfd);
        *pidfd = -1;
        return absl::UnavailableError(
            absl::StrCat("sandbox: the zygote could not start a run: ", strerror(r->error)));
      }
      *pid = static_cast<pid_t>(r->pid);
      return z;
    }
  }
};

Sandbox::Sandbox(std::unique_ptr<State> state) : state_(std::move(state)) {}
Sandbox::~Sandbox() = default;

bool Sandbox::degraded() const { return !state_->missing.empty(); }

std::string Sandbox::Describe() const {
  const State& s = *state_;
  std::vector<std::string> parts;
  parts.push_back(s.namespaces ? "user+pid+mount+net+ipc+uts namespaces, read-only root, tmpfs /tmp"
                               : "no namespaces (host filesystem, temporary directory)");
  parts.push_back(s.cgroups ? s.cgroups->Describe() : "no cgroups");
  parts.push_back("seccomp, rlimits");
  std::string out = absl::StrJoin(parts, "; ");
  if (!s.missing.empty())
    absl::StrAppend(&out, "; DEGRADED, missing: ", absl::StrJoin(s.missing, "; "));
  return out;
}

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Create(const SandboxOptions& options) {
  auto state = std::make_unique<State>();
  state->options = options;
  state->init_path = options.init_path.empty() ? DefaultInitPath() : options.init_path;
  state->init_fd = open(state->init_path.c_str(), O_PATH | O_CLOEXEC);
  if (state->init_fd < 0 || access(state->init_path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox: the rlvr-sandbox-init binary is missing or not executable at '",
                     state->init_path, "' (set sandbox.init_path)"));
  }
  ASSIGN_OR_RETURN(state->seccomp_bpf, BuildSeccompFilter());
  const bool root = geteuid() == 0;
  state->map_uid = root ? options.host_uid : geteuid();
  state->map_gid = root ? options.host_gid : getegid();

  // Namespaces: can this process create all of them?
  {
    std::vector<char> stack(16384);
    auto probe = [](void*) -> int { return 0; };
    pid_t pid =
        clone(probe, stack.data() + stack.size(), CLONE_VM | kNamespaceFlags | SIGCHLD, nullptr);
    if (pid > 0) {
      waitpid(pid, nullptr, 0);
      state->namespaces = true;
    } else {
      std::vector<std::string> which;
      const std::pair<int, const char*> each[] = {
          {CLONE_NEWUSER, "user"},   {CLONE_NEWPID, "pid"}, {CLONE_NEWNS, "mount"},
          {CLONE_NEWNET, "network"}, {CLONE_NEWIPC, "ipc"}, {CLONE_NEWUTS, "uts"}};
      for (const auto& [flag, name] : each) {
        pid_t p = clone(probe, stack.data() + stack.size(), CLONE_VM | flag | SIGCHLD, nullptr);
        if (p > 0) {
          waitpid(p, nullptr, 0);
        } else {
          which.push_back(absl::StrCat(name, " (", strerror(errno), ")"));
        }
      }
      state->missing.push_back(
          absl::StrCat("namespaces: cannot create ",
                       which.empty() ? "them together" : absl::StrJoin(which, ", ")));
    }
  }
  if (options.use_cgroups) {
    absl::StatusOr<std::unique_ptr<CgroupPool>> pool = CgroupPool::Create(options.cgroup_parent);
    if (pool.ok()) {
      state->cgroups = std::move(*pool);
    } else {
      state->missing.push_back(absl::StrCat("cgroups: ", pool.status().message()));
    }
  } else {
    state->missing.push_back("cgroups: disabled (sandbox.use_cgroups: false)");
  }
  if (!state->missing.empty() && !options.allow_degraded) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox: refusing to run untrusted code without full isolation; missing: ",
        absl::StrJoin(state->missing, "; "), ". Set sandbox.allow_degraded: true to run anyway."));
  }
  std::unique_ptr<Sandbox> sandbox(new Sandbox(std::move(state)));
  // One trial run proves the whole path (mounts, /proc, seccomp, exec) works here.
  Program trial;
  trial.argv = {"/bin/sh", "-c", "exit 0"};
  Limits limits;
  limits.cpu_s = 5;
  absl::StatusOr<RunResult> r = sandbox->Run(trial, limits);
  if (!r.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox: trial run failed: ", r.status().message()));
  }
  if (r->outcome != Outcome::kExited || r->exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat("sandbox: trial run ended with ",
                                                      OutcomeName(r->outcome), " code ",
                                                      r->exit_code, ": ", r->stderr_data));
  }
  return sandbox;
}

absl::StatusOr<RunResult> Sandbox::Run(const Program& program, const Limits& limits) const {
  const State& s = *state_;
  if (program.argv.empty()) return absl::InvalidArgumentError("sandbox: empty argv");
  for (const File& f : program.files) {
    if (f.path.empty() || f.path[0] == '/' || f.path.find("..") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("sandbox: bad file path '", f.path, "'"));
    }
  }
  const double start = Now();
  const double cpu_s = std::max(0.01, limits.cpu_s);
  const double wall_s = limits.wall_s > 0 ? limits.wall_s : 2 * cpu_s + 1;

  wire::InitConfig cfg;
  cfg.isolated = s.namespaces ? 1 : 0;
  cfg.drop_to_uid = (!s.namespaces && geteuid() == 0) ? s.options.host_uid : 0;
  cfg.ro_binds = s.options.ro_binds;
  cfg.dev_nodes = s.options.dev_nodes;
  cfg.workdir_bytes = static_cast<uint64_t>(std::max<int64_t>(1, limits.workdir_mb)) << 20;
  cfg.workdir_inodes = 4096;
  for (const File& f : program.files) {
    cfg.files.push_back({f.path, f.content, f.executable ? 0755u : 0644u});
  }
  cfg.output_files = program.output_files;
  cfg.max_output_file_bytes = static_cast<uint64_t>(limits.max_report_bytes);
  cfg.argv = program.argv;
  cfg.envp = program.env;
  const uint64_t cpu_soft = static_cast<uint64_t>(std::ceil(cpu_s));
  cfg.rlimits.push_back({RLIMIT_CPU, cpu_soft, cpu_soft + 1});
  if (limits.address_space_mb >= 0) {
    const int64_t as_mb =
        limits.address_space_mb > 0 ? limits.address_space_mb : 4 * limits.memory_mb + 256;
    cfg.rlimits.push_back(
        {RLIMIT_AS, static_cast<uint64_t>(as_mb) << 20, static_cast<uint64_t>(as_mb) << 20});
  }
  const uint64_t fsize = static_cast<uint64_t>(limits.file_size_mb) << 20;
  cfg.rlimits.push_back({RLIMIT_FSIZE, fsize, fsize});
  cfg.rlimits.push_back({RLIMIT_NOFILE, static_cast<uint64_t>(limits.max_open_files),
                         static_cast<uint64_t>(limits.max_open_files)});
  cfg.rlimits.push_back({RLIMIT_NPROC, static_cast<uint64_t>(limits.max_processes),
                         static_cast<uint64_t>(limits.max_processes)});
  cfg.rlimits.push_back({RLIMIT_CORE, 0, 0});
  cfg.seccomp_bpf = s.seccomp_bpf;
  std::string config = "g" + cfg.Encode();

  // The run's cgroup: preferably the one this thread lives in (children are born there),
  // else a free one that the child is moved into.
  CgroupSlot* slot = nullptr;
  bool thread_slot = false;
  if (s.cgroups) {
    absl::StatusOr<CgroupSlot*> mine = s.cgroups->ThreadSlot();
    thread_slot = mine.ok();
    if (thread_slot) {
      slot = *mine;
    } else {
      ASSIGN_OR_RETURN(slot, s.cgroups->Acquire());
    }
    // +3: the slot's zygote, the run's rlvr-sandbox-init, and the calling thread when it
    // lives in the slot.
    absl::Status st = slot->Configure(limits.memory_mb << 20, limits.max_processes + 3);
    if (!st.ok()) {
      if (!thread_slot) s.cgroups->Release(slot);
      return absl::InternalError(absl::StrCat("sandbox: cgroup limits: ", st.message()));
    }
  }
  const CgroupCounters before = slot ? slot->Read() : CgroupCounters{};
  struct SlotReturn {
    const State& s;
    CgroupSlot* slot;
    bool thread_slot;
    pid_t keep = 0;  // the slot's zygote
    ~SlotReturn() {
      if (slot == nullptr) return;
      const bool empty = slot->KillAll(keep);
      // Only an empty cgroup goes back to the pool.
      if (!thread_slot && empty) s.cgroups->Release(slot);
    }
  } slot_return{s, slot, thread_slot};

  Pipes pipes;
  RETURN_IF_ERROR(pipes.Open());
  // With namespaces and a cgroup slot the slot's zygote forks the run's PID 1; otherwise
  // this thread clones it, and it execs rlvr-sandbox-init.
  const bool use_zygote = s.namespaces && slot != nullptr;
  pid_t pid = -1;
  int pidfd = -1;
  Zygote* zygote = nullptr;
  std::unique_ptr<char[]> stack;
  // Read by the clone child until it execs, so they live as long as this call.
  wire::Writer err;
  err.U64(wire::kSetupError);
  err.Str("exec rlvr-sandbox-init failed");
  const std::string exec_error = std::move(err.data());
  char init_name[] = "rlvr-sandbox-init";
  char* init_argv[] = {init_name, nullptr};
  char* init_envp[] = {nullptr};
  ChildArgs args;
  if (use_zygote) {
    ASSIGN_OR_RETURN(zygote, s.StartRun(slot, thread_slot, pipes.child, &pid, &pidfd));
    slot_return.keep = zygote->pid;
    config.erase(0, 1);  // the "go" byte is the zygote's
  } else {
    for (int i = 0; i < 6; ++i) args.fds[i] = pipes.child[i];
    args.go_fd = pipes.child[4];
    args.init_fd = s.init_fd;
    args.become_root = s.namespaces;
    args.argv = init_argv;
    args.envp = init_envp;
    args.exec_error = exec_error.data();
    args.exec_error_len = exec_error.size();

    stack.reset(new char[65536]);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    const int flags = CLONE_VM | SIGCHLD | (s.namespaces ? kNamespaceFlags : 0);
    pid = clone(ChildMain, stack.get() + 65536, flags, &args);
    const int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) {
      return absl::UnavailableError(absl::StrCat("sandbox: clone: ", strerror(clone_errno)));
    }
  }
  pipes.CloseChildEnds();
  const int mnt_ns =
      s.namespaces ? open(absl::StrCat("/proc/", pid, "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC)
                   : -1;
  struct NsRelease {
    const State& s;
    int fd;
    int pidfd;
    ~NsRelease() {
      if (fd >= 0) s.closer->Close(fd);
      if (pidfd >= 0) close(pidfd);
    }
  } ns_release{s, mnt_ns, pidfd};

  // From here the child exists: every exit path below kills and reaps it.
  bool killed = false;
  auto kill_child = [&] {
    if (!killed) {
      if (pidfd >= 0) {
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
      } else {
        kill(pid, SIGKILL);
      }
    }
    killed = true;
  };
  // Waits for the run's PID 1 to end: its wait status, and its CPU time in *cpu_s.
  auto reap = [&](double* cpu_s) -> absl::StatusOr<int> {
    if (zygote != nullptr) {
      absl::StatusOr<wire::ZygoteReply> r = RecvReply(zygote->sock, nullptr);
      if (!r.ok() || r->tag != wire::ZygoteReply::kReaped || r->pid != pid) {
        StopZygote(zygote);  // its runs die with it
        return absl::InternalError("sandbox: lost the zygote during the run");
      }
      *cpu_s = r->cpu_us * 1e-6;
      return static_cast<int>(r->status);
    }
    int st = 0;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
    }
    *cpu_s = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
             (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
    return st;
  };
  absl::Status setup;
  if (s.namespaces && !use_zygote) {
    setup = WriteProcFile(pid, "setgroups", "deny");
    if (setup.ok()) setup = WriteProcFile(pid, "uid_map", absl::StrCat("0 ", s.map_uid, " 1\n"));
    if (setup.ok()) setup = WriteProcFile(pid, "gid_map", absl::StrCat("0 ", s.map_gid, " 1\n"));
  }
  if (setup.ok() && slot != nullptr && !thread_slot && !use_zygote) setup = slot->Join(pid);
  if (!setup.ok()) {
    kill_child();
    double ignored;
    (void)reap(&ignored);
    return absl::InternalError(absl::StrCat("sandbox: ", setup.message()));
  }

  // Poll loop: feed config and stdin, collect stdout/stderr/report/status, enforce caps.
  RunResult result;
  std::string status;
  std::string* sinks[6] = {
      nullptr, &result.stdout_data, &result.stderr_data, &result.report, nullptr, &status};
  const int64_t caps[6] = {
      0, limits.max_output_bytes, limits.max_output_bytes, limits.max_report_bytes, 0, INT64_MAX};
  size_t written[6] = {0, 0, 0, 0, 0, 0};
  const std::string* sources[6] = {
      &program.stdin_data, nullptr, nullptr, nullptr, &config, nullptr};
  bool output_limit = false, wall_limit = false;
  double cpu_at_kill = 0.0;  // CPU of the program's processes when the wall clock ran out
  double deadline = start + wall_s;
  std::unique_ptr<char[]> buf(new char[1 << 16]);
  for (;;) {
    struct pollfd pfd[6];
    int n = 0;
    int which[6];
    for (int i = 0; i < 6; ++i) {
      if (pipes.parent[i] < 0) continue;
      pfd[n] = {pipes.parent[i], static_cast<short>(sources[i] ? POLLOUT : POLLIN), 0};
      which[n++] = i;
    }
    bool reading = false;
    for (int k = 0; k < n; ++k) reading |= sources[which[k]] == nullptr;
    if (!reading) break;  // every output pipe is at EOF
    const double now = Now();
    if (now >= deadline) {
      if (killed) break;  // something still holds a pipe; give up on it
      // A program that wanted the CPU all along (ran or waited in the run queue) but has
      // not used its CPU limit yet is starved by load, not late: give it more time, so the
      // verdict does not depend on load. Sleepers are not extended.
      int64_t cpu_ns = 0, wait_ns = 0;
      SumDescendants(pid, 0, &cpu_ns, &wait_ns);
      cpu_at_kill = cpu_ns * 1e-9;
      if (cpu_at_kill < cpu_s && (cpu_ns + wait_ns) * 1e-9 > 0.5 * (now - start) &&
          now < start + 10 * wall_s) {
        deadline = now + 0.25;
        continue;
      }
      wall_limit = true;
      kill_child();
      deadline = now + 2.0;
      continue;
    }
    int rc = poll(pfd, n, static_cast<int>(std::ceil((deadline - now) * 1000)));
    if (rc < 0 && errno != EINTR) break;
    for (int k = 0; k < n && rc > 0; ++k) {
      const int i = which[k];
      if (pfd[k].revents == 0) continue;
      if (sources[i] != nullptr) {
        const std::string& src = *sources[i];
        ssize_t w = src.size() > written[i]
                        ? write(pipes.parent[i], src.data() + written[i], src.size() - written[i])
                        : 0;
        if (w > 0) written[i] += static_cast<size_t>(w);
        if (written[i] >= src.size() || (w < 0 && errno != EAGAIN && errno != EINTR) ||
            (pfd[k].revents & (POLLERR | POLLHUP))) {
          close(pipes.parent[i]);
          pipes.parent[i] = -1;
        }
        continue;
      }
      ssize_t r = read(pipes.parent[i], buf.get(), 1 << 16);
      if (r > 0) {
        std::string* sink = sinks[i];
        const int64_t room = caps[i] - static_cast<int64_t>(sink->size());
        sink->append(buf.get(),
                     static_cast<size_t>(std::min<int64_t>(r, std::max<int64_t>(room, 0))));
        if (r > room && !killed) {
          output_limit = true;
          kill_child();
        }
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(pipes.parent[i]);
        pipes.parent[i] = -1;
      }
    }
  }
  double init_cpu_s = 0.0;
  ASSIGN_OR_RETURN(const int init_status, reap(&init_cpu_s));
  result.wall_s = Now() - start;

  // Status records from init.
  wire::Reader reader(status.data(), status.size());
  uint64_t tag = 0;
  bool exited = false;
  uint64_t wait_status = 0, cpu_us = 0, rss = 0;
  std::string setup_error;
  while (reader.U64(&tag)) {
    if (tag == wire::kSetupError) {
      reader.Str(&setup_error);
    } else if (tag == wire::kOutputFile) {
      std::string name, content;
      uint64_t present = 0;
      if (!reader.Str(&name) || !reader.U64(&present) || !reader.Str(&content)) break;
      if (present) result.output_files[name] = std::move(content);
    } else if (tag == wire::kExit) {
      exited = reader.U64(&wait_status) && reader.U64(&cpu_us) && reader.U64(&rss);
    } else {
      break;
    }
  }
  if (!setup_error.empty()) {
    return absl::InternalError(
        absl::StrCat("sandbox setup: ", setup_error, " (status ", init_status, ")"));
  }
  const CgroupCounters after = slot ? slot->Read() : CgroupCounters{};
  result.pids_limit_hit = after.pids_max_hits > before.pids_max_hits;
  if (exited) {
    result.cpu_s = cpu_us * 1e-6;
    result.max_rss_kb = static_cast<int64_t>(rss);
    const int st = static_cast<int>(wait_status);
    if (WIFEXITED(st)) result.exit_code = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) result.signal = WTERMSIG(st);
  } else {
    // Killed before the program ended (wall clock, output cap), or init died.
    result.cpu_s = std::max(init_cpu_s, cpu_at_kill);
    result.signal = SIGKILL;
    if (!killed && WIFEXITED(init_status) && WEXITSTATUS(init_status) != 0) {
      return absl::InternalError(
          absl::StrCat("sandbox: init exited with ", WEXITSTATUS(init_status), " before starting"));
    }
  }
  if (output_limit) {
    result.outcome = Outcome::kOutputLimit;
  } else if (after.oom_kills > before.oom_kills) {
    result.outcome = Outcome::kMemoryLimit;
  } else if (result.cpu_s >= cpu_s || result.signal == SIGXCPU) {
    result.outcome = Outcome::kCpuLimit;
  } else if (wall_limit) {
    result.outcome = Outcome::kWallLimit;
  } else if (result.signal != 0) {
    result.outcome = Outcome::kSignaled;
  } else {
    result.outcome = Outcome::kExited;
  }
  return result;
}

}  // namespace rlvr::sandbox
