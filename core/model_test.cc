// Golden tests of Transformer against transformers (PyPI) on tiny random
// models that core/testdata/model_oracle.py makes in a temp dir.
#include "core/model.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/packed_linear.h"
#include "core/safetensors_torch.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rlvr/test_paths.h"

namespace rlvr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using torch::Tensor;

constexpr double kAtol = 1e-4;

std::string Oracle() { return std::string(RLVR_SOURCE_DIR) + "/core/testdata/model_oracle.py"; }

int RunPython(const std::string& args) {
  std::string cmd = std::string(RLVR_PYTHON) + " " + Oracle() + " " + args + " > /dev/null 2>&1";
  return std::system(cmd.c_str());
}

double MaxDiff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

class ModelTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    root_ =
        new fs::path(fs::temp_directory_path() / ("rlvr_model_test_" + std::to_string(::getpid())));
    fs::remove_all(*root_);
    fs::create_directories(*root_);
    oracle_status_ = RunPython("make " + root_->string());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
  }
  void SetUp() override {
    ASSERT_EQ(oracle_status_, 0) << "python oracle failed: " << RLVR_PYTHON << " " << Oracle();
    dir_ = *root_ / GetParam();
    auto ref = safetensors::LoadTensors((dir_ / "ref.safetensors").string());
    ASSERT_TRUE(ref.ok()) << ref.status();
    ref_ = *ref;
    auto model = Transformer::Load((dir_ / "model").string(), {});
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::make_unique<Transformer>(std::move(*model));
  }

  static fs::path* root_;
  static int oracle_status_;
  fs::path dir_;
  std::map<std::string, Tensor> ref_;
  std::unique_ptr<Transformer> model_;
};

fs::path* ModelTest::root_ = nullptr;
int ModelTest::oracle_status_ = -1;

TEST_P(ModelTest, LogitsMatchTransformers) {
  auto logits = model_->Logits(ref_["input_ids"]);
  ASSERT_TRUE(logits.ok()) << logits.status();
  EXPECT_EQ(logits->scalar_type(), torch::kFloat32);
  EXPECT_LT(MaxDiff(*logits, ref_["logits"]), kAtol);
  // The logits vary (the test is not vacuous).
  EXPECT_GT(ref_["logits"].std().item<double>(), 0.1);
}

TEST_P(ModelTest, TokenLogprobsEqualLogSoftmax) {
  Tensor ids = ref_["input_ids"];
  Tensor targets = torch::roll(ids, -1, 1);
  for (double temperature : {1.0, 0.7}) {
    TokenBatch batch{ids, {}, {}};
    auto result = model_->TokenLogprobs(
        batch, targets, {.temperature = temperature, .with_entropy = true, .chunk_size = 5});
    ASSERT_TRUE(result.ok()) << result.status();
    Tensor logp = torch::log_softmax(ref_["logits"].to(torch::kFloat64) / temperature, -1);
    Tensor expected = logp.gather(2, targets.unsqueeze(2)).squeeze(2);
    Tensor entropy = -(logp.exp() * logp).sum(-1);
    EXPECT_LT(MaxDiff(result->logprobs, expected), kAtol) << temperature;
    EXPECT_LT(MaxDiff(result->entropy, entropy), kAtol) << temperature;
    // Only some positions, in any order: the same values at those positions.
    const int64_t n = ids.numel();
    Tensor only = torch::tensor({n - 1, int64_t{0}, n / 2, int64_t{3}}, torch::kInt64);
    auto some = model_->TokenLogprobs(batch, targets,
                                      {.temperature = temperature,
                                       .with_entropy = true,
                                       .chunk_size = 3,
                                       .only_positions = only});
    ASSERT_TRUE(some.ok()) << some.status();
    EXPECT_EQ(some->logprobs.sizes(), only.sizes());
    EXPECT_LT(MaxDiff(some->logprobs, expected.reshape({-1}).index_select(0, only)), kAtol);
    EXPECT_LT(MaxDiff(some->entropy, entropy.reshape({-1}).index_select(0, only)), kAtol);
  }
  auto outside = model_->TokenLogprobs({ids, {}, {}}, targets,
                                       {.only_positions = torch::tensor({ids.numel()})});
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("only_positions outside"), std::string::npos);
}

