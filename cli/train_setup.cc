#include "cli/train_setup.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/cli_util.h"
#include "core/status_macros.h"
#include "envs/dataset.h"
#include "envs/generated_tasks.h"
#include "envs/tool_env.h"
#include "learner/registry.h"
#include "verifiers/registry.h"
#include "verifiers/sandbox/sandbox.h"

namespace rlvr::cli {

namespace {

// Tasks from a JSONL dataset's train split, endlessly reshuffled per epoch.
class DatasetTaskSource final : public TaskSource {
 public:
  explicit DatasetTaskSource(std::unique_ptr<DatasetReader> reader) : reader_(std::move(reader)) {}
  absl::StatusOr<Task> Next() override {
    ASSIGN_OR_RETURN(std::optional<Task> task, reader_->Next());
    if (!task) return absl::FailedPreconditionError("dataset: no usable task in the train split");
    return *std::move(task);
  }
  nlohmann::json State() const override { return reader_->Cursor().ToJson(); }
  absl::Status Restore(const nlohmann::json& state) override {
    ASSIGN_OR_RETURN(DatasetCursor cursor, DatasetCursor::FromJson(state));
    return reader_->Restore(cursor);
  }

 private:
  std::unique_ptr<DatasetReader> reader_;
};

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

}  // namespace

TaskGrader MakeRegistryGrader(const nlohmann::json& configs) {
  struct Cache {
    std::mutex mu;
    std::map<std::string, std::shared_ptr<Verifier>> verifiers;
  };
  auto cache = std::make_shared<Cache>();
  return [cache, configs](const Task& task, const Completion& c) -> absl::StatusOr<Reward> {
    std::shared_ptr<Verifier> verifier;
    {
      std::lock_guard<std::mutex> lock(cache->mu);
      auto it = cache->verifiers.find(task.verifier);
      if (it == cache->verifiers.end()) {
        std::string use = task.verifier;
        nlohmann::json config = nlohmann::json::object();
        if (configs.is_object() && configs.contains(task.verifier)) {
          config = configs[task.verifier];
          if (config.contains("use")) {
            use = config["use"].get<std::string>();
            config.erase("use");
          }
        }
        absl::StatusOr<std::unique_ptr<Verifier>> v = BuiltinVerifiers().Create(use, config);
        if (!v.ok()) {
          return absl::Status(v.status().code(), absl::StrCat("verifiers.", task.verifier, ": ",
                                                              v.status().message()));
        }
        it = cache->verifiers.emplace(task.verifier, std::move(*v)).first;
      }
      verifier = it->second;
    }
    VerifyRequest request;
    request.id = task.id;
    request.completion = c.text;
    request.answer = task.gold;
    request.spec = task.spec;
    request.completion_tokens = static_cast<int64_t>(c.token_ids.size());
    return verifier->Verify(request);
  };
}

absl::StatusOr<std::unique_ptr<TrainSetup>> BuildTrainSetup(const Config& config) {
  auto setup = std::make_unique<TrainSetup>();
  ConfigReader r(config);
  // run
  std::string run_dir = "runs";
  int64_t seed = 0;
  setup->run_name = "quickstart";
  r.Read("run.name", &setup->run_name);
  r.Read("run.dir", &run_dir);
  r.Read("run.seed", &seed, {.min = 0});
  setup->seed = static_cast<uint64_t>(seed);
  // model
  std::string model_path = "builtin", tokenizer_path, dtype = "float32";
  r.Read("model.path", &model_path);
  r.Read("model.tokenizer", &tokenizer_path);
  r.ReadChoice("model.dtype", &dtype, {"float32", "bfloat16"});
  // data
  std::string source = "arithmetic", format = "generic", answer_format = "boxed";
  int difficulty = 2;
  int64_t eval_count = 200;
  r.Read("data.source", &source);
  r.Read("data.format", &format);
  r.Read("data.difficulty", &difficulty, {.min = 1, .max = 8});
  r.ReadChoice("data.answer_format", &answer_format, {"boxed", "answer"});
  r.Read("data.eval_tasks", &eval_count, {.min = 0});
  // data.curriculum: off unless a policy other than "none" is chosen.
  TrainerOptions& trainer = setup->trainer;
  CurriculumOptions& curriculum = trainer.curriculum;
  curriculum.policy = "none";
  r.ReadChoice("data.curriculum.policy", &curriculum.policy, {"none", "skip", "downweight"});
  r.ReadChoice("data.curriculum.tracking", &curriculum.tracking, {"ema", "window"});
  r.Read("data.curriculum.ema_alpha", &curriculum.ema_alpha,
         {.min = 0, .max = 1, .min_exclusive = true});
  r.Read("data.curriculum.window", &curriculum.window, {.min = 1});
  r.Read("data.curriculum.min_observations", &curriculum.min_observations, {.min = 1});
  r.Read("data.curriculum.solved_threshold", &curriculum.solved_threshold, {.min = 0, .max = 1});
  r.Read("data.curriculum.unsolved_threshold", &curriculum.unsolved_threshold,
         {.min = 0, .max = 1});
  r.Read("data.curriculum.downweight", &curriculum.downweight, {.min = 0, .max = 1});
  r.ReadChoice("data.curriculum.key", &trainer.curriculum_key, {"id", "prompt"});
  r.Read("data.curriculum.max_draws", &trainer.curriculum_max_draws, {.min = 1});
  trainer.use_curriculum = curriculum.policy != "none";
  curriculum.seed = static_cast<uint64_t>(seed) + 29;
  if (trainer.use_curriculum && (source == "arithmetic" || source == "code") &&
      trainer.curriculum_key == "id") {
    r.AddError("data.curriculum.key",
               "built-in tasks get a new id at every draw, so a pass rate per id never "
               "repeats; use key: prompt");
  }
  if (curriculum.unsolved_threshold >= curriculum.solved_threshold) {
    r.AddError("data.curriculum.unsolved_threshold",
               "must be below data.curriculum.solved_threshold");
  }
  // env: single-turn, or multi-turn tool use with Python run in the code sandbox.
  std::string env_name = "single";
  SandboxRunnerOptions tool_runner;
  bool sandbox_degraded = false;
  r.ReadChoice("env.name", &env_name, {"single", "tool"});
  r.Read("env.max_tool_calls", &trainer.tool.max_tool_calls, {.min = 1, .max = 64});
  r.Read("env.max_observation_chars", &trainer.tool.max_observation_chars, {.min = 16});
  r.Read("env.max_episode_tokens", &trainer.max_episode_tokens, {.min = 0});
  r.Read("env.sandbox.python", &tool_runner.python);
  r.Read("env.sandbox.cpu_s", &tool_runner.cpu_s, {.min = 0, .max = 600, .min_exclusive = true});
  r.Read("env.sandbox.memory_mb", &tool_runner.memory_mb, {.min = 16});
  r.Read("env.sandbox.max_output_bytes", &tool_runner.max_output_bytes, {.min = 1});
  r.Read("env.sandbox.allow_degraded", &sandbox_degraded);
  // template
  r.ReadChoice("template.format", &setup->prompt_template.format,
               {"plain", "qwen", "chatml", "llama3"});
  r.Read("template.system_prompt", &setup->prompt_template.system_prompt);
  // sft
  double sft_lr = 3e-3;
  r.Read("sft.steps", &setup->sft.steps, {.min = 0});
  r.Read("sft.batch_size", &setup->sft.batch_size, {.min = 1});
  r.Read("sft.lr", &sft_lr, {.min = 0, .min_exclusive = true});
  r.Read("sft.row_tokens", &setup->sft.options.packing.row_tokens, {.min = 1});
  r.Read("sft.micro_batch_tokens", &setup->sft.options.packing.micro_batch_tokens, {.min = 1});
  setup->sft.optimizer.schedule.lr = sft_lr;
  setup->sft.optimizer.weight_decay = 0.0;
  // rollout
  SamplingParams& sampling = setup->trainer.sampling;
  int64_t group = 8, kv_mb = 256;
  r.Read("rollout.n", &group, {.min = 1});
  r.Read("rollout.max_new_tokens", &sampling.max_new_tokens, {.min = 1});
  r.Read("rollout.temperature", &sampling.temperature, {.min = 0});
  r.Read("rollout.top_p", &sampling.top_p, {.min = 0, .max = 1, .min_exclusive = true});
  r.Read("rollout.top_k", &sampling.top_k, {.min = 0});
  r.Read("rollout.kv_cache_mb", &kv_mb, {.min = 1});
  int64_t rollout_max_len = 0;
  r.Read("rollout.max_len", &rollout_max_len, {.min = 0});
  r.Read("rollout.max_batch", &setup->engine.max_batch, {.min = 0});
  r.Read("rollout.workers", &setup->rollout_workers);
  setup->engine.kv_byte_budget = kv_mb << 20;
  // learner
  GrpoOptions& grpo = setup->trainer.grpo;
  OptimizerOptions& opt = setup->optimizer;
  opt.schedule.lr = 5e-4;
  opt.weight_decay = 0.0;
  std::string aggregation = "token-mean";
  r.Read("learner.steps", &setup->trainer.steps, {.min = 0});
  r.Read("learner.prompts_per_step", &setup->trainer.prompts_per_step, {.min = 1});
  r.Read("learner.lr", &opt.schedule.lr, {.min = 0, .min_exclusive = true});
  r.Read("learner.warmup_steps", &opt.schedule.warmup_steps, {.min = 0});
  r.Read("learner.weight_decay", &opt.weight_decay, {.min = 0});
  r.Read("learner.max_grad_norm", &opt.max_grad_norm);
  r.Read("learner.advantage", &grpo.advantage);
  r.Read("learner.loss", &grpo.objective);
  r.Read("learner.aggregation", &aggregation);
  r.Read("learner.clip_low", &grpo.loss.clip_low, {.min = 0, .max = 1});
  r.Read("learner.clip_high", &grpo.loss.clip_high, {.min = 0});
  r.Read("learner.kl_coef", &grpo.loss.kl_coef, {.min = 0});
  std::string kl_estimator = "k3", kl_in = "loss";
  r.ReadChoice("learner.kl_estimator", &kl_estimator, {"k1", "k2", "k3"});
  r.ReadChoice("learner.kl_in", &kl_in, {"loss", "reward"});
  grpo.loss.kl_estimator = KlEstimatorFromName(kl_estimator).value_or(KlEstimator::kK3);
  grpo.kl_placement = kl_in == "reward" ? KlPlacement::kReward : KlPlacement::kLoss;
  r.Read("learner.row_tokens", &grpo.packing.row_tokens, {.min = 1});
  r.Read("learner.micro_batch_tokens", &grpo.packing.micro_batch_tokens, {.min = 1});
  int64_t zero_stage = 0;
  r.Read("learner.zero_stage", &zero_stage, {.min = 0, .max = 1});
  opt.shard_state = zero_stage == 1;
  r.Read("learner.max_staleness", &setup->trainer.max_staleness, {.min = 0});
  int64_t rollout_threads = 0, learner_threads = 0;
  r.Read("rollout.threads", &rollout_threads, {.min = 0, .max = 1024});
  r.Read("learner.threads", &learner_threads, {.min = 0, .max = 1024});
  r.Read("learner.dynamic_sampling", &setup->trainer.dynamic_sampling);
  r.Read("learner.dynamic_sampling_max_rounds", &setup->trainer.dynamic_sampling_max_rounds,
         {.min = 0, .max = 1000});
  // checkpoint
  r.Read("checkpoint.every", &setup->trainer.checkpoint_every, {.min = 0});
  r.Read("checkpoint.keep_last", &setup->trainer.checkpoint.keep_last);
  // eval
  r.Read("eval.n", &setup->eval.n, {.min = 1});
  r.Read("eval.temperature", &setup->eval.sampling.temperature, {.min = 0});
  // export
  int prometheus_port = 0;
  r.Read("export.tensorboard", &setup->exporters.tensorboard);
  r.Read("export.csv", &setup->exporters.csv);
  r.Read("export.dashboard", &setup->dashboard);
  r.Read("export.prometheus_port", &prometheus_port, {.min = 0, .max = 65535});
  r.Read("export.prometheus_address", &setup->exporters.prometheus_address);
  setup->exporters.prometheus_port = prometheus_port == 0 ? -1 : prometheus_port;
  // verifiers: per task-verifier name, which registered verifier to use and its config.
  nlohmann::json verifier_configs = nlohmann::json::object();
  r.ReadJson("verifiers", &verifier_configs);
  if (!verifier_configs.is_object()) r.AddError("verifiers", "expected a mapping");
  for (auto& [name, cfg] : verifier_configs.items()) {
    if (!cfg.is_object())
      r.AddError("verifiers." + name, "expected a mapping");
    else if (cfg.contains("use") && !cfg["use"].is_string())
      r.AddError("verifiers." + name + ".use", "expected a string");
  }

  // security: token and TLS of the gRPC clients (cluster mode).
  std::string token_file, token_env;
  r.Read("security.token_file", &token_file);
  r.Read("security.token_env", &token_env);
  r.Read("security.tls_ca", &setup->service_tls.ca_file);
  r.Read("security.tls_cert", &setup->service_tls.cert_file);
  r.Read("security.tls_key", &setup->service_tls.key_file);
  r.Read("security.tls_server_name", &setup->service_tls.server_name);
  if (!token_file.empty() || !token_env.empty()) {
    absl::StatusOr<std::string> token = ResolveToken(token_file, token_env, "security.");
    if (token.ok()) {
      setup->service_token = *std::move(token);
    } else {
      // The message starts with the key it is about.
      const std::string message(token.status().message());
      const size_t colon = message.find(": ");
      r.AddError(message.substr(0, colon),
                 colon == std::string::npos ? message : message.substr(colon + 2));
    }
  }
  // Remote verifiers inherit the security settings unless they set their own.
  for (auto& [name, cfg] : verifier_configs.items()) {
    if (!cfg.is_object() || cfg.value("use", std::string()) != "remote") continue;
    if (!setup->service_token.empty() && !cfg.contains("token") && !cfg.contains("token_file")) {
      cfg["token"] = setup->service_token;
    }
    const std::pair<const char*, const std::string*> tls[] = {
        {"tls_ca", &setup->service_tls.ca_file},
        {"tls_cert", &setup->service_tls.cert_file},
        {"tls_key", &setup->service_tls.key_file},
        {"tls_server_name", &setup->service_tls.server_name}};
    for (const auto& [key, value] : tls) {
      if (!value->empty() && !cfg.contains(key)) cfg[key] = *value;
    }
  }

  if (!AdvantageEstimators().Get(grpo.advantage).ok()) {
    r.AddError("learner.advantage", AdvantageEstimators().Get(grpo.advantage).status().message());
  }
  if (!PolicyObjectives().Get(grpo.objective).ok()) {
    r.AddError("learner.loss", PolicyObjectives().Get(grpo.objective).status().message());
  }
  absl::StatusOr<Aggregation> agg = AggregationFromName(aggregation);
  if (agg.ok()) {
    grpo.loss.aggregation = *agg;
  } else {
    r.AddError("learner.aggregation", agg.status().message());
  }
  RETURN_IF_ERROR(r.Finish());

  grpo.advantage_options.group_size = group;
  grpo.temperature = sampling.temperature;
  grpo.max_completion_tokens = sampling.max_new_tokens;
  if (env_name == "tool") {
    if (trainer.max_episode_tokens == 0) {
      trainer.max_episode_tokens = (trainer.tool.max_tool_calls + 1) * sampling.max_new_tokens;
    }
    grpo.max_completion_tokens = trainer.max_episode_tokens;  // the episode's token budget
    sandbox::SandboxOptions sandbox_options;
    sandbox_options.allow_degraded = sandbox_degraded;
    absl::StatusOr<std::unique_ptr<sandbox::Sandbox>> box =
        sandbox::Sandbox::Create(sandbox_options);
    if (!box.ok()) {
      return absl::Status(
          box.status().code(),
          absl::StrCat("env.name: tool: the code sandbox is unavailable (", box.status().message(),
                       "); env.sandbox.allow_degraded: true runs with what exists"));
    }
    setup->tool_sandbox = *std::move(box);
    trainer.tool_runner = MakeSandboxPythonRunner(setup->tool_sandbox.get(), tool_runner);
  }
  if (setup->trainer.max_staleness > 0) {
    grpo.loss.is_mode = IsMode::kTokenTruncate;  // correct for stale behaviour policies
    grpo.loss.is_max = 2.0;
  }
  // Async: the engine decodes while the learner trains, so unless set they split the
  // cores instead of both running every core's worth of threads.
  if (setup->trainer.max_staleness > 0) {
    const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
    if (rollout_threads == 0) rollout_threads = std::max<int64_t>(1, cores / 2);
    if (learner_threads == 0) learner_threads = std::max<int64_t>(1, cores - rollout_threads);
  }
  setup->engine.intra_op_threads = static_cast<int>(rollout_threads);
  setup->trainer.learner_threads = static_cast<int>(learner_threads);
  setup->trainer.prompt_template = setup->prompt_template;
  setup->trainer.grading_threads = 2;
  setup->eval.prompt_template = setup->prompt_template;
  setup->eval.sampling.max_new_tokens = sampling.max_new_tokens;
  setup->eval.sampling.seed = setup->seed + 17;
  setup->trainer.sampling.seed = setup->seed;
  setup->run_dir = (std::filesystem::path(run_dir) / setup->run_name).string();
  setup->exporters.dir = setup->run_dir;
  setup->exporters.run_name = setup->run_name;
  setup->trainer.checkpoint.root = setup->run_dir + "/checkpoints";
  setup->config_yaml = config.ToYaml();
  setup->trainer.config_yaml = setup->config_yaml;

  // Tokenizer and model.
  const bool builtin_model = model_path == "builtin";
  if (!tokenizer_path.empty()) {
    ASSIGN_OR_RETURN(setup->tokenizer, Tokenizer::FromFile(tokenizer_path));
  } else if (!builtin_model) {
    ASSIGN_OR_RETURN(setup->tokenizer, Tokenizer::FromFile(model_path));
  }
  ModelOptions model_options;
  model_options.dtype = dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
  model_options.requires_grad = true;
  if (builtin_model) {
    ASSIGN_OR_RETURN(Transformer model,
                     Transformer::RandomInit(BuiltinTinyConfig(setup->tokenizer.vocab_size()),
                                             setup->seed, model_options));
    setup->policy = std::make_unique<Transformer>(std::move(model));
  } else {
    ASSIGN_OR_RETURN(Transformer model, Transformer::Load(model_path, model_options));
    setup->policy = std::make_unique<Transformer>(std::move(model));
  }
  // *.row_tokens is the longest row; each step packs into the row length its sequences
  // pack best into (learner/batch.h).
  const int64_t attention_tokens = AttentionCostTokens(setup->policy->config());
  setup->sft.options.packing.attention_tokens = attention_tokens;
  setup->trainer.grpo.packing.attention_tokens = attention_tokens;
  // A KV cache slot holds max_len tokens, so a context as long as the tasks need fits
  // many more sequences in rollout.kv_cache_mb than the model's whole context.
  const int64_t model_len =
      std::min<int64_t>(setup->policy->config().max_position_embeddings, 4096);
  if (rollout_max_len > model_len) {
    return absl::InvalidArgumentError(
        absl::StrCat("rollout.max_len: ", rollout_max_len, " is more than the rollout context of ",
                     model_len, " tokens (the model's, at most 4096)"));
  }
  if (rollout_max_len > 0 && rollout_max_len <= sampling.max_new_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("rollout.max_len: ", rollout_max_len, " tokens leave no room for a prompt ",
                     "before rollout.max_new_tokens (", sampling.max_new_tokens, ")"));
  }
  setup->engine.max_len = rollout_max_len > 0 ? rollout_max_len : model_len;
  setup->trainer.max_context = setup->engine.max_len;
  setup->trainer.max_context_key = "rollout.max_len";
  setup->eval.max_context = setup->engine.max_len;
  setup->eval.max_context_key = "rollout.max_len";
  if (setup->trainer.tool_runner && setup->trainer.max_episode_tokens >= setup->engine.max_len) {
    return absl::InvalidArgumentError(
        absl::StrCat("env.max_episode_tokens: ", setup->trainer.max_episode_tokens,
                     " tokens per episode leave no room for the prompt in the rollout context of ",
                     setup->engine.max_len, " tokens (rollout.max_len; raise it, or lower ",
                     "env.max_episode_tokens)"));
  }

