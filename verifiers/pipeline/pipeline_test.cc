// Registry, shaping rewards, pipelines and the verify queue, against rewards worked
// out by hand from each reward's definition.
#include "verifiers/pipeline/pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <thread>

#include "verifiers/pipeline/rewards.h"
#include "verifiers/pipeline/verify_queue.h"

namespace rlvr {
namespace {

using ::testing::HasSubstr;

// Returns spec["score"] as the reward (NaN/inf via strings), and sleeps spec["sleep_ms"].
class ScriptedVerifier final : public Verifier {
 public:
  explicit ScriptedVerifier(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  absl::StatusOr<Reward> Verify(const VerifyRequest& request) const override {
    if (request.spec.contains("sleep_ms")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(request.spec["sleep_ms"].get<int>()));
    }
    Reward r;
    const nlohmann::json& s = request.spec.value(name_, nlohmann::json(0.0));
    if (s.is_string()) {
      r.score = s == "nan" ? std::nan("") : std::numeric_limits<double>::infinity();
    } else {
      r.score = s.get<double>();
    }
    r.verdict = name_ + "_verdict";
    return r;
  }

 private:
  std::string name_;
};

VerifierFactory Scripted(const std::string& name) {
  return [name](const nlohmann::json&) -> absl::StatusOr<std::unique_ptr<Verifier>> {
    return std::unique_ptr<Verifier>(new ScriptedVerifier(name));
  };
}

VerifierRegistry TestRegistry() {
  VerifierRegistry r;
  EXPECT_TRUE(RegisterRewardVerifiers(r).ok());
  EXPECT_TRUE(r.Register("a", Scripted("a")).ok());
  EXPECT_TRUE(r.Register("b", Scripted("b")).ok());
  return r;
}

VerifyRequest Req(std::string completion, std::string answer = "", nlohmann::json spec = {},
                  int64_t tokens = 0) {
  VerifyRequest r;
  r.id = "t1";
  r.completion = std::move(completion);
  r.answer = std::move(answer);
  r.spec = spec.is_null() ? nlohmann::json::object() : spec;
  r.completion_tokens = tokens;
  return r;
}

double Score(const Verifier& v, const VerifyRequest& r) {
  absl::StatusOr<Reward> reward = v.Verify(r);
  EXPECT_TRUE(reward.ok()) << reward.status();
  return reward.ok() ? reward->score : std::nan("");
}

TEST(RegistryTest, RefusesDuplicateNames) {
  VerifierRegistry r;
  ASSERT_TRUE(r.Register("a", Scripted("a")).ok());
  absl::Status s = r.Register("a", Scripted("a"));
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'a'"));
  EXPECT_EQ(RegisterRewardVerifiers(r).code(), absl::StatusCode::kOk);
  EXPECT_EQ(RegisterRewardVerifiers(r).code(), absl::StatusCode::kAlreadyExists);
}

TEST(RegistryTest, BuiltinsIncludeShapingRewardsAndPipeline) {
  std::vector<std::string> names = BuiltinVerifiers().Names();
  std::set<std::string> set(names.begin(), names.end());
  for (const char* n : {"exact", "format", "overlong", "language", "pipeline"}) {
    EXPECT_EQ(set.count(n), 1u) << n;
  }
  EXPECT_EQ(BuiltinVerifiers().Create("no_such", {}).status().code(), absl::StatusCode::kNotFound);
}

TEST(RewardsTest, Exact) {
  VerifierRegistry r = TestRegistry();
  auto v = r.Create("exact", {}).value();
  EXPECT_EQ(Score(*v, Req(" 42\n", "42")), 1.0);
  EXPECT_EQ(Score(*v, Req("43", "42")), 0.0);
  EXPECT_EQ(Score(*v, Req("Paris", "paris")), 0.0);
  auto ci = r.Create("exact", {{"case_sensitive", false}}).value();
  EXPECT_EQ(Score(*ci, Req("Paris", "paris")), 1.0);
  EXPECT_EQ(r.Create("exact", {{"case", false}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RewardsTest, Format) {
  VerifierRegistry r = TestRegistry();
  auto v = r.Create("format", {}).value();
  EXPECT_EQ(Score(*v, Req("<think>2+2 is 4</think> The answer is 4.")), 1.0);
  EXPECT_EQ(Score(*v, Req("  <think>x</think>\n4\n")), 1.0);
  EXPECT_EQ(Score(*v, Req("The answer is 4.")), 0.0);                    // no reasoning
  EXPECT_EQ(Score(*v, Req("<think>never closed 4")), 0.0);               // not closed
  EXPECT_EQ(Score(*v, Req("<think>x</think>   ")), 0.0);                 // no answer
  EXPECT_EQ(Score(*v, Req("<think>a</think><think>b</think> 4")), 0.0);  // two blocks
  EXPECT_EQ(Score(*v, Req("4 <think>x</think> 4")), 0.0);                // text before
  auto boxed = r.Create("format", {{"answer_regex", R"(\\boxed\{[^}]+\})"}}).value();
  EXPECT_EQ(Score(*boxed, Req("<think>x</think> so \\boxed{4}")), 1.0);
  EXPECT_EQ(Score(*boxed, Req("<think>x</think> so 4")), 0.0);
  absl::Status bad = r.Create("format", {{"answer_regex", "("}}).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("answer_regex"));
}

TEST(RewardsTest, OverlongFollowsDapoSoftPenalty) {
  VerifierRegistry r = TestRegistry();
  // L_max = 100, L_cache = 20: free up to 80, linear to -1 at 100, -1 beyond.
  auto v = r.Create("overlong", {{"max_tokens", 100}, {"buffer_tokens", 20}}).value();
  EXPECT_EQ(Score(*v, Req("x", "", {}, 50)), 0.0);
  EXPECT_EQ(Score(*v, Req("x", "", {}, 80)), 0.0);
  EXPECT_DOUBLE_EQ(Score(*v, Req("x", "", {}, 85)), -0.25);  // (80 - 85) / 20
  EXPECT_DOUBLE_EQ(Score(*v, Req("x", "", {}, 90)), -0.5);
  EXPECT_DOUBLE_EQ(Score(*v, Req("x", "", {}, 100)), -1.0);
  EXPECT_EQ(Score(*v, Req("x", "", {}, 101)), -1.0);
  EXPECT_EQ(Score(*v, Req("", "", {}, 0)), 0.0);
  absl::Status unknown = v->Verify(Req("long text", "", {}, 0)).status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("completion_tokens"));
  EXPECT_EQ(r.Create("overlong", {{"max_tokens", 10}, {"buffer_tokens", 20}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RewardsTest, LanguageConsistency) {
  VerifierRegistry r = TestRegistry();
  auto v = r.Create("language", {{"language", "en"}}).value();
  EXPECT_EQ(Score(*v, Req("The answer is 42.")), 1.0);
  // 4 Latin letters ("abcd") and 4 Han characters: half.
  EXPECT_DOUBLE_EQ(Score(*v, Req("abcd \xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96\xE7\x95\x8C")), 0.5);
  EXPECT_EQ(Score(*v, Req("12 + 30 = 42")), 0.0);  // no letters
  EXPECT_EQ(v->Verify(Req("123")).value().verdict, "no_text");
  // The task's spec overrides the configured language: all 4 Han characters are "zh".
  EXPECT_EQ(Score(*v, Req("\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96\xE7\x95\x8C 42", "",
                          {{"language", "zh"}})),
            1.0);
  // Cyrillic "да" (2 letters) in a Russian task with one Latin letter "x": 2/3.
  EXPECT_DOUBLE_EQ(Score(*v, Req("\xD0\xB4\xD0\xB0 x", "", {{"language", "ru"}})), 2.0 / 3.0);
  EXPECT_EQ(v->Verify(Req("x", "", {{"language", "klingon"}})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PipelineTest, WeightedSumWithPerTaskVerifierAndCap) {
  VerifierRegistry r = TestRegistry();
  nlohmann::json config = {
      {"task_verifiers", {{"a", {}}, {"b", {}}}},
      {"default_verifier", "a"},
      {"task_weight", 2.0},
      {"terms",
       {{{"verifier", "format"}, {"weight", 0.5}},
        {{"verifier", "overlong"},
         {"weight", 1.0},
         {"config", {{"max_tokens", 100}, {"buffer_tokens", 20}}}}}},
  };
  auto p = CreatePipelineVerifier(r, config).value();
  const std::string good = "<think>x</think> 4";
  // Default task verifier "a" scores 0.25: 2*0.25 + 0.5*1 + 0 = 1.0.
  absl::StatusOr<Reward> reward = p->Verify(Req(good, "", {{"a", 0.25}, {"b", 0.75}}, 10));
  ASSERT_TRUE(reward.ok()) << reward.status();
  EXPECT_DOUBLE_EQ(reward->score, 1.0);
  EXPECT_EQ(reward->verdict, "a_verdict");
  EXPECT_EQ(reward->details["task_verifier"], "a");
  // The task names "b" (0.75), no format, 90 tokens: 2*0.75 + 0 + (-0.5) = 1.0.
  EXPECT_DOUBLE_EQ(Score(*p, Req("4", "", {{"verifier", "b"}, {"a", 0.25}, {"b", 0.75}}, 90)), 1.0);
  // Same with a = 1: 2*1 + 0.5 + 0 = 2.5, capped to 1.5.
  config["max_total"] = 1.5;
  config["min_total"] = -1.0;
  auto capped = CreatePipelineVerifier(r, config).value();
  absl::StatusOr<Reward> c = capped->Verify(Req(good, "", {{"a", 1.0}}, 10));
  ASSERT_TRUE(c.ok());
  EXPECT_DOUBLE_EQ(c->score, 1.5);
  EXPECT_DOUBLE_EQ(c->details["total"].get<double>(), 2.5);
  // a = -3: 2*-3 + 0 + -1 (overlong) = -7, capped to -1.
  EXPECT_DOUBLE_EQ(Score(*capped, Req("4", "", {{"a", -3.0}}, 500)), -1.0);
  // An unknown task verifier is an error naming the field.
  absl::Status s = p->Verify(Req(good, "", {{"verifier", "c"}}, 10)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'verifier' names 'c'"));
}

TEST(PipelineTest, NestedPipelineIsAVerifier) {
  VerifierRegistry r = TestRegistry();
  ASSERT_TRUE(r.Register("inner", [&r](const nlohmann::json& c) {
                 return CreatePipelineVerifier(r, c);
               }).ok());
  nlohmann::json config = {{"terms",
                            {{{"verifier", "inner"},
                              {"weight", 0.5},
                              {"config", {{"terms", {{{"verifier", "a"}, {"weight", 4.0}}}}}}},
                             {{"verifier", "b"}, {"weight", -1.0}}}}};
  auto p = CreatePipelineVerifier(r, config).value();
  // 0.5 * (4 * 0.5) + (-1) * 0.25 = 0.75
  EXPECT_DOUBLE_EQ(Score(*p, Req("x", "", {{"a", 0.5}, {"b", 0.25}})), 0.75);
}

TEST(PipelineTest, RejectsNonFiniteRewardNamingTheVerifier) {
  VerifierRegistry r = TestRegistry();
  auto p = CreatePipelineVerifier(r, {{"task_verifiers", {{"a", {}}}},
                                      {"terms", {{{"verifier", "b"}, {"name", "bonus"}}}}})
               .value();
  absl::Status s = p->Verify(Req("x", "", {{"a", 1.0}, {"b", "nan"}})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'bonus'"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("verifier 'b'"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("non-finite"));
  s = p->Verify(Req("x", "", {{"a", "inf"}})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(s.message()), HasSubstr("verifier 'a'"));
  ScriptedVerifier a("a");
  EXPECT_EQ(VerifyChecked(a, Req("x", "", {{"a", "nan"}})).status().code(),
            absl::StatusCode::kInternal);
}

TEST(PipelineTest, ConfigErrorsNameTheField) {
  VerifierRegistry r = TestRegistry();
  auto err = [&](nlohmann::json c) {
    return std::string(CreatePipelineVerifier(r, c).status().message());
  };
  EXPECT_THAT(err({{"terms", {{{"verifier", "a"}, {"weight", "x"}}}}}),
              HasSubstr("terms[0].weight"));
  EXPECT_THAT(err({{"terms", {{{"verifier", "zzz"}}}}}), HasSubstr("unknown verifier 'zzz'"));
  EXPECT_THAT(err({{"task_verifiers", {{"a", {}}}}, {"default_verifier", "b"}}),
              HasSubstr("default_verifier"));
  EXPECT_THAT(err({{"terms", {{{"verifier", "a"}}}}, {"weights", 1}}),
              HasSubstr("unknown field 'weights'"));
  EXPECT_THAT(err({{"terms", {{{"verifier", "a"}}, {{"verifier", "a"}}}}}),
              HasSubstr("used twice"));
  EXPECT_THAT(err({{"terms", {{{"verifier", "overlong"}, {"config", {{"max_tokens", -1}}}}}}}),
              HasSubstr("terms[0]"));
  EXPECT_THAT(err(nlohmann::json::object()), HasSubstr("at least one"));
  EXPECT_THAT(err({{"terms", {{{"verifier", "a"}}}}, {"min_total", 2}, {"max_total", 1}}),
              HasSubstr("min_total"));
}

TEST(PipelineTest, BuiltinPipelineFromConfig) {
  auto p = BuiltinVerifiers()
               .Create("pipeline", {{"task_verifiers", {{"exact", {}}}},
                                    {"terms", {{{"verifier", "format"}, {"weight", 0.1}}}}})
               .value();
  EXPECT_DOUBLE_EQ(Score(*p, Req("<think>hm</think> 42", "<think>hm</think> 42")), 1.1);
  EXPECT_DOUBLE_EQ(Score(*p, Req("<think>hm</think> 41", "42")), 0.1);
}

TEST(VerifyQueueTest, FuturesAndCallbacksReturnEveryResult) {
  auto v = std::make_shared<ScriptedVerifier>("a");
  VerifyQueue q(v, {.num_threads = 3, .capacity = 8});
  std::vector<std::future<absl::StatusOr<Reward>>> futures;
  for (int i = 0; i < 40; ++i) {  // more than capacity: Submit blocks, never drops
    auto f = q.Submit(Req("x", "", {{"a", i}, {"sleep_ms", 1}}));
    ASSERT_TRUE(f.ok());
    futures.push_back(std::move(f).value());
    EXPECT_LE(q.pending(), 8);
  }
  for (int i = 0; i < 40; ++i) {
    absl::StatusOr<Reward> r = futures[i].get();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->score, i);
  }
  EXPECT_LE(q.peak_pending(), 8);
  EXPECT_GE(q.peak_pending(), 2);
  // NaN goes through VerifyChecked.
  EXPECT_EQ(q.Submit(Req("x", "", {{"a", "nan"}})).value().get().status().code(),
            absl::StatusCode::kInternal);
}

TEST(VerifyQueueTest, TrySubmitRefusesWhenFullAndHonoursCancelAndDeadline) {
  auto v = std::make_shared<ScriptedVerifier>("a");
  std::atomic<int> done{0};
  {
    VerifyQueue q(v, {.num_threads = 1, .capacity = 4});
    std::vector<VerifyRequest> batch(4, Req("x", "", {{"a", 1.0}, {"sleep_ms", 50}}));
    ASSERT_TRUE(
        q.TrySubmitAll(batch, [&](size_t, absl::StatusOr<Reward> r) { done += r.ok(); }).ok());
    absl::Status full = q.TrySubmit(Req("x"), [&](absl::StatusOr<Reward>) { done += 100; });
    EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  }  // the destructor drains accepted work
  EXPECT_EQ(done.load(), 4);

  VerifyQueue q(v, {.num_threads = 1, .capacity = 4});
  auto cancelled = std::make_shared<std::atomic<bool>>(true);
  EXPECT_EQ(q.Submit(Req("x"), {.cancelled = cancelled}).value().get().status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(q.Submit(Req("x"), {.deadline = absl::Now() - absl::Seconds(1)})
                .value()
                .get()
                .status()
                .code(),
            absl::StatusCode::kDeadlineExceeded);
  q.Shutdown();
  EXPECT_EQ(q.Submit(Req("x")).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace rlvr
