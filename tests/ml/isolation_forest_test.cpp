#include "ml/isolation_forest.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "ml/metrics.h"
#include "ml/random.h"

namespace netsentry::ml {
namespace {

namespace fs = std::filesystem;

// 1000 standard-normal points in `dims` dimensions, then 20 points at radius 8-12 in random
// directions (labels 0 and 1).
struct Planted {
  data::Matrix x;
  std::vector<int> y;
};

Planted planted_outliers(std::size_t dims = 5, std::uint64_t seed = 7) {
  Rng rng(seed);
  constexpr std::size_t kNormal = 1000;
  constexpr std::size_t kFar = 20;
  Planted p{data::Matrix(kNormal + kFar, dims), std::vector<int>(kNormal + kFar, 0)};
  for (std::size_t r = 0; r < kNormal; ++r) {
    for (std::size_t c = 0; c < dims; ++c) p.x.at(r, c) = static_cast<float>(rng.normal());
  }
  for (std::size_t r = kNormal; r < kNormal + kFar; ++r) {
    std::vector<double> dir(dims);
    double norm = 0.0;
    for (auto& d : dir) {
      d = rng.normal();
      norm += d * d;
    }
    const double radius = 8.0 + 4.0 * rng.uniform();
    for (std::size_t c = 0; c < dims; ++c) {
      p.x.at(r, c) = static_cast<float>(dir[c] / std::sqrt(norm) * radius);
    }
    p.y[r] = 1;
  }
  return p;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("ns_if_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

IsolationForest fitted_forest(const data::Matrix& x, std::uint64_t seed = 42, int threads = 1,
                              IsolationForestOptions options = {}) {
  IsolationForest forest(options);
  TrainSet set;
  set.x = &x;
  TrainContext ctx;
  ctx.seed = seed;
  ctx.threads = threads;
  forest.fit(set, ctx);
  return forest;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const core::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(IsolationForest, AveragePathLengthMatchesScikitLearn) {
  // sklearn.ensemble._iforest._average_path_length([1, 2, 3, 256]) -> [0,
  // 1, 1.20739236, 10.24477092]
  EXPECT_DOUBLE_EQ(average_path_length(1), 0.0);
  EXPECT_DOUBLE_EQ(average_path_length(2), 1.0);
  EXPECT_NEAR(average_path_length(3), 1.20739236, 1e-7);
  EXPECT_NEAR(average_path_length(256), 10.24477092, 1e-7);
}

TEST(IsolationForest, RanksPlantedFarOutliersOnTop) {
  const auto p = planted_outliers();
  const auto forest = fitted_forest(p.x);
  const auto s = forest.score(p.x);
  EXPECT_GT(roc_auc(p.y, s), 0.95);

  std::vector<std::size_t> order(s.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return s[a] > s[b]; });
  for (std::size_t k = 0; k < 20; ++k) EXPECT_EQ(p.y[order[k]], 1) << "rank " << k;
  // The far points are clearly anomalous under sklearn's "auto" threshold, the bulk is not.
  EXPECT_GT(s[order[19]], 0.5f);
  const auto flagged = forest.predict(p.x);
  EXPECT_LT(std::accumulate(flagged.begin(), flagged.begin() + 1000, 0), 50);
}

TEST(IsolationForest, ScoresAreDeterministicPerSeedAndIndependentOfThreads) {
  const auto p = planted_outliers();
  const auto a = fitted_forest(p.x, 11, 1).score(p.x);
  const auto b = fitted_forest(p.x, 11, 2).score(p.x);
  const auto c = fitted_forest(p.x, 12, 1).score(p.x);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(IsolationForest, ParallelScoringMatchesSerialOnLargeBatches) {
  const auto p = planted_outliers(4);
  auto forest = fitted_forest(p.x);
  Rng rng(3);
  data::Matrix big(5000, 4);
  for (auto& v : big.values) v = static_cast<float>(rng.normal() * 2.0);
  forest.set_threads(1);
  const auto serial = forest.score(big);
  forest.set_threads(2);
  EXPECT_EQ(forest.score(big), serial);
}

TEST(IsolationForest, TreesRespectDepthLimitAndSubsample) {
  const auto p = planted_outliers();
  const auto forest = fitted_forest(p.x);
  EXPECT_EQ(forest.subsample_size(), 256u);
  // A depth-8 binary tree has at most 511 nodes.
  TempDir dir;
  forest.save(dir.path());
  std::ifstream in(dir.path() / IsolationForest::kFileName);
  const auto doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc.at("trees").size(), 100u);
  for (const auto& tree : doc.at("trees")) {
    EXPECT_LE(tree.at("feature").size(), 511u);
    for (const float v : tree.at("value").get<std::vector<float>>()) {
      EXPECT_LE(v, 8.0f + 10.25f);  // depth <= 8 plus c(256) at most
    }
  }
}

TEST(IsolationForest, SmallTrainingSetUsesAllRows) {
  data::Matrix x(10, 2);
  for (std::size_t r = 0; r < 10; ++r) {
    x.at(r, 0) = static_cast<float>(r);
    x.at(r, 1) = static_cast<float>(r % 3);
  }
  const auto forest = fitted_forest(x);
  EXPECT_EQ(forest.subsample_size(), 10u);
  for (const float s : forest.score(x)) {
    EXPECT_GT(s, 0.0f);
    EXPECT_LE(s, 1.0f);
  }
}

TEST(IsolationForest, FitsOnNormalRowsOnlyWhenLabelled) {
  // 300 attack rows in a tight cluster far away: learned as normal if the forest sees them.
  Rng rng(5);
  data::Matrix x(1300, 3);
  std::vector<int> y(1300, 0);
  for (std::size_t r = 0; r < 1300; ++r) {
    const bool attack = r >= 1000;
    for (std::size_t c = 0; c < 3; ++c) {
      x.at(r, c) = static_cast<float>(attack ? 6.0 + 0.05 * rng.normal() : rng.normal());
    }
    y[r] = attack ? 1 : 0;
  }
  TrainSet set;
  set.x = &x;
  set.y = y;
  IsolationForestOptions normal_only;
  IsolationForestOptions everything;
  everything.fit_on_normal = false;
  IsolationForest a(normal_only);
  IsolationForest b(everything);
  a.fit(set, {});
  b.fit(set, {});
  const auto sa = a.score(x);
  const auto sb = b.score(x);
  const double mean_a = std::accumulate(sa.begin() + 1000, sa.end(), 0.0) / 300.0;
  const double mean_b = std::accumulate(sb.begin() + 1000, sb.end(), 0.0) / 300.0;
  EXPECT_GT(mean_a, 0.65);
  EXPECT_GT(mean_a, mean_b + 0.1);
  EXPECT_GT(roc_auc(y, sa), 0.99);
}

TEST(IsolationForest, ContaminationPutsThresholdAtTrainingPercentile) {
  const auto p = planted_outliers();
  IsolationForestOptions options;
  options.contamination = 0.1;
  const auto forest = fitted_forest(p.x, 42, 1, options);
  const auto flagged = forest.predict(p.x);
  const int n = std::accumulate(flagged.begin(), flagged.end(), 0);
  // 10 % of 1020 rows, give or take ties at the percentile.
  EXPECT_GE(n, 100);
  EXPECT_LE(n, 104);
  EXPECT_NE(forest.threshold(), 0.5f);
  EXPECT_FLOAT_EQ(fitted_forest(p.x).threshold(), 0.5f);
}

TEST(IsolationForest, SaveLoadGivesIdenticalScoresAndThreshold) {
  const auto p = planted_outliers();
  auto forest = fitted_forest(p.x);
  forest.set_threshold(0.61f);
  TempDir dir;
  const auto file = forest.save(dir.path());
  EXPECT_EQ(file, "isolation_forest.json");
  IsolationForest loaded;
  loaded.load(dir.path(), file, 5);
  EXPECT_EQ(loaded.score(p.x), forest.score(p.x));
  EXPECT_EQ(loaded.threshold(), 0.61f);
}

// The scorer walks a fixed number of levels per tree with leaves looping on themselves; the
// scores must be exactly those of following each row's path node by node (read from the saved
// model), including rows with NaN (which go right) and trees of different depths.
TEST(IsolationForest, LevelWalkScoresExactlyLikeNodeByNodeWalk) {
  auto p = planted_outliers(6, 11);
  IsolationForestOptions options;
  options.max_samples = 200;
  auto forest = fitted_forest(p.x, 5, 1, options);
  for (std::size_t r = 0; r < p.x.rows; r += 37) p.x.at(r, r % 6) = std::nanf("");
  TempDir dir;
  const auto file = forest.save(dir.path());
  std::ifstream in(dir.path() / file);
  const auto doc = nlohmann::json::parse(in);
  const auto subsample = doc.at("subsample_size").get<double>();
  const double norm = average_path_length(subsample) * static_cast<double>(doc.at("trees").size());
  std::vector<float> expected(p.x.rows);
  for (std::size_t r = 0; r < p.x.rows; ++r) {
    double total = 0;
    for (const auto& tree : doc.at("trees")) {
      const auto feature = tree.at("feature").get<std::vector<int>>();
      const auto value = tree.at("value").get<std::vector<float>>();
      const auto left = tree.at("left").get<std::vector<std::uint32_t>>();
      std::uint32_t n = 0;
      while (feature[n] >= 0) {
        n = left[n] + (p.x.at(r, static_cast<std::size_t>(feature[n])) <= value[n] ? 0u : 1u);
      }
      total += value[n];
    }
    expected[r] = static_cast<float>(std::exp2(-total / norm));
  }
  EXPECT_EQ(forest.score(p.x), expected);
  IsolationForest loaded;
  loaded.load(dir.path(), file, 6);
  EXPECT_EQ(loaded.score(p.x), expected);
}

TEST(IsolationForest, LoadNamesFeatureCountMismatch) {
  const auto p = planted_outliers();
  TempDir dir;
  const auto file = fitted_forest(p.x).save(dir.path());
  IsolationForest loaded;
  const auto msg = error_of([&] { loaded.load(dir.path(), file, 6); });
  EXPECT_NE(msg.find("trained on 5 features but 6 are expected"), std::string::npos) << msg;
  EXPECT_NE(msg.find("isolation_forest.json"), std::string::npos) << msg;
}

TEST(IsolationForest, LoadNamesWhatIsCorrupted) {
  const auto p = planted_outliers();
  TempDir dir;
  const auto file = fitted_forest(p.x).save(dir.path());
  const auto path = dir.path() / file;
  std::ifstream in(path);
  const auto good = nlohmann::json::parse(in);
  in.close();
  const auto rewrite = [&](const std::string& text) { std::ofstream(path) << text; };
  IsolationForest loaded;
  const auto load = [&] { loaded.load(dir.path(), file, 5); };

  rewrite(good.dump().substr(0, 200));
  EXPECT_NE(error_of(load).find("not valid JSON"), std::string::npos) << error_of(load);

  auto doc = good;
  doc["version"] = 7;
  rewrite(doc.dump());
  EXPECT_NE(error_of(load).find("format version 7"), std::string::npos) << error_of(load);

  doc = good;
  doc["trees"][3]["feature"][0] = 99;
  rewrite(doc.dump());
  EXPECT_NE(error_of(load).find("tree 3 node 0: feature 99 out of range"), std::string::npos)
      << error_of(load);

  doc = good;
  doc["trees"][0]["value"].erase(0);
  rewrite(doc.dump());
  EXPECT_NE(error_of(load).find("tree 0: arrays"), std::string::npos) << error_of(load);

  doc = good;
  doc.erase("threshold");
  rewrite(doc.dump());
  EXPECT_NE(error_of(load).find("missing or mistyped field"), std::string::npos) << error_of(load);

  EXPECT_NE(error_of([&] { loaded.load(dir.path(), "absent.json", 5); }).find("cannot open"),
            std::string::npos);
  EXPECT_FALSE(loaded.fitted());  // no failed load left a half-read model behind
}

TEST(IsolationForest, RejectsNonFiniteTrainingValuesAndWrongWidth) {
  auto p = planted_outliers();
  p.x.at(17, 2) = std::nanf("");
  IsolationForest forest;
  TrainSet set;
  set.x = &p.x;
  EXPECT_NE(error_of([&] { forest.fit(set, {}); }).find("row 17, column 2 is not finite"),
            std::string::npos);
  const auto fitted = fitted_forest(planted_outliers().x);
  const data::Matrix narrow(3, 4);
  EXPECT_NE(error_of([&] { (void)fitted.score(narrow); }).find("5 features but the data has 4"),
            std::string::npos);
  EXPECT_THROW(IsolationForest(IsolationForestOptions{.contamination = 0.9}), core::Error);
}

// ---- Real data: NSL-KDD parity with scikit-learn ----------------------------------------------

fs::path datasets_dir() {
  if (const char* env = std::getenv("NETSENTRY_DATASETS")) return env;
  return fs::path(NETSENTRY_SOURCE_DIR) / ".." / "shared" / "datasets";
}

std::vector<std::vector<std::string>> read_kdd(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string f;
    while (std::getline(ss, f, ',')) fields.push_back(f);
    rows.push_back(std::move(fields));
  }
  return rows;
}

// Numeric columns as they are, the 3 categorical columns (1: protocol_type, 2: service, 3: flag)
// one-hot over the training file's categories; label column 41: "normal" -> 0.
struct KddEncoder {
  std::map<std::string, std::size_t> onehot[3];
  std::size_t width = 0;

  explicit KddEncoder(const std::vector<std::vector<std::string>>& train) {
    for (const auto& r : train) {
      for (int k = 0; k < 3; ++k) onehot[k].emplace(r[1 + k], 0);
    }
    width = 41 - 3;
    for (auto& m : onehot) {
      for (auto& [name, index] : m) index = width++;
    }
  }

  void encode(const std::vector<std::vector<std::string>>& rows, data::Matrix& x,
              std::vector<int>& y) const {
    x = data::Matrix(rows.size(), width);
    y.assign(rows.size(), 0);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      std::size_t col = 0;
      for (std::size_t c = 0; c < 41; ++c) {
        if (c >= 1 && c <= 3) {
          const auto& m = onehot[c - 1];
          if (const auto it = m.find(rows[r][c]); it != m.end()) x.at(r, it->second) = 1.0f;
        } else {
          x.at(r, col++) = std::strtof(rows[r][c].c_str(), nullptr);
        }
      }
      y[r] = rows[r][41] == "normal" ? 0 : 1;
    }
  }
};

TEST(IsolationForest, MatchesScikitLearnOnNslKdd) {
  const auto dir = datasets_dir() / "nsl-kdd";
  if (!fs::exists(dir / "KDDTrain+.txt") || !fs::exists(dir / "KDDTest+.txt")) {
    GTEST_SKIP() << "NSL-KDD not found under " << dir << " (set NETSENTRY_DATASETS)";
  }
  const auto train_rows = read_kdd(dir / "KDDTrain+.txt");
  const auto test_rows = read_kdd(dir / "KDDTest+.txt");
  ASSERT_EQ(train_rows.size(), 125973u);
  ASSERT_EQ(test_rows.size(), 22544u);
  const KddEncoder encoder(train_rows);
  data::Matrix x_train, x_test;
  std::vector<int> y_train, y_test;
  encoder.encode(train_rows, x_train, y_train);
  encoder.encode(test_rows, x_test, y_test);

  IsolationForest forest;
  TrainSet set;
  set.x = &x_train;
  set.y = y_train;
  TrainContext ctx;
  ctx.threads = 2;
  forest.fit(set, ctx);
  const double auc = roc_auc(y_test, forest.score(x_test));
  // scikit-learn 1.2 IsolationForest(100 trees) fit on the normal rows reaches 0.939 here.
  std::cout << "NSL-KDD KDDTest+ ROC-AUC: " << auc << "\n";
  EXPECT_GE(auc, 0.919);
}

}  // namespace
}  // namespace netsentry::ml
