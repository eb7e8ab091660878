// `rlvr bench rollout`: decode throughput of the engine on a Qwen3-shaped
// ~50M-parameter model with random weights, batch sizes 1..64; decode MFU
// against the float32 peak measured in the same run (the higher of LibTorch's GEMM
// and the multiply-add rate of the kernels' instruction set); transformers'
// generate on the identical weights and prompts as the peer. Both load the same
// checkpoint, saved in bfloat16 by default as Qwen3's are (--checkpoint-dtype), into
// float32 and compute in float32. Prints JSON.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/bench_util.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/cpu_isa.h"
#include "core/cpu_kernels.h"
#include "core/huge_pages.h"
#include "core/spin_pool.h"
#include "rlvr/test_paths.h"
#include "rollout/engine.h"

namespace rlvr::cli {
namespace {

namespace fs = std::filesystem;

struct BenchFlags {
  std::string batch_sizes = "1,2,4,8,16,32,64";
  std::string hf_batch_sizes = "1,32";
  int64_t prompt_len = 32;
  int64_t new_tokens = 64;
  int threads = 0;  // torch intra-op threads for rlvr and the peer; 0 = the default
  std::string python = RLVR_PYTHON;
  std::string checkpoint_dtype = "bfloat16";
};

// Matmul FLOPs per decoded token at context length `ctx`.
double FlopsPerToken(const ModelConfig& c, double ctx) {
  const double h = c.hidden_size, q = c.num_attention_heads * c.head_dim,
               kv = c.num_key_value_heads * c.head_dim, f = c.intermediate_size;
  const double per_layer = h * q + 2 * h * kv + q * h + 3 * h * f;
  const double attention = 2 * ctx * q;  // scores + weighted sum
  return 2 * (c.num_hidden_layers * (per_layer + attention) + h * c.vocab_size);
}

// Bytes a decode step must read at least once: every weight matrix (`weight_bytes`
// per value: with AVX-512 the engine streams a bfloat16 checkpoint's matmul weights as
// bfloat16, skinny_gemm.h; the bench model's are all packed) and the keys and values of
// every running sequence at context length `ctx`.
double BytesPerStep(const ModelConfig& c, double weight_bytes, double batch, double ctx) {
  const double weights = static_cast<double>(c.NumParameters()) * weight_bytes;
  const double kv =
      2.0 * c.num_hidden_layers * c.num_key_value_heads * c.head_dim * ctx * sizeof(float);
  return weights + batch * kv;
}

// The machine's streaming read bandwidth in bytes/s: the best of 5 passes over a
// 256 MiB buffer on huge pages (as the engine keeps its weights and KV cache) on one
// thread and 5 split over the intra-op threads (about twice one thread's on this
// machine's two cores), measured in the same run. A pass XORs 64-bit words into 8
// independent accumulators, so it waits on memory, not on arithmetic (LibTorch's
// float sum measured slower than what a batch-1 decode step streams).
double MeasureReadBandwidth() {
  torch::Tensor a = ZerosOnHugePages({int64_t{64} << 20}).uniform_();
  const auto* words = static_cast<const uint64_t*>(a.data_ptr());
  const int64_t blocks = a.numel() / 2 / 8;  // of 8 words
  std::atomic<uint64_t> sink{0};
  auto pass = [&](int64_t begin, int64_t end) {
    uint64_t acc[8] = {};
    for (int64_t w = begin * 8; w < end * 8; w += 8) {  // a 64-byte line per step
      __builtin_prefetch(words + w + 256);              // 2 KiB ahead
      for (int j = 0; j < 8; ++j) acc[j] ^= words[w + j];
    }
    uint64_t x = 0;
    for (uint64_t v : acc) x ^= v;
    sink.fetch_xor(x);  // keeps the pass from being optimised away
  };
  double best = 0;
  for (int i = 0; i < 10; ++i) {
    auto start = std::chrono::steady_clock::now();
    if (i < 5) {
      pass(0, blocks);
    } else {
      ParallelFor(0, blocks, int64_t{1} << 16, pass);  // real threads without -fopenmp too
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, a.numel() * sizeof(float) / secs);
  }
  return best;
}

absl::Status Bench(const BenchFlags& f) {
  const ModelConfig config = BenchModelConfig();
  std::vector<int64_t> sizes, hf_sizes;
  for (absl::string_view s : absl::StrSplit(f.batch_sizes, ','))
    sizes.push_back(std::stoll(std::string(s)));
  for (absl::string_view s : absl::StrSplit(f.hf_batch_sizes, ',', absl::SkipEmpty())) {
    hf_sizes.push_back(std::stoll(std::string(s)));
  }
  if (f.checkpoint_dtype != "bfloat16" && f.checkpoint_dtype != "float32") {
    return absl::InvalidArgumentError(
        absl::StrCat("--checkpoint-dtype: '", f.checkpoint_dtype, "' is not bfloat16 or float32"));
  }
  const bool bf16 = f.checkpoint_dtype == "bfloat16";
  const double weight_bytes = bf16 && KernelIsa() == CpuIsa::kAvx512 ? 2 : 4;
  const int64_t max_batch = *std::max_element(sizes.begin(), sizes.end());
  std::mt19937_64 rng(0);
  std::vector<std::vector<int32_t>> prompts(std::max<int64_t>(max_batch, 64));
  for (auto& p : prompts) {
    p.resize(f.prompt_len);
    for (auto& t : p) t = static_cast<int32_t>(rng() % config.vocab_size);
  }
  if (f.threads > 0) at::set_num_threads(f.threads);
  const int threads = at::get_num_threads();
  // Measured before and after the decode runs; the higher one is kept so a load
  // spike during one measurement does not inflate the MFU.
  double gemm_peak = MeasureGemmPeakFlops();
  double fma_peak = cpu::MeasureFmaPeakFlops(threads);
  nlohmann::json out;
  out["model"] = {{"model_type", config.model_type},       {"parameters", config.NumParameters()},
                  {"hidden_size", config.hidden_size},     {"layers", config.num_hidden_layers},
                  {"vocab_size", config.vocab_size},       {"dtype", "float32"},
                  {"checkpoint_dtype", f.checkpoint_dtype}};
  out["prompt_len"] = f.prompt_len;
  out["new_tokens"] = f.new_tokens;
  out["threads"] = threads;

  const fs::path dir =
      fs::temp_directory_path() / ("rlvr_bench_rollout_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    ModelOptions saved;
    saved.dtype = bf16 ? torch::kBFloat16 : torch::kFloat32;
    auto model = Transformer::RandomInit(config, 0, saved);
    if (!model.ok()) return model.status();
    absl::Status s = model->Save((dir / "model").string());
    if (!s.ok()) return s;
  }
  std::ofstream((dir / "prompts.json").string()) << nlohmann::json(prompts).dump();

  nlohmann::json results = nlohmann::json::array();
  std::map<int64_t, double> ours;
  for (int64_t b : sizes) {
    auto model = Transformer::Load((dir / "model").string(), {});
    if (!model.ok()) return model.status();
    EngineOptions options;
    options.max_batch = b;
    options.max_len = f.prompt_len + f.new_tokens + 1;
    options.kv_byte_budget = int64_t{1} << 30;
    options.intra_op_threads = threads;
    auto engine = Engine::Create(std::move(*model), std::nullopt, options);
    if (!engine.ok()) return engine.status();
    std::vector<GenerationRequest> requests;
    for (int64_t i = 0; i < b; ++i) {
      GenerationRequest r;
      r.prompt_ids = prompts[i];
      r.sampling.temperature = 0;
      r.sampling.ignore_eos = true;
      r.sampling.max_new_tokens = f.new_tokens;
      requests.push_back(std::move(r));
    }
    // The peer's warm-up: the whole batch, 2 new tokens (hf_generate.py --bench).
    std::vector<GenerationRequest> warm = requests;
    for (GenerationRequest& r : warm) r.sampling.max_new_tokens = 2;
    (void)(*engine)->Generate(warm);
    EngineStatus before = (*engine)->GetStatus();
    auto start = std::chrono::steady_clock::now();
    auto gen = (*engine)->Generate(requests);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!gen.ok()) return gen.status();
    EngineStatus after = (*engine)->GetStatus();
    const double decode_tokens =
        static_cast<double>(after.tokens_generated - before.tokens_generated);
    const double decode_secs = after.decode_seconds - before.decode_seconds;
    const double tps = decode_tokens / decode_secs;
    ours[b] = b * f.new_tokens / wall;  // end to end, like the peer's number
    results.push_back({{"batch", b},
                       {"decode_tokens_per_s", tps},
                       {"end_to_end_tokens_per_s", b * f.new_tokens / wall}});
    std::cerr << "batch " << b << ": " << tps << " decode tokens/s" << std::endl;
  }
  gemm_peak = std::max(gemm_peak, MeasureGemmPeakFlops());
  fma_peak = std::max(fma_peak, cpu::MeasureFmaPeakFlops(threads));
  // The machine's float32 peak: MKL's GEMM does not use AVX-512 on every CPU that has
  // it (on AMD EPYC here it ran at half the multiply-add rate), and an MFU against it
  // would exceed 1.
  const double peak = std::max(gemm_peak, fma_peak);
  const double bandwidth = MeasureReadBandwidth();
  const double ctx = f.prompt_len + f.new_tokens / 2.0;
  std::map<int64_t, double> ceiling;
  for (auto& r : results) {
    const double b = r["batch"].get<double>();
    r["decode_mfu"] = r["decode_tokens_per_s"].get<double>() * FlopsPerToken(config, ctx) / peak;
    // Roofline: a step takes at least its FLOPs at the peak and at least its
    // compulsory bytes at the read bandwidth.
    const double step_floor = std::max(b * FlopsPerToken(config, ctx) / peak,
                                       BytesPerStep(config, weight_bytes, b, ctx) / bandwidth);
    r["roofline_decode_tokens_per_s"] = b / step_floor;
    r["roofline_mfu"] = b * FlopsPerToken(config, ctx) / peak / step_floor;
    // End to end: the prefill's FLOPs at the peak (the output layer runs for the
    // last prompt token only, which gives the first new token), then new_tokens - 1
    // steps at the floor.
    const double head = 2.0 * config.hidden_size * config.vocab_size;
    const double prefill =
        b * (f.prompt_len * (FlopsPerToken(config, f.prompt_len / 2.0) - head) + head);
    ceiling[static_cast<int64_t>(b)] =
        b * f.new_tokens / (prefill / peak + (f.new_tokens - 1) * step_floor);
    r["roofline_end_to_end_tokens_per_s"] = ceiling[static_cast<int64_t>(b)];
  }
  out["gemm_peak_gflops"] = gemm_peak / 1e9;
  out["fma_peak_gflops"] = fma_peak / 1e9;
  out["peak_gflops"] = peak / 1e9;
  out["memory_read_gb_per_s"] = bandwidth / 1e9;
  out["rlvr"] = results;