TEST_P(ModelTest, TokenLogprobsGradientMatchesFullSoftmax) {
  // Gradients of the chunked path equal those of a plain log_softmax over
  // the full logits (autograd through the model in both cases), whether the
  // backward pass reuses the forward's log-softmax chunks, recomputes all of
  // them, or a mix; with and without the entropy term.
  auto trainable = model_->Clone({.requires_grad = true});
  ASSERT_TRUE(trainable.ok()) << trainable.status();
  Tensor ids = ref_["input_ids"];
  Tensor targets = torch::roll(ids, -1, 1);
  Tensor weights = torch::linspace(-1, 1, ids.numel()).view(ids.sizes());
  const int64_t chunk = 3;
  const int64_t chunk_bytes = chunk * trainable->config().vocab_size * 4;
  for (bool with_entropy : {true, false}) {
    const double entropy_coef = with_entropy ? 0.5 : 0.0;
    for (auto& [name, p] : trainable->NamedParameters()) p.mutable_grad() = Tensor();
    auto logits = trainable->Logits(ids);
    ASSERT_TRUE(logits.ok());
    Tensor logp = torch::log_softmax(*logits / 0.9, -1);
    Tensor lp = logp.gather(2, targets.unsqueeze(2)).squeeze(2);
    Tensor ent = -(logp.exp() * logp).sum(-1);
    ((lp * weights).sum() + entropy_coef * ent.sum()).backward();
    std::map<std::string, Tensor> full_grads;
    for (auto& [name, p] : trainable->NamedParameters()) full_grads[name] = p.grad().clone();
    for (int64_t saved : {int64_t{0}, chunk_bytes, int64_t{1} << 30}) {
      SCOPED_TRACE(absl::StrCat("with_entropy ", with_entropy, ", max_saved_bytes ", saved));
      for (auto& [name, p] : trainable->NamedParameters()) p.mutable_grad() = Tensor();
      auto result = trainable->TokenLogprobs({ids, {}, {}}, targets,
                                             {.temperature = 0.9,
                                              .with_entropy = with_entropy,
                                              .chunk_size = chunk,
                                              .max_saved_bytes = saved});
      ASSERT_TRUE(result.ok()) << result.status();
      Tensor loss = (result->logprobs * weights).sum();
      if (with_entropy) loss = loss + entropy_coef * result->entropy.sum();
      loss.backward();
      for (auto& [name, p] : trainable->NamedParameters()) {
        ASSERT_TRUE(p.grad().defined()) << name;
        EXPECT_LT(MaxDiff(p.grad(), full_grads[name]), 1e-4) << name;
      }
    }
  }
}

TEST_P(ModelTest, PackedSequencesEqualSeparateForwards) {
  // Row 0: seq_a then seq_b packed; row 1: seq_b then padding.
  Tensor a = ref_["seq_a"], b = ref_["seq_b"];
  const int64_t na = a.size(1), nb = b.size(1), T = na + nb;
  Tensor ids = torch::zeros({2, T}, torch::kInt64);
  ids[0].narrow(0, 0, na).copy_(a[0]);
  ids[0].narrow(0, na, nb).copy_(b[0]);
  ids[1].narrow(0, 0, nb).copy_(b[0]);
  Tensor seg = torch::full({2, T}, -1, torch::kInt64);
  seg[0].narrow(0, 0, na).fill_(0);
  seg[0].narrow(0, na, nb).fill_(1);
  seg[1].narrow(0, 0, nb).fill_(0);
  auto logits = model_->Logits(TokenBatch{ids, {}, seg});
  ASSERT_TRUE(logits.ok()) << logits.status();
  EXPECT_LT(MaxDiff((*logits)[0].narrow(0, 0, na), ref_["logits_a"][0]), kAtol);
  EXPECT_LT(MaxDiff((*logits)[0].narrow(0, na, nb), ref_["logits_b"][0]), kAtol);
  EXPECT_LT(MaxDiff((*logits)[1].narrow(0, 0, nb), ref_["logits_b"][0]), kAtol);
  // Explicit position ids give the same.
  Tensor pos = torch::zeros({2, T}, torch::kInt64);
  pos[0].narrow(0, 0, na).copy_(torch::arange(na));
  pos[0].narrow(0, na, nb).copy_(torch::arange(nb));
  pos[1].copy_(torch::arange(T));
  auto explicit_logits = model_->Logits(TokenBatch{ids, pos, seg});
  ASSERT_TRUE(explicit_logits.ok());
  EXPECT_LT(MaxDiff((*explicit_logits)[0], (*logits)[0]), 1e-6);
}

