#include "detect/flow_scorer.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/dataset.h"
#include "data/preprocess.h"
#include "detect/detect_test_support.h"
#include "ml/isolation_forest.h"
#include "ml/random.h"
#include "ml/random_forest.h"

namespace netsentry::detect {
namespace {

using namespace testing;

// The original project's training columns: normal rows are web sessions, attack rows are
// one-packet floods at random ports.
data::Dataset original_dataset(std::size_t rows, std::uint64_t seed) {
  ml::Rng rng(seed);
  data::Dataset d;
  const char* numeric[] = {"Duration", "PacketCount", "ByteCount", "SourcePort", "DestinationPort"};
  for (const char* n : numeric) d.columns.push_back({n, data::ColumnKind::kNumeric, {}, {}, {}});
  data::Column proto{"Protocol", data::ColumnKind::kCategorical, {}, {}, {"TCP", "UDP"}};
  for (std::size_t i = 0; i < rows; ++i) {
    const int attack = rng.uniform() < 0.3 ? 1 : 0;
    const double packets = attack ? 1 + (rng.uniform() < 0.5) : 10 + 50 * rng.uniform();
    const double bytes = attack ? 60 * packets : packets * (400 + 800 * rng.uniform());
    d.columns[0].values.push_back(
        static_cast<float>(attack ? 0.001 * rng.uniform() : 0.5 + 4 * rng.uniform()));
    d.columns[1].values.push_back(static_cast<float>(packets));
    d.columns[2].values.push_back(static_cast<float>(bytes));
    d.columns[3].values.push_back(static_cast<float>(30000 + 30000 * rng.uniform()));
    d.columns[4].values.push_back(attack ? static_cast<float>(1 + 60000 * rng.uniform()) : 443.f);
    proto.codes.push_back(0);
    d.y.push_back(attack);
    d.origin.push_back({0, static_cast<std::uint32_t>(i + 2)});
  }
  d.columns.push_back(std::move(proto));
  d.files = {"synthetic.csv"};
  return d;
}

class FlowScorerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto train = original_dataset(3000, 1);
    const auto val = original_dataset(1000, 2);
    bundle_.preprocessor.fit(train);
    const auto x = bundle_.preprocessor.transform(train);
    const auto xv = bundle_.preprocessor.transform(val);
    ml::TrainSet set;
    set.x = &x;
    set.y = train.y;
    ml::TrainContext ctx;
    bundle_.models.push_back(std::make_unique<ml::IsolationForest>());
    ml::RandomForestOptions rf;
    rf.trees = 20;
    bundle_.models.push_back(std::make_unique<ml::RandomForest>(rf));
    ml::ModelScores val_scores;
    for (auto& m : bundle_.models) {
      m->fit(set, ctx);
      bundle_.ensemble.set_model_threshold(std::string(m->name()), m->threshold());
      val_scores[std::string(m->name())] = m->score(xv);
    }
    bundle_.ensemble.fit(val_scores, val.y);
    bundle_.ensemble.set_mode(ml::EnsembleMode::kSoft);
  }

  static flow::FlowRecord web(std::uint16_t sport, std::int64_t start) {
    auto r = flow_of(ip("10.0.0.2"), sport, ip("93.184.216.34"), 443, 6, start, 2 * kSec, {});
    r.packet_count = 30;
    r.byte_count = 24000;
    return r;
  }
  static flow::FlowRecord flood(std::uint16_t dport, std::int64_t start) {
    auto r = flow_of(ip("10.0.0.66"), 31337, ip("10.0.0.5"), dport, 6, start, 0, {});
    r.packet_count = 1;
    r.byte_count = 60;
    return r;
  }

  ml::Bundle bundle_;
};

TEST_F(FlowScorerTest, FlagsFloodFlowsAndDescribesThemWithVotesFeaturesAndNumbers) {
  const FlowScorer scorer(bundle_);
  std::vector<flow::FlowRecord> flows;
  for (int i = 0; i < 20; ++i) flows.push_back(web(static_cast<std::uint16_t>(40000 + i), kT0));
  flows.push_back(flood(8081, kT0 + kSec));
  flows.push_back(flood(22, kT0 + kSec));
  std::vector<FlowVerdict> verdicts;
  ScoredBatch batch;
  scorer.score(flows, verdicts, &batch);
  ASSERT_EQ(verdicts.size(), flows.size());
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(verdicts[i].anomalous) << "web flow " << i;
    EXPECT_TRUE(verdicts[i].scored);
  }
  EXPECT_TRUE(verdicts[20].anomalous);
  EXPECT_TRUE(verdicts[21].anomalous);
  const std::size_t rows[] = {20, 21};
  std::vector<Evidence> described;
  scorer.describe(flows, batch, verdicts, rows, described);
  ASSERT_EQ(described.size(), 2u);
  const Evidence& e = described[0];
  EXPECT_EQ(e.voters, 2);
  EXPECT_EQ(e.models.size(), 2u);
  EXPECT_GT(e.score, scorer.threshold());
  ASSERT_EQ(e.flows.size(), 1u);
  EXPECT_EQ(e.flows[0].dst_port, 8081);
  ASSERT_FALSE(e.deviations.empty());
  EXPECT_GE(std::abs(e.deviations.front().deviation), std::abs(e.deviations.back().deviation));
  EXPECT_NE(e.description.find("10.0.0.66:31337 → 10.0.0.5:8081"), std::string::npos)
      << e.description;
  EXPECT_NE(e.description.find("of 2 models agree"), std::string::npos) << e.description;
  // The second flow of the same host pair gets the short description.
  EXPECT_TRUE(described[1].deviations.empty());
  EXPECT_NE(described[1].description.find("10.0.0.5:22"), std::string::npos);
}

