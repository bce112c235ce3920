#include "detect/site_baseline.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"
#include "detect/detect_test_support.h"

namespace netsentry::detect {
namespace {

using namespace testing;  // NOLINT
namespace fs = std::filesystem;

// An ordinary web session of this network, with a little variety.
flow::FlowRecord web(int i, std::int64_t t) {
  auto r = session(ipv4(10, 0, 0, static_cast<std::uint8_t>(10 + i % 5)),
                   static_cast<std::uint16_t>(30000 + i), ip("10.0.0.5"), 80, t,
                   static_cast<std::uint32_t>(300 + (i * 37) % 900));
  r.cic[static_cast<std::size_t>(flow::CicFeature::kFlowDuration)] = 200'000 + (i * 911) % 50'000;
  return r;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "netsentry-site-XXXXXX").string();
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(SiteBaseline, AReplaysFitIsAdoptedAtTheSamePacketTimeHoweverLongItTakes) {
  SiteBaselineOptions o;
  o.learn_s = 60;
  o.refresh_s = 0;
  o.synchronous = true;
  o.adopt_after_s = 30;
  SiteBaseline site(o);
  // Flows every 250 ms: the one that ends 60 s after the first starts the fit.
  std::int64_t first = 0;
  std::int64_t started = 0;
  for (int i = 0; i < 300 && started == 0; ++i) {
    const flow::FlowRecord f = web(i, kT0 + i * 250 * kMs);
    const std::int64_t t = std::max(f.start_ns, f.end_ns);
    if (i == 0) first = t;
    site.observe(f);
    if (t - first >= 60 * kSec) started = t;
    EXPECT_FALSE(site.take_ready(t));  // not yet, whatever the fit's progress
  }
  ASSERT_GT(started, 0);
  // Whether the fit is done or not, it is not adopted before 30 s of packet time have passed...
  EXPECT_FALSE(site.take_ready(started + 29 * kSec));
  EXPECT_FALSE(site.ready());
  // ... and at 30 s it is, waiting for the fit if it still runs.
  EXPECT_TRUE(site.take_ready(started + 30 * kSec));
  EXPECT_TRUE(site.ready());
  EXPECT_EQ(site.fits(), 1u);
  EXPECT_FALSE(site.take_ready(started + 31 * kSec));  // nothing new to adopt
}

TEST(SiteBaseline, LearnsFromTheFirstMinutesOfFlowsSavesAndReloads) {
  TempDir dir;
  SiteBaselineOptions o;
  o.learn_s = 60;
  o.refresh_s = 0;
  o.dir = dir.path() / "baseline";
  o.synchronous = true;
  SiteBaseline site(o);
  EXPECT_FALSE(site.ready());
  for (int i = 0; i < 300; ++i) {
    site.observe(web(i, kT0 + i * 250 * kMs));  // 300 flows over 75 s
    (void)site.take_ready();
  }
  ASSERT_TRUE(site.ready());
  EXPECT_EQ(site.fits(), 1u);
  site.wait_saved();  // a synchronous fit saves on a thread of its own
  EXPECT_TRUE(fs::exists(o.dir / "manifest.json"));
  // Typical of this network: its own kind of flow; not typical: a one-way trickle to 4444.
  std::vector<flow::FlowRecord> flows = {web(1000, kT0 + 100 * kSec)};
  flows.push_back(one_way_trickle(50000, kT0, /*handshake=*/false));
  std::vector<FlowVerdict> verdicts;
  site.scorer()->score(flows, verdicts);
  EXPECT_FALSE(verdicts[0].anomalous);
  EXPECT_TRUE(verdicts[1].anomalous);

  SiteBaseline again(o);  // a restart
  EXPECT_TRUE(again.ready());
  EXPECT_NE(again.description().find("loaded from"), std::string::npos) << again.description();
}

TEST(SiteBaseline, RefreshesEveryPeriodFromTheLastTwoPeriods) {
  SiteBaselineOptions o;
  o.learn_s = 30;
  o.refresh_s = 30;
  o.synchronous = true;
  SiteBaseline site(o);
  for (int i = 0; i < 1000; ++i) {
    site.observe(web(i, kT0 + i * 100 * kMs));  // 100 s
    (void)site.take_ready();
  }
  EXPECT_EQ(site.fits(), 3u);  // at 30 s, 60 s and 90 s
}

TEST(SiteBaseline, TheSavedBaselineIsTheNewestFit) {
  TempDir dir;
  SiteBaselineOptions o;
  o.learn_s = 30;
  o.refresh_s = 30;
  o.dir = dir.path() / "baseline";
  o.synchronous = true;
  std::size_t last_rows = 0;
  {
    SiteBaseline site(o);
    for (int i = 0; i < 1000; ++i) {
      site.observe(web(i, kT0 + i * 100 * kMs));  // 100 s: fits at 30 s, 60 s and 90 s
      if (site.take_ready()) last_rows = site.bundle()->training.value("rows", std::size_t{0});
    }
    EXPECT_EQ(site.fits(), 3u);
  }  // the destructor waits for the last save
  ASSERT_GT(last_rows, 0u);
  SiteBaseline again(o);
  ASSERT_TRUE(again.ready());
  EXPECT_EQ(again.bundle()->training.value("rows", std::size_t{0}), last_rows);
}

// A baseline of 300 web flows learned over 75 s, saved in `dir` when given.
std::unique_ptr<SiteBaseline> learned(const fs::path& dir, double typical_percentile) {
  SiteBaselineOptions o;
  o.learn_s = 60;
  o.refresh_s = 0;
  o.dir = dir;
  o.synchronous = true;
  o.typical_percentile = typical_percentile;
  auto site = std::make_unique<SiteBaseline>(o);
  for (int i = 0; i < 300; ++i) {
    site->observe(web(i, kT0 + i * 250 * kMs));
    (void)site->take_ready();
  }
  site->wait_saved();
  return site;
}

// Each flow's Isolation Forest score under the baseline, as its scorer gives it.
std::vector<float> forest_scores(const SiteBaseline& site,
                                 const std::vector<flow::FlowRecord>& flows) {
  std::vector<FlowVerdict> verdicts;
  ScoredBatch batch;
  site.scorer()->score(flows, verdicts, &batch);
  return batch.scores.at("isolation_forest");
}

TEST(SiteBaseline, TypicalMeansAtMostThePercentileOfThisNetworksOwnScores) {
  auto site = learned({}, 50);
  ASSERT_TRUE(site->ready());
  // The fit keeps its training scores at every percentile, in order.
  const auto& table = site->bundle()->training.at("score_percentiles").at("isolation_forest");
  ASSERT_EQ(table.size(), 101u);
  for (std::size_t q = 1; q < table.size(); ++q) {
    EXPECT_LE(table[q - 1].get<float>(), table[q].get<float>());
  }
  const auto median = table[50].get<float>();
  const auto p99 = table[99].get<float>();
  // Flows like the network's own, scored: typical exactly where the score is at most the median.
  std::vector<flow::FlowRecord> flows;
  for (int i = 0; i < 200; ++i) flows.push_back(web(1000 + i * 7, kT0 + 100 * kSec));
  const auto scores = forest_scores(*site, flows);
  std::vector<char> typical;
  site->typical(flows, typical);
  ASSERT_EQ(typical.size(), flows.size());
  int between = 0;  // ordinary by the forest's own threshold, yet above the median
  std::vector<FlowVerdict> verdicts;
  site->scorer()->score(flows, verdicts);
  for (std::size_t i = 0; i < flows.size(); ++i) {
    EXPECT_EQ(static_cast<bool>(typical[i]), scores[i] <= median) << i;
    if (scores[i] > median && scores[i] <= p99 && !verdicts[i].anomalous) ++between;
  }
  EXPECT_GT(between, 0) << "no flow between the median and the 99th percentile: nothing checked";
}

TEST(SiteBaseline, ASavedBaselineIsReadAtTheTypicalPercentileAskedForNow) {
  TempDir dir;
  const auto saved = learned(dir.path() / "baseline", 50);
  std::vector<flow::FlowRecord> flows;
  for (int i = 0; i < 200; ++i) flows.push_back(web(1000 + i * 7, kT0 + 100 * kSec));
  SiteBaselineOptions o;
  o.learn_s = 60;
  o.dir = dir.path() / "baseline";
  o.typical_percentile = 95;
  SiteBaseline at95(o);
  ASSERT_TRUE(at95.ready());
  std::vector<char> t50;
  std::vector<char> t95;
  saved->typical(flows, t50);
  at95.typical(flows, t95);
  const auto n50 = std::count(t50.begin(), t50.end(), 1);
  const auto n95 = std::count(t95.begin(), t95.end(), 1);
  EXPECT_GT(n95, n50);
  const auto p95 =
      at95.bundle()->training.at("score_percentiles").at("isolation_forest")[95].get<float>();
  const auto scores = forest_scores(at95, flows);
  for (std::size_t i = 0; i < flows.size(); ++i) {
    EXPECT_EQ(static_cast<bool>(t95[i]), scores[i] <= p95) << i;
  }
}

TEST(SiteBaseline, ABaselineSavedWithoutItsPercentilesFallsBackToItsThreshold) {
  TempDir dir;
  const fs::path path = dir.path() / "baseline";
  (void)learned(path, 50);
  // As a baseline saved by an earlier netsentry: no percentile table in its manifest.
  const fs::path manifest_path = path / "manifest.json";
  nlohmann::json manifest;
  {
    std::ifstream in(manifest_path);
    in >> manifest;
  }
  ASSERT_TRUE(manifest.at("training").contains("score_percentiles"));
  manifest["training"].erase("score_percentiles");
  {
    std::ofstream out(manifest_path);
    out << manifest.dump(2);
  }
  SiteBaselineOptions o;
  o.learn_s = 60;
  o.dir = path;
  SiteBaseline old(o);
  ASSERT_TRUE(old.ready());
  std::vector<flow::FlowRecord> flows;
  for (int i = 0; i < 100; ++i) flows.push_back(web(1000 + i * 7, kT0 + 100 * kSec));
  flows.push_back(one_way_trickle(50000, kT0, /*handshake=*/false));
  std::vector<char> typical;
  old.typical(flows, typical);
  std::vector<FlowVerdict> verdicts;
  old.scorer()->score(flows, verdicts);
  for (std::size_t i = 0; i < flows.size(); ++i) {
    EXPECT_EQ(static_cast<bool>(typical[i]), !verdicts[i].anomalous) << i;
  }
  EXPECT_FALSE(typical.back());  // the trickle is not this network's
}

TEST(SiteBaseline, RefusesATypicalPercentileOutsideItsRange) {
  for (const double bad : {0.0, 100.0, -5.0}) {
    SiteBaselineOptions o;
    o.typical_percentile = bad;
    EXPECT_THROW(SiteBaseline{o}, core::Error) << bad;
  }
}

TEST(SiteBaseline, WaitsForEnoughFlows) {
  SiteBaselineOptions o;
  o.learn_s = 10;
  o.min_flows = 200;
  o.synchronous = true;
  SiteBaseline site(o);
  for (int i = 0; i < 50; ++i) site.observe(web(i, kT0 + i * kSec));
  EXPECT_FALSE(site.take_ready());
  EXPECT_FALSE(site.ready());
}

}  // namespace
}  // namespace netsentry::detect
