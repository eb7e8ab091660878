#include "rollout/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/cpu_kernels.h"
#include "core/kv_cache.h"
#include "core/status_macros.h"
#include "rollout/sampler.h"

namespace rlvr {
namespace {

using Clock = std::chrono::steady_clock;

struct Ticket {
  int64_t id = 0;
  std::vector<GenerationRequest> requests;
  std::vector<std::unique_ptr<Sampler>> samplers;  // per request
  CompletionCallback on_completion;
  std::function<void(absl::Status)> on_done;
  int64_t outstanding = 0;  // samples not yet reported (engine thread only)
  bool cancelled = false;   // guarded by Impl::mu
  absl::Status error;       // engine thread only
};

// A request whose samples are not all admitted yet.
struct Pending {
  std::shared_ptr<Ticket> ticket;
  int64_t request_index = 0;
  int64_t next_sample = 0;
};

struct Sequence {
  std::shared_ptr<Ticket> ticket;
  int64_t request_index = 0;
  int64_t sample_index = 0;
  int64_t slot = -1;
  int64_t prompt_len = 0;
  std::mt19937_64 rng;
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::set<int64_t> versions;
  // Incremental detokenisation (only with a tokenizer).
  size_t prefix_offset = 0, read_offset = 0;
  std::string text;
  size_t stop_pos = std::string::npos;  // where a stop string matched in `text`
  bool done = false;
  FinishReason reason = FinishReason::kStop;
  bool stopped_by_token = false;

