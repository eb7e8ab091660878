#include "envs/dataset.h"

#include <cstring>
#include <iostream>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/status_macros.h"

namespace rlvr {
namespace {

// ---- Field lookup ---------------------------------------------------------------

// The first of the '|'-separated alternatives in `names` present (and not null) in
// `record`; nullptr if none. `*used` receives its name.
const nlohmann::json* FindField(const nlohmann::json& record, const std::string& names,
                                std::string* used = nullptr) {
  if (names.empty()) return nullptr;
  for (absl::string_view name : absl::StrSplit(names, '|', absl::SkipEmpty())) {
    auto it = record.find(std::string(name));
    if (it != record.end() && !it->is_null()) {
      if (used) *used = std::string(name);
      return &*it;
    }
  }
  return nullptr;
}

absl::Status Missing(const std::string& names) {
  return absl::InvalidArgumentError(absl::StrCat("missing field '", names, "'"));
}

// A string field, or a number rendered as text (answers are often numbers in JSON).
absl::StatusOr<std::string> TextField(const nlohmann::json& record, const std::string& names,
                                      bool required) {
  std::string used;
  const nlohmann::json* value = FindField(record, names, &used);
  if (value == nullptr) {
    if (required) return Missing(names);
    return std::string();
  }
  if (value->is_string()) return value->get<std::string>();
  if (value->is_number()) return value->dump();
  return absl::InvalidArgumentError(absl::StrCat("field '", used, "' must be a string"));
}

absl::StatusOr<std::string> RecordId(const nlohmann::json& record, const FieldMapping& mapping,
                                     const std::string& default_id) {
  std::string used;
  const nlohmann::json* value = FindField(record, mapping.id, &used);
  if (value == nullptr) return default_id;
  if (value->is_string()) return value->get<std::string>();
  if (value->is_number_integer()) return value->dump();
  return absl::InvalidArgumentError(
      absl::StrCat("field '", used, "' (the id) must be a string or an integer"));
}

// Sets task->prompt or task->messages from the prompt field.
absl::Status ReadPrompt(const nlohmann::json& record, const std::string& names, Task* task) {
  std::string used;
  const nlohmann::json* value = FindField(record, names, &used);
  if (value == nullptr) return Missing(names);
  if (value->is_string()) {
    task->prompt = value->get<std::string>();
    return absl::OkStatus();
  }
  if (value->is_array()) {
    absl::StatusOr<std::vector<Message>> messages = MessagesFromJson(*value);
    if (!messages.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("field '", used, "': ", messages.status().message()));
    }
    if (messages->empty()) {
      return absl::InvalidArgumentError(absl::StrCat("field '", used, "' is an empty list"));
    }
    task->messages = *std::move(messages);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("field '", used, "' must be a string or a list of messages"));
}

std::string EnsureNewline(std::string s) {
  if (!s.empty() && s.back() != '\n') s += '\n';
  return s;
}

// ---- Converters -----------------------------------------------------------------

using Converter = absl::Status (*)(const nlohmann::json& record, const FieldMapping& mapping,
                                   Task* task);

absl::Status ConvertGeneric(const nlohmann::json& record, const FieldMapping& m, Task* task) {
  RETURN_IF_ERROR(ReadPrompt(record, m.prompt, task));
  ASSIGN_OR_RETURN(task->gold, TextField(record, m.answer, /*required=*/false));
  // A generic record may carry its own verifier, spec and metadata.
  ASSIGN_OR_RETURN(std::string verifier, TextField(record, "verifier", false));
  if (!verifier.empty()) task->verifier = verifier;
  auto spec = record.find("spec");
  if (spec != record.end() && !spec->is_null()) {
    if (!spec->is_object()) return absl::InvalidArgumentError("field 'spec' must be an object");
    task->spec = *spec;
  }
  auto metadata = record.find("metadata");
  if (metadata != record.end() && !metadata->is_null()) {
    if (!metadata->is_object()) {
      return absl::InvalidArgumentError("field 'metadata' must be an object");
    }
    task->metadata.update(*metadata);
  }
  return absl::OkStatus();
}

absl::Status ConvertTask(const nlohmann::json& record, const FieldMapping&, Task* task) {
  ASSIGN_OR_RETURN(Task parsed, TaskFromJson(record));
  parsed.metadata.update(task->metadata);
  if (parsed.verifier.empty()) parsed.verifier = task->verifier;
  *task = std::move(parsed);
  return absl::OkStatus();
}

absl::Status ConvertGsm8k(const nlohmann::json& record, const FieldMapping& m, Task* task) {
  RETURN_IF_ERROR(ReadPrompt(record, m.prompt, task));
  ASSIGN_OR_RETURN(std::string answer, TextField(record, m.answer, /*required=*/true));
  task->gold = Gsm8kGold(answer);
  if (task->gold.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("field '", m.answer, "' has no '#### <answer>' line"));
  }
  return absl::OkStatus();
}

