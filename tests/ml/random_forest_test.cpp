#include "ml/random_forest.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.h"
#include "ml/metrics.h"
#include "ml/random.h"

namespace netsentry::ml {
namespace {

namespace fs = std::filesystem;

struct Labelled {
  data::Matrix x;
  std::vector<int> y;
};

// XOR of the signs of two features plus three noise features: no single split separates it.
Labelled xor_data(std::size_t rows, std::uint64_t seed) {
  Rng rng(seed);
  Labelled d{data::Matrix(rows, 5), std::vector<int>(rows)};
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < 5; ++c) d.x.at(r, c) = static_cast<float>(rng.uniform() * 2 - 1);
    d.y[r] = (d.x.at(r, 0) > 0) != (d.x.at(r, 1) > 0) ? 1 : 0;
  }
  return d;
}

double accuracy(const std::vector<int>& y, const std::vector<int>& p) {
  std::size_t ok = 0;
  for (std::size_t i = 0; i < y.size(); ++i) ok += y[i] == p[i] ? 1 : 0;
  return static_cast<double>(ok) / static_cast<double>(y.size());
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("ns_rf_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const core::Error& e) {
    return e.what();
  }
  return "(no error)";
}

RandomForest trained(const Labelled& d, RandomForestOptions options = {}, std::uint64_t seed = 42,
                     const Labelled* val = nullptr) {
  RandomForest rf(options);
  TrainSet set;
  set.x = &d.x;
  set.y = d.y;
  if (val != nullptr) {
    set.x_val = &val->x;
    set.y_val = val->y;
  }
  TrainContext ctx;
  ctx.seed = seed;
  // One thread: OpenMP's spin-waiting makes 2 threads crawl on a shared, loaded test machine.
  ctx.threads = 1;
  rf.fit(set, ctx);
  return rf;
}

TEST(RandomForest, LearnsXorRule) {
  const auto train = xor_data(3000, 1);
  const auto test = xor_data(2000, 2);
  const auto rf = trained(train);
  EXPECT_EQ(rf.rounds(), 1);
  EXPECT_GT(accuracy(test.y, rf.predict(test.x)), 0.95);
  const auto s = rf.score(test.x);
  for (const float p : s) {
    ASSERT_GE(p, 0.0f);
    ASSERT_LE(p, 1.0f);
  }
}

TEST(RandomForest, GradientBoostingLearnsXorAndStopsEarly) {
  const auto train = xor_data(3000, 3);
  const auto val = xor_data(1000, 4);
  const auto test = xor_data(2000, 5);
  auto options = RandomForestOptions::gradient_boosting();
  options.trees = 1000;
  const auto gb = trained(train, options, 42, &val);
  EXPECT_GT(accuracy(test.y, gb.predict(test.x)), 0.95);
  // Validation logloss on this clean rule stops improving long before 1000 rounds.
  EXPECT_LT(gb.rounds(), 1000);
  EXPECT_GT(gb.rounds(), 5);
}

TEST(RandomForest, ClassWeightsRaiseMinorityPredictions) {
  // Overlapping classes, 5 % attacks: unweighted, the forest rarely says "attack".
  Rng rng(9);
  Labelled d{data::Matrix(4000, 2), std::vector<int>(4000)};
  std::vector<float> weights(4000);
  for (std::size_t r = 0; r < 4000; ++r) {
    const bool attack = r % 20 == 0;
    d.y[r] = attack ? 1 : 0;
    weights[r] = attack ? 19.0f : 1.0f;
    for (std::size_t c = 0; c < 2; ++c) {
      d.x.at(r, c) = static_cast<float>(rng.normal() + (attack ? 1.0 : 0.0));
    }
  }
  // XGBoost's leaf rules (a leaf of about 4 rows or more, values shrunk): with single-row leaves
  // each training row would mostly predict its own class, weighted or not.
  RandomForestOptions smoothed;
  smoothed.min_child_weight = 1.0;
  smoothed.l2 = 1.0;
  const auto plain = trained(d, smoothed);
  RandomForestOptions with_weights = smoothed;
  with_weights.sample_weights = true;
  RandomForest weighted(with_weights);
  TrainSet set;
  set.x = &d.x;
  set.y = d.y;
  set.weights = weights;
  weighted.fit(set, {});
  const auto p0 = plain.predict(d.x);
  const auto p1 = weighted.predict(d.x);
  const int n0 = std::accumulate(p0.begin(), p0.end(), 0);
  const int n1 = std::accumulate(p1.begin(), p1.end(), 0);
  EXPECT_GT(n1, 3 * std::max(n0, 1));
  // Recall on attacks rises accordingly.
  EXPECT_GT(evaluate_binary(d.y, weighted.score(d.x), 0.5f).recall,
            evaluate_binary(d.y, plain.score(d.x), 0.5f).recall + 0.3);
}

