#include "envs/task.h"

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace rlvr {
namespace {

absl::Status WrongType(const std::string& field, const char* expected) {
  return absl::InvalidArgumentError(absl::StrCat("field '", field, "' must be ", expected));
}

absl::Status ReadString(const nlohmann::json& json, const std::string& field, std::string* out) {
  auto it = json.find(field);
  if (it == json.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) return WrongType(field, "a string");
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadObject(const nlohmann::json& json, const std::string& field, nlohmann::json* out) {
  auto it = json.find(field);
  if (it == json.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) return WrongType(field, "an object");
  *out = *it;
  return absl::OkStatus();
}

}  // namespace

nlohmann::json TaskToJson(const Task& task) {
  nlohmann::json out = nlohmann::json::object();
  out["id"] = task.id;
  if (!task.messages.empty()) {
    nlohmann::json messages = nlohmann::json::array();
    for (const Message& m : task.messages) {
      messages.push_back({{"role", m.role}, {"content", m.content}});
    }
    out["messages"] = std::move(messages);
  } else {
    out["prompt"] = task.prompt;
  }
  out["gold"] = task.gold;
  if (!task.verifier.empty()) out["verifier"] = task.verifier;
  if (!task.spec.empty()) out["spec"] = task.spec;
  if (!task.metadata.empty()) out["metadata"] = task.metadata;
  return out;
}

absl::StatusOr<std::vector<Message>> MessagesFromJson(const nlohmann::json& json) {
  if (!json.is_array()) return absl::InvalidArgumentError("messages must be a list");
  std::vector<Message> out;
  for (size_t i = 0; i < json.size(); ++i) {
    const nlohmann::json& m = json[i];
    auto role = m.is_object() ? m.find("role") : m.end();
    auto content = m.is_object() ? m.find("content") : m.end();
    if (!m.is_object() || role == m.end() || content == m.end() || !role->is_string() ||
        !content->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("messages[", i, "] must be {\"role\": str, \"content\": str}"));
    }
    out.push_back({role->get<std::string>(), content->get<std::string>()});
  }
  return out;
}

absl::StatusOr<Task> TaskFromJson(const nlohmann::json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("a task must be a JSON object");
  Task task;
  auto id = json.find("id");
  if (id == json.end()) return absl::InvalidArgumentError("missing field 'id'");
  if (id->is_string()) {
    task.id = id->get<std::string>();
  } else if (id->is_number_integer()) {
    task.id = id->dump();
  } else {
    return WrongType("id", "a string or an integer");
  }
  auto messages = json.find("messages");
  if (messages != json.end() && !messages->is_null()) {
    absl::StatusOr<std::vector<Message>> parsed = MessagesFromJson(*messages);
    if (!parsed.ok()) return parsed.status();
    task.messages = *std::move(parsed);
  } else if (json.contains("prompt")) {
    RETURN_IF_ERROR(ReadString(json, "prompt", &task.prompt));
  } else {
    return absl::InvalidArgumentError("missing field 'prompt' (or 'messages')");
  }
  RETURN_IF_ERROR(ReadString(json, "gold", &task.gold));
  RETURN_IF_ERROR(ReadString(json, "verifier", &task.verifier));
  RETURN_IF_ERROR(ReadObject(json, "spec", &task.spec));
  RETURN_IF_ERROR(ReadObject(json, "metadata", &task.metadata));
  return task;
}

std::string PromptText(const Task& task) {
  if (task.messages.empty()) return task.prompt;
  std::string out;
  for (size_t i = 0; i < task.messages.size(); ++i) {
    if (i > 0) out += "\n";
    out += task.messages[i].content;
  }
  return out;
}

}  // namespace rlvr