absl::Status ConvertMath(const nlohmann::json& record, const FieldMapping& m, Task* task) {
  RETURN_IF_ERROR(ReadPrompt(record, m.prompt, task));
  ASSIGN_OR_RETURN(task->gold, TextField(record, m.answer, /*required=*/false));
  if (!absl::StripAsciiWhitespace(task->gold).empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string solution, TextField(record, m.solution, /*required=*/false));
  if (solution.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing field '", m.answer, "' (or '", m.solution, "')"));
  }
  task->gold = LastBoxed(solution);
  if (task->gold.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("field '", m.solution, "' has no \\boxed{} answer"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> StringList(const nlohmann::json& record,
                                                    const std::string& names) {
  std::string used;
  const nlohmann::json* value = FindField(record, names, &used);
  if (value == nullptr) return Missing(names);
  if (!value->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("field '", used, "' must be a list"));
  }
  std::vector<std::string> out;
  for (const nlohmann::json& item : *value) {
    if (!item.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("field '", used, "' must be a list of strings"));
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

absl::Status ConvertMbpp(const nlohmann::json& record, const FieldMapping& m, Task* task) {
  ASSIGN_OR_RETURN(std::string text, TextField(record, m.prompt, /*required=*/true));
  ASSIGN_OR_RETURN(std::vector<std::string> tests, StringList(record, m.tests));
  if (tests.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("field '", m.tests, "' is empty"));
  }
  ASSIGN_OR_RETURN(std::string setup, TextField(record, m.setup, /*required=*/false));
  ASSIGN_OR_RETURN(task->gold, TextField(record, m.solution, /*required=*/false));
  const std::string joined = absl::StrJoin(tests, "\n");
  task->prompt = absl::StrCat(text, "\nYour code should pass these tests:\n\n", joined);
  std::string code = setup.empty() ? "" : EnsureNewline(setup);
  absl::StrAppend(&code, joined, "\n");
  task->spec["tests"] = {{"type", "assert"}, {"code", code}};
  return absl::OkStatus();
}

absl::Status ConvertHumanEval(const nlohmann::json& record, const FieldMapping& m, Task* task) {
  ASSIGN_OR_RETURN(std::string prompt, TextField(record, m.prompt, /*required=*/true));
  ASSIGN_OR_RETURN(std::string test, TextField(record, m.tests, /*required=*/true));
  ASSIGN_OR_RETURN(std::string entry_point, TextField(record, m.entry_point, true));
  ASSIGN_OR_RETURN(std::string solution, TextField(record, m.solution, /*required=*/false));
  if (entry_point.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("field '", m.entry_point, "' is empty"));
  }
  task->prompt = absl::StrCat("Complete the following Python function.\n\n```python\n",
                              EnsureNewline(prompt), "```");
  if (!solution.empty()) task->gold = prompt + solution;
  // The test module defines check(candidate); the code verifier calls
  // check(<entry_point>) after running it.
  task->spec["tests"] = {{"type", "assert"}, {"code", test}, {"entry_point", entry_point}};
  return absl::OkStatus();
}

// APPS/CodeContests test text: a string, or a list of lines.
absl::StatusOr<std::string> IoText(const nlohmann::json& value, const std::string& where) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    std::string out;
    for (const nlohmann::json& line : value) {
      if (!line.is_string()) break;
      absl::StrAppend(&out, line.get<std::string>(), "\n");
    }
    if (out.size() >= value.size()) return out;
  }
  return absl::InvalidArgumentError(absl::StrCat(where, " must be a string"));
}

