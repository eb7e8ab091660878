// Engine tests on tiny random models: greedy outputs against transformers'
// generate (python oracle), continuous batching, logprobs against a full
// forward, stop strings, prefix sharing and weight updates.
#include "rollout/engine.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <tuple>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "rlvr/test_paths.h"

namespace rlvr {
namespace {

namespace fs = std::filesystem;

ModelConfig TinyConfig(const std::string& family, int64_t vocab = 97) {
  ModelConfig c;
  c.model_type = family;
  c.vocab_size = vocab;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 128;
  c.rms_norm_eps = 1e-6;
  c.qkv_bias = family == "qwen2";
  c.qk_norm = family == "qwen3";
  c.tie_word_embeddings = family != "llama";
  return c;
}

Transformer MakeModel(const ModelConfig& config, uint64_t seed = 0) {
  auto m = Transformer::RandomInit(config, seed, {});
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

std::unique_ptr<Engine> MakeEngine(Transformer model, EngineOptions options = {},
                                   std::optional<Tokenizer> tok = std::nullopt) {
  auto e = Engine::Create(std::move(model), std::move(tok), options);
  EXPECT_TRUE(e.ok()) << e.status();
  return std::move(*e);
}

std::vector<std::vector<int32_t>> Prompts(int count, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int32_t>> out;
  for (int i = 0; i < count; ++i) {
    std::vector<int32_t> p(3 + rng() % 9);
    for (auto& t : p) t = static_cast<int32_t>(rng() % vocab);
    out.push_back(p);
  }
  return out;
}

GenerationRequest Greedy(const std::vector<int32_t>& prompt, int64_t max_new) {
  GenerationRequest r;
  r.prompt_ids = prompt;
  r.sampling.temperature = 0;
  r.sampling.max_new_tokens = max_new;
  r.sampling.ignore_eos = true;
  return r;
}

class FamilyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FamilyTest, GreedyMatchesTransformersGenerate) {
  const fs::path dir =
      fs::temp_directory_path() / ("rlvr_engine_test_" + GetParam() + std::to_string(::getpid()));
  fs::create_directories(dir);
  ModelConfig config = TinyConfig(GetParam());
  Transformer model = MakeModel(config, 7);
  ASSERT_TRUE(model.Save((dir / "model").string()).ok());
  auto prompts = Prompts(5, config.vocab_size, 11);
  std::ofstream((dir / "prompts.json").string()) << nlohmann::json(prompts).dump();
  const int kNew = 12;
  const std::string cmd = std::string(RLVR_PYTHON) + " " + RLVR_SOURCE_DIR +
                          "/rollout/testdata/hf_generate.py " + (dir / "model").string() + " " +
                          (dir / "prompts.json").string() + " " + (dir / "out.json").string() +
                          " " + std::to_string(kNew) + " > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "python oracle failed: " << cmd;
  std::vector<std::vector<int32_t>> expected =
      nlohmann::json::parse(std::ifstream((dir / "out.json").string()));

