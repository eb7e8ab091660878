// `rlvr bench e2e-trl`: GRPO end to end against TRL's GRPOTrainer (PyPI `trl`, CPU), in
// the same run. Both train the same warm-started tiny model on the same arithmetic tasks
// in the same order with the same hyperparameters; the JSON gives each side's wall
// seconds and mean reward per step, and the per-step speed-up.
//
// Steps: build the policy as `rlvr train` does (the config, built-in default:
// configs/quickstart.yaml), warm-start it with SFT, save it as a Hugging Face directory,
// write the tasks of every step to a JSONL, train with rlvr's Trainer in process, then
// run scripts/bench/trl_grpo.py on the saved model and tasks.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/train_setup.h"
#include "core/status_macros.h"
#include "learner/optim.h"
#include "learner/sft.h"
#include "learner/trainer.h"
#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"
#include "rollout/engine.h"

namespace rlvr::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct E2eTrlFlags {
  std::string config;                  // "" = the built-in quickstart
  std::vector<std::string> overrides;  // dotted key=value
  int64_t steps = 10;                  // GRPO steps on each side
  int64_t sft_steps = -1;              // warm start before both; -1 = the config's sft.steps
  std::string python;                  // "" = $RLVR_PYTHON, else the build's venv
  std::string script = std::string(RLVR_SOURCE_DIR) + "/scripts/bench/trl_grpo.py";
  std::string work_dir;  // "" = a temporary directory, removed at the end
};

// TRL's loss_type with the same token aggregation as ours.
absl::StatusOr<std::string> TrlLossType(Aggregation a) {
  switch (a) {
    case Aggregation::kTokenMean:
      return std::string("dapo");  // global token mean (one process, one micro-batch)
    case Aggregation::kSeqMeanTokenMean:
      return std::string("grpo");
    case Aggregation::kConstant:
      return std::string("dr_grpo");
  }
  return absl::InvalidArgumentError("learner.aggregation: no TRL equivalent");
}

double Mean(const std::vector<double>& v, size_t from = 0) {
  if (v.size() <= from) return 0;
  return std::accumulate(v.begin() + from, v.end(), 0.0) / static_cast<double>(v.size() - from);
}

// Mean step time without the first step (allocation and warm-up) when there are more.
double SteadyStepSeconds(const std::vector<double>& seconds) {
  return Mean(seconds, seconds.size() > 1 ? 1 : 0);
}

absl::Status WarmStart(TrainSetup& setup) {
  return RunSftWarmStart(setup, nullptr, [&](int64_t step, const SftStepStats& stats) {
    std::cerr << "e2e-trl: sft " << step << "/" << setup.sft.steps << " loss " << stats.loss
              << "\n";
    return absl::OkStatus();
  });
}

// The tasks of every step in the order the trainer draws them; the source is rewound.
absl::Status WriteTasks(TrainSetup& setup, int64_t count, const fs::path& path) {
  const nlohmann::json start = setup.train_tasks->State();
  std::ofstream out(path);
  for (int64_t i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(Task task, setup.train_tasks->Next());
    const std::string prompt = RenderPrompt(task, setup.prompt_template);
    out << nlohmann::json{{"id", task.id},
                          {"prompt", prompt},
                          {"prompt_ids", setup.tokenizer.Encode(prompt)},
                          {"gold", task.gold}}
               .dump()
        << "\n";
  }
  if (!out) return absl::InternalError(absl::StrCat(path.string(), ": cannot write"));
  return setup.train_tasks->Restore(start);
}

// CPU seconds of this process, every thread, user and system.
double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

struct Curve {
  std::vector<double> step_seconds, step_cpu_seconds, reward, completion_tokens;
  std::vector<double> generation_seconds, train_seconds;  // rlvr only: the step's two phases
  nlohmann::json ToJson() const {
    nlohmann::json j = {{"step_seconds", step_seconds},
                        {"mean_step_seconds", SteadyStepSeconds(step_seconds)},
                        {"first_step_seconds", step_seconds.empty() ? 0.0 : step_seconds.front()},
                        {"step_cpu_seconds", step_cpu_seconds},
                        {"mean_step_cpu_seconds", SteadyStepSeconds(step_cpu_seconds)},
                        {"reward", reward},
                        {"reward_first", reward.empty() ? 0.0 : reward.front()},
                        {"reward_last", reward.empty() ? 0.0 : reward.back()},
                        {"reward_mean", Mean(reward)},
                        {"mean_completion_tokens", completion_tokens}};
    if (!generation_seconds.empty()) {
      j["generation_seconds"] = generation_seconds;
      j["train_seconds"] = train_seconds;
    }
    return j;
  }
};

