// `rlvr eval`: pass@1, unbiased pass@k, maj@k, mean reward, breakdowns by source and
// difficulty, lengths, truncation, token efficiency and verdicts of one or more
// checkpoints (or a model directory) on a dataset; JSON beside the run and a
// comparison table on stdout.
//
//   rlvr eval --checkpoint runs/x/checkpoints/step-00000020 [--checkpoint ...] n=8
//   rlvr eval --model path/to/hf-model --dataset test.jsonl data.format=gsm8k n=4
//
// The run's config (the first checkpoint's config.yaml, or --config, or the built-in
// quickstart) supplies the tokenizer, template, verifiers and the built-in held-out
// tasks; positional key=value overrides change it. Short forms: n=K (eval.n),
// temperature=T (eval.temperature), tasks=N (how many tasks), max_new_tokens=M.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/data_config.h"
#include "cli/train_setup.h"
#include "core/model.h"
#include "core/status_macros.h"
#include "envs/dataset.h"
#include "eval/dashboard.h"
#include "eval/evaluate.h"
#include "eval/tensorboard_sink.h"
#include "learner/checkpoint.h"
#include "rollout/engine.h"

namespace rlvr::cli {
namespace {

namespace fs = std::filesystem;

struct EvalFlags {
  std::vector<std::string> checkpoints;
  std::string model;
  std::string config;
  std::string dataset;  // arithmetic | code | a JSONL path; "" = the config's data
  std::string out;      // output directory for the JSON files
  std::vector<std::string> overrides;
};

// What to evaluate: a checkpoint's policy or a model directory.
struct Target {
  std::string label;       // "step-00000020", or the model directory's name
  std::string model_dir;   // Hugging Face layout
  std::string checkpoint;  // the checkpoint directory, if any
  std::string run_dir;     // the run holding the checkpoint, if any
  int64_t step = -1;
};

// A checkpoint directory, or a root/run holding step-* checkpoints (the newest valid).
absl::StatusOr<Target> ResolveCheckpoint(const std::string& arg) {
  std::string dir = arg;
  if (!fs::exists(fs::path(dir) / "manifest.json")) {
    std::string root = fs::is_directory(fs::path(dir) / "checkpoints")
                           ? (fs::path(dir) / "checkpoints").string()
                           : dir;
    std::vector<std::string> all = ListCheckpoints(root);
    dir.clear();
    for (auto it = all.rbegin(); it != all.rend() && dir.empty(); ++it) {
      if (VerifyCheckpoint(*it).ok()) dir = *it;
    }
    if (dir.empty()) {
      return absl::NotFoundError(absl::StrCat(
          arg, ": not a checkpoint (no manifest.json) and holds no valid step-* checkpoint"));
    }
  }
  RETURN_IF_ERROR(VerifyCheckpoint(dir));
  Target t;
  fs::path p = fs::absolute(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  t.checkpoint = p.string();
  t.label = p.filename().string();
  t.model_dir = (p / "model").string();
  if (p.parent_path().filename() == "checkpoints")
    t.run_dir = p.parent_path().parent_path().string();
  std::ifstream state(p / "state.json");
  nlohmann::json j = nlohmann::json::parse(state, nullptr, false);
  if (!j.is_discarded() && j.contains("step") && j["step"].is_number_integer()) {
    t.step = j["step"].get<int64_t>();
  } else if (absl::StartsWith(t.label, "step-")) {
    t.step = std::atoll(t.label.c_str() + 5);
  }
  return t;
}

std::string Fmt(double v) { return absl::StrFormat("%.4f", v); }

// The widest k present in a {k: value} map, or -1.
int64_t MaxK(const std::map<int64_t, double>& m) { return m.empty() ? -1 : m.rbegin()->first; }

void PrintTable(const std::vector<std::pair<Target, EvalResult>>& rows) {
  std::vector<std::vector<std::string>> cells;
  const int64_t k = rows.empty() ? 1 : MaxK(rows[0].second.pass_at_k);
  cells.push_back({"evaluation", "tasks", "n", "pass@1", absl::StrCat("pass@", k),
                   absl::StrCat("maj@", k), "reward", "tokens", "p90 tok", "truncated",
                   "correct/Mtok", "seconds"});
  for (const auto& [t, r] : rows) {
    auto at = [&](const std::map<int64_t, double>& m) {
      auto it = m.find(k);
      return it == m.end() ? std::string("-") : Fmt(it->second);
    };
    cells.push_back({t.label, absl::StrCat(r.tasks),
                     absl::StrCat(r.tasks ? r.samples / r.tasks : 0), Fmt(r.pass_at_1),
                     at(r.pass_at_k), at(r.maj_at_k), Fmt(r.mean_reward),
                     absl::StrFormat("%.1f", r.mean_completion_tokens),
                     absl::StrFormat("%.0f", r.completion_tokens_p90), Fmt(r.truncation_rate),
                     absl::StrFormat("%.0f", r.correct_per_million_tokens),
                     absl::StrFormat("%.1f", r.seconds)});
  }
  std::vector<size_t> width(cells[0].size(), 0);
  for (const auto& row : cells) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : cells) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, i == 0 ? "" : "  ",
                      i == 0 ? absl::StrFormat("%-*s", width[i], row[i])
                             : absl::StrFormat("%*s", width[i], row[i]));
    }
    std::cout << line << "\n";
  }
  for (const auto& [t, r] : rows) {
    for (const auto* groups : {&r.by_source, &r.by_difficulty}) {
      if (groups->size() < 2) continue;
      std::cout << t.label << (groups == &r.by_source ? " by source:" : " by difficulty:");
      for (const auto& [name, g] : *groups) {
        std::cout << absl::StrFormat("  %s %.4f (%d)", name.empty() ? "(none)" : name, g.pass_at_1,
                                     g.tasks);
      }
      std::cout << "\n";
    }
  }
}

