// A MetricsSink served as a Prometheus /metrics endpoint: prometheus-cpp's registry
// and text format behind a small HTTP server of ours (see prometheus_sink.cc).
#ifndef RLVR_EVAL_PROMETHEUS_SINK_H_
#define RLVR_EVAL_PROMETHEUS_SINK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "eval/metrics_sink.h"

namespace rlvr {

struct PrometheusOptions {
  std::string address = "127.0.0.1";
  int port = 0;          // 0: any free port (see PrometheusSink::port())
  std::string run_name;  // label "run" on every series
};

// Each scalar becomes a gauge rlvr_<name>{phase, run} holding its latest value
// (names sanitised to [a-zA-Z0-9_]); rlvr_step{phase, run} is the latest step.
// Histograms and samples are not exported. The endpoint serves from the time of
// creation until destruction, from prometheus-cpp's own threads.
class PrometheusSink : public MetricsSink {
 public:
  // UNAVAILABLE naming the address when it cannot be bound; INVALID_ARGUMENT when it
  // is not an IPv4 address.
  static absl::StatusOr<std::unique_ptr<PrometheusSink>> Create(const PrometheusOptions& options);
  virtual int port() const = 0;  // the bound port
};

}  // namespace rlvr

#endif  // RLVR_EVAL_PROMETHEUS_SINK_H_