absl::Status ConvertStdio(const nlohmann::json& record, const FieldMapping& m, Task* task) {
  RETURN_IF_ERROR(ReadPrompt(record, m.prompt, task));
  ASSIGN_OR_RETURN(task->gold, TextField(record, m.solution, /*required=*/false));
  nlohmann::json cases = nlohmann::json::array();
  std::string fn_name;
  bool any = false;
  for (absl::string_view name_view : absl::StrSplit(m.tests, '|', absl::SkipEmpty())) {
    const std::string name(name_view);
    auto it = record.find(name);
    if (it == record.end() || it->is_null()) continue;
    any = true;
    nlohmann::json tests = *it;
    if (tests.is_string()) {  // APPS stores input_output as a JSON string
      if (tests.get<std::string>().empty()) continue;
      tests = nlohmann::json::parse(tests.get<std::string>(), nullptr, /*exceptions=*/false);
      if (tests.is_discarded()) {
        return absl::InvalidArgumentError(absl::StrCat("field '", name, "' is not valid JSON"));
      }
    }
    if (!tests.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("field '", name, "' must be an object"));
    }
    const char* in_key = tests.contains("inputs") ? "inputs" : "input";
    const char* out_key = tests.contains("outputs") ? "outputs" : "output";
    auto inputs = tests.find(in_key);
    auto outputs = tests.find(out_key);
    if (inputs == tests.end() || outputs == tests.end() || !inputs->is_array() ||
        !outputs->is_array() || inputs->size() != outputs->size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("field '", name,
                       "' must hold equally long lists 'inputs'/'outputs' (or 'input'/'output')"));
    }
    if (auto fn = tests.find("fn_name"); fn != tests.end() && fn->is_string()) {
      fn_name = fn->get<std::string>();
    }
    for (size_t i = 0; i < inputs->size(); ++i) {
      const std::string where = absl::StrCat("field '", name, "' case ", i);
      if (!fn_name.empty()) {
        if (!(*inputs)[i].is_array()) {
          return absl::InvalidArgumentError(absl::StrCat(where, ": call arguments must be a list"));
        }
        // APPS keeps call-style outputs as given (often a one-element list); the
        // code verifier compares them as they are.
        cases.push_back({{"args", (*inputs)[i]}, {"expected", (*outputs)[i]}});
      } else {
        ASSIGN_OR_RETURN(std::string input, IoText((*inputs)[i], where + " input"));
        ASSIGN_OR_RETURN(std::string output, IoText((*outputs)[i], where + " output"));
        cases.push_back({{"input", input}, {"output", output}});
      }
    }
  }
  if (!any) return Missing(m.tests);
  if (cases.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("field '", m.tests, "' has no test cases"));
  }
  if (!fn_name.empty()) {
    task->spec["tests"] = {{"type", "call"}, {"fn", fn_name}, {"cases", cases}};
  } else {
    task->spec["tests"] = {{"type", "stdio"}, {"cases", cases}};
  }
  return absl::OkStatus();
}

struct FormatEntry {
  FieldMapping mapping;
  Converter convert;
};

