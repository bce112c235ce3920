#include "ml/ensemble.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "ml/metrics.h"
#include "ml/random.h"

namespace netsentry::ml {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const core::Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A synthetic split: `good` separates the classes (score = y + noise), `scaled` is the same signal
// on a 0..1000 scale with its own noise, `useless` is noise unrelated to y.
struct Split {
  std::vector<int> y;
  ModelScores scores;
};

Split make_split(std::size_t rows, std::uint64_t seed) {
  Rng rng(seed);
  Split s;
  s.y.resize(rows);
  auto& good = s.scores["good"];
  auto& scaled = s.scores["scaled"];
  auto& useless = s.scores["useless"];
  for (std::size_t i = 0; i < rows; ++i) {
    s.y[i] = rng.uniform() < 0.3 ? 1 : 0;
    good.push_back(static_cast<float>(s.y[i] + 0.35 * rng.normal()));
    scaled.push_back(static_cast<float>(1000.0 * (s.y[i] + 0.5 * rng.normal())));
    useless.push_back(static_cast<float>(rng.uniform()));
  }
  return s;
}

double f1_of(const std::vector<int>& y, const std::vector<int>& p) {
  std::vector<float> as_scores(p.begin(), p.end());
  return evaluate_binary(y, as_scores, 0.5f).f1;
}

TEST(Ensemble, VoteFlagsWhenWeightedVoteShareExceedsHalf) {
  Ensemble e;
  for (const char* m : {"a", "b", "c"}) e.set_model_threshold(m, 0.5f);
  // Rows: only a votes; a and b vote; all vote; nobody votes.
  const ModelScores s = {{"a", {0.9f, 0.9f, 0.9f, 0.1f}},
                         {"b", {0.1f, 0.9f, 0.9f, 0.1f}},
                         {"c", {0.1f, 0.1f, 0.9f, 0.1f}}};
  EXPECT_EQ(e.predict(s), (std::vector<int>{0, 1, 1, 0}));
  const auto score = e.score(s);
  EXPECT_FLOAT_EQ(score[0], 1.0f / 3.0f);
  EXPECT_FLOAT_EQ(score[2], 1.0f);
  // Weight 3 on a: its vote alone is 3/5 > 0.5.
  e.set_weight("a", 3.0);
  EXPECT_EQ(e.predict(s), (std::vector<int>{1, 1, 1, 0}));
  // A score equal to its model's threshold is not a vote.
  e.set_weight("a", 1.0);
  EXPECT_EQ(e.predict({{"a", {0.5f}}, {"b", {0.5f}}, {"c", {0.5f}}}), (std::vector<int>{0}));
}

TEST(Ensemble, VoteWithTwoEqualModelsNeedsBoth) {
  Ensemble e;
  e.set_model_threshold("isolation_forest", 0.5f);
  e.set_model_threshold("random_forest", 0.5f);
  const ModelScores s = {{"isolation_forest", {0.7f, 0.7f}}, {"random_forest", {0.2f, 0.8f}}};
  EXPECT_EQ(e.predict(s), (std::vector<int>{0, 1}));
}

TEST(Ensemble, VoteQuorumAsksForAgreement) {
  Ensemble e;
  for (const char* m : {"isolation_forest", "random_forest", "lstm", "autoencoder"}) {
    e.set_model_threshold(m, 0.5f);
  }
  e.set_weight("isolation_forest", 2.0);
  e.set_weight("random_forest", 2.0);
  e.set_vote_quorum(0.75);
  EXPECT_FLOAT_EQ(e.threshold(), 0.75f);
  // Rows: both forests; both forests and the LSTM; IF + LSTM + AE; RF + LSTM + AE; all four.
  const ModelScores s = {{"isolation_forest", {0.9f, 0.9f, 0.9f, 0.1f, 0.9f}},
                         {"random_forest", {0.9f, 0.9f, 0.1f, 0.9f, 0.9f}},
                         {"lstm", {0.1f, 0.9f, 0.9f, 0.9f, 0.9f}},
                         {"autoencoder", {0.1f, 0.1f, 0.9f, 0.9f, 0.9f}}};
  EXPECT_EQ(e.predict(s), (std::vector<int>{0, 1, 0, 0, 1}));
  // The original majority flags every row but none of the first.
  e.set_vote_quorum(0.5);
  EXPECT_EQ(e.predict(s), (std::vector<int>{1, 1, 1, 1, 1}));
  EXPECT_NE(error_of([&] { e.set_vote_quorum(0.4); }).find("quorum"), std::string::npos);
  EXPECT_NE(error_of([&] { e.set_vote_quorum(1.0); }).find("quorum"), std::string::npos);
}

TEST(Ensemble, VoteQuorumSurvivesJsonAndOldBundlesVoteByMajority) {
  Ensemble e;
  for (const char* m : {"a", "b", "c"}) e.set_model_threshold(m, 0.5f);
  e.set_vote_quorum(0.7);
  const ModelScores s = {{"a", {0.9f, 0.9f}}, {"b", {0.9f, 0.9f}}, {"c", {0.1f, 0.9f}}};
  EXPECT_EQ(e.predict(s), (std::vector<int>{0, 1}));
  auto j = e.to_json();
  EXPECT_EQ(Ensemble::from_json(j).predict(s), (std::vector<int>{0, 1}));
  j.erase("vote_quorum");
  EXPECT_EQ(Ensemble::from_json(j).predict(s), (std::vector<int>{1, 1}));
  j["vote_quorum"] = 1.5;
  EXPECT_NE(error_of([&] { (void)Ensemble::from_json(j); }).find("vote_quorum"), std::string::npos);
}

TEST(Ensemble, StackedLearnsToIgnoreAUselessModel) {
  const auto val = make_split(3000, 1);
  const auto test = make_split(3000, 2);
  ModelScores val_pair = {{"good", val.scores.at("good")}, {"useless", val.scores.at("useless")}};
  ModelScores test_pair = {{"good", test.scores.at("good")},
                           {"useless", test.scores.at("useless")}};
  Ensemble e;
  e.set_model_threshold("good", 0.5f);
  e.set_model_threshold("useless", 0.5f);
  e.fit(val_pair, val.y);

  e.set_mode(EnsembleMode::kVote);
  const double vote_f1 = f1_of(test.y, e.predict(test_pair));
  e.set_mode(EnsembleMode::kStacked);
  const double stacked_f1 = f1_of(test.y, e.predict(test_pair));
  // The good model alone, at its own threshold.
  Ensemble alone;
  alone.set_model_threshold("good", 0.5f);
  const double good_f1 = f1_of(test.y, alone.predict({{"good", test.scores.at("good")}}));

  EXPECT_GT(stacked_f1, vote_f1 + 0.2);
  EXPECT_GT(stacked_f1, good_f1 - 0.02);
  const auto j = e.to_json();
  const double coef_good = j["stacked"]["terms"]["good"]["coef"];
  const double coef_useless = j["stacked"]["terms"]["useless"]["coef"];
  EXPECT_GT(std::abs(coef_good), 10.0 * std::abs(coef_useless));
}

TEST(Ensemble, SoftCalibratesModelsOnDifferentScales) {
  const auto val = make_split(3000, 3);
  const auto test = make_split(3000, 4);
  ModelScores val_pair = {{"good", val.scores.at("good")}, {"scaled", val.scores.at("scaled")}};
  ModelScores test_pair = {{"good", test.scores.at("good")}, {"scaled", test.scores.at("scaled")}};
  Ensemble e;
  e.set_model_threshold("good", 0.5f);
  e.set_model_threshold("scaled", 500.0f);
  e.fit(val_pair, val.y);
  e.set_mode(EnsembleMode::kSoft);
  const auto s = e.score(test_pair);
  for (const float v : s) {
    ASSERT_GE(v, 0.0f);
    ASSERT_LE(v, 1.0f);
  }
  // Averaging probabilities, not raw scores: the 0..1000 model does not drown the other one, and
  // the combination beats the weaker model alone.
  EXPECT_GT(roc_auc(test.y, s), roc_auc(test.y, test.scores.at("scaled")));
  EXPECT_GT(f1_of(test.y, e.predict(test_pair)), 0.9);
  // Calibrated probabilities track the truth: mean probability close to the attack share.
  double mean = 0.0;
  for (const float v : s) mean += v;
  mean /= static_cast<double>(s.size());
  const double share =
      static_cast<double>(std::count(test.y.begin(), test.y.end(), 1)) / test.y.size();
  EXPECT_NEAR(mean, share, 0.05);
}

TEST(Ensemble, ChooseBestPicksTheModeWithBestValidationF1) {
  const auto val = make_split(2000, 5);
  Ensemble e;
  for (const auto& [name, s] : val.scores)
    e.set_model_threshold(name, name == "scaled" ? 500 : 0.5f);
  e.fit(val.scores, val.y);
  ASSERT_EQ(e.validation_results().size(), 5u);
  const auto& r = e.validation_results();
  const auto best = std::max_element(r.begin(), r.end(),
                                     [](const auto& a, const auto& b) { return a.f1 < b.f1; });
  EXPECT_EQ(e.choose_best(), best->mode);
  EXPECT_EQ(e.mode(), best->mode);
  EXPECT_EQ(e.threshold(), best->threshold);
  // With a useless third voter, vote is not the best here.
  EXPECT_NE(e.mode(), EnsembleMode::kVote);
}

TEST(Ensemble, JsonRoundTripGivesIdenticalScoresInEveryMode) {
  const auto val = make_split(1000, 6);
  const auto test = make_split(500, 7);
  Ensemble e;
  for (const auto& [name, s] : val.scores)
    e.set_model_threshold(name, name == "scaled" ? 500 : 0.5f);
  e.set_weight("good", 2.0);
  e.fit(val.scores, val.y);
  for (const auto mode : {EnsembleMode::kVote, EnsembleMode::kSoft, EnsembleMode::kStacked,
                          EnsembleMode::kTail, EnsembleMode::kMax}) {
    e.set_mode(mode);
    const auto copy = Ensemble::from_json(nlohmann::json::parse(e.to_json().dump()));
    EXPECT_EQ(copy.mode(), mode);
    EXPECT_EQ(copy.score(test.scores), e.score(test.scores)) << to_string(mode);
    EXPECT_EQ(copy.threshold(), e.threshold());
    EXPECT_EQ(copy.validation_results().size(), 5u);
  }
}

// The max mode's score is the most extreme tail position of the models with a weight: each model
// alone in the tail mode gives its own position (u - eps), so the max of two models must be the
// larger of the two single-model tail scores, whatever their weights, and a model of weight 0
// must not count. At each mode's own threshold, rows both models find moderately unusual are
// flagged by the tail mode, which adds their evidence up, and not by the max mode.
TEST(Ensemble, MaxModeTakesTheMostExtremeTailPositionOfTheWeightedModels) {
  const auto val = make_split(3000, 21);
  const auto test = make_split(2000, 22);
  const auto fitted = [&](double w_good, double w_scaled, double w_useless) {
    Ensemble e;
    for (const auto& [name, s] : val.scores)
      e.set_model_threshold(name, name == "scaled" ? 500 : 0.5f);
    e.set_weight("good", w_good);
    e.set_weight("scaled", w_scaled);
    e.set_weight("useless", w_useless);
    e.fit(val.scores, val.y);
    return e;
  };
  const auto good = fitted(1, 0, 0).score_as(EnsembleMode::kTail, test.scores);
  const auto scaled = fitted(0, 1, 0).score_as(EnsembleMode::kTail, test.scores);
  const auto largest = fitted(1, 1, 0).score_as(EnsembleMode::kMax, test.scores);
  EXPECT_EQ(fitted(1, 2, 0).score_as(EnsembleMode::kMax, test.scores), largest);
  const auto with_useless = fitted(1, 1, 1).score_as(EnsembleMode::kMax, test.scores);
  Ensemble e = fitted(1, 1, 0);
  e.set_mode(EnsembleMode::kTail);
  const auto by_tail = e.predict(test.scores);
  e.set_mode(EnsembleMode::kMax);
  const auto by_max = e.predict(test.scores);
  std::size_t useless_counted = 0, only_tail = 0;
  for (std::size_t i = 0; i < largest.size(); ++i) {
    EXPECT_NEAR(largest[i], std::max(good[i], scaled[i]), 1e-6) << "row " << i;
    useless_counted += with_useless[i] > largest[i] + 1e-6f ? 1 : 0;
    only_tail += by_tail[i] == 1 && by_max[i] == 0 ? 1 : 0;
  }
  EXPECT_GT(useless_counted, 0u);  // weight 1: the third model's position now counts
  EXPECT_GT(only_tail, 0u);
  // Its threshold lets the alert rate of normal validation rows through, as tail's does.
  EXPECT_TRUE(e.threshold_from_alert_rate());
  const auto p = e.predict(val.scores);
  std::size_t normal = 0, flagged = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (val.y[i] == 1) continue;
    ++normal;
    flagged += static_cast<std::size_t>(p[i]);
  }
  EXPECT_NEAR(static_cast<double>(flagged) / static_cast<double>(normal), 0.05, 0.005);
}

