#include "rollout/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"

namespace rlvr {
namespace {

class Temperature final : public Sampler {
 public:
  explicit Temperature(double t) : inv_(static_cast<float>(1.0 / t)) {}
  void Apply(TokenCandidates& c, std::mt19937_64&) const override {
    for (float& x : c.logits) x *= inv_;
  }

 private:
  float inv_;
};

class TopK final : public Sampler {
 public:
  explicit TopK(int64_t k) : k_(k) {}
  void Apply(TokenCandidates& c, std::mt19937_64&) const override {
    const size_t k = static_cast<size_t>(k_);
    if (k >= c.ids.size()) return;
    if (!c.sorted) {
      std::vector<int32_t> order(c.ids.size());
      std::iota(order.begin(), order.end(), 0);
      auto greater = [&](int32_t a, int32_t b) {
        return c.logits[a] > c.logits[b] || (c.logits[a] == c.logits[b] && a < b);
      };
      std::partial_sort(order.begin(), order.begin() + k, order.end(), greater);
      std::vector<int32_t> ids(k);
      std::vector<float> logits(k);
      for (size_t i = 0; i < k; ++i) {
        ids[i] = c.ids[order[i]];
        logits[i] = c.logits[order[i]];
      }
      c.ids = std::move(ids);
      c.logits = std::move(logits);
      c.sorted = true;
    } else {
      c.ids.resize(k);
      c.logits.resize(k);
    }
  }

 private:
  int64_t k_;
};

class TopP final : public Sampler {
 public:
  explicit TopP(double p) : p_(p) {}
  void Apply(TokenCandidates& c, std::mt19937_64&) const override {
    if (p_ >= 1.0 || c.ids.empty()) return;
    c.Sort();
    const double max = c.logits[0];
    double total = 0;
    for (float x : c.logits) total += std::exp(x - max);
    double cum = 0;
    size_t keep = c.ids.size();
    for (size_t i = 0; i < c.ids.size(); ++i) {
      cum += std::exp(c.logits[i] - max) / total;
      if (cum >= p_) {
        keep = i + 1;
        break;
      }
    }
    c.ids.resize(keep);
    c.logits.resize(keep);
  }

 private:
  double p_;
};

class MinP final : public Sampler {
 public:
  explicit MinP(double p) : log_p_(std::log(p)) {}
  void Apply(TokenCandidates& c, std::mt19937_64&) const override {
    if (c.ids.empty()) return;
    const float max = *std::max_element(c.logits.begin(), c.logits.end());
    const double threshold = max + log_p_;  // prob >= p * max prob
    size_t out = 0;
    for (size_t i = 0; i < c.ids.size(); ++i) {
      if (c.logits[i] >= threshold) {
        c.ids[out] = c.ids[i];
        c.logits[out] = c.logits[i];
        ++out;
      }
    }
    c.ids.resize(out);
    c.logits.resize(out);  // order preserved, so `sorted` stays valid
  }

 private:
  double log_p_;
};

class Greedy final : public Sampler {
 public:
  void Apply(TokenCandidates& c, std::mt19937_64&) const override {
    if (c.ids.empty()) return;
    // First maximum (lowest id on ties when unsorted), as torch.argmax does.
    size_t best = 0;
    for (size_t i = 1; i < c.logits.size(); ++i) {
      if (c.logits[i] > c.logits[best]) best = i;
    }
    c.selected = c.ids[best];
  }
};

class Draw final : public Sampler {
 public:
  void Apply(TokenCandidates& c, std::mt19937_64& rng) const override {
    if (c.ids.empty()) return;
    const float max = *std::max_element(c.logits.begin(), c.logits.end());
    double total = 0;
    for (float x : c.logits) total += std::exp(static_cast<double>(x) - max);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    const double u = uniform(rng) * total;
    double cum = 0;
    for (size_t i = 0; i < c.ids.size(); ++i) {
      cum += std::exp(static_cast<double>(c.logits[i]) - max);
      if (u < cum) {
        c.selected = c.ids[i];
        return;
      }
    }
    c.selected = c.ids.back();  // rounding: u == total
  }
};

}  // namespace

TokenCandidates TokenCandidates::FromLogits(const float* logits, int64_t vocab) {
  TokenCandidates c;
  c.ids.resize(vocab);
  std::iota(c.ids.begin(), c.ids.end(), 0);
  c.logits.assign(logits, logits + vocab);
  return c;
}

void TokenCandidates::Sort() {
  if (sorted) return;
  std::vector<int32_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  std::vector<int32_t> new_ids(ids.size());
  std::vector<float> new_logits(ids.size());
  for (size_t i = 0; i < order.size(); ++i) {
    new_ids[i] = ids[order[i]];
    new_logits[i] = logits[order[i]];
  }
  ids = std::move(new_ids);
  logits = std::move(new_logits);
  sorted = true;
}

SamplerChain& SamplerChain::Add(std::unique_ptr<Sampler> sampler) {
  samplers_.push_back(std::move(sampler));
  return *this;
}

void SamplerChain::Apply(TokenCandidates& c, std::mt19937_64& rng) const {
  for (const auto& s : samplers_) s->Apply(c, rng);
}

std::unique_ptr<Sampler> MakeTemperature(double t) { return std::make_unique<Temperature>(t); }
std::unique_ptr<Sampler> MakeTopK(int64_t k) { return std::make_unique<TopK>(k); }
std::unique_ptr<Sampler> MakeTopP(double p) { return std::make_unique<TopP>(p); }
std::unique_ptr<Sampler> MakeMinP(double p) { return std::make_unique<MinP>(p); }
std::unique_ptr<Sampler> MakeGreedy() { return std::make_unique<Greedy>(); }
std::unique_ptr<Sampler> MakeDraw() { return std::make_unique<Draw>(); }

absl::Status ValidateSamplingParams(const SamplingParams& p) {
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be a finite number >= 0, got ", p.temperature));
  }
  if (p.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("top_k must be >= 0, got ", p.top_k));
  }
  if (!(p.top_p > 0 && p.top_p <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("top_p must be in (0, 1], got ", p.top_p));
  }
  if (!(p.min_p >= 0 && p.min_p < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("min_p must be in [0, 1), got ", p.min_p));
  }
  if (p.max_new_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_new_tokens must be >= 1, got ", p.max_new_tokens));
  }
  for (const std::string& s : p.stop_strings) {
    if (s.empty()) return absl::InvalidArgumentError("stop_strings: empty stop string");
  }
  return absl::OkStatus();
}

std::unique_ptr<Sampler> MakeSamplerChain(const SamplingParams& p) {
  auto chain = std::make_unique<SamplerChain>();
  if (p.temperature == 0) {
    chain->Add(MakeGreedy());
    return chain;
  }
  if (p.temperature != 1.0) chain->Add(MakeTemperature(p.temperature));
  if (p.top_k > 0) chain->Add(MakeTopK(p.top_k));
  if (p.top_p < 1.0) chain->Add(MakeTopP(p.top_p));
  if (p.min_p > 0) chain->Add(MakeMinP(p.min_p));
  chain->Add(MakeDraw());
  return chain;
}

double TokenLogprob(const float* logits, int64_t vocab, int32_t token, double temperature) {
  const double inv = temperature > 0 ? 1.0 / temperature : 1.0;
  double max = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < vocab; ++i) max = std::max(max, logits[i] * inv);
  double total = 0;
  for (int64_t i = 0; i < vocab; ++i) total += std::exp(logits[i] * inv - max);
  return logits[token] * inv - max - std::log(total);
}

}  // namespace rlvr
