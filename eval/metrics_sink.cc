#include "eval/metrics_sink.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/status_macros.h"
#include "eval/prometheus_sink.h"
#include "eval/tensorboard_sink.h"
#include "nlohmann/json.hpp"

namespace rlvr {
namespace {

namespace fs = std::filesystem;

// Completions may hold invalid UTF-8 (byte-level tokens): replace, never throw.
std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<std::unique_ptr<std::ofstream>> OpenAppend(const fs::path& path) {
  // A run killed mid-write leaves a last line without its newline: end it, so that
  // the next record starts a line of its own (readers skip the cut-off one).
  bool cut_off = false;
  {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (in && in.tellg() > 0) {
      in.seekg(-1, std::ios::end);
      cut_off = in.get() != '\n';
    }
  }
  auto out = std::make_unique<std::ofstream>(path, std::ios::app);
  if (!*out) return absl::PermissionDeniedError(absl::StrCat(path.string(), ": cannot open"));
  if (cut_off) *out << "\n";
  return out;
}

class JsonlSink final : public MetricsSink {
 public:
  JsonlSink(fs::path dir, std::unique_ptr<std::ofstream> metrics,
            std::unique_ptr<std::ofstream> histograms, std::unique_ptr<std::ofstream> samples)
      : dir_(std::move(dir)),
        metrics_(std::move(metrics)),
        histograms_(std::move(histograms)),
        samples_(std::move(samples)) {}

  absl::Status AddScalars(const ScalarRecord& record) override {
    nlohmann::json j = {{"phase", record.phase}, {"step", record.step}};
    for (const auto& [name, value] : record.values) j[name] = value;
    return Write(*metrics_, "metrics.jsonl", j);
  }

  absl::Status AddHistogram(int64_t step, const std::string& tag,
                            const std::vector<double>& values) override {
    nlohmann::json buckets = nlohmann::json::array();
    for (const auto& [hi, n] : Bucketize(values)) buckets.push_back({hi, n});
    double sum = 0;
    for (double v : values) sum += v;
    nlohmann::json j = {
        {"step", step}, {"tag", tag}, {"count", values.size()}, {"sum", sum}, {"buckets", buckets}};
    if (!values.empty()) {
      j["min"] = *std::min_element(values.begin(), values.end());
      j["max"] = *std::max_element(values.begin(), values.end());
    }
    return Write(*histograms_, "histograms.jsonl", j);
  }

  absl::Status AddSamples(int64_t step, const std::string& tag,
                          const std::vector<TextSample>& samples) override {
    for (const TextSample& s : samples) {
      RETURN_IF_ERROR(Write(*samples_, "samples.jsonl",
                            {{"step", step},
                             {"tag", tag},
                             {"task_id", s.task_id},
                             {"prompt", s.prompt},
                             {"completion", s.completion},
                             {"verdict", s.verdict},
                             {"reward", s.reward}}));
    }
    return absl::OkStatus();
  }

