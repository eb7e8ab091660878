#include "cli/data_config.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace rlvr::cli {

void ReadDatasetOptions(ConfigReader& reader, const std::string& prefix, DatasetOptions* out) {
  auto key = [&](const char* name) { return absl::StrCat(prefix, ".", name); };
  reader.Read(key("path"), &out->path);
  std::string format = out->mapping.format;
  if (reader.ReadChoice(key("format"), &format, KnownFormats())) {
    out->mapping = *MappingForFormat(format);
  }
  FieldMapping& m = out->mapping;
  reader.Read(key("fields.id"), &m.id);
  reader.Read(key("fields.prompt"), &m.prompt);
  reader.Read(key("fields.answer"), &m.answer);
  reader.Read(key("fields.solution"), &m.solution);
  reader.Read(key("fields.tests"), &m.tests);
  reader.Read(key("fields.setup"), &m.setup);
  reader.Read(key("fields.entry_point"), &m.entry_point);
  reader.Read(key("fields.verifier"), &m.verifier);
  reader.Read(key("fields.metadata"), &m.metadata);
  reader.Read(key("name"), &out->name);
  std::string on_malformed = out->on_malformed == OnMalformed::kFail ? "fail" : "skip";
  if (reader.ReadChoice(key("on_malformed"), &on_malformed, {"skip", "fail"})) {
    out->on_malformed = on_malformed == "fail" ? OnMalformed::kFail : OnMalformed::kSkip;
  }
  reader.Read(key("shuffle"), &out->shuffle);
  int64_t seed = static_cast<int64_t>(out->seed);
  if (reader.Read(key("seed"), &seed, {.min = 0})) out->seed = static_cast<uint64_t>(seed);
  reader.Read(key("max_epochs"), &out->max_epochs, {.min = 0});
  std::string split = out->split == Split::kTrain  ? "train"
                      : out->split == Split::kEval ? "eval"
                                                   : "all";
  if (reader.ReadChoice(key("split"), &split, {"all", "train", "eval"})) {
    out->split = split == "train" ? Split::kTrain : split == "eval" ? Split::kEval : Split::kAll;
  }
  reader.Read(key("eval_fraction"), &out->eval_fraction, {.min = 0, .max = 1});
  reader.Read(key("split_salt"), &out->split_salt);
  reader.Read(key("max_line_bytes"), &out->max_line_bytes, {.min = 1});
}

void ReadTemplateOptions(ConfigReader& reader, const std::string& prefix, TemplateOptions* out) {
  auto key = [&](const char* name) { return absl::StrCat(prefix, ".", name); };
  reader.ReadChoice(key("format"), &out->format, {"qwen", "chatml", "llama3", "plain"});
  reader.Read(key("system_prompt"), &out->system_prompt);
  reader.Read(key("user_suffix"), &out->user_suffix);
  nlohmann::json shots;
  if (reader.ReadJson(key("few_shot"), &shots)) {
    out->few_shot.clear();
    bool ok = shots.is_array();
    for (size_t i = 0; ok && i < shots.size(); ++i) {
      const nlohmann::json& s = shots[i];
      ok = s.is_object() && s.contains("prompt") && s["prompt"].is_string() &&
           s.contains("completion") && s["completion"].is_string();
      if (ok)
        out->few_shot.push_back(
            {s["prompt"].get<std::string>(), s["completion"].get<std::string>()});
    }
    if (!ok) reader.AddError(key("few_shot"), "must be a list of {prompt: str, completion: str}");
  }
  reader.Read(key("add_generation_prompt"), &out->add_generation_prompt);
  reader.Read(key("enable_thinking"), &out->enable_thinking);
  reader.Read(key("llama3_bos"), &out->llama3_bos);
  reader.Read(key("plain_user_prefix"), &out->plain_user_prefix);
  reader.Read(key("plain_assistant_prefix"), &out->plain_assistant_prefix);
}

absl::StatusOr<Config> ConfigSections(const Config& config,
                                      const std::vector<std::string>& sections) {
  const nlohmann::json all = config.ToJson();
  nlohmann::json kept = nlohmann::json::object();
  for (const std::string& s : sections) {
    if (all.is_object() && all.contains(s)) kept[s] = all[s];
  }
  return Config::FromString(kept.dump(), config.source());  // JSON is YAML
}

}  // namespace rlvr::cli
