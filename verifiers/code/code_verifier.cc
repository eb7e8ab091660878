#include "verifiers/code/code_verifier.h"

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <future>
#include <map>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/status_macros.h"
#include "verifiers/code/compare.h"
#include "verifiers/code/harness.h"
#include "verifiers/code/task.h"

namespace rlvr {
namespace {

using code::CodeTask;
using code::Language;
using code::TestKind;
using sandbox::Outcome;
using sandbox::RunResult;

struct TestOutcome {
  std::string verdict;
  double time_s = 0.0;
};

struct Graded {
  std::vector<TestOutcome> tests;
  bool sentinel = true;  // assert/call: the harness finished; stdio: always true
  std::string fallback;  // the verdict when every test passed but the sentinel is missing
  std::string error;     // compiler output or sandbox message, for details
};

std::string Nonce() {
  static thread_local std::random_device rd;
  std::string out;
  for (int i = 0; i < 4; ++i) absl::StrAppend(&out, absl::Hex(rd(), absl::kZeroPad8));
  return out;
}

// The verdict a run's limit implies, or "" when no limit was hit.
std::string LimitVerdict(const RunResult& r) {
  switch (r.outcome) {
    case Outcome::kCpuLimit:
    case Outcome::kWallLimit:
      return "timeout";
    case Outcome::kMemoryLimit:
      return "memory_limit";
    case Outcome::kOutputLimit:
      return "output_limit";
    default:
      return "";
  }
}

std::string Truncate(const std::string& s, size_t n = 4096) {
  return s.size() <= n ? s : s.substr(0, n) + "\n...[truncated]";
}

// What the harness wrote on fd 3, keeping only lines carrying this run's nonce.
struct HarnessReport {
  int count = -1;
  struct Entry {
    std::string verdict;
    double cpu_s = 0.0;
    std::string value;  // call mode: the JSON result
  };
  std::map<int, Entry> tests;
  bool done = false;
  std::string bad_tests;
};

HarnessReport ParseReport(const std::string& report, const std::string& nonce) {
  HarnessReport out;
  const std::string prefix = nonce + " ";
  for (absl::string_view line : absl::StrSplit(report, '\n')) {
    if (!absl::ConsumePrefix(&line, prefix)) continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(' ', 4));
    if (f[0] == "done") {
      out.done = true;
    } else if (f[0] == "count" && f.size() >= 2) {
      int n;
      if (absl::SimpleAtoi(f[1], &n) && n >= 0 && n < 1000000) out.count = n;
    } else if (f[0] == "bad_tests" && f.size() >= 2) {
      out.bad_tests = std::string(line.substr(10));
      auto j = nlohmann::json::parse(out.bad_tests, nullptr, false);
      if (j.is_string()) out.bad_tests = j.get<std::string>();
    } else if (f[0] == "test" && f.size() >= 4) {
      int i;
      HarnessReport::Entry e;
      if (!absl::SimpleAtoi(f[1], &i) || out.tests.count(i)) continue;
      e.verdict = std::string(f[2]);
      absl::SimpleAtod(f[3], &e.cpu_s);
      if (f.size() == 5) e.value = std::string(f[4]);
      out.tests[i] = std::move(e);
    }
  }
  return out;
}

double Clamp(double v, double lo, double hi) { return std::max(lo, std::min(v, hi)); }

class Grader {
 public:
  Grader(const CodeVerifierOptions& o, sandbox::SandboxPool& pool, const CodeTask& task)
      : o_(o), pool_(pool), task_(task) {
    cpu_s_ = Clamp(task.timeout_s > 0 ? task.timeout_s : o.timeout_s, 0.05, o.max_timeout_s);
    memory_mb_ = std::min(task.memory_mb > 0 ? task.memory_mb : o.memory_mb, o.max_memory_mb);
  }

  // Python runs as `python3 -I -B`: isolated (no PYTHON* variables, no user site, no
  // script directory on sys.path) and writing no .pyc. Not -S, although skipping `site`
  // would save a few ms per run: the system's site-packages (e.g. Debian's python3-numpy)
  // stay importable, so a correct solution that imports them is not a runtime_error.
  absl::StatusOr<Graded> Grade() {
    if (task_.language == Language::kCpp) return GradeCpp();
    if (task_.kind == TestKind::kStdio)
      return GradeStdio({o_.python, "-I", "-B", "harness.py", "stdio"}, {});
    return GradePythonHarness();
  }