  // Tasks: SFT, GRPO and held-out evaluation streams never share a seed.
  if (source == "arithmetic" || source == "code") {
    const bool arith = source == "arithmetic";
    ArithmeticOptions a;
    a.difficulty = difficulty;
    a.answer_format = answer_format;
    CodeTaskOptions c;
    c.difficulty = std::min(difficulty, 3);
    RETURN_IF_ERROR(arith ? ValidateArithmeticOptions(a) : ValidateCodeTaskOptions(c));
    auto make = [arith, a, c](uint64_t stream) {
      return [arith, a, c, stream](int64_t i) {
        return arith ? MakeArithmeticTask(stream, i, a) : MakeCodeTask(stream, i, c);
      };
    };
    setup->sft_tasks = std::make_unique<IndexedTaskSource>(make(setup->seed * 4 + 1));
    setup->train_tasks = std::make_unique<IndexedTaskSource>(make(setup->seed * 4 + 2));
    for (int64_t i = 0; i < eval_count; ++i)
      setup->eval_tasks.push_back(make(setup->seed * 4 + 3)(i));
  } else {
    ASSIGN_OR_RETURN(FieldMapping mapping, MappingForFormat(format));
    auto open = [&](Split split) {
      DatasetOptions d;
      d.path = source;
      d.mapping = mapping;
      d.shuffle = true;
      d.seed = setup->seed;
      d.max_epochs = split == Split::kTrain ? 0 : 1;
      d.split = split;
      d.eval_fraction = 0.05;
      return DatasetReader::Open(d);
    };
    ASSIGN_OR_RETURN(std::unique_ptr<DatasetReader> train, open(Split::kTrain));
    ASSIGN_OR_RETURN(std::unique_ptr<DatasetReader> sft, open(Split::kTrain));
    ASSIGN_OR_RETURN(std::unique_ptr<DatasetReader> eval, open(Split::kEval));
    setup->train_tasks = std::make_unique<DatasetTaskSource>(std::move(train));
    setup->sft_tasks = std::make_unique<DatasetTaskSource>(std::move(sft));
    while (static_cast<int64_t>(setup->eval_tasks.size()) < eval_count) {
      ASSIGN_OR_RETURN(std::optional<Task> t, eval->Next());
      if (!t) break;
      setup->eval_tasks.push_back(*std::move(t));
    }
  }
  setup->grader = MakeRegistryGrader(verifier_configs);