const std::map<std::string, FormatEntry>& Formats() {
  static const auto* formats = [] {
    auto* f = new std::map<std::string, FormatEntry>();
    FieldMapping m;
    m.format = "generic";
    m.prompt = "prompt|messages";
    m.answer = "answer|gold";
    m.verifier = "math";
    (*f)["generic"] = {m, ConvertGeneric};

    m = FieldMapping();
    m.format = "task";
    m.verifier = "math";
    (*f)["task"] = {m, ConvertTask};

    m = FieldMapping();
    m.format = "gsm8k";
    m.prompt = "question";
    m.answer = "answer";
    m.verifier = "math";
    (*f)["gsm8k"] = {m, ConvertGsm8k};

    m = FieldMapping();
    m.format = "math";
    m.id = "id|unique_id";
    m.prompt = "problem";
    m.answer = "answer";
    m.solution = "solution";
    m.verifier = "math";
    m.metadata = {"level", "type", "subject"};
    (*f)["math"] = {m, ConvertMath};

    m = FieldMapping();
    m.format = "mbpp";
    m.id = "task_id";
    m.prompt = "text|prompt";
    m.tests = "test_list";
    m.setup = "test_setup_code";
    m.solution = "code";
    m.verifier = "code";
    (*f)["mbpp"] = {m, ConvertMbpp};

    m = FieldMapping();
    m.format = "humaneval";
    m.id = "task_id";
    m.prompt = "prompt";
    m.tests = "test";
    m.entry_point = "entry_point";
    m.solution = "canonical_solution";
    m.verifier = "code";
    (*f)["humaneval"] = {m, ConvertHumanEval};

    m = FieldMapping();
    m.format = "stdio";
    m.id = "id|problem_id|name";
    m.prompt = "question|description|problem";
    m.tests = "input_output|public_tests|private_tests";
    m.verifier = "code";
    m.metadata = {"difficulty", "source", "url"};
    (*f)["stdio"] = {m, ConvertStdio};
    return f;
  }();
  return *formats;
}

}  // namespace

std::vector<std::string> KnownFormats() {
  std::vector<std::string> names;
  for (const auto& [name, entry] : Formats()) names.push_back(name);
  return names;
}

absl::StatusOr<FieldMapping> MappingForFormat(const std::string& format) {
  auto it = Formats().find(format);
  if (it == Formats().end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown dataset format '", format, "' (known: ",
                                                   absl::StrJoin(KnownFormats(), ", "), ")"));
  }
  return it->second.mapping;
}

absl::StatusOr<Task> TaskFromRecord(const nlohmann::json& record, const FieldMapping& mapping,
                                    const std::string& default_id) {
  auto it = Formats().find(mapping.format);
  if (it == Formats().end()) return MappingForFormat(mapping.format).status();
  if (!record.is_object()) return absl::InvalidArgumentError("the line is not a JSON object");
  Task task;
  task.verifier = mapping.verifier;
  if (mapping.format != "task") {
    ASSIGN_OR_RETURN(task.id, RecordId(record, mapping, default_id));
  }
  for (const std::string& field : mapping.metadata) {
    auto value = record.find(field);
    if (value != record.end() && !value->is_null()) task.metadata[field] = *value;
  }
  RETURN_IF_ERROR(it->second.convert(record, mapping, &task));
  if (task.id.empty()) return absl::InvalidArgumentError("the task id is empty");
  return task;
}

std::string Gsm8kGold(const std::string& answer) {
  const size_t pos = answer.rfind("####");
  if (pos == std::string::npos) return "";
  std::string gold(absl::StripAsciiWhitespace(answer.substr(pos + 4)));
  // Thousands separators: "1,234" -> "1234".
  std::string out;
  for (size_t i = 0; i < gold.size(); ++i) {
    const bool digit_comma = gold[i] == ',' && i > 0 && i + 1 < gold.size() &&
                             absl::ascii_isdigit(gold[i - 1]) && absl::ascii_isdigit(gold[i + 1]);
    if (!digit_comma) out += gold[i];
  }
  return out;
}

std::string LastBoxed(const std::string& text) {
  size_t best = std::string::npos;
  size_t skip = 0;
  for (const char* macro : {"\\boxed", "\\fbox"}) {
    const size_t pos = text.rfind(macro);
    if (pos != std::string::npos && (best == std::string::npos || pos > best)) {
      best = pos;
      skip = std::strlen(macro);
    }
  }
  if (best == std::string::npos) return "";
  size_t i = best + skip;
  while (i < text.size() && text[i] == ' ') ++i;
  if (i >= text.size()) return "";
  if (text[i] != '{') {  // "\boxed 5"
    size_t end = i;
    while (end < text.size() && text[end] != '$' && !absl::ascii_isspace(text[end])) ++end;
    return text.substr(i, end - i);
  }
  int depth = 0;
  for (size_t j = i; j < text.size(); ++j) {
    if (text[j] == '\\' && j + 1 < text.size()) {  // escaped brace: \{ \}
      ++j;
      continue;
    }
    if (text[j] == '{') ++depth;
    if (text[j] == '}' && --depth == 0) return text.substr(i + 1, j - i - 1);
  }
  return "";  // unbalanced
}