  const GenerationRequest& request() const { return ticket->requests[request_index]; }
};

struct WeightUpdate {
  int64_t version = 0;
  std::map<std::string, torch::Tensor> tensors;
  bool done = false;
  absl::Status result;
};

uint64_t SampleSeed(uint64_t seed, int64_t sample) {
  // splitmix64 of (seed, sample): decorrelates neighbouring seeds and samples.
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(sample + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Temperature sampling without top-k, top-p or min-p: drawn straight from the
// temperature-scaled probabilities.
bool PlainTemperature(const SamplingParams& p) {
  return p.temperature > 0 && p.top_k == 0 && p.top_p >= 1.0 && p.min_p == 0;
}

bool EndsWithIncompleteUtf8(const std::string& s) {
  // U+FFFD as UTF-8 (EF BF BD): Decode's replacement for a partial character.
  return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

}  // namespace

struct Engine::Impl {
  Transformer model;
  std::optional<Tokenizer> tokenizer;
  EngineOptions options;
  KVCache cache;
  int64_t max_len = 0;
  int64_t vocab = 0;
  int64_t num_slots = 0;
  std::vector<int64_t> eos_ids;

  mutable absl::Mutex mu;
  std::deque<Pending> queue ABSL_GUARDED_BY(mu);
  int64_t queued_samples ABSL_GUARDED_BY(mu) = 0;
  std::map<int64_t, std::shared_ptr<Ticket>> tickets ABSL_GUARDED_BY(mu);
  bool cancel_pending ABSL_GUARDED_BY(mu) = false;
  WeightUpdate* update ABSL_GUARDED_BY(mu) = nullptr;
  bool stop ABSL_GUARDED_BY(mu) = false;
  int64_t next_ticket ABSL_GUARDED_BY(mu) = 1;
  int64_t version ABSL_GUARDED_BY(mu) = 0;
  int64_t running ABSL_GUARDED_BY(mu) = 0;
  int64_t tokens_generated ABSL_GUARDED_BY(mu) = 0;
  double decode_seconds ABSL_GUARDED_BY(mu) = 0;
  int64_t decode_steps ABSL_GUARDED_BY(mu) = 0;
  std::deque<std::pair<Clock::time_point, int64_t>> rate_window ABSL_GUARDED_BY(mu);

  // Engine thread only.
  std::vector<std::unique_ptr<Sequence>> active;
  std::vector<std::pair<std::shared_ptr<Ticket>, Completion>> outbox;
  int64_t current_version = 0;
  std::thread thread;

  Impl(Transformer m, std::optional<Tokenizer> t, const EngineOptions& o, KVCache c)
      : model(std::move(m)), tokenizer(std::move(t)), options(o), cache(std::move(c)) {}

  void Loop();
  bool Iterate();
  void SettleCancellations();
  struct Admission {
    std::shared_ptr<Ticket> ticket;
    int64_t request_index, first, count;
  };
  void Admit();
  // Prefills the admitted samples' prompts in one batched pass and samples
  // their first tokens.
  void AdmitAll(const std::vector<Admission>& admissions);
  void DecodeAll();
  // What SampleAndAppend needs of one row of logits besides the row (cpu::LogitStats).
  struct RowStats {
    int64_t argmax = 0;   // the first index of the largest logit
    float scale = 1;      // 1 / temperature, or 1 when greedy
    float logsumexp = 0;  // log(sum(exp(row * scale)))
  };
  // Picks the next token of `seq` from `row` (vocab logits) and appends it with its
  // log-probability under the temperature-scaled distribution, row[token] * scale -
  // logsumexp. `prob_row`: softmax(row * scale), read only when PlainTemperature,
  // else may be null.
  void SampleAndAppend(Sequence& seq, const float* row, const RowStats& stats,
                       const float* prob_row);
  void CheckStop(Sequence& seq);
  void Finish(Sequence& seq, FinishReason reason);
  void FailAll(const absl::Status& status);
  void Flush();
};

// ---------------------------------------------------------------- creation

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(Transformer model,
                                                       std::optional<Tokenizer> tokenizer,
                                                       const EngineOptions& options) {
  const ModelConfig& config = model.config();
  KVCacheOptions cache_options;
  cache_options.max_len = options.max_len > 0 ? options.max_len : config.max_position_embeddings;
  cache_options.byte_budget = options.kv_byte_budget;
  cache_options.num_slots = 0;
  ASSIGN_OR_RETURN(KVCache probe, KVCache::Create(config, {cache_options.max_len, 1, 0},
                                                  model.options().device, model.options().dtype));
  int64_t slots = options.kv_byte_budget / std::max<int64_t>(1, probe.bytes_per_slot());
  if (options.max_batch > 0) slots = std::min(slots, options.max_batch);
  if (slots < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv_byte_budget ", options.kv_byte_budget, " holds no sequence of max_len ",
                     cache_options.max_len, " (", probe.bytes_per_slot(), " bytes each)"));
  }
  cache_options.num_slots = slots;
  ASSIGN_OR_RETURN(KVCache cache, KVCache::Create(config, cache_options, model.options().device,
                                                  model.options().dtype));
  auto impl =
      std::make_unique<Impl>(std::move(model), std::move(tokenizer), options, std::move(cache));
  impl->max_len = cache_options.max_len;
  impl->vocab = config.vocab_size;
  impl->num_slots = slots;
  impl->eos_ids = config.eos_token_ids;
  if (impl->tokenizer && impl->tokenizer->eos_id()) {
    impl->eos_ids.push_back(*impl->tokenizer->eos_id());
  }
  impl->current_version = options.initial_version;
  {
    absl::MutexLock lock(&impl->mu);
    impl->version = options.initial_version;
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->Loop(); });
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->stop = true;
  }
  impl_->thread.join();
}

const ModelConfig& Engine::model_config() const { return impl_->model.config(); }
const std::optional<Tokenizer>& Engine::tokenizer() const { return impl_->tokenizer; }
int64_t Engine::max_len() const { return impl_->max_len; }

// ---------------------------------------------------------------- public API