  absl::Status Flush() override {
    metrics_->flush();
    histograms_->flush();
    samples_->flush();
    if (!*metrics_ || !*histograms_ || !*samples_) {
      return absl::DataLossError(absl::StrCat(dir_.string(), ": cannot write the JSONL files"));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Write(std::ofstream& out, const char* name, const nlohmann::json& j) {
    out << Dump(j) << "\n";
    out.flush();  // a reader (the dashboard, tail -f) sees whole lines as they come
    if (!out) return absl::DataLossError(absl::StrCat((dir_ / name).string(), ": cannot write"));
    return absl::OkStatus();
  }

  fs::path dir_;
  std::unique_ptr<std::ofstream> metrics_, histograms_, samples_;
};

class CsvSink final : public MetricsSink {
 public:
  explicit CsvSink(fs::path dir) : dir_(std::move(dir)) {}

  absl::Status AddScalars(const ScalarRecord& record) override {
    Table& t = tables_[record.phase];
    const fs::path path = dir_ / absl::StrCat("metrics_", record.phase, ".csv");
    if (!t.out) {
      // Appending after a resume: keep the columns of the existing header.
      std::ifstream existing(path);
      std::string header;
      if (existing && std::getline(existing, header) && !header.empty()) {
        std::vector<std::string> cols = absl::StrSplit(header, ',');
        t.columns.assign(cols.begin() + 1, cols.end());
      }
      ASSIGN_OR_RETURN(t.out, OpenAppend(path));
      if (header.empty()) {
        for (const auto& [name, value] : record.values) t.columns.push_back(name);
        *t.out << "step";
        for (const std::string& c : t.columns) *t.out << "," << c;
        *t.out << "\n";
      }
    }
    std::map<std::string, double> by_name(record.values.begin(), record.values.end());
    *t.out << record.step;
    for (const std::string& c : t.columns) {
      *t.out << ",";
      auto it = by_name.find(c);
      if (it != by_name.end()) *t.out << absl::StrFormat("%.9g", it->second);
    }
    *t.out << "\n";
    t.out->flush();
    if (!*t.out) return absl::DataLossError(absl::StrCat(path.string(), ": cannot write"));
    return absl::OkStatus();
  }

  absl::Status AddHistogram(int64_t, const std::string&, const std::vector<double>&) override {
    return absl::OkStatus();
  }
  absl::Status AddSamples(int64_t, const std::string&, const std::vector<TextSample>&) override {
    return absl::OkStatus();
  }
  absl::Status Flush() override {
    for (auto& [phase, t] : tables_) t.out->flush();
    return absl::OkStatus();
  }

 private:
  struct Table {
    std::vector<std::string> columns;
    std::unique_ptr<std::ofstream> out;
  };
  fs::path dir_;
  std::map<std::string, Table> tables_;
};

class FanOutSink final : public MetricsSink {
 public:
  explicit FanOutSink(std::vector<std::unique_ptr<MetricsSink>> sinks) : sinks_(std::move(sinks)) {}

  absl::Status AddScalars(const ScalarRecord& r) override {
    return Each([&](MetricsSink& s) { return s.AddScalars(r); });
  }
  absl::Status AddHistogram(int64_t step, const std::string& tag,
                            const std::vector<double>& values) override {
    return Each([&](MetricsSink& s) { return s.AddHistogram(step, tag, values); });
  }
  absl::Status AddSamples(int64_t step, const std::string& tag,
                          const std::vector<TextSample>& samples) override {
    return Each([&](MetricsSink& s) { return s.AddSamples(step, tag, samples); });
  }
  absl::Status Flush() override {
    return Each([&](MetricsSink& s) { return s.Flush(); });
  }

 private:
  template <typename F>
  absl::Status Each(F f) {
    absl::Status first;
    for (auto& s : sinks_) first.Update(f(*s));
    return first;
  }
  std::vector<std::unique_ptr<MetricsSink>> sinks_;
};

absl::Status MakeDir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat(dir.string(), ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

std::vector<std::pair<double, int64_t>> Bucketize(const std::vector<double>& values, int buckets) {
  std::vector<std::pair<double, int64_t>> out;
  std::vector<double> finite;
  for (double v : values) {
    if (std::isfinite(v)) finite.push_back(v);
  }
  if (finite.empty()) return out;
  const double lo = *std::min_element(finite.begin(), finite.end());
  const double hi = *std::max_element(finite.begin(), finite.end());
  if (lo == hi || buckets <= 1) {
    out.push_back({hi, static_cast<int64_t>(finite.size())});
    return out;
  }
  const double width = (hi - lo) / buckets;
  for (int i = 0; i < buckets; ++i)
    out.push_back({i + 1 == buckets ? hi : lo + width * (i + 1), 0});
  for (double v : finite) {
    int i = static_cast<int>((v - lo) / width);
    i = std::clamp(i, 0, buckets - 1);
    // Buckets are (lower, upper]: a value on an edge belongs to the lower bucket.
    if (i > 0 && v <= out[i - 1].first) --i;
    out[i].second++;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<MetricsSink>> OpenJsonlSink(const std::string& dir) {
  RETURN_IF_ERROR(MakeDir(dir));
  ASSIGN_OR_RETURN(auto metrics, OpenAppend(fs::path(dir) / "metrics.jsonl"));
  ASSIGN_OR_RETURN(auto histograms, OpenAppend(fs::path(dir) / "histograms.jsonl"));
  ASSIGN_OR_RETURN(auto samples, OpenAppend(fs::path(dir) / "samples.jsonl"));
  return std::unique_ptr<MetricsSink>(
      new JsonlSink(dir, std::move(metrics), std::move(histograms), std::move(samples)));
}

absl::StatusOr<std::unique_ptr<MetricsSink>> OpenCsvSink(const std::string& dir) {
  RETURN_IF_ERROR(MakeDir(dir));
  return std::unique_ptr<MetricsSink>(new CsvSink(dir));
}

std::unique_ptr<MetricsSink> FanOut(std::vector<std::unique_ptr<MetricsSink>> sinks) {
  return std::make_unique<FanOutSink>(std::move(sinks));
}

absl::StatusOr<RunSinks> OpenRunSinks(const ExportOptions& options) {
  std::vector<std::unique_ptr<MetricsSink>> sinks;
  RunSinks out;
  if (options.jsonl) {
    ASSIGN_OR_RETURN(auto s, OpenJsonlSink(options.dir));
    sinks.push_back(std::move(s));
  }
  if (options.csv) {
    ASSIGN_OR_RETURN(auto s, OpenCsvSink(options.dir));
    sinks.push_back(std::move(s));
  }
  if (options.tensorboard) {
    ASSIGN_OR_RETURN(auto s, OpenTensorBoardSink((fs::path(options.dir) / "tensorboard").string()));
    sinks.push_back(std::move(s));
  }
  if (options.prometheus_port >= 0) {
    PrometheusOptions p;
    p.address = options.prometheus_address;
    p.port = options.prometheus_port;
    p.run_name = options.run_name;
    ASSIGN_OR_RETURN(std::unique_ptr<PrometheusSink> s, PrometheusSink::Create(p));
    out.prometheus_port = s->port();
    sinks.push_back(std::move(s));
  }
  out.sink = FanOut(std::move(sinks));
  return out;
}

}  // namespace rlvr
