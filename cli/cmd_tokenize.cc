// `rlvr tokenize`: encodes the "text" field of every JSONL line and writes the line
// back with an added "ids" array. Output is written to OUT.tmp and renamed at the end,
// so a failed run leaves no partial file.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/status_macros.h"
#include "core/tokenizer.h"
#include "nlohmann/json.hpp"

namespace rlvr::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer;
  std::string input;
  std::string output;
  std::string field = "text";
  bool add_special_tokens = false;
  bool skip_bad_lines = false;
};

absl::StatusOr<Tokenizer> LoadTokenizer(const std::string& path) {
  if (path == "builtin") return Tokenizer::Builtin();
  return Tokenizer::FromFile(path);
}

absl::Status Tokenize(const TokenizeOptions& opts) {
  ASSIGN_OR_RETURN(Tokenizer tok, LoadTokenizer(opts.tokenizer));
  std::ifstream in(opts.input, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(opts.input, ": cannot open input file"));
  const std::string tmp = opts.output + ".tmp";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) return absl::InvalidArgumentError(absl::StrCat(tmp, ": cannot create output file"));

  std::string line;
  size_t line_no = 0, written = 0, skipped = 0;
  std::vector<int32_t> ids;
  absl::Status status;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::ordered_json record;
    std::string problem;
    try {
      record = nlohmann::ordered_json::parse(line);
      if (!record.is_object()) {
        problem = "expected a JSON object";
      } else if (!record.contains(opts.field) || !record[opts.field].is_string()) {
        problem = absl::StrCat("expected a string field \"", opts.field, "\"");
      }
    } catch (const nlohmann::json::exception& e) {
      problem = absl::StrCat("invalid JSON: ", e.what());
    }
    if (!problem.empty()) {
      const std::string where = absl::StrCat(opts.input, ":", line_no, ": ", problem);
      if (!opts.skip_bad_lines) {
        status = absl::InvalidArgumentError(where);
        break;
      }
      std::cerr << "rlvr tokenize: skipping " << where << "\n";
      ++skipped;
      continue;
    }
    ids.clear();
    tok.EncodeAppend(record[opts.field].get_ref<const std::string&>(), opts.add_special_tokens,
                     &ids);
    record["ids"] = ids;
    out << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict) << "\n";
    ++written;
  }
  if (status.ok() && in.bad())
    status = absl::DataLossError(absl::StrCat(opts.input, ": read error"));
  out.close();
  if (status.ok() && !out) status = absl::UnavailableError(absl::StrCat(tmp, ": write failed"));
  if (status.ok() && std::rename(tmp.c_str(), opts.output.c_str()) != 0) {
    status = absl::UnavailableError(absl::StrCat(opts.output, ": cannot rename ", tmp));
  }
  if (!status.ok()) {
    std::remove(tmp.c_str());
    return status;
  }
  std::cerr << "rlvr tokenize: wrote " << written << " lines to " << opts.output;
  if (skipped > 0) std::cerr << " (skipped " << skipped << " bad lines)";
  std::cerr << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddTokenizeCommand(CLI::App& app) {
  auto opts = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Encode the \"text\" field of each JSONL line; each output line adds \"ids\"");
  cmd->add_option("--tokenizer", opts->tokenizer,
                  "tokenizer.json, a directory containing one, or 'builtin'")
      ->required();
  cmd->add_option("--input", opts->input, "Input JSONL file")->required();
  cmd->add_option("--output", opts->output, "Output JSONL file")->required();
  cmd->add_option("--field", opts->field, "Name of the text field")->capture_default_str();
  cmd->add_flag("--add-special-tokens", opts->add_special_tokens,
                "Add the post-processor's tokens (e.g. BOS)");
  cmd->add_flag("--skip-bad-lines", opts->skip_bad_lines,
                "Skip malformed lines with a message instead of failing");
  cmd->callback([opts] {
    const int rc = ReportStatus("tokenize", Tokenize(*opts));
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace rlvr::cli