absl::Status Engine::ValidateRequest(const GenerationRequest& r) const {
  if (r.prompt_ids.empty()) return absl::InvalidArgumentError("prompt: empty prompt");
  if (static_cast<int64_t>(r.prompt_ids.size()) >= impl_->max_len) {
    return absl::InvalidArgumentError(absl::StrCat("prompt: ", r.prompt_ids.size(),
                                                   " tokens do not fit the context of ",
                                                   impl_->max_len, " tokens"));
  }
  for (int32_t id : r.prompt_ids) {
    if (id < 0 || id >= impl_->vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompt: token id ", id, " outside the vocabulary [0, ", impl_->vocab, ")"));
    }
  }
  if (r.n < 1) return absl::InvalidArgumentError(absl::StrCat("n must be >= 1, got ", r.n));
  RETURN_IF_ERROR(ValidateSamplingParams(r.sampling));
  if (!r.sampling.stop_strings.empty() && !impl_->tokenizer) {
    return absl::InvalidArgumentError("stop_strings: the engine has no tokenizer");
  }
  for (int64_t id : r.sampling.stop_token_ids) {
    if (id < 0 || id >= impl_->vocab) {
      return absl::InvalidArgumentError(absl::StrCat("stop_token_ids: ", id, " out of range"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Engine::Submit(std::vector<GenerationRequest> requests,
                                       CompletionCallback on_completion,
                                       std::function<void(absl::Status)> on_done) {
  auto ticket = std::make_shared<Ticket>();
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::Status s = ValidateRequest(requests[i]);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("requests[", i, "].", std::string(s.message())));
    }
    ticket->samplers.push_back(MakeSamplerChain(requests[i].sampling));
    ticket->outstanding += requests[i].n;
  }
  ticket->requests = std::move(requests);
  ticket->on_completion = std::move(on_completion);
  ticket->on_done = std::move(on_done);
  if (ticket->outstanding == 0) {
    if (ticket->on_done) ticket->on_done(absl::OkStatus());
    return 0;
  }
  absl::MutexLock lock(&impl_->mu);
  if (impl_->stop) return absl::UnavailableError("engine is shutting down");
  ticket->id = impl_->next_ticket++;
  impl_->tickets[ticket->id] = ticket;
  for (size_t i = 0; i < ticket->requests.size(); ++i) {
    impl_->queue.push_back({ticket, static_cast<int64_t>(i), 0});
    impl_->queued_samples += ticket->requests[i].n;
  }
  return ticket->id;
}

void Engine::Cancel(int64_t ticket) {
  absl::MutexLock lock(&impl_->mu);
  auto it = impl_->tickets.find(ticket);
  if (it == impl_->tickets.end()) return;
  it->second->cancelled = true;
  impl_->cancel_pending = true;
}

absl::Status Engine::GenerateStream(const std::vector<GenerationRequest>& requests,
                                    const CompletionCallback& on_completion) {
  absl::Mutex done_mu;
  bool done = false;
  absl::Status result;
  ASSIGN_OR_RETURN(int64_t ticket, Submit(requests, on_completion, [&](absl::Status s) {
                     absl::MutexLock lock(&done_mu);
                     result = std::move(s);
                     done = true;
                   }));
  (void)ticket;
  absl::MutexLock lock(&done_mu);
  done_mu.Await(absl::Condition(&done));
  return result;
}

absl::Status Engine::UpdateWeights(
    int64_t version, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  WeightUpdate update;
  update.version = version;
  for (const auto& [name, t] : tensors) update.tensors[name] = t;
  absl::MutexLock lock(&impl_->mu);
  impl_->mu.Await(absl::Condition(
      +[](Impl* impl)
           ABSL_NO_THREAD_SAFETY_ANALYSIS { return impl->update == nullptr || impl->stop; },
      impl_.get()));
  if (impl_->stop) return absl::UnavailableError("engine is shutting down");
  impl_->update = &update;
  impl_->mu.Await(absl::Condition(&update.done));
  return update.result;
}

EngineStatus Engine::GetStatus() const {
  EngineStatus s;
  absl::MutexLock lock(&impl_->mu);
  s.policy_version = impl_->version;
  s.queued_samples = impl_->queued_samples;
  s.running_sequences = impl_->running;
  s.kv_slots_used = impl_->running;
  s.kv_slots_total = impl_->num_slots;
  s.kv_bytes_used = impl_->running * impl_->cache.bytes_per_slot();
  s.kv_bytes_total = impl_->num_slots * impl_->cache.bytes_per_slot();
  s.tokens_generated = impl_->tokens_generated;
  s.decode_seconds = impl_->decode_seconds;
  s.decode_steps = impl_->decode_steps;
  if (impl_->rate_window.size() >= 2) {
    const double secs = std::chrono::duration<double>(impl_->rate_window.back().first -
                                                      impl_->rate_window.front().first)
                            .count();
    int64_t tokens = 0;
    for (size_t i = 1; i < impl_->rate_window.size(); ++i) tokens += impl_->rate_window[i].second;
    if (secs > 0) s.tokens_per_second = tokens / secs;
  }
  return s;
}

// ---------------------------------------------------------------- engine thread

void Engine::Impl::Loop() {
  // With the OpenMP backend the thread count is per calling thread.
  if (options.intra_op_threads > 0) at::set_num_threads(options.intra_op_threads);
  torch::InferenceMode guard;
  while (Iterate()) {
  }
}

bool Engine::Impl::Iterate() {
  {
    absl::MutexLock lock(&mu);
    if (active.empty()) {
      mu.Await(absl::Condition(
          +[](Impl* impl) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return impl->stop || !impl->queue.empty() || impl->update != nullptr ||
                   impl->cancel_pending;
          },
          this));
    }
    if (stop) {
      for (auto& [id, t] : tickets) t->cancelled = true;
      cancel_pending = true;
    }
  }
  SettleCancellations();
  bool stopping;
  {
    absl::MutexLock lock(&mu);
    stopping = stop;
    if (update != nullptr && (options.allow_mixed_versions || active.empty())) {
      update->result = model.LoadNamedTensors(update->tensors);
      if (update->result.ok()) {
        version = update->version;
        current_version = update->version;
      }
      update->done = true;
      update = nullptr;
    }
  }
  if (stopping) {
    Flush();
    absl::MutexLock lock(&mu);
    if (update != nullptr) {
      update->result = absl::UnavailableError("engine is shutting down");
      update->done = true;
      update = nullptr;
    }
    return false;
  }
  Admit();
  if (!active.empty()) DecodeAll();
  Flush();
  return true;
}

void Engine::Impl::SettleCancellations() {
  std::vector<Pending> dropped;
  {
    absl::MutexLock lock(&mu);
    if (!cancel_pending) return;
    cancel_pending = false;
    for (auto it = queue.begin(); it != queue.end();) {
      if (it->ticket->cancelled) {
        queued_samples -= it->ticket->requests[it->request_index].n - it->next_sample;
        dropped.push_back(std::move(*it));
        it = queue.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& seq : active) {
      if (seq->ticket->cancelled) seq->done = true;  // finished below
    }
  }
  for (auto& seq : active) {
    if (seq->done) Finish(*seq, FinishReason::kAbort);
  }
  active.erase(std::remove_if(active.begin(), active.end(),
                              [](const std::unique_ptr<Sequence>& s) { return s->slot < 0; }),
               active.end());
  for (Pending& p : dropped) {
    const GenerationRequest& r = p.ticket->requests[p.request_index];
    for (int64_t i = p.next_sample; i < r.n; ++i) {
      Completion c;
      c.request_id = r.id;
      c.request_index = p.request_index;
      c.sample_index = i;
      c.finish_reason = FinishReason::kAbort;
      c.policy_version = current_version;
      outbox.emplace_back(p.ticket, std::move(c));
    }
  }
}

void Engine::Impl::Admit() {
  std::vector<Admission> admissions;
  {
    absl::MutexLock lock(&mu);
    if (update != nullptr && !options.allow_mixed_versions) return;  // draining for a swap
    int64_t free =
        std::min<int64_t>(cache.num_free(), num_slots - static_cast<int64_t>(active.size()));
    while (free > 0 && !queue.empty()) {
      Pending& p = queue.front();
      const int64_t n = p.ticket->requests[p.request_index].n;
      const int64_t k = std::min(free, n - p.next_sample);
      admissions.push_back({p.ticket, p.request_index, p.next_sample, k});
      p.next_sample += k;
      queued_samples -= k;
      free -= k;
      if (p.next_sample == n) queue.pop_front();
    }
  }
  if (!admissions.empty()) AdmitAll(admissions);
}

void Engine::Impl::AdmitAll(const std::vector<Admission>& admissions) {
  // One sequence per admitted sample, each in its own slot (Admit() counted
  // them). With prefix sharing only the first sample of an admission is
  // prefilled; the others copy its prompt's keys and values.
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<int64_t> row_of;     // per sequence: its row of the prefill logits
  std::vector<int64_t> source_of;  // per sequence: the sequence whose prefix it copies, or -1
  std::vector<int64_t> prefill_slots;
  std::vector<std::vector<int64_t>> prefill_prompts;
  for (const Admission& a : admissions) {
    const GenerationRequest& r = a.ticket->requests[a.request_index];
    const int64_t first = static_cast<int64_t>(seqs.size());
    for (int64_t i = 0; i < a.count; ++i) {
      auto seq = std::make_unique<Sequence>();
      seq->ticket = a.ticket;
      seq->request_index = a.request_index;
      seq->sample_index = a.first + i;
      seq->prompt_len = static_cast<int64_t>(r.prompt_ids.size());
      seq->rng.seed(SampleSeed(r.sampling.seed, seq->sample_index));
      seq->slot = *cache.Allocate();
      if (i == 0 || !options.prefix_sharing) {
        row_of.push_back(static_cast<int64_t>(prefill_slots.size()));
        source_of.push_back(-1);
        prefill_slots.push_back(seq->slot);
        prefill_prompts.emplace_back(r.prompt_ids.begin(), r.prompt_ids.end());
      } else {
        row_of.push_back(row_of[first]);
        source_of.push_back(first);
      }
      seqs.push_back(std::move(seq));
    }
  }
  {
    absl::MutexLock lock(&mu);
    running += static_cast<int64_t>(seqs.size());
  }
  absl::StatusOr<torch::Tensor> logits = model.PrefillBatch(cache, prefill_slots, prefill_prompts);
  std::vector<absl::Status> row_status(prefill_slots.size());
  if (!logits.ok()) {
    // Prefill the prompts one at a time, so only the request that fails is aborted
    // (a failed PrefillBatch leaves every slot's length unchanged).
    logits = torch::zeros({static_cast<int64_t>(prefill_slots.size()), vocab});
    for (size_t p = 0; p < prefill_slots.size(); ++p) {
      absl::StatusOr<torch::Tensor> one =
          model.Prefill(cache, prefill_slots[p], prefill_prompts[p]);
      row_status[p] = one.status();
      if (one.ok()) (*logits)[static_cast<int64_t>(p)].copy_(*one);
    }
  }
  *logits = logits->to(torch::kCPU, torch::kFloat32).contiguous();  // (P, V)
  // Every prefix is copied before any first token is sampled: sampling may
  // finish a sequence and free the slot its siblings copy from.
  std::vector<absl::Status> statuses(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) statuses[i] = row_status[row_of[i]];
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (statuses[i].ok() && source_of[i] >= 0) {
      statuses[i] = cache.CopyPrefix(seqs[source_of[i]]->slot, seqs[i]->slot, seqs[i]->prompt_len);
    }
  }
  for (size_t i = 0; i < seqs.size(); ++i) {
    Sequence& seq = *seqs[i];
    if (!statuses[i].ok()) {
      seq.ticket->error = statuses[i];
      Finish(seq, FinishReason::kAbort);
      continue;
    }
    const double t = seq.request().sampling.temperature;
    const float* row = logits->data_ptr<float>() + row_of[i] * vocab;
    RowStats stats;
    stats.scale = static_cast<float>(t > 0 ? 1.0 / t : 1.0);
    cpu::LogitStats(row, 1, vocab, &stats.scale, &stats.argmax, &stats.logsumexp);
    torch::Tensor probs;  // (V)
    if (PlainTemperature(seq.request().sampling)) {
      probs = ((*logits)[row_of[i]] * stats.scale - stats.logsumexp).exp_();
    }
    SampleAndAppend(seq, row, stats, probs.defined() ? probs.data_ptr<float>() : nullptr);
  }
  for (auto& seq : seqs) {
    if (seq->slot >= 0) active.push_back(std::move(seq));
  }
}

void Engine::Impl::DecodeAll() {
  const auto start = Clock::now();
  const int64_t b = static_cast<int64_t>(active.size());
  torch::Tensor slots = torch::empty({b}, torch::kInt64);
  torch::Tensor tokens = torch::empty({b}, torch::kInt64);
  torch::Tensor positions = torch::empty({b}, torch::kInt64);
  torch::Tensor inv_t = torch::empty({b, 1}, torch::kFloat32);
  bool unscaled = true;  // every row at temperature 1 (or greedy): no scaling pass
  for (int64_t i = 0; i < b; ++i) {
    const Sequence& s = *active[i];
    slots.data_ptr<int64_t>()[i] = s.slot;
    tokens.data_ptr<int64_t>()[i] = s.tokens.back();
    positions.data_ptr<int64_t>()[i] = cache.length(s.slot);
    const double t = s.request().sampling.temperature;
    inv_t.data_ptr<float>()[i] = static_cast<float>(t > 0 ? 1.0 / t : 1.0);
    unscaled = unscaled && inv_t.data_ptr<float>()[i] == 1.0f;
  }
  absl::StatusOr<torch::Tensor> out = model.DecodeStep(cache, slots, tokens, positions);
  if (!out.ok()) {
    FailAll(out.status());
    return;
  }
  torch::Tensor logits = out->to(torch::kCPU, torch::kFloat32).contiguous();  // (B, V)
  // Each row's argmax and logsumexp in two vectorised reads of the logits. Against
  // LibTorch's argmax and log_softmax, `rlvr bench rollout --batch-sizes 32,64
  // --hf-batch-sizes "" --threads 1` (greedy; three alternating runs each): batch 32
  // decode 945-958 -> 1019-1043 tokens/s, batch 64 1121-1161 -> 1145-1256.
  std::vector<int64_t> argmax(b);
  std::vector<float> logsumexp(b);
  cpu::LogitStats(logits.data_ptr<float>(), b, vocab, inv_t.data_ptr<float>(), argmax.data(),
                  logsumexp.data());
  bool any_plain = false;  // rows drawn from the probabilities themselves
  for (const auto& seq : active) any_plain = any_plain || PlainTemperature(seq->request().sampling);
  torch::Tensor probs;  // (B, V): softmax(logits * inv_t), one vectorised pass
  if (any_plain) {
    torch::Tensor lse = torch::from_blob(logsumexp.data(), {b, 1}, torch::kFloat32);
    probs = ((unscaled ? logits : logits * inv_t) - lse).exp_();
  }
  const float* lrow = logits.data_ptr<float>();
  const float* qrow = any_plain ? probs.data_ptr<float>() : nullptr;
  for (int64_t i = 0; i < b; ++i) {
    const RowStats stats{argmax[i], inv_t.data_ptr<float>()[i], logsumexp[i]};
    SampleAndAppend(*active[i], lrow + i * vocab, stats,
                    qrow != nullptr ? qrow + i * vocab : nullptr);
  }
  active.erase(std::remove_if(active.begin(), active.end(),
                              [](const std::unique_ptr<Sequence>& s) { return s->slot < 0; }),
               active.end());
  {
    absl::MutexLock lock(&mu);
    tokens_generated += b;
    const auto now = Clock::now();
    decode_seconds += std::chrono::duration<double>(now - start).count();
    ++decode_steps;
    rate_window.emplace_back(now, b);
    while (rate_window.size() > 2 && now - rate_window.front().first > std::chrono::seconds(5)) {
      rate_window.pop_front();
    }
  }
}

void Engine::Impl::SampleAndAppend(Sequence& seq, const float* row, const RowStats& stats,
                                   const float* prob_row) {
  const SamplingParams& p = seq.request().sampling;
  if (!std::isfinite(stats.logsumexp)) {
    // NaN or infinite logits (weights holding NaN, e.g. from a diverged update): no
    // token and no log-probability would mean anything, so the request fails instead
    // of returning garbage tokens with NaN log-probabilities.
    if (seq.ticket->error.ok()) {
      seq.ticket->error = absl::InternalError(
          absl::StrCat("non-finite logits (NaN or infinity) for request '", seq.request().id,
                       "' at token ", seq.tokens.size(), " under policy version ", current_version,
                       ": the model's weights hold NaN or infinity"));
    }
    Finish(seq, FinishReason::kAbort);
    return;
  }
  int32_t token = 0;
  if (p.temperature == 0) {
    token = static_cast<int32_t>(stats.argmax);
  } else if (PlainTemperature(p)) {
    // Plain temperature sampling: draw from prob_row directly.
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    const double u = uniform(seq.rng);
    double cum = 0;
    token = -1;
    int32_t last_possible = 0;  // where rounding leaves u beyond the total
    for (int64_t v = 0; v < vocab; ++v) {
      if (prob_row[v] <= 0) continue;
      last_possible = static_cast<int32_t>(v);
      cum += prob_row[v];
      if (u < cum) {
        token = static_cast<int32_t>(v);
        break;
      }
    }
    if (token < 0) token = last_possible;
  } else {
    TokenCandidates c = TokenCandidates::FromLogits(row, vocab);
    seq.ticket->samplers[seq.request_index]->Apply(c, seq.rng);
    token = c.selected >= 0 ? c.selected : 0;
  }
  seq.tokens.push_back(token);
  seq.logprobs.push_back(row[token] * stats.scale - stats.logsumexp);
  seq.versions.insert(current_version);
  CheckStop(seq);
}

void Engine::Impl::CheckStop(Sequence& seq) {
  const SamplingParams& p = seq.request().sampling;
  const int32_t token = seq.tokens.back();
  const bool is_eos =
      !p.ignore_eos && std::find(eos_ids.begin(), eos_ids.end(), token) != eos_ids.end();
  if (is_eos || std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), token) !=
                    p.stop_token_ids.end()) {
    seq.stopped_by_token = true;
    Finish(seq, FinishReason::kStop);
    return;
  }
  if (tokenizer && !p.stop_strings.empty()) {
    // Incremental detokenisation: emit text once it no longer ends in a
    // partial UTF-8 character, then look for stop strings in the new tail.
    const absl::Span<const int32_t> ids(seq.tokens);
    const std::string prefix_text =
        tokenizer->Decode(ids.subspan(seq.prefix_offset, seq.read_offset - seq.prefix_offset));
    const std::string new_text = tokenizer->Decode(ids.subspan(seq.prefix_offset));
    if (new_text.size() > prefix_text.size() && !EndsWithIncompleteUtf8(new_text)) {
      const size_t delta = new_text.size() - prefix_text.size();
      seq.text += new_text.substr(prefix_text.size());
      seq.prefix_offset = seq.read_offset;
      seq.read_offset = seq.tokens.size();
      size_t best = std::string::npos;
      for (const std::string& stop : p.stop_strings) {
        const size_t from =
            seq.text.size() > delta + stop.size() ? seq.text.size() - delta - stop.size() + 1 : 0;
        const size_t pos = seq.text.find(stop, from);
        if (pos != std::string::npos) best = std::min(best, pos);
      }
      if (best != std::string::npos) {
        seq.stop_pos = best;
        Finish(seq, FinishReason::kStop);
        return;
      }
    }
  }
  const int64_t generated = static_cast<int64_t>(seq.tokens.size());
  if (generated >= p.max_new_tokens || seq.prompt_len + generated >= max_len) {
    Finish(seq, FinishReason::kLength);
  }
}

