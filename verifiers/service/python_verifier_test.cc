// A VerifierService written in Python (examples/python_verifier/server.py, grpcio)
// graded through the C++ RemoteVerifier. The Python modules are generated from
// proto/verifier.proto with grpcio-tools into a temp dir at test time.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rlvr/test_paths.h"
#include "verifiers/service/remote_verifier.h"

extern char** environ;

namespace rlvr {
namespace {

using ::testing::HasSubstr;

// Runs argv with stdout on a pipe; returns the pid and the read end.
pid_t Spawn(std::vector<std::string> args, FILE** out) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  *out = fdopen(fds[0], "r");
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class PythonVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(RLVR_PYTHON)) GTEST_SKIP() << "no python at " << RLVR_PYTHON;
    char tmpl[] = "/tmp/rlvr_pyverifier_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    gen_dir_ = tmpl;
    FILE* out = nullptr;
    pid_t gen = Spawn(
        {RLVR_PYTHON, "-m", "grpc_tools.protoc", absl::StrCat("-I", RLVR_SOURCE_DIR, "/proto"),
         "--python_out=" + gen_dir_, "--grpc_python_out=" + gen_dir_, "verifier.proto"},
        &out);
    fclose(out);
    ASSERT_EQ(Wait(gen), 0) << "grpc_tools.protoc failed (is grpcio-tools installed?)";
    server_ =
        Spawn({RLVR_PYTHON, absl::StrCat(RLVR_SOURCE_DIR, "/examples/python_verifier/server.py"),
               "--gen-dir", gen_dir_, "--port", "0"},
              &server_out_);
    char line[256];
    ASSERT_NE(fgets(line, sizeof(line), server_out_), nullptr) << "server.py printed nothing";
    ASSERT_EQ(std::sscanf(line, "PORT %d", &port_), 1) << line;
  }
  void TearDown() override {
    if (server_ > 0) {
      kill(server_, SIGTERM);
      EXPECT_EQ(Wait(server_), 0);
      fclose(server_out_);
    }
    if (!gen_dir_.empty()) std::filesystem::remove_all(gen_dir_);
  }

  std::string gen_dir_;
  pid_t server_ = -1;
  FILE* server_out_ = nullptr;
  int port_ = 0;
};

VerifyRequest Req(std::string id, std::string completion, std::string answer,
                  nlohmann::json spec = nlohmann::json::object()) {
  VerifyRequest r;
  r.id = std::move(id);
  r.completion = std::move(completion);
  r.answer = std::move(answer);
  r.spec = std::move(spec);
  return r;
}

TEST_F(PythonVerifierTest, GradesThroughTheCppClient) {
  RemoteVerifierOptions o;
  o.target = absl::StrCat("127.0.0.1:", port_);
  auto client = RemoteVerifier::Create(o).value();
  auto results = client->VerifyBatch(
      {Req("a", "so the total is 3.50", "3.5"), Req("b", "I think 4", "3.5"),
       Req("c", "no idea", "3.5"), Req("d", "about 3.4", "3.5", {{"tolerance", 0.05}}),
       Req("e", "1,234 apples", "1234"), Req("f", "7", "not a number")});
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 6u);
  EXPECT_EQ((*results)[0]->score, 1.0);
  EXPECT_EQ((*results)[0]->details["extracted"], "3.50");
  EXPECT_EQ((*results)[1]->score, 0.0);
  EXPECT_EQ((*results)[1]->verdict, "incorrect");
  EXPECT_EQ((*results)[2]->verdict, "no_answer");
  EXPECT_EQ((*results)[3]->score, 1.0);
  EXPECT_EQ((*results)[4]->score, 1.0);
  EXPECT_EQ((*results)[5].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string((*results)[5].status().message()), HasSubstr("id 'f'"));
  // Through the registry, as a trainer config would use it.
  auto remote = BuiltinVerifiers().Create("remote", {{"target", o.target}}).value();
  EXPECT_EQ(remote->Verify(Req("g", "x = 2", "2"))->score, 1.0);
}

}  // namespace
}  // namespace rlvr
