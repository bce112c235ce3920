// Provides ml::IsolationForest, Liu et al.'s Isolation Forest (2008) as scikit-learn implements it:
// random feature, uniform split between the node's min and max, subsample of min(256, n) rows,
// depth limit ceil(log2(subsample)), score 2^(-E[h(x)] / c(subsample)) in (0, 1], higher = more
// anomalous. Trees are stored flat (one node array per tree); for scoring they are also laid out
// for a fixed-depth walk (leaves loop on themselves), so a block of rows goes down a tree level by
// level without a branch per node.
// Thread rules: fit/load/set_threshold/set_threads from one thread; score() is const, allocates
// only its result and may run concurrently; it uses `threads()` worker threads of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/matrix.h"
#include "ml/model.h"

namespace netsentry::ml {

struct IsolationForestOptions {
  int n_trees = 100;
  std::size_t max_samples = 256;  // per tree; capped at the number of training rows
  // nullopt = scikit-learn's "auto": threshold 0.5. A fraction in (0, 0.5] sets the threshold at
  // that upper percentile of the training scores (the expected share of anomalies in training).
  std::optional<double> contamination;
  // With labels present, learn "normal" from the y == 0 rows only (the model never sees attacks).
  bool fit_on_normal = true;
};

class IsolationForest final : public Model {
 public:
  // One tree node. Internal: `feature` >= 0, go to `left` when x[feature] <= `value`, else left + 1
  // (siblings are stored next to each other). Leaf: `feature` == -1 and `value` is the path length
  // h = depth + c(leaf size), precomputed so scoring adds it directly.
  struct Node {
    std::int32_t feature = -1;
    float value = 0.0f;
    std::uint32_t left = 0;
  };

  explicit IsolationForest(IsolationForestOptions options = {});

  [[nodiscard]] std::string_view name() const override { return "isolation_forest"; }
  void fit(const TrainSet& train, const TrainContext& ctx) override;
  using Model::score;
  [[nodiscard]] std::vector<float> score(const ScoreInput& input) const override;
  [[nodiscard]] float threshold() const override { return threshold_; }
  void set_threshold(float threshold) override { threshold_ = threshold; }
  std::string save(const std::filesystem::path& dir) const override;
  void load(const std::filesystem::path& dir, const std::string& file,
            std::size_t expected_features) override;

  // Scoring threads (fit() sets it from ctx.threads; a loaded model starts with 1).
  void set_threads(int threads) override { threads_ = threads < 1 ? 1 : threads; }
  [[nodiscard]] int threads() const { return threads_; }
  [[nodiscard]] bool fitted() const { return !trees_.empty(); }
  [[nodiscard]] std::size_t n_features() const { return n_features_; }
  [[nodiscard]] std::size_t subsample_size() const { return subsample_size_; }
  [[nodiscard]] const IsolationForestOptions& options() const { return options_; }

  static constexpr int kFormatVersion = 1;
  static constexpr const char* kFileName = "isolation_forest.json";

 private:
  // One node of the scoring layout: an internal node goes to `left` + (x[feature] > value, or
  // NaN); a leaf has step 0 and left = itself, so walking past it changes nothing, and its value
  // is its path length.
  struct WalkNode {
    std::uint32_t feature = 0;
    float value = 0.0f;
    std::uint32_t left = 0;
    std::uint32_t step = 0;  // 1 for an internal node, 0 for a leaf
  };
  struct WalkTree {
    std::uint32_t root = 0;   // into walk_
    std::uint32_t depth = 0;  // the deepest leaf's depth: levels every row walks
  };
  // Builds walk_ and walk_trees_ from trees_ (after fit() and load()).
  void compile_walk();
  void score_range(const data::Matrix& x, std::size_t begin, std::size_t end, float* out) const;

  IsolationForestOptions options_;
  std::vector<std::vector<Node>> trees_;
  std::vector<WalkNode> walk_;
  std::vector<WalkTree> walk_trees_;
  std::size_t n_features_ = 0;
  std::size_t subsample_size_ = 0;
  float threshold_ = 0.5f;
  int threads_ = 1;
};

// c(n): the average path length of an unsuccessful search in a binary search tree of n points, the
// normaliser of Isolation Forest (c(0) = c(1) = 0, c(2) = 1).
[[nodiscard]] double average_path_length(double n);

}  // namespace netsentry::ml
