// `rlvr bench learner`: forward+backward tokens/s of the training path on a
// Qwen-shaped ~50M-parameter model at several micro-batch sizes, its MFU against
// the float32 GEMM peak measured in the same run, and the same step in Python
// PyTorch eager (transformers' Qwen3 on identical weights and tokens), as JSON.
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
import json, sys, time, torch
from transformers import AutoModelForCausalLM
model_dir, ids_path, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
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
    start = time.perf_counter()
    for _ in range(reps):
        step()
    out.append((time.perf_counter() - start) / reps)
print(json.dumps(out))
)";

absl::Status BenchLearner(int64_t seq_len, const std::vector<int64_t>& batch_sizes, int reps,
                          bool peer) {
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
  const double peak = MeasureGemmPeakFlops();

  const fs::path dir = fs::temp_directory_path() / absl::StrCat("rlvr_bench_learner_", getpid());
  fs::create_directories(dir);
  torch::manual_seed(1);
  nlohmann::json batches = nlohmann::json::array();
  nlohmann::json results = nlohmann::json::array();
  std::vector<double> ours;
  for (int64_t b : batch_sizes) {
    torch::Tensor ids = torch::randint(0, config.vocab_size, {b, seq_len + 1}, torch::kInt64);
    std::vector<std::vector<int64_t>> rows(b);
    for (int64_t i = 0; i < b; ++i) {
      for (int64_t t = 0; t <= seq_len; ++t) rows[i].push_back(ids[i][t].item<int64_t>());
    }
    batches.push_back(rows);
    TokenBatch batch{ids.narrow(1, 0, seq_len).contiguous(), {}, {}};
    torch::Tensor targets = ids.narrow(1, 1, seq_len).contiguous();
    auto step = [&]() -> absl::Status {
      for (auto& [name, p] : model.NamedParameters()) p.mutable_grad() = torch::Tensor();
      ASSIGN_OR_RETURN(TokenLogprobsResult r, model.TokenLogprobs(batch, targets, {}));
      (-r.logprobs.mean()).backward();
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(step());
    auto start = Clock::now();
    for (int i = 0; i < reps; ++i) RETURN_IF_ERROR(step());
    ours.push_back(std::chrono::duration<double>(Clock::now() - start).count() / reps);
  }
  nlohmann::json peer_seconds;
  if (peer) {
    RETURN_IF_ERROR(model.Save((dir / "model").string()));
    std::ofstream(dir / "ids.json") << batches.dump();
    std::ofstream(dir / "peer.py") << kPeerScript;
    std::string cmd = absl::StrCat(RLVR_PYTHON, " ", (dir / "peer.py").string(), " ",
                                   (dir / "model").string(), " ", (dir / "ids.json").string(), " ",
                                   reps, " 2>", (dir / "peer.err").string());
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    const int rc = p ? pclose(p) : -1;
    peer_seconds = nlohmann::json::parse(out, nullptr, false);
    if (rc != 0 || peer_seconds.is_discarded()) {
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
    nlohmann::json r = {{"micro_batch_sequences", batch_sizes[i]},
                        {"tokens", tokens},
                        {"rlvr_tokens_per_s", tokens / ours[i]},
                        {"rlvr_mfu", flops / ours[i] / peak}};
    if (peer) {
      const double theirs = peer_seconds[i].get<double>();
      r["pytorch_tokens_per_s"] = tokens / theirs;
      r["pytorch_mfu"] = flops / theirs / peak;
      r["speedup_vs_pytorch"] = theirs / ours[i];
    }
    results.push_back(r);
  }
  nlohmann::json report = {{"benchmark", "learner"},
                           {"model_parameters", params},
                           {"seq_len", seq_len},
                           {"torch_threads", torch::get_num_threads()},
                           {"gemm_peak_gflops", peak / 1e9},
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
  auto no_peer = std::make_shared<bool>(false);
  cmd->add_option("--seq-len", *seq_len, "Tokens per sequence");
  cmd->add_option("--batch-sizes", *sizes, "Sequences per micro-batch");
  cmd->add_option("--reps", *reps, "Timed repetitions");
  cmd->add_flag("--no-peer", *no_peer, "Skip the PyTorch peer");
  cmd->callback([=] {
    int rc = ReportStatus("bench learner", BenchLearner(*seq_len, *sizes, *reps, !*no_peer));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
