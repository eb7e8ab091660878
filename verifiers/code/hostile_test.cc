// Hostile programs through the code verifier: each must be contained with the right
// verdict, leave the host unaffected and leave nothing behind. Programs that probe
// isolation print "contained" when every attempt failed, so a breach is a wrong answer.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "verifiers/code/code_verifier.h"

namespace rlvr {
namespace {

using json = nlohmann::json;

// Host processes of the sandbox's host uid (65534) but the zygotes (our own children).
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
        n += line.find("\t65534\t") != std::string::npos;
        break;
      }
    }
  }
  closedir(d);
  return n;
}

int TmpLeftovers() {
  int n = 0;
  DIR* d = opendir("/tmp");
  while (struct dirent* e = readdir(d)) {
    n += std::string(e->d_name).rfind("rlvr-sandbox-", 0) == 0 ||
         std::string(e->d_name).rfind("rlvr-escape", 0) == 0;
  }
  closedir(d);
  return n;
}

class HostileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    setenv("RLVR_HOSTILE_SECRET", "s3cr3t-9f1c", 1);
    auto v = CodeVerifier::Create(CodeVerifierOptions());
    ASSERT_TRUE(v.ok()) << v.status();
    verifier_ = v->release();
  }
  static void TearDownTestSuite() {
    delete verifier_;
    verifier_ = nullptr;
  }
  void SetUp() override { tmp_before_ = TmpLeftovers(); }
  void TearDown() override {
    EXPECT_EQ(HostProcessesOfSandboxUser(), 0) << "a sandboxed process outlived the run";
    EXPECT_EQ(TmpLeftovers(), tmp_before_) << "a file was left in the host's /tmp";
    // The host can still create processes.
    pid_t p = fork();
    if (p == 0) _exit(0);
    ASSERT_GT(p, 0);
    int st = 0;
    waitpid(p, &st, 0);
    EXPECT_TRUE(WIFEXITED(st));
  }
  // Runs `program` as a stdio task expecting "contained".
  static Reward Run(const std::string& program, double timeout_s = 1.0) {
    VerifyRequest req;
    req.completion = program;
    req.spec = {
        {"timeout_s", timeout_s},
        {"tests", {{"type", "stdio"}, {"cases", {{{"input", ""}, {"output", "contained"}}}}}}};
    auto r = verifier_->Verify(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Reward{};
  }
  static CodeVerifier* verifier_;
  int tmp_before_ = 0;
};
CodeVerifier* HostileTest::verifier_ = nullptr;

TEST_F(HostileTest, ForkBomb) {
  Reward r = Run("import os\nwhile True:\n    os.fork()\n");
  EXPECT_EQ(r.verdict, "runtime_error") << r.details.dump();
  Reward r2 = Run("import os\nwhile True:\n    try: os.fork()\n    except OSError: pass\n");
  EXPECT_EQ(r2.verdict, "timeout") << r2.details.dump();
}

TEST_F(HostileTest, MemoryBomb) {
  Reward grow = Run("x = []\nwhile True:\n    x.append(bytearray(1 << 20))\n");
  EXPECT_EQ(grow.verdict, "memory_limit") << grow.details.dump();
  Reward huge = Run("x = bytearray(1 << 40)\n");
  EXPECT_EQ(huge.verdict, "memory_limit") << huge.details.dump();
}

TEST_F(HostileTest, InfiniteLoop) {
  Reward r = Run("while True:\n    pass\n", 0.5);
  EXPECT_EQ(r.verdict, "timeout");
  EXPECT_GE(r.details["tests"][0]["time_s"].get<double>(), 0.5);
}

TEST_F(HostileTest, CpuSpinInManyThreads) {
  Reward r =
      Run("import threading\n"
          "def spin():\n    while True: pass\n"
          "for _ in range(8): threading.Thread(target=spin, daemon=True).start()\n"
          "spin()\n",
          0.5);
  EXPECT_EQ(r.verdict, "timeout");
}

TEST_F(HostileTest, SleepPastTimeout) {
  Reward r = Run("import time\ntime.sleep(60)\nprint('contained')\n", 0.3);
  EXPECT_EQ(r.verdict, "timeout");
}

TEST_F(HostileTest, HugeFileAndFullWorkdir) {
  Reward big =
      Run("try:\n    open('big', 'wb').write(b'x' * (200 << 20))\n    print('wrote')\n"
          "except OSError as e:\n    print('contained')\n");
  EXPECT_EQ(big.verdict, "passed") << big.details.dump();
  Reward fill =
      Run("import os\nn = 0\n"
          "try:\n"
          "    while True:\n"
          "        with open('f%d' % n, 'wb') as f: f.write(b'x' * (8 << 20))\n"
          "        n += 1\n"
          "except OSError as e:\n    print('contained' if n < 64 else 'filled %d' % n)\n");
  EXPECT_EQ(fill.verdict, "passed") << fill.details.dump();
}

