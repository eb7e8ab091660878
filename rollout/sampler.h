// Token samplers over one row of logits, composable as a chain that is itself
// a sampler (as llama.cpp's). A sampler narrows or rescales the candidate set;
// the last one in a chain selects a token.
//
//   std::unique_ptr<Sampler> s = MakeSamplerChain(params);   // from SamplingParams
//   TokenCandidates c = TokenCandidates::FromLogits(row, vocab);
//   s->Apply(c, rng);  int32_t token = c.selected;
//
// Samplers hold no mutable state: one chain may serve many sequences and
// threads; randomness comes from the caller's per-sequence RNG.
#ifndef RLVR_ROLLOUT_SAMPLER_H_
#define RLVR_ROLLOUT_SAMPLER_H_

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "rollout/generator.h"

namespace rlvr {

// The candidate tokens of one decoding step.
struct TokenCandidates {
  std::vector<int32_t> ids;
  std::vector<float> logits;  // same size as ids; rescaled by Temperature
  bool sorted = false;        // true when logits are in descending order
  int32_t selected = -1;      // set by a selecting sampler (Greedy, Draw)

  // All `vocab` tokens of `logits` (vocab floats).
  static TokenCandidates FromLogits(const float* logits, int64_t vocab);
  // Sorts by descending logit (no-op when already sorted).
  void Sort();
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  // Narrows / rescales `c` or selects a token; uses `rng` only to draw.
  virtual void Apply(TokenCandidates& c, std::mt19937_64& rng) const = 0;
};

// Applies its samplers in order.
class SamplerChain final : public Sampler {
 public:
  SamplerChain& Add(std::unique_ptr<Sampler> sampler);
  void Apply(TokenCandidates& c, std::mt19937_64& rng) const override;
  size_t size() const { return samplers_.size(); }

 private:
  std::vector<std::unique_ptr<Sampler>> samplers_;
};

std::unique_ptr<Sampler> MakeTemperature(double temperature);  // logits /= t (t > 0)
std::unique_ptr<Sampler> MakeTopK(int64_t k);                  // keeps the k largest
std::unique_ptr<Sampler> MakeTopP(double p);  // smallest prefix with probability >= p
std::unique_ptr<Sampler> MakeMinP(double p);  // keeps prob >= p * max prob
std::unique_ptr<Sampler> MakeGreedy();        // selects the largest logit
std::unique_ptr<Sampler> MakeDraw();          // selects at random ~ softmax(logits)

// INVALID_ARGUMENT naming the field ("temperature", "top_p", ...) when the
// parameters are out of range.
absl::Status ValidateSamplingParams(const SamplingParams& params);
// temperature 0 -> Greedy; else Temperature -> [TopK] -> [TopP] -> [MinP] -> Draw.
std::unique_ptr<Sampler> MakeSamplerChain(const SamplingParams& params);

// log softmax(logits / t)[token] over the full row (t <= 0 means 1), in double.
double TokenLogprob(const float* logits, int64_t vocab, int32_t token, double temperature);

}  // namespace rlvr

#endif  // RLVR_ROLLOUT_SAMPLER_H_
