#include "eval/evaluate.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
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

namespace {

std::string GroupName(const nlohmann::json& v) {
  if (v.is_null()) return "";
  return v.is_string() ? v.get<std::string>() : v.dump();
}

nlohmann::json GroupsJson(const std::map<std::string, EvalGroup>& groups) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, g] : groups) {
    out[name.empty() ? "(none)" : name] = {{"tasks", g.tasks},
                                           {"samples", g.samples},
                                           {"pass_at_1", g.pass_at_1},
                                           {"mean_reward", g.mean_reward}};
  }
  return out;
}

// Nearest-rank percentile of sorted values.
double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(q * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

std::string MajorityKey(const Reward& reward, const std::string& completion) {
  if (reward.verdict == "no_answer") return "";
  for (const char* field : {"normalized", "extracted"}) {
    auto it = reward.details.find(field);
    if (it != reward.details.end() && it->is_string() && !it->get<std::string>().empty()) {
      return it->get<std::string>();
    }
  }
  return std::string(absl::StripAsciiWhitespace(completion));
}

nlohmann::json EvalResult::ToJson() const {
  nlohmann::json pass_k = nlohmann::json::object();
  for (const auto& [k, v] : pass_at_k) pass_k[std::to_string(k)] = v;
  nlohmann::json maj_k = nlohmann::json::object();
  for (const auto& [k, v] : maj_at_k) maj_k[std::to_string(k)] = v;
  nlohmann::json kept = nlohmann::json::array();
  for (const EvalSample& s : samples_kept) {
    kept.push_back({{"task_id", s.task_id},
                    {"prompt", s.prompt},
                    {"completion", s.completion},
                    {"verdict", s.verdict},
                    {"reward", s.reward}});
  }
  return {{"tasks", tasks},
          {"samples", samples},
          {"pass_at_1", pass_at_1},
          {"pass_at_k", pass_k},
          {"maj_at_k", maj_k},
          {"mean_reward", mean_reward},
          {"mean_completion_tokens", mean_completion_tokens},
          {"completion_tokens_p50", completion_tokens_p50},
          {"completion_tokens_p90", completion_tokens_p90},
          {"completion_tokens_max", completion_tokens_max},
          {"by_source", GroupsJson(by_source)},
          {"by_difficulty", GroupsJson(by_difficulty)},
          {"correct_per_task", correct_per_task},
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
    RETURN_IF_ERROR(CheckFitsContext(r, options.sampling.max_new_tokens, options.max_context,
                                     options.max_context_key));
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
  result.correct_per_task = correct;

  // maj@k: votes of each task's samples in sample order.
  std::vector<std::vector<size_t>> by_task(tasks.size());
  for (size_t i = 0; i < completions.size(); ++i)
    by_task[completions[i].request_index].push_back(i);
  for (auto& v : by_task) {
    std::sort(v.begin(), v.end(), [&](size_t a, size_t b) {
      return completions[a].sample_index < completions[b].sample_index;
    });
  }
  for (int64_t k = 1; k <= options.n; k *= 2) {
    int64_t wins = 0;
    for (const std::vector<size_t>& samples : by_task) {
      std::map<std::string, std::pair<int64_t, size_t>> votes;  // key -> (count, first position)
      std::map<std::string, bool> key_correct;
      for (size_t j = 0; j < samples.size() && static_cast<int64_t>(j) < k; ++j) {
        const size_t i = samples[j];
        const std::string key = MajorityKey(rewards[i], completions[i].text);
        if (key.empty()) continue;
        auto [it, fresh] = votes.try_emplace(key, 0, j);
        it->second.first++;
        key_correct[key] = key_correct[key] || rewards[i].score >= 1.0;
      }
      const std::string* best = nullptr;
      std::pair<int64_t, size_t> best_vote{0, 0};
      for (const auto& [key, vote] : votes) {
        if (!best || vote.first > best_vote.first ||
            (vote.first == best_vote.first && vote.second < best_vote.second)) {
          best = &key;
          best_vote = vote;
        }
      }
      wins += best != nullptr && key_correct[*best];
    }
    result.maj_at_k[k] = tasks.empty() ? 0 : static_cast<double>(wins) / tasks.size();
  }

  // Breakdowns by source and difficulty.
  for (auto* field : {"source", "difficulty"}) {
    std::map<std::string, EvalGroup>& groups =
        std::string(field) == "source" ? result.by_source : result.by_difficulty;
    std::map<std::string, double> reward_sums;
    for (size_t t = 0; t < tasks.size(); ++t) {
      const std::string name = GroupName(tasks[t].metadata.value(field, nlohmann::json()));
      EvalGroup& g = groups[name];
      g.tasks++;
      g.samples += static_cast<int64_t>(by_task[t].size());
      g.pass_at_1 += options.n > 0 ? static_cast<double>(correct[t]) / options.n : 0;
      for (size_t i : by_task[t]) reward_sums[name] += rewards[i].score;
    }
    for (auto& [name, g] : groups) {
      g.pass_at_1 /= g.tasks;
      g.mean_reward = g.samples > 0 ? reward_sums[name] / g.samples : 0;
    }
  }

  for (const Completion& c : completions) {
    result.completion_tokens.push_back(static_cast<double>(c.token_ids.size()));
  }
  std::vector<double> sorted = result.completion_tokens;
  std::sort(sorted.begin(), sorted.end());
  result.completion_tokens_p50 = Percentile(sorted, 0.5);
  result.completion_tokens_p90 = Percentile(sorted, 0.9);
  result.completion_tokens_max = sorted.empty() ? 0 : static_cast<int64_t>(sorted.back());
  if (result.samples > 0) {
    result.mean_reward = reward_sum / result.samples;
    result.mean_completion_tokens = static_cast<double>(result.generated_tokens) / result.samples;
    result.truncation_rate = static_cast<double>(truncated) / result.samples;
  }
  if (result.generated_tokens > 0) {
    result.correct_per_million_tokens = total_correct * 1e6 / result.generated_tokens;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace rlvr
