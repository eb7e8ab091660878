// A self-contained static HTML dashboard of a run: one index.html with the data and
// our own inline JS/CSS (no third-party code, no network), opened from disk.
//
// It reads from the run directory whatever exists of
//   metrics.jsonl       training curves (reward, pass rate, KL, entropy, response length,
//                       tokens/s, staleness, step time generation/train, losses)
//   eval.jsonl          held-out evaluations during training: {"step", "eval": {...}}
//   eval/*.json         `rlvr eval` results, one file per checkpoint or model
//   samples.jsonl       sample completions with their verdicts
//   summary.json, config.yaml
// Each chart is an <svg> inside <div class="chart" data-chart="<name>"
// data-points="<points drawn>">, so that a browser test can check what rendered.
#ifndef RLVR_EVAL_DASHBOARD_H_
#define RLVR_EVAL_DASHBOARD_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rlvr {

struct DashboardOptions {
  std::string run_dir;   // runs/<name>
  std::string out_dir;   // index.html is written here (created if needed)
  int max_samples = 50;  // sample completions shown (the newest)
};

struct DashboardReport {
  std::string path;  // the written index.html
  // One line per problem in the inputs, naming the file (and line), e.g.
  // "runs/x/metrics.jsonl:41: cut off mid-line (ignored)". The page shows the rest.
  std::vector<std::string> warnings;
  int charts = 0;            // charts on the page
  int charts_with_data = 0;  // charts with at least one point
};

// NOT_FOUND when run_dir is not a directory; the I/O error naming the path when
// index.html cannot be written. Malformed or missing inputs are warnings, not errors.
absl::StatusOr<DashboardReport> WriteDashboard(const DashboardOptions& options);

// The metric names the page charts (everything else in metrics.jsonl is drawn under
// "Other metrics" with a warning).
const std::vector<std::string>& KnownMetricNames();

}  // namespace rlvr

#endif  // RLVR_EVAL_DASHBOARD_H_
