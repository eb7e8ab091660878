// `rlvr bench tokenizer`: single-threaded encode throughput of rlvr's tokenizer against
// HF `tokenizers` (run as a Python subprocess on the identical text, one Rayon thread,
// encode_batch, only the encode timed), printed as one JSON object. Both wall-clock and
// CPU-time rates are reported; the ratio uses CPU time, which stays meaningful on a
// machine shared with other work.
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/status_macros.h"
#include "core/tokenizer.h"
#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"

namespace rlvr::cli {
namespace {

namespace fs = std::filesystem;

struct BenchOptions {
  std::string tokenizer;  // "" = the shared Qwen3 tokenizer when present, else built-in
  double mb = 8;
  std::string input;   // text file to use instead of the generated text
  std::string python;  // "" = $RLVR_PYTHON, else the build's venv python
};

// The peer: HF tokenizers on the same lines, one thread.
constexpr char kPeerScript[] = R"(
import json, os, sys, time
from tokenizers import Tokenizer
path = sys.argv[1]
if os.path.isdir(path):
    path = os.path.join(path, "tokenizer.json")
tok = Tokenizer.from_file(path)
with open(sys.argv[2], encoding="utf-8", newline="") as f:
    lines = f.read().split("\n")
tok.encode_batch(lines[:200], add_special_tokens=False)
cpu = time.process_time()
start = time.perf_counter()
encodings = tok.encode_batch(lines, add_special_tokens=False)
seconds = time.perf_counter() - start
cpu = time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu,
                  "tokens": sum(len(e.ids) for e in encodings)}))
)";

// Lines of mixed text (prose, code, math, Chinese, numbers) with random substitutions,
// so that the word cache sees a realistic mix of repeated and new words.
std::vector<std::string> GenerateLines(size_t bytes) {
  static const char* const kTemplates[] = {
      "The {w} of the {w} is {n}, which means the {w} has {n} {w} in total.",
      "Question: If {W} has {n} apples and gives {n} to {W}, how many are left? Answer: {n}.",
      "def {w}_{w}(x, y):\n    return x * {n} + y - {n}  # {w} {w}",
      "for (int i = 0; i < {n}; ++i) {{ {w}[i] = {w}(i) + {n}; }}",
      "We compute $\\frac{{{n}}}{{{n}}} + \\sqrt{{{n}}} = {n}.{n}$, so the answer is "
      "\\boxed{{{n}}}.",
      "In {n}, {W} {w} the {w} and {w}'s {w} wasn't {w} enough; they'd {w} it again.",
      "\u5728{n}\u5e74\uff0c{W}"
      "\u7814\u7a76\u4e86\u5927\u8bed\u8a00\u6a21\u578b\u7684\u8bad\u7ec3\u65b9\u6cd5\uff0c\u7ed3"
      "\u679c\u663e\u793a\u51c6\u786e\u7387\u8fbe\u5230{n}%\u3002",
      "<|im_start|>user\nWhat is {n} + {n}?<|im_end|>\n<|im_start|>assistant\n{n}<|im_end|>",
      "    if {w} is not None and len({w}) > {n}:\n        raise ValueError(f\"{w}: {{{w}}}\")",
      "SELECT {w}, COUNT(*) FROM {w} WHERE {w} > {n} GROUP BY {w};",
  };
  static const char* const kWords[] = {
      "model",  "token",    "reward", "policy",  "gradient",  "value",   "sample", "batch",
      "layer",  "weights",  "answer", "problem", "student",   "teacher", "number", "result",
      "vector", "function", "string", "matrix",  "learning",  "rate",    "loss",   "step",
      "apple",  "train",    "window", "context", "attention", "kernel",  "thread", "buffer"};
  std::mt19937 rng(1234);
  std::vector<std::string> lines;
  size_t total = 0;
  while (total < bytes) {
    const std::string tmpl = kTemplates[rng() % (sizeof(kTemplates) / sizeof(kTemplates[0]))];
    std::string line;
    for (size_t i = 0; i < tmpl.size(); ++i) {
      if (tmpl.compare(i, 3, "{w}") == 0 || tmpl.compare(i, 3, "{W}") == 0) {
        std::string w = kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
        if (rng() % 4 == 0) w += kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
        if (tmpl[i + 1] == 'W') w[0] = static_cast<char>(w[0] - 'a' + 'A');
        line += w;
        i += 2;
      } else if (tmpl.compare(i, 3, "{n}") == 0) {
        line += std::to_string(rng() % (rng() % 2 ? 100 : 1000000));
        i += 2;
      } else if (tmpl.compare(i, 2, "{{") == 0 || tmpl.compare(i, 2, "}}") == 0) {
        line.push_back(tmpl[i]);
        ++i;
      } else {
        line.push_back(tmpl[i]);
      }
    }
    total += line.size() + 1;
    lines.push_back(std::move(line));
  }
  return lines;
}

std::string DefaultTokenizer() {
  const std::string qwen = std::string(RLVR_SHARED_DIR) + "/fixtures/qwen3-tokenizer";
  std::error_code ec;
  return fs::exists(qwen + "/tokenizer.json", ec) ? qwen : "builtin";
}

