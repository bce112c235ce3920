#include "data/split.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "core/error.h"

namespace netsentry::data {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatEq;

std::vector<int> labels_900_100() {
  std::vector<int> y(1000, 0);
  for (std::size_t i = 0; i < y.size(); i += 10) y[i] = 1;  // 10 % attacks, spread out
  return y;
}

std::size_t count_label(const std::vector<int>& y, const std::vector<std::size_t>& rows, int c) {
  return static_cast<std::size_t>(
      std::count_if(rows.begin(), rows.end(), [&](std::size_t r) { return y[r] == c; }));
}

TEST(StratifiedSplit, KeepsClassRatiosInEveryPart) {
  const auto y = labels_900_100();
  const Split s = stratified_split(y, 0.1, 0.2, 7);
  EXPECT_EQ(s.train.size(), 700u);
  EXPECT_EQ(s.validation.size(), 100u);
  EXPECT_EQ(s.test.size(), 200u);
  EXPECT_EQ(count_label(y, s.train, 1), 70u);
  EXPECT_EQ(count_label(y, s.validation, 1), 10u);
  EXPECT_EQ(count_label(y, s.test, 1), 20u);
}

TEST(StratifiedSplit, PartsAreDisjointSortedAndCoverEveryRow) {
  const auto y = labels_900_100();
  const Split s = stratified_split(y, 0.15, 0.15, 1);
  std::vector<std::size_t> all;
  for (const auto* part : {&s.train, &s.validation, &s.test}) {
    EXPECT_TRUE(std::is_sorted(part->begin(), part->end()));
    all.insert(all.end(), part->begin(), part->end());
  }
  std::sort(all.begin(), all.end());
  std::vector<std::size_t> expected(y.size());
  std::iota(expected.begin(), expected.end(), std::size_t{0});
  EXPECT_EQ(all, expected);
}

TEST(StratifiedSplit, SameSeedSameSplitOtherSeedOtherSplit) {
  const auto y = labels_900_100();
  const Split a = stratified_split(y, 0.1, 0.2, 42);
  const Split b = stratified_split(y, 0.1, 0.2, 42);
  const Split c = stratified_split(y, 0.1, 0.2, 43);
  EXPECT_EQ(a.test, b.test);
  EXPECT_EQ(a.validation, b.validation);
  EXPECT_NE(a.test, c.test);
}

TEST(StratifiedSplit, IsTheSameOnEveryPlatform) {
  // Pinned output: our shuffle uses only mt19937_64 (fully specified by the standard).
  const std::vector<int> y{0, 0, 0, 0, 0, 1, 1, 1, 1, 1};
  const Split s = stratified_split(y, 0.0, 0.4, 42);
  EXPECT_THAT(s.test, ElementsAre(2, 3, 7, 8));
  EXPECT_THAT(s.train, ElementsAre(0, 1, 4, 5, 6, 9));
  EXPECT_TRUE(s.validation.empty());
}

TEST(StratifiedSplit, RejectsFractionsThatLeaveNoTraining) {
  const auto y = labels_900_100();
  EXPECT_THROW((void)stratified_split(y, 0.5, 0.5, 1), core::Error);
  EXPECT_THROW((void)stratified_split(y, -0.1, 0.2, 1), core::Error);
  const std::vector<int> bad{0, -1};
  EXPECT_THROW((void)stratified_split(bad, 0.1, 0.1, 1), core::Error);
}

TEST(ChronologicalSplit, TrainsOnTheEarliestRows) {
  const std::vector<std::size_t> order{4, 3, 2, 1, 0, 9, 8, 7, 6, 5};
  const Split s = chronological_split(order, 0.2, 0.3);
  EXPECT_THAT(s.train, ElementsAre(4, 3, 2, 1, 0));
  EXPECT_THAT(s.validation, ElementsAre(9, 8));
  EXPECT_THAT(s.test, ElementsAre(7, 6, 5));
}

TEST(BalancedClassWeights, MatchScikitLearnFormula) {
  // scikit-learn: n_samples / (n_classes * bincount) = 8 / (2 * [6, 2]).
  const std::vector<int> y{0, 0, 0, 0, 0, 0, 1, 1};
  EXPECT_THAT(balanced_class_weights(y), ElementsAre(FloatEq(8.0f / 12), FloatEq(2.0f)));
  const auto per_row = balanced_sample_weights(y);
  ASSERT_EQ(per_row.size(), 8u);
  EXPECT_FLOAT_EQ(per_row[0], 8.0f / 12);
  EXPECT_FLOAT_EQ(per_row[7], 2.0f);
}

TEST(BalancedClassWeights, GiveAbsentClassesZeroAndCountOnlyPresentOnes) {
  const std::vector<int> y{0, 2, 2};  // class 1 absent: n_classes = 2
  EXPECT_THAT(balanced_class_weights(y), ElementsAre(FloatEq(1.5f), FloatEq(0.0f), FloatEq(0.75f)));
}

}  // namespace
}  // namespace netsentry::data
