#include "ml/random_forest.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace netsentry::ml {
namespace {

constexpr const char* kThresholdAttr = "netsentry_threshold";
constexpr const char* kModeAttr = "netsentry_mode";

std::string num(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

}  // namespace

RandomForestOptions RandomForestOptions::gradient_boosting() {
  RandomForestOptions o;
  o.mode = Mode::kGradientBoosting;
  o.trees = 200;
  o.max_depth = 6;
  o.learning_rate = 0.1;
  o.subsample = 1.0;
  o.colsample_bynode = 1.0;
  o.early_stopping_rounds = 20;
  return o;
}

std::string_view to_string(RandomForestOptions::Mode mode) {
  return mode == RandomForestOptions::Mode::kRandomForest ? "rf" : "gbtree";
}

RandomForest::RandomForest(RandomForestOptions options)
    : options_(options), threshold_(options.threshold) {
  if (options_.trees < 1) throw core::Error("random forest: trees must be at least 1");
  if (options_.max_depth < 1) throw core::Error("random forest: max_depth must be at least 1");
  if (!(options_.subsample > 0.0 && options_.subsample <= 1.0) ||
      !(options_.colsample_bynode > 0.0 && options_.colsample_bynode <= 1.0)) {
    throw core::Error("random forest: subsample and colsample_bynode must be in (0, 1]");
  }
}

void RandomForest::fit(const TrainSet& train, const TrainContext& ctx) {
  if (train.x == nullptr || train.x->rows == 0) {
    throw core::Error("random forest: the training matrix is empty");
  }
  if (train.y.empty()) throw core::Error("random forest: needs labels (y) to train");
  const bool rf = options_.mode == RandomForestOptions::Mode::kRandomForest;

  forest::BoosterConfig config;
  config.params = {
      {"booster", "gbtree"},
      {"objective", "binary:logistic"},
      {"eval_metric", "logloss"},
      {"tree_method", "hist"},
      {"max_depth", std::to_string(options_.max_depth)},
      {"learning_rate", num(options_.learning_rate)},
      {"subsample", num(options_.subsample)},
      {"colsample_bynode", num(options_.colsample_bynode)},
      {"num_parallel_tree", std::to_string(rf ? options_.trees : 1)},
      {"nthread", std::to_string(std::max(ctx.threads, 1))},
      {"seed", std::to_string(ctx.seed)},
      {"verbosity", "0"},
  };
  config.rounds = rf ? 1 : options_.trees;
  config.early_stopping_rounds = rf ? 0 : options_.early_stopping_rounds;
  config.progress = ctx.progress;

  booster_.train(*train.x, train.y, train.weights, train.x_val, train.y_val, config);
  booster_.set_attr(kModeAttr, std::string(to_string(options_.mode)));
  set_threshold(threshold_);
}

void RandomForest::set_threshold(float threshold) {
  threshold_ = threshold;
  if (fitted()) booster_.set_attr(kThresholdAttr, num(threshold));
}

std::vector<float> RandomForest::score(const data::Matrix& x,
                                       std::span<const std::int32_t> /*group*/) const {
  return booster_.predict(x);
}

void RandomForest::set_threads(int threads) {
  booster_.set_param("nthread", std::to_string(std::max(threads, 1)));
}

std::string RandomForest::save(const std::filesystem::path& dir) const {
  if (!fitted()) throw core::Error("random forest: save() called before fit()");
  booster_.save(dir / kFileName);
  return kFileName;
}

void RandomForest::load(const std::filesystem::path& dir, const std::string& file,
                        std::size_t expected_features) {
  const auto path = dir / file;
  forest::Booster loaded;
  loaded.load(path);
  const auto n = loaded.num_features();
  if (n != expected_features) {
    throw core::Error(path.string() + ": model was trained on " + std::to_string(n) +
                      " features but " + std::to_string(expected_features) + " are expected");
  }
  float threshold = options_.threshold;
  if (const auto t = loaded.attr(kThresholdAttr)) {
    char* end = nullptr;
    threshold = std::strtof(t->c_str(), &end);
    if (end == t->c_str() || !std::isfinite(threshold)) {
      throw core::Error(path.string() + ": attribute " + kThresholdAttr + " \"" + *t +
                        "\" is not a number");
    }
  }
  if (const auto m = loaded.attr(kModeAttr)) {
    options_.mode = *m == "gbtree" ? RandomForestOptions::Mode::kGradientBoosting
                                   : RandomForestOptions::Mode::kRandomForest;
  }
  loaded.set_param("nthread", "1");
  loaded.set_param("verbosity", "0");
  booster_ = std::move(loaded);
  threshold_ = threshold;
}

}  // namespace netsentry::ml
