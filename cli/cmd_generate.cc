// `rlvr generate --model DIR --input IN.jsonl --output OUT.jsonl [key=value...]`:
// batch generation with the in-process engine.
//
// Input lines: {"id"?, "prompt": str} or {"id"?, "messages": [{"role","content"}...]}
// (rendered with the tokenizer's chat format: Llama 3 or ChatML). Output lines
// are the input objects with "completions": [{"text", "token_ids", "logprobs",
// "finish_reason"}]. Overrides: n, max_new_tokens, temperature, top_k, top_p,
// min_p, seed, stop (a stop string; repeatable), ignore_eos, kv_mib, max_batch.
#include <chrono>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "rollout/engine.h"
#include "rollout/policy.h"

namespace rlvr::cli {
namespace {

struct GenerateFlags {
  std::string model, input, output;
  std::vector<std::string> overrides;
};

// Chat rendering: Llama 3 when the tokenizer's template uses header ids,
// otherwise ChatML (Qwen and the built-in tokenizer).
std::string RenderChat(const nlohmann::json& messages, const Tokenizer& tok) {
  const bool llama3 = tok.chat_template().find("<|start_header_id|>") != std::string::npos;
  std::string out = llama3 ? "<|begin_of_text|>" : "";
  for (const auto& m : messages) {
    const std::string role = m.value("role", "user");
    const std::string content = m.value("content", "");
    if (llama3) {
      out += "<|start_header_id|>" + role + "<|end_header_id|>\n\n" + content + "<|eot_id|>";
    } else {
      out += "<|im_start|>" + role + "\n" + content + "<|im_end|>\n";
    }
  }
  out += llama3 ? "<|start_header_id|>assistant<|end_header_id|>\n\n" : "<|im_start|>assistant\n";
  return out;
}

absl::Status ApplyOverride(const std::string& kv, SamplingParams& s, int64_t& n, EngineOptions& e) {
  const size_t eq = kv.find('=');
  if (eq == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("expected key=value, got \"", kv, "\""));
  }
  const std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(key, ": bad value \"", value, "\""));
  };
  double d = 0;
  int64_t i = 0;
  if (key == "stop") {
    s.stop_strings.push_back(value);
  } else if (key == "temperature" || key == "top_p" || key == "min_p") {
    if (!absl::SimpleAtod(value, &d)) return bad();
    (key == "temperature" ? s.temperature : key == "top_p" ? s.top_p : s.min_p) = d;
  } else if (key == "n" || key == "max_new_tokens" || key == "top_k" || key == "kv_mib" ||
             key == "max_batch") {
    if (!absl::SimpleAtoi(value, &i)) return bad();
    if (key == "n") n = i;
    if (key == "max_new_tokens") s.max_new_tokens = i;
    if (key == "top_k") s.top_k = i;
    if (key == "kv_mib") e.kv_byte_budget = i << 20;
    if (key == "max_batch") e.max_batch = i;
  } else if (key == "seed") {
    uint64_t u = 0;
    if (!absl::SimpleAtoi(value, &u)) return bad();
    s.seed = u;
  } else if (key == "ignore_eos") {
    s.ignore_eos = value == "true" || value == "1";
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown setting \"", key, "\""));
  }
  return absl::OkStatus();
}

absl::Status Generate(const GenerateFlags& f) {
  SamplingParams sampling;
  int64_t n = 1;
  EngineOptions options;
  for (const std::string& kv : f.overrides) {
    absl::Status s = ApplyOverride(kv, sampling, n, options);
    if (!s.ok()) return s;
  }
  absl::StatusOr<Policy> policy = LoadPolicy(f.model, {});
  if (!policy.ok()) return policy.status();
  if (!policy->tokenizer) {
    return absl::InvalidArgumentError(absl::StrCat(f.model, ": no tokenizer.json"));
  }
  const Tokenizer tok = *policy->tokenizer;
  std::ifstream in(f.input);
  if (!in) return absl::NotFoundError(absl::StrCat(f.input, ": cannot open"));
  std::vector<nlohmann::json> rows;
  std::vector<GenerationRequest> requests;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = absl::StrCat(f.input, ":", line_no);
    nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_discarded() || !row.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": not a JSON object"));
    }
    std::string text;
    if (row.contains("prompt") && row["prompt"].is_string()) {
      text = row["prompt"].get<std::string>();
    } else if (row.contains("messages") && row["messages"].is_array()) {
      text = RenderChat(row["messages"], tok);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": needs \"prompt\" (string) or \"messages\" (array)"));
    }
    GenerationRequest r;
    r.id = row.contains("id") ? row["id"].dump() : std::to_string(line_no);
    r.prompt_ids = tok.Encode(text);
    r.n = n;
    r.sampling = sampling;
    rows.push_back(std::move(row));
    requests.push_back(std::move(r));
  }
  options.max_len = 0;
  auto engine = Engine::Create(std::move(policy->model), tok, options);
  if (!engine.ok()) return engine.status();
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::Status s = (*engine)->ValidateRequest(requests[i]);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(f.input, ": request ", i + 1, ": ", std::string(s.message())));
    }
  }
  const int64_t total = static_cast<int64_t>(requests.size()) * n;
  int64_t done = 0, tokens = 0;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<Completion>> results(requests.size());
  absl::Status status = (*engine)->GenerateStream(requests, [&](Completion c) {
    ++done;
    tokens += static_cast<int64_t>(c.token_ids.size());
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int width = 30;
    const int filled = static_cast<int>(width * done / std::max<int64_t>(total, 1));
    std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, ' ') << "] "
              << done << "/" << total << " samples, " << static_cast<int64_t>(tokens / secs)
              << " tokens/s" << std::flush;
    results[c.request_index].push_back(std::move(c));
  });
  std::cerr << "\n";
  if (!status.ok()) return status;
  std::ofstream out(f.output);
  if (!out) return absl::InvalidArgumentError(absl::StrCat(f.output, ": cannot write"));
  for (size_t i = 0; i < rows.size(); ++i) {
    std::sort(results[i].begin(), results[i].end(), [](const Completion& a, const Completion& b) {
      return a.sample_index < b.sample_index;
    });
    nlohmann::json completions = nlohmann::json::array();
    for (const Completion& c : results[i]) {
      completions.push_back({{"text", c.text},
                             {"token_ids", c.token_ids},
                             {"logprobs", c.logprobs},
                             {"finish_reason", FinishReasonName(c.finish_reason)}});
    }
    rows[i]["completions"] = std::move(completions);
    out << rows[i].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddGenerateCommand(CLI::App& app) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate completions for a JSONL of prompts");
  cmd->add_option("--model", flags->model, "Model directory, or 'builtin'")->required();
  cmd->add_option("--input", flags->input, "Input JSONL: {id?, prompt} or {id?, messages}")
      ->required();
  cmd->add_option("--output", flags->output, "Output JSONL")->required();
  cmd->add_option("overrides", flags->overrides,
                  "n=4 max_new_tokens=256 temperature=1.0 top_k top_p min_p seed stop "
                  "ignore_eos kv_mib max_batch");
  cmd->callback([flags] {
    int code = ReportStatus("generate", Generate(*flags));
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace rlvr::cli