absl::StatusOr<Curve> RunRlvr(TrainSetup& setup) {
  ASSIGN_OR_RETURN(ModelOptions engine_model, EngineModelOptions(setup));
  ASSIGN_OR_RETURN(Transformer engine_weights, setup.policy->Clone(engine_model));
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                   Engine::Create(std::move(engine_weights), setup.tokenizer, setup.engine));
  std::vector<torch::Tensor> params;
  for (auto& [name, p] : setup.policy->NamedParameters()) params.push_back(p);
  Optimizer optimizer(params, setup.optimizer);
  Trainer trainer(*setup.policy, optimizer, *engine, setup.tokenizer, *setup.train_tasks,
                  setup.grader, nullptr, setup.trainer);
  Curve curve;
  auto last = Clock::now();
  double last_cpu = ProcessCpuSeconds();
  RETURN_IF_ERROR(trainer.Run(
      [&](const StepReport& r) {
        const auto now = Clock::now();
        const double cpu = ProcessCpuSeconds();
        curve.step_seconds.push_back(std::chrono::duration<double>(now - last).count());
        curve.step_cpu_seconds.push_back(cpu - last_cpu);
        last = now;
        last_cpu = cpu;
        curve.reward.push_back(r.grpo.reward_mean);
        curve.completion_tokens.push_back(r.mean_completion_tokens);
        curve.generation_seconds.push_back(r.generation_seconds);
        curve.train_seconds.push_back(r.train_seconds);
        std::cerr << "e2e-trl: rlvr step " << r.step << " reward " << r.grpo.reward_mean << " "
                  << curve.step_seconds.back() << " s\n";
      },
      nullptr));
  return curve;
}

absl::StatusOr<nlohmann::json> RunTrl(const E2eTrlFlags& flags, const nlohmann::json& spec,
                                      const fs::path& dir) {
  if (!fs::exists(flags.script)) {
    return absl::NotFoundError(absl::StrCat("--script: ", flags.script, " does not exist"));
  }
  std::string python = flags.python;
  if (python.empty()) {
    const char* env = std::getenv("RLVR_PYTHON");
    python = env != nullptr ? env : RLVR_PYTHON;
  }
  std::ofstream(dir / "trl_spec.json") << spec.dump(2);
  const fs::path err_path = dir / "trl.log";
  const std::string cmd =
      absl::StrCat("'", python, "' '", flags.script, "' '", (dir / "trl_spec.json").string(),
                   "' >'", err_path.string(), "' 2>&1");
  std::cerr << "e2e-trl: running TRL GRPOTrainer (" << python << ")\n";
  const int rc = std::system(cmd.c_str());
  std::ifstream result_file(spec["result"].get<std::string>());
  nlohmann::json result = nlohmann::json::parse(result_file, nullptr, false);
  if (rc != 0 || result.is_discarded()) {
    std::ifstream err(err_path);
    std::string log((std::istreambuf_iterator<char>(err)), {});
    if (log.size() > 3000) log = log.substr(log.size() - 3000);
    return absl::InternalError(absl::StrCat("the TRL side failed (exit ", rc, "): ", log));
  }
  return result;
}

