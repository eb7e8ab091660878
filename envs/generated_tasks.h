// Built-in generated tasks: seedable, with difficulty levels, for the built-in default
// run, examples and tests. Each task carries a reference completion (for SFT warm
// starts) in metadata["reference_completion"].
//
// The same (seed, index, options) always gives the same task, on every platform.
#ifndef RLVR_ENVS_GENERATED_TASKS_H_
#define RLVR_ENVS_GENERATED_TASKS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "envs/task.h"

namespace rlvr {

// Multi-digit arithmetic, graded by the "math" verifier (gold: the integer result).
//
// Operand digit counts by difficulty (first x second):
//   difficulty   1    2    3    4    5    6    7    8
//   + and -     1x1  2x2  3x3  4x4  5x5  6x6  8x8  10x10
//   *           1x1  2x1  2x2  3x2  3x3  4x3  4x4  5x5
// Subtraction may give a negative result.
struct ArithmeticOptions {
  int difficulty = 2;                              // 1..8
  std::vector<std::string> ops = {"+", "-", "*"};  // each task draws one
  // How the reference completion ends, and what the prompt asks for:
  // "boxed" -> "\boxed{N}", "answer" -> "Answer: N".
  std::string answer_format = "boxed";
};

// Coding tasks: write a Python function to a short spec, drawn from a family of
// templates (sum of even numbers, count vowels, ...), graded by the "code" verifier
// with call-style tests: spec = {"tests": {"type": "call", "fn", "cases"}}. Gold is the
// reference solution; difficulty (1..3) sets the number and size of test inputs.
struct CodeTaskOptions {
  int difficulty = 1;
  int num_tests = 5;
};

absl::Status ValidateArithmeticOptions(const ArithmeticOptions& options);
absl::Status ValidateCodeTaskOptions(const CodeTaskOptions& options);

// Task `index` of the stream defined by `seed`. Ids: "arith-<seed>-<index>",
// "code-<seed>-<index>". Options must be valid.
Task MakeArithmeticTask(uint64_t seed, int64_t index, const ArithmeticOptions& options);
Task MakeCodeTask(uint64_t seed, int64_t index, const CodeTaskOptions& options);

// Tasks [0, count) of a stream; INVALID_ARGUMENT naming the field for bad options.
absl::StatusOr<std::vector<Task>> GenerateArithmeticTasks(uint64_t seed, int64_t count,
                                                          const ArithmeticOptions& options);
absl::StatusOr<std::vector<Task>> GenerateCodeTasks(uint64_t seed, int64_t count,
                                                    const CodeTaskOptions& options);

// The names of the code task templates, e.g. "sum_evens".
std::vector<std::string> CodeTaskFamilies();

}  // namespace rlvr

#endif  // RLVR_ENVS_GENERATED_TASKS_H_