// Bundles from before the max mode have no max threshold: they load and score in their own mode,
// refuse a switch to max by name, and a bundle that says max must have one.
TEST(Ensemble, ABundleWithoutAMaxThresholdLoadsButCannotScoreInMaxMode) {
  const auto val = make_split(800, 23);
  Ensemble e;
  for (const auto& [name, s] : val.scores) e.set_model_threshold(name, 0.5f);
  e.fit(val.scores, val.y);
  e.set_mode(EnsembleMode::kTail);
  auto j = e.to_json();
  ASSERT_TRUE(j["tail"].contains("max_threshold"));
  j["tail"].erase("max_threshold");
  auto old = Ensemble::from_json(j);
  EXPECT_EQ(old.score(val.scores), e.score(val.scores));
  old.set_mode(EnsembleMode::kMax);
  EXPECT_NE(error_of([&] { (void)old.predict(val.scores); }).find("no max-mode threshold"),
            std::string::npos);
  j["mode"] = "max";
  EXPECT_NE(error_of([&] {
              (void)Ensemble::from_json(j);
            }).find("field \"tail.max_threshold\" is missing"),
            std::string::npos);
}

// Validation holds only "known" attacks that the supervised model scores high. At test time a
// novel attack scores normal for the supervised model but far outside normal for the anomaly
// detector: tail flags it, stacked (which learned to trust the supervised model) does not.
TEST(Ensemble, TailFlagsANovelAttackThatOnlyTheAnomalyDetectorSees) {
  Rng rng(11);
  std::vector<int> y;
  ModelScores val;
  for (int i = 0; i < 4000; ++i) {
    const int label = rng.uniform() < 0.4 ? 1 : 0;
    y.push_back(label);
    val["supervised"].push_back(static_cast<float>(label + 0.05 * rng.normal()));
    // The anomaly detector sees known attacks only weakly.
    val["anomaly"].push_back(static_cast<float>(0.3 * label + rng.normal()));
  }
  Ensemble e;
  e.set_model_threshold("supervised", 0.5f);
  e.set_model_threshold("anomaly", 1.6f);
  e.fit(val, y);
  const ModelScores novel = {{"supervised", {0.0f, 0.0f}}, {"anomaly", {6.0f, 0.0f}}};
  e.set_mode(EnsembleMode::kTail);
  EXPECT_EQ(e.predict(novel), (std::vector<int>{1, 0}));
  e.set_mode(EnsembleMode::kStacked);
  EXPECT_EQ(e.predict(novel)[0], 0);
}