TEST_P(ModelTest, KVCacheDecodingMatchesFullForward) {
  Tensor ids = ref_["input_ids"];  // (2, T)
  Tensor want = ref_["logits"];
  const int64_t T = ids.size(1);
  auto cache = KVCache::Create(model_->config(), {.max_len = 16, .num_slots = 5}, torch::kCPU,
                               torch::kFloat32);
  ASSERT_TRUE(cache.ok()) << cache.status();
  std::vector<int64_t> row0(ids[0].data_ptr<int64_t>(), ids[0].data_ptr<int64_t>() + T);
  std::vector<int64_t> row1(ids[1].data_ptr<int64_t>(), ids[1].data_ptr<int64_t>() + T);
  // Slots 0 and 1 hold different prompt lengths; slot 3 shares row 0's prefix.
  int64_t s0 = *cache->Allocate(), s1 = *cache->Allocate(), s2 = *cache->Allocate(),
          s3 = *cache->Allocate();
  (void)s2;
  const int64_t p0 = 4, p1 = 7;
  auto l0 = model_->Prefill(*cache, s0, {row0.begin(), row0.begin() + p0});
  ASSERT_TRUE(l0.ok()) << l0.status();
  EXPECT_LT(MaxDiff(*l0, want[0][p0 - 1]), kAtol);
  // Prefill in two pieces (the second appends to a non-empty slot).
  ASSERT_TRUE(model_->Prefill(*cache, s1, {row1.begin(), row1.begin() + 3}).ok());
  auto l1 = model_->Prefill(*cache, s1, {row1.begin() + 3, row1.begin() + p1});
  ASSERT_TRUE(l1.ok()) << l1.status();
  EXPECT_LT(MaxDiff(*l1, want[1][p1 - 1]), kAtol);
  ASSERT_TRUE(cache->CopyPrefix(s0, s3, 2).ok());
  ASSERT_TRUE(model_->Prefill(*cache, s3, {row0.begin() + 2, row0.begin() + p0}).ok());
  EXPECT_EQ(cache->length(s3), p0);
  // Batched steps over slots of different lengths, non-contiguous slot ids.
  int64_t n0 = p0, n1 = p1;
  while (n1 < T) {
    Tensor slots = torch::tensor({s1, s0, s3}, torch::kInt64);
    Tensor tokens = torch::tensor({row1[n1], row0[n0], row0[n0]}, torch::kInt64);
    Tensor positions = torch::tensor({n1, n0, n0}, torch::kInt64);
    auto logits = model_->DecodeStep(*cache, slots, tokens, positions);
    ASSERT_TRUE(logits.ok()) << logits.status();
    EXPECT_LT(MaxDiff((*logits)[0], want[1][n1]), kAtol) << n1;
    EXPECT_LT(MaxDiff((*logits)[1], want[0][n0]), kAtol) << n0;
    EXPECT_LT(MaxDiff((*logits)[2], want[0][n0]), kAtol) << n0;
    ++n0;
    ++n1;
  }
  EXPECT_EQ(cache->length(s1), T);
  // Contiguous slots (the fast path) and a rewind of slot 0 to position 5.
  auto logits = model_->DecodeStep(*cache, torch::tensor({s0, s1}, torch::kInt64),
                                   torch::tensor({row0[5], row1[T - 1]}, torch::kInt64),
                                   torch::tensor({int64_t{5}, T - 1}, torch::kInt64));
  ASSERT_TRUE(logits.ok()) << logits.status();
  EXPECT_LT(MaxDiff((*logits)[0], want[0][5]), kAtol);
  EXPECT_LT(MaxDiff((*logits)[1], want[1][T - 1]), kAtol);
  EXPECT_EQ(cache->length(s0), 6);
  cache->Free(s0);
  EXPECT_FALSE(cache->in_use(s0));
  EXPECT_EQ(*cache->Allocate(), s0);
}

