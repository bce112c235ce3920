#include "ml/fusion_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "core/error.h"

namespace netsentry::ml {
namespace {

TEST(FamilyFolds, HoldEachLargeFamilyOutOnceAndKeepItOutOfTraining) {
  std::vector<int> y;
  std::vector<std::int32_t> family;
  const std::pair<std::int32_t, int> sizes[] = {{0, 2000}, {1, 500}, {2, 300}, {3, 100}, {4, 5}};
  for (const auto& [f, n] : sizes) {
    for (int i = 0; i < n; ++i) {
      y.push_back(f == 0 ? 0 : 1);
      family.push_back(f);
    }
  }
  const auto folds = make_family_folds(y, family, 3, 7);
  ASSERT_EQ(folds.size(), 3u);
  std::multiset<std::int32_t> held;
  for (const auto& fold : folds) {
    held.insert(fold.held_out.begin(), fold.held_out.end());
    const std::set<std::int32_t> out(fold.held_out.begin(), fold.held_out.end());
    for (const auto r : fold.train) EXPECT_FALSE(y[r] == 1 && out.contains(family[r]));
    for (const auto r : fold.calibrate) EXPECT_FALSE(y[r] == 1 && out.contains(family[r]));
    std::size_t held_rows = 0;
    for (const auto r : fold.test) {
      EXPECT_TRUE(y[r] == 0 || out.contains(family[r]));
      held_rows += y[r];
    }
    EXPECT_GT(held_rows, 0u);
    // Benign rows are split between the three parts.
    std::set<std::size_t> seen;
    for (const auto* part : {&fold.train, &fold.calibrate, &fold.test}) {
      for (const auto r : *part) EXPECT_TRUE(seen.insert(r).second) << "row in two parts";
    }
  }
  // Families 1..3 once each; family 4 (5 rows) is too small to measure and never held out.
  EXPECT_EQ(held, (std::multiset<std::int32_t>{1, 2, 3}));
  // One family only: nothing to hold out.
  std::vector<std::int32_t> one(y.size(), 1);
  EXPECT_TRUE(make_family_folds(y, one, 3, 7).empty());
}

// Model "good" ranks every attack family above benign rows; "noisy" is uninformative and puts a
// tenth of benign rows far out: giving it any weight spends the false-positive budget on them.
FoldScores fold_scores(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  FoldScores f;
  const auto add = [&](std::vector<int>& y, ModelScores& s, std::vector<std::int32_t>* fam,
                       int label, std::int32_t family) {
    y.push_back(label);
    if (fam) fam->push_back(family);
    s["good"].push_back(label ? 3.0f + n(rng) * 0.5f : n(rng) * 0.5f);
    s["noisy"].push_back(label == 0 && u(rng) < 0.1f ? 10.0f + n(rng) : n(rng));
  };
  for (int i = 0; i < 2000; ++i) add(f.y_calibrate, f.calibrate, nullptr, i % 5 == 0, 9);
  for (int i = 0; i < 2000; ++i) add(f.y_test, f.test, &f.family_test, 0, 0);
  for (int i = 0; i < 300; ++i) add(f.y_test, f.test, &f.family_test, 1, 1 + i % 2);
  f.thresholds = {{"good", 1.5f}, {"noisy", 2.0f}};
  return f;
}

TEST(FusionSearch, PrefersTheFusionThatDetectsHeldOutFamiliesAtTheBudget) {
  const std::vector<FoldScores> folds = {fold_scores(1), fold_scores(2)};
  const auto ranked = search_fusion(folds, {"good", "noisy"}, 0.01);
  ASSERT_FALSE(ranked.empty());
  const FusionResult& best = ranked.front();
  EXPECT_GT(best.candidate.weights.at("good"), best.candidate.weights.at("noisy"))
      << best.candidate.label();
  EXPECT_GT(best.mean_recall, 0.95);
  EXPECT_LT(best.fp_rate, 0.03);
  EXPECT_EQ(best.family_recall.size(), 2u);
  // Every mode was judged: the equal-weight tail is among them.
  const auto equal_tail = std::find_if(ranked.begin(), ranked.end(), [](const FusionResult& r) {
    return r.candidate.mode == EnsembleMode::kTail && r.candidate.weights.at("good") == 1.0 &&
           r.candidate.weights.at("noisy") == 1.0;
  });
  ASSERT_NE(equal_tail, ranked.end());
  EXPECT_LE(equal_tail->mean_recall, best.mean_recall);
  // The noisy model alone is at the bottom.
  const auto noisy_alone = std::find_if(ranked.begin(), ranked.end(), [](const FusionResult& r) {
    return r.candidate.mode == EnsembleMode::kTail && r.candidate.weights.at("good") == 0.0;
  });
  ASSERT_NE(noisy_alone, ranked.end());
  EXPECT_LT(noisy_alone->mean_recall, 0.3);
  const auto j = to_json(ranked, 0.01, 2, {"benign", "a", "b"});
  EXPECT_EQ(j["best"]["mode"], std::string(to_string(best.candidate.mode)));
  EXPECT_TRUE(j["best"]["family_recall"].contains("a"));
  EXPECT_THROW((void)search_fusion({}, {"good"}, 0.01), core::Error);
  EXPECT_THROW((void)search_fusion(folds, {"good", "absent"}, 0.01), core::Error);
}

// The soft and stacked modes scale scores by a fit to the known families; the search leaves them
// out (ml/fusion_search.h). Two models: 3^2 weight vectors, less all-zero and the three that are
// multiples of a smaller one, for each of tail and vote.
TEST(FusionSearch, JudgesOnlyTheTailFusionAndTheVote) {
  const std::vector<FoldScores> folds = {fold_scores(5), fold_scores(6)};
  const auto ranked = search_fusion(folds, {"good", "noisy"}, 0.01);
  std::map<EnsembleMode, int> modes;
  for (const auto& r : ranked) ++modes[r.candidate.mode];
  EXPECT_EQ(modes,
            (std::map<EnsembleMode, int>{{EnsembleMode::kVote, 5}, {EnsembleMode::kTail, 5}}));
}

// Two weak models whose own thresholds (0.5) each pass about 30 % of benign rows: their vote (both
// must agree) flags about 10 % of benign rows and nearly every attack. Its fixed threshold ignores
// the budget, so it must not win on recall bought with false positives.
FoldScores loose_vote_scores(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  FoldScores f;
  const auto add = [&](std::vector<int>& y, ModelScores& s, std::vector<std::int32_t>* fam,
                       int label, std::int32_t family) {
    y.push_back(label);
    if (fam) fam->push_back(family);
    for (const char* m : {"a", "b"}) s[m].push_back(label ? 1.5f + n(rng) * 0.3f : n(rng));
  };
  for (int i = 0; i < 3000; ++i) add(f.y_calibrate, f.calibrate, nullptr, i % 5 == 0, 9);
  for (int i = 0; i < 3000; ++i) add(f.y_test, f.test, &f.family_test, 0, 0);
  for (int i = 0; i < 300; ++i) add(f.y_test, f.test, &f.family_test, 1, 1 + i % 2);
  f.thresholds = {{"a", 0.5f}, {"b", 0.5f}};
  return f;
}

TEST(FusionSearch, RanksAVoteOverTheBudgetBelowEveryCandidateWithinIt) {
  const std::vector<FoldScores> folds = {loose_vote_scores(3), loose_vote_scores(4)};
  const double budget = 0.01;
  const auto ranked = search_fusion(folds, {"a", "b"}, budget);
  ASSERT_FALSE(ranked.empty());
  const auto vote = std::find_if(ranked.begin(), ranked.end(), [](const FusionResult& r) {
    return r.candidate.mode == EnsembleMode::kVote && r.candidate.weights.at("a") == 1.0 &&
           r.candidate.weights.at("b") == 1.0;
  });
  ASSERT_NE(vote, ranked.end());
  // The vote detects more held-out rows than anything within the budget, at many more false
  // positives (the case the ranking must not reward).
  EXPECT_FALSE(vote->within_budget);
  EXPECT_GT(vote->fp_rate, 5 * budget);
  EXPECT_GT(vote->mean_recall, ranked.front().mean_recall);
  const FusionResult& best = ranked.front();
  EXPECT_TRUE(best.within_budget) << best.candidate.label();
  EXPECT_NE(best.candidate.mode, EnsembleMode::kVote) << best.candidate.label();
  EXPECT_LT(best.fp_rate, 3 * budget);
  // Every candidate within the budget ranks above every one outside it.
  bool outside_seen = false;
  for (const auto& r : ranked) {
    if (!r.within_budget) outside_seen = true;
    EXPECT_FALSE(outside_seen && r.within_budget) << r.candidate.label();
  }
  EXPECT_TRUE(outside_seen);
  EXPECT_TRUE(
      to_json(ranked, budget, 2, {"benign", "x", "y"})["best"]["within_budget"].get<bool>());
}

}  // namespace
}  // namespace netsentry::ml
