// `rlvr export hf`: a checkpoint's policy as a directory transformers loads.
// `rlvr export dashboard`: a run's static HTML dashboard.
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/model.h"
#include "core/status_macros.h"
#include "core/tokenizer.h"
#include "eval/dashboard.h"
#include "learner/checkpoint.h"

namespace rlvr::cli {
namespace {

namespace fs = std::filesystem;

absl::Status ExportHf(const std::string& checkpoint, const std::string& out,
                      const std::string& tokenizer) {
  // A run's checkpoint root: take its newest valid checkpoint.
  std::string dir = checkpoint;
  if (!fs::exists(fs::path(dir) / "manifest.json")) {
    std::vector<std::string> all = ListCheckpoints(dir);
    if (all.empty()) {
      return absl::NotFoundError(absl::StrCat(checkpoint,
                                              ": not a checkpoint (no manifest.json) "
                                              "and holds no step-* checkpoints"));
    }
    dir.clear();
    for (auto it = all.rbegin(); it != all.rend() && dir.empty(); ++it) {
      if (VerifyCheckpoint(*it).ok()) dir = *it;
    }
    if (dir.empty()) return absl::DataLossError(absl::StrCat(checkpoint, ": no valid checkpoint"));
  }
  RETURN_IF_ERROR(VerifyCheckpoint(dir));
  ASSIGN_OR_RETURN(Transformer model, Transformer::Load((fs::path(dir) / "model").string(), {}));
  RETURN_IF_ERROR(model.Save(out));
  if (tokenizer == "builtin") {
    RETURN_IF_ERROR(Tokenizer::Builtin().Save(out));
  } else if (!tokenizer.empty()) {
    ASSIGN_OR_RETURN(Tokenizer t, Tokenizer::FromFile(tokenizer));
    RETURN_IF_ERROR(t.Save(out));
  }
  std::cout << "exported " << dir << " to " << out << "\n";
  return absl::OkStatus();
}

absl::Status ExportDashboard(const std::string& run, const std::string& out) {
  ASSIGN_OR_RETURN(
      DashboardReport report,
      WriteDashboard(
          {.run_dir = run, .out_dir = out.empty() ? (fs::path(run) / "dashboard").string() : out}));
  for (const std::string& w : report.warnings) std::cerr << "rlvr export dashboard: " << w << "\n";
  std::cout << "wrote " << report.path << " (" << report.charts_with_data << " of " << report.charts
            << " charts with data"
            << (report.warnings.empty() ? ""
                                        : absl::StrCat("; ", report.warnings.size(),
                                                       " problem(s) in the run, listed above"))
            << ")\n";
  return absl::OkStatus();
}

}  // namespace

void AddExportCommand(CLI::App& app) {
  CLI::App* exp = app.add_subcommand("export", "Export a checkpoint or a run");
  exp->require_subcommand(1);
  CLI::App* hf = exp->add_subcommand("hf", "Write a checkpoint's policy in Hugging Face layout");
  auto checkpoint = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto tokenizer = std::make_shared<std::string>("builtin");
  hf->add_option("--checkpoint", *checkpoint, "A checkpoint directory, or a checkpoints root")
      ->required();
  hf->add_option("--out", *out, "Output directory")->required();
  hf->add_option("--tokenizer", *tokenizer,
                 "Tokenizer to write beside the model: builtin (default), a path, or \"\"");
  hf->callback([=] {
    int rc = ReportStatus("export hf", ExportHf(*checkpoint, *out, *tokenizer));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });

  CLI::App* dash = exp->add_subcommand(
      "dashboard", "Write a run's static HTML dashboard (one self-contained index.html)");
  auto run = std::make_shared<std::string>();
  auto dash_out = std::make_shared<std::string>();
  dash->add_option("--run", *run, "The run directory, e.g. runs/quickstart")->required();
  dash->add_option("--out", *dash_out, "Output directory (default: <run>/dashboard)");
  dash->callback([=] {
    int rc = ReportStatus("export dashboard", ExportDashboard(*run, *dash_out));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
