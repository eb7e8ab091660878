// Config -> envs options: the `data:` and `template:` blocks.
//
//   data:
//     path: train.jsonl
//     format: gsm8k            # generic|task|gsm8k|math|mbpp|humaneval|stdio
//     fields: {prompt: query}  # overrides of the format's field names (FieldMapping)
//     name: gsm8k              # id prefix / metadata.source; default: file stem
//     on_malformed: skip       # skip|fail
//     shuffle: true
//     seed: 0
//     max_epochs: 1            # 0 = forever
//     split: all               # all|train|eval (by id hash)
//     eval_fraction: 0.0
//     split_salt: rlvr-split
//     max_line_bytes: 67108864
//   template:
//     format: qwen             # qwen|chatml|llama3|plain
//     system_prompt: ""
//     user_suffix: ""
//     few_shot: [{prompt: "1+1?", completion: "\\boxed{2}"}]
//     add_generation_prompt: true
//     enable_thinking: true
//     llama3_bos: true
//     plain_user_prefix: "User: "
//     plain_assistant_prefix: "Assistant: "
#ifndef RLVR_CLI_DATA_CONFIG_H_
#define RLVR_CLI_DATA_CONFIG_H_

#include <string>

#include "core/config.h"
#include "envs/dataset.h"
#include "envs/template.h"

namespace rlvr::cli {

// Each reads the keys under `prefix` ("data", "template") into *out, leaving defaults
// for absent keys; errors are collected by `reader` (report them with Finish()).
void ReadDatasetOptions(ConfigReader& reader, const std::string& prefix, DatasetOptions* out);
void ReadTemplateOptions(ConfigReader& reader, const std::string& prefix, TemplateOptions* out);

// A Config holding only the given top-level sections of `config` (so that a full
// training config can be read for its data sections without unknown-key errors).
absl::StatusOr<Config> ConfigSections(const Config& config,
                                      const std::vector<std::string>& sections);

}  // namespace rlvr::cli

#endif  // RLVR_CLI_DATA_CONFIG_H_
