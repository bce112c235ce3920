#include "bus/correlator.h"

#include <gtest/gtest.h>

namespace netsentry::bus {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

detect::Alert scan(std::int64_t id, const char* src, std::int64_t t,
                   detect::Severity severity = detect::Severity::kHigh,
                   std::string kind = "port_scan") {
  detect::Alert a;
  a.id = id;
  a.time_ns = t;
  a.last_ns = t;
  a.kind = std::move(kind);
  a.severity = severity;
  EXPECT_TRUE(net::IpAddress::parse(src, a.src_ip));
  return a;
}

TEST(SensorCorrelator, OneSensorAloneRaisesNothing) {
  SensorCorrelator c;
  EXPECT_FALSE(c.observe("a", scan(1, "10.0.0.9", 0)));
  EXPECT_FALSE(c.observe("a", scan(2, "10.0.0.9", kSecond)));
}

TEST(SensorCorrelator, TwoSensorsSeeingOneSourceMakeOneAlertNamingBoth) {
  SensorCorrelator c(CorrelatorOptions{std::chrono::minutes(10), 100, 500});
  EXPECT_FALSE(c.observe("edge-a", scan(1, "10.0.0.9", 0)));
  const auto first = c.observe(
      "edge-b", scan(7, "10.0.0.9", 5 * kSecond, detect::Severity::kCritical, "host_scan"));
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->update);
  EXPECT_EQ(first->alert.id, 500);
  EXPECT_EQ(first->alert.kind, kMultiSensorKind);
  EXPECT_EQ(first->alert.sensors, (std::vector<std::string>{"edge-a", "edge-b"}));
  EXPECT_EQ(first->alert.severity, detect::Severity::kCritical);
  EXPECT_EQ(first->alert.src_ip.to_string(), "10.0.0.9");
  EXPECT_EQ(first->alert.time_ns, 0);
  EXPECT_EQ(first->alert.last_ns, 5 * kSecond);
  EXPECT_NE(first->alert.reason.find("edge-a (port_scan)"), std::string::npos)
      << first->alert.reason;
  EXPECT_NE(first->alert.reason.find("edge-b (host_scan)"), std::string::npos);

  // A third sensor: the same alert, updated.
  const auto third = c.observe("edge-c", scan(3, "10.0.0.9", 9 * kSecond));
  ASSERT_TRUE(third);
  EXPECT_TRUE(third->update);
  EXPECT_EQ(third->alert.id, 500);
  EXPECT_EQ(third->alert.sensors.size(), 3u);
  EXPECT_EQ(third->alert.count, 3u);
}

TEST(SensorCorrelator, AnUpdateOfTheSameSensorAlertIsNotCountedTwice) {
  SensorCorrelator c;
  (void)c.observe("a", scan(1, "10.0.0.9", 0));
  auto r = c.observe("b", scan(1, "10.0.0.9", kSecond));
  ASSERT_TRUE(r);
  detect::Alert again = scan(1, "10.0.0.9", 2 * kSecond);
  again.count = 4;  // alert 1 of sensor b, engaged, now folded 4 times
  r = c.observe("b", again);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->alert.count, 5u);  // 1 from a, 4 from b
}

TEST(SensorCorrelator, SightingsFurtherApartThanTheWindowAreSeparate) {
  SensorCorrelator c(CorrelatorOptions{std::chrono::seconds(60), 100, 1});
  EXPECT_FALSE(c.observe("a", scan(1, "10.0.0.9", 0)));
  EXPECT_FALSE(c.observe("b", scan(2, "10.0.0.9", 120 * kSecond)));
}

TEST(SensorCorrelator, AlertsWithoutAnAttackerAreIgnored) {
  SensorCorrelator c;
  detect::Alert volume;
  volume.kind = "volume";
  volume.interface = "total";
  EXPECT_FALSE(c.observe("a", volume));
  EXPECT_FALSE(c.observe("b", volume));
  EXPECT_EQ(c.tracked(), 0u);
}

TEST(SensorCorrelator, MemoryIsBounded) {
  SensorCorrelator c(CorrelatorOptions{std::chrono::minutes(10), 50, 1});
  for (int i = 0; i < 1000; ++i) {
    const std::string src = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    (void)c.observe("a", scan(i, src.c_str(), i));
  }
  EXPECT_LE(c.tracked(), 50u);
}

}  // namespace
}  // namespace netsentry::bus