TEST_P(ModelTest, PrefillBatchMatchesTransformers) {
  Tensor ids = ref_["input_ids"];  // (2, T)
  Tensor want = ref_["logits"];
  const int64_t T = ids.size(1);
  auto cache = KVCache::Create(model_->config(), {.max_len = 16, .num_slots = 4}, torch::kCPU,
                               torch::kFloat32);
  ASSERT_TRUE(cache.ok()) << cache.status();
  std::vector<int64_t> row0(ids[0].data_ptr<int64_t>(), ids[0].data_ptr<int64_t>() + T);
  std::vector<int64_t> row1(ids[1].data_ptr<int64_t>(), ids[1].data_ptr<int64_t>() + T);
  const int64_t s0 = *cache->Allocate(), s1 = *cache->Allocate(), s2 = *cache->Allocate();
  // Slot 2 already holds 2 tokens of row 1; the batch appends the rest of its prompt.
  ASSERT_TRUE(model_->Prefill(*cache, s2, {row1.begin(), row1.begin() + 2}).ok());
  const int64_t p0 = 5, p1 = 3, p2 = 6;
  const std::vector<std::vector<int64_t>> prompts = {{row0.begin(), row0.begin() + p0},
                                                     {row1.begin(), row1.begin() + p1},
                                                     {row1.begin() + 2, row1.begin() + p2}};
  // Chunks of 3 tokens split prompts across forward passes; one chunk holds
  // no prompt's last token.
  auto logits = model_->PrefillBatch(*cache, {s0, s1, s2}, prompts, {.max_chunk_tokens = 3});
  ASSERT_TRUE(logits.ok()) << logits.status();
  ASSERT_EQ(logits->sizes(), (std::vector<int64_t>{3, model_->config().vocab_size}));
  EXPECT_LT(MaxDiff((*logits)[0], want[0][p0 - 1]), kAtol);
  EXPECT_LT(MaxDiff((*logits)[1], want[1][p1 - 1]), kAtol);
  EXPECT_LT(MaxDiff((*logits)[2], want[1][p2 - 1]), kAtol);
  EXPECT_EQ(cache->length(s0), p0);
  EXPECT_EQ(cache->length(s1), p1);
  EXPECT_EQ(cache->length(s2), p2);
  // Decoding continues from the batched prefill.
  auto next = model_->DecodeStep(*cache, torch::tensor({s2, s0}, torch::kInt64),
                                 torch::tensor({row1[p2], row0[p0]}, torch::kInt64),
                                 torch::tensor({p2, p0}, torch::kInt64));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_LT(MaxDiff((*next)[0], want[1][p2]), kAtol);
  EXPECT_LT(MaxDiff((*next)[1], want[0][p0]), kAtol);
  // Bad batches name the problem and change nothing.
  const int64_t s3 = *cache->Allocate();
  EXPECT_THAT(std::string(model_->PrefillBatch(*cache, {s3, s3}, {{1}, {2}}).status().message()),
              HasSubstr("appears twice"));
  EXPECT_THAT(std::string(model_->PrefillBatch(*cache, {s3}, {{}}).status().message()),
              HasSubstr("empty"));
  EXPECT_THAT(
      std::string(
          model_->PrefillBatch(*cache, {s3}, {std::vector<int64_t>(17, 1)}).status().message()),
      HasSubstr("max_len"));
  EXPECT_EQ(cache->length(s3), 0);
}

