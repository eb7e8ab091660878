// The Prometheus endpoint scraped by a real Prometheus server (Debian `prometheus`)
// on loopback; the value is read back through Prometheus's HTTP query API.
#include "eval/prometheus_sink.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "nlohmann/json.hpp"
#include "tests/test_util.h"

namespace rlvr {
namespace {

namespace fs = std::filesystem;
using rlvr::test_util::FreePort;
using ::testing::HasSubstr;

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(PrometheusSinkTest, EndpointServesGaugesInTextFormat) {
  auto sink = PrometheusSink::Create({.address = "127.0.0.1", .port = 0, .run_name = "r1"});
  ASSERT_TRUE(sink.ok()) << sink.status();
  ASSERT_GT((*sink)->port(), 0);
  ASSERT_TRUE((*sink)->AddScalars({"grpo", 12, {{"reward", 0.625}, {"tokens/s", 1500}}}).ok());
  const std::string body =
      Shell("curl -s http://127.0.0.1:" + std::to_string((*sink)->port()) + "/metrics");
  EXPECT_THAT(body, HasSubstr("rlvr_reward{phase=\"grpo\",run=\"r1\"} 0.625"));
  EXPECT_THAT(body, HasSubstr("rlvr_tokens_s{phase=\"grpo\",run=\"r1\"} 1500"));
  EXPECT_THAT(body, HasSubstr("rlvr_step{phase=\"grpo\",run=\"r1\"} 12"));
}

TEST(PrometheusSinkTest, PortInUseIsUnavailable) {
  auto first = PrometheusSink::Create({.port = 0});
  ASSERT_TRUE(first.ok());
  auto second = PrometheusSink::Create({.port = (*first)->port()});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("127.0.0.1:"));
}

TEST(PrometheusSinkTest, RealPrometheusScrapesTheLatestValue) {
  auto sink = PrometheusSink::Create({.address = "127.0.0.1", .port = 0, .run_name = "scraped"});
  ASSERT_TRUE(sink.ok()) << sink.status();
  ASSERT_TRUE((*sink)->AddScalars({"grpo", 1, {{"reward", 0.25}}}).ok());
  ASSERT_TRUE((*sink)->AddScalars({"grpo", 2, {{"reward", 0.875}}}).ok());

  const fs::path dir = fs::temp_directory_path() / ("rlvr_prom_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "data");
  std::ofstream(dir / "prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      << "scrape_configs:\n  - job_name: rlvr\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << (*sink)->port() << "']\n";
  const int prom_port = FreePort();
  const std::string listen = "127.0.0.1:" + std::to_string(prom_port);
  const std::string log = (dir / "prometheus.log").string();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    freopen(log.c_str(), "w", stdout);
    freopen(log.c_str(), "a", stderr);
    execlp("prometheus", "prometheus",
           ("--config.file=" + (dir / "prometheus.yml").string()).c_str(),
           ("--storage.tsdb.path=" + (dir / "data").string()).c_str(),
           ("--web.listen-address=" + listen).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Poll the query API until the sample has been scraped (scrape interval 1 s).
  const std::string query =
      "curl -s 'http://" + listen + "/api/v1/query?query=rlvr_reward%7Brun%3D%22scraped%22%7D'";
  nlohmann::json answer;
  double value = -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    answer = nlohmann::json::parse(Shell(query), nullptr, false);
    if (!answer.is_discarded() && answer.value("status", "") == "success" &&
        !answer["data"]["result"].empty()) {
      value = std::stod(answer["data"]["result"][0]["value"][1].get<std::string>());
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  // The scrape target's health, as Prometheus saw it.
  nlohmann::json targets = nlohmann::json::parse(
      Shell("curl -s 'http://" + listen + "/api/v1/targets'"), nullptr, false);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  std::ifstream in(log);
  std::stringstream prom_log;
  prom_log << in.rdbuf();
  fs::remove_all(dir);
  ASSERT_DOUBLE_EQ(value, 0.875) << answer.dump() << "\n" << prom_log.str();
  EXPECT_EQ(answer["data"]["result"][0]["metric"]["phase"], "grpo");
  EXPECT_EQ(answer["data"]["result"][0]["metric"]["job"], "rlvr");
  ASSERT_FALSE(targets.is_discarded());
  EXPECT_EQ(targets["data"]["activeTargets"][0]["health"], "up");
}

}  // namespace
}  // namespace rlvr
