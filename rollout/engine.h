// Engine: the in-process batched generation engine (a Generator).
//
// One background thread drives a Transformer over a KVCache with continuous
// batching: every iteration it (1) settles cancellations, (2) installs a
// pending weight update when allowed, (3) admits queued samples while free KV
// slots remain (the cache's slot count comes from the byte budget, and
// storage is allocated once, so admission can never run out of memory),
// prefilling the new prompts together in one batched pass (each prompt once;
// its KV prefix is copied to the other samples of the same prompt), and (4) runs one batched DecodeStep over all running
// sequences. A finished sequence frees its slot at once; queued work joins on
// the next iteration.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
//                    Engine::Create(std::move(model), tokenizer, EngineOptions{}));
//   ASSIGN_OR_RETURN(std::vector<Completion> out, engine->Generate(requests));
//
// Weight updates: UpdateWeights hands the tensors to the engine thread, which
// swaps them between decode steps and bumps the version. Unless
// allow_mixed_versions, admission pauses until the running sequences finish,
// so no sequence mixes two versions; with it, the swap is immediate and each
// Completion lists every version that produced its tokens.
//
// Thread safety: all public methods are thread-safe. Callbacks run on the
// engine thread; they must be quick and must not call back into the engine
// except Cancel().
#ifndef RLVR_ROLLOUT_ENGINE_H_
#define RLVR_ROLLOUT_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model.h"
#include "core/tokenizer.h"
#include "rollout/generator.h"

namespace rlvr {

struct EngineOptions {
  // Tokens per sequence (prompt + completion); 0 = the model's
  // max_position_embeddings.
  int64_t max_len = 0;
  // KV cache bytes for all layers and slots; sets the number of concurrent
  // sequences (see KVCacheOptions).
  int64_t kv_byte_budget = int64_t{256} << 20;
  // Upper bound on concurrent sequences (decode batch); 0 = as the budget allows.
  int64_t max_batch = 64;
  // The G samples of a prompt share one prefill (Prefill once + CopyPrefix).
  bool prefix_sharing = true;
  // Let a weight update land in the middle of running sequences (see above).
  bool allow_mixed_versions = false;
  // Version of the initial weights.
  int64_t initial_version = 0;
  // Torch intra-op threads of the engine thread; 0 = the process default. When the
  // engine shares the machine with a learner training at the same time (async
  // GRPO), splitting the cores between the two avoids oversubscription.
  int intra_op_threads = 0;
};

struct EngineStatus {
  int64_t policy_version = 0;
  int64_t queued_samples = 0;  // admitted nowhere yet
  int64_t running_sequences = 0;
  int64_t kv_slots_used = 0;
  int64_t kv_slots_total = 0;
  int64_t kv_bytes_used = 0;
  int64_t kv_bytes_total = 0;
  double tokens_per_second = 0;  // generated tokens, over the last few seconds
  int64_t tokens_generated = 0;  // by decode steps, since start
  double decode_seconds = 0;     // wall time in decode steps (model + sampling)
  int64_t decode_steps = 0;
};

class Engine final : public Generator {
 public:
  // Takes the model. `tokenizer` (optional) gives Completion::text, stop
  // strings and its EOS id; without it text is empty and stop strings are
  // rejected. INVALID_ARGUMENT / RESOURCE_EXHAUSTED when the KV cache cannot
  // be created.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(Transformer model,
                                                        std::optional<Tokenizer> tokenizer,
                                                        const EngineOptions& options);
  ~Engine() override;  // aborts what is still running, joins the thread

  // Generator.
  absl::Status GenerateStream(const std::vector<GenerationRequest>& requests,
                              const CompletionCallback& on_completion) override;
  absl::Status UpdateWeights(
      int64_t version, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) override;

  // Asynchronous form. Validates every request (INVALID_ARGUMENT naming the
  // request and field; nothing queued then), queues them and returns a ticket.
  // `on_completion` runs per finished sample; `on_done` runs once after the
  // last one (OK, or the error that stopped the ticket).
  absl::StatusOr<int64_t> Submit(std::vector<GenerationRequest> requests,
                                 CompletionCallback on_completion,
                                 std::function<void(absl::Status)> on_done);
  // Aborts a ticket: running samples finish with kAbort (their tokens so far),
  // queued ones with kAbort and no tokens; their slots are freed before the
  // next decode step. Unknown / finished tickets are ignored.
  void Cancel(int64_t ticket);

  // INVALID_ARGUMENT naming the field: empty prompt, prompt not shorter than
  // the context, n < 1, sampling parameters out of range, token ids outside
  // the vocabulary, stop strings without a tokenizer.
  absl::Status ValidateRequest(const GenerationRequest& request) const;

  EngineStatus GetStatus() const;
  const ModelConfig& model_config() const;
  const std::optional<Tokenizer>& tokenizer() const;
  int64_t max_len() const;

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rlvr

#endif  // RLVR_ROLLOUT_ENGINE_H_
