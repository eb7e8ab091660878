#include "verifiers/math/equivalence.h"

#include <ginac/ginac.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

namespace rlvr::math {
namespace {

using Clock = std::chrono::steady_clock;
using C = std::complex<double>;

struct Ctx {
  const EquivalenceOptions& options;
  Clock::time_point deadline;
  bool TimedOut() const { return Clock::now() > deadline; }
};

Comparison CompareImpl(const Node& g, const Node& p, const struct Ctx& ctx);

Comparison Equal(const char* stage) { return {Outcome::kEqual, stage}; }
Comparison Unequal(const char* stage) { return {Outcome::kUnequal, stage}; }
Comparison Timeout() { return {Outcome::kTimeout, "budget"}; }

Node MakeNode(NodeKind kind, std::vector<Node> children, std::string text = "") {
  Node n;
  n.kind = kind;
  n.children = std::move(children);
  n.text = std::move(text);
  return n;
}

// ---------------------------------------------------------------------------
// Tree queries.

void CollectSymbols(const Node& n, std::set<std::string>* out) {
  if (n.kind == NodeKind::kSymbol) out->insert(n.text);
  for (const Node& c : n.children) CollectSymbols(c, out);
}

bool Contains(const Node& n, NodeKind kind, const char* text = nullptr) {
  if (n.kind == kind && (text == nullptr || n.text == text)) return true;
  for (const Node& c : n.children)
    if (Contains(c, kind, text)) return true;
  return false;
}

bool IsScalarKind(NodeKind k) {
  switch (k) {
    case NodeKind::kNumber:
    case NodeKind::kSymbol:
    case NodeKind::kConstant:
    case NodeKind::kAdd:
    case NodeKind::kMul:
    case NodeKind::kNeg:
    case NodeKind::kDiv:
    case NodeKind::kPow:
    case NodeKind::kFunc:
    case NodeKind::kFactorial:
    case NodeKind::kBinom:
      return true;
    default:
      return false;
  }
}

// True if every node is scalar (no sets, relations, text inside arithmetic).
bool IsScalar(const Node& n) {
  if (!IsScalarKind(n.kind)) return false;
  for (const Node& c : n.children)
    if (!IsScalar(c)) return false;
  return true;
}

// ---------------------------------------------------------------------------
// Stage 1: exact rationals in 64 bits (no allocation, no lock).

struct Q {
  int64_t n = 0;
  int64_t d = 1;
};

int64_t Gcd(int64_t a, int64_t b) {
  a = a < 0 ? -a : a;
  b = b < 0 ? -b : b;
  while (b != 0) {
    int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

bool MakeQ(__int128 n, __int128 d, Q* out) {
  if (d == 0) return false;
  if (d < 0) {
    n = -n;
    d = -d;
  }
  __int128 a = n < 0 ? -n : n, b = d;
  while (b != 0) {
    __int128 t = a % b;
    a = b;
    b = t;
  }
  if (a > 1) {
    n /= a;
    d /= a;
  }
  const __int128 kMax = INT64_MAX;
  if (n > kMax || n < -kMax || d > kMax) return false;
  out->n = static_cast<int64_t>(n);
  out->d = static_cast<int64_t>(d);
  return true;
}

bool ParseDecimal(const std::string& text, Q* out) {
  // [-]digits[.digits][e[+-]digits]
  size_t i = 0;
  bool neg = false;
  if (i < text.size() && text[i] == '-') {
    neg = true;
    ++i;
  }
  __int128 num = 0, den = 1;
  const __int128 kLimit = static_cast<__int128>(1) << 100;
  bool any = false;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    num = num * 10 + (text[i] - '0');
    any = true;
    if (num > kLimit) return false;
  }
  if (i < text.size() && text[i] == '.') {
    for (++i; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      num = num * 10 + (text[i] - '0');
      den *= 10;
      any = true;
      if (num > kLimit || den > kLimit) return false;
    }
  }
  if (!any) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) eneg = text[i++] == '-';
    int e = 0;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      e = e * 10 + (text[i] - '0');
      if (e > 30) return false;
    }
    for (int k = 0; k < e; ++k) {
      if (eneg) {
        den *= 10;
      } else {
        num *= 10;
      }
      if (num > kLimit || den > kLimit) return false;
    }
  }
  if (i != text.size()) return false;
  return MakeQ(neg ? -num : num, den, out);
}

