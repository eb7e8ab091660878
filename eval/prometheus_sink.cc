#include "eval/prometheus_sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rlvr {
namespace {

// Prometheus metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; rlvr_ keeps the first character legal.
std::string MetricName(const std::string& name) {
  std::string out = "rlvr_";
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += ok ? c : '_';
  }
  return out;
}

// The metrics come from prometheus-cpp (registry, gauges, text exposition format);
// the HTTP transport is this small server. prometheus-cpp's own server (civetweb)
// starts its threads with a fixed small stack, which glibc refuses (EINVAL) in a
// process whose static TLS is as large as LibTorch's and CUDA's libraries make it.
//
// One thread serves one connection at a time: GET /metrics -> 200 with the text
// format, anything else -> 404. Each connection is closed after its response.
class PrometheusSinkImpl final : public PrometheusSink {
 public:
  PrometheusSinkImpl(int listen_fd, int port, std::string run_name)
      : listen_fd_(listen_fd),
        port_(port),
        registry_(std::make_shared<prometheus::Registry>()),
        run_name_(std::move(run_name)) {
    if (pipe(wake_) != 0) wake_[0] = wake_[1] = -1;
    thread_ = std::thread([this] { Serve(); });
  }

  ~PrometheusSinkImpl() override {
    stop_ = true;
    if (wake_[1] >= 0) (void)!write(wake_[1], "x", 1);
    thread_.join();
    close(listen_fd_);
    if (wake_[0] >= 0) close(wake_[0]);
    if (wake_[1] >= 0) close(wake_[1]);
  }

  int port() const override { return port_; }

  absl::Status AddScalars(const ScalarRecord& record) override {
    const prometheus::Labels labels = {{"phase", record.phase}, {"run", run_name_}};
    Family("rlvr_step", "latest step of the phase").Add(labels).Set(record.step);
    for (const auto& [name, value] : record.values) {
      Family(MetricName(name), absl::StrCat("rlvr metric ", name)).Add(labels).Set(value);
    }
    return absl::OkStatus();
  }
  absl::Status AddHistogram(int64_t, const std::string&, const std::vector<double>&) override {
    return absl::OkStatus();
  }
  absl::Status AddSamples(int64_t, const std::string&, const std::vector<TextSample>&) override {
    return absl::OkStatus();
  }
  absl::Status Flush() override { return absl::OkStatus(); }

 private:
  prometheus::Family<prometheus::Gauge>& Family(const std::string& name, const std::string& help) {
    auto it = families_.find(name);
    if (it != families_.end()) return *it->second;
    auto& f = prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
    families_[name] = &f;
    return f;
  }

  void Serve() {
    while (!stop_) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (poll(fds, wake_[0] >= 0 ? 2 : 1, 500) <= 0 || stop_) continue;
      if (!(fds[0].revents & POLLIN)) continue;
      const int conn = accept(listen_fd_, nullptr, nullptr);
      if (conn < 0) continue;
      Respond(conn);
      close(conn);
    }
  }

  void Respond(int conn) {
    // Read the request head (bounded in size and time).
    std::string request;
    char buf[1024];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192) {
      pollfd p = {conn, POLLIN, 0};
      if (poll(&p, 1, 2000) <= 0) return;
      const ssize_t n = read(conn, buf, sizeof(buf));
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    std::string status = "200 OK", type = "text/plain; version=0.0.4; charset=utf-8", body;
    if (absl::StartsWith(request, "GET /metrics ") || absl::StartsWith(request, "GET /metrics?")) {
      // Registry::Collect and Gauge::Set are thread-safe in prometheus-cpp.
      body = prometheus::TextSerializer().Serialize(registry_->Collect());
    } else {
      status = "404 Not Found";
      type = "text/plain";
      body = "rlvr serves /metrics only\n";
    }
    const std::string response =
        absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", type,
                     "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
    size_t sent = 0;
    while (sent < response.size()) {
      const ssize_t n = send(conn, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  int listen_fd_;
  int port_;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::shared_ptr<prometheus::Registry> registry_;
  std::string run_name_;
  std::map<std::string, prometheus::Family<prometheus::Gauge>*> families_;
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PrometheusSink>> PrometheusSink::Create(
    const PrometheusOptions& options) {
  const std::string bind_to = absl::StrCat(options.address, ":", options.port);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options.port));
  if (options.port < 0 || options.port > 65535 ||
      inet_pton(AF_INET, options.address.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("prometheus: ", bind_to, " is not an IPv4 address and port"));
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("prometheus: socket: ", strerror(errno)));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string error = strerror(errno);
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("prometheus: cannot listen on ", bind_to, ": ", error));
  }
  return std::unique_ptr<PrometheusSink>(
      new PrometheusSinkImpl(fd, ntohs(addr.sin_port), options.run_name));
}

}  // namespace rlvr
