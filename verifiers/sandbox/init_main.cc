// rlvr-sandbox-init: PID 1 of one sandbox. Started by Sandbox::Run() (sandbox.cc) inside
// fresh user, PID, mount, network, IPC and UTS namespaces, already in the run's cgroups,
// as the namespace's root user with all capabilities *in that namespace only*.
//
// fds on entry: 0 stdin, 1 stdout, 2 stderr, 3 report (the program's fd 3),
// 4 config (wire::InitConfig, read to EOF), 5 status records (wire::StatusTag).
//
// It builds a minimal read-only root (read-only binds of the host's system directories,
// a few device nodes, a new /proc, a size-capped tmpfs as the working directory), drops
// every capability, starts the program with rlimits and a seccomp filter, waits for it,
// kills whatever it left behind, sends back the requested output files and the exit
// status, and exits. When it exits, the kernel kills anything still in the namespace.
//
// `rlvr-sandbox-init zygote`: a long-lived per-worker process that creates the runs' PID 1s
// (sandbox.h, "Zygote"). It runs in its own user namespace (root there, the unprivileged
// host user outside) and network namespace (loopback down, nothing else), started once
// with fd 3 a SOCK_SEQPACKET socket to Sandbox::Run(). Per run it receives the six fds
// above, forks a child into new user, PID, mount, IPC and UTS namespaces, maps the child's
// root to its own, replies wire::ZygoteReply{kStarted, pid} with a pidfd of the child,
// reaps it and replies {kReaped, wait status, CPU}; it kills the child and exits when the
// socket hangs up. The child continues as PID 1 above.
// Forking from this small process skips an exec and glibc start-up per run, and the
// network namespace is made once instead of per run.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "verifiers/sandbox/wire.h"

namespace {

using rlvr::sandbox::wire::InitConfig;
using rlvr::sandbox::wire::Writer;

constexpr int kConfigFd = 4;
constexpr int kStatusFd = 5;
constexpr char kNewRoot[] = "/tmp";  // mount point of the new root's tmpfs, in our mount ns

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

[[noreturn]] void Fail(const std::string& what, int err) {
  Writer w;
  w.U64(rlvr::sandbox::wire::kSetupError);
  w.Str(what + (err ? std::string(": ") + std::strerror(err) : std::string()));
  WriteAll(kStatusFd, w.data());
  _exit(1);
}

void Check(bool ok, const std::string& what) {
  if (!ok) Fail(what, errno);
}

void MkdirP(const std::string& path, mode_t mode) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      std::string p = path.substr(0, i);
      if (mkdir(p.c_str(), mode) != 0 && errno != EEXIST) Fail("mkdir " + p, errno);
    }
  }
}

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

