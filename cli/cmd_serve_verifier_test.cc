// `rlvr serve-verifier` as a user runs it: start, print the port, grade through the
// remote client, clean shutdown on SIGTERM and SIGINT; bad config -> error naming it.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rlvr/test_paths.h"
#include "verifiers/service/remote_verifier.h"

extern char** environ;

namespace rlvr {
namespace {

using ::testing::HasSubstr;

struct Proc {
  pid_t pid = -1;
  FILE* out = nullptr;  // stdout and stderr
};

Proc Spawn(std::vector<std::string> args) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Proc p;
  EXPECT_EQ(posix_spawn(&p.pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  p.out = fdopen(fds[0], "r");
  return p;
}

std::string ReadLine(FILE* f) {
  char line[1024];
  return fgets(line, sizeof(line), f) != nullptr ? std::string(line) : "";
}

std::string ReadAll(FILE* f) {
  std::string all;
  for (std::string l = ReadLine(f); !l.empty(); l = ReadLine(f)) all += l;
  return all;
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class ServeVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rlvr_serve_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

std::string TargetFrom(const std::string& line) {
  const std::string marker = "listening on ";
  const size_t at = line.find(marker);
  if (at == std::string::npos) return "";
  std::string rest = line.substr(at + marker.size());
  return rest.substr(0, rest.find(' '));
}

TEST_F(ServeVerifierTest, ServesAPipelineAndShutsDownCleanly) {
  const std::string config = Write("serve.yaml", R"(verifier:
  name: pipeline
  config:
    task_verifiers: {exact: {}}
    terms: [{verifier: format, weight: 0.5}]
serve:
  threads: 2
  token: tok
)");
  for (int sig : {SIGTERM, SIGINT}) {
    Proc p = Spawn({RLVR_CLI, "serve-verifier", "--config", config, "--port", "0"});
    const std::string line = ReadLine(p.out);
    const std::string target = TargetFrom(line);
    ASSERT_THAT(target, HasSubstr("127.0.0.1:")) << line;
    RemoteVerifierOptions o;
    o.target = target;
    o.token = "tok";
    auto client = RemoteVerifier::Create(o).value();
    VerifyRequest r;
    r.id = "x";
    r.completion = "<think>hm</think> 42";
    r.answer = "<think>hm</think> 42";
    absl::StatusOr<Reward> reward = client->Verify(r);
    ASSERT_TRUE(reward.ok()) << reward.status();
    EXPECT_EQ(reward->score, 1.5);  // exact 1 + 0.5 * format 1
    kill(p.pid, sig);
    EXPECT_EQ(Wait(p.pid), 0);
    EXPECT_THAT(ReadAll(p.out), HasSubstr("served 1 calls, 1 items"));
    fclose(p.out);
  }
}

TEST_F(ServeVerifierTest, BadConfigIsAClearError) {
  const std::string config = Write("bad.yaml", "verifier:\n  name: no_such_verifier\n");
  Proc p = Spawn({RLVR_CLI, "serve-verifier", "--config", config});
  const std::string out = ReadAll(p.out);
  EXPECT_EQ(Wait(p.pid), 2);
  EXPECT_THAT(out, HasSubstr("unknown verifier 'no_such_verifier'"));
  EXPECT_THAT(out, HasSubstr("bad.yaml"));
  fclose(p.out);

  const std::string typo = Write("typo.yaml", "verifier:\n  name: exact\nserve:\n  threds: 2\n");
  p = Spawn({RLVR_CLI, "serve-verifier", "--config", typo});
  EXPECT_THAT(ReadAll(p.out), HasSubstr("serve.threds"));
  EXPECT_EQ(Wait(p.pid), 2);
  fclose(p.out);
}

TEST_F(ServeVerifierTest, MathVerifierThroughTheService) {
  const std::vector<std::string> names = BuiltinVerifiers().Names();
  if (std::find(names.begin(), names.end(), "math") == names.end()) {
    GTEST_SKIP() << "the math verifier is not registered in this build";
  }
  const std::string config = Write("math.yaml", "verifier:\n  name: math\n");
  Proc p = Spawn({RLVR_CLI, "serve-verifier", "--config", config, "--port", "0"});
  const std::string target = TargetFrom(ReadLine(p.out));
  ASSERT_FALSE(target.empty());
  RemoteVerifierOptions o;
  o.target = target;
  auto client = RemoteVerifier::Create(o).value();
  VerifyRequest right, wrong;
  right.id = "r";
  right.completion = "so the answer is \\boxed{\\frac{1}{2}}";
  right.answer = "0.5";
  wrong.id = "w";
  wrong.completion = "so the answer is \\boxed{3}";
  wrong.answer = "0.5";
  auto results = client->VerifyBatch({right, wrong});
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_TRUE((*results)[0].ok()) << (*results)[0].status();
  EXPECT_EQ((*results)[0]->score, 1.0);
  EXPECT_EQ((*results)[1]->score, 0.0);
  kill(p.pid, SIGTERM);
  EXPECT_EQ(Wait(p.pid), 0);
  fclose(p.out);
}

}  // namespace
}  // namespace rlvr
