#include "ml/random_forest.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

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
  compiled_ = {};  // a fresh booster scores with XGBoost until saved and loaded
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
  if (!compiled()) return booster_.predict(x);
  if (x.cols != booster_.num_features()) return booster_.predict(x);  // it says what is wrong
  std::vector<float> out(x.rows);
  score_compiled(x, 0, x.rows, out.data());
  return out;
}

void RandomForest::compile(const std::filesystem::path& file) {
  compiled_ = {};
  std::ifstream in(file);
  if (!in) return;
  CompiledTrees c;
  try {
    const auto doc = nlohmann::json::parse(in);
    const auto& learner = doc.at("learner");
    if (learner.at("objective").at("name").get<std::string>() != "binary:logistic") return;
    const auto& param = learner.at("learner_model_param");
    if (param.value("num_target", "1") != "1" || param.value("num_class", "0") != "0") return;
    const double base = std::stod(param.at("base_score").get<std::string>());
    if (!(base > 0.0 && base < 1.0)) return;
    c.base_margin = static_cast<float>(std::log(base / (1.0 - base)));
    const auto& model = learner.at("gradient_booster").at("model");
    for (const auto& tree : model.at("trees")) {
      if (std::stoi(tree.at("tree_param").at("size_leaf_vector").get<std::string>()) != 0) return;
      const auto& left = tree.at("left_children");
      const auto& right = tree.at("right_children");
      const auto& index = tree.at("split_indices");
      const auto& cond = tree.at("split_conditions");
      const auto& dleft = tree.at("default_left");
      const auto& type = tree.at("split_type");
      const std::size_t n = left.size();
      if (n == 0 || right.size() != n || index.size() != n || cond.size() != n ||
          dleft.size() != n || type.size() != n) {
        return;
      }
      const auto offset = static_cast<std::uint32_t>(c.nodes.size());
      c.roots.push_back(offset);
      for (std::size_t i = 0; i < n; ++i) {
        CompiledTrees::Node node;
        const int l = left[i].get<int>();
        node.value = cond[i].get<float>();
        if (l >= 0) {
          const int r = right[i].get<int>();
          if (type[i].get<int>() != 0 || r < 0 || static_cast<std::size_t>(l) >= n ||
              static_cast<std::size_t>(r) >= n) {
            return;
          }
          node.feature = index[i].get<std::int32_t>();
          node.left = offset + static_cast<std::uint32_t>(l);
          node.right = offset + static_cast<std::uint32_t>(r);
          node.default_left = dleft[i].get<int>() != 0;
        }
        c.nodes.push_back(node);
      }
    }
  } catch (const std::exception&) {
    return;  // a layout we do not know: XGBoost's predictor scores it
  }
  const auto features = static_cast<std::int32_t>(booster_.num_features());
  for (const auto& node : c.nodes) {
    if (node.feature >= features) return;
  }
  compiled_ = std::move(c);
}

void RandomForest::score_compiled(const data::Matrix& x, std::size_t begin, std::size_t end,
                                  float* out) const {
  constexpr std::size_t kBlock = 64;
  std::array<float, kBlock> margin{};
  const auto* nodes = compiled_.nodes.data();
  for (std::size_t b = begin; b < end; b += kBlock) {
    const std::size_t rows = std::min(kBlock, end - b);
    // XGBoost starts each row's margin at the base margin and adds the trees in order.
    std::fill(margin.begin(), margin.begin() + static_cast<std::ptrdiff_t>(rows),
              compiled_.base_margin);
    for (const std::uint32_t root : compiled_.roots) {
      for (std::size_t i = 0; i < rows; ++i) {
        const float* row = x.values.data() + (b + i) * x.cols;
        std::uint32_t n = root;
        while (nodes[n].feature >= 0) {
          const auto& node = nodes[n];
          const float v = row[node.feature];
          const bool go_left = std::isnan(v) ? node.default_left : v < node.value;
          n = go_left ? node.left : node.right;
        }
        margin[i] += nodes[n].value;
      }
    }
    for (std::size_t i = 0; i < rows; ++i) {
      // XGBoost's common::Sigmoid, clamped the same way.
      const float e = std::exp(std::min(-margin[i], 88.7f));
      out[b + i] = 1.0f / (e + 1.0f);
    }
  }
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
  compile(path);
}

}  // namespace netsentry::ml
