// `rlvr train`: GRPO training end to end, and the built-in default run.
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/train_setup.h"
#include "core/model.h"
#include "core/status_macros.h"
#include "eval/dashboard.h"
#include "eval/evaluate.h"
#include "eval/metrics_sink.h"
#include "learner/distributed.h"
#include "learner/optim.h"
#include "learner/sft.h"
#include "learner/trainer.h"
#include "rollout/engine.h"
#include "rollout/worker_pool.h"

namespace rlvr::cli {
namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_stop{false};
extern "C" void OnSignal(int) { g_stop = true; }

std::string Eta(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "?";
  const int s = static_cast<int>(seconds);
  return s >= 60 ? absl::StrFormat("%dm%02ds", s / 60, s % 60) : absl::StrFormat("%ds", s);
}

// Progress on one line of stderr (redrawn in place on a terminal).
void Progress(const std::string& line, bool final) {
  static const bool tty = isatty(STDERR_FILENO);
  if (tty) {
    std::cerr << "\r\033[K" << line << (final ? "\n" : "") << std::flush;
  } else {
    std::cerr << line << "\n";
  }
}

absl::Status AppendJsonl(const fs::path& path, const nlohmann::json& record) {
  std::ofstream out(path, std::ios::app);
  out << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  if (!out) return absl::InternalError(absl::StrCat(path.string(), ": cannot write"));
  return absl::OkStatus();
}

// Evaluation scalars, the completion-length histogram and the kept samples.
absl::Status ExportEval(MetricsSink* sink, int64_t step, const EvalResult& r) {
  if (sink == nullptr) return absl::OkStatus();
  RETURN_IF_ERROR(sink->AddScalars(EvalScalars("eval", step, r)));
  RETURN_IF_ERROR(sink->AddHistogram(step, "eval/completion_tokens", r.completion_tokens));
  std::vector<TextSample> samples;
  for (const EvalSample& s : r.samples_kept) {
    samples.push_back({s.task_id, s.prompt, s.completion, s.verdict, s.reward});
  }
  return sink->AddSamples(step, "eval/samples", samples);
}

// What the trainer's grader saw since the last step: every reward and completion
// length (for histograms) and the first few graded completions (text samples).
// Thread-safe: the trainer grades on several threads. In async mode a step's log
// may include completions of the batch generated for the next step.
class GradedLog {
 public:
  explicit GradedLog(size_t samples_per_step) : samples_per_step_(samples_per_step) {}

  // `inner` graded as before, and logged; must not outlive this log.
  TaskGrader Wrap(TaskGrader inner) {
    return [this, inner = std::move(inner)](const Task& task,
                                            const Completion& c) -> absl::StatusOr<Reward> {
      absl::StatusOr<Reward> r = inner(task, c);
      if (r.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        rewards_.push_back(r->score);
        lengths_.push_back(static_cast<double>(c.token_ids.size()));
        if (samples_.size() < samples_per_step_) {
          samples_.push_back({task.id, PromptText(task), c.text, r->verdict, r->score});
        }
      }
      return r;
    };
  }

  // Writes grpo/reward and grpo/response_length histograms and grpo/samples, then
  // starts a new log.
  absl::Status Export(MetricsSink& sink, int64_t step) {
    std::vector<double> rewards, lengths;
    std::vector<TextSample> samples;
    {
      std::lock_guard<std::mutex> lock(mu_);
      rewards.swap(rewards_);
      lengths.swap(lengths_);
      samples.swap(samples_);
    }
    if (rewards.empty()) return absl::OkStatus();
    RETURN_IF_ERROR(sink.AddHistogram(step, "grpo/reward", rewards));
    RETURN_IF_ERROR(sink.AddHistogram(step, "grpo/response_length", lengths));
    return sink.AddSamples(step, "grpo/samples", samples);
  }

