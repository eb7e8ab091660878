// Cluster-mode security on real gRPC servers: the shared token on both services
// (RolloutService, VerifierService), TLS with a CA and certificates made here by
// `openssl`, request size limits, and plugin directories, including through the
// `rlvr serve-rollout` / `rlvr serve-verifier` commands.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "core/grpc_security.h"
#include "core/model.h"
#include "rlvr/test_paths.h"
#include "rollout/engine.h"
#include "rollout/service/client.h"
#include "rollout/service/server.h"
#include "tests/test_util.h"
#include "verifiers/registry.h"
#include "verifiers/service/remote_verifier.h"
#include "verifiers/service/verifier_server.h"

namespace rlvr {
namespace {

namespace fs = std::filesystem;
using rlvr::test_util::ReadFile;
using rlvr::test_util::TinyQwen3Config;
using ::testing::HasSubstr;

constexpr char kToken[] = "s3cret-token-4f1c";

GenerationRequest Greedy(std::vector<int32_t> prompt) {
  GenerationRequest r;
  r.prompt_ids = std::move(prompt);
  r.sampling.temperature = 0;
  r.sampling.max_new_tokens = 3;
  r.sampling.ignore_eos = true;
  return r;
}

VerifyRequest MathRequest(const std::string& completion) {
  VerifyRequest r;
  r.id = "t";
  r.completion = completion;
  r.answer = "4";
  return r;
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("rlvr_security_" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    // A CA, and a server certificate it signed for 127.0.0.1 / localhost.
    const std::string d = dir_->string();
    const std::string script =
        "set -e; cd '" + d +
        "'; openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=rlvr-test-ca "
        "-keyout ca.key -out ca.pem 2>/dev/null;"
        "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key "
        "-out server.csr 2>/dev/null;"
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext;"
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
        "-extfile san.ext -out server.pem 2>/dev/null;"
        // A second, unrelated CA: a client trusting only it must refuse the server.
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other-ca "
        "-keyout other.key -out other.pem 2>/dev/null";
    openssl_ok_ = std::system(("bash -c \"" + script + "\"").c_str()) == 0;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  void SetUp() override {
    auto model = Transformer::RandomInit(TinyQwen3Config(), 0, {});
    ASSERT_TRUE(model.ok());
    auto engine = Engine::Create(std::move(*model), std::nullopt, {.max_batch = 4});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }

  std::unique_ptr<RolloutServer> StartRollout(RolloutServerOptions options) {
    auto server = RolloutServer::Start(engine_.get(), options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  TlsServerOptions ServerTls() const {
    return {.cert_file = (*dir_ / "server.pem").string(),
            .key_file = (*dir_ / "server.key").string()};
  }

  static fs::path* dir_;
  static bool openssl_ok_;
  std::unique_ptr<Engine> engine_;
};

fs::path* SecurityTest::dir_ = nullptr;
bool SecurityTest::openssl_ok_ = false;

TEST_F(SecurityTest, RolloutServiceRefusesCallsWithoutTheToken) {
  std::unique_ptr<RolloutServer> server = StartRollout({.token = kToken});
  ASSERT_NE(server, nullptr);
  const std::string target = "127.0.0.1:" + std::to_string(server->port());

  auto anonymous = RolloutClient::Connect(target, {});
  ASSERT_TRUE(anonymous.ok());
  absl::StatusOr<std::vector<Completion>> refused = (*anonymous)->Generate({Greedy({1, 2})});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated) << refused.status();
  EXPECT_EQ((*anonymous)->GetStatus().status().code(), absl::StatusCode::kUnauthenticated);
  auto weights = Transformer::RandomInit(TinyQwen3Config(), 5, {});
  ASSERT_TRUE(weights.ok());
  EXPECT_EQ((*anonymous)->UpdateWeights(7, weights->NamedParameters()).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(engine_->GetStatus().policy_version, 0) << "weights were installed without a token";
  // The refusal never echoes the expected token.
  EXPECT_THAT(std::string(refused.status().message()), ::testing::Not(HasSubstr(kToken)));

  auto wrong = RolloutClient::Connect(target, {.token = "not-the-token"});
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ((*wrong)->Generate({Greedy({1, 2})}).status().code(),
            absl::StatusCode::kUnauthenticated);

  auto good = RolloutClient::Connect(target, {.token = kToken});
  ASSERT_TRUE(good.ok());
  absl::StatusOr<std::vector<Completion>> out = (*good)->Generate({Greedy({1, 2})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].token_ids.size(), 3u);
  ASSERT_TRUE((*good)->UpdateWeights(7, weights->NamedParameters()).ok());
  EXPECT_EQ(engine_->GetStatus().policy_version, 7);
}

TEST_F(SecurityTest, VerifierServiceRefusesCallsWithoutTheToken) {
  auto math = BuiltinVerifiers().Create("math", nlohmann::json::object());
  ASSERT_TRUE(math.ok());
  auto server =
      VerifierServer::Start(std::shared_ptr<const Verifier>(std::move(*math)), {.token = kToken});
  ASSERT_TRUE(server.ok()) << server.status();
  auto anonymous = RemoteVerifier::Create({.target = (*server)->target(), .max_attempts = 1});
  ASSERT_TRUE(anonymous.ok());
  absl::StatusOr<Reward> refused = (*anonymous)->Verify(MathRequest("\\boxed{4}"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated) << refused.status();
  EXPECT_EQ((*server)->stats().rejected_auth, 1);

  // The registry path, with the token read from a file as a cluster would mount it.
  const fs::path token_file = *dir_ / "verifier.token";
  std::ofstream(token_file) << kToken << "\n";
  auto good = BuiltinVerifiers().Create(
      "remote", {{"target", (*server)->target()}, {"token_file", token_file.string()}});
  ASSERT_TRUE(good.ok()) << good.status();
  absl::StatusOr<Reward> reward = (*good)->Verify(MathRequest("\\boxed{4}"));
  ASSERT_TRUE(reward.ok()) << reward.status();
  EXPECT_EQ(reward->score, 1.0);
  auto missing = BuiltinVerifiers().Create(
      "remote", {{"target", (*server)->target()}, {"token_file", (*dir_ / "nope").string()}});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("token_file"));
}

TEST_F(SecurityTest, TlsWorksWithTheCaAndPlaintextOrWrongCaFails) {
  ASSERT_TRUE(openssl_ok_) << "openssl could not make the test certificates";
  std::unique_ptr<RolloutServer> server = StartRollout({.token = kToken, .tls = ServerTls()});
  ASSERT_NE(server, nullptr);
  const std::string target = "127.0.0.1:" + std::to_string(server->port());

  auto tls = RolloutClient::Connect(
      target,
      {.status_deadline_s = 10, .token = kToken, .tls = {.ca_file = (*dir_ / "ca.pem").string()}});
  ASSERT_TRUE(tls.ok()) << tls.status();
  absl::StatusOr<std::vector<Completion>> out = (*tls)->Generate({Greedy({4, 5})});
  ASSERT_TRUE(out.ok()) << out.status();

  auto plaintext = RolloutClient::Connect(target, {.status_deadline_s = 3, .token = kToken});
  ASSERT_TRUE(plaintext.ok());
  absl::StatusOr<EngineStatus> plain_status = (*plaintext)->GetStatus();
  EXPECT_FALSE(plain_status.ok());
  EXPECT_EQ(plain_status.status().code(), absl::StatusCode::kUnavailable) << plain_status.status();

  auto other_ca =
      RolloutClient::Connect(target, {.status_deadline_s = 3,
                                      .token = kToken,
                                      .tls = {.ca_file = (*dir_ / "other.pem").string()}});
  ASSERT_TRUE(other_ca.ok());
  EXPECT_FALSE((*other_ca)->GetStatus().ok()) << "a client trusting another CA connected";

  // The verifier service over TLS, through the registry's remote verifier.
  auto math = BuiltinVerifiers().Create("math", nlohmann::json::object());
  ASSERT_TRUE(math.ok());
  auto vserver = VerifierServer::Start(std::shared_ptr<const Verifier>(std::move(*math)),
                                       {.token = kToken, .tls = ServerTls()});
  ASSERT_TRUE(vserver.ok()) << vserver.status();
  auto remote = BuiltinVerifiers().Create("remote", {{"target", (*vserver)->target()},
                                                     {"token", kToken},
                                                     {"tls_ca", (*dir_ / "ca.pem").string()}});
  ASSERT_TRUE(remote.ok()) << remote.status();
  absl::StatusOr<Reward> reward = (*remote)->Verify(MathRequest("\\boxed{4}"));
  ASSERT_TRUE(reward.ok()) << reward.status();
  EXPECT_EQ(reward->score, 1.0);
  auto plain_remote = BuiltinVerifiers().Create("remote", {{"target", (*vserver)->target()},
                                                           {"token", kToken},
                                                           {"max_attempts", 1},
                                                           {"attempt_timeout_s", 3}});
  ASSERT_TRUE(plain_remote.ok());
  EXPECT_FALSE((*plain_remote)->Verify(MathRequest("\\boxed{4}")).ok());

  // Bad TLS files are refused up front, naming the option.
  auto bad =
      RolloutServer::Start(engine_.get(), {.tls = {.cert_file = (*dir_ / "server.pem").string()}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  auto missing = RolloutClient::Connect(target, {.tls = {.ca_file = (*dir_ / "no.pem").string()}});
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("tls_ca"));
}

TEST_F(SecurityTest, OversizedRequestsAreRefused) {
  std::unique_ptr<RolloutServer> server = StartRollout({.max_message_bytes = 64 << 10});
  ASSERT_NE(server, nullptr);
  auto client = RolloutClient::Connect("127.0.0.1:" + std::to_string(server->port()), {});
  ASSERT_TRUE(client.ok());
  // ~100k token ids: far beyond 64 KiB on the wire.
  GenerationRequest big = Greedy(std::vector<int32_t>(100000, 90));
  EXPECT_EQ((*client)->Generate({big}).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE((*client)->Generate({Greedy({1, 2})}).ok()) << "a small request after it failed";

  auto math = BuiltinVerifiers().Create("math", nlohmann::json::object());
  ASSERT_TRUE(math.ok());
  auto vserver = VerifierServer::Start(std::shared_ptr<const Verifier>(std::move(*math)),
                                       {.max_message_bytes = 64 << 10});
  ASSERT_TRUE(vserver.ok());
  auto remote = RemoteVerifier::Create({.target = (*vserver)->target(), .max_attempts = 1});
  ASSERT_TRUE(remote.ok());
  absl::StatusOr<Reward> refused = (*remote)->Verify(MathRequest(std::string(200 << 10, 'x')));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_TRUE((*remote)->Verify(MathRequest("\\boxed{4}")).ok());
}

struct Proc {
  pid_t pid = -1;
  std::string address;
};

// Starts `rlvr <args>` with output in `log` and waits for its "listening on" line.
Proc StartCli(const std::vector<std::string>& args, const fs::path& log,
              const std::vector<std::string>& env = {}) {
  Proc p;
  p.pid = fork();
  if (p.pid == 0) {
    freopen(log.c_str(), "w", stderr);
    freopen(log.c_str(), "a", stdout);
    for (const std::string& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv{const_cast<char*>(RLVR_CLI)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(RLVR_CLI, argv.data());
    _exit(127);
  }
  std::regex re("listening on ([0-9.]+:[0-9]+)");
  for (int i = 0; i < 600; ++i) {
    std::smatch m;
    std::string text = ReadFile(log);
    if (std::regex_search(text, m, re)) {
      p.address = m[1];
      return p;
    }
    int status = 0;
    if (waitpid(p.pid, &status, WNOHANG) == p.pid) {
      p.pid = -1;
      return p;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return p;
}

void Stop(Proc& p) {
  if (p.pid > 0) {
    kill(p.pid, SIGTERM);
    waitpid(p.pid, nullptr, 0);
    p.pid = -1;
  }
}

TEST_F(SecurityTest, ServeCommandsTakeTheTokenFromAFileOrEnvironment) {
  const fs::path token_file = *dir_ / "cli.token";
  std::ofstream(token_file) << kToken << "\n";
  Proc rollout = StartCli({"serve-rollout", "--model", "builtin", "--port", "0", "--kv-mib", "16",
                           "--token-file", token_file.string()},
                          *dir_ / "rollout.log");
  ASSERT_FALSE(rollout.address.empty()) << ReadFile(*dir_ / "rollout.log");
  EXPECT_THAT(ReadFile(*dir_ / "rollout.log"), HasSubstr("token required"));
  EXPECT_THAT(ReadFile(*dir_ / "rollout.log"), ::testing::Not(HasSubstr(kToken)));
  auto anonymous = RolloutClient::Connect(rollout.address, {});
  auto good = RolloutClient::Connect(rollout.address, {.token = kToken});
  EXPECT_EQ((*anonymous)->GetStatus().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE((*good)->GetStatus().ok());
  Stop(rollout);

  const fs::path cfg = *dir_ / "verifier.yaml";
  std::ofstream(cfg) << "verifier:\n  name: math\nserve:\n  port: 0\n  token_env: MY_TOKEN\n";
  Proc verifier = StartCli({"serve-verifier", "--config", cfg.string()}, *dir_ / "verifier.log",
                           {std::string("MY_TOKEN=") + kToken});
  ASSERT_FALSE(verifier.address.empty()) << ReadFile(*dir_ / "verifier.log");
  auto anon_v = RemoteVerifier::Create({.target = verifier.address, .max_attempts = 1});
  auto good_v = RemoteVerifier::Create({.target = verifier.address, .token = kToken});
  EXPECT_EQ((*anon_v)->Verify(MathRequest("\\boxed{4}")).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE((*good_v)->Verify(MathRequest("\\boxed{4}")).ok());
  Stop(verifier);
  EXPECT_THAT(ReadFile(*dir_ / "verifier.log"), ::testing::Not(HasSubstr(kToken)));

  // A token variable that is not set: one clear error naming the field, exit 2.
  Proc unset = StartCli({"serve-verifier", "--config", cfg.string()}, *dir_ / "unset.log");
  EXPECT_EQ(unset.pid, -1);
  EXPECT_THAT(ReadFile(*dir_ / "unset.log"),
              HasSubstr("serve.token_env: environment variable MY_TOKEN"));
}

TEST_F(SecurityTest, PluginOutsideTheAllowedDirectoriesIsRefused) {
  const fs::path allowed = *dir_ / "allowed_plugins";
  const fs::path elsewhere = *dir_ / "elsewhere";
  fs::create_directories(allowed);
  fs::create_directories(elsewhere);
  fs::copy_file(RLVR_EXAMPLE_PLUGIN, elsewhere / "libexact.so",
                fs::copy_options::overwrite_existing);
  fs::copy_file(RLVR_EXAMPLE_PLUGIN, allowed / "libexact.so", fs::copy_options::overwrite_existing);
  // A symlink inside the allowed directory pointing outside it is refused too.
  fs::create_symlink(elsewhere / "libexact.so", allowed / "link.so");
  auto outside = BuiltinVerifiers().Create(
      "plugin", {{"library", (elsewhere / "libexact.so").string()},
                 {"plugin_dirs", nlohmann::json::array({allowed.string()})}});
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kPermissionDenied) << outside.status();
  auto via_link = BuiltinVerifiers().Create(
      "plugin", {{"library", (allowed / "link.so").string()},
                 {"plugin_dirs", nlohmann::json::array({allowed.string()})}});
  EXPECT_EQ(via_link.status().code(), absl::StatusCode::kPermissionDenied) << via_link.status();
  auto inside = BuiltinVerifiers().Create(
      "plugin",
      {{"library", "libexact.so"}, {"plugin_dirs", nlohmann::json::array({allowed.string()})}});
  EXPECT_TRUE(inside.ok()) << inside.status();

  // And through `rlvr serve-verifier`: refused at start with the reason, no server.
  const fs::path cfg = *dir_ / "plugin.yaml";
  std::ofstream(cfg) << "verifier:\n  name: plugin\n  config:\n    library: "
                     << (elsewhere / "libexact.so").string() << "\n    plugin_dirs: ["
                     << allowed.string() << "]\nserve:\n  port: 0\n";
  Proc p = StartCli({"serve-verifier", "--config", cfg.string()}, *dir_ / "plugin.log");
  EXPECT_EQ(p.pid, -1) << "serve-verifier started with a plugin outside plugin_dirs";
  Stop(p);
  EXPECT_THAT(ReadFile(*dir_ / "plugin.log"), HasSubstr("outside the allowed plugin directories"));
}

}  // namespace
}  // namespace rlvr
