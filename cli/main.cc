// The `rlvr` command: one binary, one subcommand per task.
#include <malloc.h>

#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace {

// Keep freed memory in the process. A training step allocates and frees the same
// activation tensors (a few MB each) every step; with glibc's defaults the larger ones
// are mmap'd and unmapped each time and the heap top is trimmed, so every step pays
// the kernel to fault in and zero fresh pages. `rlvr bench e2e-trl --steps 10`, five
// pairs of alternating runs: 4.89-5.31x TRL's step rate without this, 5.48-5.98x with
// it (rlvr's training part 0.200-0.216 -> 0.174-0.196 s a step in three of them).
// Like a caching allocator, the resident size then stays at the peak.
void KeepFreedMemory() {
  // Allocations below 1 GiB come from the heap (32 MiB where glibc refuses more), and
  // freed memory stays there.
  if (mallopt(M_MMAP_THRESHOLD, 1 << 30) == 0) mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace

int main(int argc, char** argv) {
  KeepFreedMemory();
  CLI::App app{"rlvr: reinforcement learning from verifiable rewards"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");

  rlvr::cli::AddVersionCommand(app);
  rlvr::cli::AddServeVerifierCommand(app);
  rlvr::cli::AddDataCommand(app);
  rlvr::cli::AddGradeCommand(app);
  rlvr::cli::AddTrainCommand(app);
  rlvr::cli::AddExportCommand(app);
  rlvr::cli::AddEvalCommand(app);
  rlvr::cli::AddSftCommand(app);
  rlvr::cli::AddTokenizeCommand(app);
  rlvr::cli::AddGenerateCommand(app);
  rlvr::cli::AddServeRolloutCommand(app);

  CLI::App* bench = app.add_subcommand("bench", "Performance benchmarks; each prints JSON");
  bench->require_subcommand(1);
  rlvr::cli::AddBenchVerifierService(*bench);
  rlvr::cli::AddBenchSandbox(*bench);
  rlvr::cli::AddBenchVerifyMath(*bench);
  rlvr::cli::AddBenchTokenizer(*bench);
  rlvr::cli::AddBenchLearner(*bench);
  rlvr::cli::AddBenchWeightSync(*bench);
  rlvr::cli::AddBenchRollout(*bench);
  rlvr::cli::AddBenchE2eTrl(*bench);
  rlvr::cli::AddBenchAsync(*bench);

  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // the command already printed its one error line
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    // Library code reports errors as absl::Status; this is the last line of defence.
    std::cerr << "rlvr: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
