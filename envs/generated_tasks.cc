#include "envs/generated_tasks.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "envs/dataset.h"  // SplitMix64, UniformBelow

namespace rlvr {
namespace {

using json = nlohmann::json;

// A per-task random stream: independent of every other task of the same seed, so
// task i can be made without making tasks 0..i-1.
uint64_t TaskState(uint64_t seed, int64_t index, uint64_t salt) {
  uint64_t state = seed ^ salt;
  SplitMix64(&state);
  state ^= static_cast<uint64_t>(index) * 0x9E3779B97F4A7C15ULL;
  SplitMix64(&state);
  return state;
}

int64_t UniformInt(uint64_t* state, int64_t lo, int64_t hi) {  // [lo, hi]
  return lo + static_cast<int64_t>(UniformBelow(state, static_cast<uint64_t>(hi - lo + 1)));
}

int64_t Pow10(int n) {
  int64_t p = 1;
  while (n-- > 0) p *= 10;
  return p;
}

int64_t Operand(uint64_t* state, int digits) {
  if (digits == 1) return UniformInt(state, 0, 9);
  return UniformInt(state, Pow10(digits - 1), Pow10(digits) - 1);
}

std::string FinalAnswer(const std::string& format, const std::string& value) {
  return format == "answer" ? absl::StrCat("Answer: ", value)
                            : absl::StrCat("\\boxed{", value, "}");
}

// Digits of `x` (>= 0), least significant first, padded to `width`.
std::vector<int> Digits(int64_t x, size_t width) {
  std::vector<int> d;
  do {
    d.push_back(static_cast<int>(x % 10));
    x /= 10;
  } while (x > 0);
  while (d.size() < width) d.push_back(0);
  return d;
}

// The worked solutions are short on purpose: a scratchpad of one line per digit column,
// each a single-digit fact ("4+6+0=10"), so that a ~1M-parameter model learns them
// quickly and a completion stays near 20 tokens.

// "2+3+0=5\n4+6+0=10\n": the final answer is the last line's result followed by the
// units digits of the lines above it, bottom to top.
std::string AdditionWork(int64_t a, int64_t b) {
  const size_t width = std::max(std::to_string(a).size(), std::to_string(b).size());
  std::vector<int> da = Digits(a, width), db = Digits(b, width);
  std::string out;
  int carry = 0;
  for (size_t i = 0; i < width; ++i) {
    const int s = da[i] + db[i] + carry;
    absl::StrAppend(&out, da[i], "+", db[i], "+", carry, "=", s, "\n");
    carry = s / 10;
  }
  return out;
}

// "12-8-0=4\n5-3-1=1\n" (a column that borrows shows its digit plus 10); a negative
// result first says "38-52=-(52-38)".
std::string SubtractionWork(int64_t a, int64_t b) {
  std::string out;
  int64_t x = a, y = b;
  if (a < b) {
    absl::StrAppend(&out, a, "-", b, "=-(", b, "-", a, ")\n");
    std::swap(x, y);
  }
  const size_t width = std::to_string(x).size();
  std::vector<int> dx = Digits(x, width), dy = Digits(y, width);
  int borrow = 0;
  for (size_t i = 0; i < width; ++i) {
    const bool lend = dx[i] - dy[i] - borrow < 0;
    const int top = dx[i] + (lend ? 10 : 0);
    absl::StrAppend(&out, top, "-", dy[i], "-", borrow, "=", top - dy[i] - borrow, "\n");
    borrow = lend ? 1 : 0;
  }
  return out;
}

// One-digit multiplier: "2*7+0=14\n4*7+1=29\n", read like addition. Longer multipliers:
// a partial product per digit, then their sum.
std::string MultiplicationWork(int64_t a, int64_t b) {
  std::string out;
  if (b < 10) {
    std::vector<int> da = Digits(a, 1);
    int64_t carry = 0;
    for (size_t i = 0; i < da.size(); ++i) {
      const int64_t p = da[i] * b + carry;
      absl::StrAppend(&out, da[i], "*", b, "+", carry, "=", p, "\n");
      carry = p / 10;
    }
    return out;
  }
  std::vector<int> db = Digits(b, 1);
  std::vector<int64_t> parts;
  for (size_t i = 0; i < db.size(); ++i) {
    const int64_t place = Pow10(static_cast<int>(i));
    const int64_t part = a * db[i] * place;
    absl::StrAppend(&out, a, "*", db[i] * place, "=", part, "\n");
    parts.push_back(part);
  }
  int64_t sum = 0;
  for (int64_t p : parts) sum += p;
  absl::StrAppend(&out, absl::StrJoin(parts, "+"), "=", sum, "\n");
  return out;
}

// ---- Code task families ---------------------------------------------------------

struct CodeFamily {
  std::string fn;
  std::string signature;    // "xs"
  std::string description;  // completes "Write a Python function `f(xs)` that ..."
  std::string solution;     // the reference solution
  // Random arguments for one test at a difficulty, and the expected result.
  std::function<json(uint64_t* state, int difficulty)> make_args;
  std::function<json(const json& args)> expected;
};

json IntList(uint64_t* state, int difficulty) {
  static const int kMaxLen[] = {6, 15, 40};
  static const int64_t kMaxAbs[] = {20, 100, 1000};
  const int len = static_cast<int>(UniformInt(state, 0, kMaxLen[difficulty - 1]));
  json xs = json::array();
  for (int i = 0; i < len; ++i) {
    xs.push_back(UniformInt(state, -kMaxAbs[difficulty - 1], kMaxAbs[difficulty - 1]));
  }
  return xs;
}

std::string Words(uint64_t* state, int difficulty) {
  static const char* kWords[] = {"apple", "Sky",  "river",  "code", "tEst",  "banana",   "Echo",
                                 "io",    "quiz", "rhythm", "AI",   "stone", "umbrella", "x"};
  static const int kMaxWords[] = {3, 6, 12};
  const int n = static_cast<int>(UniformInt(state, 0, kMaxWords[difficulty - 1]));
  std::vector<std::string> words;
  for (int i = 0; i < n; ++i) words.push_back(kWords[UniformBelow(state, std::size(kWords))]);
  return absl::StrJoin(words, " ");
}

std::string MaybePalindrome(uint64_t* state, int difficulty) {
  const int half = static_cast<int>(UniformInt(state, 0, 2 + 3 * difficulty));
  std::string s;
  for (int i = 0; i < half; ++i) s += static_cast<char>('a' + UniformBelow(state, 3));
  std::string mirrored(s.rbegin(), s.rend());
  if (UniformBelow(state, 2) == 0) s += static_cast<char>('a' + UniformBelow(state, 3));
  s += mirrored;
  if (UniformBelow(state, 3) == 0 && !s.empty()) {  // break it, sometimes
    s[UniformBelow(state, s.size())] = 'z';
  }
  return s;
}

const std::vector<CodeFamily>& Families() {
  static const auto* families = new std::vector<CodeFamily>{
      {"sum_evens", "xs",
       "returns the sum of the even numbers in the list of integers `xs` (0 if there are none)",
       "def sum_evens(xs):\n    return sum(x for x in xs if x % 2 == 0)",
       [](uint64_t* s, int d) { return json::array({IntList(s, d)}); },
       [](const json& args) {
         int64_t sum = 0;
         for (const json& x : args[0]) {
           if (x.get<int64_t>() % 2 == 0) sum += x.get<int64_t>();
         }
         return json(sum);
       }},
      {"count_vowels", "s",
       "returns how many characters of the string `s` are vowels (a, e, i, o, u, in either case)",
       "def count_vowels(s):\n    return sum(1 for c in s.lower() if c in 'aeiou')",
       [](uint64_t* s, int d) { return json::array({Words(s, d)}); },
       [](const json& args) {
         int64_t n = 0;
         for (char c : args[0].get<std::string>()) {
           n += std::string("aeiouAEIOU").find(c) != std::string::npos;
         }
         return json(n);
       }},
      {"max_minus_min", "xs",
       "returns the largest minus the smallest number of the list of integers `xs` (0 for an "
       "empty list)",
       "def max_minus_min(xs):\n    return max(xs) - min(xs) if xs else 0",
       [](uint64_t* s, int d) { return json::array({IntList(s, d)}); },
       [](const json& args) {
         std::vector<int64_t> xs = args[0].get<std::vector<int64_t>>();
         if (xs.empty()) return json(0);
         auto [lo, hi] = std::minmax_element(xs.begin(), xs.end());
         return json(*hi - *lo);
       }},
      {"count_greater", "xs, k",
       "returns how many numbers in the list of integers `xs` are strictly greater than `k`",
       "def count_greater(xs, k):\n    return sum(1 for x in xs if x > k)",
       [](uint64_t* s, int d) {
         json xs = IntList(s, d);
         return json::array({xs, UniformInt(s, -10 * d, 10 * d)});
       },
       [](const json& args) {
         int64_t n = 0;
         for (const json& x : args[0]) n += x.get<int64_t>() > args[1].get<int64_t>();
         return json(n);
       }},
      {"reverse_words", "s",
       "returns the words of the string `s` (separated by single spaces) in reverse order, "
       "joined by single spaces",
       "def reverse_words(s):\n    return ' '.join(reversed(s.split()))",
       [](uint64_t* s, int d) { return json::array({Words(s, d)}); },
       [](const json& args) {
         std::vector<std::string> words =
             absl::StrSplit(args[0].get<std::string>(), ' ', absl::SkipEmpty());
         std::reverse(words.begin(), words.end());
         return json(absl::StrJoin(words, " "));
       }},
      {"is_palindrome", "s",
       "returns True if the string `s` reads the same forwards and backwards, else False",
       "def is_palindrome(s):\n    return s == s[::-1]",
       [](uint64_t* s, int d) { return json::array({MaybePalindrome(s, d)}); },
       [](const json& args) {
         const std::string s = args[0].get<std::string>();
         return json(std::equal(s.begin(), s.end(), s.rbegin()));
       }},
      {"prefix_sums", "xs",
       "returns the list of running totals of the list of integers `xs` (the i-th element is "
       "xs[0] + ... + xs[i])",
       "def prefix_sums(xs):\n    out, total = [], 0\n    for x in xs:\n        total += x\n"
       "        out.append(total)\n    return out",
       [](uint64_t* s, int d) { return json::array({IntList(s, d)}); },
       [](const json& args) {
         json out = json::array();
         int64_t total = 0;
         for (const json& x : args[0]) out.push_back(total += x.get<int64_t>());
         return out;
       }},
  };
  return *families;
}

// A JSON value as a Python literal (ints, strings, bools, lists).
std::string PythonLiteral(const json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_array()) {
    std::vector<std::string> items;
    for (const json& x : v) items.push_back(PythonLiteral(x));
    return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
  }
  return v.dump();  // ints; strings as JSON (valid Python for these ASCII strings)
}

}  // namespace

