// The `rlvr` command: one binary, one subcommand per task.
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"rlvr: reinforcement learning from verifiable rewards"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");

  rlvr::cli::AddVersionCommand(app);
  rlvr::cli::AddTokenizeCommand(app);
  rlvr::cli::AddGradeCommand(app);

  CLI::App* bench = app.add_subcommand("bench", "Performance benchmarks; each prints JSON");
  bench->require_subcommand(1);
  rlvr::cli::AddBenchTokenizer(*bench);
  rlvr::cli::AddBenchVerifyMath(*bench);
  (void)bench;

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    // Library code reports errors as absl::Status; this is the last line of defence.
    std::cerr << "rlvr: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