void Engine::Impl::Finish(Sequence& seq, FinishReason reason) {
  if (seq.slot >= 0) {
    cache.Free(seq.slot);
    seq.slot = -1;
    absl::MutexLock lock(&mu);
    --running;
  }
  Completion c;
  c.request_id = seq.request().id;
  c.request_index = seq.request_index;
  c.sample_index = seq.sample_index;
  c.finish_reason = reason;
  c.policy_version = seq.versions.empty() ? current_version : *seq.versions.begin();
  c.policy_versions.assign(seq.versions.begin(), seq.versions.end());
  if (c.policy_versions.empty()) c.policy_versions.push_back(current_version);
  if (tokenizer) {
    if (seq.stop_pos != std::string::npos) {
      c.text = seq.text.substr(0, seq.stop_pos);
    } else {
      absl::Span<const int32_t> ids(seq.tokens);
      if (seq.stopped_by_token) ids.remove_suffix(1);
      c.text = tokenizer->Decode(ids);
    }
  }
  c.token_ids = std::move(seq.tokens);
  c.logprobs = std::move(seq.logprobs);
  outbox.emplace_back(seq.ticket, std::move(c));
}

void Engine::Impl::FailAll(const absl::Status& status) {
  for (auto& seq : active) {
    seq->ticket->error = status;
    Finish(*seq, FinishReason::kAbort);
  }
  active.clear();
}

void Engine::Impl::Flush() {
  for (auto& [ticket, completion] : outbox) {
    if (ticket->on_completion) ticket->on_completion(std::move(completion));
    if (--ticket->outstanding == 0) {
      // Samples of a failed request that were never admitted still count.
      {
        absl::MutexLock lock(&mu);
        tickets.erase(ticket->id);
      }
      if (ticket->on_done) ticket->on_done(ticket->error);
    }
  }
  outbox.clear();
}

}  // namespace rlvr