  // Distributed: the variables torchrun, srun and Kubernetes set.
  setup->distributed.rank = EnvInt("RANK", 0);
  setup->distributed.world_size = EnvInt("WORLD_SIZE", 1);
  setup->distributed.local_rank = EnvInt("LOCAL_RANK", 0);
  if (const char* addr = std::getenv("MASTER_ADDR")) setup->distributed.master_addr = addr;
  setup->distributed.master_port = EnvInt("MASTER_PORT", 29500);
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME")) {
    setup->distributed.gloo_interface = ifname;
  }
  return setup;
}

absl::StatusOr<Sequence> SftSequence(const TrainSetup& setup, const Task& task) {
  std::string reference = task.metadata.value("reference_completion", std::string());
  if (reference.empty()) reference = task.gold;
  if (reference.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task ", task.id, ": no metadata.reference_completion or gold to fine-tune on"));
  }
  Sequence s;
  for (int32_t id : setup.tokenizer.Encode(RenderPrompt(task, setup.prompt_template))) {
    s.prompt.push_back(id);
  }
  for (int32_t id : setup.tokenizer.Encode(reference + EndOfTurn(setup.prompt_template))) {
    s.completion.push_back(id);
  }
  if (std::optional<int32_t> eos = setup.tokenizer.eos_id();
      eos && (s.completion.empty() || s.completion.back() != *eos)) {
    s.completion.push_back(*eos);
  }
  return s;
}