// ---- Randomness -----------------------------------------------------------------

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t UniformBelow(uint64_t* state, uint64_t n) {
  // Rejection sampling: drop the top partial block so every value is equally likely.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = SplitMix64(state);
  } while (x >= limit);
  return x % n;
}

uint64_t Fingerprint64(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return SplitMix64(&h);
}

bool InEvalSplit(const std::string& task_id, double eval_fraction, const std::string& salt) {
  const uint64_t h = Fingerprint64(absl::StrCat(salt, "\x1f", task_id));
  // Top 53 bits as a double in [0, 1).
  const double u = static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);
  return u < eval_fraction;
}

// ---- Cursor ---------------------------------------------------------------------

nlohmann::json DatasetCursor::ToJson() const {
  return {{"epoch", epoch}, {"position", position},   {"byte_offset", byte_offset},
          {"line", line},   {"file_size", file_size}, {"shuffle", shuffle},
          {"seed", seed}};
}

absl::StatusOr<DatasetCursor> DatasetCursor::FromJson(const nlohmann::json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("dataset cursor must be an object");
  DatasetCursor c;
  auto get_int = [&](const char* key, auto* out) -> absl::Status {
    auto it = json.find(key);
    if (it == json.end() || !it->is_number_integer()) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset cursor: field '", key, "' must be an integer"));
    }
    *out = it->get<std::remove_pointer_t<decltype(out)>>();
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(get_int("epoch", &c.epoch));
  RETURN_IF_ERROR(get_int("position", &c.position));
  RETURN_IF_ERROR(get_int("byte_offset", &c.byte_offset));
  RETURN_IF_ERROR(get_int("line", &c.line));
  RETURN_IF_ERROR(get_int("file_size", &c.file_size));
  RETURN_IF_ERROR(get_int("seed", &c.seed));
  auto shuffle = json.find("shuffle");
  if (shuffle == json.end() || !shuffle->is_boolean()) {
    return absl::InvalidArgumentError("dataset cursor: field 'shuffle' must be a boolean");
  }
  c.shuffle = shuffle->get<bool>();
  return c;
}

// ---- Reader ---------------------------------------------------------------------

DatasetReader::DatasetReader(DatasetOptions options) : options_(std::move(options)) {}

DatasetReader::~DatasetReader() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::StatusOr<std::unique_ptr<DatasetReader>> DatasetReader::Open(DatasetOptions options) {
  if (options.path.empty()) return absl::InvalidArgumentError("dataset path is empty");
  if (options.max_epochs < 0) return absl::InvalidArgumentError("max_epochs must be >= 0");
  if (options.eval_fraction < 0 || options.eval_fraction > 1) {
    return absl::InvalidArgumentError("eval_fraction must be in [0, 1]");
  }
  if (options.max_line_bytes <= 0) {
    return absl::InvalidArgumentError("max_line_bytes must be > 0");
  }
  RETURN_IF_ERROR(MappingForFormat(options.mapping.format).status());
  if (options.name.empty()) {
    std::string base = options.path.substr(options.path.find_last_of('/') + 1);
    for (const char* ext : {".jsonl", ".json"}) {
      if (absl::EndsWith(base, ext) && base.size() > std::strlen(ext)) {
        base.resize(base.size() - std::strlen(ext));
        break;
      }
    }
    options.name = base;
  }
  std::unique_ptr<DatasetReader> reader(new DatasetReader(std::move(options)));
  reader->file_ = std::fopen(reader->options_.path.c_str(), "rb");
  if (reader->file_ == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("cannot open dataset '", reader->options_.path, "': ", std::strerror(errno)));
  }
  if (fseeko(reader->file_, 0, SEEK_END) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot seek in '", reader->options_.path, "'"));
  }
  reader->file_size_ = static_cast<uint64_t>(ftello(reader->file_));
  reader->cursor_.file_size = reader->file_size_;
  reader->cursor_.shuffle = reader->options_.shuffle;
  reader->cursor_.seed = reader->options_.seed;
  if (reader->options_.shuffle) {
    RETURN_IF_ERROR(reader->BuildIndex());
    reader->StartEpoch();
  }
  return reader;
}