TEST(Ensemble, TailThresholdLetsTheAlertRateOfNormalRowsThrough) {
  for (const double rate : {0.01, 0.05, 0.2}) {
    const auto val = make_split(5000, 12);
    const auto test = make_split(20000, 13);
    Ensemble e;
    for (const auto& [name, s] : val.scores)
      e.set_model_threshold(name, name == "scaled" ? 500 : 0.5f);
    e.set_tail_alert_rate(rate);
    e.fit(val.scores, val.y);
    e.set_mode(EnsembleMode::kTail);
    const auto p = e.predict(test.scores);
    std::size_t normal = 0, flagged = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (test.y[i] == 0) {
        ++normal;
        flagged += static_cast<std::size_t>(p[i]);
      }
    }
    const double observed = static_cast<double>(flagged) / static_cast<double>(normal);
    EXPECT_NEAR(observed, rate, 0.25 * rate + 0.005) << "alert rate " << rate;
  }
  Ensemble e;
  EXPECT_THROW(e.set_tail_alert_rate(0.0), core::Error);
  EXPECT_THROW(e.set_tail_alert_rate(0.7), core::Error);
}

TEST(Ensemble, FromJsonNamesTheBadField) {
  const auto val = make_split(500, 8);
  Ensemble e;
  for (const auto& [name, s] : val.scores) e.set_model_threshold(name, 0.5f);
  e.fit(val.scores, val.y);
  auto j = e.to_json();
  j["stacked"]["terms"].erase("useless");
  EXPECT_NE(error_of([&] {
              (void)Ensemble::from_json(j);
            }).find("field \"stacked.terms.useless\" is missing"),
            std::string::npos);
  j = e.to_json();
  j["mode"] = "median";
  EXPECT_NE(error_of([&] { (void)Ensemble::from_json(j); }).find("unknown mode \"median\""),
            std::string::npos);
  j = e.to_json();
  j["thresholds"]["good"] = "high";
  EXPECT_NE(error_of([&] { (void)Ensemble::from_json(j); }).find("field \"thresholds.good\""),
            std::string::npos);
}

