#include <gtest/gtest.h>

#include "app/commands.h"
#include "core/error.h"
#include "ml/random_forest.h"

namespace netsentry::app {
namespace {

TEST(TrainRandomForestOptions, RandomForestModeDefaultsToDeepUnweightedSqrtFeatureTrees) {
  const auto rf = random_forest_options(TrainOptions{});
  EXPECT_EQ(rf.mode, ml::RandomForestOptions::Mode::kRandomForest);
  EXPECT_EQ(rf.max_depth, 20);
  EXPECT_TRUE(rf.colsample_sqrt);
  EXPECT_FALSE(rf.sample_weights);
  EXPECT_EQ(rf.min_child_weight, 0.0);
  EXPECT_EQ(rf.l2, 0.0);
}

TEST(TrainRandomForestOptions, GradientBoostingKeepsItsOwnDefaults) {
  TrainOptions o;
  o.rf_mode = "gbtree";
  const auto gb = random_forest_options(o);
  EXPECT_EQ(gb.mode, ml::RandomForestOptions::Mode::kGradientBoosting);
  EXPECT_EQ(gb.max_depth, 6);
  EXPECT_FALSE(gb.colsample_sqrt);
  EXPECT_EQ(gb.colsample_bynode, 1.0);
  EXPECT_TRUE(gb.sample_weights);
  EXPECT_EQ(gb.min_child_weight, 1.0);
  EXPECT_EQ(gb.l2, 1.0);
}

TEST(TrainRandomForestOptions, GivenValuesOverrideTheModesDefaults) {
  TrainOptions o;
  o.rf_depth = 8;
  o.rf_features = "0.8";
  o.rf_class_weight = "balanced";
  o.rf_min_child_weight = 1;
  o.rf_lambda = 2;
  const auto rf = random_forest_options(o);
  EXPECT_EQ(rf.max_depth, 8);
  EXPECT_EQ(rf.min_child_weight, 1.0);
  EXPECT_EQ(rf.l2, 2.0);
  EXPECT_FALSE(rf.colsample_sqrt);  // a share replaces the default sqrt(n)
  EXPECT_DOUBLE_EQ(rf.colsample_bynode, 0.8);
  EXPECT_TRUE(rf.sample_weights);
  o.rf_mode = "gbtree";
  o.rf_features = "sqrt";
  o.rf_class_weight = "none";
  o.rf_min_child_weight = 0;
  o.rf_lambda = 0;
  const auto gb = random_forest_options(o);
  EXPECT_EQ(gb.min_child_weight, 0.0);
  EXPECT_EQ(gb.l2, 0.0);
  EXPECT_TRUE(gb.colsample_sqrt);
  EXPECT_FALSE(gb.sample_weights);
}

TEST(TrainRandomForestOptions, BadValuesAreNamed) {
  TrainOptions o;
  o.rf_features = "1.5";
  EXPECT_THROW((void)random_forest_options(o), core::Error);
  o.rf_features.clear();
  o.rf_mode = "forest";
  EXPECT_THROW((void)random_forest_options(o), core::Error);
}

}  // namespace
}  // namespace netsentry::app