// Attack rows weigh 9, benign rows 1.
std::vector<float> attacks_weigh_nine(const Labelled& d) {
  std::vector<float> weights(d.y.size());
  for (std::size_t r = 0; r < weights.size(); ++r) weights[r] = d.y[r] == 1 ? 9.0f : 1.0f;
  return weights;
}

// Scores of a forest trained on d on one thread, given `weights` (empty: none).
std::vector<float> fit_and_score(const Labelled& d, const RandomForestOptions& options,
                                 const std::vector<float>& weights) {
  RandomForest rf(options);
  TrainSet set;
  set.x = &d.x;
  set.y = d.y;
  set.weights = weights;
  TrainContext ctx;
  ctx.threads = 1;
  rf.fit(set, ctx);
  return rf.score(d.x);
}

TEST(RandomForest, SampleWeightsOffTrainsAsIfEveryRowWeighedOne) {
  const auto d = xor_data(2000, 12);
  const auto weights = attacks_weigh_nine(d);
  RandomForestOptions with, without;
  with.sample_weights = true;
  without.sample_weights = false;
  const auto unweighted = fit_and_score(d, with, {});
  EXPECT_EQ(fit_and_score(d, without, weights), unweighted);
  EXPECT_NE(fit_and_score(d, with, weights), unweighted);
}

TEST(RandomForest, RandomForestIgnoresRowWeightsByDefaultGradientBoostingUsesThem) {
  const auto d = xor_data(2000, 14);
  const auto weights = attacks_weigh_nine(d);
  EXPECT_EQ(fit_and_score(d, {}, weights), fit_and_score(d, {}, {}));
  auto gb_options = RandomForestOptions::gradient_boosting();
  gb_options.trees = 20;
  EXPECT_NE(fit_and_score(d, gb_options, weights), fit_and_score(d, gb_options, {}));
}

// The trees' first split of each tree, from the saved XGBoost model.
std::vector<int> root_features(const RandomForest& rf) {
  TempDir dir;
  const auto file = rf.save(dir.path());
  std::ifstream in(dir.path() / file);
  const auto j = nlohmann::json::parse(in);
  std::vector<int> out;
  for (const auto& tree : j["learner"]["gradient_booster"]["model"]["trees"]) {
    out.push_back(tree["split_indices"][0].get<int>());
    EXPECT_LE(tree["left_children"].size(), 7u) << "max_depth 2 allows at most 7 nodes";
  }
  return out;
}