bool EvalQ(const Node& n, Q* out, int depth = 0) {
  if (depth > 100) return false;
  switch (n.kind) {
    case NodeKind::kNumber:
      return ParseDecimal(n.text, out);
    case NodeKind::kNeg: {
      if (!EvalQ(n.children[0], out, depth + 1)) return false;
      out->n = -out->n;
      return true;
    }
    case NodeKind::kAdd: {
      Q acc{0, 1};
      for (const Node& c : n.children) {
        Q x;
        if (!EvalQ(c, &x, depth + 1)) return false;
        if (!MakeQ(static_cast<__int128>(acc.n) * x.d + static_cast<__int128>(x.n) * acc.d,
                   static_cast<__int128>(acc.d) * x.d, &acc))
          return false;
      }
      *out = acc;
      return true;
    }
    case NodeKind::kMul: {
      Q acc{1, 1};
      for (const Node& c : n.children) {
        Q x;
        if (!EvalQ(c, &x, depth + 1)) return false;
        if (!MakeQ(static_cast<__int128>(acc.n) * x.n, static_cast<__int128>(acc.d) * x.d, &acc))
          return false;
      }
      *out = acc;
      return true;
    }
    case NodeKind::kDiv: {
      Q a, b;
      if (!EvalQ(n.children[0], &a, depth + 1) || !EvalQ(n.children[1], &b, depth + 1))
        return false;
      if (b.n == 0) return false;
      return MakeQ(static_cast<__int128>(a.n) * b.d, static_cast<__int128>(a.d) * b.n, out);
    }
    case NodeKind::kPow: {
      Q b, e;
      if (!EvalQ(n.children[0], &b, depth + 1) || !EvalQ(n.children[1], &e, depth + 1))
        return false;
      if (e.d != 1 || e.n > 64 || e.n < -64) return false;
      if (b.n == 0 && e.n <= 0) return false;
      Q acc{1, 1};
      for (int64_t k = 0; k < (e.n < 0 ? -e.n : e.n); ++k) {
        if (!MakeQ(static_cast<__int128>(acc.n) * b.n, static_cast<__int128>(acc.d) * b.d, &acc))
          return false;
      }
      if (e.n < 0) {
        if (acc.n == 0) return false;
        return MakeQ(acc.d, acc.n, out);
      }
      *out = acc;
      return true;
    }
    case NodeKind::kFactorial: {
      Q a;
      if (!EvalQ(n.children[0], &a, depth + 1) || a.d != 1 || a.n < 0 || a.n > 20) return false;
      int64_t f = 1;
      for (int64_t k = 2; k <= a.n; ++k) f *= k;
      *out = {f, 1};
      return true;
    }
    case NodeKind::kBinom: {
      Q a, b;
      if (!EvalQ(n.children[0], &a, depth + 1) || !EvalQ(n.children[1], &b, depth + 1) ||
          a.d != 1 || b.d != 1 || a.n < 0 || a.n > 60)
        return false;
      if (b.n < 0 || b.n > a.n) {
        *out = {0, 1};
        return true;
      }
      __int128 r = 1;
      for (int64_t k = 1; k <= b.n; ++k) r = r * (a.n - b.n + k) / k;
      return MakeQ(r, 1, out);
    }
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------
// Stage 2: complex floating evaluation.

using Env = std::map<std::string, C>;

bool IsRealInt(C z, double* v) {
  if (z.imag() != 0 || std::floor(z.real()) != z.real() || std::fabs(z.real()) > 1e15) return false;
  *v = z.real();
  return true;
}

C Pow(C b, C e) {
  double k;
  if (IsRealInt(e, &k) && b.imag() == 0) return C(std::pow(b.real(), k), 0);
  if (b.imag() == 0 && b.real() > 0 && e.imag() == 0) return C(std::pow(b.real(), e.real()), 0);
  if (IsRealInt(e, &k) && std::fabs(k) <= 64) {
    C acc = 1;
    for (int j = 0; j < std::fabs(k); ++j) acc *= b;
    return k < 0 ? C(1) / acc : acc;
  }
  return std::pow(b, e);
}

bool EvalC(const Node& n, const Env& env, C* out, int depth = 0) {
  if (depth > 200) return false;
  auto arg = [&](size_t k, C* v) { return EvalC(n.children[k], env, v, depth + 1); };
  switch (n.kind) {
    case NodeKind::kNumber: {
      char* end = nullptr;
      double v = std::strtod(n.text.c_str(), &end);
      if (end == nullptr || *end != '\0') return false;
      *out = v;
      return true;
    }
    case NodeKind::kSymbol: {
      auto it = env.find(n.text);
      if (it == env.end()) return false;
      *out = it->second;
      return true;
    }
    case NodeKind::kConstant:
      if (n.text == "pi") *out = M_PI;
      if (n.text == "e") *out = M_E;
      if (n.text == "i") *out = C(0, 1);
      if (n.text == "inf") *out = HUGE_VAL;
      return true;
    case NodeKind::kNeg:
      if (!arg(0, out)) return false;
      *out = -*out;
      return true;
    case NodeKind::kAdd: {
      C acc = 0;
      for (size_t k = 0; k < n.children.size(); ++k) {
        C v;
        if (!arg(k, &v)) return false;
        acc += v;
      }
      *out = acc;
      return true;
    }
    case NodeKind::kMul: {
      C acc = 1;
      for (size_t k = 0; k < n.children.size(); ++k) {
        C v;
        if (!arg(k, &v)) return false;
        acc *= v;
      }
      *out = acc;
      return true;
    }
    case NodeKind::kDiv: {
      C a, b;
      if (!arg(0, &a) || !arg(1, &b)) return false;
      *out = a / b;
      return true;
    }
    case NodeKind::kPow: {
      C a, b;
      if (!arg(0, &a) || !arg(1, &b)) return false;
      *out = Pow(a, b);
      return true;
    }
    case NodeKind::kFactorial: {
      C a;
      if (!arg(0, &a) || a.imag() != 0) return false;
      *out = std::tgamma(a.real() + 1);
      return true;
    }
    case NodeKind::kBinom: {
      C a, b;
      if (!arg(0, &a) || !arg(1, &b) || a.imag() != 0 || b.imag() != 0) return false;
      *out = std::exp(std::lgamma(a.real() + 1) - std::lgamma(b.real() + 1) -
                      std::lgamma(a.real() - b.real() + 1));
      return true;
    }
    case NodeKind::kFunc: {
      std::vector<C> v(n.children.size());
      for (size_t k = 0; k < v.size(); ++k)
        if (!arg(k, &v[k])) return false;
      if (v.empty()) return false;
      const std::string& f = n.text;
      const C x = v[0];
      if (f == "sqrt")
        *out = (x.imag() == 0 && x.real() >= 0) ? C(std::sqrt(x.real())) : std::sqrt(x);
      else if (f == "root") {
        double k;
        if (v.size() != 2 || !IsRealInt(v[1], &k) || k == 0) return false;
        if (x.imag() == 0 && x.real() < 0 && std::fmod(std::fabs(k), 2.0) == 1.0)
          *out = -std::pow(-x.real(), 1.0 / k);
        else
          *out = Pow(x, C(1.0 / k));
      } else if (f == "sin")
        *out = std::sin(x);
      else if (f == "cos")
        *out = std::cos(x);
      else if (f == "tan")
        *out = std::tan(x);
      else if (f == "cot")
        *out = C(1) / std::tan(x);
      else if (f == "sec")
        *out = C(1) / std::cos(x);
      else if (f == "csc")
        *out = C(1) / std::sin(x);
      else if (f == "asin")
        *out = std::asin(x);
      else if (f == "acos")
        *out = std::acos(x);
      else if (f == "atan")
        *out = std::atan(x);
      else if (f == "acot")
        *out = std::atan(C(1) / x);
      else if (f == "sinh")
        *out = std::sinh(x);
      else if (f == "cosh")
        *out = std::cosh(x);
      else if (f == "tanh")
        *out = std::tanh(x);
      else if (f == "exp")
        *out = std::exp(x);
      else if (f == "abs")
        *out = std::abs(x);
      else if (f == "ln" || f == "log") {
        *out = std::log(x);
        if (v.size() == 2) *out /= std::log(v[1]);
      } else if (f == "lg")
        *out = std::log10(x);
      else
        return false;
      return true;
    }
    default:
      return false;
  }
}

// Deterministic sample value for variable #k at point #p (no RNG state: reproducible).
double SampleValue(int k, int p) {
  static const double kBase[] = {0.7390851332, 1.3247179572, 0.5671432904, 1.6180339887,
                                 0.9159655942, 1.2020569031, 0.4142135624, 2.0287578381};
  double v = kBase[(k + 3 * p) % 8] + 0.173 * k + 0.0619 * p;
  if (p >= 3 && (k + p) % 2 == 0) v = -v;  // later points probe negative values
  return v;
}

constexpr int kPoints = 5;

enum class PointResult { kAgree, kDiffer, kUnreliable };

PointResult ComparePoint(C a, C b, double tol) {
  if (!std::isfinite(a.real()) || !std::isfinite(a.imag()) || !std::isfinite(b.real()) ||
      !std::isfinite(b.imag()))
    return PointResult::kUnreliable;
  const double ma = std::abs(a), mb = std::abs(b);
  const double m = std::max(ma, mb);
  if (m > 1e250) return PointResult::kUnreliable;
  const double kTiny = 1e-10;
  if (ma < kTiny && mb < kTiny) return PointResult::kUnreliable;  // cancellation noise
  const double diff = std::abs(a - b);
  if (diff <= tol * m) return PointResult::kAgree;
  // A clear difference: beyond any double rounding noise.
  if (diff > std::max(tol, 1e-7) * m) return PointResult::kDiffer;
  return PointResult::kUnreliable;
}

// ---------------------------------------------------------------------------
// Stage 3: GiNaC, under one lock and a size budget.

std::mutex& GinacMutex() {
  static std::mutex* m = new std::mutex();
  return *m;
}

struct BudgetExceeded {};
struct Unsupported {};

class GinacBuilder {
 public:
  explicit GinacBuilder(const Ctx& ctx) : ctx_(ctx) {}

  GiNaC::ex Build(const Node& n) {
    if (++visited_ % 64 == 0 && ctx_.TimedOut()) throw BudgetExceeded{};
    switch (n.kind) {
      case NodeKind::kNumber:
        return Number(n.text);
      case NodeKind::kSymbol: {
        auto it = symbols_.find(n.text);
        if (it == symbols_.end()) it = symbols_.emplace(n.text, GiNaC::realsymbol(n.text)).first;
        return it->second;
      }
      case NodeKind::kConstant:
        if (n.text == "pi") return GiNaC::Pi;
        if (n.text == "e") return GiNaC::exp(GiNaC::ex(1));
        if (n.text == "i") return GiNaC::I;
        throw Unsupported{};
      case NodeKind::kNeg:
        return -Build(n.children[0]);
      case NodeKind::kAdd: {
        GiNaC::ex acc = 0;
        for (const Node& c : n.children) acc += Build(c);
        return acc;
      }
      case NodeKind::kMul: {
        GiNaC::ex acc = 1;
        for (const Node& c : n.children) acc *= Build(c);
        return acc;
      }
      case NodeKind::kDiv: {
        GiNaC::ex den = Build(n.children[1]);
        if (den.is_zero()) throw Unsupported{};
        return Build(n.children[0]) / den;
      }
      case NodeKind::kPow:
        return Power(Build(n.children[0]), Build(n.children[1]));
      case NodeKind::kFactorial: {
        GiNaC::ex a = Build(n.children[0]);
        if (!GiNaC::is_a<GiNaC::numeric>(a)) return GiNaC::factorial(a);
        const GiNaC::numeric& k = GiNaC::ex_to<GiNaC::numeric>(a);
        if (!k.is_nonneg_integer()) throw Unsupported{};
        // log2(k!) ~ k log2 k
        const double kd = k.to_double();
        if (kd * std::log2(std::max(2.0, kd)) > ctx_.options.max_number_bits)
          throw BudgetExceeded{};
        return GiNaC::factorial(k);
      }
      case NodeKind::kBinom: {
        GiNaC::ex a = Build(n.children[0]), b = Build(n.children[1]);
        if (GiNaC::is_a<GiNaC::numeric>(a) && GiNaC::is_a<GiNaC::numeric>(b)) {
          const GiNaC::numeric& na = GiNaC::ex_to<GiNaC::numeric>(a);
          const GiNaC::numeric& nb = GiNaC::ex_to<GiNaC::numeric>(b);
          if (!na.is_integer() || !nb.is_integer()) throw Unsupported{};
          if (std::fabs(na.to_double()) > ctx_.options.max_number_bits) throw BudgetExceeded{};
          return GiNaC::binomial(na, nb);
        }
        return GiNaC::binomial(a, b);
      }
      case NodeKind::kFunc:
        return Function(n);
      default:
        throw Unsupported{};
    }
  }

 private:
  GiNaC::ex Number(const std::string& text) {
    size_t i = 0;
    bool neg = false;
    if (i < text.size() && text[i] == '-') {
      neg = true;
      ++i;
    }
    std::string digits;
    int scale = 0;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i)
      digits += text[i];
    if (i < text.size() && text[i] == '.') {
      for (++i; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
        digits += text[i];
        ++scale;
      }
    }
    long exp10 = 0;
    if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
      ++i;
      bool eneg = false;
      if (i < text.size() && (text[i] == '-' || text[i] == '+')) eneg = text[i++] == '-';
      for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
        exp10 = exp10 * 10 + (text[i] - '0');
        if (exp10 > 100000) throw BudgetExceeded{};
      }
      if (eneg) exp10 = -exp10;
    }
    if (digits.empty() || digits.size() > 20000) throw Unsupported{};
    size_t nz = digits.find_first_not_of('0');
    digits = nz == std::string::npos ? "0" : digits.substr(nz);
    GiNaC::numeric v(digits.c_str());
    exp10 -= scale;
    if (exp10 != 0) v *= GiNaC::numeric(10).power(GiNaC::numeric(exp10));
    return neg ? -v : v;
  }

  GiNaC::ex Power(const GiNaC::ex& b, const GiNaC::ex& e) {
    if (GiNaC::is_a<GiNaC::numeric>(e)) {
      const GiNaC::numeric& ne = GiNaC::ex_to<GiNaC::numeric>(e);
      const double mag = std::fabs(ne.real().to_double());
      if (GiNaC::is_a<GiNaC::numeric>(b)) {
        const GiNaC::numeric& nb = GiNaC::ex_to<GiNaC::numeric>(b);
        if (nb.is_zero() && ne.is_real() && ne.is_negative()) throw Unsupported{};
        if (nb.is_rational()) {
          const double bits = std::max(nb.numer().int_length(), nb.denom().int_length());
          if (mag * bits > ctx_.options.max_number_bits) throw BudgetExceeded{};
        }
      } else if (mag > 10000) {
        throw BudgetExceeded{};
      }
    }
    return GiNaC::pow(b, e);
  }

  GiNaC::ex Function(const Node& n) {
    std::vector<GiNaC::ex> a;
    for (const Node& c : n.children) a.push_back(Build(c));
    if (a.empty()) throw Unsupported{};
    const std::string& f = n.text;
    const GiNaC::ex& x = a[0];
    if (f == "sqrt") return GiNaC::sqrt(x);
    if (f == "root") {
      if (a.size() != 2 || !GiNaC::is_a<GiNaC::numeric>(a[1])) throw Unsupported{};
      const GiNaC::numeric& k = GiNaC::ex_to<GiNaC::numeric>(a[1]);
      if (!k.is_integer() || k.is_zero()) throw Unsupported{};
      if (GiNaC::is_a<GiNaC::numeric>(x) && k.is_odd() &&
          GiNaC::ex_to<GiNaC::numeric>(x).is_real() &&
          GiNaC::ex_to<GiNaC::numeric>(x).is_negative())
        return -GiNaC::pow(-x, GiNaC::numeric(1) / k);
      return GiNaC::pow(x, GiNaC::numeric(1) / k);
    }
    if (f == "sin") return GiNaC::sin(x);
    if (f == "cos") return GiNaC::cos(x);
    if (f == "tan") return GiNaC::tan(x);
    if (f == "cot") return 1 / GiNaC::tan(x);
    if (f == "sec") return 1 / GiNaC::cos(x);
    if (f == "csc") return 1 / GiNaC::sin(x);
    if (f == "asin") return GiNaC::asin(x);
    if (f == "acos") return GiNaC::acos(x);
    if (f == "atan") return GiNaC::atan(x);
    if (f == "acot") return GiNaC::atan(1 / x);
    if (f == "sinh") return GiNaC::sinh(x);
    if (f == "cosh") return GiNaC::cosh(x);
    if (f == "tanh") return GiNaC::tanh(x);
    if (f == "exp") return GiNaC::exp(x);
    if (f == "abs") return GiNaC::abs(x);
    if (f == "ln" || f == "log") {
      if (a.size() == 2) return GiNaC::log(x) / GiNaC::log(a[1]);
      return GiNaC::log(x);
    }
    if (f == "lg") return GiNaC::log(x) / GiNaC::log(GiNaC::ex(10));
    throw Unsupported{};
  }

  const Ctx& ctx_;
  std::map<std::string, GiNaC::ex> symbols_;
  int visited_ = 0;
};

