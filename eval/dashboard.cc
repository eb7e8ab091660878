#include "eval/dashboard.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"

namespace rlvr {

// The page template (dashboard_page.cc); "__RLVR_DATA__" is replaced by the data.
extern const char kDashboardPage[];

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr size_t kMaxPointsPerSeries = 2000;

struct ChartSpec {
  std::string name, title, unit;
  std::vector<std::pair<std::string, std::string>> series;  // (phase, metric)
};

// The main training charts, in page order.
const std::vector<ChartSpec>& MainCharts() {
  static const auto* charts = new std::vector<ChartSpec>{
      {"reward", "Reward (mean over samples)", "", {{"grpo", "reward"}}},
      {"pass_rate", "Pass rate (reward >= 1)", "", {{"grpo", "pass_rate"}}},
      {"kl", "KL to the behaviour/reference policy", "", {{"grpo", "kl"}}},
      {"entropy", "Entropy (per token)", "nats", {{"grpo", "entropy"}}},
      {"response_length", "Response length", "tokens", {{"grpo", "response_length"}}},
      {"tokens_per_second", "Generation throughput", "tokens/s", {{"grpo", "tokens_per_second"}}},
      {"staleness", "Staleness (policy versions behind)", "", {{"grpo", "staleness"}}},
      {"step_time",
       "Step time: generation vs train",
       "s",
       {{"grpo", "generation_seconds"}, {"grpo", "train_seconds"}, {"grpo", "step_seconds"}}},
      {"loss", "Policy loss", "", {{"grpo", "loss"}}},
      {"sft_loss", "SFT warm-start loss", "", {{"sft", "loss"}}},
  };
  return *charts;
}

// Known but secondary metrics, each drawn as a small chart.
const std::vector<std::pair<std::string, std::string>>& SecondaryMetrics() {
  static const auto* m = new std::vector<std::pair<std::string, std::string>>{
      {"grpo", "grad_norm"},
      {"grpo", "lr"},
      {"grpo", "clip_frac_high"},
      {"grpo", "clip_frac_low"},
      {"grpo", "truncated_rate"},
      {"grpo", "zero_variance_groups"},
      {"grpo", "stale_dropped"},
      {"grpo", "policy_version"},
      {"grpo", "curriculum_admitted"},
      {"grpo", "curriculum_skipped_solved"},
      {"grpo", "curriculum_skipped_unsolved"},
      {"grpo", "curriculum_tracked"},
      {"grpo", "curriculum_forced"},
      {"grpo", "dynamic_dropped_groups"},
      {"grpo", "dynamic_extra_prompts"},
      {"grpo", "dynamic_short_batch"},
      {"grpo", "dynamic_dropped_all_passed_total"},
      {"grpo", "dynamic_dropped_all_failed_total"},
      {"grpo", "dynamic_extra_prompts_total"},
      {"grpo", "dynamic_short_batches_total"},
      {"grpo", "tool_calls"},
      {"grpo", "observation_tokens"},
      {"sft", "lr"},
      {"sft", "grad_norm"},
  };
  return *m;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Reads a JSONL file line by line; calls `on_record(line_no, object)` for each good
// line and adds a warning naming file:line for every bad one.
template <typename F>
void ReadJsonl(const fs::path& path, std::vector<std::string>* warnings, F on_record) {
  const std::string text = ReadAll(path);
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    const bool last_unterminated = end == std::string::npos;
    if (last_unterminated) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    const std::string where = absl::StrCat(path.string(), ":", line_no, ": ");
    if (j.is_discarded()) {
      warnings->push_back(absl::StrCat(
          where, last_unterminated ? "cut off mid-line (ignored)" : "not valid JSON (ignored)"));
      continue;
    }
    if (!j.is_object()) {
      warnings->push_back(absl::StrCat(where, "not a JSON object (ignored)"));
      continue;
    }
    on_record(line_no, j);
  }
}

// Keeps at most kMaxPointsPerSeries points, evenly strided, always the last one.
json Thin(const std::vector<std::pair<double, double>>& pts) {
  json out = json::array();
  const size_t stride =
      pts.size() <= kMaxPointsPerSeries ? 1 : pts.size() / kMaxPointsPerSeries + 1;
  for (size_t i = 0; i < pts.size(); i += stride) out.push_back({pts[i].first, pts[i].second});
  if (!pts.empty() && (pts.size() - 1) % stride != 0) {
    out.push_back({pts.back().first, pts.back().second});
  }
  return out;
}

std::string Label(const std::string& phase, const std::string& name) {
  return phase == "grpo" ? name : absl::StrCat(phase, "/", name);
}

}  // namespace