TEST(RandomForest, DepthAndSqrtFeatureShareReachXgboost) {
  // 64 features; only feature 0 decides the class, so a tree that may look at every feature
  // splits on it first, while one that sees sqrt(64) = 8 random features per split often cannot.
  Rng rng(13);
  Labelled d{data::Matrix(2000, 64), std::vector<int>(2000)};
  for (std::size_t r = 0; r < 2000; ++r) {
    for (std::size_t c = 0; c < 64; ++c) d.x.at(r, c) = static_cast<float>(rng.uniform());
    d.y[r] = d.x.at(r, 0) > 0.5f ? 1 : 0;
  }
  RandomForestOptions all;
  all.max_depth = 2;
  all.trees = 40;
  all.colsample_bynode = 1.0;
  all.colsample_sqrt = false;
  RandomForestOptions sqrt_share = all;
  sqrt_share.colsample_sqrt = true;
  const auto roots_all = root_features(trained(d, all));
  const auto roots_sqrt = root_features(trained(d, sqrt_share));
  ASSERT_EQ(roots_all.size(), 40u);
  ASSERT_EQ(roots_sqrt.size(), 40u);
  EXPECT_EQ(std::count(roots_all.begin(), roots_all.end(), 0), 40);
  const auto on_feature_0 = std::count(roots_sqrt.begin(), roots_sqrt.end(), 0);
  EXPECT_GT(on_feature_0, 0);  // about 8 in 64 of the roots see feature 0
  EXPECT_LT(on_feature_0, 20);
}

// 300 benign rows over a grid of [0, 1]^2 (few distinct values, so XGBoost's histogram cuts fall
// between them exactly) and one attack row outside them, at (2, 2).
Labelled lone_attack() {
  Rng rng(21);
  Labelled d{data::Matrix(301, 2), std::vector<int>(301, 0)};
  for (std::size_t r = 0; r < 300; ++r) {
    d.x.at(r, 0) = static_cast<float>(std::floor(rng.uniform() * 5) / 4);
    d.x.at(r, 1) = static_cast<float>(std::floor(rng.uniform() * 5) / 4);
  }
  d.x.at(300, 0) = d.x.at(300, 1) = 2.0f;
  d.y[300] = 1;
  return d;
}

TEST(RandomForest, ALeafMayHoldOneRowAndItsValueFollowsItsClass) {
  const auto d = lone_attack();
  RandomForestOptions leaves;  // the random forest's defaults: min_child_weight 0, lambda 0
  leaves.trees = 10;
  leaves.subsample = 1.0;  // every tree sees the attack row
  EXPECT_EQ(leaves.min_child_weight, 0.0);
  EXPECT_EQ(leaves.l2, 0.0);
  const float alone = trained(d, leaves).score(d.x)[300];
  // XGBoost's own defaults: a leaf needs a summed hessian of 1 (4 rows at 0.25), so the attack
  // row cannot leave the benign rows' leaf.
  RandomForestOptions xgboost = leaves;
  xgboost.min_child_weight = 1.0;
  xgboost.l2 = 1.0;
  const float pooled = trained(d, xgboost).score(d.x)[300];
  // min_child_weight 0 but lambda 1: the row has its own leaf, whose value lambda shrinks.
  RandomForestOptions shrunk = leaves;
  shrunk.l2 = 1.0;
  const float shrunk_score = trained(d, shrunk).score(d.x)[300];
  // The forest's margin is the mean of its trees' leaf values.
  EXPECT_GT(alone, 0.85f);  // sigmoid(2): in every tree, a pure leaf of the one attack row
  EXPECT_LT(pooled, 0.5f);
  EXPECT_GT(shrunk_score, 0.55f);
  EXPECT_LT(shrunk_score, 0.65f);  // sigmoid(0.5 / (0.25 + 1))
  EXPECT_THROW(RandomForest([] {
                 RandomForestOptions o;
                 o.l2 = -1;
                 return o;
               }()),
               core::Error);
}

