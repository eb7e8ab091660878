// Evaluation of a policy on held-out tasks through any Generator: pass@1, unbiased
// pass@k, maj@k, mean reward, breakdowns by task source and difficulty, response
// lengths, truncation, token efficiency and the verdict histogram.
#ifndef RLVR_EVAL_EVALUATE_H_
#define RLVR_EVAL_EVALUATE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tokenizer.h"
#include "envs/task.h"
#include "envs/template.h"
#include "rollout/generator.h"
#include "verifiers/verifier.h"

namespace rlvr {

// Grades one completion of a task (the same signature as the trainer's TaskGrader).
using EvalGrader = std::function<absl::StatusOr<Reward>(const Task& task, const Completion& c)>;

struct EvalOptions {
  int64_t n = 1;            // samples per task
  SamplingParams sampling;  // temperature 0 = greedy
  TemplateOptions prompt_template;
  int grading_threads = 2;
  int64_t max_samples_kept = 8;  // completions kept in EvalResult::samples
  // Tokens per sequence of the generator; 0 = unchecked. A task whose prompt and
  // sampling.max_new_tokens do not fit is an error naming max_context_key, not a cut
  // answer graded 0.
  int64_t max_context = 0;
  std::string max_context_key = "max_context";
};

struct EvalSample {
  std::string task_id, prompt, completion, verdict;
  double reward = 0;
};

// Per-group results (tasks grouped by metadata.source or metadata.difficulty).
struct EvalGroup {
  int64_t tasks = 0;
  int64_t samples = 0;
  double pass_at_1 = 0;
  double mean_reward = 0;
};

struct EvalResult {
  int64_t tasks = 0;
  int64_t samples = 0;
  double pass_at_1 = 0;                 // mean over tasks of (correct samples / n)
  std::map<int64_t, double> pass_at_k;  // unbiased estimator, k = 1, 2, 4, ... <= n
  // Majority vote over the first k samples of each task (k = 1, 2, 4, ... <= n): the
  // most frequent answer (MajorityKey) wins, ties to the earliest; a task counts when
  // the winning answer was graded correct. Samples without an answer do not vote.
  std::map<int64_t, double> maj_at_k;
  double mean_reward = 0;
  double mean_completion_tokens = 0;
  // Completion lengths in tokens: median, 90th percentile (nearest rank) and maximum.
  double completion_tokens_p50 = 0, completion_tokens_p90 = 0;
  int64_t completion_tokens_max = 0;
  std::vector<double> completion_tokens;           // one per sample (not in ToJson)
  std::vector<int64_t> correct_per_task;           // correct samples of each task, in task order
  std::map<std::string, EvalGroup> by_source;      // metadata.source ("" when absent)
  std::map<std::string, EvalGroup> by_difficulty;  // metadata.difficulty, as text
  double truncation_rate = 0;
  int64_t generated_tokens = 0;
  double correct_per_million_tokens = 0;
  std::map<std::string, int64_t> verdicts;
  std::vector<EvalSample> samples_kept;
  double seconds = 0;

  nlohmann::json ToJson() const;
};

// The unbiased pass@k estimator 1 - C(n-c, k) / C(n, k) for one task with c correct of n.
double PassAtK(int64_t n, int64_t c, int64_t k);

// The answer a sample votes for in maj@k: the verifier's details.normalized, else
// details.extracted, else the completion text with surrounding space removed; "" when
// the verdict is no_answer (no vote).
std::string MajorityKey(const Reward& reward, const std::string& completion);

// A sample counts as correct when its reward is >= 1.
absl::StatusOr<EvalResult> Evaluate(Generator& generator, const Tokenizer& tokenizer,
                                    const std::vector<Task>& tasks, const EvalGrader& grader,
                                    const EvalOptions& options);

}  // namespace rlvr

#endif  // RLVR_EVAL_EVALUATE_H_