absl::Status ExportToTensorBoard(const Target& t, const EvalResult& r, const std::string& dataset) {
  ASSIGN_OR_RETURN(std::unique_ptr<MetricsSink> sink,
                   OpenTensorBoardSink((fs::path(t.run_dir) / "tensorboard").string()));
  const std::string phase = absl::StrCat("eval_", dataset);
  RETURN_IF_ERROR(sink->AddScalars(EvalScalars(phase, t.step, r)));
  RETURN_IF_ERROR(sink->AddHistogram(t.step, phase + "/completion_tokens", r.completion_tokens));
  std::vector<TextSample> samples;
  for (const EvalSample& s : r.samples_kept) {
    samples.push_back({s.task_id, s.prompt, s.completion, s.verdict, s.reward});
  }
  RETURN_IF_ERROR(sink->AddSamples(t.step, phase + "/samples", samples));
  return sink->Flush();
}

absl::Status RunEvalCommand(const EvalFlags& flags) {
  if (flags.checkpoints.empty() == flags.model.empty()) {
    return absl::InvalidArgumentError("give --checkpoint DIR (one or more) or --model DIR");
  }
  std::vector<Target> targets;
  for (const std::string& c : flags.checkpoints) {
    ASSIGN_OR_RETURN(Target t, ResolveCheckpoint(c));
    targets.push_back(std::move(t));
  }
  if (!flags.model.empty()) {
    if (!fs::exists(fs::path(flags.model) / "config.json")) {
      return absl::NotFoundError(
          absl::StrCat(flags.model, ": not a model directory (no config.json)"));
    }
    Target t;
    fs::path p = fs::absolute(flags.model).lexically_normal();
    if (p.filename().empty()) p = p.parent_path();
    t.label = p.filename().string();
    t.model_dir = p.string();
    targets.push_back(std::move(t));
  }

  // Overrides: short forms, data.* for a JSONL dataset, the rest for the run config.
  std::vector<std::string> config_overrides, data_overrides;
  int64_t task_limit = -1;
  bool temperature_set = false;
  int64_t n = 1;
  const bool jsonl =
      !flags.dataset.empty() && flags.dataset != "arithmetic" && flags.dataset != "code";
  for (const std::string& o : flags.overrides) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("override \"", o, "\": expected key=value"));
    }
    const std::string key = o.substr(0, eq), value = o.substr(eq + 1);
    if (key == "n" || key == "eval.n") {
      config_overrides.push_back("eval.n=" + value);
      n = std::atoll(value.c_str());
    } else if (key == "temperature" || key == "eval.temperature") {
      config_overrides.push_back("eval.temperature=" + value);
      temperature_set = true;
    } else if (key == "tasks") {
      task_limit = std::atoll(value.c_str());
      if (task_limit < 1) return absl::InvalidArgumentError("tasks: expected an integer >= 1");
      if (!jsonl) config_overrides.push_back("data.eval_tasks=" + value);
    } else if (key == "max_new_tokens") {
      config_overrides.push_back("rollout.max_new_tokens=" + value);
    } else if (jsonl && absl::StartsWith(key, "data.")) {
      data_overrides.push_back(o);
    } else {
      config_overrides.push_back(o);
    }
  }
  // pass@k with k > 1 needs sampling: unless told otherwise, n > 1 samples at T = 1.
  if (n > 1 && !temperature_set) config_overrides.push_back("eval.temperature=1.0");
  if (!flags.dataset.empty() && !jsonl) config_overrides.push_back("data.source=" + flags.dataset);
  if (!flags.model.empty()) config_overrides.push_back("model.path=" + targets[0].model_dir);

  std::string config_path = flags.config;
  if (config_path.empty() && !targets[0].checkpoint.empty() &&
      fs::exists(fs::path(targets[0].checkpoint) / "config.yaml")) {
    config_path = (fs::path(targets[0].checkpoint) / "config.yaml").string();
  }
  ASSIGN_OR_RETURN(Config config, LoadConfig(config_path, config_overrides, kQuickstartYaml,
                                             "<built-in default: configs/quickstart.yaml>"));
  ASSIGN_OR_RETURN(std::unique_ptr<TrainSetup> setup, BuildTrainSetup(config));

  std::vector<Task> tasks = setup->eval_tasks;
  std::string dataset_tag = flags.dataset;
  if (jsonl) {
    std::vector<std::string> all = data_overrides;
    all.push_back("data.path=" + flags.dataset);
    ASSIGN_OR_RETURN(Config data_config, LoadConfig("", all, "{}"));
    DatasetOptions d;
    ConfigReader reader(data_config);
    ReadDatasetOptions(reader, "data", &d);
    RETURN_IF_ERROR(reader.Finish());
    ASSIGN_OR_RETURN(std::unique_ptr<DatasetReader> dataset, DatasetReader::Open(d));
    tasks.clear();
    while (task_limit < 0 || static_cast<int64_t>(tasks.size()) < task_limit) {
      ASSIGN_OR_RETURN(std::optional<Task> t, dataset->Next());
      if (!t) break;
      tasks.push_back(*std::move(t));
    }
    dataset_tag = fs::path(flags.dataset).stem().string();
  }
  if (tasks.empty()) return absl::InvalidArgumentError("no tasks to evaluate on");

  ASSIGN_OR_RETURN(ModelOptions model_options, EngineModelOptions(*setup));
  std::vector<std::pair<Target, EvalResult>> rows;
  for (const Target& t : targets) {
    std::cerr << "rlvr eval: " << t.label << ": " << tasks.size() << " tasks x " << setup->eval.n
              << " samples (temperature " << setup->eval.sampling.temperature << ")...\n";
    ASSIGN_OR_RETURN(Transformer model, Transformer::Load(t.model_dir, model_options));
    ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                     Engine::Create(std::move(model), setup->tokenizer, setup->engine));
    ASSIGN_OR_RETURN(EvalResult result,
                     Evaluate(*engine, setup->tokenizer, tasks, setup->grader, setup->eval));
    // Beside the run: <run>/eval/<checkpoint>[.<dataset>].json; a model: ./eval/<name>.json.
    fs::path out_dir = !flags.out.empty()   ? fs::path(flags.out)
                       : !t.run_dir.empty() ? fs::path(t.run_dir) / "eval"
                                            : fs::path("eval");
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (ec) return absl::PermissionDeniedError(absl::StrCat(out_dir.string(), ": ", ec.message()));
    const std::string name =
        dataset_tag.empty() ? t.label : absl::StrCat(t.label, ".", dataset_tag);
    const fs::path out = out_dir / (name + ".json");
    nlohmann::json doc = {
        {"label", name},
        {"model", t.model_dir},
        {"dataset", flags.dataset.empty() ? "(the run's held-out tasks)" : flags.dataset},
        {"n", setup->eval.n},
        {"temperature", setup->eval.sampling.temperature},
        {"max_new_tokens", setup->eval.sampling.max_new_tokens},
        {"result", result.ToJson()}};
    if (!t.checkpoint.empty()) doc["checkpoint"] = t.checkpoint;
    if (t.step >= 0) doc["step"] = t.step;
    {
      std::ofstream f(out);
      f << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      if (!f) return absl::PermissionDeniedError(absl::StrCat(out.string(), ": cannot write"));
    }
    std::cerr << "rlvr eval: wrote " << out.string() << "\n";
    if (!t.run_dir.empty() && t.step >= 0 && flags.out.empty() && setup->exporters.tensorboard) {
      // Beside the training curves: scalars "eval_<dataset>/<name>" at the checkpoint's step.
      absl::Status s =
          ExportToTensorBoard(t, result, dataset_tag.empty() ? "heldout" : dataset_tag);
      if (!s.ok()) std::cerr << "rlvr eval: tensorboard: " << s.message() << "\n";
    }
    rows.push_back({t, std::move(result)});
  }
  PrintTable(rows);
  // The run's dashboard shows the new results in its evaluation table.
  std::set<std::string> runs;
  for (const Target& t : targets) {
    if (!t.run_dir.empty() && flags.out.empty()) runs.insert(t.run_dir);
  }
  for (const std::string& run : runs) {
    absl::StatusOr<DashboardReport> report =
        WriteDashboard({.run_dir = run, .out_dir = (fs::path(run) / "dashboard").string()});
    if (report.ok()) std::cerr << "rlvr eval: updated " << report->path << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddEvalCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "eval", "Evaluate checkpoints or a model: pass@k, maj@k, reward, lengths, verdicts");
  auto flags = std::make_shared<EvalFlags>();
  cmd->add_option("--checkpoint", flags->checkpoints,
                  "A checkpoint directory (or a run / checkpoints root: its newest); repeat to "
                  "compare")
      ->allow_extra_args(false);  // n=4 after --checkpoint DIR is an override
  cmd->add_option("--model", flags->model, "A Hugging Face model directory");
  cmd->add_option("--config", flags->config,
                  "Run config (default: the checkpoint's config.yaml, else the built-in)");
  cmd->add_option("--dataset", flags->dataset,
                  "arithmetic | code | a JSONL path (with data.format=..., data.fields.*=...)");
  cmd->add_option("--out", flags->out,
                  "Directory for the JSON results (default: <run>/eval, or ./eval for --model)");
  cmd->add_option("overrides", flags->overrides,
                  "n=K, temperature=T, tasks=N, max_new_tokens=M, or dotted config keys");
  cmd->callback([flags] {
    int rc = ReportStatus("eval", RunEvalCommand(*flags));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