TEST(Ensemble, WorksWithAnySubsetAndNamesMissingModels) {
  const auto val = make_split(800, 9);
  ModelScores two = {{"isolation_forest", val.scores.at("good")},
                     {"random_forest", val.scores.at("scaled")}};
  Ensemble e;
  e.set_model_threshold("isolation_forest", 0.5f);
  e.set_model_threshold("random_forest", 500.0f);
  e.fit(two, val.y);
  EXPECT_EQ(e.models(), (std::vector<std::string>{"isolation_forest", "random_forest"}));
  e.set_mode(EnsembleMode::kStacked);
  EXPECT_EQ(e.score(two).size(), 800u);
  // Extra models are ignored; a missing one is named.
  two["lstm"] = std::vector<float>(800, 0.0f);
  EXPECT_EQ(e.score(two).size(), 800u);
  two.erase("random_forest");
  EXPECT_NE(error_of([&] { (void)e.score(two); }).find("no scores given for model random_forest"),
            std::string::npos);
}

TEST(Ensemble, RejectsUnusableInput) {
  Ensemble e;
  e.set_mode(EnsembleMode::kSoft);
  e.set_model_threshold("a", 0.5f);
  EXPECT_NE(error_of([&] {
              (void)e.score({{"a", {0.1f}}});
            }).find("needs fit()"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              e.fit({{"a", {0.1f, 0.2f}}}, std::vector<int>{0, 0});
            }).find("both normal and attack"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              e.fit({{"b", {0.1f, 0.2f}}}, std::vector<int>{0, 1});
            }).find("no threshold set for model b"),
            std::string::npos);
  EXPECT_THROW(e.set_weight("a", -1.0), core::Error);
  EXPECT_THROW((void)ensemble_mode_from_string("median"), core::Error);
}

}  // namespace
}  // namespace netsentry::ml