absl::Status Bench(const BenchOptions& opts) {
  const std::string tok_path = opts.tokenizer.empty() ? DefaultTokenizer() : opts.tokenizer;
  absl::StatusOr<Tokenizer> loaded = tok_path == "builtin"
                                         ? absl::StatusOr<Tokenizer>(Tokenizer::Builtin())
                                         : Tokenizer::FromFile(tok_path);
  if (!loaded.ok()) return loaded.status();
  const Tokenizer& tok = *loaded;

  std::vector<std::string> lines;
  if (!opts.input.empty()) {
    std::ifstream in(opts.input, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat(opts.input, ": cannot open"));
    std::stringstream ss;
    ss << in.rdbuf();
    lines = absl::StrSplit(ss.str(), '\n');
  } else {
    if (!(opts.mb > 0 && opts.mb <= 4096)) {
      return absl::InvalidArgumentError("--mb: expected a value in (0, 4096]");
    }
    // Split again at every newline, as the peer does, so both encode the same lines.
    lines = absl::StrSplit(
        absl::StrJoin(GenerateLines(static_cast<size_t>(opts.mb * 1024 * 1024)), "\n"), '\n');
  }
  size_t bytes = 0;
  for (const std::string& l : lines) bytes += l.size();

  // rlvr, one thread; the same warm-up as the peer.
  std::vector<int32_t> ids;
  for (size_t i = 0; i < std::min<size_t>(200, lines.size()); ++i) tok.Encode(lines[i]);
  size_t tokens = 0;
  const std::clock_t cpu_start = std::clock();
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& l : lines) {
    ids.clear();
    tok.EncodeAppend(l, false, &ids);
    tokens += ids.size();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  const double mb = static_cast<double>(bytes) / (1024 * 1024);

  nlohmann::ordered_json result;
  result["benchmark"] = "tokenizer";
  result["tokenizer"] = tok_path;
  result["mb"] = mb;
  result["lines"] = lines.size();
  result["threads"] = 1;
  result["rlvr_tokens"] = tokens;
  result["rlvr_seconds"] = seconds;
  result["rlvr_mb_per_s"] = mb / seconds;
  result["rlvr_cpu_seconds"] = cpu_seconds;
  result["rlvr_cpu_mb_per_s"] = mb / cpu_seconds;

  // The peer, on the identical text.
  std::string python = opts.python;
  if (python.empty()) {
    const char* env = getenv("RLVR_PYTHON");
    python = env != nullptr ? env : RLVR_PYTHON;
  }
  std::string dir_template = (fs::temp_directory_path() / "rlvr_bench_tok_XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr) {
    return absl::UnavailableError("cannot create a temporary directory");
  }
  const fs::path dir = dir_template;
  {
    std::ofstream(dir / "peer.py") << kPeerScript;
    std::ofstream text(dir / "text.txt", std::ios::binary);
    text << absl::StrJoin(lines, "\n");
  }
  const std::string peer_path = tok_path == "builtin" ? (dir / "builtin").string() : tok_path;
  if (tok_path == "builtin") RETURN_IF_ERROR(tok.Save(peer_path));
  const std::string cmd = absl::StrCat("RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false '", python,
                                       "' '", (dir / "peer.py").string(), "' '", peer_path, "' '",
                                       (dir / "text.txt").string(), "'");
  std::string peer_out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe != nullptr) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) peer_out.append(buf, n);
    const int rc = pclose(pipe);
    if (rc != 0) peer_out.clear();
  }
  fs::remove_all(dir);
  try {
    const nlohmann::json peer = nlohmann::json::parse(peer_out);
    const double hf_seconds = peer.at("seconds").get<double>();
    result["hf_tokens"] = peer.at("tokens");
    result["hf_seconds"] = hf_seconds;
    const double hf_cpu = peer.at("cpu_seconds").get<double>();
    result["hf_mb_per_s"] = mb / hf_seconds;
    result["hf_cpu_seconds"] = hf_cpu;
    result["hf_cpu_mb_per_s"] = mb / hf_cpu;
    result["ratio_rlvr_over_hf"] = hf_cpu / cpu_seconds;
    result["ratio_rlvr_over_hf_wall"] = hf_seconds / seconds;
    result["same_token_count"] = peer.at("tokens").get<size_t>() == tokens;
  } catch (const nlohmann::json::exception&) {
    result["hf_error"] = absl::StrCat("the HF peer did not run (", python,
                                      " with the tokenizers package is needed)");
  }
  std::cout << result.dump(2) << std::endl;
  return absl::OkStatus();
}

}  // namespace

void AddBenchTokenizer(CLI::App& bench) {
  auto opts = std::make_shared<BenchOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "tokenizer", "Single-threaded encode MB/s of rlvr vs HF tokenizers on the same text");
  cmd->add_option("--tokenizer", opts->tokenizer,
                  "tokenizer.json, a directory, or 'builtin' (default: the shared Qwen3 "
                  "tokenizer when present, else builtin)");
  cmd->add_option("--mb", opts->mb, "MB of generated text")->capture_default_str();
  cmd->add_option("--input", opts->input, "Benchmark on the lines of this text file instead");
  cmd->add_option("--python", opts->python,
                  "Python with the tokenizers package (default: $RLVR_PYTHON or the build's)");
  cmd->callback([opts] {
    const int rc = ReportStatus("bench tokenizer", Bench(*opts));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
