// Unit tests of the sandbox: isolation properties, limits, I/O, degraded-mode refusal.
#include "verifiers/sandbox/sandbox.h"

#include <dirent.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "verifiers/sandbox/pool.h"

namespace rlvr::sandbox {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Program Sh(const std::string& script) {
  Program p;
  p.argv = {"/bin/sh", "-c", script};
  return p;
}

Program Py(const std::string& code) {
  Program p;
  p.argv = {"/usr/bin/python3", "-I", "-B", "-c", code};
  return p;
}

// Live host processes running as the sandbox's host uid (65534) but the sandbox's zygotes
// (our own children; a sandboxed process cannot become one): must be none between runs.
// (A run's PID 1 whose zygote was killed is reaped by the host's init, maybe later.)
int HostProcessesOfSandboxUser() {
  int n = 0;
  DIR* d = opendir("/proc");
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/status");
    std::string line;
    const std::string ours = "PPid:\t" + std::to_string(getpid());
    while (std::getline(in, line)) {
      if (line == ours) break;                     // a zygote
      if (line.rfind("State:\tZ", 0) == 0) break;  // exited, not yet reaped by its reaper
      if (line.rfind("Uid:", 0) == 0) {
        if (line.find("\t65534\t") != std::string::npos) ++n;
        break;
      }
    }
  }
  closedir(d);
  return n;
}

class SandboxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto sb = Sandbox::Create(SandboxOptions());
    ASSERT_TRUE(sb.ok()) << sb.status();
    sandbox_ = sb->release();
  }
  static void TearDownTestSuite() {
    delete sandbox_;
    sandbox_ = nullptr;
  }
  RunResult MustRun(const Program& p, Limits l = Limits()) {
    auto r = sandbox_->Run(p, l);
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(HostProcessesOfSandboxUser(), 0) << "a sandboxed process outlived Run()";
    return r.ok() ? *r : RunResult();
  }
  static Sandbox* sandbox_;
};
Sandbox* SandboxTest::sandbox_ = nullptr;

TEST_F(SandboxTest, DescribesFullIsolation) {
  EXPECT_FALSE(sandbox_->degraded()) << sandbox_->Describe();
  EXPECT_THAT(sandbox_->Describe(), HasSubstr("namespaces"));
  EXPECT_THAT(sandbox_->Describe(), HasSubstr("cgroup"));
}

TEST_F(SandboxTest, CapturesOutputsAndExitCode) {
  RunResult r = MustRun(Sh("echo out; echo err >&2; echo rep >&3; exit 7"));
  EXPECT_EQ(r.outcome, Outcome::kExited);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.stdout_data, "out\n");
  EXPECT_EQ(r.stderr_data, "err\n");
  EXPECT_EQ(r.report, "rep\n");
}

TEST_F(SandboxTest, FeedsLargeStdin) {
  Program p = Sh("wc -c");
  p.stdin_data.assign(3 << 20, 'x');
  RunResult r = MustRun(p);
  EXPECT_EQ(r.stdout_data, std::to_string(3 << 20) + "\n");
}

TEST_F(SandboxTest, FilesInAndOut) {
  Program p = Sh("cat in.txt sub/two.txt > out.txt; test -x run.sh && echo exec");
  p.files = {{"in.txt", "one\n", false}, {"sub/two.txt", "two\n", false}, {"run.sh", "", true}};
  p.output_files = {"out.txt", "missing.txt"};
  RunResult r = MustRun(p);
  EXPECT_EQ(r.stdout_data, "exec\n");
  ASSERT_EQ(r.output_files.count("out.txt"), 1u);
  EXPECT_EQ(r.output_files["out.txt"], "one\ntwo\n");
  EXPECT_EQ(r.output_files.count("missing.txt"), 0u);
}

