// `rlvr bench verify-math`: single-thread throughput of the math verifier against
// math-verify (PyPI) on the same inputs in the same run, their agreement, and every
// disagreement. Prints one JSON object.
//
//   rlvr bench verify-math [--cases FILE] [--python PY] [--peer SCRIPT] [--min-seconds S]
//
// Inputs: the JSONL cases file ({gold, completion, expected?, source?}); cases with a
// "spec" or "config" (multiple choice, non-default options) are left out because
// math-verify has no equivalent. Where a case states its expected verdict, both
// graders' accuracy against it is reported too.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"
#include "verifiers/registry.h"

namespace rlvr::cli {
namespace {

using nlohmann::json;

struct BenchFlags {
  std::string cases = std::string(RLVR_SOURCE_DIR) + "/verifiers/math/testdata/cases.jsonl";
  std::string python = RLVR_PYTHON;
  std::string peer = std::string(RLVR_SOURCE_DIR) + "/verifiers/math/bench/math_verify_peer.py";
  double min_seconds = 2.0;
};

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

absl::Status RunBench(const BenchFlags& f) {
  std::ifstream in(f.cases);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open --cases ", f.cases));
  std::vector<json> cases;
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json c = json::parse(line, nullptr, false);
    if (c.is_discarded() || !c.is_object() || !c.contains("gold") || !c["gold"].is_string() ||
        !c.contains("completion") || !c["completion"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(f.cases, ":", n, ": need an object with string gold and completion"));
    }
    if (c.contains("spec") || c.contains("config")) continue;
    c["line"] = n;
    cases.push_back(std::move(c));
  }
  if (cases.empty()) return absl::InvalidArgumentError(absl::StrCat(f.cases, ": no cases"));