  auto engine = MakeEngine(std::move(model));
  std::vector<GenerationRequest> requests;
  for (const auto& p : prompts) requests.push_back(Greedy(p, kNew));
  auto out = engine->Generate(requests);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ((*out)[i].token_ids, expected[i]) << "prompt " << i;
    EXPECT_EQ((*out)[i].finish_reason, FinishReason::kLength);
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyTest, ::testing::Values("llama", "qwen2", "qwen3"));

TEST(EngineTest, StaggeredArrivalsMatchOneAtATime) {
  ModelConfig config = TinyConfig("qwen3");
  auto prompts = Prompts(8, config.vocab_size, 3);
  // One at a time, one slot.
  EngineOptions one;
  one.max_batch = 1;
  auto serial = MakeEngine(MakeModel(config), one);
  std::vector<std::vector<int32_t>> expected;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto out = serial->Generate({Greedy(prompts[i], 5 + i * 3)});
    ASSERT_TRUE(out.ok()) << out.status();
    expected.push_back((*out)[0].token_ids);
  }
  // Staggered submissions into a 3-slot engine: requests join mid-flight.
  EngineOptions three;
  three.max_batch = 3;
  auto batched = MakeEngine(MakeModel(config), three);
  std::vector<std::thread> threads;
  std::vector<std::vector<int32_t>> got(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    threads.emplace_back([&, i] {
      auto out = batched->Generate({Greedy(prompts[i], 5 + i * 3)});
      ASSERT_TRUE(out.ok()) << out.status();
      got[i] = (*out)[0].token_ids;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(got[i], expected[i]) << "prompt " << i;
}

// Every returned log-probability (of all max_new_tokens tokens of each of r.n
// completions) equals log_softmax(logits / temperature) of a full forward pass of the
// reference model over the prompt and the completion (atol 1e-4).
void ExpectLogprobsEqualFullForward(const Transformer& reference, const GenerationRequest& r,
                                    const absl::StatusOr<std::vector<Completion>>& out) {
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), static_cast<size_t>(r.n));
  for (const Completion& c : *out) {
    ASSERT_EQ(static_cast<int64_t>(c.token_ids.size()), r.sampling.max_new_tokens);
    std::vector<int64_t> seq(r.prompt_ids.begin(), r.prompt_ids.end());
    seq.insert(seq.end(), c.token_ids.begin(), c.token_ids.end());
    auto logits = reference.Logits(torch::tensor(seq).unsqueeze(0));
    ASSERT_TRUE(logits.ok());
    torch::Tensor lp = torch::log_softmax(*logits / r.sampling.temperature, -1)[0];  // (T, V)
    for (size_t i = 0; i < c.token_ids.size(); ++i) {
      const int64_t pos = static_cast<int64_t>(r.prompt_ids.size() + i) - 1;
      EXPECT_NEAR(c.logprobs[i], lp[pos][c.token_ids[i]].item<float>(), 1e-4)
          << "token " << i << " (context " << pos + 1 << ")";
    }
  }
}

TEST(EngineTest, LogprobsEqualFullForwardRecomputation) {
  ModelConfig config = TinyConfig("qwen2");
  Transformer model = MakeModel(config, 5);
  auto reference = model.Clone({});
  ASSERT_TRUE(reference.ok());
  auto engine = MakeEngine(std::move(model));
  GenerationRequest r;
  r.prompt_ids = {1, 2, 3, 4, 5};
  r.n = 3;
  r.sampling.temperature = 0.7;
  r.sampling.top_k = 20;
  r.sampling.top_p = 0.9;
  r.sampling.max_new_tokens = 10;
  r.sampling.ignore_eos = true;
  r.sampling.seed = 42;
  ExpectLogprobsEqualFullForward(*reference, r, engine->Generate({r}));
}

// The decode attention kernel has register-resident paths for head sizes 32, 64 and 128
// that score 16 keys, then 4, then 1 at a time: contexts of 19 to 50 tokens take all
// three, and every sampled token's log-probability must equal a full forward pass.
class HeadDimTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(HeadDimTest, DecodeLogprobsEqualFullForwardAtEveryContextLength) {
  ModelConfig config = TinyConfig("qwen3");
  config.head_dim = GetParam();
  Transformer model = MakeModel(config, 3);
  auto reference = model.Clone({});
  ASSERT_TRUE(reference.ok());
  auto engine = MakeEngine(std::move(model));
  GenerationRequest r;
  for (int i = 0; i < 19; ++i) r.prompt_ids.push_back((i * 37 + 5) % 97);
  r.n = 2;
  r.sampling.temperature = 1.0;
  r.sampling.max_new_tokens = 32;
  r.sampling.ignore_eos = true;
  r.sampling.seed = 5;
  ExpectLogprobsEqualFullForward(*reference, r, engine->Generate({r}));
}

INSTANTIATE_TEST_SUITE_P(HeadDims, HeadDimTest, ::testing::Values(8, 32, 64, 128));

// Weights of at least 512 x 512 decode through the prepacked path (skinny_gemm.h where
// the CPU has AVX-512, else oneDNN's, which engine_test_avx2 and _default run here):
// hidden size 512 in each family (qwen2 adds q/k/v biases, llama an untied output
// layer). 9 completions make a full 8-row tile and a 1-row tail; the panel kernel
// prefills the prompts too, the 300-token one in two blocks of rows. With weights that
// are bfloat16 values (a bfloat16 checkpoint's) the panels are bfloat16.
class PackedWeightsTest : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(PackedWeightsTest, DecodeLogprobsEqualFullForward) {
  const auto& [family, bfloat16] = GetParam();
  ModelConfig config = TinyConfig(family, 512);
  config.hidden_size = 512;
  config.intermediate_size = 512;
  config.num_attention_heads = 8;
  config.num_key_value_heads = 4;
  config.head_dim = 64;
  config.max_position_embeddings = 512;
  Transformer model = MakeModel(config, 7);
  if (bfloat16) {
    std::map<std::string, torch::Tensor> rounded;
    for (const auto& [name, p] : model.NamedParameters()) {
      rounded[name] = p.to(torch::kBFloat16).to(torch::kFloat32);
    }
    ASSERT_TRUE(model.LoadNamedTensors(rounded).ok());
  }
  auto reference = model.Clone({});
  ASSERT_TRUE(reference.ok());
  auto engine = MakeEngine(std::move(model));
  for (int64_t len : {19, 300}) {
    GenerationRequest r;
    for (int64_t i = 0; i < len; ++i)
      r.prompt_ids.push_back(static_cast<int32_t>((i * 37 + 5) % 512));
    r.n = 9;
    r.sampling.temperature = 1.0;
    r.sampling.max_new_tokens = 6;
    r.sampling.ignore_eos = true;
    r.sampling.seed = 3;
    SCOPED_TRACE("prompt of " + std::to_string(len));
    ExpectLogprobsEqualFullForward(*reference, r, engine->Generate({r}));
  }
}

INSTANTIATE_TEST_SUITE_P(Families, PackedWeightsTest,
                         ::testing::Combine(::testing::Values("qwen2", "qwen3", "llama"),
                                            ::testing::Bool()));

// The highest of a few temperatures at which softmax(logits / t) has a token of
// probability above 0.1 (the tiny models' logits are nearly flat at temperature 1),
// so draws can tell that distribution from the unscaled one; 0 if none does.
double DistinctTemperature(const torch::Tensor& logits) {  // (V)
  for (double t : {2.0, 1.0, 0.7, 0.5, 0.3, 0.2, 0.1, 0.05}) {
    if (torch::softmax(logits.to(torch::kFloat64) / t, -1).max().item<double>() > 0.1) return t;
  }
  return 0;
}

// A request for n plain-temperature samples of `prompt`, at the DistinctTemperature of
// `model`'s logits for the token after the prompt; `next_logits` gets those logits (V).
void DistinctTemperatureRequest(const Transformer& model, const std::vector<int32_t>& prompt, int n,
                                int max_new_tokens, uint64_t seed, GenerationRequest* r,
                                torch::Tensor* next_logits) {
  auto logits =
      model.Logits(torch::tensor(std::vector<int64_t>(prompt.begin(), prompt.end())).unsqueeze(0));
  ASSERT_TRUE(logits.ok()) << logits.status();
  *next_logits = (*logits)[0][-1];
  r->prompt_ids = prompt;
  r->n = n;
  r->sampling.temperature = DistinctTemperature(*next_logits);
  ASSERT_GT(r->sampling.temperature, 0) << "no temperature sharpens the model's logits";
  r->sampling.max_new_tokens = max_new_tokens;
  r->sampling.ignore_eos = true;
  r->sampling.seed = seed;
}

// Plain temperature sampling draws from the temperature-scaled softmax of a full
// forward pass: every token's count out of 3000 first tokens within 5 standard
// deviations of its expectation, at a temperature where no token dominates and the
// distribution is far from uniform (so a shifted index would show).
TEST(EngineTest, PlainTemperatureDrawsFollowTheSoftmax) {
  ModelConfig config = TinyConfig("qwen3");
  Transformer model = MakeModel(config, 13);
  GenerationRequest r;
  torch::Tensor next_logits;
  ASSERT_NO_FATAL_FAILURE(
      DistinctTemperatureRequest(model, {3, 1, 4, 1, 5, 9, 2, 6}, 3000, 1, 17, &r, &next_logits));
  const double temperature = r.sampling.temperature;
  const torch::Tensor p = torch::softmax(next_logits.to(torch::kFloat64) / temperature, -1);
  ASSERT_LT(p.max().item<double>(), 0.8);
  auto out = MakeEngine(std::move(model))->Generate({r});
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<double> counts(config.vocab_size, 0.0);
  for (const Completion& c : *out) {
    ASSERT_EQ(c.token_ids.size(), 1u);
    counts[c.token_ids[0]] += 1;
  }
  const double n = 3000;
  for (int64_t v = 0; v < config.vocab_size; ++v) {
    const double pv = p[v].item<double>();
    EXPECT_LE(std::abs(counts[v] - n * pv), 5 * std::sqrt(n * pv * (1 - pv)) + 2)
        << "token " << v << ": " << counts[v] << " draws, expected " << n * pv << " (temperature "
        << temperature << ")";
  }
}

// Plain temperature draws on decode steps (not only the first token) follow the
// temperature-scaled softmax of a full forward pass: summed over the drawn tokens,
// log p(token) minus its expectation under p (minus the entropy) stays within 5
// standard deviations of 0. Draws from the unscaled softmax fail this by far.
TEST(EngineTest, PlainTemperatureDecodeDrawsFollowTheSoftmax) {
  ModelConfig config = TinyConfig("qwen3");
  Transformer model = MakeModel(config, 13);
  auto reference = model.Clone({});
  ASSERT_TRUE(reference.ok());
  GenerationRequest r;
  torch::Tensor next_logits;
  ASSERT_NO_FATAL_FAILURE(DistinctTemperatureRequest(*reference, {3, 1, 4, 1, 5, 9, 2, 6}, 400, 4,
                                                     23, &r, &next_logits));
  const double temperature = r.sampling.temperature;
  auto out = MakeEngine(std::move(model))->Generate({r});
  ASSERT_TRUE(out.ok()) << out.status();
  double deviation = 0, variance = 0;
  for (const Completion& c : *out) {
    ASSERT_EQ(c.token_ids.size(), 4u);
    std::vector<int64_t> seq(r.prompt_ids.begin(), r.prompt_ids.end());
    seq.insert(seq.end(), c.token_ids.begin(), c.token_ids.end());
    auto logits = reference->Logits(torch::tensor(seq).unsqueeze(0));
    ASSERT_TRUE(logits.ok());
    const torch::Tensor lp =
        torch::log_softmax((*logits)[0].to(torch::kFloat64) / temperature, -1);  // (T, V)
    for (size_t i = 1; i < c.token_ids.size(); ++i) {  // the decode steps' draws
      const torch::Tensor row = lp[static_cast<int64_t>(r.prompt_ids.size() + i) - 1];
      const double mean = (row.exp() * row).sum().item<double>();
      deviation += row[c.token_ids[i]].item<double>() - mean;
      variance += (row.exp() * row * row).sum().item<double>() - mean * mean;
    }
  }
  EXPECT_LT(std::abs(deviation / std::sqrt(variance)), 5)
      << "deviation " << deviation << ", standard deviation " << std::sqrt(variance);
}

// Greedy, two plain temperatures and a top-k chain decode in the same steps: every
// row's log-probabilities use its own temperature (1 for greedy) and greedy rows
// take the full forward's argmax.
TEST(EngineTest, MixedSamplingInOneBatchKeepsEachRowsTemperature) {
  ModelConfig config = TinyConfig("qwen3");
  Transformer model = MakeModel(config, 21);
  auto reference = model.Clone({});
  ASSERT_TRUE(reference.ok());
  const double temperatures[] = {0, 0.6, 1.4, 0.8};
  std::vector<GenerationRequest> rs(4);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 6 + i; ++j) rs[i].prompt_ids.push_back((j * 31 + 7 * i + 2) % 97);
    rs[i].n = 2;
    rs[i].sampling.temperature = temperatures[i];
    if (i == 3) rs[i].sampling.top_k = 10;
    rs[i].sampling.max_new_tokens = 8;
    rs[i].sampling.ignore_eos = true;
    rs[i].sampling.seed = i + 1;
  }
  auto out = MakeEngine(std::move(model))->Generate(rs);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 8u);
  for (const Completion& c : *out) {
    const GenerationRequest& r = rs[c.request_index];
    const double t = r.sampling.temperature;
    std::vector<int64_t> seq(r.prompt_ids.begin(), r.prompt_ids.end());
    seq.insert(seq.end(), c.token_ids.begin(), c.token_ids.end());
    auto logits = reference->Logits(torch::tensor(seq).unsqueeze(0));
    ASSERT_TRUE(logits.ok());
    const torch::Tensor lp = torch::log_softmax((*logits)[0] / (t > 0 ? t : 1.0), -1);
    ASSERT_EQ(c.token_ids.size(), 8u);
    for (size_t i = 0; i < c.token_ids.size(); ++i) {
      const int64_t pos = static_cast<int64_t>(r.prompt_ids.size() + i) - 1;
      EXPECT_NEAR(c.logprobs[i], lp[pos][c.token_ids[i]].item<float>(), 1e-4)
          << "temperature " << t << ", token " << i;
      if (t == 0) {
        EXPECT_EQ(c.token_ids[i], (*logits)[0][pos].argmax().item<int64_t>()) << "token " << i;
      }
    }
  }
}