TEST_F(SandboxTest, RejectsBadArguments) {
  EXPECT_EQ(sandbox_->Run(Program{}, Limits()).status().code(), absl::StatusCode::kInvalidArgument);
  Program p = Sh("true");
  p.files = {{"../escape", "x", false}};
  EXPECT_EQ(sandbox_->Run(p, Limits()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sandbox_->Run(Sh("true"), Limits()).status().code(), absl::StatusCode::kOk);
  Program missing;
  missing.argv = {"/usr/bin/no-such-binary"};
  auto r = sandbox_->Run(missing, Limits());
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no-such-binary"));
}

TEST_F(SandboxTest, WorkdirIsFreshPrivateAndWritable) {
  RunResult a = MustRun(Sh("pwd; echo hi > f; ls"));
  EXPECT_EQ(a.stdout_data, "/tmp\nf\n");
  RunResult b = MustRun(Sh("ls -A"));
  EXPECT_EQ(b.stdout_data, "");
}

TEST_F(SandboxTest, RootIsReadOnlyAndMinimal) {
  RunResult r =
      MustRun(Sh("touch /usr/x 2>/dev/null || echo ro-usr; touch /x 2>/dev/null || echo ro-root;"
                 "test -e /etc/shadow || echo no-shadow; test -e /home || echo no-home;"
                 "test -e /work || echo no-work; test -e /root || echo no-root"));
  EXPECT_EQ(r.stdout_data, "ro-usr\nro-root\nno-shadow\nno-home\nno-work\nno-root\n");
}

TEST_F(SandboxTest, OwnNamespaces) {
  RunResult r = MustRun(Py(
      "import os, socket\n"
      "print(socket.gethostname())\n"
      "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
      "print(os.getpid(), os.getuid())\n"
      "print(sorted(i[1] for i in socket.if_nameindex()))\n"
      "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0])\n"));
  EXPECT_EQ(r.stdout_data, "sandbox\n[1, 2]\n2 0\n['lo']\n0000000000000000\n") << r.stderr_data;
}

TEST_F(SandboxTest, NoNetwork) {
  RunResult r =
      MustRun(Py("import socket\n"
                 "for addr in [('127.0.0.1', 80), ('192.0.2.1', 80)]:\n"
                 "    try:\n"
                 "        socket.create_connection(addr, timeout=2); print('connected')\n"
                 "    except OSError as e: print(e.errno)\n"));
  EXPECT_EQ(r.stdout_data, "101\n101\n");  // ENETUNREACH: not even loopback is up
}

TEST_F(SandboxTest, SeccompDeniesNamespacesMountAndPtrace) {
  RunResult r =
      MustRun(Py("import ctypes, os\n"
                 "libc = ctypes.CDLL(None, use_errno=True)\n"
                 "print(libc.unshare(0x10000000), ctypes.get_errno())\n"  // CLONE_NEWUSER
                 "print(libc.ptrace(0, 0, 0, 0), ctypes.get_errno())\n"   // PTRACE_TRACEME
                 "print(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None), ctypes.get_errno())\n"
                 "print(libc.syscall(321, 0, 0, 0), ctypes.get_errno())\n"));  // bpf
  EXPECT_EQ(r.stdout_data, "-1 1\n-1 1\n-1 1\n-1 1\n") << r.stderr_data;
}

#if defined(__x86_64__)
// More of the denied calls, each with arguments that would give another error (or
// succeed) without the filter: EPERM, or ENOSYS for clone3.
TEST_F(SandboxTest, SeccompDeniesKernelInterfaces) {
  RunResult r =
      MustRun(Py("import ctypes\n"
                 "libc = ctypes.CDLL(None, use_errno=True)\n"
                 "calls = [('keyctl', 250, (0, -3, 0)),\n"      // KEYCTL_GET_KEYRING_ID: would work
                 "         ('setns', 308, (-1, 0)),\n"          // EBADF without the filter
                 "         ('io_uring_setup', 425, (1, 0)),\n"  // EFAULT without
                 "         ('perf_event_open', 298, (0, 0, -1, -1, 0)),\n"
                 "         ('kexec_load', 246, (0, 0, 0, 0)),\n"
                 "         ('bpf', 321, (0, 0, 0)),\n"
                 "         ('userfaultfd', 323, (0,)),\n"
                 "         ('clone+newnet', 56, (0x40000000 | 17, 0, 0, 0, 0)),\n"
                 "         ('clone3', 435, (0, 0))]\n"
                 "for name, nr, args in calls:\n"
                 "    rc = libc.syscall(nr, *args)\n"
                 "    print(name, rc, ctypes.get_errno())\n"));
  EXPECT_EQ(r.stdout_data,
            "keyctl -1 1\nsetns -1 1\nio_uring_setup -1 1\nperf_event_open -1 1\n"
            "kexec_load -1 1\nbpf -1 1\nuserfaultfd -1 1\nclone+newnet -1 1\nclone3 -1 38\n")
      << r.stderr_data;
}
#endif

// Each namespace differs from the host's, and SysV IPC objects of the host are invisible.
TEST_F(SandboxTest, EveryNamespaceIsNew) {
  const int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  ASSERT_GE(shm, 0);
  std::string host;
  for (const char* ns : {"user", "pid", "mnt", "net", "ipc", "uts"}) {
    char buf[64] = {};
    ASSERT_GT(readlink((std::string("/proc/self/ns/") + ns).c_str(), buf, sizeof(buf) - 1), 0);
    host += std::string(buf) + "\n";
  }
  RunResult r =
      MustRun(Sh("for n in user pid mnt net ipc uts; do readlink /proc/self/ns/$n; done;"
                 "echo shm $(tail -n +2 /proc/sysvipc/shm | wc -l)"));
  shmctl(shm, IPC_RMID, nullptr);
  std::vector<std::string> inside = absl::StrSplit(r.stdout_data, '\n');
  std::vector<std::string> outside = absl::StrSplit(host, '\n');
  ASSERT_EQ(inside.size(), 8u) << r.stdout_data << r.stderr_data;
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_NE(inside[i], outside[i]);
    EXPECT_EQ(inside[i].substr(0, 4), outside[i].substr(0, 4));  // same kind, e.g. "ipc:"
  }
  EXPECT_EQ(inside[6], "shm 0");
}