TEST(RandomForest, SameSeedSameModelDifferentSeedDifferentModel) {
  const auto train = xor_data(1000, 6);
  const auto a = trained(train, {}, 7).score(train.x);
  const auto b = trained(train, {}, 7).score(train.x);
  const auto c = trained(train, {}, 8).score(train.x);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(RandomForest, SaveLoadGivesIdenticalScoresThresholdAndMode) {
  const auto train = xor_data(1000, 10);
  auto gb_options = RandomForestOptions::gradient_boosting();
  gb_options.trees = 30;
  for (const auto& options : {RandomForestOptions{}, gb_options}) {
    auto rf = trained(train, options);
    rf.set_threshold(0.37f);
    TempDir dir;
    const auto file = rf.save(dir.path());
    EXPECT_EQ(file, "random_forest.json");
    RandomForest loaded;
    loaded.load(dir.path(), file, 5);
    EXPECT_EQ(loaded.score(train.x), rf.score(train.x));
    EXPECT_EQ(loaded.threshold(), 0.37f);
    EXPECT_EQ(loaded.options().mode, options.mode);
    loaded.set_threads(2);
    EXPECT_EQ(loaded.score(train.x), rf.score(train.x));
  }
}

TEST(RandomForest, CompiledTreesScoreLikeXgboostIncludingMissingValues) {
  const auto train = xor_data(2000, 21);
  auto gb_options = RandomForestOptions::gradient_boosting();
  gb_options.trees = 40;
  for (const auto& options : {RandomForestOptions{}, gb_options}) {
    const auto rf = trained(train, options);
    TempDir dir;
    const auto file = rf.save(dir.path());
    RandomForest loaded;
    loaded.load(dir.path(), file, 5);
    ASSERT_TRUE(loaded.compiled());
    data::Matrix x = xor_data(777, 22).x;  // not a multiple of the 64-row block
    for (std::size_t r = 0; r < x.rows; r += 5) x.at(r, r % 5) = std::nanf("");
    const auto ours = loaded.score(x);
    const auto theirs = loaded.score_with_xgboost(x);
    ASSERT_EQ(ours.size(), theirs.size());
    float worst = 0;
    for (std::size_t i = 0; i < ours.size(); ++i)
      worst = std::max(worst, std::abs(ours[i] - theirs[i]));
    EXPECT_LT(worst, 1e-6f);
    // Not a constant: the trees really split.
    EXPECT_GT(
        *std::max_element(ours.begin(), ours.end()) - *std::min_element(ours.begin(), ours.end()),
        0.5f);
  }
}

TEST(RandomForest, LoadNamesFeatureCountMismatchAndCorruption) {
  const auto train = xor_data(500, 11);
  const auto rf = trained(train);
  TempDir dir;
  const auto file = rf.save(dir.path());
  RandomForest loaded;
  auto msg = error_of([&] { loaded.load(dir.path(), file, 7); });
  EXPECT_NE(msg.find("num_feature is 5 but the bundle has 7 features"), std::string::npos) << msg;
  EXPECT_NE(msg.find("random_forest.json"), std::string::npos) << msg;

  std::ofstream(dir.path() / "broken.json") << "{\"learner\": [1, 2";
  msg = error_of([&] { loaded.load(dir.path(), "broken.json", 5); });
  EXPECT_NE(msg.find("broken.json: not valid JSON"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;

  msg = error_of([&] { loaded.load(dir.path(), "absent.json", 5); });
  EXPECT_NE(msg.find("model file not found"), std::string::npos) << msg;
  EXPECT_FALSE(loaded.fitted());
}

TEST(RandomForest, TreatsNanAsMissingAndRejectsWrongWidth) {
  const auto train = xor_data(500, 12);
  const auto rf = trained(train);
  data::Matrix x(2, 5, 0.5f);
  x.at(0, 0) = std::nanf("");
  for (const float p : rf.score(x)) EXPECT_TRUE(std::isfinite(p));
  const data::Matrix narrow(2, 4);
  const auto msg = error_of([&] { (void)rf.score(narrow); });
  EXPECT_NE(msg.find("5 features but the data has 4"), std::string::npos) << msg;
}

TEST(RandomForest, RejectsMissingLabelsAndMismatchedWeights) {
  const auto train = xor_data(100, 13);
  RandomForest rf;
  TrainSet set;
  set.x = &train.x;
  EXPECT_NE(error_of([&] { rf.fit(set, {}); }).find("needs labels"), std::string::npos);
  set.y = train.y;
  const std::vector<float> weights(99, 1.0f);
  set.weights = weights;
  EXPECT_NE(error_of([&] { rf.fit(set, {}); }).find("99 weights for 100"), std::string::npos);
  EXPECT_THROW((void)rf.score(train.x), core::Error);
}

}  // namespace
}  // namespace netsentry::ml