TEST(EngineTest, SameSeedSameTokensAndPrefixSharingChangesNothing) {
  ModelConfig config = TinyConfig("llama");
  GenerationRequest r;
  r.prompt_ids = {4, 8, 15, 16, 23, 42};
  r.n = 4;
  r.sampling.temperature = 1.0;
  r.sampling.max_new_tokens = 12;
  r.sampling.ignore_eos = true;
  r.sampling.seed = 9;
  EngineOptions shared, unshared;
  unshared.prefix_sharing = false;
  auto a = MakeEngine(MakeModel(config), shared)->Generate({r});
  auto b = MakeEngine(MakeModel(config), unshared)->Generate({r});
  ASSERT_TRUE(a.ok() && b.ok());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ((*a)[i].token_ids, (*b)[i].token_ids) << "sample " << i;
    for (size_t t = 0; t < (*a)[i].logprobs.size(); ++t) {
      EXPECT_NEAR((*a)[i].logprobs[t], (*b)[i].logprobs[t], 1e-5);
    }
  }
  EXPECT_NE((*a)[0].token_ids, (*a)[1].token_ids);  // samples differ from each other
}

TEST(EngineTest, StopStringSpanningTokenBoundary) {
  Tokenizer tok = Tokenizer::Builtin();
  ModelConfig config = TinyConfig("qwen3", tok.vocab_size());
  GenerationRequest r = Greedy(tok.Encode("The answer is"), 40);
  r.sampling.temperature = 1.0;
  r.sampling.seed = 3;
  auto free_run = MakeEngine(MakeModel(config), {}, tok)->Generate({r});
  ASSERT_TRUE(free_run.ok()) << free_run.status();
  const Completion& full = (*free_run)[0];
  // A stop string made of the last character of one token's text and the
  // first character of the next one's.
  std::string stop;
  for (size_t i = 1; i + 1 < full.token_ids.size() && stop.empty(); ++i) {
    std::string a = tok.Decode({full.token_ids.data(), i});
    std::string b = tok.Decode({full.token_ids.data(), i + 1});
    if (b.size() > a.size() && !a.empty() && b.compare(0, a.size(), a) == 0 &&
        static_cast<unsigned char>(a.back()) < 0x80 &&
        static_cast<unsigned char>(b[a.size()]) < 0x80) {
      stop = std::string(1, a.back()) + b[a.size()];
    }
  }
  ASSERT_FALSE(stop.empty()) << "no boundary found in " << full.text;
  r.sampling.stop_strings = {stop};
  auto stopped = MakeEngine(MakeModel(config), {}, tok)->Generate({r});
  ASSERT_TRUE(stopped.ok());
  const Completion& c = (*stopped)[0];
  EXPECT_EQ(c.finish_reason, FinishReason::kStop);
  EXPECT_EQ(c.text, full.text.substr(0, full.text.find(stop)));
  EXPECT_LT(c.token_ids.size(), full.token_ids.size());
}

