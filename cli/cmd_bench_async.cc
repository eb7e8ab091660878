// `rlvr bench async`: the same GRPO run, sync and async, in one process. The policy is
// warm-started once with SFT (the config's sft section); every mode then starts from a
// copy of those weights, trains the same number of steps on the same task stream and is
// timed step by step. Prints JSON with wall time per step, generated tokens/s, reward
// over the steps, and the async/sync step-time ratio.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/train_setup.h"
#include "core/model.h"
#include "core/status_macros.h"
#include "learner/optim.h"
#include "learner/sft.h"
#include "learner/trainer.h"
#include "nlohmann/json.hpp"
#include "rollout/engine.h"

namespace rlvr::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct BenchFlags {
  std::string config;
  std::vector<std::string> overrides;
  int64_t steps = 10;
  std::vector<int64_t> staleness = {0, 1, 2};
};

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return absl::StrCat(one, " ", five, " ", fifteen);
}

// The config with the bench's overrides last: no checkpoints, no evaluation, outputs
// in a scratch directory.
absl::StatusOr<std::unique_ptr<TrainSetup>> Setup(const BenchFlags& flags, int64_t staleness,
                                                  const fs::path& dir) {
  std::vector<std::string> overrides = flags.overrides;
  for (const std::string& o :
       {absl::StrCat("learner.max_staleness=", staleness),
        absl::StrCat("learner.steps=", flags.steps), std::string("checkpoint.every=0"),
        std::string("data.eval_tasks=0"), absl::StrCat("run.dir=", dir.string()),
        absl::StrCat("run.name=s", staleness)}) {
    overrides.push_back(o);
  }
  ASSIGN_OR_RETURN(Config config, LoadConfig(flags.config, overrides, kQuickstartYaml,
                                             "<built-in default: configs/quickstart.yaml>"));
  return BuildTrainSetup(config);
}

absl::Status WarmStart(TrainSetup& setup) { return RunSftWarmStart(setup, nullptr, {}); }

// Trains one mode from `start` weights; returns its JSON record.
absl::StatusOr<nlohmann::json> RunMode(const BenchFlags& flags, int64_t staleness,
                                       const std::map<std::string, torch::Tensor>& start,
                                       const fs::path& dir) {
  ASSIGN_OR_RETURN(std::unique_ptr<TrainSetup> setup, Setup(flags, staleness, dir));
  RETURN_IF_ERROR(setup->policy->LoadNamedTensors(start));
  ASSIGN_OR_RETURN(ModelOptions engine_model, EngineModelOptions(*setup));
  ASSIGN_OR_RETURN(Transformer engine_weights, setup->policy->Clone(engine_model));
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                   Engine::Create(std::move(engine_weights), setup->tokenizer, setup->engine));
  std::vector<torch::Tensor> params;
  for (auto& [name, p] : setup->policy->NamedParameters()) params.push_back(p);
  Optimizer optimizer(params, setup->optimizer);
  Trainer trainer(*setup->policy, optimizer, *engine, setup->tokenizer, *setup->train_tasks,
                  setup->grader, nullptr, setup->trainer);
  std::vector<StepReport> reports;
  const auto start_time = Clock::now();
  RETURN_IF_ERROR(trainer.Run([&](const StepReport& r) { reports.push_back(r); }, nullptr));
  const double wall = std::chrono::duration<double>(Clock::now() - start_time).count();
  int64_t tokens = 0, dropped = 0;
  double generation = 0, train = 0, staleness_sum = 0;
  nlohmann::json rewards = nlohmann::json::array();
  for (const StepReport& r : reports) {
    tokens += r.generated_tokens;
    dropped += r.stale_dropped;
    generation += r.generation_seconds;
    train += r.train_seconds;
    staleness_sum += r.staleness_mean;
    rewards.push_back(r.grpo.reward_mean);
  }
  const double n = std::max<double>(1, static_cast<double>(reports.size()));
  const size_t tail = std::max<size_t>(1, reports.size() / 3);
  double tail_reward = 0;
  for (size_t i = reports.size() - std::min(tail, reports.size()); i < reports.size(); ++i) {
    tail_reward += reports[i].grpo.reward_mean / static_cast<double>(tail);
  }
  return nlohmann::json{{"max_staleness", staleness},
                        {"steps", reports.size()},
                        {"engine_threads", setup->engine.intra_op_threads},
                        {"learner_threads", setup->trainer.learner_threads},
                        {"wall_seconds", wall},
                        {"seconds_per_step", wall / n},
                        {"waiting_for_rollouts_seconds_per_step", generation / n},
                        {"train_seconds_per_step", train / n},
                        {"tokens_generated", tokens},
                        {"tokens_per_second", wall > 0 ? tokens / wall : 0},
                        {"reward_per_step", rewards},
                        {"reward_last_third", tail_reward},
                        {"staleness_mean", staleness_sum / n},
                        {"stale_dropped", dropped}};
}

