#include "detect/aggregator.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "detect/detect_test_support.h"

namespace netsentry::detect {
namespace {

using testing::ip;
using testing::kSec;
using testing::kT0;

Alert scan_alert(std::int64_t time_ns, const char* src = "10.0.0.66",
                 Severity severity = Severity::kHigh) {
  Alert a;
  a.time_ns = time_ns;
  a.last_ns = time_ns;
  a.kind = std::string(kind::kPortScan);
  a.severity = severity;
  a.src_ip = ip(src);
  a.dst_ip = ip("10.0.0.5");
  a.protocol = "TCP";
  a.reason = "Port scan suspected";
  return a;
}

TEST(AlertAggregator, TurnsAMillionRepeatsIntoAHandfulOfAlerts) {
  AlertAggregator aggregator;
  std::vector<Alert> out;
  Alert alert = scan_alert(kT0);
  // One million alerts over 100 s (one window closes and another opens).
  for (int i = 0; i < 1'000'000; ++i) {
    alert.time_ns = kT0 + std::int64_t{i} * 100'000;
    alert.last_ns = alert.time_ns;
    aggregator.add(alert, out);
  }
  aggregator.flush(out);
  ASSERT_EQ(out.size(), 4u);  // first, its window's total, the second window's first and total
  EXPECT_EQ(out[0].count, 1u);
  EXPECT_EQ(out[1].count, 600'000u);
  EXPECT_EQ(out[1].time_ns, kT0);
  EXPECT_EQ(out[1].last_ns, kT0 + std::int64_t{599'999} * 100'000);
  EXPECT_EQ(out[2].time_ns, kT0 + 60 * kSec);
  EXPECT_EQ(out[2].count, 1u);
  EXPECT_EQ(out[3].count, 400'000u);
  std::uint64_t total = out[1].count + out[3].count;
  EXPECT_EQ(total, 1'000'000u);
  EXPECT_EQ(aggregator.stats().received, 1'000'000u);
  EXPECT_EQ(aggregator.stats().emitted, 4u);
}

TEST(AlertAggregator, KeepsDifferentSubjectsApart) {
  AlertAggregator aggregator;
  std::vector<Alert> out;
  aggregator.add(scan_alert(kT0, "10.0.0.66"), out);
  aggregator.add(scan_alert(kT0 + 1, "10.0.0.67"), out);
  Alert other_kind = scan_alert(kT0 + 2, "10.0.0.66");
  other_kind.kind = std::string(kind::kHostScan);
  aggregator.add(other_kind, out);
  EXPECT_EQ(out.size(), 3u);
  out.clear();
  aggregator.flush(out);
  EXPECT_TRUE(out.empty());  // nothing was folded, so no updates
}

TEST(AlertAggregator, IgnoresTheSourcePortOfTheSubject) {
  AlertAggregator aggregator;
  std::vector<Alert> out;
  Alert a = scan_alert(kT0);
  a.src_port = 40000;
  aggregator.add(a, out);
  a.src_port = 40001;
  aggregator.add(a, out);
  EXPECT_EQ(out.size(), 1u);
}

TEST(AlertAggregator, EmitsTheWindowTotalWhenTheWindowCloses) {
  AlertAggregator aggregator;
  std::vector<Alert> out;
  aggregator.add(scan_alert(kT0), out);
  aggregator.add(scan_alert(kT0 + 5 * kSec), out);
  aggregator.add(scan_alert(kT0 + 9 * kSec), out);
  ASSERT_EQ(out.size(), 1u);
  aggregator.advance(kT0 + 59 * kSec, out);
  EXPECT_EQ(out.size(), 1u);
  aggregator.advance(kT0 + 60 * kSec, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].count, 3u);
  EXPECT_EQ(out[1].last_ns, kT0 + 9 * kSec);
  EXPECT_EQ(aggregator.stats().open, 0u);
}

TEST(AlertAggregator, EmitsAnEscalationAtOnce) {
  AlertAggregator aggregator;
  std::vector<Alert> out;
  aggregator.add(scan_alert(kT0), out);
  aggregator.add(scan_alert(kT0 + kSec), out);
  aggregator.add(scan_alert(kT0 + 2 * kSec, "10.0.0.66", Severity::kCritical), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].severity, Severity::kCritical);
  EXPECT_EQ(out[1].count, 3u);
  // Further CRITICAL repeats wait for the window's end.
  aggregator.add(scan_alert(kT0 + 3 * kSec, "10.0.0.66", Severity::kCritical), out);
  EXPECT_EQ(out.size(), 2u);
  aggregator.flush(out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].count, 4u);
}

TEST(AlertAggregator, ClosesTheOldestWindowWhenFull) {
  AggregatorOptions options;
  options.max_open = 2;
  AlertAggregator aggregator(options);
  std::vector<Alert> out;
  aggregator.add(scan_alert(kT0, "10.0.0.1"), out);
  aggregator.add(scan_alert(kT0 + 1, "10.0.0.1"), out);  // folded
  aggregator.add(scan_alert(kT0 + 2, "10.0.0.2"), out);
  aggregator.add(scan_alert(kT0 + 3, "10.0.0.3"), out);  // closes 10.0.0.1 early
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[2].src_ip, ip("10.0.0.1"));  // its total, emitted before the new subject
  EXPECT_EQ(out[2].count, 2u);
  EXPECT_EQ(aggregator.stats().closed_early, 1u);
  EXPECT_EQ(aggregator.stats().open, 2u);
}

TEST(AlertAggregator, FoldsAFloodOfDistinctSubjectsIntoOneAlertPerKind) {
  AlertAggregator aggregator;  // 50 subjects per kind per window
  std::vector<Alert> out;
  // A million spoofed sources within 10 s, each its own subject.
  for (int i = 0; i < 1'000'000; ++i) {
    Alert a = scan_alert(kT0 + std::int64_t{i} * 10'000);
    a.src_ip.bytes[1] = static_cast<std::uint8_t>(i >> 16);
    a.src_ip.bytes[2] = static_cast<std::uint8_t>(i >> 8);
    a.src_ip.bytes[3] = static_cast<std::uint8_t>(i);
    aggregator.add(a, out);
  }
  aggregator.flush(out);
  EXPECT_LE(out.size(), 52u);
  const auto flood = std::find_if(out.begin(), out.end(),
                                  [](const Alert& a) { return a.src_ip.family == 0; });
  ASSERT_NE(flood, out.end());
  EXPECT_NE(flood->reason.find("Alert flood: more than 50 port_scan alerts"), std::string::npos)
      << flood->reason;
  EXPECT_EQ(out.back().count, 1'000'000u - 50);  // the flood alert's final total
  EXPECT_EQ(aggregator.stats().overflowed, 1'000'000u - 50);
}

TEST(AlertAggregator, FlowAnomaliesOfOneHostPairShareASubjectAcrossPorts) {
  AlertAggregator aggregator;
  std::vector<Alert> out;
  for (std::uint16_t port = 1; port <= 1000; ++port) {
    Alert a = scan_alert(kT0 + port);
    a.kind = std::string(kind::kFlowAnomaly);
    a.dst_port = port;
    aggregator.add(a, out);
  }
  aggregator.flush(out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].count, 1000u);
}

TEST(AlertAggregator, RejectsAnEmptyWindow) {
  AggregatorOptions options;
  options.window_ns = 0;
  EXPECT_THROW(AlertAggregator{options}, core::Error);
}

}  // namespace
}  // namespace netsentry::detect
