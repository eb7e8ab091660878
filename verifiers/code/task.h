// A code-grading task: the model's program and the tests to run it against, parsed from
// a VerifyRequest (the completion and the `spec` object of an input line).
#ifndef RLVR_VERIFIERS_CODE_TASK_H_
#define RLVR_VERIFIERS_CODE_TASK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace rlvr::code {

enum class Language { kPython, kCpp };
enum class TestKind {
  kAssert,  // test code run after the program (MBPP test_list; HumanEval check(entry_point))
  kStdio,   // each case: stdin in, stdout compared with a tolerant comparator
  kCall,    // each case: fn(*args) compared with `expected` (JSON values)
};

struct StdioCase {
  std::string input;
  std::string output;
};

struct CallCase {
  nlohmann::json args = nlohmann::json::array();
  nlohmann::json expected;
};

struct CodeTask {
  Language language = Language::kPython;
  std::string program;  // the code extracted from the completion
  TestKind kind = TestKind::kAssert;
  std::string assert_code;  // kAssert: test code (MBPP lists are joined by newlines)
  std::string entry_point;  // kAssert: "" or the function passed to check()
  std::vector<StdioCase> stdio_cases;
  std::string fn;  // kCall
  std::vector<CallCase> call_cases;
  double timeout_s = 0.0;  // per-test CPU seconds; 0: the verifier's default
  int64_t memory_mb = 0;   // 0: the verifier's default
};

// The body of the last fenced code block (``` or ~~~, any info string) in `completion`,
// or the whole completion when it has none. An unterminated last fence runs to the end.
std::string ExtractCode(const std::string& completion);

// Parses `spec`: {"language"?: "python"|"cpp", "tests": T, "timeout_s"?: number,
// "memory_mb"?: int}, T one of {"type": "assert", "code": str|[str], "entry_point"?: str,
// "setup"?: str}, {"type": "stdio", "cases": [{"input": str, "output": str}]},
// {"type": "call", "fn": str, "cases": [{"args": [...], "expected": any}]}.
// Other keys of `spec` are ignored. INVALID_ARGUMENT naming the field, e.g.
// "tests.cases[2].output: expected a string".
absl::StatusOr<CodeTask> ParseCodeTask(const std::string& completion, const nlohmann::json& spec);

}  // namespace rlvr::code

#endif  // RLVR_VERIFIERS_CODE_TASK_H_