absl::Status DatasetReader::BuildIndex() {
  line_offsets_.clear();
  if (fseeko(file_, 0, SEEK_SET) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot seek in '", options_.path, "'"));
  }
  std::vector<char> buffer(1 << 20);
  uint64_t offset = 0;
  bool at_line_start = true;
  while (true) {
    const size_t n = std::fread(buffer.data(), 1, buffer.size(), file_);
    if (n == 0) break;
    for (size_t i = 0; i < n;) {
      if (at_line_start) {
        line_offsets_.push_back(offset + i);
        at_line_start = false;
      }
      const void* nl = std::memchr(buffer.data() + i, '\n', n - i);
      if (nl == nullptr) break;
      i = static_cast<const char*>(nl) - buffer.data() + 1;
      at_line_start = true;
    }
    offset += n;
  }
  if (std::ferror(file_)) {
    return absl::UnavailableError(absl::StrCat("error reading '", options_.path, "'"));
  }
  return absl::OkStatus();
}

void DatasetReader::StartEpoch() {
  permutation_.resize(line_offsets_.size());
  for (size_t i = 0; i < permutation_.size(); ++i) permutation_[i] = i;
  uint64_t state =
      options_.seed ^ (0xD1B54A32D192ED03ULL * static_cast<uint64_t>(cursor_.epoch + 1));
  for (size_t i = permutation_.size(); i > 1; --i) {  // Fisher-Yates
    std::swap(permutation_[i - 1], permutation_[UniformBelow(&state, i)]);
  }
  permutation_epoch_ = cursor_.epoch;
}

absl::StatusOr<bool> DatasetReader::ReadLineAt(uint64_t offset, uint64_t* next_offset,
                                               bool* too_long) {
  if (offset != file_pos_) {
    if (fseeko(file_, static_cast<off_t>(offset), SEEK_SET) != 0) {
      return absl::UnavailableError(absl::StrCat("cannot seek in '", options_.path, "'"));
    }
    file_pos_ = offset;
  }
  raw_line_.clear();
  *too_long = false;
  uint64_t consumed = 0;
  int c;
  const size_t max = static_cast<size_t>(options_.max_line_bytes);
  while ((c = getc_unlocked(file_)) != EOF) {
    ++consumed;
    if (c == '\n') break;
    if (raw_line_.size() < max) {
      raw_line_.push_back(static_cast<char>(c));
    } else {
      *too_long = true;  // keep consuming the line without storing it
    }
  }
  if (std::ferror(file_)) {
    return absl::UnavailableError(absl::StrCat("error reading '", options_.path, "'"));
  }
  file_pos_ = offset + consumed;
  *next_offset = file_pos_;
  if (!raw_line_.empty() && raw_line_.back() == '\r') raw_line_.pop_back();
  return consumed > 0;
}

