#include "eval/evaluate.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace rlvr {

double PassAtK(int64_t n, int64_t c, int64_t k) {
  if (n - c < k) return 1.0;
  // 1 - prod_{i = n-c+1}^{n} (1 - k / i), numerically stable.
  double prod = 1.0;
  for (int64_t i = n - c + 1; i <= n; ++i) prod *= 1.0 - static_cast<double>(k) / i;
  return 1.0 - prod;
}

nlohmann::json EvalResult::ToJson() const {
  nlohmann::json pass_k = nlohmann::json::object();
  for (const auto& [k, v] : pass_at_k) pass_k[std::to_string(k)] = v;
  nlohmann::json kept = nlohmann::json::array();
  for (const EvalSample& s : samples_kept) {
    kept.push_back({{"task_id", s.task_id}, {"prompt", s.prompt}, {"completion", s.completion},
                    {"verdict", s.verdict}, {"reward", s.reward}});
  }
  return {{"tasks", tasks},
          {"samples", samples},
          {"pass_at_1", pass_at_1},
          {"pass_at_k", pass_k},
          {"mean_reward", mean_reward},
          {"mean_completion_tokens", mean_completion_tokens},
          {"truncation_rate", truncation_rate},
          {"generated_tokens", generated_tokens},
          {"correct_per_million_tokens", correct_per_million_tokens},
          {"verdicts", verdicts},
          {"seconds", seconds},
          {"samples_kept", kept}};
}

absl::StatusOr<EvalResult> Evaluate(Generator& generator, const Tokenizer& tokenizer,
                                    const std::vector<Task>& tasks, const EvalGrader& grader,
                                    const EvalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<GenerationRequest> requests;
  std::vector<std::string> prompts;
  for (size_t i = 0; i < tasks.size(); ++i) {
    GenerationRequest r;
    r.id = tasks[i].id;
    prompts.push_back(RenderPrompt(tasks[i], options.prompt_template));
    r.prompt_ids = tokenizer.Encode(prompts.back());
    r.n = options.n;
    r.sampling = options.sampling;
    r.sampling.seed = options.sampling.seed + i;
    requests.push_back(std::move(r));
  }
  ASSIGN_OR_RETURN(std::vector<Completion> completions, generator.Generate(requests));
  std::vector<Reward> rewards(completions.size());
  std::atomic<size_t> next{0};
  std::mutex mu;
  absl::Status first;
  auto worker = [&] {
    for (size_t i = next++; i < completions.size(); i = next++) {
      absl::StatusOr<Reward> r = grader(tasks[completions[i].request_index], completions[i]);
      if (r.ok()) {
        rewards[i] = *r;
      } else {
        std::lock_guard<std::mutex> lock(mu);
        if (first.ok()) {
          first = absl::Status(r.status().code(),
                               absl::StrCat("grading task ", tasks[completions[i].request_index].id,
                                            ": ", r.status().message()));
        }
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(options.grading_threads, 1); ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  RETURN_IF_ERROR(first);

  EvalResult result;
  result.tasks = static_cast<int64_t>(tasks.size());
  result.samples = static_cast<int64_t>(completions.size());
  std::vector<int64_t> correct(tasks.size(), 0);
  int64_t total_correct = 0, truncated = 0;
  double reward_sum = 0;
  for (size_t i = 0; i < completions.size(); ++i) {
    const Completion& c = completions[i];
    const bool ok = rewards[i].score >= 1.0;
    correct[c.request_index] += ok;
    total_correct += ok;
    reward_sum += rewards[i].score;
    result.generated_tokens += static_cast<int64_t>(c.token_ids.size());
    truncated += c.finish_reason == FinishReason::kLength;
    result.verdicts[rewards[i].verdict]++;
    if (static_cast<int64_t>(result.samples_kept.size()) < options.max_samples_kept) {
      result.samples_kept.push_back({tasks[c.request_index].id, prompts[c.request_index], c.text,
                                     rewards[i].verdict, rewards[i].score});
    }
  }
  for (int64_t k = 1; k <= options.n; k *= 2) {
    double sum = 0;
    for (int64_t c : correct) sum += PassAtK(options.n, c, k);
    result.pass_at_k[k] = tasks.empty() ? 0 : sum / tasks.size();
  }
  result.pass_at_1 = result.pass_at_k[1];
  if (result.samples > 0) {
    result.mean_reward = reward_sum / result.samples;
    result.mean_completion_tokens = static_cast<double>(result.generated_tokens) / result.samples;
    result.truncation_rate = static_cast<double>(truncated) / result.samples;
  }
  if (result.generated_tokens > 0) {
    result.correct_per_million_tokens = total_correct * 1e6 / result.generated_tokens;
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace rlvr
