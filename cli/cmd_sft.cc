// `rlvr sft`: supervised fine-tuning on {"prompt", "completion"} JSONL, loss on the
// completion tokens only; writes the model in Hugging Face layout.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/model.h"
#include "core/status_macros.h"
#include "core/tokenizer.h"
#include "envs/task.h"
#include "envs/template.h"
#include "learner/optim.h"
#include "learner/sft.h"

namespace rlvr::cli {
namespace {

struct SftFlags {
  std::string model = "builtin", tokenizer, data, out, template_format = "plain";
  int64_t steps = 100, batch_size = 16, seed = 0;
  double lr = 1e-3;
};

// Reads every example; a malformed line is an error naming file:line.
absl::StatusOr<std::vector<Sequence>> ReadExamples(const SftFlags& f, const Tokenizer& tok) {
  std::ifstream in(f.data);
  if (!in) return absl::NotFoundError(absl::StrCat(f.data, ": cannot open"));
  TemplateOptions templ;
  templ.format = f.template_format;
  std::vector<Sequence> out;
  int64_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    const std::string where = absl::StrCat(f.data, ":", line_no, ": ");
    if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError(where + "not a JSON object");
    if (!j.contains("prompt") || !j["prompt"].is_string()) {
      return absl::InvalidArgumentError(where + "\"prompt\" must be a string");
    }
    if (!j.contains("completion") || !j["completion"].is_string()) {
      return absl::InvalidArgumentError(where + "\"completion\" must be a string");
    }
    Task task;
    task.id = absl::StrCat(line_no);
    task.prompt = j["prompt"].get<std::string>();
    Sequence s;
    for (int32_t id : tok.Encode(RenderPrompt(task, templ))) s.prompt.push_back(id);
    for (int32_t id : tok.Encode(j["completion"].get<std::string>() + EndOfTurn(templ))) {
      s.completion.push_back(id);
    }
    if (auto eos = tok.eos_id(); eos && (s.completion.empty() || s.completion.back() != *eos)) {
      s.completion.push_back(*eos);
    }
    if (s.prompt.empty()) return absl::InvalidArgumentError(where + "\"prompt\" is empty");
    out.push_back(std::move(s));
  }
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat(f.data, ": no examples"));
  return out;
}

absl::Status Sft(const SftFlags& f) {
  Tokenizer tok = Tokenizer::Builtin();
  if (!f.tokenizer.empty() && f.tokenizer != "builtin") {
    ASSIGN_OR_RETURN(tok, Tokenizer::FromFile(f.tokenizer));
  } else if (f.tokenizer.empty() && f.model != "builtin") {
    ASSIGN_OR_RETURN(tok, Tokenizer::FromFile(f.model));
  }
  ASSIGN_OR_RETURN(std::vector<Sequence> examples, ReadExamples(f, tok));
  ModelOptions mo;
  mo.requires_grad = true;
  absl::StatusOr<Transformer> model =
      f.model == "builtin"
          ? Transformer::RandomInit(BuiltinTinyConfig(tok.vocab_size()), f.seed, mo)
          : Transformer::Load(f.model, mo);
  if (!model.ok()) return model.status();
  std::vector<torch::Tensor> params;
  for (auto& [name, p] : model->NamedParameters()) params.push_back(p);
  OptimizerOptions oo;
  oo.schedule.lr = f.lr;
  oo.weight_decay = 0;
  Optimizer optimizer(params, oo);
  size_t next = 0;
  for (int64_t step = 0; step < f.steps; ++step) {
    std::vector<Sequence> batch;
    for (int64_t i = 0; i < f.batch_size; ++i) batch.push_back(examples[next++ % examples.size()]);
    ASSIGN_OR_RETURN(SftStepStats stats, SftStep(*model, optimizer, nullptr, batch, {}));
    std::cerr << absl::StrFormat("sft %d/%d  loss %.4f\n", step + 1, f.steps, stats.loss);
  }
  RETURN_IF_ERROR(model->Save(f.out));
  RETURN_IF_ERROR(tok.Save(f.out));
  std::cout << "saved " << f.out << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddSftCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "sft", "Supervised fine-tuning on {\"prompt\", \"completion\"} JSONL (loss on completions)");
  auto f = std::make_shared<SftFlags>();
  cmd->add_option("--model", f->model, "Model directory, or builtin (tiny random model)");
  cmd->add_option("--tokenizer", f->tokenizer, "tokenizer.json or its directory (default: model's)");
  cmd->add_option("--data", f->data, "JSONL with prompt and completion")->required();
  cmd->add_option("--out", f->out, "Output model directory")->required();
  cmd->add_option("--steps", f->steps, "Optimizer steps")->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", f->batch_size, "Examples per step")->check(CLI::PositiveNumber);
  cmd->add_option("--lr", f->lr, "Learning rate")->check(CLI::PositiveNumber);
  cmd->add_option("--template", f->template_format, "plain, qwen or llama3")
      ->check(CLI::IsMember({"plain", "qwen", "chatml", "llama3"}));
  cmd->add_option("--seed", f->seed, "Seed of the builtin model's random weights");
  cmd->callback([f] {
    int rc = ReportStatus("sft", Sft(*f));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
