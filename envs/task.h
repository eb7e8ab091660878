// The task schema: what the policy is asked, and what its answer is graded against.
//
// A Task is plain data, copied freely. It is read from JSONL datasets
// (envs/dataset.h), generated (envs/generated_tasks.h), rendered into a prompt
// (envs/template.h), and graded by the verifier it names with its `gold` and `spec`.
#ifndef RLVR_ENVS_TASK_H_
#define RLVR_ENVS_TASK_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace rlvr {

// One chat turn. Roles: "system", "user", "assistant", "tool".
struct Message {
  std::string role;
  std::string content;
};

struct Task {
  std::string id;  // unique within a dataset; used for splits, curriculum and resume
  // The question: either plain text (`prompt`) or a chat (`messages`, which wins when
  // non-empty). Templates turn either into model input.
  std::string prompt;
  std::vector<Message> messages;
  std::string gold;      // gold answer (math) or reference solution (code); may be empty
  std::string verifier;  // verifier registry name: "math", "code", ...
  // Verifier-specific fields, passed as VerifyRequest::spec. For code:
  //   {"tests": {"type": "assert", "code": str, "entry_point"?: str}
  //            | {"type": "stdio", "cases": [{"input": str, "output": str}]}
  //            | {"type": "call", "fn": str, "cases": [{"args": [...], "expected": ...}]}}
  nlohmann::json spec = nlohmann::json::object();
  // Free-form: "source", "difficulty", "reference_completion", ...
  nlohmann::json metadata = nlohmann::json::object();
};

// The canonical JSON form: {"id", "prompt" | "messages", "gold", "verifier", "spec",
// "metadata"}. Empty optional members are omitted.
nlohmann::json TaskToJson(const Task& task);
// Parses the canonical form. INVALID_ARGUMENT naming the field when "id" is missing or
// any member has the wrong type, or when neither "prompt" nor "messages" is present.
absl::StatusOr<Task> TaskFromJson(const nlohmann::json& json);

// Parses [{"role": str, "content": str}, ...]; INVALID_ARGUMENT naming the element.
absl::StatusOr<std::vector<Message>> MessagesFromJson(const nlohmann::json& json);

// The text of the question: `prompt`, or the contents of the messages joined by "\n".
std::string PromptText(const Task& task);

}  // namespace rlvr

#endif  // RLVR_ENVS_TASK_H_