TEST_F(HostileTest, NoNetworkToHostOrOutside) {
  int server = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(server, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(server, 4), 0);
  socklen_t len = sizeof(addr);
  getsockname(server, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  Reward r =
      Run("import socket\nok = True\n"
          "for a in [('127.0.0.1', " +
          std::to_string(port) +
          "), ('192.0.2.1', 80), ('8.8.8.8', 53)]:\n"
          "    try:\n"
          "        socket.create_connection(a, timeout=1); ok = False\n"
          "    except OSError: pass\n"
          "print('contained' if ok else 'connected')\n");
  EXPECT_EQ(r.verdict, "passed") << r.details.dump();
  EXPECT_LT(accept(server, nullptr, nullptr), 0) << "the sandbox reached the host's loopback";
  close(server);
}

TEST_F(HostileTest, HostSecretsAndOtherProcesses) {
  Reward r =
      Run("import os\nleaks = []\n"
          "for p in ['/etc/shadow', '/proc/1/root/etc/shadow', '/root/.bash_history']:\n"
          "    try:\n        open(p).read(); leaks.append(p)\n    except OSError: pass\n"
          "if any('s3cr3t' in v for v in os.environ.values()): leaks.append('environ')\n"
          "pids = [d for d in os.listdir('/proc') if d.isdigit()]\n"
          "for d in pids:\n"
          "    for f in ['environ', 'cmdline']:\n"
          "        try:\n"
          "            data = open('/proc/%s/%s' % (d, f), 'rb').read()\n"
          "            if b's3cr3t' in data or b'hostile_test' in data: leaks.append(d + f)\n"
          "        except OSError: pass\n"
          "if len(pids) > 3: leaks.append('pids %s' % pids)\n"
          "print('contained' if not leaks else leaks)\n");
  EXPECT_EQ(r.verdict, "passed") << r.details.dump();
}

TEST_F(HostileTest, SignallingOrKillingTheParent) {
  pid_t bystander = fork();
  if (bystander == 0) {
    pause();
    _exit(0);
  }
  Reward r =
      Run("import os, signal\n"
          "for pid in [1, os.getppid()]:\n"
          "    try: os.kill(pid, signal.SIGKILL)\n"
          "    except OSError: pass\n"
          "print('contained')\n");
  EXPECT_EQ(r.verdict, "passed") << r.details.dump();
  Reward all = Run("import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('contained')\n");
  EXPECT_EQ(all.verdict, "runtime_error") << all.details.dump();  // it killed itself only
  EXPECT_EQ(kill(bystander, 0), 0) << "a host process was killed";
  kill(bystander, SIGKILL);
  waitpid(bystander, nullptr, 0);
}

TEST_F(HostileTest, PtraceSetuidSetgid) {
  Reward r =
      Run("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nbad = []\n"
          "if libc.ptrace(16, 1, 0, 0) == 0: bad.append('ptrace attach')\n"
          "if libc.ptrace(0, 0, 0, 0) == 0: bad.append('traceme')\n"
          "for f, a in [(os.setuid, 1), (os.setgid, 1), (os.setgroups, [0, 1])]:\n"
          "    try: f(a); bad.append(f.__name__)\n"
          "    except (OSError, PermissionError): pass\n"
          "caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0]\n"
          "if caps != '0000000000000000': bad.append(caps)\n"
          "print('contained' if not bad else bad)\n");
  EXPECT_EQ(r.verdict, "passed") << r.details.dump();
}

TEST_F(HostileTest, SymlinkAndDotDotEscapes) {
  const std::string marker = "/tmp/rlvr-escape-" + std::to_string(getpid());
  Reward r = Run(
      "import os\nbad = []\n"
      "os.symlink('/', 'root'); os.symlink('../../../../../..', 'up')\n"
      "for p in ['root/work', 'up/work', '../../../../work', 'root/home', '/proc/1/root/work']:\n"
      "    if os.path.exists(p): bad.append(p)\n"
      "for p in ['../../../../usr/rlvr-escape', 'root/usr/rlvr-escape', 'up/etc/rlvr-escape']:\n"
      "    try:\n        open(p, 'w').write('x'); bad.append(p)\n    except OSError: pass\n"
      "open('../../../.." +
      marker +
      "', 'w').write('inside only')\n"
      "print('contained' if not bad else bad)\n");
  EXPECT_EQ(r.verdict, "passed") << r.details.dump();
  struct stat st;
  EXPECT_NE(stat(marker.c_str(), &st), 0) << "a file escaped to the host";
  EXPECT_NE(stat("/usr/rlvr-escape", &st), 0);
}

TEST_F(HostileTest, GigabytesOfStdout) {
  Reward r = Run("import sys\nwhile True:\n    sys.stdout.buffer.write(b'x' * 65536)\n");
  EXPECT_EQ(r.verdict, "output_limit") << r.details.dump();
}

TEST_F(HostileTest, DaemonDoesNotOutliveTheRun) {
  Reward r =
      Run("import os, time\n"
          "if os.fork() == 0:\n"
          "    os.setsid()\n"
          "    if os.fork() == 0:\n"
          "        os.closerange(0, 64)\n"
          "        time.sleep(30)\n"
          "    os._exit(0)\n"
          "time.sleep(0.2)\nprint('contained')\n");
  EXPECT_EQ(r.verdict, "passed") << r.details.dump();
  // TearDown checks that no process of the sandbox user is left on the host.
}

TEST_F(HostileTest, EarlyExitBeforeTests) {
  VerifyRequest req;
  req.completion = "import sys\ndef f(): return 1\nsys.exit(0)\n";
  req.spec = {{"tests", {{"type", "assert"}, {"code", "assert f() == 2\n"}}}};
  auto r = verifier_->Verify(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict, "runtime_error");
  EXPECT_EQ(r->score, 0.0);
}

}  // namespace
}  // namespace rlvr
