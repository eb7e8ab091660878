// Metrics exporters: one small interface, MetricsSink, that training and evaluation
// write to, and the sinks behind it (JSONL, CSV, TensorBoard event files, a
// Prometheus /metrics endpoint; a fan-out sink is itself a sink).
//
// A run directory written through OpenRunSinks() holds
//   metrics.jsonl        {"phase": str, "step": int, <name>: number, ...} per record
//   histograms.jsonl     {"step", "tag", "count", "min", "max", "sum", "buckets": [[hi, n]...]}
//   samples.jsonl        {"step", "tag", "task_id", "prompt", "completion", "verdict", "reward"}
//   metrics_<phase>.csv  step plus the columns of the phase's first record
//   tensorboard/events.out.tfevents.*  (tensorboard --logdir runs/)
#ifndef RLVR_EVAL_METRICS_SINK_H_
#define RLVR_EVAL_METRICS_SINK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rlvr {

// The scalars of one step of one phase ("sft", "grpo", "eval", ...).
struct ScalarRecord {
  std::string phase;
  int64_t step = 0;
  std::vector<std::pair<std::string, double>> values;  // in display order
};

// One graded completion, shown as a text sample.
struct TextSample {
  std::string task_id, prompt, completion, verdict;
  double reward = 0;
};

// Not thread-safe: one thread writes a sink (the trainer's step callback).
// Every method returns OK or the sink's I/O error; a fan-out sink keeps writing the
// others when one fails and returns the first error.
class MetricsSink {
 public:
  virtual ~MetricsSink() = default;
  virtual absl::Status AddScalars(const ScalarRecord& record) = 0;
  // `values`: the raw observations (e.g. completion lengths of one eval); each sink
  // buckets them itself. `tag` is "<phase>/<name>".
  virtual absl::Status AddHistogram(int64_t step, const std::string& tag,
                                    const std::vector<double>& values) = 0;
  virtual absl::Status AddSamples(int64_t step, const std::string& tag,
                                  const std::vector<TextSample>& samples) = 0;
  // Makes everything written so far durable/visible (files are flushed).
  virtual absl::Status Flush() = 0;
};

// Writes the three JSONL files above into `dir` (appending; created if needed).
absl::StatusOr<std::unique_ptr<MetricsSink>> OpenJsonlSink(const std::string& dir);

// Writes metrics_<phase>.csv files into `dir`. A phase's columns are "step" and the
// names of its first record (or the header already in the file when appending after a
// resume); later names outside them are not written. Histograms and samples are not
// written.
absl::StatusOr<std::unique_ptr<MetricsSink>> OpenCsvSink(const std::string& dir);

// Forwards every call to each sink in order.
std::unique_ptr<MetricsSink> FanOut(std::vector<std::unique_ptr<MetricsSink>> sinks);

// Equal-width buckets over [min, max] of `values`: (upper edge, count) pairs, edges
// increasing, counts summing to values.size(). One bucket when all values are equal;
// none when `values` is empty.
std::vector<std::pair<double, int64_t>> Bucketize(const std::vector<double>& values,
                                                  int buckets = 30);

struct ExportOptions {
  std::string dir;       // the run directory
  std::string run_name;  // Prometheus label "run"
  bool jsonl = true;
  bool csv = true;
  bool tensorboard = true;   // <dir>/tensorboard/
  int prometheus_port = -1;  // < 0: off; 0: any free port
  std::string prometheus_address = "127.0.0.1";
};

struct RunSinks {
  std::unique_ptr<MetricsSink> sink;
  int prometheus_port = 0;  // the bound port when Prometheus is on, else 0
};

// Opens the sinks `options` asks for, fanned out. UNAVAILABLE when the Prometheus port
// cannot be bound; the I/O error naming the path when a file cannot be created.
absl::StatusOr<RunSinks> OpenRunSinks(const ExportOptions& options);

}  // namespace rlvr

#endif  // RLVR_EVAL_METRICS_SINK_H_