absl::Status BenchE2eTrl(const E2eTrlFlags& flags) {
  if (flags.steps < 1) return absl::InvalidArgumentError("--steps must be >= 1");
  if (flags.sft_steps < -1) return absl::InvalidArgumentError("--sft-steps must be >= 0 (or -1)");
  fs::path dir = flags.work_dir;
  if (dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "rlvr_bench_e2e_trl_XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::UnavailableError("cannot create a temporary directory");
    }
    dir = tmpl;
  }
  fs::create_directories(dir);
  struct RemoveDir {
    fs::path dir;
    ~RemoveDir() {
      std::error_code ec;
      if (!dir.empty()) fs::remove_all(dir, ec);
    }
  } cleanup{flags.work_dir.empty() ? dir : fs::path()};

  // TRL's GRPOTrainer is on-policy and has no dynamic sampling: both off unless the
  // command line asks (and then refused below).
  std::vector<std::string> overrides = {"learner.dynamic_sampling=false",
                                        "learner.max_staleness=0"};
  overrides.insert(overrides.end(), flags.overrides.begin(), flags.overrides.end());
  for (std::string o : {absl::StrCat("run.dir=", dir.string()), std::string("run.name=rlvr"),
                        absl::StrCat("learner.steps=", flags.steps),
                        std::string("checkpoint.every=0"), std::string("data.eval_tasks=0")}) {
    overrides.push_back(std::move(o));
  }
  if (flags.sft_steps >= 0) overrides.push_back(absl::StrCat("sft.steps=", flags.sft_steps));
  ASSIGN_OR_RETURN(Config config, LoadConfig(flags.config, overrides, kQuickstartYaml,
                                             "<built-in default: configs/quickstart.yaml>"));
  ASSIGN_OR_RETURN(std::unique_ptr<TrainSetup> setup, BuildTrainSetup(config));
  std::string source = "arithmetic";
  ConfigReader(config).Read("data.source", &source);  // validated by BuildTrainSetup
  if (source != "arithmetic") {
    return absl::InvalidArgumentError(absl::StrCat(
        "data.source: the TRL side grades integer answers; only \"arithmetic\" is compared, not \"",
        source, "\""));
  }
  if (setup->trainer.max_staleness != 0) {
    return absl::InvalidArgumentError(
        "learner.max_staleness: TRL's GRPOTrainer is on-policy; compare with 0 (sync)");
  }
  if (setup->trainer.dynamic_sampling) {
    return absl::InvalidArgumentError(
        "learner.dynamic_sampling: TRL's GRPOTrainer has no dynamic sampling; compare with false");
  }
  if (!setup->rollout_workers.empty()) {
    return absl::InvalidArgumentError("rollout.workers: the comparison runs in one process");
  }
  const GrpoOptions& grpo = setup->trainer.grpo;
  if (grpo.advantage != "grpo" || grpo.objective != "ppo_clip") {
    return absl::InvalidArgumentError(
        "learner.advantage/learner.loss: TRL's GRPO is advantage \"grpo\" with loss \"ppo_clip\"");
  }
  ASSIGN_OR_RETURN(std::string loss_type, TrlLossType(grpo.loss.aggregation));
  const int64_t group = grpo.advantage_options.group_size;
  if (group < 2)
    return absl::InvalidArgumentError("rollout.n: TRL needs at least 2 samples per prompt");

  RETURN_IF_ERROR(WarmStart(*setup));
  const fs::path model_dir = dir / "model";
  RETURN_IF_ERROR(setup->policy->Save(model_dir.string()));
  RETURN_IF_ERROR(setup->tokenizer.Save(model_dir.string()));
  const fs::path tasks_path = dir / "tasks.jsonl";
  RETURN_IF_ERROR(WriteTasks(*setup, flags.steps * setup->trainer.prompts_per_step, tasks_path));

  ASSIGN_OR_RETURN(Curve ours, RunRlvr(*setup));

  const SamplingParams& s = setup->trainer.sampling;
  const nlohmann::json spec = {
      {"model", model_dir.string()},
      {"tasks", tasks_path.string()},
      {"result", (dir / "trl_result.json").string()},
      {"output_dir", (dir / "trl_out").string()},
      {"steps", flags.steps},
      {"prompts_per_step", setup->trainer.prompts_per_step},
      {"num_generations", group},
      {"max_completion_length", s.max_new_tokens},
      {"temperature", s.temperature},
      {"top_p", s.top_p},
      {"top_k", s.top_k},
      {"lr", setup->optimizer.schedule.lr},
      {"weight_decay", setup->optimizer.weight_decay},
      {"max_grad_norm", setup->optimizer.max_grad_norm},
      {"clip_low", grpo.loss.clip_low},
      {"clip_high", grpo.loss.clip_high},
      {"loss_type", loss_type},
      {"seed", setup->seed},
      // TRL generates and trains on one thread's torch pool:
      // the larger of rlvr's two (0 = torch's default).
      {"threads", std::max(setup->engine.intra_op_threads, setup->trainer.learner_threads)}};
  ASSIGN_OR_RETURN(nlohmann::json trl, RunTrl(flags, spec, dir));
  Curve theirs;
  theirs.step_seconds = trl["step_seconds"].get<std::vector<double>>();
  theirs.step_cpu_seconds = trl["step_cpu_seconds"].get<std::vector<double>>();
  theirs.reward = trl["reward"].get<std::vector<double>>();
  theirs.completion_tokens = trl["mean_completion_tokens"].get<std::vector<double>>();

  nlohmann::json trl_json = theirs.ToJson();
  for (const char* key : {"trl_version", "torch_version", "torch_threads", "global_step"}) {
    trl_json[key] = trl[key];
  }
  nlohmann::json rlvr_json = ours.ToJson();
  rlvr_json["torch_threads"] = torch::get_num_threads();
  const ModelConfig& m = setup->policy->config();
  const double ours_s = SteadyStepSeconds(ours.step_seconds);
  const double theirs_s = SteadyStepSeconds(theirs.step_seconds);
  const double ours_cpu = SteadyStepSeconds(ours.step_cpu_seconds);
  const double theirs_cpu = SteadyStepSeconds(theirs.step_cpu_seconds);
  double load[1] = {0};
  (void)getloadavg(load, 1);
  nlohmann::json report = {
      {"benchmark", "e2e-trl"},
      {"load_average_1m", load[0]},
      {"model",
       {{"type", m.model_type},
        {"parameters", m.NumParameters()},
        {"hidden_size", m.hidden_size},
        {"layers", m.num_hidden_layers},
        {"vocab_size", m.vocab_size}}},
      {"sft_steps", setup->sft.steps},
      {"steps", flags.steps},
      {"prompts_per_step", setup->trainer.prompts_per_step},
      {"samples_per_prompt", group},
      {"max_completion_tokens", s.max_new_tokens},
      {"lr", setup->optimizer.schedule.lr},
      {"loss", {{"rlvr", "ppo_clip"}, {"trl_loss_type", loss_type}}},
      {"step_seconds_note",
       "wall and process CPU seconds between optimizer steps (generation, grading, update); "
       "means exclude the first step when there are more"},
      {"rlvr", rlvr_json},
      {"trl", trl_json},
      {"speedup_per_step", ours_s > 0 ? theirs_s / ours_s : 0.0},
      {"speedup_per_step_cpu", ours_cpu > 0 ? theirs_cpu / ours_cpu : 0.0},
      {"reward_mean_difference", Mean(ours.reward) - Mean(theirs.reward)},
      {"goal_speedup", 5.0}};
  std::cout << report.dump(2) << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddBenchE2eTrl(CLI::App& bench) {
  CLI::App* cmd = bench.add_subcommand(
      "e2e-trl", "GRPO steps/s and reward curve against TRL's GRPOTrainer on the same model");
  auto flags = std::make_shared<E2eTrlFlags>();
  cmd->add_option("--config", flags->config, "Training YAML (default: the built-in quickstart)");
  cmd->add_option("--steps", flags->steps, "GRPO steps on each side")->capture_default_str();
  cmd->add_option("--sft-steps", flags->sft_steps,
                  "SFT warm-start steps before both sides (default: the config's sft.steps)");
  cmd->add_option("--python", flags->python,
                  "Python with trl (default: $RLVR_PYTHON or the build's venv)");
  cmd->add_option("--script", flags->script, "The TRL driver")->capture_default_str();
  cmd->add_option(
      "--work-dir", flags->work_dir,
      "Keep the model, tasks and TRL log here (default: a removed temporary directory)");
  cmd->add_option("overrides", flags->overrides, "Dotted key=value config overrides");
  cmd->callback([flags] {
    int rc = ReportStatus("bench e2e-trl", BenchE2eTrl(*flags));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
