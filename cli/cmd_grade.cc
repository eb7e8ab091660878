// `rlvr grade`: grades a JSONL file of completions with any registered verifier.
//
//   rlvr grade --verifier math --input IN.jsonl --output OUT.jsonl [--threads N]
//              [--config FILE] [key=value ...]
//
// Input line: {"id"?: str|int, "completion": str, "answer"?: str|number,
// "completion_tokens"?: int, ...verifier-specific fields}; the whole object is the
// request's spec. Output line (same order): the input plus "reward", "verdict" and the
// verifier's details (for math: "extracted", "normalized", "gold_normalized", ...).
// A malformed line yields {"line", "verdict": "bad_input", "reward": 0, "reason"} and
// grading goes on. A summary goes to stderr. The exit code is non-zero only when the
// files or the config are unusable.
//
// Config: the `verifier:` block of the YAML file if it has one, else the whole file;
// `key=value` overrides apply to the file (e.g. `verifier.rel_tol=1e-6`).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "nlohmann/json.hpp"
#include "verifiers/registry.h"

namespace rlvr::cli {
namespace {

using nlohmann::json;

struct GradeFlags {
  std::string verifier;
  std::string input;
  std::string output;
  int threads = 0;  // 0: one per core
  std::string config;
  std::vector<std::string> overrides;
};

// A bad_input record: the input object's fields (if it was one) plus the verdict.
json BadInput(int64_t line, const std::string& reason, json base = json::object()) {
  base["line"] = line;
  base["verdict"] = "bad_input";
  base["reward"] = 0.0;
  base["reason"] = absl::StrCat("line ", line, ": ", reason);
  return base;
}

// Grades one input line (never throws).
json GradeLine(const Verifier& verifier, const std::string& text, int64_t line) {
  json in = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (in.is_discarded()) return BadInput(line, "invalid JSON");
  if (!in.is_object()) return BadInput(line, "not a JSON object");
  VerifyRequest request;
  if (!in.contains("completion")) return BadInput(line, "field \"completion\" is missing", in);
  if (!in["completion"].is_string())
    return BadInput(line, "field \"completion\" must be a string", in);
  request.completion = in["completion"].get<std::string>();
  if (in.contains("answer")) {
    const json& a = in["answer"];
    if (a.is_string()) {
      request.answer = a.get<std::string>();
    } else if (a.is_number()) {
      request.answer = a.dump();
    } else {
      return BadInput(line, "field \"answer\" must be a string or a number", in);
    }
  }
  if (in.contains("id")) {
    const json& id = in["id"];
    if (!id.is_string() && !id.is_number())
      return BadInput(line, "field \"id\" must be a string or a number", in);
    request.id = id.is_string() ? id.get<std::string>() : id.dump();
  }
  if (in.contains("completion_tokens")) {
    if (!in["completion_tokens"].is_number_integer())
      return BadInput(line, "field \"completion_tokens\" must be an integer", in);
    request.completion_tokens = in["completion_tokens"].get<int64_t>();
  }
  request.spec = in;
  absl::StatusOr<Reward> reward;
  try {
    reward = verifier.Verify(request);
  } catch (const std::exception& e) {
    reward = absl::InternalError(absl::StrCat("verifier failed: ", e.what()));
  }
  json out = std::move(in);
  if (!reward.ok()) {
    const bool bad = reward.status().code() == absl::StatusCode::kInvalidArgument;
    out["line"] = line;
    out["verdict"] = bad ? "bad_input" : "error";
    out["reward"] = 0.0;
    out["reason"] = absl::StrCat("line ", line, ": ", std::string(reward.status().message()));
    return out;
  }
  if (reward->details.is_object()) {
    for (const auto& [k, v] : reward->details.items()) out[k] = v;
  }
  out["reward"] = std::isfinite(reward->score) ? reward->score : 0.0;
  out["verdict"] = reward->verdict;
  return out;
}

absl::StatusOr<nlohmann::json> VerifierConfig(const GradeFlags& f) {
  if (f.config.empty() && f.overrides.empty()) return json::object();
  absl::StatusOr<Config> config = LoadConfig(f.config, f.overrides, "{}", "<no config>");
  if (!config.ok()) return config.status();
  json doc = config->ToJson();
  if (doc.is_object() && doc.contains("verifier")) return doc["verifier"];
  return doc.is_null() ? json::object() : doc;
}

absl::Status RunGrade(const GradeFlags& f) {
  absl::StatusOr<json> vconfig = VerifierConfig(f);
  if (!vconfig.ok()) return vconfig.status();
  absl::StatusOr<std::unique_ptr<Verifier>> verifier =
      BuiltinVerifiers().Create(f.verifier, *vconfig);
  if (!verifier.ok()) return verifier.status();
  std::ifstream in(f.input);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open --input ", f.input));
  std::ofstream out(f.output, std::ios::trunc);
  if (!out) return absl::InvalidArgumentError(absl::StrCat("cannot write --output ", f.output));
  const int threads = f.threads > 0
                          ? f.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

  std::map<std::string, int64_t> by_verdict;
  int64_t records = 0;
  int64_t line_no = 0;
  const auto start = std::chrono::steady_clock::now();
  constexpr size_t kChunk = 4096;
  std::vector<std::pair<int64_t, std::string>> chunk;
  std::vector<json> results;
  bool eof = false;
  while (!eof) {
    chunk.clear();
    std::string line;
    while (chunk.size() < kChunk) {
      if (!std::getline(in, line)) {
        eof = true;
        break;
      }
      ++line_no;
      if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;  // blank
      chunk.emplace_back(line_no, line);
    }
    if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", f.input));
    results.assign(chunk.size(), json());
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i = next++; i < chunk.size(); i = next++) {
        results[i] = GradeLine(**verifier, chunk[i].second, chunk[i].first);
      }
    };
    std::vector<std::thread> pool;
    const int n = std::min<int>(threads, static_cast<int>(chunk.size()));
    for (int t = 1; t < n; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    for (const json& r : results) {
      out << r.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      by_verdict[r.value("verdict", "")]++;
      ++records;
    }
    if (!out) return absl::DataLossError(absl::StrCat("error writing ", f.output));
  }
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("error writing ", f.output));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  json summary = {{"records", records},
                  {"verdicts", by_verdict},
                  {"threads", threads},
                  {"seconds", seconds},
                  {"per_second", seconds > 0 ? records / seconds : 0.0}};
  std::cerr << "rlvr grade: " << summary.dump() << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddGradeCommand(CLI::App& app) {
  auto flags = std::make_shared<GradeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "grade", "Grade a JSONL file of completions with a verifier (output in input order)");
  cmd->add_option("--verifier", flags->verifier, "Verifier name, e.g. math")->required();
  cmd->add_option("--input", flags->input, "Input JSONL: {id?, completion, answer?, ...}")
      ->required();
  cmd->add_option("--output", flags->output, "Output JSONL: input + reward, verdict, details")
      ->required();
  cmd->add_option("--threads", flags->threads, "Worker threads (0: one per core)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--config", flags->config,
                  "YAML config: its `verifier:` block (or the whole file) configures the verifier");
  cmd->add_option("overrides", flags->overrides, "key=value config overrides");
  cmd->callback([flags] {
    const int rc = ReportStatus("grade", RunGrade(*flags));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