 private:
  const size_t samples_per_step_;
  std::mutex mu_;
  std::vector<double> rewards_, lengths_;
  std::vector<TextSample> samples_;
};

// Rewrites run_dir/dashboard/index.html; problems reading the run are warnings.
void RefreshDashboard(const TrainSetup& setup, bool final) {
  if (!setup.dashboard) return;
  absl::StatusOr<DashboardReport> report = WriteDashboard(
      {.run_dir = setup.run_dir, .out_dir = (fs::path(setup.run_dir) / "dashboard").string()});
  if (!report.ok()) {
    std::cerr << "rlvr train: dashboard: " << report.status().message() << "\n";
  } else if (final) {
    for (const std::string& w : report->warnings)
      std::cerr << "rlvr train: dashboard: " << w << "\n";
  }
}

absl::StatusOr<EvalResult> RunEval(Generator& generator, const TrainSetup& setup,
                                   const char* label) {
  Progress(absl::StrCat("eval (", label, "): ", setup.eval_tasks.size(), " held-out tasks..."),
           false);
  ASSIGN_OR_RETURN(EvalResult r, Evaluate(generator, setup.tokenizer, setup.eval_tasks,
                                          setup.grader, setup.eval));
  Progress(absl::StrFormat("eval (%s): pass@1 %.3f  mean reward %.3f  %.1f tokens/answer  (%.1fs)",
                           label, r.pass_at_1, r.mean_reward, r.mean_completion_tokens, r.seconds),
           true);
  return r;
}

absl::Status RunSft(TrainSetup& setup, DataParallel* dp, MetricsSink* sink) {
  const auto start = std::chrono::steady_clock::now();
  return RunSftWarmStart(
      setup, dp,
      [&](int64_t step, const SftStepStats& stats) {
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        Progress(
            absl::StrFormat("sft %d/%d  loss %.4f  lr %.2e  ETA %s", step, setup.sft.steps,
                            stats.loss, stats.lr, Eta(elapsed / step * (setup.sft.steps - step))),
            step == setup.sft.steps);
        if (sink == nullptr) return absl::OkStatus();
        return sink->AddScalars(
            {"sft",
             step,
             {{"loss", stats.loss}, {"lr", stats.lr}, {"grad_norm", stats.grad_norm}}});
      },
      &g_stop);
}

absl::Status Train(const std::string& config_path, const std::vector<std::string>& overrides,
                   bool resume, bool check_only) {
  ASSIGN_OR_RETURN(Config config, LoadConfig(config_path, overrides, kQuickstartYaml,
                                             "<built-in default: configs/quickstart.yaml>"));
  ASSIGN_OR_RETURN(std::unique_ptr<TrainSetup> setup, BuildTrainSetup(config));
  if (check_only) {
    std::cout << "config OK: run " << setup->run_name << ", " << setup->trainer.steps
              << " GRPO steps, "
              << (setup->rollout_workers.empty()
                      ? std::string("in-process rollout")
                      : absl::StrCat(setup->rollout_workers.size(), " rollout worker(s)"))
              << "; outputs in " << setup->run_dir << "\n";
    return absl::OkStatus();
  }
  // learner.threads covers the SFT warm start and evaluation too, not only GRPO.
  if (setup->trainer.learner_threads > 0) at::set_num_threads(setup->trainer.learner_threads);
  ASSIGN_OR_RETURN(std::unique_ptr<DataParallel> dp, DataParallel::Create(setup->distributed));
  const bool rank0 = dp->rank() == 0;
  const fs::path run_dir = fs::path(setup->run_dir);
  fs::create_directories(run_dir);
  {
    std::ofstream out(run_dir / "config.yaml");
    out << setup->config_yaml;
  }
  const auto start = std::chrono::steady_clock::now();
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  Transformer& policy = *setup->policy;
  RETURN_IF_ERROR(dp->Broadcast([&] {
    std::vector<torch::Tensor> t;
    for (auto& [n, p] : policy.NamedParameters()) t.push_back(p);
    return t;
  }()));
  const bool have_checkpoint = !ListCheckpoints(setup->trainer.checkpoint.root).empty();
  if (resume && !have_checkpoint) {
    std::cerr << "rlvr train: --resume: no checkpoint under " << setup->trainer.checkpoint.root
              << "; starting from scratch\n";
  }
  if (!resume && have_checkpoint) {
    return absl::FailedPreconditionError(absl::StrCat(
        setup->trainer.checkpoint.root,
        " already holds checkpoints: pass --resume to continue, or choose another run.name"));
  }
  // Exporters (rank 0 only): JSONL always, CSV, TensorBoard and Prometheus by config.
  std::unique_ptr<MetricsSink> sink;
  if (rank0) {
    ASSIGN_OR_RETURN(RunSinks sinks, OpenRunSinks(setup->exporters));
    sink = std::move(sinks.sink);
    if (sinks.prometheus_port > 0) {
      std::cerr << "rlvr train: Prometheus metrics at http://"
                << setup->exporters.prometheus_address << ":" << sinks.prometheus_port
                << "/metrics\n";
    }
  }
  if (!have_checkpoint) RETURN_IF_ERROR(RunSft(*setup, dp.get(), sink.get()));
  if (g_stop) return absl::CancelledError("interrupted during SFT");

  // Rollouts: the in-process engine on a copy of the policy, or remote workers that
  // first receive the policy's weights.
  std::unique_ptr<Generator> engine;
  WorkerPool* worker_pool = nullptr;  // engine, when rollouts are remote
  if (setup->rollout_workers.empty()) {
    ASSIGN_OR_RETURN(ModelOptions engine_model, EngineModelOptions(*setup));
    ASSIGN_OR_RETURN(Transformer engine_weights, policy.Clone(engine_model));
    ASSIGN_OR_RETURN(engine,
                     Engine::Create(std::move(engine_weights), setup->tokenizer, setup->engine));
  } else {
    WorkerPoolOptions pool;
    pool.targets = setup->rollout_workers;
    pool.token = setup->service_token;
    pool.tls = setup->service_tls;
    ASSIGN_OR_RETURN(std::unique_ptr<WorkerPool> workers, WorkerPool::Create(pool));
    worker_pool = workers.get();
    engine = std::move(workers);
    RETURN_IF_ERROR(engine->UpdateWeights(0, policy.NamedParameters()));
  }

  std::vector<torch::Tensor> params;
  for (auto& [name, p] : policy.NamedParameters()) params.push_back(p);
  Optimizer optimizer(params, setup->optimizer, dp.get());  // learner.zero_stage: 1 shards it
  // The KL anchor: the policy as GRPO starts (after SFT); not allocated when kl_coef is 0.
  ASSIGN_OR_RETURN(std::unique_ptr<Transformer> reference,
                   MakeReferenceModel(*setup, have_checkpoint, rank0));
  setup->trainer.reference = reference.get();
  GradedLog graded(/*samples_per_step=*/2);
  Trainer trainer(policy, optimizer, *engine, setup->tokenizer, *setup->train_tasks,
                  rank0 ? graded.Wrap(setup->grader) : setup->grader, dp.get(), setup->trainer);
  std::vector<std::string> warnings;
  ASSIGN_OR_RETURN(int64_t resumed_step, trainer.Resume(&warnings));
  for (const std::string& w : warnings) std::cerr << "rlvr train: warning: " << w << "\n";
  if (resumed_step > 0) std::cerr << "rlvr train: resumed after step " << resumed_step << "\n";

  nlohmann::json summary = {{"run", setup->run_name}};
  if (resumed_step == 0 && rank0 && !setup->eval_tasks.empty()) {
    ASSIGN_OR_RETURN(EvalResult before, RunEval(*engine, *setup, "after SFT, before GRPO"));
    summary["eval_before"] = before.ToJson();
    RETURN_IF_ERROR(AppendJsonl(run_dir / "eval.jsonl", {{"step", 0}, {"eval", before.ToJson()}}));
    RETURN_IF_ERROR(ExportEval(sink.get(), 0, before));
  }
  int64_t tokens_generated = 0;
  const auto rl_start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(trainer.Run(
      [&](const StepReport& r) {
        tokens_generated += r.generated_tokens;
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - rl_start).count();
        const int64_t done = r.step - resumed_step;
        Progress(absl::StrFormat("grpo %d/%d  reward %.3f  pass %.2f  tok/s %.0f  stale %.2f  "
                                 "ETA %s",
                                 r.step, setup->trainer.steps, r.grpo.reward_mean, r.pass_rate,
                                 r.tokens_per_second, r.staleness_mean,
                                 Eta(elapsed / done * (setup->trainer.steps - r.step))),
                 r.step == setup->trainer.steps);
        if (!rank0) return;
        ScalarRecord m{"grpo",
                       r.step,
                       {{"policy_version", static_cast<double>(r.policy_version)},
                        {"reward", r.grpo.reward_mean},
                        {"pass_rate", r.pass_rate},
                        {"loss", r.grpo.loss_value},
                        {"kl", r.grpo.loss.kl_mean},
                        {"entropy", r.grpo.loss.entropy_mean},
                        {"clip_frac_high", r.grpo.loss.clip_frac_high},
                        {"clip_frac_low", r.grpo.loss.clip_frac_low},
                        {"grad_norm", r.grpo.grad_norm},
                        {"lr", r.grpo.lr},
                        {"zero_variance_groups", static_cast<double>(r.grpo.zero_variance_groups)},
                        {"response_length", r.mean_completion_tokens},
                        {"truncated_rate", r.truncated_rate},
                        {"tokens_per_second", r.tokens_per_second},
                        {"staleness", r.staleness_mean},
                        {"stale_dropped", static_cast<double>(r.stale_dropped)},
                        {"generation_seconds", r.generation_seconds},
                        {"train_seconds", r.train_seconds},
                        {"step_seconds", r.step_seconds}}};
        const TrainerOptions& t = setup->trainer;
        if (t.use_curriculum) {
          m.values.push_back({"curriculum_admitted", static_cast<double>(r.curriculum.admitted)});
          m.values.push_back(
              {"curriculum_skipped_solved", static_cast<double>(r.curriculum.skipped_solved)});
          m.values.push_back(
              {"curriculum_skipped_unsolved", static_cast<double>(r.curriculum.skipped_unsolved)});
          m.values.push_back({"curriculum_tracked", static_cast<double>(r.curriculum_tracked)});
          m.values.push_back({"curriculum_forced", static_cast<double>(r.curriculum_forced)});
        }
        if (t.dynamic_sampling) {
          m.values.push_back({"dynamic_dropped_groups", static_cast<double>(r.dropped_groups)});
          m.values.push_back({"dynamic_extra_prompts", static_cast<double>(r.extra_prompts)});
          m.values.push_back({"dynamic_short_batch", r.short_batch ? 1.0 : 0.0});
          m.values.push_back({"dynamic_dropped_all_passed_total",
                              static_cast<double>(r.dynamic.dropped_all_passed)});
          m.values.push_back({"dynamic_dropped_all_failed_total",
                              static_cast<double>(r.dynamic.dropped_all_failed)});
          m.values.push_back(
              {"dynamic_extra_prompts_total", static_cast<double>(r.extra_prompts_total)});
          m.values.push_back(
              {"dynamic_short_batches_total", static_cast<double>(r.dynamic.short_batches)});
        }
        if (t.tool_runner) {
          m.values.push_back({"tool_calls", r.tool_calls_mean});
          m.values.push_back({"observation_tokens", static_cast<double>(r.observation_tokens)});
        }
        absl::Status written = sink->AddScalars(m);
        written.Update(graded.Export(*sink, r.step));
        if (!written.ok()) std::cerr << "rlvr train: metrics: " << written.message() << "\n";
        if (setup->trainer.checkpoint_every > 0 && r.step % setup->trainer.checkpoint_every == 0) {
          RefreshDashboard(*setup, false);
        }
      },
      &g_stop));
  if (worker_pool != nullptr) {
    const WorkerPoolStats stats = worker_pool->stats();
    std::cerr << "rlvr train: rollout workers: " << worker_pool->live_workers() << " of "
              << setup->rollout_workers.size() << " live; " << stats.worker_failures
              << " failed call(s), " << stats.resent_samples << " sample(s) re-sent, "
              << stats.rejoined_workers << " rejoin(s)\n";
  }
  if (g_stop) {
    if (setup->trainer.checkpoint_every > 0) {
      std::cerr << "\nrlvr train: interrupted; checkpoint saved at step " << trainer.step()
                << " (continue with --resume)\n";
    } else {
      std::cerr << "\nrlvr train: interrupted at step " << trainer.step()
                << "; checkpoint.every is 0, so no checkpoint was saved\n";
    }
    if (rank0) RefreshDashboard(*setup, false);
    return absl::OkStatus();
  }
  if (rank0 && !setup->eval_tasks.empty()) {
    ASSIGN_OR_RETURN(EvalResult after, RunEval(*engine, *setup, "after GRPO"));
    summary["eval_after"] = after.ToJson();
    RETURN_IF_ERROR(
        AppendJsonl(run_dir / "eval.jsonl", {{"step", trainer.step()}, {"eval", after.ToJson()}}));
    RETURN_IF_ERROR(ExportEval(sink.get(), trainer.step(), after));
  }
  if (!rank0) return absl::OkStatus();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary["steps"] = trainer.step();
  summary["wall_seconds"] = wall;
  summary["tokens_generated"] = tokens_generated;
  if (summary.contains("eval_before") && summary.contains("eval_after")) {
    summary["pass_at_1_before"] = summary["eval_before"]["pass_at_1"];
    summary["pass_at_1_after"] = summary["eval_after"]["pass_at_1"];
  }
  {
    std::ofstream out(run_dir / "summary.json");
    out << summary.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  if (sink != nullptr) RETURN_IF_ERROR(sink->Flush());
  RefreshDashboard(*setup, true);
  std::cout << "run " << setup->run_name << ": " << trainer.step() << " GRPO steps in "
            << absl::StrFormat("%.0f s", wall);
  if (summary.contains("pass_at_1_before")) {
    std::cout << absl::StrFormat("; held-out pass@1 %.3f -> %.3f",
                                 summary["pass_at_1_before"].get<double>(),
                                 summary["pass_at_1_after"].get<double>());
  }
  std::cout << "; " << tokens_generated << " tokens generated; outputs in " << run_dir.string()
            << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddTrainCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "train", "GRPO training; with no --config, the built-in default (configs/quickstart.yaml)");
  auto config = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto resume = std::make_shared<bool>(false);
  cmd->add_option("--config", *config, "YAML config file (default: the built-in quickstart)");
  auto check = std::make_shared<bool>(false);
  cmd->add_flag("--resume", *resume, "Continue from the run's last checkpoint");
  cmd->add_flag("--check", *check,
                "Validate the config (and load the model and data) and exit without training");
  cmd->add_option("overrides", *overrides, "Dotted key=value overrides, e.g. learner.lr=1e-4");
  cmd->callback([=] {
    int rc = ReportStatus("train", Train(*config, *overrides, *resume, *check));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