absl::Status ValidateArithmeticOptions(const ArithmeticOptions& options) {
  if (options.difficulty < 1 || options.difficulty > 8) {
    return absl::InvalidArgumentError("arithmetic.difficulty must be in 1..8");
  }
  if (options.ops.empty()) return absl::InvalidArgumentError("arithmetic.ops is empty");
  for (const std::string& op : options.ops) {
    if (op != "+" && op != "-" && op != "*") {
      return absl::InvalidArgumentError(
          absl::StrCat("arithmetic.ops: unknown operation '", op, "' (+, -, *)"));
    }
  }
  if (options.answer_format != "boxed" && options.answer_format != "answer") {
    return absl::InvalidArgumentError("arithmetic.answer_format must be 'boxed' or 'answer'");
  }
  return absl::OkStatus();
}

absl::Status ValidateCodeTaskOptions(const CodeTaskOptions& options) {
  if (options.difficulty < 1 || options.difficulty > 3) {
    return absl::InvalidArgumentError("code_tasks.difficulty must be in 1..3");
  }
  if (options.num_tests < 1 || options.num_tests > 100) {
    return absl::InvalidArgumentError("code_tasks.num_tests must be in 1..100");
  }
  return absl::OkStatus();
}

Task MakeArithmeticTask(uint64_t seed, int64_t index, const ArithmeticOptions& options) {
  static const int kAddDigits[] = {1, 2, 3, 4, 5, 6, 8, 10};
  static const int kMulDigits[][2] = {{1, 1}, {2, 1}, {2, 2}, {3, 2},
                                      {3, 3}, {4, 3}, {4, 4}, {5, 5}};
  uint64_t state = TaskState(seed, index, 0xA7);
  const std::string op = options.ops[UniformBelow(&state, options.ops.size())];
  const int level = options.difficulty - 1;
  const int da = op == "*" ? kMulDigits[level][0] : kAddDigits[level];
  const int db = op == "*" ? kMulDigits[level][1] : kAddDigits[level];
  const int64_t a = Operand(&state, da);
  const int64_t b = Operand(&state, db);

  int64_t result;
  std::string work;
  if (op == "+") {
    result = a + b;
    work = AdditionWork(a, b);
  } else if (op == "-") {
    result = a - b;
    work = SubtractionWork(a, b);
  } else {
    result = a * b;
    work = MultiplicationWork(a, b);
  }
  const std::string value = std::to_string(result);

  Task task;
  task.id = absl::StrCat("arith-", seed, "-", index);
  task.prompt = absl::StrCat("Compute ", a, " ", op, " ", b, ". ",
                             options.answer_format == "answer"
                                 ? "End with \"Answer: \" followed by the number."
                                 : "Give the final answer as \\boxed{N}.");
  task.gold = value;
  task.verifier = "math";
  task.metadata = {
      {"source", "builtin/arithmetic"},
      {"difficulty", options.difficulty},
      {"op", op},
      {"reference_completion", absl::StrCat(work, FinalAnswer(options.answer_format, value))}};
  return task;
}