absl::Status RunSftWarmStart(
    TrainSetup& setup, DataParallel* dp,
    const std::function<absl::Status(int64_t, const SftStepStats&)>& on_step,
    const std::atomic<bool>* stop) {
  if (setup.sft.steps <= 0) return absl::OkStatus();
  std::vector<torch::Tensor> params;
  for (auto& [name, p] : setup.policy->NamedParameters()) params.push_back(p);
  Optimizer optimizer(params, setup.sft.optimizer);
  for (int64_t step = 0; step < setup.sft.steps && !(stop != nullptr && stop->load()); ++step) {
    std::vector<Sequence> batch;
    for (int64_t i = 0; i < setup.sft.batch_size; ++i) {
      ASSIGN_OR_RETURN(Task task, setup.sft_tasks->Next());
      ASSIGN_OR_RETURN(Sequence s, SftSequence(setup, task));
      batch.push_back(std::move(s));
    }
    ASSIGN_OR_RETURN(SftStepStats stats,
                     SftStep(*setup.policy, optimizer, dp, batch, setup.sft.options));
    if (on_step) RETURN_IF_ERROR(on_step(step + 1, stats));
  }
  return absl::OkStatus();
}

ScalarRecord EvalScalars(const std::string& phase, int64_t step, const EvalResult& r) {
  ScalarRecord record{phase,
                      step,
                      {{"pass_at_1", r.pass_at_1},
                       {"mean_reward", r.mean_reward},
                       {"mean_completion_tokens", r.mean_completion_tokens},
                       {"truncation_rate", r.truncation_rate},
                       {"correct_per_million_tokens", r.correct_per_million_tokens}}};
  for (const auto& [k, v] : r.pass_at_k) {
    if (k > 1) record.values.push_back({absl::StrCat("pass_at_", k), v});
  }
  for (const auto& [k, v] : r.maj_at_k) record.values.push_back({absl::StrCat("maj_at_", k), v});
  return record;
}