// The rlimits asked for are the program's, and bite.
TEST_F(SandboxTest, RlimitsApplyToTheProgram) {
  Limits l;
  l.cpu_s = 3;
  l.address_space_mb = 900;
  l.file_size_mb = 5;
  l.max_open_files = 40;
  l.max_processes = 30;
  RunResult r = MustRun(
      Py("import os\n"
         "lim = {}\n"
         "for line in open('/proc/self/limits').readlines()[1:]:\n"
         "    name, soft = line[:26].strip(), line[26:47].strip()\n"
         "    lim[name] = soft\n"
         "for k in ['Max cpu time', 'Max address space', 'Max file size', 'Max open files',\n"
         "          'Max processes', 'Max core file size']:\n"
         "    print(k, lim[k])\n"
         "try:\n"
         "    open('big', 'wb').write(b'x' * (6 << 20)); print('wrote 6 MB')\n"
         "except OSError as e: print('fsize', e.errno)\n"
         "fds = []\n"
         "try:\n"
         "    while True: fds.append(os.open('/dev/null', os.O_RDONLY))\n"
         "except OSError as e: print('nofile', e.errno, len(fds) < 40)\n"),
      l);
  EXPECT_EQ(r.stdout_data, "Max cpu time 3\nMax address space " + std::to_string(900ll << 20) +
                               "\nMax file size " + std::to_string(5ll << 20) +
                               "\nMax open files 40\nMax processes 30\nMax core file size 0\n"
                               "fsize 27\nnofile 24 True\n")
      << r.stderr_data;
}

// A fork bomb stops at the process limit: the pids cgroup or RLIMIT_NPROC, whichever
// comes first; children never exceed max_processes.
TEST_F(SandboxTest, ProcessLimitStopsForks) {
  Limits l;
  l.max_processes = 12;
  RunResult r = MustRun(Py("import os, time\n"
                           "n = 0\n"
                           "try:\n"
                           "    while n < 100:\n"
                           "        if os.fork() == 0:\n"
                           "            time.sleep(30); os._exit(0)\n"
                           "        n += 1\n"
                           "except OSError as e: print('refused', e.errno)\n"
                           "print(n < 12)\n"),
                        l);
  EXPECT_EQ(r.stdout_data, "refused 11\nTrue\n") << r.stderr_data;
}

TEST_F(SandboxTest, OutputCapStopsTheProgram) {
  Limits l;
  l.max_output_bytes = 1 << 16;
  RunResult r = MustRun(Sh("yes"), l);
  EXPECT_EQ(r.outcome, Outcome::kOutputLimit);
  EXPECT_EQ(r.stdout_data.size(), 1u << 16);
}

TEST_F(SandboxTest, CpuLimit) {
  Limits l;
  l.cpu_s = 0.5;
  RunResult r = MustRun(Sh("while :; do :; done"), l);
  EXPECT_EQ(r.outcome, Outcome::kCpuLimit);
  EXPECT_GE(r.cpu_s, 0.5);
}

TEST_F(SandboxTest, WallLimitCatchesSleepers) {
  Limits l;
  l.cpu_s = 0.2;
  l.wall_s = 1.0;
  RunResult r = MustRun(Sh("sleep 30"), l);
  EXPECT_EQ(r.outcome, Outcome::kWallLimit);
  EXPECT_LT(r.wall_s, 10.0);
}

TEST_F(SandboxTest, MemoryLimitFromCgroup) {
  Limits l;
  l.memory_mb = 64;
  l.address_space_mb = -1;  // only the cgroup limit applies
  RunResult r = MustRun(Py("x = []\nwhile True: x.append(bytearray(1 << 20))"), l);
  EXPECT_EQ(r.outcome, Outcome::kMemoryLimit);
}

