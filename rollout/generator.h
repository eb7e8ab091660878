// Generator: where rollouts come from. The trainer talks to this interface
// only; the in-process Engine (rollout/engine.h) and the gRPC RolloutClient
// (rollout/service/client.h) both implement it.
//
//   std::vector<GenerationRequest> requests = {{.id = "q1", .prompt_ids = ids, .n = 8}};
//   ASSIGN_OR_RETURN(std::vector<Completion> out, generator.Generate(requests));
//   RETURN_IF_ERROR(generator.UpdateWeights(step + 1, model.NamedParameters()));
//
// Log-probabilities: Completion::logprobs[i] is log p(token_ids[i] | prefix)
// under the temperature-scaled FULL-vocabulary distribution
// log_softmax(logits / temperature), taken BEFORE top-k / top-p / min-p
// truncation: exactly what Transformer::TokenLogprobs computes with
// TokenLogprobsOptions::temperature = temperature, so importance ratios are 1
// when the weights did not change. With temperature == 0 (greedy) the
// logprobs are those of log_softmax(logits) (temperature 1).
//
// Thread safety: implementations are thread-safe; Generate/GenerateStream may
// be called concurrently from several threads, and UpdateWeights concurrently
// with them (it takes effect between decode steps).
#ifndef RLVR_ROLLOUT_GENERATOR_H_
#define RLVR_ROLLOUT_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rlvr {

// How to pick tokens. The sampler chain is temperature -> top-k -> top-p ->
// min-p -> draw (rollout/sampler.h); temperature 0 is greedy (argmax).
struct SamplingParams {
  double temperature = 1.0;      // >= 0; 0 = greedy
  int64_t top_k = 0;             // 0 = off
  double top_p = 1.0;            // in (0, 1]; 1 = off
  double min_p = 0.0;            // in [0, 1); 0 = off
  int64_t max_new_tokens = 256;  // >= 1; also capped by the context length
  // Generation stops (finish reason "stop") after any of these ids, or after
  // the model's / tokenizer's EOS unless ignore_eos. The stop token is kept in
  // token_ids and logprobs but not in text.
  std::vector<int64_t> stop_token_ids;
  bool ignore_eos = false;
  // Stop strings, matched in the detokenised completion even when they span
  // token boundaries. Text is cut before the match; token_ids keep every
  // generated token (through the one that completed the match).
  std::vector<std::string> stop_strings;
  // Sample i of a request draws from an RNG seeded by (seed, i): the same
  // seed and the same batch give the same tokens.
  uint64_t seed = 0;
};

struct GenerationRequest {
  std::string id;                   // echoed in each Completion
  std::vector<int32_t> prompt_ids;  // non-empty, shorter than the context
  int64_t n = 1;                    // samples of this prompt (>= 1); share one prefill
  SamplingParams sampling;
};

// OK when `request`'s prompt plus `new_tokens` fit `context` tokens (0 = unchecked);
// otherwise an InvalidArgument error naming `context_key` (the setting that sets the
// context, e.g. "rollout.max_len") and the request. A generator stops a sequence
// at its context as "length", and a verifier grades the cut answer as wrong: callers
// check up front so a too-short context is an error, not a silent zero reward.
absl::Status CheckFitsContext(const GenerationRequest& request, int64_t new_tokens, int64_t context,
                              const std::string& context_key);

enum class FinishReason { kStop, kLength, kAbort };
const char* FinishReasonName(FinishReason reason);  // "stop", "length", "abort"

struct Completion {
  std::string request_id;
  int64_t request_index = 0;       // position of the request in the Generate call
  int64_t sample_index = 0;        // 0 .. n-1
  std::vector<int32_t> token_ids;  // generated tokens only (not the prompt)
  std::string text;                // detokenised; see SamplingParams for stops
  std::vector<float> logprobs;     // one per token_ids; see the file comment
  FinishReason finish_reason = FinishReason::kStop;
  // The policy version that produced the first token. Unless the engine was
  // configured to allow mixing, every token comes from this version.
  int64_t policy_version = 0;
  // Every version that produced a token, ascending (size 1 unless mixed).
  std::vector<int64_t> policy_versions;
};

// Called once per finished completion, in finishing order, never concurrently
// for one call. Must be quick (it runs on the engine's or client's thread).
using CompletionCallback = std::function<void(Completion)>;

class Generator {
 public:
  virtual ~Generator() = default;

  // Generates every sample of every request, calling `on_completion` as each
  // finishes; returns when all are done. Errors: INVALID_ARGUMENT naming the
  // field of a bad request (nothing is generated then), UNAVAILABLE /
  // DEADLINE_EXCEEDED from a remote worker.
  virtual absl::Status GenerateStream(const std::vector<GenerationRequest>& requests,
                                      const CompletionCallback& on_completion) = 0;

  // As GenerateStream, collecting the completions ordered by
  // (request_index, sample_index).
  absl::StatusOr<std::vector<Completion>> Generate(const std::vector<GenerationRequest>& requests);

  // Installs new weights (HF names, as Transformer::NamedParameters) as policy
  // `version` atomically between decode steps. Returns once the new weights
  // are in use. On error the old weights stay.
  virtual absl::Status UpdateWeights(
      int64_t version, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) = 0;
};

}  // namespace rlvr

#endif  // RLVR_ROLLOUT_GENERATOR_H_