const std::vector<std::string>& KnownMetricNames() {
  static const auto* names = [] {
    std::set<std::string> s;
    for (const ChartSpec& c : MainCharts()) {
      for (const auto& [phase, name] : c.series) s.insert(name);
    }
    for (const auto& [phase, name] : SecondaryMetrics()) s.insert(name);
    return new std::vector<std::string>(s.begin(), s.end());
  }();
  return *names;
}

absl::StatusOr<DashboardReport> WriteDashboard(const DashboardOptions& options) {
  const fs::path run(options.run_dir);
  std::error_code ec;
  if (!fs::is_directory(run, ec)) {
    return absl::NotFoundError(absl::StrCat(options.run_dir, ": no such run directory"));
  }
  DashboardReport report;
  std::vector<std::string>& warnings = report.warnings;
  const std::set<std::string> known(KnownMetricNames().begin(), KnownMetricNames().end());

  // metrics.jsonl -> series[(phase, name)] = [(step, value)].
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<double, double>>> series;
  std::vector<std::pair<std::string, std::string>> unknown_order;
  const fs::path metrics_path = run / "metrics.jsonl";
  if (fs::exists(metrics_path)) {
    std::set<std::string> warned;
    ReadJsonl(metrics_path, &warnings, [&](int64_t line_no, const json& j) {
      const std::string where = absl::StrCat(metrics_path.string(), ":", line_no, ": ");
      if (!j.contains("step") || !j["step"].is_number()) {
        warnings.push_back(absl::StrCat(where, "no numeric \"step\" (ignored)"));
        return;
      }
      const std::string phase = j.value("phase", std::string("grpo"));
      if (phase == "eval") return;  // the evaluation table reads eval.jsonl
      const double step = j["step"].get<double>();
      for (const auto& [name, value] : j.items()) {
        if (name == "step" || name == "phase") continue;
        const auto key = std::make_pair(phase, name);
        if (!value.is_number()) {
          if (warned.insert(absl::StrCat("nan:", phase, "/", name)).second && !value.is_null()) {
            warnings.push_back(absl::StrCat(where, "metric \"", name,
                                            "\" is not a number (such values are skipped)"));
          }
          continue;
        }
        if (!known.count(name) &&
            warned.insert(absl::StrCat("unknown:", phase, "/", name)).second) {
          warnings.push_back(
              absl::StrCat(where, "unknown metric \"", name, "\" (drawn under Other metrics)"));
          unknown_order.push_back(key);
        }
        series[key].push_back({step, value.get<double>()});
      }
    });
  } else {
    warnings.push_back(absl::StrCat(metrics_path.string(), ": missing (no training curves)"));
  }

  json charts = json::array();
  auto add_chart = [&](const std::string& name, const std::string& title, const std::string& unit,
                       const std::string& section,
                       const std::vector<std::pair<std::string, std::string>>& keys) {
    json s = json::array();
    size_t points = 0;
    for (const auto& key : keys) {
      auto it = series.find(key);
      json pts = it == series.end() ? json::array() : Thin(it->second);
      points += pts.size();
      s.push_back({{"label", Label(key.first, key.second)}, {"points", pts}});
    }
    charts.push_back(
        {{"name", name}, {"title", title}, {"unit", unit}, {"section", section}, {"series", s}});
    ++report.charts;
    report.charts_with_data += points > 0;
  };
  for (const ChartSpec& c : MainCharts()) add_chart(c.name, c.title, c.unit, "training", c.series);

  // Held-out evaluations during training, and `rlvr eval` results.
  json evals = json::array();
  std::vector<std::pair<double, double>> eval_pass;
  const fs::path eval_path = run / "eval.jsonl";
  if (fs::exists(eval_path)) {
    ReadJsonl(eval_path, &warnings, [&](int64_t line_no, const json& j) {
      if (!j.contains("eval") || !j["eval"].is_object()) {
        warnings.push_back(
            absl::StrCat(eval_path.string(), ":", line_no, ": no \"eval\" object (ignored)"));
        return;
      }
      const double step = j.value("step", 0.0);
      evals.push_back({{"label", absl::StrCat("training, step ", static_cast<int64_t>(step))},
                       {"step", step},
                       {"result", j["eval"]}});
      const json& e = j["eval"];
      if (e.contains("pass_at_1") && e["pass_at_1"].is_number()) {
        eval_pass.push_back({step, e["pass_at_1"].get<double>()});
      }
    });
  }
  series[{"eval", "pass_at_1"}] = eval_pass;
  add_chart("eval_pass_at_1", "Held-out pass@1 during training", "", "training",
            {{"eval", "pass_at_1"}});
  const fs::path eval_dir = run / "eval";
  if (fs::is_directory(eval_dir, ec)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(eval_dir, ec)) {
      if (entry.path().extension() == ".json") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      json j = json::parse(ReadAll(f), nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        warnings.push_back(absl::StrCat(f.string(), ": not a JSON object (ignored)"));
        continue;
      }
      // `rlvr eval` writes {"checkpoint"|"model", "step"?, "dataset", "result": {...}}.
      const json& result = j.contains("result") ? j["result"] : j;
      evals.push_back({{"label", j.value("label", f.stem().string())},
                       {"step", j.value("step", -1.0)},
                       {"result", result}});
    }
  }

  // Secondary metrics only where the run logged them: a run without a curriculum, dynamic
  // sampling or tools gets no empty charts for their counters.
  for (const auto& key : SecondaryMetrics()) {
    if (series.find(key) == series.end()) continue;
    add_chart(Label(key.first, key.second), Label(key.first, key.second), "", "more", {key});
  }
  for (const auto& key : unknown_order) {
    add_chart(Label(key.first, key.second), Label(key.first, key.second), "", "other", {key});
  }

  // Samples: the newest max_samples of samples.jsonl, then those kept by evaluations.
  json samples = json::array();
  const fs::path samples_path = run / "samples.jsonl";
  if (fs::exists(samples_path)) {
    std::vector<json> all;
    ReadJsonl(samples_path, &warnings, [&](int64_t, const json& j) { all.push_back(j); });
    const size_t from = all.size() > static_cast<size_t>(options.max_samples)
                            ? all.size() - options.max_samples
                            : 0;
    for (size_t i = from; i < all.size(); ++i) samples.push_back(all[i]);
  }
  if (samples.empty()) {
    for (const json& e : evals) {
      if (!e["result"].contains("samples_kept") || !e["result"]["samples_kept"].is_array())
        continue;
      for (json s : e["result"]["samples_kept"]) {
        if (!s.is_object()) continue;
        s["step"] = e["step"];
        s["tag"] = e["label"];
        samples.push_back(s);
      }
    }
  }
  for (json& e : evals) e["result"].erase("samples_kept");

  json summary = json::object();
  if (fs::exists(run / "summary.json")) {
    summary = json::parse(ReadAll(run / "summary.json"), nullptr, false);
    if (summary.is_discarded() || !summary.is_object()) {
      warnings.push_back(absl::StrCat((run / "summary.json").string(),
                                      ": not a JSON object (ignored; the run may still be going)"));
      summary = json::object();
    }
    summary.erase("eval_before");
    summary.erase("eval_after");
  }
  std::string config;
  if (fs::exists(run / "config.yaml")) config = ReadAll(run / "config.yaml");

  json data = {{"run", fs::absolute(run).lexically_normal().filename().string()},
               {"run_dir", options.run_dir},
               {"summary", summary},
               {"config", config},
               {"charts", charts},
               {"evals", evals},
               {"samples", samples},
               {"warnings", warnings}};
  if (data["run"] == "") data["run"] = fs::absolute(run).parent_path().filename().string();
  std::string payload = data.dump(-1, ' ', false, json::error_handler_t::replace);
  // Inside <script type="application/json">, only "</" could end the element early.
  payload = absl::StrReplaceAll(payload, {{"</", "<\\/"}});
  const std::string page = absl::StrReplaceAll(kDashboardPage, {{"__RLVR_DATA__", payload}});

  fs::create_directories(options.out_dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat(options.out_dir, ": ", ec.message()));
  report.path = (fs::path(options.out_dir) / "index.html").string();
  const std::string tmp = report.path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << page;
    out.close();
    if (!out) return absl::PermissionDeniedError(absl::StrCat(tmp, ": cannot write"));
  }
  fs::rename(tmp, report.path, ec);  // a reader never sees half a page
  if (ec) return absl::PermissionDeniedError(absl::StrCat(report.path, ": ", ec.message()));
  return report;
}

}  // namespace rlvr