 private:
  sandbox::Limits BaseLimits(double cpu_s) const {
    sandbox::Limits l;
    l.cpu_s = cpu_s;
    l.memory_mb = memory_mb_;
    l.max_output_bytes = o_.max_output_bytes;
    return l;
  }

  size_t EstimatedTests() const {
    switch (task_.kind) {
      case TestKind::kStdio:
        return task_.stdio_cases.size();
      case TestKind::kCall:
        return task_.call_cases.size();
      case TestKind::kAssert:
        break;
    }
    if (!task_.entry_point.empty()) return 1;
    size_t n = 0;
    for (absl::string_view line : absl::StrSplit(task_.assert_code, '\n')) {
      if (absl::StartsWith(line, "assert")) ++n;
    }
    return std::max<size_t>(n, 1);
  }

  static Graded AllSame(size_t n, const std::string& verdict, const std::string& error) {
    Graded g;
    g.tests.assign(std::max<size_t>(n, 1), TestOutcome{verdict, 0.0});
    g.error = error;
    return g;
  }

  std::vector<sandbox::File> PythonFiles(const nlohmann::json& spec) const {
    return {{"harness.py", code::kPythonHarness, false},
            {"solution.py", task_.program, false},
            {"rlvr_spec.json", spec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
             false}};
  }

  // One process per case, run concurrently through the pool.
  absl::StatusOr<Graded> GradeStdio(std::vector<std::string> argv,
                                    std::vector<sandbox::File> files) {
    if (files.empty()) files = PythonFiles(nlohmann::json::object());
    std::vector<std::future<absl::StatusOr<RunResult>>> runs;
    for (const code::StdioCase& c : task_.stdio_cases) {
      sandbox::Program p;
      p.argv = argv;
      p.files = files;
      p.stdin_data = c.input;
      runs.push_back(pool_.Submit(std::move(p), BaseLimits(cpu_s_)));
    }
    Graded g;
    for (size_t i = 0; i < runs.size(); ++i) {
      absl::StatusOr<RunResult> r = runs[i].get();
      TestOutcome t;
      if (!r.ok()) {
        t.verdict = "sandbox_error";
        g.error = std::string(r.status().message());
      } else {
        t.time_s = r->cpu_s;
        t.verdict = LimitVerdict(*r);
        if (t.verdict.empty()) {
          if (r->report.find("memory") != std::string::npos) {
            t.verdict = "memory_limit";
          } else if (r->outcome != Outcome::kExited || r->exit_code != 0) {
            t.verdict = "runtime_error";
          } else if (!code::OutputsMatch(r->stdout_data, task_.stdio_cases[i].output,
                                         o_.float_tolerance)) {
            t.verdict = "wrong_answer";
          } else {
            t.verdict = "passed";
          }
        }
      }
      g.tests.push_back(t);
    }
    return g;
  }

  // Assert and call tests: one run of harness.py, per-test limits inside.
  absl::StatusOr<Graded> GradePythonHarness() {
    const size_t n = EstimatedTests();
    nlohmann::json spec = {{"cpu_s", cpu_s_}, {"wall_s", 2 * cpu_s_ + 1}};
    std::string mode;
    if (task_.kind == TestKind::kAssert) {
      mode = "assert";
      spec["code"] = task_.assert_code;
      spec["entry_point"] = task_.entry_point;
    } else {
      mode = "call";
      spec["fn"] = task_.fn;
      nlohmann::json cases = nlohmann::json::array();
      // Expected values stay outside the sandbox.
      for (const code::CallCase& c : task_.call_cases) cases.push_back({{"args", c.args}});
      spec["cases"] = cases;
    }
    const std::string nonce = Nonce();
    sandbox::Program p;
    p.argv = {o_.python, "-I", "-B", "harness.py", mode};
    p.files = PythonFiles(spec);
    p.stdin_data = nonce + "\n";
    absl::StatusOr<RunResult> r =
        pool_.Run(std::move(p), BaseLimits(cpu_s_ * static_cast<double>(n + 1) + 1.0));
    if (!r.ok()) return AllSame(n, "sandbox_error", std::string(r.status().message()));
    return FromReport(*r, nonce, n);
  }

