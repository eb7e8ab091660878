// Remote rollout workers as real `rlvr serve-rollout` processes on loopback: a worker
// killed mid-call loses nothing and duplicates nothing, and a restarted worker gets
// the latest weights before it serves again.
#include "rollout/worker_pool.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/model.h"
#include "core/tokenizer.h"
#include "rlvr/test_paths.h"
#include "rollout/engine.h"
#include "rollout/service/client.h"
#include "tests/test_util.h"

namespace rlvr {
namespace {

namespace fs = std::filesystem;
using rlvr::test_util::ReadFile;

struct Worker {
  pid_t pid = -1;
  int port = 0;
};

// Starts `rlvr serve-rollout --model builtin` and waits for its port.
Worker StartWorker(const fs::path& log, int port) {
  Worker w;
  w.pid = fork();
  if (w.pid == 0) {
    freopen(log.c_str(), "w", stderr);
    std::string p = std::to_string(port);
    execl(RLVR_CLI, RLVR_CLI, "serve-rollout", "--model", "builtin", "--port", p.c_str(),
          "--kv-mib", "64", nullptr);
    _exit(127);
  }
  std::regex re("listening on [0-9.]+:([0-9]+)");
  for (int i = 0; i < 600; ++i) {
    std::smatch m;
    std::string text = ReadFile(log);
    if (std::regex_search(text, m, re)) {
      w.port = std::stoi(m[1]);
      return w;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return w;
}

void Stop(Worker& w) {
  if (w.pid > 0) {
    kill(w.pid, SIGKILL);
    waitpid(w.pid, nullptr, 0);
    w.pid = -1;
  }
}

class WorkerPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("rlvr_pool_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    for (auto& w : workers_) Stop(w);
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::vector<Worker> workers_;
};

TEST_F(WorkerPoolTest, KilledWorkerLosesNothingAndRestartedWorkerGetsLatestWeights) {
  workers_.push_back(StartWorker(dir_ / "a.log", 0));
  workers_.push_back(StartWorker(dir_ / "b.log", 0));
  ASSERT_GT(workers_[0].port, 0) << ReadFile(dir_ / "a.log");
  ASSERT_GT(workers_[1].port, 0) << ReadFile(dir_ / "b.log");

  Tokenizer tok = Tokenizer::Builtin();
  const ModelConfig config = BuiltinTinyConfig(tok.vocab_size());
  auto weights = Transformer::RandomInit(config, 5, {});
  ASSERT_TRUE(weights.ok()) << weights.status();
  auto reference_model = Transformer::RandomInit(config, 5, {});
  ASSERT_TRUE(reference_model.ok());
  EngineOptions eo;
  eo.kv_byte_budget = int64_t{64} << 20;
  auto reference = Engine::Create(std::move(*reference_model), tok, eo);
  ASSERT_TRUE(reference.ok()) << reference.status();

  WorkerPoolOptions po;
  po.targets = {"127.0.0.1:" + std::to_string(workers_[0].port),
                "127.0.0.1:" + std::to_string(workers_[1].port)};
  auto pool = WorkerPool::Create(po);
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_TRUE((*pool)->UpdateWeights(1, weights->NamedParameters()).ok());

  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 12; ++i) {
    GenerationRequest r;
    r.id = absl::StrCat("q", i);  // not "q" + std::to_string(i): GCC 12 warns falsely
    r.prompt_ids = tok.Encode("Compute " + std::to_string(10 + i) + " + 7.");
    r.n = 3;
    r.sampling.temperature = 0;  // greedy: the same tokens on any worker and batch
    r.sampling.max_new_tokens = 48;
    r.sampling.ignore_eos = true;
    requests.push_back(r);
  }
  auto expected = (*reference)->Generate(requests);
  ASSERT_TRUE(expected.ok()) << expected.status();

  std::map<std::pair<int64_t, int64_t>, Completion> got;
  std::atomic<int> delivered{0};
  absl::Status s = (*pool)->GenerateStream(requests, [&](Completion c) {
    if (++delivered == 2) kill(workers_[0].pid, SIGKILL);  // worker A dies mid-call
    auto key = std::make_pair(c.request_index, c.sample_index);
    EXPECT_EQ(got.count(key), 0u) << "sample delivered twice";
    got[key] = std::move(c);
  });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(got.size(), 36u);
  for (const Completion& e : *expected) {
    const Completion& g = got.at({e.request_index, e.sample_index});
    EXPECT_EQ(g.token_ids, e.token_ids) << "request " << e.request_index;
    EXPECT_EQ(g.request_id, e.request_id);
  }
  EXPECT_GT((*pool)->stats().resent_samples, 0);
  EXPECT_EQ((*pool)->live_workers(), 1);
  waitpid(workers_[0].pid, nullptr, 0);
  workers_[0].pid = -1;

  // Training goes on with one worker, then A restarts on its port and rejoins.
  ASSERT_TRUE((*pool)->UpdateWeights(2, weights->NamedParameters()).ok());
  const int port_a = workers_[0].port;
  workers_[0] = StartWorker(dir_ / "a2.log", port_a);
  ASSERT_EQ(workers_[0].port, port_a) << ReadFile(dir_ / "a2.log");
  auto again = (*pool)->Generate({requests[0]});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*pool)->stats().rejoined_workers, 1);
  EXPECT_EQ((*pool)->live_workers(), 2);
  auto direct = RolloutClient::Connect("127.0.0.1:" + std::to_string(port_a), {});
  ASSERT_TRUE(direct.ok());
  auto status = (*direct)->GetStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->policy_version, 2) << "a rejoined worker must hold the latest weights";
}

TEST_F(WorkerPoolTest, AllWorkersDownIsAnErrorNotEmptyRollouts) {
  WorkerPoolOptions po;
  po.targets = {"127.0.0.1:1"};  // nothing listens there
  po.generate_deadline_s = 5;
  auto pool = WorkerPool::Create(po);
  ASSERT_TRUE(pool.ok());
  GenerationRequest r;
  r.prompt_ids = {1, 2, 3};
  r.n = 2;
  auto out = (*pool)->Generate({r});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(WorkerPool::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rlvr
