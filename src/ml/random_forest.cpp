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
  o.colsample_sqrt = false;
  o.sample_weights = true;
  o.min_child_weight = 1.0;
  o.l2 = 1.0;
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
  if (!(options_.min_child_weight >= 0.0) || !(options_.l2 >= 0.0)) {
    throw core::Error("random forest: min_child_weight and lambda must be at least 0");
  }
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
  // Checked even when the options leave the weights out: a mismatch is the caller's mistake.
  if (!train.weights.empty() && train.weights.size() != train.x->rows) {
    throw core::Error("random forest: " + std::to_string(train.weights.size()) + " weights for " +
                      std::to_string(train.x->rows) + " training rows");
  }
  const bool rf = options_.mode == RandomForestOptions::Mode::kRandomForest;
  const double colsample =
      options_.colsample_sqrt
          ? std::min(1.0, std::sqrt(static_cast<double>(train.x->cols)) /
                              static_cast<double>(std::max<std::size_t>(train.x->cols, 1)))
          : options_.colsample_bynode;

  forest::BoosterConfig config;
  config.params = {
      {"booster", "gbtree"},
      {"objective", "binary:logistic"},
      {"eval_metric", "logloss"},
      {"tree_method", "hist"},
      {"max_depth", std::to_string(options_.max_depth)},
      {"learning_rate", num(options_.learning_rate)},
      {"subsample", num(options_.subsample)},
      {"colsample_bynode", num(colsample)},
      {"min_child_weight", num(options_.min_child_weight)},
      {"lambda", num(options_.l2)},
      {"num_parallel_tree", std::to_string(rf ? options_.trees : 1)},
      {"nthread", std::to_string(std::max(ctx.threads, 1))},
      {"seed", std::to_string(ctx.seed)},
      {"verbosity", "0"},
  };
  config.rounds = rf ? 1 : options_.trees;
  config.early_stopping_rounds = rf ? 0 : options_.early_stopping_rounds;
  config.progress = ctx.progress;

  const std::span<const float> weights =
      options_.sample_weights ? std::span<const float>(train.weights) : std::span<const float>{};
  booster_.train(*train.x, train.y, weights, train.x_val, train.y_val, config);
  booster_.set_attr(kModeAttr, std::string(to_string(options_.mode)));
  set_threshold(threshold_);
}

void RandomForest::set_threshold(float threshold) {
  threshold_ = threshold;
  if (fitted()) booster_.set_attr(kThresholdAttr, num(threshold));
}

std::vector<float> RandomForest::score(const ScoreInput& input) const {
  const data::Matrix& x = input.x;
  if (!compiled()) return booster_.predict(x);
  if (x.cols != booster_.num_features()) return booster_.predict(x);  // it says what is wrong
  std::vector<float> out(x.rows);
  score_compiled(x, 0, x.rows, out.data());
  return out;
}

namespace {

// XGBoost's parent of a root node (its kInvalidNodeId written unsigned).
constexpr long long kRootParent = 2147483647;

[[noreturn]] void bad_model(const std::filesystem::path& file, const std::string& field,
                            const std::string& why) {
  throw core::Error(file.string() + ": " + field + " " + why);
}

// A JSON number that must be finite (XGBoost writes floats as numbers; base_score as a string).
double finite_number(const nlohmann::json& v, const std::filesystem::path& file,
                     const std::string& field) {
  double d = 0;
  if (v.is_number()) {
    d = v.get<double>();
  } else if (v.is_string()) {
    const std::string& text = v.get_ref<const std::string&>();
    char* end = nullptr;
    d = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size())
      bad_model(file, field, "is not a number");
  } else {
    bad_model(file, field, "is not a number");
  }
  if (!std::isfinite(d)) bad_model(file, field, "is not a finite number");
  return d;
}

long long integer(const nlohmann::json& v, const std::filesystem::path& file,
                  const std::string& field) {
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_string()) {
    const std::string& text = v.get_ref<const std::string&>();
    long long out = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec == std::errc() && end == text.data() + text.size()) return out;
  }
  bad_model(file, field, "is not an integer");
}

const nlohmann::json& member(const nlohmann::json& parent, const char* key,
                             const std::filesystem::path& file, const std::string& where) {
  if (!parent.is_object() || !parent.contains(key)) {
    bad_model(file, where.empty() ? std::string(key) : where + "." + key, "is missing");
  }
  return parent.at(key);
}

const nlohmann::json& array_of(const nlohmann::json& tree, const char* key, std::size_t n,
                               const std::filesystem::path& file, const std::string& where) {
  const auto& a = member(tree, key, file, where);
  if (!a.is_array()) bad_model(file, where + "." + key, "is not an array");
  if (a.size() != n) {
    bad_model(file, where + "." + key,
              "has " + std::to_string(a.size()) + " entries, the tree has " + std::to_string(n) +
                  " nodes");
  }
  return a;
}

}  // namespace

