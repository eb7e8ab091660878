#include "verifiers/code/compare.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace rlvr::code {
namespace {

bool NumbersMatch(double a, double b, double tol) {
  if (std::isnan(a) || std::isnan(b)) return false;
  if (a == b) return true;
  return std::fabs(a - b) <= tol * std::max(1.0, std::fabs(b));
}

bool ParseNumber(const std::string& s, double* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && errno != ERANGE && std::isfinite(*v);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  for (std::string& l : lines) {
    absl::string_view v = absl::StripTrailingAsciiWhitespace(l);
    l = std::string(v);
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

}  // namespace

bool OutputsMatch(const std::string& got, const std::string& expected, double tol) {
  const std::vector<std::string> a = Lines(got), b = Lines(expected);
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    std::vector<std::string> ta = absl::StrSplit(a[i], absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    std::vector<std::string> tb = absl::StrSplit(b[i], absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (ta.size() != tb.size()) return false;
    for (size_t k = 0; k < ta.size(); ++k) {
      if (ta[k] == tb[k]) continue;
      double x, y;
      if (!ParseNumber(ta[k], &x) || !ParseNumber(tb[k], &y) || !NumbersMatch(x, y, tol)) {
        return false;
      }
    }
  }
  return true;
}

bool ValuesMatch(const nlohmann::json& got, const nlohmann::json& expected, double tol) {
  if (got.is_number() && expected.is_number()) {
    if (got.is_number_integer() && expected.is_number_integer()) {
      return got == expected;
    }
    return NumbersMatch(got.get<double>(), expected.get<double>(), tol);
  }
  if (got.type() != expected.type()) return false;
  if (got.is_array()) {
    if (got.size() != expected.size()) return false;
    for (size_t i = 0; i < got.size(); ++i) {
      if (!ValuesMatch(got[i], expected[i], tol)) return false;
    }
    return true;
  }
  if (got.is_object()) {
    if (got.size() != expected.size()) return false;
    for (auto it = expected.begin(); it != expected.end(); ++it) {
      auto g = got.find(it.key());
      if (g == got.end() || !ValuesMatch(*g, it.value(), tol)) return false;
    }
    return true;
  }
  return got == expected;
}

}  // namespace rlvr::code
