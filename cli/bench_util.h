// Pieces shared by the `rlvr bench` subcommands that time the model.
#ifndef RLVR_CLI_BENCH_UTIL_H_
#define RLVR_CLI_BENCH_UTIL_H_

#include <algorithm>
#include <chrono>

#include <torch/torch.h>

#include "core/model_config.h"

namespace rlvr::cli {

// The Qwen-shaped ~48M-parameter model the benchmarks use: vocab 32768, hidden 512,
// 10 layers, 8 query / 4 key-value heads, SwiGLU 1536, q/k norm, tied embeddings.
inline ModelConfig BenchModelConfig() {
  ModelConfig c;
  c.model_type = "qwen3";
  c.vocab_size = 32768;
  c.hidden_size = 512;
  c.intermediate_size = 1536;
  c.num_hidden_layers = 10;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.head_dim = 64;
  c.max_position_embeddings = 4096;
  c.qk_norm = true;
  c.tie_word_embeddings = true;
  return c;
}

// The machine's float32 GEMM peak in FLOP/s: the best of 5 timings of an n x n x n
// torch::mm, measured in the same run as the benchmark it normalises.
inline double MeasureGemmPeakFlops(int64_t n = 2048) {
  torch::InferenceMode guard;
  torch::Tensor a = torch::randn({n, n}), b = torch::randn({n, n});
  torch::mm(a, b);  // warm-up
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    auto start = std::chrono::steady_clock::now();
    torch::Tensor c = torch::mm(a, b);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * n * n * n / s);
  }
  return best;
}

}  // namespace rlvr::cli

#endif  // RLVR_CLI_BENCH_UTIL_H_