unsigned long LockedFlags(const std::string& path) {
  // A remount in a user namespace must keep the flags the host mount was locked with.
  struct statvfs sv;
  if (statvfs(path.c_str(), &sv) != 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

// Binds host `src` at kNewRoot + src; read-only unless `writable` (device nodes).
void Bind(const std::string& src, bool writable) {
  struct stat st;
  if (lstat(src.c_str(), &st) != 0) return;  // optional: absent on this host
  const std::string dst = std::string(kNewRoot) + src;
  MkdirP(Parent(dst), 0755);
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = readlink(src.c_str(), target, sizeof(target) - 1);
    Check(n > 0, "readlink " + src);
    target[n] = '\0';
    Check(symlink(target, dst.c_str()) == 0, "symlink " + dst);
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    if (mkdir(dst.c_str(), 0755) != 0 && errno != EEXIST) Fail("mkdir " + dst, errno);
  } else {
    int fd = open(dst.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    Check(fd >= 0, "create " + dst);
    close(fd);
  }
  Check(mount(src.c_str(), dst.c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0, "bind " + src);
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | LockedFlags(dst);
  flags |= writable ? MS_NOEXEC : (MS_RDONLY | MS_NODEV);
  Check(mount(nullptr, dst.c_str(), nullptr, flags, nullptr) == 0, "remount read-only " + dst);
}

void WriteFiles(const InitConfig& cfg, const std::string& dir) {
  for (const auto& f : cfg.files) {
    if (f.path.empty() || f.path[0] == '/' || f.path.find("..") != std::string::npos) {
      Fail("bad input file path '" + f.path + "'", 0);
    }
    const std::string path = dir + "/" + f.path;
    MkdirP(Parent(path), 0755);
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, f.mode & 07777);
    Check(fd >= 0, "create " + path);
    Check(WriteAll(fd, f.content), "write " + path);
    close(fd);
  }
}

void BuildRoot(const InitConfig& cfg) {
  Check(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0, "make mounts private");
  Check(mount("rlvr-root", kNewRoot, "tmpfs", MS_NOSUID | MS_NODEV,
              "size=1m,nr_inodes=4096,mode=0755") == 0,
        "mount root tmpfs");
  for (const std::string& b : cfg.ro_binds) Bind(b, /*writable=*/false);

  const std::string dev = std::string(kNewRoot) + "/dev";
  MkdirP(dev, 0755);
  Check(mount("rlvr-dev", dev.c_str(), "tmpfs", MS_NOSUID | MS_NOEXEC,
              "size=64k,nr_inodes=64,mode=0755") == 0,
        "mount /dev tmpfs");
  for (const std::string& d : cfg.dev_nodes) Bind(d, /*writable=*/true);
  symlink("/proc/self/fd", (dev + "/fd").c_str());
  symlink("/proc/self/fd/0", (dev + "/stdin").c_str());
  symlink("/proc/self/fd/1", (dev + "/stdout").c_str());
  symlink("/proc/self/fd/2", (dev + "/stderr").c_str());
  Check(mount(nullptr, dev.c_str(), nullptr, MS_REMOUNT | MS_NOSUID | MS_NOEXEC | MS_RDONLY,
              nullptr) == 0,
        "remount /dev read-only");

  const std::string proc = std::string(kNewRoot) + "/proc";
  MkdirP(proc, 0555);
  Check(mount("proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0,
        "mount /proc");

  const std::string work = std::string(kNewRoot) + cfg.workdir;
  MkdirP(work, 0755);
  const std::string opts = "size=" + std::to_string(cfg.workdir_bytes) +
                           ",nr_inodes=" + std::to_string(cfg.workdir_inodes) + ",mode=01777";
  Check(mount("rlvr-work", work.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) == 0,
        "mount working directory tmpfs");
  WriteFiles(cfg, work);

  // Move the new root over "/" and chroot into it (as switch_root does). Unmounting the
  // host's tree instead (pivot_root + MNT_DETACH) waits for an RCU grace period, tens of
  // milliseconds on a loaded machine; the covered tree is unreachable without capabilities
  // (none are left below) and mount/chroot/pivot_root are denied by seccomp anyway.
  Check(chdir(kNewRoot) == 0, "chdir new root");
  Check(mount(kNewRoot, "/", nullptr, MS_MOVE, nullptr) == 0, "move the new root over /");
  Check(chroot(".") == 0, "chroot");
  Check(chdir("/") == 0, "chdir /");
  Check(mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
              nullptr) == 0,
        "remount / read-only");
  Check(chdir(cfg.workdir.c_str()) == 0, "chdir " + cfg.workdir);
  Check(sethostname(cfg.hostname.data(), cfg.hostname.size()) == 0, "sethostname");
}

void DropCapabilities() {
  for (int cap = 0; cap <= 63; ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      Fail("drop capability", errno);
  }
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  Check(syscall(SYS_capset, &hdr, data) == 0, "capset");
}

int RemoveTree(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (d != nullptr) {
    while (struct dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string child = path + "/" + name;
      struct stat st;
      if (lstat(child.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        RemoveTree(child);
      } else {
        unlink(child.c_str());
      }
    }
    closedir(d);
  }
  return rmdir(path.c_str());
}

// Degraded mode only: kills the children that were reparented to us (we are a subreaper).
void KillChildren() {
  for (int round = 0; round < 100; ++round) {
    std::string path = "/proc/self/task/" + std::to_string(getpid()) + "/children";
    FILE* f = fopen(path.c_str(), "re");
    bool any = false;
    if (f != nullptr) {
      int pid;
      while (fscanf(f, "%d", &pid) == 1) {
        kill(pid, SIGKILL);
        any = true;
      }
      fclose(f);
    }
    while (waitpid(-1, nullptr, __WALL | WNOHANG) > 0) {
    }
    if (!any) return;
    usleep(1000);
  }
}

// PID 1 of one sandbox, with fds 0..5 as described at the top.
int RunInit() {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
  fcntl(kConfigFd, F_SETFD, FD_CLOEXEC);
  fcntl(kStatusFd, F_SETFD, FD_CLOEXEC);
  syscall(SYS_close_range, 6, ~0U, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  prctl(PR_SET_DUMPABLE, 0);

  std::string raw;
  char buf[65536];
  for (;;) {
    ssize_t n = read(kConfigFd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Fail("read config", errno);
    if (n == 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  close(kConfigFd);
  InitConfig cfg;
  if (!cfg.Decode(raw)) Fail("malformed config", 0);
  if (cfg.argv.empty()) Fail("empty argv", 0);

  std::string workdir = cfg.workdir;
  if (cfg.isolated) {
    BuildRoot(cfg);
    DropCapabilities();
  } else {
    char tmpl[] = "/tmp/rlvr-sandbox-XXXXXX";
    Check(mkdtemp(tmpl) != nullptr, "mkdtemp");
    workdir = tmpl;
    chmod(tmpl, 0777);
    WriteFiles(cfg, workdir);
    Check(chdir(workdir.c_str()) == 0, "chdir " + workdir);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  std::vector<char*> argv, envp;
  for (std::string& a : cfg.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : cfg.envp) envp.push_back(e.data());
  envp.push_back(nullptr);
  struct sock_fprog prog = {
      static_cast<unsigned short>(cfg.seccomp_bpf.size() / sizeof(struct sock_filter)),
      reinterpret_cast<struct sock_filter*>(cfg.seccomp_bpf.data())};

  volatile int child_errno = 0;
  volatile const char* child_step = "";
  pid_t child = vfork();
  if (child == 0) {
    // Its own session (and process group), as bwrap --new-session: no controlling
    // terminal, and with scheduler autogroups one group per program, like bwrap's.
    setsid();
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      (void)!write(fd, "1000", 4);
      close(fd);
    }
    if (!cfg.isolated && cfg.drop_to_uid != 0) {
      gid_t g = static_cast<gid_t>(cfg.drop_to_uid);
      uid_t u = static_cast<uid_t>(cfg.drop_to_uid);
      if (setgroups(0, nullptr) != 0 || setresgid(g, g, g) != 0 || setresuid(u, u, u) != 0) {
        child_errno = errno;
        child_step = "drop privileges";
        _exit(127);
      }
    }
    for (const auto& l : cfg.rlimits) {
      struct rlimit rl = {l.soft, l.hard};
      if (setrlimit(static_cast<int>(l.resource), &rl) != 0) {
        child_errno = errno;
        child_step = "setrlimit";
        _exit(127);
      }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
      child_errno = errno;
      child_step = "no_new_privs";
      _exit(127);
    }
    if (prog.len > 0 && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
      child_errno = errno;
      child_step = "seccomp";
      _exit(127);
    }
    execve(argv[0], argv.data(), envp.data());
    child_errno = errno;
    child_step = "execve";
    _exit(127);
  }
  if (child < 0) Fail("vfork", errno);
  if (child_errno != 0) {
    waitpid(child, nullptr, 0);
    Fail(std::string(const_cast<const char*>(child_step)) + " " + cfg.argv[0], child_errno);
  }
  // Not the program's: only the parent and the kernel write to these.
  close(0);
  close(1);
  close(2);
  close(3);

  int status = 0;
  struct rusage ru = {};
  for (;;) {
    pid_t p = wait4(-1, &status, __WALL, &ru);
    if (p == child) break;
    if (p < 0 && errno != EINTR) Fail("wait", errno);
  }
  if (cfg.isolated) {
    kill(-1, SIGKILL);  // everything else in our PID namespace
    while (waitpid(-1, nullptr, __WALL) > 0 || errno == EINTR) {
    }
  } else {
    kill(-child, SIGKILL);
    KillChildren();
  }

  Writer w;
  for (const std::string& name : cfg.output_files) {
    std::string path = workdir + "/" + name;
    std::string content;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    bool present = fd >= 0;
    while (fd >= 0 && content.size() < cfg.max_output_file_bytes) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      content.append(buf, static_cast<size_t>(n));
    }
    if (fd >= 0) close(fd);
    w.U64(rlvr::sandbox::wire::kOutputFile);
    w.Str(name);
    w.U64(present ? 1 : 0);
    w.Str(content);
  }
  uint64_t cpu_us = static_cast<uint64_t>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
                    static_cast<uint64_t>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  w.U64(rlvr::sandbox::wire::kExit);
  w.U64(static_cast<uint64_t>(status));
  w.U64(cpu_us);
  w.U64(static_cast<uint64_t>(ru.ru_maxrss));
  WriteAll(kStatusFd, w.data());
  if (!cfg.isolated) RemoveTree(workdir);
  return 0;
}

bool SendReply(int sock, const rlvr::sandbox::wire::ZygoteReply& r, int fd) {
  struct iovec iov = {const_cast<rlvr::sandbox::wire::ZygoteReply*>(&r), sizeof(r)};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof(r));
}

bool WriteProc(pid_t pid, const char* name, const char* value) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, value, strlen(value)) == static_cast<ssize_t>(strlen(value));
  close(fd);
  return ok;
}

// fd 3: the control socket. Returns when Sandbox closes it.
int Zygote() {
  constexpr int kSock = 3;
  constexpr int kFds = 6;
  using rlvr::sandbox::wire::ZygoteReply;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
  syscall(SYS_close_range, kSock + 1, ~0U, 0);
  // No PR_SET_PDEATHSIG: that follows the thread that started us, not the process; the
  // socket hangs up when the process is gone.
  prctl(PR_SET_DUMPABLE, 0);
  prctl(PR_SET_NAME, "rlvr-zygote");
  ZygoteReply ready;
  ready.tag = ZygoteReply::kReady;
  if (!SendReply(kSock, ready, -1)) return 1;
  for (;;) {
    char req = 0;
    struct iovec iov = {&req, 1};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kFds)];
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(kSock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;  // Sandbox gone
    int fds[kFds];
    int nfds = 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const int k = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      for (int i = 0; i < k; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (nfds < kFds) {
          fds[nfds++] = fd;
        } else {
          close(fd);
        }
      }
    }
    ZygoteReply reply;
    if (req != 'r' || nfds != kFds || (msg.msg_flags & MSG_CTRUNC)) {
      for (int i = 0; i < nfds; ++i) close(fds[i]);
      reply.tag = ZygoteReply::kFailed;
      reply.error = EINVAL;
      if (!SendReply(kSock, reply, -1)) return 1;
      continue;
    }
    int go[2];
    pid_t pid = -1;
    if (pipe2(go, O_CLOEXEC) == 0) {
      pid = static_cast<pid_t>(syscall(
          SYS_clone,
          CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD,
          nullptr, nullptr, nullptr, 0));
      if (pid == 0) {
        // The run's PID 1: wait until our root is mapped, move the fds to 0..5, run. Die
        // with the zygote, also while waiting: a zygote gone before prctl() took effect
        // has closed the last write end of the pipe, so read() sees EOF.
        close(go[1]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char g = 0;
        if (read(go[0], &g, 1) != 1) _exit(126);
        if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) _exit(125);
        int tmp[kFds];
        for (int i = 0; i < kFds; ++i) tmp[i] = fcntl(fds[i], F_DUPFD, 100);
        for (int i = 0; i < kFds; ++i) dup3(tmp[i], i, 0);
        _exit(RunInit());
      }
    }
    const int clone_errno = errno;
    for (int i = 0; i < kFds; ++i) close(fds[i]);
    if (pid < 0) {
      reply.tag = ZygoteReply::kFailed;
      reply.error = clone_errno;
      if (!SendReply(kSock, reply, -1)) return 1;
      continue;
    }
    close(go[0]);
    // setgroups is already "deny" (inherited); the child's root is our root.
    const bool mapped =
        WriteProc(pid, "uid_map", "0 0 1\n") && WriteProc(pid, "gid_map", "0 0 1\n");
    const int map_errno = errno;
    if (mapped) (void)!write(go[1], "g", 1);
    close(go[1]);  // unmapped: the child exits 126
    const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    reply.tag = mapped && pidfd >= 0 ? ZygoteReply::kStarted : ZygoteReply::kFailed;
    reply.pid = pid;
    reply.error = mapped ? (pidfd >= 0 ? 0 : errno) : map_errno;
    const bool sent = SendReply(kSock, reply, pidfd);
    if (!sent || reply.tag != ZygoteReply::kStarted) kill(pid, SIGKILL);
    // Until the child ends; if Sandbox goes away meanwhile (its socket hangs up), kill it.
    while (sent && pidfd >= 0) {
      struct pollfd p[2] = {{pidfd, POLLIN, 0}, {kSock, 0, 0}};
      if (poll(p, 2, -1) < 0 && errno != EINTR) break;
      if (p[0].revents != 0) break;
      if (p[1].revents & (POLLHUP | POLLERR)) {
        kill(pid, SIGKILL);
        break;
      }
    }
    if (pidfd >= 0) close(pidfd);
    int status = 0;
    struct rusage ru = {};
    while (wait4(pid, &status, __WALL, &ru) < 0 && errno == EINTR) {
    }
    if (!sent) return 1;
    if (reply.tag != ZygoteReply::kStarted) continue;
    reply = ZygoteReply();
    reply.tag = ZygoteReply::kReaped;
    reply.pid = pid;
    reply.status = status;
    reply.cpu_us = static_cast<uint64_t>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
                   static_cast<uint64_t>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    if (!SendReply(kSock, reply, -1)) return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "zygote") == 0) return Zygote();
  return RunInit();
}
