// `rlvr data show`: the rendered prompt and gold of dataset tasks, as training and
// evaluation see them. `rlvr data decontam`: n-gram overlap between a training and an
// evaluation set, with an optional filtered training file.
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/data_config.h"
#include "core/status_macros.h"
#include "envs/dataset.h"
#include "envs/decontam.h"
#include "envs/generated_tasks.h"
#include "envs/template.h"

namespace rlvr::cli {
namespace {

struct ShowFlags {
  std::string dataset;
  std::string format;
  std::string template_format;
  std::string builtin;  // "arithmetic" | "code"
  int difficulty = 0;
  int64_t seed = 0;
  int64_t index = -1;
  std::string id;
  int64_t count = 1;
  bool json = false;
  std::string config;
  std::vector<std::string> overrides;
};

void PrintTask(const Task& task, const TemplateOptions& options, int64_t line, bool as_json) {
  const std::string prompt = RenderPrompt(task, options);
  if (as_json) {
    nlohmann::json out = TaskToJson(task);
    out["rendered_prompt"] = prompt;
    if (line > 0) out["line"] = line;
    std::cout << out.dump() << "\n";
    return;
  }
  std::cout << "=== task " << task.id;
  if (line > 0) std::cout << " (line " << line << ")";
  std::cout << " · verifier " << (task.verifier.empty() ? "-" : task.verifier) << " ===\n"
            << "--- prompt (" << options.format << ") ---\n"
            << prompt << "\n--- gold ---\n"
            << task.gold << "\n";
  if (!task.spec.empty()) std::cout << "--- spec ---\n" << task.spec.dump(2) << "\n";
  if (!task.metadata.empty()) std::cout << "--- metadata ---\n" << task.metadata.dump(2) << "\n";
}

absl::Status RunShow(const ShowFlags& flags) {
  ASSIGN_OR_RETURN(Config full, LoadConfig(flags.config, flags.overrides, "{}"));
  ASSIGN_OR_RETURN(Config config, ConfigSections(full, {"data", "template"}));
  DatasetOptions data;
  TemplateOptions tmpl;
  ConfigReader reader(config);
  ReadDatasetOptions(reader, "data", &data);
  ReadTemplateOptions(reader, "template", &tmpl);
  RETURN_IF_ERROR(reader.Finish());
  // Flags win over the config.
  if (!flags.dataset.empty()) data.path = flags.dataset;
  if (!flags.format.empty()) {
    ASSIGN_OR_RETURN(data.mapping, MappingForFormat(flags.format));
  }
  if (!flags.template_format.empty()) tmpl.format = flags.template_format;
  RETURN_IF_ERROR(ValidateTemplateOptions(tmpl));
  if (flags.count < 1) return absl::InvalidArgumentError("--count must be >= 1");

  if (!flags.builtin.empty()) {
    const int64_t first = flags.index < 0 ? 0 : flags.index;
    for (int64_t i = first; i < first + flags.count; ++i) {
      Task task;
      if (flags.builtin == "arithmetic") {
        ArithmeticOptions options;
        if (flags.difficulty > 0) options.difficulty = flags.difficulty;
        RETURN_IF_ERROR(ValidateArithmeticOptions(options));
        task = MakeArithmeticTask(static_cast<uint64_t>(flags.seed), i, options);
      } else {
        CodeTaskOptions options;
        if (flags.difficulty > 0) options.difficulty = flags.difficulty;
        RETURN_IF_ERROR(ValidateCodeTaskOptions(options));
        task = MakeCodeTask(static_cast<uint64_t>(flags.seed), i, options);
      }
      PrintTask(task, tmpl, 0, flags.json);
    }
    return absl::OkStatus();
  }

  if (data.path.empty()) {
    return absl::InvalidArgumentError(
        "no dataset: give --dataset FILE (or data.path), or --builtin");
  }
  data.max_epochs = 1;
  ASSIGN_OR_RETURN(std::unique_ptr<DatasetReader> dataset, DatasetReader::Open(data));
  int64_t position = 0, printed = 0;
  const int64_t first = flags.index < 0 ? 0 : flags.index;
  bool found = false;
  while (printed < flags.count) {
    ASSIGN_OR_RETURN(std::optional<Task> task, dataset->Next());
    if (!task) break;
    const bool match = flags.id.empty() ? position >= first : (found || task->id == flags.id);
    ++position;
    if (!match) continue;
    found = true;
    PrintTask(*task, tmpl, dataset->last_line_number(), flags.json);
    ++printed;
  }
  if (printed == 0) {
    if (!flags.id.empty()) {
      return absl::NotFoundError(absl::StrCat("no task with id '", flags.id, "' in ", data.path));
    }
    return absl::NotFoundError(
        absl::StrCat(data.path, " has ", position, " tasks; --index ", first, " is past the end"));
  }
  return absl::OkStatus();
}

struct DecontamFlags {
  std::string train, eval, format = "generic", eval_format, output, report;
  int n = 13;
  int min_short_words = 4;
  bool fail_on_malformed = false;
};

absl::Status RunDecontam(const DecontamFlags& flags) {
  DecontamOptions options;
  options.train.path = flags.train;
  ASSIGN_OR_RETURN(options.train.mapping, MappingForFormat(flags.format));
  options.train.on_malformed = flags.fail_on_malformed ? OnMalformed::kFail : OnMalformed::kSkip;
  options.eval = options.train;
  options.eval.path = flags.eval;
  if (!flags.eval_format.empty()) {
    ASSIGN_OR_RETURN(options.eval.mapping, MappingForFormat(flags.eval_format));
  }
  if (flags.n < 1) return absl::InvalidArgumentError("--n must be >= 1");
  options.ngram.n = flags.n;
  options.ngram.min_short_words = flags.min_short_words;
  options.output_path = flags.output;
  ASSIGN_OR_RETURN(nlohmann::json report, Decontaminate(options));
  if (flags.report.empty()) {
    std::cout << report.dump(2) << "\n";
  } else {
    std::ofstream out(flags.report);
    out << report.dump(2) << "\n";
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write '", flags.report, "'"));
  }
  std::cerr << "rlvr data decontam: " << report["overlapping_train_tasks"] << " of "
            << report["train_tasks"] << " training tasks overlap "
            << report["contaminated_eval_tasks"] << " of " << report["eval_tasks"]
            << " evaluation tasks (n=" << flags.n << ")\n";
  return absl::OkStatus();
}

}  // namespace

void AddDataCommand(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Inspect and clean datasets");
  data->require_subcommand(1);

  auto show_flags = std::make_shared<ShowFlags>();
  CLI::App* show = data->add_subcommand("show", "Print tasks' rendered prompts and gold answers");
  show->add_option("--dataset", show_flags->dataset, "JSONL dataset (or data.path)");
  show->add_option("--format", show_flags->format, "Record format")
      ->check(CLI::IsMember(KnownFormats()));
  show->add_option("--template", show_flags->template_format, "Prompt template")
      ->check(CLI::IsMember({"qwen", "chatml", "llama3", "plain"}));
  show->add_option("--builtin", show_flags->builtin, "A built-in generated task set")
      ->check(CLI::IsMember({"arithmetic", "code"}));
  show->add_option("--difficulty", show_flags->difficulty, "Built-in task difficulty");
  show->add_option("--seed", show_flags->seed, "Built-in task seed");
  CLI::Option* index = show->add_option("--index", show_flags->index, "0-based task index");
  show->add_option("--id", show_flags->id, "Task id")->excludes(index);
  show->add_option("--count", show_flags->count, "Number of tasks to print (default 1)");
  show->add_flag("--json", show_flags->json, "One JSON object per task");
  show->add_option("--config", show_flags->config, "YAML config (data: and template: blocks)");
  show->add_option("overrides", show_flags->overrides, "key=value config overrides");
  show->callback([show_flags] {
    const int rc = ReportStatus("data show", RunShow(*show_flags));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });

  auto dc = std::make_shared<DecontamFlags>();
  CLI::App* decontam =
      data->add_subcommand("decontam", "N-gram overlap of training and evaluation prompts");
  decontam->add_option("--train", dc->train, "Training JSONL")->required();
  decontam->add_option("--eval", dc->eval, "Evaluation JSONL")->required();
  decontam->add_option("--n", dc->n, "Word n-gram length (default 13)");
  decontam->add_option("--format", dc->format, "Record format of both files (default generic)")
      ->check(CLI::IsMember(KnownFormats()));
  decontam->add_option("--eval-format", dc->eval_format, "Record format of the evaluation file")
      ->check(CLI::IsMember(KnownFormats()));
  decontam->add_option("--min-short-words", dc->min_short_words,
                       "Shorter evaluation prompts are matched whole if at least this long");
  decontam->add_option("--output", dc->output, "Write the non-overlapping training lines here");
  decontam->add_option("--report", dc->report, "Write the JSON report here (default stdout)");
  decontam->add_flag("--fail-on-malformed", dc->fail_on_malformed,
                     "A malformed line is an error (default: skipped and counted)");
  decontam->callback([dc] {
    const int rc = ReportStatus("data decontam", RunDecontam(*dc));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
