// The math verifier against hand-written cases (testdata/cases.jsonl: each case's
// expected verdict was derived by hand from the mathematics and the answer
// conventions of MATH, GSM8K, AIME, AMC and olympiads), plus config, registry,
// budget and concurrency behaviour.
#include "verifiers/math/math_verifier.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "rlvr/test_paths.h"
#include "verifiers/registry.h"

namespace rlvr {
namespace {

using nlohmann::json;

struct Case {
  int line = 0;
  json data;
};

std::vector<Case> LoadCases() {
  std::ifstream in(std::string(RLVR_SOURCE_DIR) + "/verifiers/math/testdata/cases.jsonl");
  EXPECT_TRUE(in.good()) << "cannot open cases.jsonl";
  std::vector<Case> cases;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    cases.push_back({n, json::parse(line)});
  }
  return cases;
}

VerifyRequest RequestOf(const json& c) {
  VerifyRequest r;
  r.id = c.value("note", "");
  r.completion = c.at("completion").get<std::string>();
  r.answer = c.at("gold").get<std::string>();
  if (c.contains("spec")) r.spec = c.at("spec");
  return r;
}

std::unique_ptr<Verifier> VerifierFor(const json& c) {
  auto v = BuiltinVerifiers().Create("math", c.value("config", json::object()));
  EXPECT_TRUE(v.ok()) << v.status();
  return std::move(v).value();
}

TEST(MathVerifierCases, EveryCaseGetsTheExpectedVerdict) {
  const std::vector<Case> cases = LoadCases();
  ASSERT_GE(cases.size(), 300u);
  std::map<std::string, int> by_source;
  for (const Case& c : cases) {
    by_source[c.data.at("source").get<std::string>()]++;
    auto verifier = VerifierFor(c.data);
    auto reward = verifier->Verify(RequestOf(c.data));
    ASSERT_TRUE(reward.ok()) << "line " << c.line << ": " << reward.status();
    EXPECT_EQ(reward->verdict, c.data.at("expected").get<std::string>())
        << "cases.jsonl line " << c.line << " (" << c.data.value("note", "")
        << ")\n  gold: " << c.data.at("gold").get<std::string>()
        << "\n  completion: " << c.data.at("completion").get<std::string>().substr(0, 200)
        << "\n  details: " << reward->details.dump();
    EXPECT_EQ(reward->score, reward->verdict == "correct" ? 1.0 : 0.0);
  }
  for (const char* source : {"MATH", "GSM8K", "AIME", "AMC", "olympiad", "adversarial"}) {
    EXPECT_GE(by_source[source], 10) << source;
  }
}

TEST(MathVerifier, ConcurrentCallsGiveTheSerialResults) {
  const std::vector<Case> cases = LoadCases();
  auto verifier = BuiltinVerifiers().Create("math", json::object());
  ASSERT_TRUE(verifier.ok());
  const Verifier& v = **verifier;
  std::vector<std::string> serial(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    if (cases[i].data.contains("config")) continue;
    auto r = v.Verify(RequestOf(cases[i].data));
    ASSERT_TRUE(r.ok());
    serial[i] = r->verdict + " " + r->details.dump();
  }
  constexpr int kThreads = 8;
  constexpr int kRounds = 3;
  std::vector<std::vector<std::string>> got(kThreads, std::vector<std::string>(cases.size()));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        // Each thread walks the cases from a different offset so that the same
        // inputs run at the same time on different threads.
        for (size_t k = 0; k < cases.size(); ++k) {
          const size_t i = (k + t * cases.size() / kThreads) % cases.size();
          if (cases[i].data.contains("config")) continue;
          auto r = v.Verify(RequestOf(cases[i].data));
          std::string s = r.ok() ? r->verdict + " " + r->details.dump() : r.status().ToString();
          if (round > 0 && s != got[t][i]) s = "UNSTABLE: " + s;
          got[t][i] = s;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    for (size_t i = 0; i < cases.size(); ++i) {
      EXPECT_EQ(got[t][i], serial[i]) << "thread " << t << " case line " << cases[i].line;
    }
  }
}

TEST(MathVerifier, RunawayComparisonIsATimeoutVerdict) {
  auto v = BuiltinVerifiers().Create("math", json{{"timeout_ms", 200}});
  ASSERT_TRUE(v.ok());
  VerifyRequest r;
  r.answer = "10^{10^{10}}";
  r.completion = "\\boxed{10^{10^{10}} + 1}";
  auto reward = (*v)->Verify(r);
  ASSERT_TRUE(reward.ok());
  EXPECT_EQ(reward->verdict, "timeout");
  EXPECT_EQ(reward->score, 0.0);
}

TEST(MathVerifier, BadRequestsAreErrorsNamingTheField) {
  auto v = BuiltinVerifiers().Create("math", json::object());
  ASSERT_TRUE(v.ok());
  VerifyRequest r;
  r.completion = "\\boxed{1}";
  r.answer = "   ";
  auto reward = (*v)->Verify(r);
  EXPECT_EQ(reward.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(reward.status().message()).find("answer"), std::string::npos);
  r.answer = "1";
  r.spec = json{{"choices", "ABCD"}};
  reward = (*v)->Verify(r);
  EXPECT_EQ(reward.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(reward.status().message()).find("choices"), std::string::npos);
}

TEST(MathVerifierConfig, ScoresToleranceAndPriorityAreConfigurable) {
  auto v =
      BuiltinVerifiers().Create("math", json{{"scores", {{"incorrect", 0.1}, {"no_answer", -1.0}}},
                                             {"rel_tol", 1e-2},
                                             {"extract_priority", {"last_number"}}});
  ASSERT_TRUE(v.ok()) << v.status();
  VerifyRequest r;
  r.answer = "\\pi";
  r.completion = "about 3.14";  // within 1e-2 of pi
  EXPECT_EQ((*v)->Verify(r)->verdict, "correct");
  r.completion = "\\boxed{3} is wrong, it is 4";  // last_number only: 4
  auto wrong = (*v)->Verify(r);
  EXPECT_EQ(wrong->verdict, "incorrect");
  EXPECT_DOUBLE_EQ(wrong->score, 0.1);
  r.completion = "no idea";
  auto none = (*v)->Verify(r);
  EXPECT_EQ(none->verdict, "no_answer");
  EXPECT_DOUBLE_EQ(none->score, -1.0);
}

TEST(MathVerifierConfig, BadConfigNamesTheKey) {
  for (const json& bad :
       {json{{"rel_tolerance", 1e-3}}, json{{"rel_tol", -1}}, json{{"timeout_ms", "fast"}},
        json{{"extract_priority", {"boxd"}}}, json{{"scores", {{"correct", "one"}}}},
        json{{"scores", {{"good", 1}}}}}) {
    auto v = BuiltinVerifiers().Create("math", bad);
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << bad.dump();
    const std::string key = bad.begin().key();
    EXPECT_NE(std::string(v.status().message()).find(key), std::string::npos)
        << v.status() << " should name " << key;
  }
}

}  // namespace
}  // namespace rlvr
