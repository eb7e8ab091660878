// `rlvr bench learner`: forward+backward tokens/s of the training path on a
// Qwen-shaped ~50M-parameter model at several micro-batch sizes, its MFU against
// the float32 GEMM peak measured in the same run, and the same step in Python
// PyTorch eager (transformers' Qwen3 on identical weights and tokens), as JSON.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "cli/bench_util.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/model.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"

namespace rlvr::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kPeerScript[] = R"(
import json, statistics, sys, time, torch
from transformers import AutoModelForCausalLM
model_dir, ids_path, reps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32, attn_implementation="sdpa")
model.train()
out = []
for batch in json.load(open(ids_path)):
    ids = torch.tensor(batch, dtype=torch.long)
    inputs, targets = ids[:, :-1], ids[:, 1:]
    def step():
        model.zero_grad(set_to_none=True)
        logits = model(input_ids=inputs).logits
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        (-logp.mean()).backward()
    step()
    wall, cpu = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    out.append({"best": min(wall), "median": statistics.median(wall), "cpu": statistics.median(cpu)})
print(json.dumps(out))
)";

// Seconds of one step: the best and the median wall time over the repetitions
// (the best is the least disturbed by other work on a shared machine) and the
// median process CPU time.
struct StepTimes {
  double best = 0, median = 0, cpu = 0;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Float32 GEMM FLOPs per second of process CPU time: the best of 20 timings of a
// 1024 x 1024 x 1024 torch::mm. Unlike wall time, CPU time does not count the
// time the process waits for a core on a shared machine (with more than one
// thread it does count OpenMP threads spinning at barriers).
double MeasureGemmPeakCpuFlops() {
  torch::InferenceMode guard;
  const int64_t n = 1024;
  torch::Tensor a = torch::randn({n, n}), b = torch::randn({n, n});
  torch::mm(a, b);  // warm-up
  double best = 0;
  for (int i = 0; i < 20; ++i) {
    const double start = ProcessCpuSeconds();
    torch::Tensor c = torch::mm(a, b);
    best = std::max(best, 2.0 * n * n * n / (ProcessCpuSeconds() - start));
  }
  return best;
}

absl::Status BenchLearner(int64_t seq_len, const std::vector<int64_t>& batch_sizes, int reps,
                          int threads, bool peer) {
  if (reps < 1) return absl::InvalidArgumentError("--reps must be at least 1");
  if (threads > 0) at::set_num_threads(threads);
  threads = at::get_num_threads();
  const ModelConfig config = BenchModelConfig();
  RETURN_IF_ERROR(config.Validate("bench config"));
  ASSIGN_OR_RETURN(Transformer model, Transformer::RandomInit(config, 0, {.requires_grad = true}));
  const double params = static_cast<double>(config.NumParameters());
  // Matmul FLOPs per token, forward+backward: 6 x (non-embedding matmul weights +
  // the output projection) + attention scores and values (12 x layers x T x heads x d).
  // The embedding lookup is no matmul; with tied embeddings the table is the output
  // projection and counts once.
  const double matmul_params =
      params - (config.tie_word_embeddings
                    ? 0.0
                    : static_cast<double>(config.vocab_size) * config.hidden_size);
  // The peak is measured before and after the steps and the higher one kept, so a
  // load spike during one measurement does not inflate the MFU.
  double peak = MeasureGemmPeakFlops();
  double cpu_peak = MeasureGemmPeakCpuFlops();

  const fs::path dir = fs::temp_directory_path() / absl::StrCat("rlvr_bench_learner_", getpid());
  fs::create_directories(dir);
  torch::manual_seed(1);
  nlohmann::json batches = nlohmann::json::array();
  nlohmann::json results = nlohmann::json::array();
  std::vector<StepTimes> ours;
  for (int64_t b : batch_sizes) {
    torch::Tensor ids = torch::randint(0, config.vocab_size, {b, seq_len + 1}, torch::kInt64);
    std::vector<std::vector<int64_t>> rows(b);
    for (int64_t i = 0; i < b; ++i) {
      for (int64_t t = 0; t <= seq_len; ++t) rows[i].push_back(ids[i][t].item<int64_t>());
    }
    batches.push_back(rows);
    // The peer's step: B unpadded rows of seq_len tokens, causal attention, mean
    // of -log p(next token) over all B x seq_len positions.
    TokenBatch batch{ids.narrow(1, 0, seq_len).contiguous(), {}, {}};
    torch::Tensor targets = ids.narrow(1, 1, seq_len).contiguous();
    auto step = [&]() -> absl::Status {
      for (auto& [name, p] : model.NamedParameters()) p.mutable_grad() = torch::Tensor();
      ASSIGN_OR_RETURN(TokenLogprobsResult r, model.TokenLogprobs(batch, targets, {}));
      (-r.logprobs.mean()).backward();
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(step());
    std::vector<double> wall, cpu;
    for (int i = 0; i < reps; ++i) {
      const auto start = Clock::now();
      const double cpu_start = ProcessCpuSeconds();
      RETURN_IF_ERROR(step());
      wall.push_back(std::chrono::duration<double>(Clock::now() - start).count());
      cpu.push_back(ProcessCpuSeconds() - cpu_start);
    }
    ours.push_back({*std::min_element(wall.begin(), wall.end()), Median(wall), Median(cpu)});
  }
  peak = std::max(peak, MeasureGemmPeakFlops());
  cpu_peak = std::max(cpu_peak, MeasureGemmPeakCpuFlops());
  nlohmann::json peer_times;
  if (peer) {
    RETURN_IF_ERROR(model.Save((dir / "model").string()));
    std::ofstream(dir / "ids.json") << batches.dump();
    std::ofstream(dir / "peer.py") << kPeerScript;
    std::string cmd = absl::StrCat(RLVR_PYTHON, " ", (dir / "peer.py").string(), " ",
                                   (dir / "model").string(), " ", (dir / "ids.json").string(), " ",
                                   reps, " ", threads, " 2>", (dir / "peer.err").string());
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    const int rc = p ? pclose(p) : -1;
    peer_times = nlohmann::json::parse(out, nullptr, false);
    if (rc != 0 || peer_times.is_discarded() || peer_times.size() != batch_sizes.size()) {
      std::ifstream err(dir / "peer.err");
      std::string e((std::istreambuf_iterator<char>(err)), {});
      fs::remove_all(dir);
      return absl::InternalError(absl::StrCat("PyTorch peer failed: ", e.substr(0, 2000)));
    }
  }
  fs::remove_all(dir);
  for (size_t i = 0; i < batch_sizes.size(); ++i) {
    const double tokens = static_cast<double>(batch_sizes[i] * seq_len);
    const double attn = 12.0 * config.num_hidden_layers * seq_len * config.num_attention_heads *
                        config.head_dim / 2;  // causal: half the score matrix
    const double flops = tokens * (6.0 * matmul_params + attn);
    const StepTimes& t = ours[i];
    nlohmann::json r = {{"micro_batch_sequences", batch_sizes[i]},
                        {"tokens", tokens},
                        {"rlvr_tokens_per_s", tokens / t.best},
                        {"rlvr_tokens_per_s_median", tokens / t.median},
                        {"rlvr_cpu_s_per_step", t.cpu},
                        {"rlvr_mfu", flops / t.best / peak},
                        {"rlvr_mfu_cpu_time", flops / t.cpu / cpu_peak}};
    if (peer) {
      const nlohmann::json& theirs = peer_times[i];
      const double best = theirs["best"].get<double>(), median = theirs["median"].get<double>();
      r["pytorch_tokens_per_s"] = tokens / best;
      r["pytorch_tokens_per_s_median"] = tokens / median;
      r["pytorch_cpu_s_per_step"] = theirs["cpu"].get<double>();
      r["pytorch_mfu"] = flops / best / peak;
      r["pytorch_mfu_cpu_time"] = flops / theirs["cpu"].get<double>() / cpu_peak;
      r["speedup_vs_pytorch"] = best / t.best;
      r["speedup_vs_pytorch_median"] = median / t.median;
      r["cpu_time_ratio_vs_pytorch"] = theirs["cpu"].get<double>() / t.cpu;
    }
    results.push_back(r);
  }
  nlohmann::json report = {
      {"benchmark", "learner"},
      {"model_parameters", params},
      {"seq_len", seq_len},
      {"reps", reps},
      {"torch_threads", threads},
      {"gemm_peak_gflops", peak / 1e9},
      {"gemm_peak_gflops_per_cpu_s", cpu_peak / 1e9},
      {"note",
       "tokens/s and MFU use the best of the timed repetitions (the least disturbed by "
       "other work), *_median the median; *_mfu_cpu_time divides FLOPs per CPU-second "
       "by the GEMM's FLOPs per CPU-second (the load-independent figure when "
       "torch_threads is 1); both sides run the same threads, weights, tokens and loss"},
      {"results", results}};
  std::cout << report.dump(2) << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddBenchLearner(CLI::App& bench) {
  CLI::App* cmd = bench.add_subcommand(
      "learner", "Forward+backward tokens/s and MFU vs PyTorch eager on a ~50M Qwen-shaped model");
  auto seq_len = std::make_shared<int64_t>(256);
  auto sizes = std::make_shared<std::vector<int64_t>>(std::vector<int64_t>{1, 2, 4});
  auto reps = std::make_shared<int>(3);
  auto threads = std::make_shared<int>(0);
  auto no_peer = std::make_shared<bool>(false);
  cmd->add_option("--seq-len", *seq_len, "Tokens per sequence");
  cmd->add_option("--batch-sizes", *sizes, "Sequences per micro-batch");
  cmd->add_option("--reps", *reps, "Timed repetitions");
  cmd->add_option("--threads", *threads,
                  "Torch intra-op threads for both rlvr and the peer (0 = the default)");
  cmd->add_flag("--no-peer", *no_peer, "Skip the PyTorch peer");
  cmd->callback([=] {
    int rc =
        ReportStatus("bench learner", BenchLearner(*seq_len, *sizes, *reps, *threads, !*no_peer));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