TEST(EngineTest, WeightUpdateDuringStreamKeepsVersionsApart) {
  ModelConfig config = TinyConfig("qwen3");
  config.max_position_embeddings = 1024;
  Transformer next = MakeModel(config, 99);
  auto engine = MakeEngine(MakeModel(config, 1));
  GenerationRequest r = Greedy({1, 2, 3}, 600);
  r.n = 4;
  std::vector<Completion> first;
  std::thread gen([&] {
    auto out = engine->Generate({r});
    ASSERT_TRUE(out.ok());
    first = *out;
  });
  while (engine->GetStatus().tokens_generated < 3) std::this_thread::yield();
  ASSERT_TRUE(engine->UpdateWeights(1, next.NamedParameters()).ok());
  gen.join();
  ASSERT_EQ(first.size(), 4u);
  for (const Completion& c : first) {
    EXPECT_EQ(c.token_ids.size(), 600u);
    EXPECT_EQ(c.policy_versions, std::vector<int64_t>{0});
  }
  auto after = engine->Generate({Greedy({1, 2, 3}, 5)});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)[0].policy_version, 1);
  EXPECT_EQ(engine->GetStatus().policy_version, 1);
  // The new weights are in use: same output as an engine built on them.
  auto fresh = MakeEngine(MakeModel(config, 99))->Generate({Greedy({1, 2, 3}, 5)});
  EXPECT_EQ((*after)[0].token_ids, (*fresh)[0].token_ids);
}