TEST_F(SandboxTest, WorkdirSizeCap) {
  Limits l;
  l.workdir_mb = 4;
  RunResult r = MustRun(Sh("dd if=/dev/zero of=big bs=1M count=16 2>&1 | grep -c 'No space'"), l);
  EXPECT_EQ(r.stdout_data, "1\n");
}

TEST_F(SandboxTest, LeftoverProcessesAreKilled) {
  RunResult r = MustRun(Sh("(sleep 100 &) ; (setsid sleep 100 &) ; echo started"));
  EXPECT_EQ(r.outcome, Outcome::kExited);
  EXPECT_EQ(r.stdout_data, "started\n");
  // MustRun checked that no process of the sandbox user is left on the host.
}

// Our children named rlvr-zygote.
std::vector<pid_t> Zygotes() {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/status");
    std::string line;
    bool named = false;
    while (std::getline(in, line)) {
      if (line == "Name:\trlvr-zygote") named = true;
      if (line == "PPid:\t" + std::to_string(getpid()) && named) out.push_back(atoi(e->d_name));
    }
  }
  closedir(d);
  return out;
}

// A zygote killed between runs is replaced; one killed during a run ends that run with an
// error (its PID 1 dies with it) instead of hanging, and the next run works again.
TEST_F(SandboxTest, ZygoteDeathIsSurvived) {
  ASSERT_EQ(MustRun(Sh("echo a")).stdout_data, "a\n");
  std::vector<pid_t> zygotes = Zygotes();
  ASSERT_FALSE(zygotes.empty());
  for (pid_t z : zygotes) kill(z, SIGKILL);
  EXPECT_EQ(MustRun(Sh("echo b")).stdout_data, "b\n");

  auto during = std::async(std::launch::async, [] {
    // The thread's own slot and zygote: the first run starts it.
    EXPECT_TRUE(sandbox_->Run(Sh("true"), Limits()).ok());
    Limits l;
    l.cpu_s = 5;
    l.wall_s = 20;
    return sandbox_->Run(Sh("sleep 15"), l);
  });
  std::vector<pid_t> before = Zygotes();
  pid_t victim = 0;
  for (int i = 0; i < 200 && victim == 0; ++i) {
    usleep(20000);
    for (pid_t z : Zygotes()) {
      if (std::find(before.begin(), before.end(), z) == before.end()) victim = z;
    }
  }
  ASSERT_NE(victim, 0) << "no new zygote appeared";
  usleep(300000);  // let the sleep start
  kill(victim, SIGKILL);
  absl::StatusOr<RunResult> r = during.get();
  EXPECT_FALSE(r.ok() && r->outcome == Outcome::kExited && r->exit_code == 0);
  EXPECT_LT(r.ok() ? r->wall_s : 0.0, 10.0);
  // The run's processes were killed with the zygote; they may take a moment to exit.
  for (int i = 0; i < 100 && HostProcessesOfSandboxUser() > 0; ++i) usleep(20000);
  EXPECT_EQ(HostProcessesOfSandboxUser(), 0);
  EXPECT_EQ(MustRun(Sh("echo c")).stdout_data, "c\n");
}

TEST_F(SandboxTest, PoolRunsConcurrently) {
  SandboxPool pool(sandbox_, 2);
  EXPECT_EQ(pool.workers(), 2);
  std::vector<std::future<absl::StatusOr<RunResult>>> runs;
  for (int i = 0; i < 8; ++i)
    runs.push_back(pool.Submit(Sh("echo " + std::to_string(i)), Limits()));
  for (int i = 0; i < 8; ++i) {
    auto r = runs[i].get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->stdout_data, std::to_string(i) + "\n");
  }
}

TEST(SandboxCreateTest, RefusesWithoutCgroupsUnlessDegradedAllowed) {
  SandboxOptions o;
  o.use_cgroups = false;
  auto refused = Sandbox::Create(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("cgroups"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("allow_degraded"));

  o.allow_degraded = true;
  auto degraded = Sandbox::Create(o);
  ASSERT_TRUE(degraded.ok()) << degraded.status();
  EXPECT_TRUE((*degraded)->degraded());
  EXPECT_THAT((*degraded)->Describe(), HasSubstr("DEGRADED"));
  auto r = (*degraded)->Run(Sh("echo ok"), Limits());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "ok\n");
}

