// Prompt templates: a Task becomes the exact text the model is given, the same in
// training and evaluation (and in `rlvr data show`).
//
// "qwen" renders Qwen's ChatML as Qwen3's chat template does; "llama3" renders the
// Llama 3 Instruct template; "plain" is for base models. The chat renderings are
// tested against transformers' apply_chat_template(..., add_generation_prompt=True).
#ifndef RLVR_ENVS_TEMPLATE_H_
#define RLVR_ENVS_TEMPLATE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "envs/task.h"

namespace rlvr {

struct FewShotExample {
  std::string prompt;      // a user turn
  std::string completion;  // the assistant's answer to it
};

struct TemplateOptions {
  std::string format = "qwen";  // "qwen" (alias "chatml"), "llama3" or "plain"
  // Prepended as a system turn unless the task's messages begin with one. "" = none.
  std::string system_prompt;
  // User/assistant turns placed after the system turn and before the task.
  std::vector<FewShotExample> few_shot;
  // Appended to the task's (last) user turn and to few-shot prompts, after "\n\n",
  // e.g. "Put your final answer within \\boxed{}." "" = nothing.
  std::string user_suffix;
  bool add_generation_prompt = true;  // end with the opening of an assistant turn
  // qwen: false appends an empty "<think>\n\n</think>\n\n" after the generation prompt
  // (Qwen3's enable_thinking=False).
  bool enable_thinking = true;
  // llama3: begin with the "<|begin_of_text|>" text, as the template does. Turn it off
  // if the tokenizer adds BOS itself.
  bool llama3_bos = true;
  // plain: turns are "<prefix><content>" joined by "\n\n"; the generation prompt is
  // "\n\n" + plain_assistant_prefix with trailing spaces removed. A system turn is its
  // bare content.
  std::string plain_user_prefix = "User: ";
  std::string plain_assistant_prefix = "Assistant: ";
};

// INVALID_ARGUMENT naming the field for an unknown format.
absl::Status ValidateTemplateOptions(const TemplateOptions& options);

// The conversation the template renders: system turn, few-shot turns, then the task's
// prompt (or messages) with user_suffix applied.
std::vector<Message> BuildMessages(const Task& task, const TemplateOptions& options);

// Renders a conversation. An unknown format renders as "plain" (validate first).
std::string RenderMessages(const std::vector<Message>& messages, const TemplateOptions& options);

// RenderMessages(BuildMessages(task, options), options).
std::string RenderPrompt(const Task& task, const TemplateOptions& options);

// The text that closes an assistant turn in this format ("<|im_end|>", "<|eot_id|>",
// "" for plain), to append after an SFT reference completion.
std::string EndOfTurn(const TemplateOptions& options);

}  // namespace rlvr

#endif  // RLVR_ENVS_TEMPLATE_H_
