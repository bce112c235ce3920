#include "detect/site_baseline.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <vector>

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
  auto odd = flow_of(ip("10.0.0.70"), 50000, ip("10.0.0.1"), 4444, 6, kT0, 120 * kSec, {});
  odd.packet_count = 240;
  odd.byte_count = 96'000;
  odd.cic[static_cast<std::size_t>(flow::CicFeature::kTotalFwdPacket)] = 240;
  odd.cic[static_cast<std::size_t>(flow::CicFeature::kTotalLengthFwd)] = 96'000;
  odd.cic[static_cast<std::size_t>(flow::CicFeature::kFlowDuration)] = 120e6;
  flows.push_back(odd);
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