TEST(EngineTest, MixedVersionsAreRecordedWhenAllowed) {
  ModelConfig config = TinyConfig("qwen3");
  config.max_position_embeddings = 1024;
  Transformer next = MakeModel(config, 99);
  EngineOptions options;
  options.allow_mixed_versions = true;
  auto engine = MakeEngine(MakeModel(config, 1), options);
  std::vector<Completion> out;
  std::thread gen([&] { out = *engine->Generate({Greedy({1, 2, 3}, 600)}); });
  while (engine->GetStatus().tokens_generated < 3) std::this_thread::yield();
  ASSERT_TRUE(engine->UpdateWeights(5, next.NamedParameters()).ok());
  gen.join();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].token_ids.size(), 600u);
  EXPECT_EQ(out[0].policy_version, 0);
  EXPECT_EQ(out[0].policy_versions, (std::vector<int64_t>{0, 5}));
}

TEST(EngineTest, CancelAbortsAndFreesSlots) {
  EngineOptions options;
  options.max_batch = 2;
  auto engine = MakeEngine(MakeModel(TinyConfig("qwen3")), options);
  GenerationRequest r = Greedy({1, 2, 3}, 120);
  r.n = 5;  // more than the slots: some queued
  std::vector<Completion> got;
  absl::Mutex mu;
  bool done = false;
  auto ticket = engine->Submit(
      {r},
      [&](Completion c) {
        absl::MutexLock l(&mu);
        got.push_back(std::move(c));
      },
      [&](absl::Status) {
        absl::MutexLock l(&mu);
        done = true;
      });
  ASSERT_TRUE(ticket.ok());
  while (engine->GetStatus().tokens_generated < 1) std::this_thread::yield();
  engine->Cancel(*ticket);
  {
    absl::MutexLock l(&mu);
    mu.Await(absl::Condition(&done));
  }
  ASSERT_EQ(got.size(), 5u);  // nothing lost
  int aborted = 0;
  for (const Completion& c : got) aborted += c.finish_reason == FinishReason::kAbort;
  EXPECT_GE(aborted, 3);  // at most one pair of slots can have finished first
  EXPECT_EQ(engine->GetStatus().kv_slots_used, 0);
  EXPECT_EQ(engine->GetStatus().queued_samples, 0);
  auto again = engine->Generate({Greedy({1, 2}, 3)});  // still serving
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].token_ids.size(), 3u);
}