  absl::StatusOr<Graded> FromReport(const RunResult& r, const std::string& nonce, size_t n) {
    HarnessReport rep = ParseReport(r.report, nonce);
    if (!rep.bad_tests.empty()) return absl::InvalidArgumentError(rep.bad_tests);
    if (rep.count >= 0) n = static_cast<size_t>(rep.count);
    Graded g;
    g.sentinel = rep.done;
    g.fallback = LimitVerdict(r);
    if (g.fallback.empty()) g.fallback = "runtime_error";
    if (!rep.done) g.error = Truncate(r.stderr_data);
    for (size_t i = 0; i < n; ++i) {
      auto it = rep.tests.find(static_cast<int>(i));
      if (it == rep.tests.end()) {
        g.tests.push_back({g.fallback, 0.0});
        continue;
      }
      TestOutcome t{it->second.verdict, it->second.cpu_s};
      if (t.verdict == "returned") {
        auto value = nlohmann::json::parse(it->second.value, nullptr, false);
        t.verdict =
            !value.is_discarded() && i < task_.call_cases.size() &&
                    code::ValuesMatch(value, task_.call_cases[i].expected, o_.float_tolerance)
                ? "passed"
                : "wrong_answer";
      }
      g.tests.push_back(t);
    }
    return g;
  }

  absl::StatusOr<Graded> GradeCpp() {
    const bool assert_mode = task_.kind == TestKind::kAssert;
    const size_t n = EstimatedTests();
    sandbox::Program compile;
    compile.argv = {o_.cxx};
    for (const std::string& f : o_.cxx_flags) compile.argv.push_back(f);
    if (assert_mode) compile.argv.push_back("-Dmain=rlvr_user_main");
    compile.argv.insert(compile.argv.end(), {"-o", "prog", "solution.cpp"});
    std::string source = task_.program;
    if (assert_mode) {
      source += "\n" + task_.assert_code + "\n";
      compile.argv.push_back("rlvr_harness.cpp");
      compile.files.push_back({"rlvr_harness.cpp", code::kCppHarness, false});
    }
    compile.files.push_back({"solution.cpp", source, false});
    compile.output_files = {"prog"};
    sandbox::Limits cl = BaseLimits(o_.compile_timeout_s);
    cl.memory_mb = o_.compile_memory_mb;
    cl.address_space_mb = -1;
    cl.file_size_mb = 256;
    cl.workdir_mb = 512;
    cl.max_report_bytes = 256 << 20;
    absl::StatusOr<RunResult> built = pool_.Run(std::move(compile), cl);
    if (!built.ok()) return AllSame(n, "sandbox_error", std::string(built.status().message()));
    auto prog = built->output_files.find("prog");
    if (built->outcome != Outcome::kExited || built->exit_code != 0 ||
        prog == built->output_files.end()) {
      std::string why =
          built->outcome == Outcome::kExited
              ? built->stderr_data
              : absl::StrCat("compiler stopped: ", sandbox::OutcomeName(built->outcome), "\n",
                             built->stderr_data);
      return AllSame(n, "compile_error", Truncate(why));
    }
    std::vector<sandbox::File> files = {{"prog", prog->second, true}};
    if (!assert_mode) return GradeStdio({"./prog"}, files);

    const std::string nonce = Nonce();
    sandbox::Program p;
    p.argv = {"./prog"};
    p.files = files;
    p.stdin_data = nonce + "\n";
    absl::StatusOr<RunResult> r = pool_.Run(std::move(p), BaseLimits(cpu_s_));
    if (!r.ok()) return AllSame(1, "sandbox_error", std::string(r.status().message()));
    HarnessReport rep = ParseReport(r->report, nonce);
    Graded g;
    g.sentinel = rep.done;
    std::string verdict = LimitVerdict(*r);
    if (verdict.empty()) {
      if (rep.done) {
        verdict = "passed";
      } else if (r->signal == SIGABRT && r->stderr_data.find("Assertion") != std::string::npos) {
        verdict = "wrong_answer";
      } else {
        verdict = "runtime_error";
      }
    }
    if (verdict != "passed") g.error = Truncate(r->stderr_data);
    g.fallback = verdict == "passed" ? "runtime_error" : verdict;
    g.tests.push_back({verdict, r->cpu_s});
    return g;
  }