// Upper bound on the number of terms after expanding `n`.
double TermEstimate(const Node& n) {
  switch (n.kind) {
    case NodeKind::kAdd: {
      double t = 0;
      for (const Node& c : n.children) t += TermEstimate(c);
      return t;
    }
    case NodeKind::kMul: {
      double t = 1;
      for (const Node& c : n.children) t *= TermEstimate(c);
      return std::min(t, 1e18);
    }
    case NodeKind::kNeg:
      return TermEstimate(n.children[0]);
    case NodeKind::kDiv:
      return TermEstimate(n.children[0]) * TermEstimate(n.children[1]);
    case NodeKind::kPow: {
      const double base = TermEstimate(n.children[0]);
      if (base <= 1) return 1;
      Q e;
      if (!EvalQ(n.children[1], &e) || e.d != 1) return base;
      const double k = std::fabs(static_cast<double>(e.n));
      // C(k + base - 1, base - 1) via lgamma.
      return std::min(1e18,
                      std::exp(std::lgamma(k + base) - std::lgamma(k + 1) - std::lgamma(base)));
    }
    default:
      return 1;
  }
}

// kUndecided: GiNaC cannot express it; kBudget: over the size budget; kTimeout: deadline.
enum class SymResult { kZero, kNonzeroRational, kNonzeroOther, kUndecided, kBudget, kTimeout };

