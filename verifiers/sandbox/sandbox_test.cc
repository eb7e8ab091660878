// Unit tests of the sandbox: isolation properties, limits, I/O, degraded-mode refusal.
#include "verifiers/sandbox/sandbox.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <string>
#include <vector>

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

// Host processes running as the sandbox's host uid (65534) but the sandbox's zygotes (our
// own children; a sandboxed process cannot become one): must be none between runs.
int HostProcessesOfSandboxUser() {
  int n = 0;
  DIR* d = opendir("/proc");
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/status");
    std::string line;
    const std::string ours = "PPid:\t" + std::to_string(getpid());
    while (std::getline(in, line)) {
      if (line == ours) break;  // a zygote
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
  EXPECT_EQ(count("/tmp", "rlvr-sandbox-"), tmp_before);
}

}  // namespace
}  // namespace rlvr::sandbox