  const CodeVerifierOptions& o_;
  sandbox::SandboxPool& pool_;
  const CodeTask& task_;
  double cpu_s_;
  int64_t memory_mb_;
};

template <typename T>
absl::Status Get(const nlohmann::json& j, const char* key, T* out, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) return absl::OkStatus();
  try {
    *out = it->get<T>();
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(where, key, ": ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CodeVerifierOptions> CodeVerifierOptionsFromJson(const nlohmann::json& config) {
  CodeVerifierOptions o;
  if (config.is_null()) return o;
  if (!config.is_object())
    return absl::InvalidArgumentError("code verifier config: expected an object");
  static const char* kKeys[] = {"sandbox",
                                "workers",
                                "reward",
                                "timeout_s",
                                "memory_mb",
                                "max_timeout_s",
                                "max_memory_mb",
                                "float_tolerance",
                                "max_output_bytes",
                                "python",
                                "cxx",
                                "cxx_flags",
                                "compile_timeout_s",
                                "compile_memory_mb",
                                "name",
                                "type"};
  for (auto it = config.begin(); it != config.end(); ++it) {
    if (std::find_if(std::begin(kKeys), std::end(kKeys),
                     [&](const char* k) { return it.key() == k; }) == std::end(kKeys)) {
      return absl::InvalidArgumentError(
          absl::StrCat("verifier.", it.key(), ": unknown key for the code verifier"));
    }
  }
  const std::string w = "verifier.";
  RETURN_IF_ERROR(Get(config, "workers", &o.workers, w));
  std::string reward = "all_or_nothing";
  RETURN_IF_ERROR(Get(config, "reward", &reward, w));
  if (reward != "all_or_nothing" && reward != "fraction") {
    return absl::InvalidArgumentError(
        "verifier.reward: expected \"all_or_nothing\" or \"fraction\"");
  }
  o.fraction_reward = reward == "fraction";
  RETURN_IF_ERROR(Get(config, "timeout_s", &o.timeout_s, w));
  RETURN_IF_ERROR(Get(config, "memory_mb", &o.memory_mb, w));
  RETURN_IF_ERROR(Get(config, "max_timeout_s", &o.max_timeout_s, w));
  RETURN_IF_ERROR(Get(config, "max_memory_mb", &o.max_memory_mb, w));
  RETURN_IF_ERROR(Get(config, "float_tolerance", &o.float_tolerance, w));
  RETURN_IF_ERROR(Get(config, "max_output_bytes", &o.max_output_bytes, w));
  RETURN_IF_ERROR(Get(config, "python", &o.python, w));
  RETURN_IF_ERROR(Get(config, "cxx", &o.cxx, w));
  RETURN_IF_ERROR(Get(config, "cxx_flags", &o.cxx_flags, w));
  RETURN_IF_ERROR(Get(config, "compile_timeout_s", &o.compile_timeout_s, w));
  RETURN_IF_ERROR(Get(config, "compile_memory_mb", &o.compile_memory_mb, w));
  if (o.timeout_s <= 0 || o.memory_mb <= 0 || o.float_tolerance < 0 || o.max_output_bytes <= 0) {
    return absl::InvalidArgumentError(
        "verifier: timeout_s, memory_mb and max_output_bytes must be positive, float_tolerance >= "
        "0");
  }
  if (auto it = config.find("sandbox"); it != config.end()) {
    const nlohmann::json& s = *it;
    if (!s.is_object()) return absl::InvalidArgumentError("verifier.sandbox: expected an object");
    static const char* kSandboxKeys[] = {"allow_degraded", "init_path",    "ro_binds",
                                         "dev_nodes",      "host_uid",     "host_gid",
                                         "use_cgroups",    "cgroup_parent"};
    for (auto k = s.begin(); k != s.end(); ++k) {
      if (std::find_if(std::begin(kSandboxKeys), std::end(kSandboxKeys),
                       [&](const char* x) { return k.key() == x; }) == std::end(kSandboxKeys)) {
        return absl::InvalidArgumentError(
            absl::StrCat("verifier.sandbox.", k.key(), ": unknown key"));
      }
    }
    const std::string ws = "verifier.sandbox.";
    RETURN_IF_ERROR(Get(s, "allow_degraded", &o.sandbox.allow_degraded, ws));
    RETURN_IF_ERROR(Get(s, "init_path", &o.sandbox.init_path, ws));
    RETURN_IF_ERROR(Get(s, "ro_binds", &o.sandbox.ro_binds, ws));
    RETURN_IF_ERROR(Get(s, "dev_nodes", &o.sandbox.dev_nodes, ws));
    RETURN_IF_ERROR(Get(s, "host_uid", &o.sandbox.host_uid, ws));
    RETURN_IF_ERROR(Get(s, "host_gid", &o.sandbox.host_gid, ws));
    RETURN_IF_ERROR(Get(s, "use_cgroups", &o.sandbox.use_cgroups, ws));
    RETURN_IF_ERROR(Get(s, "cgroup_parent", &o.sandbox.cgroup_parent, ws));
  }
  return o;
}

CodeVerifier::CodeVerifier(const CodeVerifierOptions& options,
                           std::unique_ptr<sandbox::Sandbox> sandbox)
    : options_(options),
      sandbox_(std::move(sandbox)),
      pool_(std::make_unique<sandbox::SandboxPool>(sandbox_.get(), options.workers)) {}

CodeVerifier::~CodeVerifier() = default;

absl::StatusOr<std::unique_ptr<CodeVerifier>> CodeVerifier::Create(
    const CodeVerifierOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<sandbox::Sandbox> sb, sandbox::Sandbox::Create(options.sandbox));
  return std::unique_ptr<CodeVerifier>(new CodeVerifier(options, std::move(sb)));
}

absl::StatusOr<Reward> CodeVerifier::Verify(const VerifyRequest& request) const {
  ASSIGN_OR_RETURN(CodeTask task, code::ParseCodeTask(request.completion, request.spec));
  Grader grader(options_, *pool_, task);
  ASSIGN_OR_RETURN(Graded g, grader.Grade());
  Reward reward;
  nlohmann::json tests = nlohmann::json::array();
  size_t passed = 0;
  for (const TestOutcome& t : g.tests) {
    passed += t.verdict == "passed";
    tests.push_back({{"verdict", t.verdict}, {"time_s", std::round(t.time_s * 1e4) / 1e4}});
  }
  const bool all = !g.tests.empty() && passed == g.tests.size() && g.sentinel;
  if (all) {
    reward.verdict = "passed";
  } else {
    reward.verdict = g.fallback.empty() ? "runtime_error" : g.fallback;
    for (const TestOutcome& t : g.tests) {
      if (t.verdict != "passed") {
        reward.verdict = t.verdict;
        break;
      }
    }
  }
  reward.score = options_.fraction_reward
                     ? (g.tests.empty() ? 0.0 : static_cast<double>(passed) / g.tests.size())
                     : (all ? 1.0 : 0.0);
  reward.details["tests"] = std::move(tests);
  if (!g.error.empty() && !all) reward.details["error"] = g.error;
  return reward;
}

absl::Status RegisterCodeVerifier(VerifierRegistry& registry) {
  return registry.Register(
      "code", [](const nlohmann::json& config) -> absl::StatusOr<std::unique_ptr<Verifier>> {
        ASSIGN_OR_RETURN(CodeVerifierOptions options, CodeVerifierOptionsFromJson(config));
        ASSIGN_OR_RETURN(std::unique_ptr<CodeVerifier> v, CodeVerifier::Create(options));
        return std::unique_ptr<Verifier>(std::move(v));
      });
}

}  // namespace rlvr
