#include "ml/bundle.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "core/error.h"
#include "data/dataset.h"
#include "ml/isolation_forest.h"
#include "ml/random_forest.h"

namespace netsentry::ml {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

data::Dataset toy_data(std::size_t rows, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  data::Dataset d;
  for (const char* name : {"Duration", "PacketCount", "ByteCount"}) {
    data::Column c;
    c.name = name;
    d.columns.push_back(std::move(c));
  }
  for (std::size_t i = 0; i < rows; ++i) {
    const bool attack = i % 4 == 0;
    // Overlapping classes, so the forest grows trees a few levels deep.
    const float packets = attack ? 30 + 3000 * u(rng) : 2 + 400 * u(rng);
    d.columns[0].values.push_back(attack ? 5.0f * u(rng) : 30 * u(rng));
    d.columns[1].values.push_back(packets);
    d.columns[2].values.push_back(packets * (attack ? 40 + 300 * u(rng) : 200 + 1000 * u(rng)));
    d.y.push_back(attack ? 1 : 0);
    d.origin.push_back({0, static_cast<std::uint32_t>(i + 2)});
  }
  return d;
}

// A small valid IF + RF bundle with a fitted tail ensemble, saved once per test.
class BundleLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ns_bundle_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    Bundle b;
    const auto train = toy_data(400, 1);
    const auto val = toy_data(200, 2);
    b.preprocessor.fit(train);
    const auto x = b.preprocessor.transform(train);
    const auto xv = b.preprocessor.transform(val);
    TrainSet set;
    set.x = &x;
    set.y = train.y;
    IsolationForestOptions io;
    io.n_trees = 4;
    io.max_samples = 32;
    RandomForestOptions ro;
    ro.trees = 3;
    ro.max_depth = 3;
    b.models.push_back(std::make_unique<IsolationForest>(io));
    b.models.push_back(std::make_unique<RandomForest>(ro));
    ModelScores val_scores;
    for (auto& m : b.models) {
      m->fit(set, {});
      b.ensemble.set_model_threshold(std::string(m->name()), m->threshold());
      val_scores.emplace(std::string(m->name()), m->score(xv));
    }
    b.ensemble.fit(val_scores, val.y);
    b.ensemble.set_mode(EnsembleMode::kTail);
    b.save(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  json read(const std::string& name) const {
    std::ifstream in(dir_ / name);
    return json::parse(in);
  }
  void write(const std::string& name, const json& doc) const {
    std::ofstream out(dir_ / name, std::ios::trunc);
    out << doc.dump();
  }
  void edit(const std::string& name, const std::function<void(json&)>& fn) const {
    json doc = read(name);
    fn(doc);
    write(name, doc);
  }
  // The message Bundle::load throws; fails the test when it loads or throws anything else.
  std::string load_error() const {
    try {
      (void)Bundle::load(dir_);
    } catch (const core::Error& e) {
      return e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a core::Error: " << e.what();
      return {};
    }
    ADD_FAILURE() << "the bundle loaded";
    return {};
  }
  static json& tree(json& doc, std::size_t i = 0) {
    return doc["learner"]["gradient_booster"]["model"]["trees"][i];
  }

  fs::path dir_;
  static inline int counter_ = 0;
};

// A model whose score is one input column; it counts the rows it was asked to score.
class ColumnModel final : public Model {
 public:
  ColumnModel(std::string name, std::size_t column) : name_(std::move(name)), column_(column) {}
  std::string_view name() const override { return name_; }
  void fit(const TrainSet&, const TrainContext&) override {}
  std::vector<float> score(const ScoreInput& input) const override {
    rows_seen += input.x.rows;
    std::vector<float> out(input.x.rows);
    for (std::size_t r = 0; r < input.x.rows; ++r) out[r] = input.x.at(r, column_);
    return out;
  }
  float threshold() const override { return 0.5f; }
  void set_threshold(float) override {}
  std::string save(const fs::path&) const override { return {}; }
  void load(const fs::path&, const std::string&, std::size_t) override {}
  mutable std::size_t rows_seen = 0;