// Decides whether gold - pred is identically zero. For constants (no symbols) also
// compares 40-digit values with the relative tolerance (`*close` set when within it).
SymResult SymbolicDifference(const Node& g, const Node& p, const Ctx& ctx, bool* close) {
  *close = false;
  if (CountNodes(g) + CountNodes(p) > ctx.options.max_nodes) return SymResult::kBudget;
  const bool expandable = TermEstimate(g) + TermEstimate(p) <= ctx.options.max_expand_terms;
  // Time spent waiting for the lock is not charged to this comparison.
  const Clock::duration remaining = ctx.deadline - Clock::now();
  std::lock_guard<std::mutex> lock(GinacMutex());
  const Ctx local{ctx.options, Clock::now() + remaining};
  try {
    GinacBuilder builder(local);
    GiNaC::ex a = builder.Build(g);
    GiNaC::ex b = builder.Build(p);
    GiNaC::ex d = a - b;
    if (local.TimedOut()) return SymResult::kTimeout;
    if (expandable && !d.is_zero()) d = d.expand();
    if (local.TimedOut()) return SymResult::kTimeout;
    if (expandable && !d.is_zero() && !GiNaC::is_a<GiNaC::numeric>(d)) d = d.normal();
    if (local.TimedOut()) return SymResult::kTimeout;
    if (d.is_zero()) return SymResult::kZero;
    if (GiNaC::is_a<GiNaC::numeric>(d) && GiNaC::ex_to<GiNaC::numeric>(d).is_rational() &&
        GiNaC::is_a<GiNaC::numeric>(a) && GiNaC::is_a<GiNaC::numeric>(b))
      return SymResult::kNonzeroRational;
    if (GiNaC::is_a<GiNaC::numeric>(d) && GiNaC::ex_to<GiNaC::numeric>(d).is_rational()) {
      // e.g. x+1 vs x: a nonzero constant difference.
      return SymResult::kNonzeroRational;
    }
    // Constants: 40-digit values with the relative tolerance.
    GiNaC::Digits = 40;
    GiNaC::ex va = GiNaC::evalf(a), vb = GiNaC::evalf(b);
    if (local.TimedOut()) return SymResult::kTimeout;
    if (GiNaC::is_a<GiNaC::numeric>(va) && GiNaC::is_a<GiNaC::numeric>(vb)) {
      const GiNaC::numeric na = GiNaC::ex_to<GiNaC::numeric>(va);
      const GiNaC::numeric nb = GiNaC::ex_to<GiNaC::numeric>(vb);
      const GiNaC::numeric diff = GiNaC::abs(na - nb);
      const GiNaC::numeric m = std::max(GiNaC::abs(na), GiNaC::abs(nb));
      *close = diff <= GiNaC::numeric(ctx.options.rel_tol) * m;
      return SymResult::kNonzeroOther;
    }
    return SymResult::kNonzeroOther;
  } catch (const BudgetExceeded&) {
    return local.TimedOut() ? SymResult::kTimeout : SymResult::kBudget;
  } catch (const Unsupported&) {
    return SymResult::kUndecided;
  } catch (const std::exception&) {
    return SymResult::kUndecided;  // division by zero and other GiNaC errors
  }
}