TEST_P(ModelTest, SaveLoadIsBitIdenticalAndTransformersLoadsIt) {
  fs::path out = dir_ / "saved";
  // Tiny shards for one family so the sharded writer is exercised.
  SaveOptions save_options;
  if (GetParam() == "qwen2") save_options.max_shard_bytes = 16 << 10;
  ASSERT_TRUE(model_->Save(out.string(), save_options).ok());
  EXPECT_EQ(fs::exists(out / "model.safetensors.index.json"), GetParam() == "qwen2");
  auto loaded = Transformer::Load(out.string(), {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto a = model_->NamedParameters(), b = loaded->NamedParameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
  // transformers loads the saved directory and computes the same logits.
  std::string ids_path = (dir_ / "ids.safetensors").string();
  std::string out_path = (dir_ / "saved_logits.safetensors").string();
  ASSERT_TRUE(safetensors::SaveTensors(ids_path, {{"input_ids", ref_["input_ids"]}}).ok());
  ASSERT_EQ(RunPython("run " + out.string() + " " + ids_path + " " + out_path), 0);
  auto theirs = safetensors::LoadTensors(out_path);
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  EXPECT_LT(MaxDiff(theirs->at("logits"), ref_["logits"]), kAtol);
}

TEST_P(ModelTest, Bfloat16CloseToTransformers) {
  auto model = Transformer::Load((dir_ / "model").string(), {.dtype = torch::kBFloat16});
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->NamedParameters()[0].second.scalar_type(), torch::kBFloat16);
  auto logits = model->Logits(ref_["input_ids"]);
  ASSERT_TRUE(logits.ok()) << logits.status();
  const double scale = ref_["logits"].abs().max().item<double>();
  EXPECT_LT(MaxDiff(*logits, ref_["logits_bf16"]), 0.05 * scale);
  // KV-cache decoding in bfloat16 runs and agrees with the bf16 full forward.
  auto cache = KVCache::Create(model->config(), {.max_len = 16, .num_slots = 1}, torch::kCPU,
                               torch::kBFloat16);
  ASSERT_TRUE(cache.ok());
  int64_t slot = *cache->Allocate();
  Tensor ids = ref_["input_ids"];
  std::vector<int64_t> row(ids[0].data_ptr<int64_t>(), ids[0].data_ptr<int64_t>() + 5);
  auto last = model->Prefill(*cache, slot, row);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_LT(MaxDiff(*last, (*logits)[0][4]), 0.05 * scale);
}

TEST_P(ModelTest, LoadNamedTensorsIsAtomic) {
  auto other = Transformer::RandomInit(model_->config(), 7, {});
  ASSERT_TRUE(other.ok()) << other.status();
  std::map<std::string, Tensor> named;
  for (auto& [name, t] : model_->NamedParameters()) named[name] = t;
  // A wrong shape anywhere leaves every weight unchanged.
  auto before = other->NamedParameters()[0].second.clone();
  std::map<std::string, Tensor> bad = named;
  bad["model.norm.weight"] = torch::ones({3});
  absl::Status status = other->LoadNamedTensors(bad);
  EXPECT_THAT(std::string(status.message()), HasSubstr("model.norm.weight"));
  EXPECT_TRUE(torch::equal(other->NamedParameters()[0].second, before));
  bad = named;
  bad.erase("model.norm.weight");
  EXPECT_FALSE(other->LoadNamedTensors(bad).ok());
  bad = named;
  bad["model.extra"] = torch::ones({1});
  EXPECT_THAT(std::string(other->LoadNamedTensors(bad).message()), HasSubstr("model.extra"));
  // Decode once before the load, so the decoding path has packed the old weights.
  auto cache = KVCache::Create(model_->config(), {.max_len = 16, .num_slots = 1}, torch::kCPU,
                               torch::kFloat32);
  ASSERT_TRUE(cache.ok());
  Tensor ids = ref_["input_ids"];
  std::vector<int64_t> row(ids[0].data_ptr<int64_t>(), ids[0].data_ptr<int64_t>() + 5);
  const int64_t slot = *cache->Allocate();
  auto old_last = other->Prefill(*cache, slot, row);
  ASSERT_TRUE(old_last.ok()) << old_last.status();
  EXPECT_GT(MaxDiff(*old_last, ref_["logits"][0][4]), 1e-3);
  ASSERT_TRUE(other->LoadNamedTensors(named).ok());
  auto logits = other->Logits(ref_["input_ids"]);
  ASSERT_TRUE(logits.ok());
  EXPECT_LT(MaxDiff(*logits, ref_["logits"]), kAtol);
  // ... and decoding sees the new weights.
  cache->Free(slot);
  auto last = other->Prefill(*cache, *cache->Allocate(), row);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_LT(MaxDiff(*last, ref_["logits"][0][4]), kAtol);
}

INSTANTIATE_TEST_SUITE_P(Families, ModelTest, ::testing::Values("llama", "qwen2", "qwen3"));

// The fused decoding path (an inference model) against the LibTorch full forward
// of a trainable copy (scaled_dot_product_attention, checked against transformers
// above) for the head sizes with their own attention kernels (32, 64, 128) and one
// without (48), with q/k norm and biases, and 1, 2 and 4 query heads per key/value
// head (the kernel takes up to 4 heads of 32 dims and 2 of 64 together).
class FusedDecodingTest : public ::testing::TestWithParam<std::tuple<int, int, bool>> {};

TEST_P(FusedDecodingTest, MatchesFullForward) {
  const auto [head_dim, kv_heads, qwen3] = GetParam();
  ModelConfig c;
  c.model_type = qwen3 ? "qwen3" : "qwen2";
  c.vocab_size = 300;
  c.hidden_size = 96;
  c.intermediate_size = 160;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = kv_heads;
  c.head_dim = head_dim;
  c.max_position_embeddings = 64;
  c.qk_norm = qwen3;
  c.qkv_bias = !qwen3;
  c.tie_word_embeddings = qwen3;
  auto model = Transformer::RandomInit(c, 3, {});
  ASSERT_TRUE(model.ok()) << model.status();
  // Norm weights and biases away from their 1 / 0 initialisation, so a kernel
  // that skipped one would differ.
  std::map<std::string, Tensor> named;
  torch::manual_seed(5);
  for (auto& [name, t] : model->NamedParameters()) {
    named[name] = name.find("norm") != std::string::npos || name.find("bias") != std::string::npos
                      ? t + 0.3 * torch::randn_like(t)
                      : t.clone();
  }
  ASSERT_TRUE(model->LoadNamedTensors(named).ok());
  auto reference = model->Clone({.requires_grad = true});
  ASSERT_TRUE(reference.ok()) << reference.status();
  const int64_t T = 20;
  Tensor ids = torch::randint(c.vocab_size, {2, T}, torch::kInt64);
  Tensor want;
  {
    torch::NoGradGuard no_grad;
    auto logits = reference->Logits(ids);
    ASSERT_TRUE(logits.ok()) << logits.status();
    want = *logits;
  }
  auto cache = KVCache::Create(c, {.max_len = 32, .num_slots = 3}, torch::kCPU, torch::kFloat32);
  ASSERT_TRUE(cache.ok());
  const int64_t s0 = *cache->Allocate(), s1 = *cache->Allocate();
  std::vector<int64_t> row0(ids[0].data_ptr<int64_t>(), ids[0].data_ptr<int64_t>() + T);
  std::vector<int64_t> row1(ids[1].data_ptr<int64_t>(), ids[1].data_ptr<int64_t>() + T);
  auto first = model->PrefillBatch(
      *cache, {s1, s0}, {{row1.begin(), row1.begin() + 3}, {row0.begin(), row0.begin() + 7}});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_LT(MaxDiff((*first)[0], want[1][2]), kAtol);
  EXPECT_LT(MaxDiff((*first)[1], want[0][6]), kAtol);
  for (int64_t n1 = 3, n0 = 7; n0 < T; ++n0, ++n1) {
    auto logits = model->DecodeStep(*cache, torch::tensor({s0, s1}, torch::kInt64),
                                    torch::tensor({row0[n0], row1[n1]}, torch::kInt64),
                                    torch::tensor({n0, n1}, torch::kInt64));
    ASSERT_TRUE(logits.ok()) << logits.status();
    EXPECT_LT(MaxDiff((*logits)[0], want[0][n0]), kAtol) << n0;
    EXPECT_LT(MaxDiff((*logits)[1], want[1][n1]), kAtol) << n1;
  }
}

INSTANTIATE_TEST_SUITE_P(
    HeadSizes, FusedDecodingTest,
    ::testing::Values(std::make_tuple(32, 2, true), std::make_tuple(32, 1, true),
                      std::make_tuple(64, 4, true), std::make_tuple(64, 2, true),
                      std::make_tuple(128, 1, false), std::make_tuple(48, 2, false)));

}  // namespace
}  // namespace rlvr