 private:
  std::string name_;
  std::size_t column_;
};

TEST(BundleCascade, CostlyModelsScoreOnlyRowsTheForestsLeaveOpenWithTheSameDecisions) {
  Bundle b;
  b.models.push_back(std::make_unique<ColumnModel>("isolation_forest", 0));
  b.models.push_back(std::make_unique<ColumnModel>("random_forest", 1));
  b.models.push_back(std::make_unique<ColumnModel>("autoencoder", 2));
  for (const auto& m : b.models) b.ensemble.set_model_threshold(std::string(m->name()), 0.5f);
  b.ensemble.set_mode(EnsembleMode::kVote);  // majority: 2 of 3
  ASSERT_TRUE(b.cascades());
  // Rows: no forest vote (the AE's vote cannot decide); one forest vote + AE; one forest vote
  // alone; both forests.
  data::Matrix x(4, 3);
  const float v[4][3] = {{0, 0, 1}, {1, 0, 1}, {0, 1, 0}, {1, 1, 0}};
  for (std::size_t r = 0; r < 4; ++r) {
    for (std::size_t c = 0; c < 3; ++c) x.at(r, c) = v[r][c];
  }
  const auto& ae = static_cast<const ColumnModel&>(*b.models[2]);
  const auto full = b.score(x);
  ae.rows_seen = 0;
  Bundle::CascadeStats stats;
  const auto cascade = b.score_cascade({x}, &stats);
  EXPECT_EQ(ae.rows_seen, 3u);
  EXPECT_EQ(stats.rows, 4u);
  EXPECT_EQ(stats.second_stage_rows, 3u);
  EXPECT_TRUE(std::isnan(cascade.at("autoencoder")[0]));
  const float t = b.ensemble.threshold();
  for (std::size_t r = 0; r < 4; ++r) {
    EXPECT_EQ(cascade.at("ensemble")[r] > t, full.at("ensemble")[r] > t) << "row " << r;
  }
  EXPECT_EQ(full.at("ensemble")[1] > t, true);
  // A quorum only both forests plus the AE reach: rows without both forest votes are decided.
  b.ensemble.set_vote_quorum(0.7);
  ae.rows_seen = 0;
  const auto strict = b.score_cascade({x});
  EXPECT_EQ(ae.rows_seen, 1u);
  for (std::size_t r = 0; r < 4; ++r) EXPECT_EQ(strict.at("ensemble")[r] > 0.7f, false);
  // Other modes score every model on every row.
  b.ensemble.set_mode(EnsembleMode::kTail);
  EXPECT_FALSE(b.cascades());
}

TEST(BundleCascade, TheLighterForestScoresOnlyRowsTheHeavierOneLeavesOpen) {
  // The shipped default's shape: the Random Forest's vote weighs most, so its "no" decides a row
  // alone and the Isolation Forest and autoencoder never see it.
  Bundle b;
  b.models.push_back(std::make_unique<ColumnModel>("isolation_forest", 0));
  b.models.push_back(std::make_unique<ColumnModel>("random_forest", 1));
  b.models.push_back(std::make_unique<ColumnModel>("autoencoder", 2));
  for (const auto& m : b.models) b.ensemble.set_model_threshold(std::string(m->name()), 0.5f);
  b.ensemble.set_mode(EnsembleMode::kVote);
  b.ensemble.set_weight("isolation_forest", 1);
  b.ensemble.set_weight("random_forest", 2);
  b.ensemble.set_weight("autoencoder", 1);
  b.ensemble.set_vote_quorum(0.6);  // more than 2.4 of 4: never without the Random Forest
  ASSERT_TRUE(b.cascades());
  // Every combination of the three votes (IF, RF, AE).
  data::Matrix x(8, 3);
  for (std::size_t r = 0; r < 8; ++r) {
    for (std::size_t c = 0; c < 3; ++c) x.at(r, c) = static_cast<float>((r >> c) & 1u);
  }
  const auto& forest = static_cast<const ColumnModel&>(*b.models[0]);
  const auto& ae = static_cast<const ColumnModel&>(*b.models[2]);
  const auto full = b.score(x);
  forest.rows_seen = 0;
  ae.rows_seen = 0;
  Bundle::CascadeStats stats;
  const auto cascade = b.score_cascade({x}, &stats);
  EXPECT_EQ(forest.rows_seen, 4u);  // the rows with the Random Forest's vote (column 1 set)
  EXPECT_EQ(ae.rows_seen, 4u);      // RF yes + IF no still reaches 3 of 4 with the AE
  EXPECT_EQ(stats.second_stage_rows, 4u);
  const float t = b.ensemble.threshold();
  for (std::size_t r = 0; r < 8; ++r) {
    const bool rf = (r >> 1) & 1u;
    EXPECT_EQ(std::isnan(cascade.at("isolation_forest")[r]), !rf) << "row " << r;
    EXPECT_EQ(std::isnan(cascade.at("autoencoder")[r]), !rf) << "row " << r;
    EXPECT_EQ(cascade.at("ensemble")[r] > t, full.at("ensemble")[r] > t) << "row " << r;
  }
  EXPECT_TRUE(full.at("ensemble")[7] > t);   // all three
  EXPECT_FALSE(full.at("ensemble")[5] > t);  // IF and AE without the Random Forest
}

TEST_F(BundleLoad, ValidBundleLoadsAndScores) {
  const Bundle b = Bundle::load(dir_);
  const auto x = b.preprocessor.transform(toy_data(50, 3));
  const auto scores = b.score(x);
  EXPECT_EQ(scores.at("ensemble").size(), 50u);
}

TEST_F(BundleLoad, RefusesForestChildOutOfRange) {
  edit("random_forest.json", [](json& d) { tree(d)["left_children"][0] = 100000; });
  const auto e = load_error();
  EXPECT_NE(e.find("random_forest.json"), std::string::npos) << e;
  EXPECT_NE(e.find("left_children[0]"), std::string::npos) << e;
}

TEST_F(BundleLoad, RefusesForestSplitFeatureOutOfRange) {
  edit("random_forest.json", [](json& d) { tree(d)["split_indices"][0] = 77; });
  const auto e = load_error();
  EXPECT_NE(e.find("split_indices[0]"), std::string::npos) << e;
}

TEST_F(BundleLoad, RefusesForestCycle) {
  edit("random_forest.json", [](json& d) {
    auto& t = tree(d);
    // The root's right child (an inner node at depth 3) points back at the root.
    const auto r = t["right_children"][0].get<int>();
    if (t["left_children"][r].get<int>() >= 0) {
      t["left_children"][r] = 0;
    } else {
      t["right_children"][0] = 0;
    }
  });
  const auto e = load_error();
  EXPECT_TRUE(e.find("cycle") != std::string::npos || e.find("out of range") != std::string::npos)
      << e;
}

TEST_F(BundleLoad, RefusesForestSharedChild) {
  edit("random_forest.json", [](json& d) {
    auto& trees = d["learner"]["gradient_booster"]["model"]["trees"];
    for (auto& t : trees) {
      const auto l = t["left_children"][0].get<int>();
      const auto r = t["right_children"][0].get<int>();
      if (l < 0) continue;
      for (const auto& [inner, other] :
           {std::pair{l, "right_children"}, std::pair{r, "left_children"}}) {
        const auto grandchild = t["left_children"][inner].get<int>();
        if (grandchild < 0) continue;
        // The root's other child is also the inner child's child: reached twice.
        t[other][0] = grandchild;
        return;
      }
    }
    FAIL() << "no tree of depth 2";
  });
  // Whichever path the check walks first: the node is reached twice, or one parent disagrees.
  const auto e = load_error();
  EXPECT_TRUE(e.find("reached twice") != std::string::npos ||
              e.find("names it as a child") != std::string::npos)
      << e;
}

// Found by bundle_fuzz (tests/fuzz/bundle/forest-leaf-split-index-43bb279b): a leaf's split index
// and a node's parent that XGBoost's own loader reads without checking (a segfault in
// RegTree::LoadModel).
TEST_F(BundleLoad, RefusesForestLeafFieldsXgboostWouldMisread) {
  const json original = read("random_forest.json");
  json leaf_index = original;
  auto& t = tree(leaf_index);
  std::size_t leaf = 0;
  while (t["left_children"][leaf].get<int>() >= 0) ++leaf;
  t["split_indices"][leaf] = -234881024;
  write("random_forest.json", leaf_index);
  EXPECT_NE(load_error().find("split_indices[" + std::to_string(leaf) + "]"), std::string::npos);

  json parent = original;
  tree(parent)["parents"][1] = -1;
  write("random_forest.json", parent);
  EXPECT_NE(load_error().find("parents[1]"), std::string::npos);

  json wrong_parent = original;
  tree(wrong_parent)["parents"][2] = 2;
  write("random_forest.json", wrong_parent);
  EXPECT_NE(load_error().find("parents[2]"), std::string::npos);
}

TEST_F(BundleLoad, RefusesForestArraysOfDifferentLengths) {
  edit("random_forest.json", [](json& d) { tree(d)["default_left"].erase(0); });
  const auto e = load_error();
  EXPECT_NE(e.find("default_left"), std::string::npos) << e;
}

TEST_F(BundleLoad, RefusesForestWithAnotherObjective) {
  edit("random_forest.json",
       [](json& d) { d["learner"]["objective"]["name"] = "reg:squarederror"; });
  EXPECT_NE(load_error().find("learner.objective.name"), std::string::npos);
}

TEST_F(BundleLoad, RefusesForestTreeCountMismatch) {
  edit("random_forest.json",
       [](json& d) { d["learner"]["gradient_booster"]["model"]["trees"].erase(0); });
  EXPECT_NE(load_error().find("num_trees"), std::string::npos);
}

TEST_F(BundleLoad, RefusesIsolationTreeChildBeforeParent) {
  edit("isolation_forest.json", [](json& d) { d["trees"][0]["left"][0] = 0; });
  const auto e = load_error();
  EXPECT_NE(e.find("isolation_forest.json"), std::string::npos) << e;
  EXPECT_NE(e.find("child index"), std::string::npos) << e;
}

TEST_F(BundleLoad, RefusesManifestThatIsADirectory) {
  fs::remove(dir_ / "manifest.json");
  fs::create_directory(dir_ / "manifest.json");
  const auto e = load_error();
  EXPECT_NE(e.find("manifest.json: not a regular file"), std::string::npos) << e;
}

TEST_F(BundleLoad, RefusesWrongFormat) {
  edit("manifest.json", [](json& d) { d["format"] = "tflite"; });
  EXPECT_NE(load_error().find("\"format\" is \"tflite\""), std::string::npos);
}

TEST_F(BundleLoad, RefusesModelFilesOutsideTheFolder) {
  const json original = read("manifest.json");
  for (const char* file : {"../x.json", "/etc/passwd", "a/../../x.json"}) {
    json doc = original;
    doc["models"]["isolation_forest"]["file"] = file;
    write("manifest.json", doc);
    const auto e = load_error();
    EXPECT_NE(e.find("inside the bundle folder"), std::string::npos) << file << ": " << e;
  }
}

TEST_F(BundleLoad, RefusesSymlinkOutOfTheFolder) {
  const fs::path outside = dir_.string() + "-outside.json";
  fs::copy_file(dir_ / "isolation_forest.json", outside, fs::copy_options::overwrite_existing);
  fs::remove(dir_ / "isolation_forest.json");
  fs::create_symlink(outside, dir_ / "isolation_forest.json");
  const auto e = load_error();
  fs::remove(outside);
  EXPECT_NE(e.find("outside the bundle folder"), std::string::npos) << e;
}

TEST_F(BundleLoad, RefusesEnsembleWithAllWeightsZero) {
  edit("manifest.json", [](json& d) {
    for (auto& [name, w] : d["ensemble"]["weights"].items()) w = 0.0;
  });
  const auto e = load_error();
  EXPECT_NE(e.find("manifest.json"), std::string::npos) << e;
  EXPECT_NE(e.find("weights"), std::string::npos) << e;
}

TEST_F(BundleLoad, RefusesEnsembleWithoutModels) {
  edit("manifest.json", [](json& d) {
    d["ensemble"]["models"] = json::array();
    d["ensemble"]["thresholds"] = json::object();
    d["ensemble"]["fitted"] = false;
    d["ensemble"]["mode"] = "vote";
  });
  EXPECT_NE(load_error().find("lists no model"), std::string::npos);
}

TEST_F(BundleLoad, RefusesManifestWithoutModels) {
  edit("manifest.json", [](json& d) { d["models"] = json::object(); });
  EXPECT_NE(load_error().find("lists no model"), std::string::npos);
}

TEST_F(BundleLoad, RefusesManifestThatIsNotAnObject) {
  write("manifest.json", json::array({1, 2}));
  EXPECT_NE(load_error().find("expected a JSON object"), std::string::npos);
}

}  // namespace
}  // namespace netsentry::ml
