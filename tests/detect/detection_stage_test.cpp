#include "detect/detection_stage.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "detect/alert.h"
#include "detect/detect_test_support.h"

namespace netsentry::detect {
namespace {

using namespace testing;  // NOLINT
using flow::FlowMoment;

class Deliveries final : public AlertSink {
 public:
  void on_alert(const Alert& alert, AlertChange change) override {
    seen.push_back({alert, change});
  }
  void flush() override { ++flushes; }
  std::vector<AlertDelivery> seen;
  int flushes = 0;
};

DetectionOptions rules_only() {
  DetectionOptions o;
  o.site_baseline = false;
  o.volume_baseline = false;
  o.live = false;
  return o;
}

// A SYN port scan of `ports` ports, refused, as flow events.
std::vector<flow::FlowEvent> scan_events(int ports, std::int64_t start) {
  std::vector<flow::FlowEvent> events;
  for (int p = 1; p <= ports; ++p) {
    const std::int64_t t = start + p * kMs;
    const auto port = static_cast<std::uint16_t>(p);
    events.push_back(
        event(FlowMoment::kStart, ip("10.0.0.66"), 45000, ip("10.0.0.5"), port, 6, t, t, kSyn));
    events.push_back(event(FlowMoment::kReply, ip("10.0.0.66"), 45000, ip("10.0.0.5"), port, 6, t,
                           t + 100, kRst | kAck));
  }
  return events;
}

TEST(DetectionStage, AScanSeenAsFlowEventsIsAnAlertBeforeAnyFlowEnds) {
  Deliveries alerts;
  DetectionOutputs outputs;
  outputs.alerts = {&alerts};
  DetectionStage stage(rules_only(), outputs);
  const auto events = scan_events(150, kT0);
  stage.on_flow_events(events);
  ASSERT_FALSE(alerts.seen.empty());
  const AlertDelivery& first = alerts.seen.front();
  EXPECT_EQ(first.change, AlertChange::kRaised);
  EXPECT_EQ(first.alert.kind, kind::kPortScan);
  EXPECT_EQ(first.alert.src_ip, ip("10.0.0.66"));
  EXPECT_EQ(first.alert.id, 1);
  // Raised at the 100th refusal, in the same batch of events.
  EXPECT_EQ(first.alert.last_ns, kT0 + 100 * kMs + 100);
  stage.finish();
  EXPECT_GE(alerts.flushes, 1);
  const DetectionStats s = stage.stats();
  EXPECT_EQ(s.alerts_raised, 1u);
  EXPECT_EQ(s.events, events.size());
  EXPECT_EQ(s.alerts_by_severity[static_cast<int>(Severity::kHigh)], 1u);
}

TEST(DetectionStage, SuppressedEvidenceNeverReachesAProfile) {
  Deliveries alerts;
  DetectionOutputs outputs;
  outputs.alerts = {&alerts};
  DetectionOptions o = rules_only();
  o.suppress = {"src=10.0.0.64/26 kind=port_scan"};
  DetectionStage stage(o, outputs);
  stage.on_flow_events(scan_events(150, kT0));
  stage.finish();
  EXPECT_TRUE(alerts.seen.empty());
  EXPECT_GT(stage.stats().suppressed, 0u);
}

TEST(DetectionStage, SuppressionRulesReplacedWhileRunningApplyToLaterEvidence) {
  Deliveries alerts;
  DetectionOutputs outputs;
  outputs.alerts = {&alerts};
  DetectionStage stage(rules_only(), outputs);
  stage.set_suppression_rules({"src=10.0.0.66 kind=port_scan"});
  stage.on_flow_events(scan_events(150, kT0));
  EXPECT_TRUE(alerts.seen.empty());
  EXPECT_THROW(stage.set_suppression_rules({"src=not-an-address"}), core::Error);
  stage.on_flow_events(scan_events(150, kT0 + 60 * kSec));
  EXPECT_TRUE(alerts.seen.empty());  // a bad rule kept the old ones
  stage.set_suppression_rules({});
  stage.on_flow_events(scan_events(150, kT0 + 120 * kSec));
  stage.finish();
  ASSERT_FALSE(alerts.seen.empty());
  EXPECT_EQ(alerts.seen.front().alert.kind, kind::kPortScan);
}

TEST(DetectionStage, AFailingOutputIsASystemAlertOncePerStreak) {
  Deliveries alerts;
  DetectionOutputs outputs;
  outputs.alerts = {&alerts};
  OutputHealth health;
  outputs.watched.push_back({"sqlite", [&health] { return health; }});
  DetectionStage stage(rules_only(), outputs);
  stage.advance(kT0);
  EXPECT_TRUE(alerts.seen.empty());
  health.faults = 1;
  health.message = "The SQLite store x failed to write. Monitoring continues.";
  stage.advance(kT0 + kSec);
  stage.advance(kT0 + 2 * kSec);
  ASSERT_EQ(alerts.seen.size(), 1u);
  EXPECT_EQ(alerts.seen[0].alert.kind, kind::kSystem);
  EXPECT_EQ(alerts.seen[0].alert.interface, "sqlite");
  EXPECT_EQ(alerts.seen[0].alert.severity, Severity::kHigh);
  EXPECT_EQ(alerts.seen[0].alert.reason, health.message);
}

TEST(DetectionStage, TheSameInputGivesTheSameDeliveries) {
  const auto run = [] {
    Deliveries alerts;
    DetectionOutputs outputs;
    outputs.alerts = {&alerts};
    DetectionStage stage(rules_only(), outputs);
    for (int round = 0; round < 5; ++round) {
      const std::int64_t t = kT0 + round * 200 * kSec;
      stage.on_flow_events(scan_events(120 + round * 30, t));
      stage.advance(t + 100 * kSec);
    }
    stage.finish();
    std::vector<std::tuple<std::int64_t, int, std::uint64_t, std::int64_t>> seen;
    for (const auto& d : alerts.seen) {
      seen.emplace_back(d.alert.id, static_cast<int>(d.change), d.alert.count, d.alert.last_ns);
    }
    return seen;
  };
  const auto once = run();
  EXPECT_FALSE(once.empty());
  EXPECT_EQ(once, run());
}

TEST(DetectionStage, ManySpoofedSynsAreOneAlertAboutTheVictimWithBoundedState) {
  Deliveries alerts;
  DetectionOutputs outputs;
  outputs.alerts = {&alerts};
  DetectionOptions o = rules_only();
  o.host.max_tracked = 4096;
  o.attempts.max_pending = 4096;
  o.profiles.max_hosts = 1024;
  DetectionStage stage(o, outputs);
  std::vector<flow::FlowEvent> batch;
  for (std::uint32_t i = 0; i < 300'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 1000;  // 1 Mpps
    const auto src = ipv4(static_cast<std::uint8_t>(1 + (i >> 16)),
                          static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i), 1);
    batch.push_back(event(FlowMoment::kStart, src, 1024, ip("10.0.0.5"), 80, 6, t, t, kSyn));
    if (batch.size() == 4096) {
      stage.on_flow_events(batch);
      batch.clear();
    }
  }
  stage.on_flow_events(batch);
  stage.advance(kT0 + 2 * kSec);
  stage.finish();
  const DetectionStats s = stage.stats();
  EXPECT_EQ(s.alerts_raised, 1u);
  ASSERT_FALSE(alerts.seen.empty());
  EXPECT_EQ(alerts.seen.front().alert.kind, kind::kSynFlood);
  EXPECT_EQ(alerts.seen.front().alert.dst_ip, ip("10.0.0.5"));
  EXPECT_LE(s.attempts.pending, 4096u);
  EXPECT_LE(s.profiles.hosts, 1024u);
  for (const auto& [name, st] : s.detectors) EXPECT_LE(st.tracked, 4096u) << name;
}

}  // namespace
}  // namespace netsentry::detect
