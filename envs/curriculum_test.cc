#include "envs/curriculum.h"

#include <gtest/gtest.h>

namespace rlvr {
namespace {

TEST(CurriculumTest, EmaTrackingAndStatus) {
  CurriculumOptions options;
  options.ema_alpha = 0.5;
  options.min_observations = 2;
  Curriculum c(options);
  EXPECT_EQ(c.Status("a"), TaskStatus::kUnseen);
  c.Record("a", 1.0);
  EXPECT_EQ(c.Status("a"), TaskStatus::kLearning);  // one observation is not enough
  c.Record("a", 1.0);
  EXPECT_EQ(c.Status("a"), TaskStatus::kSolved);
  c.Record("a", 0.5);  // 0.5 * 0.5 + 0.5 * 1.0
  EXPECT_DOUBLE_EQ(c.TrackedPassRate("a"), 0.75);
  EXPECT_EQ(c.Status("a"), TaskStatus::kLearning);
  c.Record("b", 0.0);
  c.Record("b", 0.0);
  EXPECT_EQ(c.Status("b"), TaskStatus::kUnsolved);
  c.Record("c", 0.25);
  c.Record("c", 0.75);
  EXPECT_DOUBLE_EQ(c.TrackedPassRate("c"), 0.5);
  EXPECT_EQ(c.Status("c"), TaskStatus::kLearning);
  EXPECT_EQ(PassRate({1, 0, 1, 1}), 0.75);
  EXPECT_EQ(PassRate({0.9, 0.2}, 0.5), 0.5);
}

TEST(CurriculumTest, WindowForgetsOldEpochs) {
  CurriculumOptions options;
  options.tracking = "window";
  options.window = 2;
  options.min_observations = 2;
  Curriculum c(options);
  c.Record("a", 0.0);
  c.Record("a", 1.0);
  c.Record("a", 1.0);  // window now {1, 1}
  EXPECT_EQ(c.Status("a"), TaskStatus::kSolved);
  c.Record("a", 0.5);
  EXPECT_DOUBLE_EQ(c.TrackedPassRate("a"), 0.75);
}

TEST(CurriculumTest, SkipAndDownweightPolicies) {
  CurriculumOptions options;
  options.min_observations = 1;
  Curriculum skip(options);
  skip.Record("solved", 1.0);
  skip.Record("unsolved", 0.0);
  skip.Record("learning", 0.5);
  EXPECT_FALSE(skip.Admit("solved"));
  EXPECT_FALSE(skip.Admit("unsolved"));
  EXPECT_TRUE(skip.Admit("learning"));
  EXPECT_TRUE(skip.Admit("new"));
  EXPECT_EQ(skip.counters().skipped_solved, 1);
  EXPECT_EQ(skip.counters().skipped_unsolved, 1);
  EXPECT_EQ(skip.counters().admitted, 2);

  options.policy = "downweight";
  options.downweight = 0.25;
  Curriculum down(options);
  down.Record("solved", 1.0);
  int admitted = 0;
  for (int i = 0; i < 4000; ++i) admitted += down.Admit("solved");
  EXPECT_NEAR(admitted / 4000.0, 0.25, 0.03);  // binomial sd ~0.007

  options.policy = "none";
  Curriculum none(options);
  none.Record("solved", 1.0);
  EXPECT_TRUE(none.Admit("solved"));
  options.policy = "bogus";
  EXPECT_FALSE(ValidateCurriculumOptions(options).ok());
}

TEST(CurriculumTest, StateRoundTripGivesTheSameDecisions) {
  CurriculumOptions options;
  options.policy = "downweight";
  options.downweight = 0.5;
  options.min_observations = 1;
  options.seed = 9;
  Curriculum a(options);
  for (int i = 0; i < 20; ++i) a.Record("t" + std::to_string(i), i % 3 == 0 ? 1.0 : 0.4);
  for (int i = 0; i < 10; ++i) a.Admit("t0");
  Curriculum b(options);
  ASSERT_TRUE(b.FromJson(nlohmann::json::parse(a.ToJson().dump())).ok());
  for (int i = 0; i < 50; ++i) {
    const std::string id = "t" + std::to_string(i % 20);
    ASSERT_EQ(a.Admit(id), b.Admit(id)) << i;
  }
  EXPECT_EQ(a.ToJson(), b.ToJson());
  EXPECT_FALSE(b.FromJson(nlohmann::json{{"tasks", 3}}).ok());
}

TEST(DynamicSamplerTest, KeepsOnlyGroupsWithUnequalRewardsAndCountsDrops) {
  DynamicSampler sampler(2, DynamicSamplingOptions());
  sampler.StartBatch();
  EXPECT_FALSE(sampler.Offer({1, 1, 1, 1}));
  EXPECT_FALSE(sampler.Offer({0, 0, 0, 0}));
  EXPECT_TRUE(sampler.Offer({0, 1, 0, 0}));
  EXPECT_FALSE(sampler.Full());
  EXPECT_FALSE(sampler.Offer({0.2, 0.2}));  // equal, below the pass threshold
  EXPECT_TRUE(sampler.Offer({1.0, 0.9}));
  EXPECT_TRUE(sampler.Full());
  const DynamicSamplingCounters& c = sampler.counters();
  EXPECT_EQ(c.offered, 5);
  EXPECT_EQ(c.kept, 2);
  EXPECT_EQ(c.dropped_all_passed, 1);
  EXPECT_EQ(c.dropped_all_failed, 2);

  DynamicSampler restored(2, DynamicSamplingOptions());
  ASSERT_TRUE(restored.FromJson(sampler.ToJson()).ok());
  EXPECT_TRUE(restored.Full());
  EXPECT_EQ(restored.ToJson(), sampler.ToJson());

  DynamicSamplingOptions off;
  off.enabled = false;
  DynamicSampler keep_all(1, off);
  keep_all.StartBatch();
  EXPECT_TRUE(keep_all.Offer({1, 1}));
}

TEST(DynamicSamplerTest, ExhaustedAfterMaxOffersAndShortBatchesCounted) {
  DynamicSamplingOptions options;
  options.max_offers_per_batch = 3;
  DynamicSampler sampler(2, options);
  sampler.StartBatch();
  for (int i = 0; i < 3; ++i) sampler.Offer({1, 1});
  EXPECT_TRUE(sampler.Exhausted());
  EXPECT_FALSE(sampler.Full());
  sampler.StartBatch();
  EXPECT_FALSE(sampler.Exhausted());
  EXPECT_EQ(sampler.counters().short_batches, 1);
  EXPECT_EQ(sampler.counters().batches, 2);
}

TEST(DynamicSamplerTest, FinishBatchCountsAShortBatchOnceAndSurvivesRestore) {
  DynamicSampler sampler(2, DynamicSamplingOptions());
  sampler.StartBatch();
  sampler.Offer({0, 1});
  sampler.FinishBatch();
  EXPECT_EQ(sampler.counters().short_batches, 1);
  DynamicSampler restored(2, DynamicSamplingOptions());
  ASSERT_TRUE(restored.FromJson(sampler.ToJson()).ok());
  restored.StartBatch();  // already counted: not again
  EXPECT_EQ(restored.counters().short_batches, 1);
  restored.Offer({0, 1});
  restored.Offer({1, 0});
  restored.FinishBatch();  // full: not short
  EXPECT_EQ(restored.counters().short_batches, 1);
  EXPECT_EQ(restored.counters().batches, 2);
}

}  // namespace
}  // namespace rlvr
