#include "ml/isolation_forest.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/error.h"
#include "ml/parallel.h"
#include "ml/random.h"

namespace netsentry::ml {
namespace {

constexpr double kEulerGamma = 0.5772156649;
// scikit-learn's FEATURE_THRESHOLD: a feature whose range in a node is below this is constant.
constexpr float kConstantFeatureRange = 1e-7f;

// Grows one tree on `sample` (row indices into `x`), depth first, the way scikit-learn's
// ExtraTreeRegressor(max_features=1, splitter="random") does for IsolationForest.
class TreeBuilder {
 public:
  TreeBuilder(const data::Matrix& x, int max_depth, Rng& rng)
      : x_(x), max_depth_(max_depth), rng_(rng), features_(x.cols) {}

  std::vector<IsolationForest::Node> build(std::vector<std::uint32_t>& sample) {
    nodes_.clear();
    nodes_.emplace_back();
    grow(0, sample.data(), sample.data() + sample.size(), 0);
    return std::move(nodes_);
  }

 private:
  void grow(std::size_t node, std::uint32_t* begin, std::uint32_t* end, int depth) {
    const auto n = static_cast<std::size_t>(end - begin);
    if (depth >= max_depth_ || n <= 1) {
      make_leaf(node, n, depth);
      return;
    }
    // Draw features without replacement until one varies in this node; all constant -> leaf.
    for (std::size_t i = 0; i < features_.size(); ++i) features_[i] = static_cast<std::int32_t>(i);
    for (std::size_t k = 0; k < features_.size(); ++k) {
      std::swap(features_[k], features_[k + rng_.below(features_.size() - k)]);
      const auto f = static_cast<std::size_t>(features_[k]);
      float lo = x_.at(*begin, f);
      float hi = lo;
      for (auto* it = begin + 1; it != end; ++it) {
        const float v = x_.at(*it, f);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      if (hi <= lo + kConstantFeatureRange) continue;
      auto split = static_cast<float>(lo + rng_.uniform() * (static_cast<double>(hi) - lo));
      // Rounding to float may land on the maximum, which would leave the right side empty.
      if (split >= hi) split = lo;
      auto* mid = std::partition(begin, end, [&](std::uint32_t r) { return x_.at(r, f) <= split; });
      const auto left = nodes_.size();
      nodes_[node] = {static_cast<std::int32_t>(f), split, static_cast<std::uint32_t>(left)};
      nodes_.emplace_back();
      nodes_.emplace_back();
      grow(left, begin, mid, depth + 1);
      grow(left + 1, mid, end, depth + 1);
      return;
    }
    make_leaf(node, n, depth);
  }

  void make_leaf(std::size_t node, std::size_t n, int depth) {
    nodes_[node] = {-1, static_cast<float>(depth + average_path_length(static_cast<double>(n))), 0};
  }

  const data::Matrix& x_;
  int max_depth_;
  Rng& rng_;
  std::vector<std::int32_t> features_;
  std::vector<IsolationForest::Node> nodes_;
};

// numpy.percentile with linear interpolation (its default), q in [0, 100].
double percentile(std::vector<float> values, double q) {
  std::sort(values.begin(), values.end());
  const double pos = q / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, values.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return values[lo] + frac * (static_cast<double>(values[hi]) - values[lo]);
}

[[noreturn]] void fail_load(const std::filesystem::path& path, const std::string& what) {
  throw core::Error(path.string() + ": " + what);
}

}  // namespace

double average_path_length(double n) {
  if (n <= 1.0) return 0.0;
  if (n <= 2.0) return 1.0;
  return 2.0 * (std::log(n - 1.0) + kEulerGamma) - 2.0 * (n - 1.0) / n;
}

IsolationForest::IsolationForest(IsolationForestOptions options) : options_(options) {
  if (options_.n_trees < 1) throw core::Error("isolation forest: n_trees must be at least 1");
  if (options_.max_samples < 1) throw core::Error("isolation forest: max_samples must be >= 1");
  if (options_.contamination &&
      !(*options_.contamination > 0.0 && *options_.contamination <= 0.5)) {
    throw core::Error("isolation forest: contamination must be in (0, 0.5] or \"auto\", got " +
                      std::to_string(*options_.contamination));
  }
}

void IsolationForest::fit(const TrainSet& train, const TrainContext& ctx) {
  if (train.x == nullptr || train.x->rows == 0 || train.x->cols == 0) {
    throw core::Error("isolation forest: the training matrix is empty");
  }
  const data::Matrix& x = *train.x;
  if (!train.y.empty() && train.y.size() != x.rows) {
    throw core::Error("isolation forest: " + std::to_string(train.y.size()) + " labels for " +
                      std::to_string(x.rows) + " rows");
  }
  for (std::size_t i = 0; i < x.values.size(); ++i) {
    if (!std::isfinite(x.values[i])) {
      throw core::Error("isolation forest: training value at row " + std::to_string(i / x.cols) +
                        ", column " + std::to_string(i % x.cols) +
                        " is not finite (preprocess NaN/Infinity first)");
    }
  }

  std::vector<std::uint32_t> rows;
  const bool normal_only = options_.fit_on_normal && !train.y.empty();
  for (std::size_t r = 0; r < x.rows; ++r) {
    if (!normal_only || train.y[r] == 0) rows.push_back(static_cast<std::uint32_t>(r));
  }
  if (rows.empty()) throw core::Error("isolation forest: no normal (y == 0) rows to learn from");

  n_features_ = x.cols;
  subsample_size_ = std::min(options_.max_samples, rows.size());
  const int max_depth = static_cast<int>(
      std::ceil(std::log2(static_cast<double>(std::max<std::size_t>(subsample_size_, 2)))));
  set_threads(ctx.threads);

  // Each tree has its own generator derived from (seed, tree), so the forest does not depend on
  // how trees are spread over threads.
  trees_.assign(static_cast<std::size_t>(options_.n_trees), {});
  parallel_for(trees_.size(), threads_, [&](std::size_t begin, std::size_t end) {
    std::vector<std::uint32_t> pool;
    for (std::size_t t = begin; t < end; ++t) {
      Rng rng(ctx.seed, t);
      pool = rows;
      // Partial Fisher-Yates: the first subsample_size_ entries are a uniform sample without
      // replacement.
      for (std::size_t k = 0; k < subsample_size_; ++k) {
        std::swap(pool[k], pool[k + rng.below(pool.size() - k)]);
      }
      pool.resize(subsample_size_);
      TreeBuilder builder(x, max_depth, rng);
      trees_[t] = builder.build(pool);
    }
  });
  compile_walk();

  if (options_.contamination) {
    const auto all = score(x);
    std::vector<float> fitted_scores;
    fitted_scores.reserve(rows.size());
    for (const auto r : rows) fitted_scores.push_back(all[r]);
    threshold_ = static_cast<float>(
        percentile(std::move(fitted_scores), 100.0 * (1.0 - *options_.contamination)));
  } else {
    threshold_ = 0.5f;
  }
}

void IsolationForest::compile_walk() {
  walk_.clear();
  walk_trees_.clear();
  walk_trees_.reserve(trees_.size());
  std::vector<std::uint32_t> depth;
  for (const auto& tree : trees_) {
    const auto offset = static_cast<std::uint32_t>(walk_.size());
    // Children always follow their parent (checked on load, true of fit), so one forward pass
    // gives every node's depth.
    depth.assign(tree.size(), 0);
    std::uint32_t deepest = 0;
    for (std::size_t i = 0; i < tree.size(); ++i) {
      const Node& n = tree[i];
      WalkNode w;
      w.value = n.value;
      if (n.feature >= 0) {
        w.feature = static_cast<std::uint32_t>(n.feature);
        w.left = offset + n.left;
        w.step = 1;
        depth[n.left] = depth[n.left + 1] = depth[i] + 1;
      } else {
        w.left = offset + static_cast<std::uint32_t>(i);
        deepest = std::max(deepest, depth[i]);
      }
      walk_.push_back(w);
    }
    walk_trees_.push_back({offset, deepest});
  }
}

void IsolationForest::score_range(const data::Matrix& x, std::size_t begin, std::size_t end,
                                  float* out) const {
  const double norm = average_path_length(static_cast<double>(subsample_size_)) *
                      static_cast<double>(trees_.size());
  // Rows in blocks, trees outside: a block walks one tree (a few KB) while it is in L1, instead of
  // every row streaming the whole forest (hundreds of KB) through the cache. Each level of a tree
  // is one pass over the block's rows with no data-dependent branch, so the rows' walks overlap.
  // Same sums, same order per row, so scores are bit-identical to a row-at-a-time walk.
  constexpr std::size_t kBlock = 64;
  std::array<double, kBlock> total{};
  std::array<std::uint32_t, kBlock> at{};
  std::array<const float*, kBlock> row{};
  const WalkNode* nodes = walk_.data();
  for (std::size_t b = begin; b < end; b += kBlock) {
    const std::size_t rows = std::min(kBlock, end - b);
    std::fill(total.begin(), total.begin() + static_cast<std::ptrdiff_t>(rows), 0.0);
    for (std::size_t i = 0; i < rows; ++i) row[i] = x.values.data() + (b + i) * x.cols;
    for (const WalkTree& tree : walk_trees_) {
      std::fill(at.begin(), at.begin() + static_cast<std::ptrdiff_t>(rows), tree.root);
      for (std::uint32_t level = 0; level < tree.depth; ++level) {
        for (std::size_t i = 0; i < rows; ++i) {
          const WalkNode& node = nodes[at[i]];
          // !(x <= value): NaN goes right, as in the tree-by-tree walk.
          at[i] = node.left +
                  (node.step & static_cast<std::uint32_t>(!(row[i][node.feature] <= node.value)));
        }
      }
      for (std::size_t i = 0; i < rows; ++i) total[i] += nodes[at[i]].value;
    }
    // A subsample of one point gives c = 0; every path is then 0 and the score is 2^0 = 1.
    for (std::size_t i = 0; i < rows; ++i) {
      out[b + i] = norm > 0.0 ? static_cast<float>(std::exp2(-total[i] / norm)) : 1.0f;
    }
  }
}

std::vector<float> IsolationForest::score(const ScoreInput& input) const {
  const data::Matrix& x = input.x;
  if (!fitted()) throw core::Error("isolation forest: score() called before fit() or load()");
  if (x.cols != n_features_) {
    throw core::Error("isolation forest: model has " + std::to_string(n_features_) +
                      " features but the data has " + std::to_string(x.cols));
  }
  std::vector<float> out(x.rows);
  // Below a few thousand rows a thread costs more than it saves.
  const int threads = x.rows < 2048 ? 1 : threads_;
  parallel_for(x.rows, threads,
               [&](std::size_t begin, std::size_t end) { score_range(x, begin, end, out.data()); });
  return out;
}

std::string IsolationForest::save(const std::filesystem::path& dir) const {
  if (!fitted()) throw core::Error("isolation forest: save() called before fit()");
  nlohmann::json trees = nlohmann::json::array();
  for (const auto& tree : trees_) {
    std::vector<std::int32_t> feature;
    std::vector<float> value;
    std::vector<std::uint32_t> left;
    for (const Node& n : tree) {
      feature.push_back(n.feature);
      value.push_back(n.value);
      left.push_back(n.left);
    }
    trees.push_back({{"feature", feature}, {"value", value}, {"left", left}});
  }
  nlohmann::json doc = {
      {"format", "netsentry.isolation_forest"},
      {"version", kFormatVersion},
      {"n_features", n_features_},
      {"n_trees", trees_.size()},
      {"subsample_size", subsample_size_},
      {"threshold", threshold_},
      {"fit_on_normal", options_.fit_on_normal},
      {"trees", std::move(trees)},
  };
  if (options_.contamination) {
    doc["contamination"] = *options_.contamination;
  } else {
    doc["contamination"] = "auto";
  }
  const auto path = dir / kFileName;
  std::ofstream out(path);
  out << doc.dump();
  out.close();
  if (!out) throw core::Error(path.string() + ": cannot write the isolation forest model");
  return kFileName;
}

void IsolationForest::load(const std::filesystem::path& dir, const std::string& file,
                           std::size_t expected_features) {
  const auto path = dir / file;
  std::ifstream in(path);
  if (!in) fail_load(path, "cannot open the isolation forest model");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail_load(path, std::string("not valid JSON (") + e.what() + ")");
  }