// ---------------------------------------------------------------------------
// Scalars.

Comparison CompareInfinity(const Node& g, const Node& p) {
  C a, b;
  Env env;
  if (!EvalC(g, env, &a) || !EvalC(p, env, &b)) return Unequal("structural");
  const bool ia = std::isinf(a.real()), ib = std::isinf(b.real());
  if (ia && ib)
    return (a.real() > 0) == (b.real() > 0) ? Equal("structural") : Unequal("structural");
  return Unequal("structural");
}

Comparison CompareScalar(const Node& g, const Node& p, const Ctx& ctx) {
  if (Contains(g, NodeKind::kConstant, "inf") || Contains(p, NodeKind::kConstant, "inf"))
    return CompareInfinity(g, p);
  std::set<std::string> symbols;
  CollectSymbols(g, &symbols);
  CollectSymbols(p, &symbols);
  const double tol = ctx.options.rel_tol;
  if (symbols.empty()) {
    Q qa, qb;
    if (EvalQ(g, &qa) && EvalQ(p, &qb)) {
      return qa.n == qb.n && qa.d == qb.d ? Equal("exact") : Unequal("exact");
    }
    C a, b;
    Env env;
    if (EvalC(g, env, &a) && EvalC(p, env, &b) && ComparePoint(a, b, tol) == PointResult::kDiffer)
      return Unequal("numeric");
    bool close = false;
    const SymResult sym = SymbolicDifference(g, p, ctx, &close);
    switch (sym) {
      case SymResult::kZero:
        return Equal("symbolic");
      case SymResult::kNonzeroRational:
        return Unequal("exact");
      case SymResult::kNonzeroOther:
        return close ? Equal("numeric") : Unequal("numeric");
      case SymResult::kTimeout:
        return Timeout();
      case SymResult::kUndecided:
      case SymResult::kBudget:
        break;
    }
    // GiNaC could not build it: the double values decide if reliable. An undefined
    // value (division by zero) never equals anything.
    if (EvalC(g, env, &a) && EvalC(p, env, &b)) {
      if (ComparePoint(a, b, tol) == PointResult::kAgree) return Equal("numeric");
      if (sym == SymResult::kBudget) return Timeout();
      if (!std::isfinite(std::abs(a)) || !std::isfinite(std::abs(b)) || std::isnan(std::abs(a)) ||
          std::isnan(std::abs(b)))
        return Unequal("numeric");
    }
    if (sym == SymResult::kBudget) return Timeout();
    return Unequal("numeric");
  }
  // With variables: sample points first.
  int agree = 0;
  int k = 0;
  std::vector<std::string> names(symbols.begin(), symbols.end());
  // Without i in the answers, a point where a side is not real lies outside the real
  // domain (ln x at x < 0) and says nothing.
  const bool complex_answers =
      Contains(g, NodeKind::kConstant, "i") || Contains(p, NodeKind::kConstant, "i");
  for (int pt = 0; pt < kPoints; ++pt) {
    Env env;
    k = 0;
    for (const std::string& s : names) env[s] = SampleValue(k++, pt);
    C a, b;
    if (!EvalC(g, env, &a) || !EvalC(p, env, &b)) continue;
    if (!complex_answers &&
        (std::fabs(a.imag()) > 1e-12 * std::abs(a) || std::fabs(b.imag()) > 1e-12 * std::abs(b)))
      continue;
    switch (ComparePoint(a, b, tol)) {
      case PointResult::kDiffer:
        return Unequal("numeric");
      case PointResult::kAgree:
        ++agree;
        break;
      case PointResult::kUnreliable:
        break;
    }
  }
  if (ctx.TimedOut()) return Timeout();
  bool close = false;
  const SymResult sym = SymbolicDifference(g, p, ctx, &close);
  if (sym == SymResult::kZero) return Equal("symbolic");
  if (sym == SymResult::kNonzeroRational) return Unequal("symbolic");
  if (agree >= 3) return Equal("numeric");  // an identity GiNaC does not simplify (trig, logs)
  if (sym == SymResult::kTimeout || (sym == SymResult::kBudget && agree == 0)) return Timeout();
  return Unequal("symbolic");
}

