// HistorySource: the live rings answer what they hold, the store what fell off them.
#include "server/history_source.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "server/live_state.h"

namespace netsentry::server {
namespace {

constexpr std::int64_t kT0 = 1'700'000'000'000;  // ms since the epoch

FlowRow flow(int i) {
  FlowRow f;
  f.src_ip = "10.0.0." + std::to_string(10 + i % 2);  // .10 and .11 take turns
  f.src_port = static_cast<std::uint16_t>(40000 + i);
  f.dst_ip = "10.0.0.1";
  f.dst_port = 443;
  f.protocol = "TCP";
  f.bytes = 1000;
  f.packets = 10;
  f.first_ms = kT0 + i * 1000;
  f.last_ms = f.first_ms + 500;
  return f;
}

detect::Alert alert(std::int64_t id) {
  detect::Alert a;
  a.id = id;
  a.time_ns = (kT0 + id * 1000) * 1'000'000;
  a.last_ns = a.time_ns;
  a.severity = detect::Severity::kHigh;
  a.kind = std::string(detect::kind::kPortScan);
  a.reason = "stored";
  EXPECT_TRUE(net::IpAddress::parse("10.0.0.10", a.host));
  a.src_ip = a.host;
  return a;
}

// The monitor's live state keeps the newest 3 flows and 2 alerts; its store (here another
// LiveState holding everything) has all 10 of each.
class HistorySourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = std::make_unique<LiveState>();
    for (int i = 0; i < 10; ++i) {
      store->add_flow(flow(i));
      live_.add_flow(flow(i));
      store->add_alert(alert(i + 1));
      detect::Alert fresh = alert(i + 1);
      fresh.reason = "live";
      live_.add_alert(fresh);
    }
    store_ = store.get();
    history_ = std::make_unique<HistorySource>(live_, std::move(store), 3600 * 1000);
  }

  LiveState live_{LiveStateOptions{.alerts = 2, .flows = 3}};
  LiveState* store_ = nullptr;
  std::unique_ptr<HistorySource> history_;
};

TEST_F(HistorySourceTest, TheNewestRowsComeFromTheLiveRings) {
  EXPECT_EQ(history_->flows(100, FlowSort::kLast).size(), 3U);
  EXPECT_EQ(history_->find_flows(RowFilter{}, 100, FlowSort::kLast).size(), 3U);
  EXPECT_EQ(history_->find_alerts(RowFilter{}, std::nullopt, 100).size(), 2U);
}

TEST_F(HistorySourceTest, AHostOrARangeReachesBackIntoTheStoreWithoutDuplicates) {
  RowFilter host;
  host.host = "10.0.0.10";
  const std::vector<FlowRow> rows = history_->find_flows(host, 100, FlowSort::kLast);
  ASSERT_EQ(rows.size(), 5U);  // flows 0, 2, 4, 6, 8: one of them (8) also live
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].src_ip, "10.0.0.10");
    EXPECT_EQ(rows[i].src_port, 40008 - 2 * i) << "newest first";
  }
  RowFilter range;
  range.from_ms = kT0 + 2000;
  range.to_ms = kT0 + 5600;
  const auto ranged = history_->find_flows(range, 100, FlowSort::kLast);
  EXPECT_EQ(ranged.size(), 4U);  // flows 2..5 ended within it
  EXPECT_EQ(history_->find_flows(host, 2, FlowSort::kLast).size(), 2U) << "the limit holds";
}

TEST_F(HistorySourceTest, AlertsMergeWithTheLiveCopyWinning) {
  RowFilter range;
  range.from_ms = kT0;
  const auto alerts = history_->find_alerts(range, std::nullopt, 100);
  ASSERT_EQ(alerts.size(), 10U);
  EXPECT_EQ(alerts.front().id, 10);  // newest first
  EXPECT_EQ(alerts.front().reason, "live");
  EXPECT_EQ(alerts.back().id, 1);
  EXPECT_EQ(alerts.back().reason, "stored");
  // An alert that left the live ring is still there by id.
  ASSERT_TRUE(history_->alert(3).has_value());
  EXPECT_EQ(history_->alert(3)->reason, "stored");
  EXPECT_EQ(history_->alert(10)->reason, "live");
  EXPECT_FALSE(history_->alert(99).has_value());
}

TEST_F(HistorySourceTest, AScoreTimelineOlderThanTheLiveRingComesFromTheStore) {
  for (int i = 0; i < 10; ++i) {
    store_->add_score({kT0 + i * 1000, 0.1f * float(i), 0.5f, 0});
  }
  live_.add_score({kT0 + 9000, 0.9f, 0.5f, 0});
  HistorySource short_reach(live_, std::make_unique<LiveState>(), 60 * 1000);
  // Within the live ring's reach: live.
  EXPECT_EQ(history_->timeline(kT0, 100).size(), 1U);
  // Older than it reaches (a 60 s ring, asked for two hours): the store; an empty store leaves
  // the live answer.
  EXPECT_EQ(history_->timeline(kT0 - 2 * 3600 * 1000, 100).size(), 10U);
  EXPECT_EQ(short_reach.timeline(kT0 - 2 * 3600 * 1000, 100).size(), 1U);
}

}  // namespace
}  // namespace netsentry::server