absl::Status DatasetReader::Malformed(int64_t line, const std::string& reason) {
  const std::string message = absl::StrCat(options_.path, ":", line, ": ", reason);
  if (options_.on_malformed == OnMalformed::kFail) return absl::InvalidArgumentError(message);
  ++stats_.malformed;
  if (stats_.malformed <= options_.max_reports) {
    std::string report = absl::StrCat(message, " (line skipped)");
    if (stats_.malformed == options_.max_reports) {
      absl::StrAppend(&report, "; further malformed lines are only counted");
    }
    if (options_.reporter) {
      options_.reporter(report);
    } else {
      std::cerr << "rlvr: warning: " << report << "\n";
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Task>> DatasetReader::Next() {
  while (true) {
    // Find the next line.
    uint64_t offset;
    int64_t line_number;
    if (options_.shuffle) {
      if (cursor_.position >= static_cast<int64_t>(permutation_.size())) {
        if (options_.max_epochs > 0 && cursor_.epoch + 1 >= options_.max_epochs) {
          cursor_.position = permutation_.size();
          return std::nullopt;
        }
        if (++epochs_without_task_ >= 2 && options_.max_epochs == 0) {
          return absl::FailedPreconditionError(
              absl::StrCat("dataset '", options_.path, "' has no tasks in this split"));
        }
        ++cursor_.epoch;
        cursor_.position = 0;
        StartEpoch();
        continue;
      }
      const uint64_t index = permutation_[cursor_.position];
      offset = line_offsets_[index];
      line_number = static_cast<int64_t>(index) + 1;
    } else {
      offset = cursor_.byte_offset;
      line_number = cursor_.line + 1;
    }
    uint64_t next_offset = 0;
    bool too_long = false;
    ASSIGN_OR_RETURN(bool got_line, ReadLineAt(offset, &next_offset, &too_long));
    if (!options_.shuffle && !got_line) {  // end of a sequential epoch
      if (options_.max_epochs > 0 && cursor_.epoch + 1 >= options_.max_epochs) {
        return std::nullopt;
      }
      if (++epochs_without_task_ >= 2 && options_.max_epochs == 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("dataset '", options_.path, "' has no tasks in this split"));
      }
      ++cursor_.epoch;
      cursor_.byte_offset = 0;
      cursor_.line = 0;
      continue;
    }
    // Consume the line before parsing it, so a fatal error leaves the reader usable.
    if (options_.shuffle) {
      ++cursor_.position;
    } else {
      cursor_.byte_offset = next_offset;
      cursor_.line = line_number;
    }
    ++stats_.lines;
    if (!got_line) continue;  // shuffle: a stale index past the end of the file
    if (too_long) {
      RETURN_IF_ERROR(Malformed(
          line_number, absl::StrCat("line longer than ", options_.max_line_bytes, " bytes")));
      continue;
    }
    if (absl::StripAsciiWhitespace(raw_line_).empty()) continue;

    nlohmann::json record;
    try {
      record = nlohmann::json::parse(raw_line_);
    } catch (const nlohmann::json::exception& e) {
      RETURN_IF_ERROR(Malformed(line_number, absl::StrCat("invalid JSON: ", e.what())));
      continue;
    }
    absl::StatusOr<Task> task =
        TaskFromRecord(record, options_.mapping, absl::StrCat(options_.name, "-", line_number));
    if (!task.ok()) {
      RETURN_IF_ERROR(Malformed(line_number, std::string(task.status().message())));
      continue;
    }
    if (options_.split != Split::kAll) {
      const bool eval = InEvalSplit(task->id, options_.eval_fraction, options_.split_salt);
      if (eval != (options_.split == Split::kEval)) {
        ++stats_.other_split;
        continue;
      }
    }
    if (!task->metadata.contains("source")) task->metadata["source"] = options_.name;
    ++stats_.tasks;
    epochs_without_task_ = 0;
    last_line_ = line_number;
    return std::optional<Task>(*std::move(task));
  }
}

DatasetCursor DatasetReader::Cursor() const { return cursor_; }

absl::Status DatasetReader::Restore(const DatasetCursor& cursor) {
  if (cursor.file_size != file_size_) {
    return absl::FailedPreconditionError(absl::StrCat("dataset cursor was taken on a file of ",
                                                      cursor.file_size, " bytes; '", options_.path,
                                                      "' has ", file_size_));
  }
  if (cursor.shuffle != options_.shuffle || cursor.seed != options_.seed) {
    return absl::FailedPreconditionError(
        "dataset cursor was taken with other shuffle/seed options");
  }
  if (cursor.epoch < 0 || cursor.position < 0 || cursor.line < 0 ||
      cursor.byte_offset > file_size_ ||
      (options_.shuffle && cursor.position > static_cast<int64_t>(line_offsets_.size()))) {
    return absl::InvalidArgumentError("dataset cursor is out of range for this file");
  }
  cursor_ = cursor;
  epochs_without_task_ = 0;
  if (options_.shuffle && permutation_epoch_ != cursor_.epoch) StartEpoch();
  return absl::OkStatus();
}

}  // namespace rlvr