// ---------------------------------------------------------------------------
// Relations.

struct Rel {
  Node diff;       // lhs - rhs (or rhs - lhs for '>' forms)
  std::string op;  // "=", "!=", "<", "<="
};

std::optional<Rel> ToRel(const Node& r) {
  if (r.kind != NodeKind::kRelation || r.children.size() != 2) return std::nullopt;
  std::string op = r.text;
  const Node* lhs = &r.children[0];
  const Node* rhs = &r.children[1];
  if (op == ">" || op == ">=") {
    std::swap(lhs, rhs);
    op = op == ">" ? "<" : "<=";
  }
  if (!IsScalar(*lhs) || !IsScalar(*rhs)) return std::nullopt;
  Node diff = MakeNode(NodeKind::kAdd, {*lhs, MakeNode(NodeKind::kNeg, {*rhs})});
  return Rel{std::move(diff), op};
}

// Whether d1 = c * d2 for a constant c (c > 0 when `positive`).
Comparison Proportional(const Node& d1, const Node& d2, bool positive, const Ctx& ctx) {
  std::set<std::string> symbols;
  CollectSymbols(d1, &symbols);
  CollectSymbols(d2, &symbols);
  std::vector<std::string> names(symbols.begin(), symbols.end());
  std::optional<C> ratio;
  int agree = 0;
  for (int pt = 0; pt < kPoints; ++pt) {
    Env env;
    int k = 0;
    for (const std::string& s : names) env[s] = SampleValue(k++, pt);
    C a, b;
    if (!EvalC(d1, env, &a) || !EvalC(d2, env, &b)) continue;
    if (!std::isfinite(std::abs(a)) || !std::isfinite(std::abs(b))) continue;
    if (std::abs(a) < 1e-10 && std::abs(b) < 1e-10) continue;
    if (std::abs(a) < 1e-10 || std::abs(b) < 1e-10) return Unequal("structural");
    C r = a / b;
    if (!ratio) {
      ratio = r;
      if (positive && !(r.real() > 0 && std::fabs(r.imag()) < 1e-9 * std::abs(r)))
        return Unequal("structural");
    } else if (std::abs(r - *ratio) > 1e-9 * std::abs(*ratio)) {
      return Unequal("structural");
    }
    ++agree;
  }
  if (agree >= 2) return Equal("structural");
  if (ctx.TimedOut()) return Timeout();
  return Unequal("structural");
}

Comparison CompareRelations(const Node& g, const Node& p, const Ctx& ctx) {
  if (g.children.size() != p.children.size()) return Unequal("structural");
  auto rg = ToRel(g), rp = ToRel(p);
  if (rg && rp) {
    if (rg->op != rp->op) return Unequal("structural");
    const bool positive = rg->op == "<" || rg->op == "<=";
    return Proportional(rg->diff, rp->diff, positive, ctx);
  }
  // Chains (a < x < b): same operators, sides pairwise.
  if (g.text != p.text) return Unequal("structural");
  for (size_t k = 0; k < g.children.size(); ++k) {
    Comparison c = CompareImpl(g.children[k], p.children[k], ctx);
    if (c.outcome != Outcome::kEqual) return c;
  }
  return Equal("structural");
}

// True for names combined without numbers: "m+n", "ab", "(a, b)".
bool IsNameCombination(const Node& n) {
  switch (n.kind) {
    case NodeKind::kSymbol:
      return true;
    case NodeKind::kAdd:
    case NodeKind::kMul:
    case NodeKind::kPair:
    case NodeKind::kTuple:
      for (const Node& c : n.children)
        if (!IsNameCombination(c)) return false;
      return true;
    default:
      return false;
  }
}

// The stated value of an assignment: "x = 5" -> 5, "5 = x" -> 5, "(a, b) = (1, 2)" ->
// (1, 2), "m + n = 116" -> 116 (names without numbers on one side, the other side free
// of those names). Not for equations such as "x - 5 = 0" or "2x = 10".
std::optional<Node> AssignedValue(const Node& n) {
  if (n.kind != NodeKind::kRelation || n.text != "=" || n.children.size() != 2) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    const Node& s = n.children[side];
    const Node& v = n.children[1 - side];
    if (!IsNameCombination(s)) continue;
    std::set<std::string> names, in_value;
    CollectSymbols(s, &names);
    CollectSymbols(v, &in_value);
    bool shared = false;
    for (const std::string& x : names) shared = shared || in_value.count(x) > 0;
    if (shared) continue;
    // A lone name may equal an expression in other names (y = 2x + 3); a combination
    // of names must equal a constant (m + n = 116).
    if (s.kind == NodeKind::kSymbol || in_value.empty()) return v;
  }
  return std::nullopt;
}

