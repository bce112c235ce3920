#include "ml/fusion_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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
// multiples of a smaller one, for each of tail and vote; the max fusion once (both models).
TEST(FusionSearch, JudgesTheTailAndMaxFusionsAndTheVote) {
  const std::vector<FoldScores> folds = {fold_scores(5), fold_scores(6)};
  const auto ranked = search_fusion(folds, {"good", "noisy"}, 0.01);
  std::map<EnsembleMode, int> modes;
  for (const auto& r : ranked) ++modes[r.candidate.mode];
  EXPECT_EQ(modes,
            (std::map<EnsembleMode, int>{
                {EnsembleMode::kVote, 5}, {EnsembleMode::kTail, 5}, {EnsembleMode::kMax, 1}}));
  // Three models: the max fusion of each set of two or more, 4.
  FoldScores three = fold_scores(7);
  three.calibrate["third"] = three.calibrate.at("good");
  three.test["third"] = three.test.at("good");
  modes.clear();
  for (const auto& r : search_fusion({three}, {"good", "noisy", "third"}, 0.01)) {
    ++modes[r.candidate.mode];
  }
  EXPECT_EQ(modes[EnsembleMode::kMax], 4);
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

// Model "a" separates families 1 and 2 from benign rows well and families 3 and 4 weakly; "b"
// separates family 3 well and the others weakly. Weighting "a" up detects more rows on the mean of
// the four families (a wins two, b one), but loses family 3: a gain that depends on which families
// the folds happened to hold out.
FoldScores split_strength_scores(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  FoldScores f;
  const auto add = [&](std::vector<int>& y, ModelScores& s, std::vector<std::int32_t>* fam,
                       std::int32_t family) {
    y.push_back(family == 0 ? 0 : 1);
    if (fam) fam->push_back(family);
    const float a_shift = family == 1 || family == 2 ? 3.0f : family == 0 ? 0.0f : 2.0f;
    const float b_shift = family == 3 ? 3.0f : family == 0 ? 0.0f : 0.5f;
    s["a"].push_back(a_shift + n(rng));
    s["b"].push_back(b_shift + n(rng));
  };
  for (int i = 0; i < 3000; ++i) add(f.y_calibrate, f.calibrate, nullptr, i % 5 == 0 ? 1 : 0);
  for (int i = 0; i < 3000; ++i) add(f.y_test, f.test, &f.family_test, 0);
  for (int i = 0; i < 800; ++i) add(f.y_test, f.test, &f.family_test, 1 + i % 4);
  f.thresholds = {{"a", 2.0f}, {"b", 2.0f}};
  return f;
}

bool equal_weights(const FusionResult& r) {
  return std::all_of(r.candidate.weights.begin(), r.candidate.weights.end(),
                     [](const auto& w) { return w.second == 1.0; });
}

TEST(FusionSearch, KeepsTheEqualTailUnlessACandidateBeatsItClearly) {
  const std::vector<FoldScores> folds = {split_strength_scores(11), split_strength_scores(12)};
  // By recall alone a weighting towards "a" wins on the mean...
  const auto by_recall = search_fusion(folds, {"a", "b"}, 0.01, 0.002, -1.0);
  ASSERT_FALSE(by_recall.empty());
  const FusionResult& top = by_recall.front();
  const auto equal = std::find_if(by_recall.begin(), by_recall.end(), [](const FusionResult& r) {
    return r.candidate.mode == EnsembleMode::kTail && equal_weights(r);
  });
  ASSERT_NE(equal, by_recall.end());
  EXPECT_FALSE(equal_weights(top)) << top.candidate.label();
  EXPECT_GT(top.mean_recall, equal->mean_recall + 0.01) << top.candidate.label();
  // ... while losing family 3, so it is not a clear win and the default keeps equal weights.
  EXPECT_LT(top.family_recall.at(3), equal->family_recall.at(3)) << top.candidate.label();
  EXPECT_FALSE(beats_clearly(top, *equal, 1.0));
  const auto ranked = search_fusion(folds, {"a", "b"}, 0.01);
  ASSERT_EQ(ranked.size(), by_recall.size());
  EXPECT_EQ(ranked.front().candidate.mode, EnsembleMode::kTail);
  EXPECT_TRUE(equal_weights(ranked.front())) << ranked.front().candidate.label();
  EXPECT_NE(
      to_json(ranked, 0.01, 2, {"benign", "w", "x", "y", "z"})["selection"].get<std::string>().find(
          "equal-weight tail"),
      std::string::npos);
}

TEST(FusionSearch, BeatsClearlyNeedsAMeanGainAboveItsStandardError) {
  const auto result = [](std::map<std::int32_t, double> recall) {
    FusionResult r;
    r.family_recall = std::move(recall);
    return r;
  };
  const FusionResult base = result({{1, 0.5}, {2, 0.5}, {3, 0.5}});
  // The same gain on every family: no spread, a clear win at any number of standard errors.
  EXPECT_TRUE(beats_clearly(result({{1, 0.6}, {2, 0.6}, {3, 0.6}}), base, 3.0));
  // A gain of 0.05 on the mean made of +0.30, -0.20, +0.05: standard error 0.144.
  const FusionResult mixed = result({{1, 0.8}, {2, 0.3}, {3, 0.55}});
  EXPECT_FALSE(beats_clearly(mixed, base, 1.0));
  EXPECT_TRUE(beats_clearly(mixed, base, 0.3));
  // No gain is never a win, and a family missing from the candidate counts as none detected.
  EXPECT_FALSE(beats_clearly(base, base, 0.0));
  EXPECT_FALSE(beats_clearly(result({{1, 0.9}, {2, 0.9}}), base, 1.0));
  EXPECT_FALSE(beats_clearly(base, result({}), 0.0));
}

// What `train --fusion-dump` writes: fusing its terms as the search does gives the search's own
// figure for a candidate.
TEST(FusionSearch, FoldTermsReplayTheSearchsJudgement) {
  const std::vector<FoldScores> folds = {split_strength_scores(21), split_strength_scores(22)};
  const std::vector<std::string> models = {"a", "b"};
  const double budget = 0.01;
  const auto ranked = search_fusion(folds, models, budget);
  std::size_t max_candidates = 0;
  for (const auto& r : ranked) {
    if (r.candidate.mode == EnsembleMode::kVote) continue;
    const bool largest = r.candidate.mode == EnsembleMode::kMax;
    max_candidates += largest ? 1 : 0;
    std::map<std::int32_t, std::pair<double, double>> hits;
    double total = 0;
    for (const auto& m : models) total += r.candidate.weights.at(m);
    for (std::size_t f = 0; f < folds.size(); ++f) {
      const nlohmann::json j = fold_terms_json(folds[f], models, f);
      ASSERT_EQ(j["models"].get<std::vector<std::string>>(), models);
      const auto& t = j["terms"]["tail"];
      const auto fuse = [&](const char* part) {
        std::vector<double> out(t[part][0].size(), largest ? 1e300 : 0.0);
        for (std::size_t m = 0; m < models.size(); ++m) {
          const double share = r.candidate.weights.at(models[m]) / total;
          if (share == 0.0) continue;
          for (std::size_t i = 0; i < out.size(); ++i) {
            const double term = t[part][m][i].get<double>();
            out[i] = largest ? std::min(out[i], term) : out[i] + share * term;
          }
        }
        const double floor = std::log(j["tail_epsilon"].get<double>());
        for (auto& v : out) v = 1.0 - std::exp(std::max(v, floor));
        return out;
      };
      const auto cal = fuse("calibrate");
      const auto test = fuse("test");
      const auto y_cal = j["y_calibrate"].get<std::vector<int>>();
      ASSERT_EQ(y_cal.size(), cal.size());
      std::vector<double> normal;
      for (std::size_t i = 0; i < cal.size(); ++i) {
        if (y_cal[i] == 0) normal.push_back(cal[i]);
      }
      std::sort(normal.begin(), normal.end());
      const double threshold = normal[static_cast<std::size_t>(
          std::floor((1.0 - budget) * static_cast<double>(normal.size() - 1)))];
      const auto y = j["y_test"].get<std::vector<int>>();
      const auto family = j["family_test"].get<std::vector<std::int32_t>>();
      for (std::size_t i = 0; i < test.size(); ++i) {
        if (y[i] == 0) continue;
        hits[family[i]].first += test[i] > threshold ? 1 : 0;
        hits[family[i]].second += 1;
      }
    }
    double mean = 0;
    for (const auto& [family, h] : hits)
      mean += h.first / h.second / static_cast<double>(hits.size());
    EXPECT_NEAR(mean, r.mean_recall, 1e-12) << r.candidate.label();
  }
  EXPECT_EQ(max_candidates, 1u);
  EXPECT_THROW((void)fold_terms_json(folds[0], {"a", "absent"}, 0), core::Error);
}

// What the search judges a max candidate by is what the ensemble `train` fits scores it by: the
// fold's ensemble fitted on its calibration rows, in max mode with the candidate's weights, its
// threshold at the budget of the calibration benign rows.
TEST(FusionSearch, AMaxCandidateIsJudgedAsTheEnsembleScoresIt) {
  const FoldScores fold = split_strength_scores(31);
  const double budget = 0.01;
  const auto ranked = search_fusion({fold}, {"a", "b"}, budget);
  const auto max = std::find_if(ranked.begin(), ranked.end(), [](const FusionResult& r) {
    return r.candidate.mode == EnsembleMode::kMax;
  });
  ASSERT_NE(max, ranked.end());
  Ensemble e;
  for (const auto& [name, t] : fold.thresholds) e.set_model_threshold(name, t);
  e.set_tail_alert_rate(budget);
  e.fit(fold.calibrate, fold.y_calibrate);
  e.set_mode(EnsembleMode::kMax);
  const auto test = e.score(fold.test);
  const float threshold = e.threshold();
  std::map<std::int32_t, std::pair<double, double>> hits;
  for (std::size_t i = 0; i < test.size(); ++i) {
    if (fold.y_test[i] == 0) continue;
    hits[fold.family_test[i]].first += test[i] > threshold ? 1 : 0;
    hits[fold.family_test[i]].second += 1;
  }
  ASSERT_EQ(hits.size(), max->family_recall.size());
  for (const auto& [family, h] : hits) {
    EXPECT_NEAR(h.first / h.second, max->family_recall.at(family), 2.0 / h.second)
        << "family " << family;
  }
}

}  // namespace
}  // namespace netsentry::ml