absl::Status Bench(const BenchFlags& flags) {
  if (flags.steps < 1) return absl::InvalidArgumentError("--steps must be >= 1");
  if (flags.staleness.empty() || flags.staleness[0] != 0) {
    return absl::InvalidArgumentError("--staleness must start with 0 (the sync baseline)");
  }
  for (int64_t k : flags.staleness) {
    if (k < 0) return absl::InvalidArgumentError("--staleness values must be >= 0");
  }
  const fs::path dir = fs::temp_directory_path() / absl::StrCat("rlvr_bench_async_", getpid());
  fs::create_directories(dir);
  const std::string load_before = LoadAverage();

  ASSIGN_OR_RETURN(std::unique_ptr<TrainSetup> base, Setup(flags, 0, dir));
  if (base->trainer.learner_threads > 0) at::set_num_threads(base->trainer.learner_threads);
  const auto sft_start = Clock::now();
  RETURN_IF_ERROR(WarmStart(*base));
  const double sft_seconds = std::chrono::duration<double>(Clock::now() - sft_start).count();
  std::map<std::string, torch::Tensor> start;
  for (auto& [name, p] : base->policy->NamedParameters()) start[name] = p.detach().clone();

  nlohmann::json modes = nlohmann::json::array();
  for (int64_t k : flags.staleness) {
    std::cerr << "bench async: max_staleness " << k << ", " << flags.steps << " steps...\n";
    ASSIGN_OR_RETURN(nlohmann::json m, RunMode(flags, k, start, dir));
    modes.push_back(std::move(m));
  }
  fs::remove_all(dir);
  nlohmann::json out = {{"benchmark", "async"},
                        {"config", flags.config.empty() ? "built-in quickstart" : flags.config},
                        {"overrides", flags.overrides},
                        {"cores", std::thread::hardware_concurrency()},
                        {"load_average_before", load_before},
                        {"load_average_after", LoadAverage()},
                        {"sft_steps", base->sft.steps},
                        {"sft_seconds", sft_seconds},
                        {"prompts_per_step", base->trainer.prompts_per_step},
                        {"samples_per_prompt", base->trainer.grpo.advantage_options.group_size},
                        {"modes", modes}};
  const double sync = modes[0]["seconds_per_step"].get<double>();
  nlohmann::json ratios = nlohmann::json::object();
  for (size_t i = 1; i < modes.size(); ++i) {
    ratios[absl::StrCat("staleness_", modes[i]["max_staleness"].get<int64_t>())] =
        sync > 0 ? modes[i]["seconds_per_step"].get<double>() / sync : 0;
  }
  out["step_time_ratio_async_over_sync"] = ratios;
  std::cout << out.dump(2) << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddBenchAsync(CLI::App& bench) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* cmd = bench.add_subcommand(
      "async", "GRPO wall time per step, sync vs async (max_staleness), same config and start");
  cmd->add_option("--config", flags->config, "Training YAML (default: the built-in quickstart)");
  cmd->add_option("--steps", flags->steps, "GRPO steps per mode");
  cmd->add_option("--staleness", flags->staleness,
                  "max_staleness values; the first must be 0 (sync)")
      ->delimiter(',');
  cmd->add_option("overrides", flags->overrides, "Dotted key=value overrides, as for rlvr train");
  cmd->callback([flags] {
    int code = ReportStatus("bench async", Bench(*flags));
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace rlvr::cli