namespace rlvr {
namespace {

// The prepacked linear against at::linear on the row-major weight, with and
// without bias, for decode-sized and prefill-sized row counts. The packing ops
// must be present in the LibTorch we build against, or decoding silently takes
// the slower path.
TEST(PackedLinearTest, EqualsAtLinear) {
  torch::manual_seed(0);
  torch::Tensor w = torch::randn({384, 96});
  torch::Tensor b = torch::randn({384});
  torch::Tensor packed = PackLinearWeight(w);
  ASSERT_TRUE(packed.defined()) << "LibTorch lacks mkldnn::_reorder_linear_weight";
  for (int64_t rows : {1, 7, 32, 300, 320}) {  // 300 is padded to 320 rows inside
    torch::Tensor x = torch::randn({rows, 96});
    torch::Tensor want = at::linear(x, w, b);
    EXPECT_LT((PackedLinear(x, packed, b) - want).abs().max().item<double>(), 1e-4) << rows;
    EXPECT_LT(
        (PackedLinear(x, packed, torch::Tensor()) - at::linear(x, w)).abs().max().item<double>(),
        1e-4)
        << rows;
  }
  EXPECT_FALSE(PackLinearWeight(w.to(torch::kBFloat16)).defined());  // float32 only
  EXPECT_FALSE(PackingPays(w));
  EXPECT_TRUE(PackingPays(torch::zeros({512, 1536})));
}

}  // namespace
}  // namespace rlvr