// Weights holding NaN (as a diverged update would leave them) fail the request with
// an error naming the cause, instead of returning tokens with NaN log-probabilities.
TEST(EngineTest, NonFiniteLogitsFailTheRequest) {
  ModelConfig config = TinyConfig("qwen3");
  Transformer model = MakeModel(config, 2);
  std::map<std::string, torch::Tensor> weights;
  for (const auto& [name, t] : model.NamedParameters()) weights[name] = t.detach().clone();
  for (auto& [name, t] : weights) {
    if (name.find("embed_tokens") != std::string::npos) t.fill_(std::nanf(""));
  }
  const absl::Status loaded = model.LoadNamedTensors(weights);
  ASSERT_TRUE(loaded.ok()) << loaded;
  auto engine = MakeEngine(std::move(model));
  for (double temperature : {0.0, 1.0, 0.7}) {
    GenerationRequest r;
    r.id = "nan";
    r.prompt_ids = {1, 2, 3};
    r.n = 2;
    r.sampling.temperature = temperature;
    if (temperature == 0.7) r.sampling.top_k = 5;
    r.sampling.max_new_tokens = 4;
    auto out = engine->Generate({r});
    ASSERT_FALSE(out.ok()) << "temperature " << temperature;
    const std::string message(out.status().message());
    EXPECT_NE(message.find("non-finite logits"), std::string::npos) << message;
    EXPECT_NE(message.find("'nan'"), std::string::npos) << message;
  }
}

TEST(EngineTest, BadRequestsNameTheField) {
  auto engine = MakeEngine(MakeModel(TinyConfig("qwen3")));
  auto check = [&](GenerationRequest r, const std::string& field) {
    auto out = engine->Generate({r});
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(out.status().message()).find(field), std::string::npos) << out.status();
  };
  GenerationRequest ok = Greedy({1, 2}, 3);
  GenerationRequest r = ok;
  r.prompt_ids.clear();
  check(r, "prompt");
  r = ok;
  r.prompt_ids.assign(200, 1);
  check(r, "prompt");
  r = ok;
  r.n = 0;
  check(r, "n ");
  r = ok;
  r.sampling.top_p = 0;
  check(r, "top_p");
  r = ok;
  r.sampling.top_p = 1.5;
  check(r, "top_p");
  r = ok;
  r.sampling.temperature = -1;
  check(r, "temperature");
}

}  // namespace
}  // namespace rlvr