RandomForest::CompiledTrees RandomForest::validate(const nlohmann::json& doc,
                                                   const std::filesystem::path& file,
                                                   std::size_t expected_features) {
  // Everything XGBoost's loader and our tree walk rely on is checked here, before XGBoost sees
  // the file: XGBoost trusts its own JSON (an out-of-range child is a segfault, a cyclic one an
  // endless walk), and a bundle may come from anywhere.
  CompiledTrees c;
  const auto& learner = member(doc, "learner", file, "");
  const auto& objective =
      member(member(learner, "objective", file, "learner"), "name", file, "learner.objective");
  if (!objective.is_string() || objective.get<std::string>() != "binary:logistic") {
    bad_model(file, "learner.objective.name",
              "is " + objective.dump() + ", a netsentry forest is \"binary:logistic\"");
  }
  const auto& param = member(learner, "learner_model_param", file, "learner");
  const std::string pwhere = "learner.learner_model_param";
  const auto features =
      integer(member(param, "num_feature", file, pwhere), file, pwhere + ".num_feature");
  if (features < 0 || static_cast<std::size_t>(features) != expected_features) {
    bad_model(file, pwhere + ".num_feature",
              "is " + std::to_string(features) + " but the bundle has " +
                  std::to_string(expected_features) + " features");
  }
  if (param.contains("num_class") &&
      integer(param.at("num_class"), file, pwhere + ".num_class") != 0) {
    bad_model(file, pwhere + ".num_class", "must be 0 for a binary forest");
  }
  if (param.contains("num_target") &&
      integer(param.at("num_target"), file, pwhere + ".num_target") != 1) {
    bad_model(file, pwhere + ".num_target", "must be 1 for a binary forest");
  }
  const double base =
      finite_number(member(param, "base_score", file, pwhere), file, pwhere + ".base_score");
  if (!(base > 0.0 && base < 1.0)) bad_model(file, pwhere + ".base_score", "must be in (0, 1)");
  c.base_margin = static_cast<float>(std::log(base / (1.0 - base)));

  const auto& booster = member(learner, "gradient_booster", file, "learner");
  const auto& bname = member(booster, "name", file, "learner.gradient_booster");
  if (!bname.is_string() || bname.get<std::string>() != "gbtree") {
    bad_model(file, "learner.gradient_booster.name", "must be \"gbtree\"");
  }
  const std::string mwhere = "learner.gradient_booster.model";
  const auto& model = member(booster, "model", file, "learner.gradient_booster");
  const auto& trees = member(model, "trees", file, mwhere);
  if (!trees.is_array() || trees.empty()) bad_model(file, mwhere + ".trees", "holds no tree");
  const auto& mparam = member(model, "gbtree_model_param", file, mwhere);
  const auto declared = integer(member(mparam, "num_trees", file, mwhere + ".gbtree_model_param"),
                                file, mwhere + ".gbtree_model_param.num_trees");
  if (declared < 0 || static_cast<std::size_t>(declared) != trees.size()) {
    bad_model(file, mwhere + ".gbtree_model_param.num_trees",
              "says " + std::to_string(declared) + " but " + std::to_string(trees.size()) +
                  " trees are stored");
  }
  const auto& info = member(model, "tree_info", file, mwhere);
  if (!info.is_array() || info.size() != trees.size()) {
    bad_model(file, mwhere + ".tree_info", "must list one entry per tree");
  }
  for (std::size_t t = 0; t < info.size(); ++t) {
    if (integer(info[t], file, mwhere + ".tree_info") != 0) {
      bad_model(file, mwhere + ".tree_info", "names a class other than 0");
    }
  }

  for (std::size_t t = 0; t < trees.size(); ++t) {
    const auto& tree = trees[t];
    const std::string where = mwhere + ".trees[" + std::to_string(t) + "]";
    const auto& tparam = member(tree, "tree_param", file, where);
    const auto n_signed = integer(member(tparam, "num_nodes", file, where + ".tree_param"), file,
                                  where + ".tree_param.num_nodes");
    if (n_signed < 1 || n_signed > (1LL << 26)) {
      bad_model(file, where + ".tree_param.num_nodes", "is out of range");
    }
    const auto n = static_cast<std::size_t>(n_signed);
    if (integer(member(tparam, "size_leaf_vector", file, where + ".tree_param"), file,
                where + ".tree_param.size_leaf_vector") > 1) {
      bad_model(file, where + ".tree_param.size_leaf_vector", "must be 0 (scalar leaves)");
    }
    const auto& left = array_of(tree, "left_children", n, file, where);
    const auto& right = array_of(tree, "right_children", n, file, where);
    const auto& index = array_of(tree, "split_indices", n, file, where);
    const auto& cond = array_of(tree, "split_conditions", n, file, where);
    const auto& dleft = array_of(tree, "default_left", n, file, where);
    const auto& type = array_of(tree, "split_type", n, file, where);
    const auto& parents = array_of(tree, "parents", n, file, where);
    for (const char* key : {"base_weights", "loss_changes", "sum_hessian"}) {
      const auto& a = array_of(tree, key, n, file, where);
      for (std::size_t i = 0; i < n; ++i) {
        (void)finite_number(a[i], file, where + "." + key + "[" + std::to_string(i) + "]");
      }
    }
    for (const char* key :
         {"categories", "categories_nodes", "categories_segments", "categories_sizes"}) {
      if (tree.contains(key) && (!tree.at(key).is_array() || !tree.at(key).empty())) {
        bad_model(file, where + "." + key, "must be empty (no categorical splits)");
      }
    }

    if (integer(member(tree, "id", file, where), file, where + ".id") !=
        static_cast<long long>(t)) {
      bad_model(file, where + ".id", "must be the tree's position " + std::to_string(t));
    }
    if (integer(member(tparam, "num_deleted", file, where + ".tree_param"), file,
                where + ".tree_param.num_deleted") != 0) {
      bad_model(file, where + ".tree_param.num_deleted", "must be 0 (no pruned nodes)");
    }
    const auto offset = static_cast<std::uint32_t>(c.nodes.size());
    c.roots.push_back(offset);
    std::vector<long long> parent(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
      const std::string at = "[" + std::to_string(i) + "]";
      CompiledTrees::Node node;
      node.value =
          static_cast<float>(finite_number(cond[i], file, where + ".split_conditions" + at));
      const auto l = integer(left[i], file, where + ".left_children" + at);
      const auto r = integer(right[i], file, where + ".right_children" + at);
      // XGBoost reads every field of every node, leaves included: all must be what it writes.
      const auto p = integer(parents[i], file, where + ".parents" + at);
      if (i == 0 ? p != kRootParent : (p < 0 || static_cast<std::size_t>(p) >= n)) {
        bad_model(file, where + ".parents" + at, "is out of range");
      }
      parent[i] = p;
      const auto feature = integer(index[i], file, where + ".split_indices" + at);
      if (feature < 0 || feature >= features) {
        bad_model(file, where + ".split_indices" + at,
                  "is " + std::to_string(feature) + ", out of range for " +
                      std::to_string(features) + " features");
      }
      if (integer(type[i], file, where + ".split_type" + at) != 0) {
        bad_model(file, where + ".split_type" + at, "must be 0 (numeric split)");
      }
      const auto d = integer(dleft[i], file, where + ".default_left" + at);
      if (d != 0 && d != 1) bad_model(file, where + ".default_left" + at, "must be 0 or 1");
      if (l == -1 && r == -1) {
        c.nodes.push_back(node);  // a leaf: value is its margin
        continue;
      }
      if (l < 0 || static_cast<std::size_t>(l) >= n || l == static_cast<long long>(i)) {
        bad_model(file, where + ".left_children" + at,
                  "is " + std::to_string(l) + ", out of range for " + std::to_string(n) + " nodes");
      }
      if (r < 0 || static_cast<std::size_t>(r) >= n || r == static_cast<long long>(i) || r == l) {
        bad_model(file, where + ".right_children" + at,
                  "is " + std::to_string(r) + ", out of range for " + std::to_string(n) + " nodes");
      }
      node.feature = static_cast<std::int32_t>(feature);
      node.left = offset + static_cast<std::uint32_t>(l);
      node.right = offset + static_cast<std::uint32_t>(r);
      node.default_left = d != 0;
      c.nodes.push_back(node);
    }
    // Every node reachable from the root at most once: no cycle, no shared child, so both our
    // walk and XGBoost's end.
    std::vector<char> seen(n, 0);
    std::vector<std::uint32_t> stack{0};
    while (!stack.empty()) {
      const std::uint32_t i = stack.back();
      stack.pop_back();
      if (seen[i]) {
        bad_model(file, where + ".left_children/right_children",
                  "form a cycle (node " + std::to_string(i) + " is reached twice)");
      }
      seen[i] = 1;
      const auto& node = c.nodes[offset + i];
      if (node.feature >= 0) {
        for (const std::uint32_t child : {node.left - offset, node.right - offset}) {
          if (seen[child]) {
            bad_model(file, where + ".left_children/right_children",
                      "form a cycle (node " + std::to_string(child) + " is reached twice)");
          }
          if (parent[child] != static_cast<long long>(i)) {
            bad_model(file, where + ".parents[" + std::to_string(child) + "]",
                      "is " + std::to_string(parent[child]) + ", but node " + std::to_string(i) +
                          " names it as a child");
          }
          stack.push_back(child);
        }
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (!seen[i]) {
        bad_model(file, where + ".left_children/right_children",
                  "leave node " + std::to_string(i) + " unreachable from the root");
      }
    }
  }
  return c;
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
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw core::Error(path.string() + ": model file not found or not a regular file");
  }
  CompiledTrees compiled;
  {
    std::ifstream in(path);
    if (!in) throw core::Error(path.string() + ": cannot open the random forest model");
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw core::Error(path.string() + ": not valid JSON (" + e.what() + ")");
    }
    compiled = validate(doc, path, expected_features);
  }
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
  compiled_ = std::move(compiled);
}

}  // namespace netsentry::ml