TEST_F(FlowScorerTest, AModelOfWeightZeroIsScoredAndNamedButHasNoVote) {
  // The shipped bundle's way: the forest votes; the Isolation Forest is scored for the evidence.
  bundle_.ensemble.set_mode(ml::EnsembleMode::kVote);
  bundle_.ensemble.set_weight("isolation_forest", 0);
  const FlowScorer scorer(bundle_);
  std::vector<flow::FlowRecord> flows = {flood(8081, kT0), web(40000, kT0)};
  std::vector<FlowVerdict> verdicts;
  ScoredBatch batch;
  scorer.score(flows, verdicts, &batch);
  ASSERT_TRUE(verdicts[0].anomalous);
  EXPECT_FALSE(verdicts[1].anomalous);
  for (const FlowVerdict& v : verdicts) EXPECT_EQ(v.voters, 1);  // the forest alone
  EXPECT_EQ(verdicts[0].votes, 1);
  EXPECT_EQ(verdicts[1].votes, 0);
  const std::size_t rows[] = {0};
  std::vector<Evidence> described;
  scorer.describe(flows, batch, verdicts, rows, described);
  ASSERT_EQ(described.size(), 1u);
  const Evidence& e = described[0];
  EXPECT_EQ(e.votes, 1);
  EXPECT_EQ(e.voters, 1);
  ASSERT_EQ(e.models.size(), 2u);  // both verdicts stay in the evidence
  EXPECT_EQ(e.models[0].model, "isolation_forest");
  const std::string unvoted = std::string("(scored without a vote: isolation_forest ") +
                              (e.models[0].vote ? "flags it)" : "does not)");
  EXPECT_NE(e.description.find("1 of 1 voting models agree " + unvoted), std::string::npos)
      << e.description;
}

TEST_F(FlowScorerTest, DeviationsReportRawValuesAndTheTrainingTypical) {
  const FlowScorer scorer(bundle_);
  std::vector<flow::FlowRecord> flows = {flood(9999, kT0)};
  std::vector<FlowVerdict> verdicts;
  ScoredBatch batch;
  scorer.score(flows, verdicts, &batch);
  ASSERT_TRUE(verdicts[0].anomalous);
  const std::size_t rows[] = {0};
  std::vector<Evidence> described;
  scorer.describe(flows, batch, verdicts, rows, described);
  ASSERT_EQ(described.size(), 1u);
  int checked = 0;
  for (const auto& e : described[0].deviations) {
    if (e.feature == "PacketCount") {
      EXPECT_NEAR(e.value, 1.0, 1e-3);
      EXPECT_GT(e.expected, 5.0);  // training rows mostly have tens of packets
      ++checked;
    } else if (e.feature == "ByteCount" || e.feature == "BytesPerPacket") {
      EXPECT_NEAR(e.value, 60.0, 0.5);
      ++checked;
    } else if (e.feature == "DestinationPort") {
      EXPECT_NEAR(e.value, 9999.0, 0.5);
      ++checked;
    }
  }
  std::string listed;
  for (const auto& e : described[0].deviations) {
    listed += e.feature + "=" + std::to_string(e.value) + " ";
  }
  EXPECT_GE(checked, 2) << "a one-packet flood should stand out by its packet and byte counts: "
                        << listed;
}

TEST(FlowScorer, RefusesABundleWhoseInputsLiveFlowsDoNotHave) {
  data::Dataset d;
  d.columns.push_back({"src_bytes", data::ColumnKind::kNumeric, {1, 2, 3, 4}, {}, {}});
  d.columns.push_back({"Flow Duration", data::ColumnKind::kNumeric, {1, 2, 3, 4}, {}, {}});
  d.y = {0, 1, 0, 1};
  for (std::uint32_t i = 0; i < 4; ++i) d.origin.push_back({0, i + 1});
  d.files = {"kdd.csv"};
  ml::Bundle bundle;
  bundle.preprocessor.fit(d);
  bundle.models.push_back(std::make_unique<ml::IsolationForest>());
  try {
    const FlowScorer scorer(bundle);
    FAIL() << "expected an error";
  } catch (const core::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("\"src_bytes\""), std::string::npos) << what;
    EXPECT_EQ(what.find("Flow Duration"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace netsentry::detect
