// Test worker for data parallelism: runs a few SFT steps of a tiny random transformer
// on a fixed global batch, sharded over the ranks named by RANK/WORLD_SIZE/MASTER_*,
// and saves the final parameters (torch::save) to OUT on rank 0. Every rank writes
// OUT.rank<k>.json: the parameter indices its optimizer updates and its state bytes.
//   ddp_worker OUT STEPS [DIE_AFTER_STEP [ZERO [CHECKPOINT_ROOT [BF16]]]]
// ZERO = 1 shards the optimizer state (ZeRO-1). With CHECKPOINT_ROOT the worker resumes
// from its newest checkpoint (if any) and saves one after its STEPS steps. BF16 = 1
// trains a bfloat16 model (float32 master weights in the optimizer).
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include <torch/torch.h>

#include "core/model.h"
#include "learner/checkpoint.h"
#include "learner/distributed.h"
#include "learner/optim.h"
#include "learner/sft.h"

namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: ddp_worker OUT STEPS [DIE_AFTER_STEP [ZERO [CHECKPOINT_ROOT]]]\n";
    return 2;
  }
  const std::string out = argv[1];
  const int steps = std::atoi(argv[2]);
  const int die_after = argc > 3 ? std::atoi(argv[3]) : -1;
  const bool zero = argc > 4 && std::atoi(argv[4]) == 1;
  const std::string checkpoint_root = argc > 5 ? argv[5] : "";
  const bool bf16 = argc > 6 && std::atoi(argv[6]) == 1;
  rlvr::DistributedOptions dopts;
  dopts.rank = EnvInt("RANK", 0);
  dopts.world_size = EnvInt("WORLD_SIZE", 1);
  dopts.master_port = EnvInt("MASTER_PORT", 29500);
  dopts.timeout_s = 10;
  auto dp = rlvr::DataParallel::Create(dopts);
  if (!dp.ok()) {
    std::cerr << dp.status() << "\n";
    return 1;
  }
  torch::manual_seed(0);
  rlvr::ModelConfig config = rlvr::BuiltinTinyConfig(64);
  auto model = rlvr::Transformer::RandomInit(
      config, 7, {.dtype = bf16 ? torch::kBFloat16 : torch::kFloat32, .requires_grad = true});
  if (!model.ok()) {
    std::cerr << model.status() << "\n";
    return 1;
  }
  // The same global batch on every rank: 8 sequences of varied lengths.
  std::vector<rlvr::Sequence> global;
  torch::Tensor tokens = torch::randint(1, 64, {8, 24}, torch::kInt64);
  for (int i = 0; i < 8; ++i) {
    rlvr::Sequence s;
    const int p = 3 + i % 4, c = 5 + (i * 3) % 11;
    for (int t = 0; t < p; ++t) s.prompt.push_back(tokens[i][t].item<int64_t>());
    for (int t = 0; t < c; ++t) s.completion.push_back(tokens[i][p + t].item<int64_t>());
    global.push_back(s);
  }
  std::vector<int64_t> lengths;
  for (const auto& s : global) lengths.push_back(s.prompt.size() + s.completion.size());
  std::vector<rlvr::Sequence> local;
  const std::vector<std::vector<int64_t>> shards = rlvr::ShardByTokens(lengths, dopts.world_size);
  for (int64_t i : shards[dopts.rank]) local.push_back(global[i]);

  std::vector<torch::Tensor> params;
  for (auto& [name, p] : model->NamedParameters()) params.push_back(p);
  rlvr::OptimizerOptions oopts;
  // Small steps: Adam divides by sqrt(v), which turns float32 summation-order noise in
  // near-zero gradients into differences proportional to the learning rate.
  oopts.schedule.lr = 1e-4;
  oopts.shard_state = zero;
  rlvr::Optimizer optimizer(params, oopts, dp->get());
  rlvr::CheckpointOptions copts;
  copts.root = checkpoint_root;
  copts.keep_last = 0;
  int64_t first_step = 0;
  if (!checkpoint_root.empty() && !rlvr::ListCheckpoints(checkpoint_root).empty()) {
    auto loaded = rlvr::LoadLatestCheckpoint(copts, &*model, &optimizer);
    if (!loaded.ok()) {
      std::cerr << "ddp_worker rank " << dopts.rank << ": " << loaded.status() << "\n";
      return 4;
    }
    first_step = loaded->meta.step;
  }
  for (int step = 0; step < steps; ++step) {
    if (step == die_after && dopts.rank == 1) _exit(7);
    auto stats = rlvr::SftStep(*model, optimizer, dp->get(), local,
                               {.packing = {.row_tokens = 40, .micro_batch_tokens = 80}});
    if (!stats.ok()) {
      std::cerr << "ddp_worker rank " << dopts.rank << ": " << stats.status().message() << "\n";
      return 3;
    }
  }
  if (!checkpoint_root.empty() && (dopts.rank == 0 || optimizer.sharded())) {
    rlvr::CheckpointMeta meta;
    meta.step = first_step + steps;
    auto saved = rlvr::SaveCheckpoint(copts, *model, &optimizer, meta);
    if (!saved.ok()) {
      std::cerr << "ddp_worker rank " << dopts.rank << ": " << saved.status() << "\n";
      return 5;
    }
  }
  {
    std::ofstream info(out + ".rank" + std::to_string(dopts.rank) + ".json");
    info << "{\"state_bytes\": " << optimizer.state_bytes() << ", \"owned\": [";
    for (size_t i = 0; i < optimizer.owned().size(); ++i)
      info << (i ? ", " : "") << optimizer.owned()[i];
    info << "]}\n";
  }
  if (dopts.rank == 0) {
    std::vector<torch::Tensor> detached;
    for (auto& p : params) detached.push_back(p.detach().clone());
    torch::save(detached, out);
  }
  return 0;
}