// Without user namespaces (denied here by a seccomp filter in a forked child) Create()
// refuses and names them; with allow_degraded it runs without namespaces.
TEST(SandboxCreateTest, RefusesWithoutNamespacesNamingThem) {
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(out[0]);
    std::string report;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 0);
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (seccomp_load(ctx) != 0) _exit(2);
    seccomp_release(ctx);
    {
      auto refused = Sandbox::Create(SandboxOptions());
      report += refused.ok() ? "created\n" : std::string(refused.status().message()) + "\n";
      SandboxOptions o;
      o.allow_degraded = true;
      auto degraded = Sandbox::Create(o);
      if (degraded.ok()) {
        report += (*degraded)->Describe() + "\n";
        auto r = (*degraded)->Run(Sh("echo ok; ls /proc | grep -c '^[0-9]' >/dev/null"), Limits());
        report += r.ok() ? r->stdout_data : std::string(r.status().message()) + "\n";
      } else {
        report += std::string(degraded.status().message()) + "\n";
      }
    }
    (void)!write(out[1], report.data(), report.size());
    _exit(0);
  }
  close(out[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) report.append(buf, n);
  close(out[0]);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  std::vector<std::string> lines = absl::StrSplit(report, '\n');
  ASSERT_GE(lines.size(), 3u) << report;
  EXPECT_THAT(lines[0], HasSubstr("namespaces: cannot create user"));
  EXPECT_THAT(lines[0], HasSubstr("allow_degraded"));
  EXPECT_THAT(lines[0], Not(HasSubstr("pid (")));  // only what is missing is named
  EXPECT_THAT(lines[1], HasSubstr("DEGRADED"));
  EXPECT_THAT(lines[1], HasSubstr("no namespaces"));
  EXPECT_EQ(lines[2], "ok");
}

// Slot cgroups left by a process that was killed are removed by the next Create().
TEST(SandboxCreateTest, RemovesSlotsOfDeadProcesses) {
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  waitpid(dead, nullptr, 0);
  const std::string stale = "/sys/fs/cgroup/pids/rlvr-sandbox-" + std::to_string(dead) + "-0";
  if (mkdir(stale.c_str(), 0755) != 0) GTEST_SKIP() << "no cgroup v1 pids hierarchy: " << stale;
  const std::string alive = "/sys/fs/cgroup/pids/rlvr-sandbox-1-0";  // pid 1 lives
  ASSERT_EQ(mkdir(alive.c_str(), 0755), 0);
  auto sb = Sandbox::Create(SandboxOptions());
  ASSERT_TRUE(sb.ok()) << sb.status();
  struct stat st;
  EXPECT_NE(stat(stale.c_str(), &st), 0) << stale << " was left";
  EXPECT_EQ(stat(alive.c_str(), &st), 0) << "a live process's slot was removed";
  rmdir(stale.c_str());
  rmdir(alive.c_str());
}

TEST(SandboxCreateTest, MissingInitBinaryIsNamed) {
  SandboxOptions o;
  o.init_path = "/nonexistent/rlvr-sandbox-init";
  auto r = Sandbox::Create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("/nonexistent/rlvr-sandbox-init"));
}

TEST(SandboxCreateTest, NothingLeftInCgroupsOrTmp) {
  auto count = [](const std::string& dir, const std::string& prefix) {
    int n = 0;
    if (DIR* d = opendir(dir.c_str())) {
      while (struct dirent* e = readdir(d)) n += std::string(e->d_name).rfind(prefix, 0) == 0;
      closedir(d);
    }
    return n;
  };
  const std::string mine = "rlvr-sandbox-" + std::to_string(getpid()) + "-";
  const int tmp_before = count("/tmp", "rlvr-sandbox-");
  {
    auto sb = Sandbox::Create(SandboxOptions());
    ASSERT_TRUE(sb.ok()) << sb.status();
    auto r = (*sb)->Run(Sh("echo x > /tmp/f"), Limits());
    ASSERT_TRUE(r.ok());
  }
  EXPECT_EQ(count("/sys/fs/cgroup/pids", mine), 0);
  // The memory hierarchy's slots sit under this process's own memory cgroup.
  std::ifstream self("/proc/self/cgroup");
  for (std::string line; std::getline(self, line);) {
    const size_t at = line.find(":memory:");
    if (at != std::string::npos) {
      EXPECT_EQ(count("/sys/fs/cgroup/memory" + line.substr(at + 8), mine), 0);
    }
  }
  EXPECT_EQ(count("/tmp", "rlvr-sandbox-"), tmp_before);
}

}  // namespace
}  // namespace rlvr::sandbox
