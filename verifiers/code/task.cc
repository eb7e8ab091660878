#include "verifiers/code/task.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rlvr::code {
namespace {

absl::Status Bad(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::StatusOr<std::string> GetString(const nlohmann::json& obj, const std::string& key,
                                      const std::string& field, bool required) {
  auto it = obj.find(key);
  if (it == obj.end() || (it->is_null() && !required)) {
    if (required) return Bad(field, "missing");
    return std::string();
  }
  if (!it->is_string()) return Bad(field, "expected a string");
  return it->get<std::string>();
}

bool IsFence(const std::string& line, std::string* marker) {
  size_t i = 0;
  while (i < line.size() && i < 3 && line[i] == ' ') ++i;
  if (line.compare(i, 3, "```") == 0) {
    *marker = "```";
    return true;
  }
  if (line.compare(i, 3, "~~~") == 0) {
    *marker = "~~~";
    return true;
  }
  return false;
}

}  // namespace

std::string ExtractCode(const std::string& completion) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= completion.size()) {
    size_t nl = completion.find('\n', start);
    if (nl == std::string::npos) nl = completion.size();
    lines.push_back(completion.substr(start, nl - start));
    start = nl + 1;
  }
  bool found = false;
  std::string last;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string marker;
    if (!IsFence(lines[i], &marker)) continue;
    std::vector<std::string> body;
    size_t j = i + 1;
    std::string closing;
    while (j < lines.size() && !(IsFence(lines[j], &closing) && closing == marker)) {
      body.push_back(lines[j]);
      ++j;
    }
    found = true;
    last = absl::StrJoin(body, "\n");
    if (!last.empty()) last += "\n";
    i = j;  // skip the closing fence
  }
  return found ? last : completion;
}

absl::StatusOr<CodeTask> ParseCodeTask(const std::string& completion, const nlohmann::json& spec) {
  if (!spec.is_object()) return Bad("spec", "expected a JSON object");
  CodeTask task;
  auto lang = GetString(spec, "language", "language", false);
  if (!lang.ok()) return lang.status();
  if (lang->empty() || *lang == "python" || *lang == "python3" || *lang == "py") {
    task.language = Language::kPython;
  } else if (*lang == "cpp" || *lang == "c++" || *lang == "cxx") {
    task.language = Language::kCpp;
  } else {
    return Bad("language", absl::StrCat("unknown language '", *lang, "' (python, cpp)"));
  }
  if (auto it = spec.find("timeout_s"); it != spec.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() <= 0)
      return Bad("timeout_s", "expected a positive number");
    task.timeout_s = it->get<double>();
  }
  if (auto it = spec.find("memory_mb"); it != spec.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() <= 0) {
      return Bad("memory_mb", "expected a positive integer");
    }
    task.memory_mb = it->get<int64_t>();
  }
  auto tests_it = spec.find("tests");
  if (tests_it == spec.end()) return Bad("tests", "missing");
  const nlohmann::json& tests = *tests_it;
  if (!tests.is_object()) return Bad("tests", "expected an object with a \"type\"");
  auto type = GetString(tests, "type", "tests.type", true);
  if (!type.ok()) return type.status();

  if (*type == "assert") {
    task.kind = TestKind::kAssert;
    auto code = tests.find("code");
    if (code == tests.end()) return Bad("tests.code", "missing");
    if (code->is_string()) {
      task.assert_code = code->get<std::string>();
    } else if (code->is_array()) {
      std::vector<std::string> parts;
      for (size_t i = 0; i < code->size(); ++i) {
        if (!(*code)[i].is_string())
          return Bad(absl::StrCat("tests.code[", i, "]"), "expected a string");
        parts.push_back((*code)[i].get<std::string>());
      }
      task.assert_code = absl::StrJoin(parts, "\n");
    } else {
      return Bad("tests.code", "expected a string or a list of strings");
    }
    auto setup = GetString(tests, "setup", "tests.setup", false);
    if (!setup.ok()) return setup.status();
    if (!setup->empty()) task.assert_code = *setup + "\n" + task.assert_code;
    auto entry = GetString(tests, "entry_point", "tests.entry_point", false);
    if (!entry.ok()) return entry.status();
    task.entry_point = *entry;
    if (task.assert_code.find_first_not_of(" \t\r\n") == std::string::npos) {
      return Bad("tests.code", "empty");
    }
  } else if (*type == "stdio" || *type == "call") {
    auto cases = tests.find("cases");
    if (cases == tests.end()) return Bad("tests.cases", "missing");
    if (!cases->is_array() || cases->empty())
      return Bad("tests.cases", "expected a non-empty list");
    if (*type == "stdio") {
      task.kind = TestKind::kStdio;
      for (size_t i = 0; i < cases->size(); ++i) {
        const std::string field = absl::StrCat("tests.cases[", i, "]");
        const nlohmann::json& c = (*cases)[i];
        if (!c.is_object()) return Bad(field, "expected an object");
        auto in = GetString(c, "input", field + ".input", false);
        if (!in.ok()) return in.status();
        auto out = GetString(c, "output", field + ".output", true);
        if (!out.ok()) return out.status();
        task.stdio_cases.push_back({*in, *out});
      }
    } else {
      task.kind = TestKind::kCall;
      if (task.language != Language::kPython) {
        return Bad("tests.type", "\"call\" tests are supported for python only");
      }
      auto fn = GetString(tests, "fn", "tests.fn", true);
      if (!fn.ok()) return fn.status();
      if (fn->empty()) return Bad("tests.fn", "empty");
      task.fn = *fn;
      for (size_t i = 0; i < cases->size(); ++i) {
        const std::string field = absl::StrCat("tests.cases[", i, "]");
        const nlohmann::json& c = (*cases)[i];
        if (!c.is_object()) return Bad(field, "expected an object");
        CallCase cc;
        if (auto a = c.find("args"); a != c.end()) {
          if (!a->is_array()) return Bad(field + ".args", "expected a list");
          cc.args = *a;
        }
        auto e = c.find("expected");
        if (e == c.end()) return Bad(field + ".expected", "missing");
        cc.expected = *e;
        task.call_cases.push_back(std::move(cc));
      }
    }
  } else {
    return Bad("tests.type", absl::StrCat("unknown type '", *type, "' (assert, stdio, call)"));
  }
  task.program = ExtractCode(completion);
  return task;
}

}  // namespace rlvr::code
