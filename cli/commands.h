// Every `rlvr` subcommand registers itself on the CLI11 app here. Each lives in
// its own cli/cmd_<name>.cc: it turns flags and YAML into options structs, calls
// the library, and maps absl::Status to one error line and an exit code.
#ifndef RLVR_CLI_COMMANDS_H_
#define RLVR_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace rlvr::cli {

// Top-level subcommands.
void AddVersionCommand(CLI::App& app);
void AddServeVerifierCommand(CLI::App& app);
void AddDataCommand(CLI::App& app);
void AddGradeCommand(CLI::App& app);
void AddTrainCommand(CLI::App& app);
void AddExportCommand(CLI::App& app);
void AddEvalCommand(CLI::App& app);
void AddSftCommand(CLI::App& app);
void AddTokenizeCommand(CLI::App& app);
void AddGenerateCommand(CLI::App& app);
void AddServeRolloutCommand(CLI::App& app);

// `rlvr bench <name>` subcommands; `bench` is the parent app.
void AddBenchVerifierService(CLI::App& bench);
void AddBenchSandbox(CLI::App& bench);
void AddBenchVerifyMath(CLI::App& bench);
void AddBenchTokenizer(CLI::App& bench);
void AddBenchLearner(CLI::App& bench);
void AddBenchWeightSync(CLI::App& bench);
void AddBenchRollout(CLI::App& bench);
void AddBenchE2eTrl(CLI::App& bench);
void AddBenchAsync(CLI::App& bench);

}  // namespace rlvr::cli

#endif  // RLVR_CLI_COMMANDS_H_