absl::StatusOr<ModelOptions> EngineModelOptions(const TrainSetup& setup) {
  ModelOptions o = setup.policy->options();
  o.requires_grad = false;
  return o;
}

absl::StatusOr<std::unique_ptr<Transformer>> MakeReferenceModel(const TrainSetup& setup,
                                                                bool resuming, bool save) {
  if (setup.trainer.grpo.loss.kl_coef == 0) return nullptr;
  ModelOptions options = setup.policy->options();
  options.requires_grad = false;
  const std::filesystem::path dir = std::filesystem::path(setup.run_dir) / "reference";
  if (resuming) {
    if (!std::filesystem::exists(dir / "config.json")) {
      return absl::FailedPreconditionError(
          absl::StrCat("learner.kl_coef: resuming needs the reference model the run started "
                       "with, and ",
                       dir.string(), " does not hold one (was the run started with kl_coef 0?)"));
    }
    ASSIGN_OR_RETURN(Transformer reference, Transformer::Load(dir.string(), options));
    return std::make_unique<Transformer>(std::move(reference));
  }
  ASSIGN_OR_RETURN(Transformer reference, setup.policy->Clone(options));
  if (save) {
    // Written aside and renamed, so a crash never leaves a half-written reference.
    const std::filesystem::path tmp = dir.string() + ".tmp";
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    RETURN_IF_ERROR(reference.Save(tmp.string()));
    std::filesystem::remove_all(dir, ec);
    std::filesystem::rename(tmp, dir, ec);
    if (ec) return absl::InternalError(absl::StrCat(dir.string(), ": ", ec.message()));
  }
  return std::make_unique<Transformer>(std::move(reference));
}

}  // namespace rlvr::cli