Task MakeCodeTask(uint64_t seed, int64_t index, const CodeTaskOptions& options) {
  uint64_t state = TaskState(seed, index, 0xC0DE);
  const CodeFamily& family = Families()[UniformBelow(&state, Families().size())];
  json cases = json::array();
  for (int i = 0; i < options.num_tests; ++i) {
    json args = family.make_args(&state, options.difficulty);
    cases.push_back({{"args", args}, {"expected", family.expected(args)}});
  }
  std::vector<std::string> example_args;
  for (const json& arg : cases[0]["args"]) example_args.push_back(PythonLiteral(arg));

  Task task;
  task.id = absl::StrCat("code-", seed, "-", index);
  task.prompt = absl::StrCat("Write a Python function `", family.fn, "(", family.signature,
                             ")` that ", family.description, ".\n\nFor example, ", family.fn, "(",
                             absl::StrJoin(example_args, ", "), ") returns ",
                             PythonLiteral(cases[0]["expected"]),
                             ".\n\nAnswer with the function in a ```python code block.");
  task.gold = family.solution;
  task.verifier = "code";
  task.spec = {{"tests", {{"type", "call"}, {"fn", family.fn}, {"cases", cases}}}};
  task.metadata = {{"source", "builtin/code"},
                   {"difficulty", options.difficulty},
                   {"family", family.fn},
                   {"reference_completion", absl::StrCat("```python\n", family.solution, "\n```")}};
  return task;
}

absl::StatusOr<std::vector<Task>> GenerateArithmeticTasks(uint64_t seed, int64_t count,
                                                          const ArithmeticOptions& options) {
  if (absl::Status s = ValidateArithmeticOptions(options); !s.ok()) return s;
  std::vector<Task> tasks;
  for (int64_t i = 0; i < count; ++i) tasks.push_back(MakeArithmeticTask(seed, i, options));
  return tasks;
}

absl::StatusOr<std::vector<Task>> GenerateCodeTasks(uint64_t seed, int64_t count,
                                                    const CodeTaskOptions& options) {
  if (absl::Status s = ValidateCodeTaskOptions(options); !s.ok()) return s;
  std::vector<Task> tasks;
  for (int64_t i = 0; i < count; ++i) tasks.push_back(MakeCodeTask(seed, i, options));
  return tasks;
}

std::vector<std::string> CodeTaskFamilies() {
  std::vector<std::string> names;
  for (const CodeFamily& f : Families()) names.push_back(f.fn);
  return names;
}

}  // namespace rlvr