  nlohmann::json peers = nlohmann::json::array();
  for (int64_t b : hf_sizes) {
    const fs::path res = dir / ("hf_" + std::to_string(b) + ".json");
    const std::string cmd = "OMP_NUM_THREADS=" + std::to_string(threads) + " " + f.python + " " +
                            RLVR_SOURCE_DIR + "/rollout/testdata/hf_generate.py " +
                            (dir / "model").string() + " " + (dir / "prompts.json").string() + " " +
                            res.string() + " " + std::to_string(f.new_tokens) + " --bench " +
                            std::to_string(b) + " 1 > /dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      peers.push_back({{"batch", b}, {"error", "transformers generate failed: " + cmd}});
      continue;
    }
    nlohmann::json r = nlohmann::json::parse(std::ifstream(res.string()));
    const double hf = r["tokens_per_second"].get<double>();
    nlohmann::json entry = {{"batch", b}, {"transformers_tokens_per_s", hf}};
    // End to end on both sides (prefill included): rlvr's decode-only rate over
    // transformers' end-to-end rate would flatter rlvr.
    if (ours.count(b)) {
      entry["rlvr_speedup"] = ours[b] / hf;
      // The most any engine could reach over this peer on this machine in this run.
      entry["roofline_speedup"] = ceiling[b] / hf;
    }
    peers.push_back(entry);
    std::cerr << "transformers batch " << b << ": " << hf << " tokens/s" << std::endl;
  }
  out["transformers_generate"] = peers;
  out["note"] =
      "decode tokens/s and decode_mfu exclude prefill; rlvr_speedup compares end-to-end "
      "tokens/s (prefill of each prompt included) on both sides, same threads; both load "
      "the same checkpoint (checkpoint_dtype) into float32 and compute in float32; "
      "decode_mfu is against peak_gflops, the higher of LibTorch's float32 GEMM and the "
      "float32 multiply-add rate of the instruction set rlvr's kernels use, on the same "
      "threads; roofline_*: the ceiling set by that peak and by reading every weight (in the "
      "checkpoint's dtype) and the float32 KV cache once per decode step at the measured read "
      "bandwidth (end to end: the prefill's FLOPs at the peak too)";
  fs::remove_all(dir);
  std::cout << out.dump(2) << std::endl;
  return absl::OkStatus();
}

}  // namespace

void AddBenchRollout(CLI::App& bench) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* cmd = bench.add_subcommand("rollout", "Decode throughput and MFU vs transformers");
  cmd->add_option("--batch-sizes", flags->batch_sizes, "Comma-separated decode batch sizes");
  cmd->add_option("--hf-batch-sizes", flags->hf_batch_sizes,
                  "Batch sizes for transformers' generate ('' = skip)");
  cmd->add_option("--prompt-len", flags->prompt_len, "Prompt tokens");
  cmd->add_option("--new-tokens", flags->new_tokens, "Generated tokens per sequence");
  cmd->add_option("--python", flags->python, "Python with transformers");
  cmd->add_option("--checkpoint-dtype", flags->checkpoint_dtype,
                  "Dtype the random checkpoint is saved in: bfloat16 (as Qwen3's) or float32");
  cmd->add_option("--threads", flags->threads,
                  "Torch intra-op threads for rlvr and transformers (0 = the default)");
  cmd->callback([flags] {
    int code = ReportStatus("bench rollout", Bench(*flags));
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace rlvr::cli
