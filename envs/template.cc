#include "envs/template.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rlvr {
namespace {

enum class Format { kQwen, kLlama3, kPlain, kUnknown };

Format ParseFormat(const std::string& name) {
  if (name == "qwen" || name == "chatml") return Format::kQwen;
  if (name == "llama3") return Format::kLlama3;
  if (name == "plain") return Format::kPlain;
  return Format::kUnknown;
}

std::string StripChars(const std::string& s, const char* chars, bool left, bool right) {
  size_t begin = 0, end = s.size();
  if (left) begin = s.find_first_not_of(chars);
  if (begin == std::string::npos) return "";
  if (right) end = s.find_last_not_of(chars) + 1;
  return s.substr(begin, end - begin);
}

// Jinja's `trim` (Python str.strip(): ASCII whitespace and the C1/Unicode spaces
// that appear in practice are rare in prompts; ASCII is what we strip).
std::string Trim(const std::string& s) { return StripChars(s, " \t\n\r\f\v", true, true); }

// Qwen3's chat template, for messages of role system/user/assistant/tool.
std::string RenderQwen(const std::vector<Message>& messages, const TemplateOptions& options) {
  std::string out;
  if (!messages.empty() && messages[0].role == "system") {
    absl::StrAppend(&out, "<|im_start|>system\n", messages[0].content, "<|im_end|>\n");
  }
  // The index of the last real user query (tool responses wrapped as user turns excluded).
  int last_query = static_cast<int>(messages.size()) - 1;
  for (int i = static_cast<int>(messages.size()) - 1; i >= 0; --i) {
    const Message& m = messages[i];
    if (m.role == "user" && !(absl::StartsWith(m.content, "<tool_response>") &&
                              absl::EndsWith(m.content, "</tool_response>"))) {
      last_query = i;
      break;
    }
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& m = messages[i];
    const bool last = i + 1 == messages.size();
    if (m.role == "user" || (m.role == "system" && i != 0)) {
      absl::StrAppend(&out, "<|im_start|>", m.role, "\n", m.content, "<|im_end|>\n");
    } else if (m.role == "assistant") {
      std::string content = m.content;
      std::string reasoning;
      const size_t close = content.rfind("</think>");
      if (close != std::string::npos) {
        std::string before = content.substr(0, content.find("</think>"));
        const size_t open = before.rfind("<think>");
        if (open != std::string::npos) before = before.substr(open + 7);
        reasoning = StripChars(StripChars(before, "\n", false, true), "\n", true, false);
        content = StripChars(content.substr(close + 8), "\n", true, false);
      }
      if (static_cast<int>(i) > last_query && (last || !reasoning.empty())) {
        absl::StrAppend(&out, "<|im_start|>assistant\n<think>\n",
                        StripChars(reasoning, "\n", true, true), "\n</think>\n\n",
                        StripChars(content, "\n", true, false));
      } else {
        absl::StrAppend(&out, "<|im_start|>assistant\n", content);
      }
      absl::StrAppend(&out, "<|im_end|>\n");
    } else if (m.role == "tool") {
      if (i == 0 || messages[i - 1].role != "tool") absl::StrAppend(&out, "<|im_start|>user");
      absl::StrAppend(&out, "\n<tool_response>\n", m.content, "\n</tool_response>");
      if (last || messages[i + 1].role != "tool") absl::StrAppend(&out, "<|im_end|>\n");
    }
  }
  if (options.add_generation_prompt) {
    absl::StrAppend(&out, "<|im_start|>assistant\n");
    if (!options.enable_thinking) absl::StrAppend(&out, "<think>\n\n</think>\n\n");
  }
  return out;
}

// Llama 3 Instruct's chat template.
std::string RenderLlama3(const std::vector<Message>& messages, const TemplateOptions& options) {
  std::string out = options.llama3_bos ? "<|begin_of_text|>" : "";
  for (const Message& m : messages) {
    absl::StrAppend(&out, "<|start_header_id|>", m.role, "<|end_header_id|>\n\n", Trim(m.content),
                    "<|eot_id|>");
  }
  if (options.add_generation_prompt) {
    absl::StrAppend(&out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
  }
  return out;
}

std::string RenderPlain(const std::vector<Message>& messages, const TemplateOptions& options) {
  std::string out;
  for (const Message& m : messages) {
    if (!out.empty()) out += "\n\n";
    if (m.role == "user" || m.role == "tool") {
      absl::StrAppend(&out, options.plain_user_prefix, m.content);
    } else if (m.role == "assistant") {
      absl::StrAppend(&out, options.plain_assistant_prefix, m.content);
    } else {
      out += m.content;
    }
  }
  if (options.add_generation_prompt) {
    if (!out.empty()) out += "\n\n";
    out += StripChars(options.plain_assistant_prefix, " ", false, true);
  }
  return out;
}

std::string WithSuffix(const std::string& text, const std::string& suffix) {
  if (suffix.empty()) return text;
  return absl::StrCat(text, "\n\n", suffix);
}

}  // namespace

absl::Status ValidateTemplateOptions(const TemplateOptions& options) {
  if (ParseFormat(options.format) == Format::kUnknown) {
    return absl::InvalidArgumentError(absl::StrCat(
        "template.format: unknown template '", options.format, "' (qwen, chatml, llama3, plain)"));
  }
  return absl::OkStatus();
}

std::vector<Message> BuildMessages(const Task& task, const TemplateOptions& options) {
  std::vector<Message> task_messages = task.messages;
  if (task_messages.empty()) task_messages.push_back({"user", task.prompt});
  std::vector<Message> out;
  size_t first = 0;
  if (task_messages[0].role == "system") {
    out.push_back(task_messages[0]);
    first = 1;
  } else if (!options.system_prompt.empty()) {
    out.push_back({"system", options.system_prompt});
  }
  for (const FewShotExample& shot : options.few_shot) {
    out.push_back({"user", WithSuffix(shot.prompt, options.user_suffix)});
    out.push_back({"assistant", shot.completion});
  }
  size_t last_user = task_messages.size();
  for (size_t i = first; i < task_messages.size(); ++i) {
    if (task_messages[i].role == "user") last_user = i;
  }
  for (size_t i = first; i < task_messages.size(); ++i) {
    Message m = task_messages[i];
    if (i == last_user) m.content = WithSuffix(m.content, options.user_suffix);
    out.push_back(std::move(m));
  }
  return out;
}

std::string RenderMessages(const std::vector<Message>& messages, const TemplateOptions& options) {
  switch (ParseFormat(options.format)) {
    case Format::kQwen:
      return RenderQwen(messages, options);
    case Format::kLlama3:
      return RenderLlama3(messages, options);
    default:
      return RenderPlain(messages, options);
  }
}

std::string RenderPrompt(const Task& task, const TemplateOptions& options) {
  return RenderMessages(BuildMessages(task, options), options);
}

std::string EndOfTurn(const TemplateOptions& options) {
  switch (ParseFormat(options.format)) {
    case Format::kQwen:
      return "<|im_end|>";
    case Format::kLlama3:
      return "<|eot_id|>";
    default:
      return "";
  }
}

}  // namespace rlvr