// "x > 3" -> (3, inf); "-2 < x <= 3" -> (-2, 3].
std::optional<Node> RelationToInterval(const Node& n) {
  if (n.kind != NodeKind::kRelation) return std::nullopt;
  auto symbol_free = [](const Node& x) {
    std::set<std::string> s;
    CollectSymbols(x, &s);
    return s.empty() && IsScalar(x);
  };
  Node inf = MakeNode(NodeKind::kConstant, {}, "inf");
  Node neg_inf = MakeNode(NodeKind::kNeg, {inf});
  Node iv = MakeNode(NodeKind::kInterval, {neg_inf, inf});
  if (n.children.size() == 2) {
    std::string op = n.text;
    const Node* var = &n.children[0];
    const Node* val = &n.children[1];
    if (val->kind == NodeKind::kSymbol && var->kind != NodeKind::kSymbol) {
      std::swap(var, val);
      if (op == "<")
        op = ">";
      else if (op == ">")
        op = "<";
      else if (op == "<=")
        op = ">=";
      else if (op == ">=")
        op = "<=";
    }
    if (var->kind != NodeKind::kSymbol || !symbol_free(*val)) return std::nullopt;
    if (op == "<" || op == "<=") {
      iv.children[1] = *val;
      iv.right_closed = op == "<=";
    } else if (op == ">" || op == ">=") {
      iv.children[0] = *val;
      iv.left_closed = op == ">=";
    } else {
      return std::nullopt;
    }
    return iv;
  }
  if (n.children.size() == 3 && n.children[1].kind == NodeKind::kSymbol &&
      symbol_free(n.children[0]) && symbol_free(n.children[2])) {
    const size_t sp = n.text.find(' ');
    const std::string op1 = n.text.substr(0, sp), op2 = n.text.substr(sp + 1);
    if ((op1 == "<" || op1 == "<=") && (op2 == "<" || op2 == "<=")) {
      iv.children = {n.children[0], n.children[2]};
      iv.left_closed = op1 == "<=";
      iv.right_closed = op2 == "<=";
      return iv;
    }
    if ((op1 == ">" || op1 == ">=") && (op2 == ">" || op2 == ">=")) {
      iv.children = {n.children[2], n.children[0]};
      iv.left_closed = op2 == ">=";
      iv.right_closed = op1 == ">=";
      return iv;
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Collections.

// a ± b -> {a + b, a - b}; nested ± multiply out (bounded).
std::vector<Node> ExpandPlusMinus(const Node& n, int budget = 16) {
  if (!Contains(n, NodeKind::kPlusMinus)) return {n};
  if (n.kind == NodeKind::kPlusMinus) {
    std::vector<Node> out;
    for (const Node& a : ExpandPlusMinus(n.children[0], budget)) {
      for (const Node& b : ExpandPlusMinus(n.children[1], budget)) {
        if (static_cast<int>(out.size()) + 2 > budget) return out;
        out.push_back(MakeNode(NodeKind::kAdd, {a, b}));
        out.push_back(MakeNode(NodeKind::kAdd, {a, MakeNode(NodeKind::kNeg, {b})}));
      }
    }
    return out;
  }
  // ± below the top: expand each child and take the product of choices.
  std::vector<Node> acc = {n};
  for (size_t k = 0; k < n.children.size(); ++k) {
    std::vector<Node> alts = ExpandPlusMinus(n.children[k], budget);
    if (alts.size() == 1) continue;
    std::vector<Node> next;
    for (const Node& base : acc) {
      for (const Node& alt : alts) {
        if (static_cast<int>(next.size()) >= budget) break;
        Node m = base;
        m.children[k] = alt;
        next.push_back(std::move(m));
      }
    }
    acc = std::move(next);
  }
  return acc;
}

// Elements of a list/set, with ± expanded and "x = v" reduced to v.
std::vector<Node> Elements(const Node& n) {
  std::vector<Node> out;
  auto add = [&](const Node& e) {
    Node v = e;
    if (auto a = AssignedValue(e)) v = *a;
    for (Node& x : ExpandPlusMinus(v)) out.push_back(std::move(x));
  };
  if (n.kind == NodeKind::kList || n.kind == NodeKind::kSet) {
    for (const Node& c : n.children) add(c);
  } else {
    add(n);
  }
  return out;
}

Comparison Unordered(const std::vector<Node>& g, const std::vector<Node>& p, const Ctx& ctx) {
  if (g.size() != p.size()) {
    // Sets may repeat elements ({1, 1, 2} = {1, 2}); compare as sets when sizes differ.
    // Handled by matching every element of each side to some element of the other.
    bool timeout = false;
    auto covers = [&](const std::vector<Node>& a, const std::vector<Node>& b) {
      for (const Node& x : a) {
        bool found = false;
        for (const Node& y : b) {
          Comparison c = CompareImpl(x, y, ctx);
          if (c.outcome == Outcome::kTimeout) timeout = true;
          if (c.outcome == Outcome::kEqual) {
            found = true;
            break;
          }
        }
        if (!found) return false;
      }
      return true;
    };
    if (covers(g, p) && covers(p, g)) return Equal("structural");
    return timeout ? Timeout() : Unequal("structural");
  }
  std::vector<bool> used(p.size(), false);
  bool timeout = false;
  for (const Node& x : g) {
    bool found = false;
    for (size_t k = 0; k < p.size(); ++k) {
      if (used[k]) continue;
      Comparison c = CompareImpl(x, p[k], ctx);
      if (c.outcome == Outcome::kTimeout) timeout = true;
      if (c.outcome == Outcome::kEqual) {
        used[k] = true;
        found = true;
        break;
      }
    }
    if (!found) return timeout ? Timeout() : Unequal("structural");
  }
  return Equal("structural");
}

Comparison Ordered(const std::vector<Node>& g, const std::vector<Node>& p, const Ctx& ctx) {
  if (g.size() != p.size()) return Unequal("structural");
  for (size_t k = 0; k < g.size(); ++k) {
    Comparison c = CompareImpl(g[k], p[k], ctx);
    if (c.outcome != Outcome::kEqual)
      return c.outcome == Outcome::kTimeout ? c : Unequal("structural");
  }
  return Equal("structural");
}

bool IsInfinite(const Node& n) { return Contains(n, NodeKind::kConstant, "inf"); }

Comparison CompareIntervals(const Node& g, const Node& p, const Ctx& ctx) {
  if (g.children.size() != 2 || p.children.size() != 2) return Unequal("structural");
  const bool lo_inf = IsInfinite(g.children[0]);
  const bool hi_inf = IsInfinite(g.children[1]);
  if (!lo_inf && g.left_closed != p.left_closed) return Unequal("structural");
  if (!hi_inf && g.right_closed != p.right_closed) return Unequal("structural");
  return Ordered(g.children, p.children, ctx);
}

Node AsInterval(const Node& pair) {
  Node iv = pair;
  iv.kind = NodeKind::kInterval;
  iv.left_closed = iv.right_closed = false;
  return iv;
}

bool IsVectorLike(const Node& n) {
  return n.kind == NodeKind::kTuple || n.kind == NodeKind::kPair ||
         (n.kind == NodeKind::kMatrix && (n.rows == 1 || n.cols == 1));
}

Comparison CompareImpl(const Node& g, const Node& p, const Ctx& ctx) {
  if (ctx.TimedOut()) return Timeout();
  const NodeKind gk = g.kind, pk = p.kind;
  // "x = 5" against "5", and "x \in (1,2)" style answers.
  if (gk == NodeKind::kRelation && pk != NodeKind::kRelation) {
    if (auto v = AssignedValue(g)) return CompareImpl(*v, p, ctx);
    if (pk == NodeKind::kInterval || pk == NodeKind::kPair) {
      if (auto iv = RelationToInterval(g)) return CompareImpl(*iv, p, ctx);
    }
    return Unequal("structural");
  }
  if (pk == NodeKind::kRelation && gk != NodeKind::kRelation) {
    if (auto v = AssignedValue(p)) return CompareImpl(g, *v, ctx);
    if (gk == NodeKind::kInterval || gk == NodeKind::kPair) {
      if (auto iv = RelationToInterval(p)) return CompareImpl(g, *iv, ctx);
    }
    return Unequal("structural");
  }
  if (gk == NodeKind::kRelation) {
    // Two inequalities in one variable may be written with the variable on either side.
    auto ig = RelationToInterval(g), ip = RelationToInterval(p);
    if (ig && ip) return CompareIntervals(*ig, *ip, ctx);
    return CompareRelations(g, p, ctx);
  }
  // Lists of assignments "x = 1, y = 2" against an ordered pair/tuple.
  if (gk == NodeKind::kList && IsVectorLike(p) && pk != NodeKind::kMatrix) {
    bool all_assign = true;
    std::vector<Node> vals;
    for (const Node& c : g.children) {
      auto v = AssignedValue(c);
      if (!v)
        all_assign = false;
      else
        vals.push_back(*v);
    }
    if (all_assign) return Ordered(vals, p.children, ctx);
  }
  if (pk == NodeKind::kList && IsVectorLike(g) && gk != NodeKind::kMatrix) {
    bool all_assign = true;
    std::vector<Node> vals;
    for (const Node& c : p.children) {
      auto v = AssignedValue(c);
      if (!v)
        all_assign = false;
      else
        vals.push_back(*v);
    }
    if (all_assign) return Ordered(g.children, vals, ctx);
  }
  const bool g_coll = gk == NodeKind::kList || gk == NodeKind::kSet;
  const bool p_coll = pk == NodeKind::kList || pk == NodeKind::kSet;
  const bool g_pm = Contains(g, NodeKind::kPlusMinus) && !g_coll;
  const bool p_pm = Contains(p, NodeKind::kPlusMinus) && !p_coll;
  if (g_coll || p_coll || g_pm || p_pm) {
    // A set answer is never a single value, and a list of solutions is never a tuple.
    if ((g_coll || g_pm) && (p_coll || p_pm)) {
      std::vector<Node> ge = Elements(g), pe = Elements(p);
      if (static_cast<int>(ge.size()) > ctx.options.max_elements ||
          static_cast<int>(pe.size()) > ctx.options.max_elements)
        return Unequal("structural");
      return Unordered(ge, pe, ctx);
    }
    // A one-element set against a bare value.
    std::vector<Node> ge = Elements(g), pe = Elements(p);
    if (ge.size() == 1 && pe.size() == 1 && !(gk == NodeKind::kSet) != !(pk == NodeKind::kSet))
      return Unequal("structural");
    if (ge.size() == 1 && pe.size() == 1) return CompareImpl(ge[0], pe[0], ctx);
    return Unequal("structural");
  }
  if (gk == NodeKind::kEmptySet || pk == NodeKind::kEmptySet) {
    return gk == pk ? Equal("structural") : Unequal("structural");
  }
  if (gk == NodeKind::kText || pk == NodeKind::kText) {
    return gk == pk && g.text == p.text ? Equal("string") : Unequal("string");
  }
  if (gk == NodeKind::kInterval || pk == NodeKind::kInterval) {
    Node a = gk == NodeKind::kPair ? AsInterval(g) : g;
    Node b = pk == NodeKind::kPair ? AsInterval(p) : p;
    if (a.kind != NodeKind::kInterval || b.kind != NodeKind::kInterval)
      return Unequal("structural");
    return CompareIntervals(a, b, ctx);
  }
  if (gk == NodeKind::kUnion || pk == NodeKind::kUnion) {
    if (gk != pk) return Unequal("structural");
    return Unordered(g.children, p.children, ctx);
  }
  if (gk == NodeKind::kMatrix && pk == NodeKind::kMatrix) {
    if (g.rows != p.rows || g.cols != p.cols) return Unequal("structural");
    return Ordered(g.children, p.children, ctx);
  }
  if (IsVectorLike(g) && IsVectorLike(p)) return Ordered(g.children, p.children, ctx);
  if (IsScalar(g) && IsScalar(p)) return CompareScalar(g, p, ctx);
  return Unequal("structural");
}

}  // namespace

Comparison Compare(const Node& gold, const Node& pred, const EquivalenceOptions& options) {
  const Ctx ctx{options, Clock::now() + std::chrono::milliseconds(options.timeout_ms)};
  return CompareImpl(gold, pred, ctx);
}

}  // namespace rlvr::math