  auto verifier = BuiltinVerifiers().Create("math", json::object());
  if (!verifier.ok()) return verifier.status();
  std::vector<VerifyRequest> requests(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    requests[i].answer = cases[i]["gold"].get<std::string>();
    requests[i].completion = cases[i]["completion"].get<std::string>();
  }
  // rlvr: one pass for the verdicts, then timed passes for at least min_seconds.
  std::vector<Reward> rewards(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    auto r = (*verifier)->Verify(requests[i]);
    if (r.ok()) {
      rewards[i] = *r;
    } else {
      rewards[i].verdict = "error: " + std::string(r.status().message());
    }
  }
  int64_t calls = 0;
  std::vector<double> latencies;
  const auto start = std::chrono::steady_clock::now();
  double rlvr_seconds = 0;
  do {
    for (const VerifyRequest& r : requests) {
      const auto t = std::chrono::steady_clock::now();
      (void)(*verifier)->Verify(r);
      latencies.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
    }
    calls += static_cast<int64_t>(requests.size());
    rlvr_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (rlvr_seconds < f.min_seconds);
  std::nth_element(latencies.begin(), latencies.begin() + latencies.size() / 2, latencies.end());
  const double rlvr_median_ms = 1000 * latencies[latencies.size() / 2];
  const double rlvr_rate = calls / rlvr_seconds;

  // math-verify in a subprocess on the same inputs.
  const std::string dir =
      (std::filesystem::temp_directory_path() / absl::StrCat("rlvr_bench_math_", getpid()))
          .string();
  std::filesystem::create_directories(dir);
  const std::string peer_in = dir + "/inputs.jsonl", peer_out = dir + "/peer.json";
  {
    std::ofstream o(peer_in);
    for (const json& c : cases)
      o << json{{"gold", c["gold"]}, {"completion", c["completion"]}}.dump() << "\n";
  }
  const std::string cmd =
      absl::StrCat(ShellQuote(f.python), " ", ShellQuote(f.peer), " --input ", ShellQuote(peer_in),
                   " --output ", ShellQuote(peer_out), " --min-seconds ", f.min_seconds);
  const int rc = std::system(cmd.c_str());
  json peer;
  {
    std::ifstream p(peer_out);
    if (rc != 0 || !p) {
      std::filesystem::remove_all(dir);
      return absl::FailedPreconditionError(
          absl::StrCat("math-verify peer failed (exit ", rc, "): ", cmd,
                       " (is math-verify installed in --python?)"));
    }
    peer = json::parse(p, nullptr, false);
  }
  std::filesystem::remove_all(dir);
  if (peer.is_discarded() || !peer.contains("results") || peer["results"].size() != cases.size())
    return absl::InternalError("math-verify peer wrote an unreadable result");

  int agree = 0, rlvr_right = 0, peer_right = 0, labelled = 0;
  json disagreements = json::array();
  for (size_t i = 0; i < cases.size(); ++i) {
    const bool ours = rewards[i].verdict == "correct";
    const json& pv = peer["results"][i];
    const bool theirs = pv.is_boolean() && pv.get<bool>();
    const std::string expected = cases[i].value("expected", "");
    if (!expected.empty()) {
      ++labelled;
      const bool want = expected == "correct";
      rlvr_right += ours == want;
      peer_right += theirs == want;
    }
    if (ours == theirs) {
      ++agree;
      continue;
    }
    json d = {{"line", cases[i]["line"]},
              {"source", cases[i].value("source", "")},
              {"gold", cases[i]["gold"]},
              {"completion", cases[i]["completion"].get<std::string>().substr(0, 300)},
              {"rlvr", rewards[i].verdict},
              {"rlvr_extracted", rewards[i].details.value("extracted", "")},
              {"math_verify", pv}};
    if (!expected.empty()) {
      d["expected"] = expected;
      d["right"] = (ours == (expected == "correct")) ? "rlvr" : "math_verify";
    }
    if (cases[i].contains("note")) d["note"] = cases[i]["note"];
    disagreements.push_back(std::move(d));
  }
  const double peer_rate = peer.value("per_second", 0.0);
  json report = {
      {"benchmark", "verify-math"},
      {"cases", cases.size()},
      {"rlvr",
       {{"per_second", rlvr_rate},
        {"median_ms", rlvr_median_ms},
        {"calls", calls},
        {"seconds", rlvr_seconds}}},
      {"math_verify",
       {{"version", peer.value("version", "")},
        {"per_second", peer_rate},
        {"median_ms", peer.value("median_ms", 0.0)},
        {"calls", peer.value("calls", 0)},
        {"seconds", peer.value("seconds", 0.0)}}},
      {"speedup", peer_rate > 0 ? rlvr_rate / peer_rate : 0.0},
      {"median_latency_ratio",
       rlvr_median_ms > 0 ? peer.value("median_ms", 0.0) / rlvr_median_ms : 0.0},
      {"agreement", static_cast<double>(agree) / cases.size()},
      {"labelled_cases", labelled},
      {"rlvr_accuracy_vs_expected", labelled ? static_cast<double>(rlvr_right) / labelled : 0.0},
      {"math_verify_accuracy_vs_expected",
       labelled ? static_cast<double>(peer_right) / labelled : 0.0},
      {"disagreements", disagreements}};
  std::cout << report.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddBenchVerifyMath(CLI::App& bench) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* cmd = bench.add_subcommand(
      "verify-math", "Math verifier throughput and agreement vs math-verify (single thread)");
  cmd->add_option("--cases", flags->cases, "JSONL cases {gold, completion, expected?}")
      ->capture_default_str();
  cmd->add_option("--python", flags->python, "Python with math-verify installed")
      ->capture_default_str();
  cmd->add_option("--peer", flags->peer, "The math-verify peer script")->capture_default_str();
  cmd->add_option("--min-seconds", flags->min_seconds, "Minimum timed seconds per grader")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->callback([flags] {
    const int rc = ReportStatus("bench verify-math", RunBench(*flags));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