  try {
    if (!doc.is_object() || doc.value("format", "") != "netsentry.isolation_forest") {
      fail_load(path,
                "not an isolation forest model (field \"format\" is not "
                "\"netsentry.isolation_forest\")");
    }
    const int version = doc.at("version").get<int>();
    if (version != kFormatVersion) {
      fail_load(path, "format version " + std::to_string(version) + ", this build reads version " +
                          std::to_string(kFormatVersion));
    }
    const auto n_features = doc.at("n_features").get<std::size_t>();
    if (n_features != expected_features) {
      fail_load(path, "model was trained on " + std::to_string(n_features) + " features but " +
                          std::to_string(expected_features) + " are expected");
    }
    const auto subsample = doc.at("subsample_size").get<std::size_t>();
    if (subsample < 1) fail_load(path, "subsample_size must be at least 1");
    const auto& jtrees = doc.at("trees");
    if (!jtrees.is_array() || jtrees.empty()) fail_load(path, "\"trees\" is empty");
    if (jtrees.size() != doc.at("n_trees").get<std::size_t>()) {
      fail_load(path, "\"n_trees\" says " + std::to_string(doc.at("n_trees").get<std::size_t>()) +
                          " but " + std::to_string(jtrees.size()) + " trees are stored");
    }

    std::vector<std::vector<Node>> trees;
    trees.reserve(jtrees.size());
    for (std::size_t t = 0; t < jtrees.size(); ++t) {
      const auto feature = jtrees[t].at("feature").get<std::vector<std::int32_t>>();
      const auto value = jtrees[t].at("value").get<std::vector<float>>();
      const auto left = jtrees[t].at("left").get<std::vector<std::uint32_t>>();
      const auto where = "tree " + std::to_string(t);
      if (feature.empty() || feature.size() != value.size() || feature.size() != left.size()) {
        fail_load(path, where +
                            ": arrays \"feature\", \"value\", \"left\" differ in length or "
                            "are empty");
      }
      std::vector<Node> nodes(feature.size());
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        const auto at = where + " node " + std::to_string(i);
        if (feature[i] >= 0) {
          if (static_cast<std::size_t>(feature[i]) >= n_features) {
            fail_load(path, at + ": feature " + std::to_string(feature[i]) +
                                " out of range (model has " + std::to_string(n_features) +
                                " features)");
          }
          if (!std::isfinite(value[i])) {
            fail_load(path, at + ": split value is not a finite number");
          }
          // Children always follow their parent; this also rules out cycles.
          if (left[i] <= i || static_cast<std::size_t>(left[i]) + 1 >= nodes.size()) {
            fail_load(path, at + ": child index " + std::to_string(left[i]) + " out of range");
          }
        } else if (feature[i] != -1 || !std::isfinite(value[i]) || value[i] < 0.0f) {
          fail_load(path, at + ": malformed leaf");
        }
        nodes[i] = {feature[i], value[i], left[i]};
      }
      trees.push_back(std::move(nodes));
    }

    IsolationForestOptions options;
    options.n_trees = static_cast<int>(trees.size());
    options.max_samples = subsample;
    options.fit_on_normal = doc.value("fit_on_normal", true);
    if (const auto& c = doc.at("contamination"); c.is_number()) options.contamination = c;
    const float threshold = doc.at("threshold").get<float>();

    options_ = options;
    trees_ = std::move(trees);
    compile_walk();
    n_features_ = n_features;
    subsample_size_ = subsample;
    threshold_ = threshold;
  } catch (const nlohmann::json::exception& e) {
    fail_load(path, std::string("missing or mistyped field (") + e.what() + ")");
  }
}

}  // namespace netsentry::ml
