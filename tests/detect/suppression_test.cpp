#include "detect/suppression.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "detect/detect_test_support.h"

namespace netsentry::detect {
namespace {

using testing::ip;

Alert alert_of(const char* src, const char* dst, std::uint16_t dst_port, std::string_view k,
               Severity severity = Severity::kHigh) {
  Alert a;
  a.src_ip = ip(src);
  a.dst_ip = ip(dst);
  a.src_port = 40000;
  a.dst_port = dst_port;
  a.kind = std::string(k);
  a.severity = severity;
  a.protocol = "UDP";
  return a;
}

std::string error_of(std::string_view rule) {
  try {
    (void)SuppressionRule::parse(rule);
  } catch (const core::Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Subnet, MatchesIpv4AndIpv6Prefixes) {
  const auto v4 = Subnet::parse("10.0.0.0/8");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->contains(ip("10.200.1.1")));
  EXPECT_FALSE(v4->contains(ip("11.0.0.1")));
  EXPECT_FALSE(v4->contains(ip("::ffff:10.0.0.1")));
  const auto odd = Subnet::parse("192.168.4.0/22");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->contains(ip("192.168.7.255")));
  EXPECT_FALSE(odd->contains(ip("192.168.8.0")));
  const auto v6 = Subnet::parse("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(ip("2001:db8:1::5")));
  EXPECT_FALSE(v6->contains(ip("2001:db9::5")));
  const auto host = Subnet::parse("10.1.2.3");
  ASSERT_TRUE(host);
  EXPECT_TRUE(host->contains(ip("10.1.2.3")));
  EXPECT_FALSE(host->contains(ip("10.1.2.4")));
  EXPECT_FALSE(Subnet::parse("10.0.0.0/33"));
  EXPECT_FALSE(Subnet::parse("10.0.0/8"));
}

TEST(SuppressionRules, DropsAScannerSubnetOnlyForThatKind) {
  SuppressionRules rules({"src=10.0.0.0/8 kind=port_scan"});
  EXPECT_TRUE(rules.suppressed(alert_of("10.1.1.1", "192.168.0.1", 0, kind::kPortScan)));
  EXPECT_FALSE(rules.suppressed(alert_of("10.1.1.1", "192.168.0.1", 0, kind::kHostScan)));
  EXPECT_FALSE(rules.suppressed(alert_of("11.1.1.1", "192.168.0.1", 0, kind::kPortScan)));
  EXPECT_EQ(rules.suppressed_count(), 1u);
}

// A rule can name every kind an alert can have (the page proposes kind=<the alert's kind>).
TEST(SuppressionRules, AcceptEveryAlertKind) {
  for (const std::string_view k : kind::kAll) {
    const std::string rule = "src=10.0.0.0/8 kind=" + std::string(k);
    EXPECT_NO_THROW(SuppressionRules({rule})) << rule;
  }
}

TEST(SuppressionRules, MatchesPortsAndRanges) {
  SuppressionRules rules({"dst_port=53", "port=6000-6100 proto=udp"});
  EXPECT_TRUE(rules.suppressed(alert_of("1.1.1.1", "2.2.2.2", 53, kind::kUdpFlood)));
  EXPECT_FALSE(rules.suppressed(alert_of("1.1.1.1", "2.2.2.2", 54, kind::kUdpFlood)));
  EXPECT_TRUE(rules.suppressed(alert_of("1.1.1.1", "2.2.2.2", 6050, kind::kFlowAnomaly)));
  Alert tcp = alert_of("1.1.1.1", "2.2.2.2", 6050, kind::kFlowAnomaly);
  tcp.protocol = "TCP";
  EXPECT_FALSE(rules.suppressed(tcp));
}

TEST(SuppressionRules, MinSeverityDropsOnlyWeakerAlerts) {
  SuppressionRules rules({"min_severity=MEDIUM", "addr=2001:db8::/32 min_severity=critical"});
  EXPECT_TRUE(
      rules.suppressed(alert_of("1.1.1.1", "2.2.2.2", 1, kind::kFlowAnomaly, Severity::kLow)));
  EXPECT_FALSE(
      rules.suppressed(alert_of("1.1.1.1", "2.2.2.2", 1, kind::kFlowAnomaly, Severity::kMedium)));
  EXPECT_TRUE(
      rules.suppressed(alert_of("3.3.3.3", "2001:db8::9", 1, kind::kFlowAnomaly, Severity::kHigh)));
  EXPECT_FALSE(rules.suppressed(
      alert_of("3.3.3.3", "2001:db8::9", 1, kind::kFlowAnomaly, Severity::kCritical)));
}

TEST(SuppressionRules, MatchesVolumeAlertsByInterface) {
  SuppressionRules rules({"iface=docker0 kind=volume_forecast"});
  Alert a;
  a.kind = std::string(kind::kVolumeForecast);
  a.interface = "docker0";
  EXPECT_TRUE(rules.suppressed(a));
  a.interface = "eth0";
  EXPECT_FALSE(rules.suppressed(a));
}

TEST(SuppressionRules, FilterRemovesSuppressedAlertsInOrder) {
  SuppressionRules rules({"dst_port=53"});
  std::vector<Alert> alerts = {alert_of("1.1.1.1", "2.2.2.2", 80, kind::kFlowAnomaly),
                               alert_of("1.1.1.1", "2.2.2.2", 53, kind::kFlowAnomaly),
                               alert_of("1.1.1.1", "2.2.2.2", 22, kind::kFlowAnomaly)};
  rules.filter(alerts);
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].dst_port, 80);
  EXPECT_EQ(alerts[1].dst_port, 22);
  EXPECT_EQ(rules.suppressed_count(), 1u);
}

TEST(SuppressionRules, NamesTheBadTokenInErrors) {
  EXPECT_EQ(error_of("src=10.0.0.0/8 kind=portscan"),
            "suppression rule \"src=10.0.0.0/8 kind=portscan\": bad token \"kind=portscan\": "
            "unknown kind; expected one of flow_anomaly, volume, volume_forecast, port_scan, "
            "host_scan, syn_flood, brute_force, udp_flood, icmp_flood, tcp_flood, slow_http, "
            "exfiltration, "
            "arp_spoof, nd_spoof, dns_tunnel, beacon, system");
  // Every kind a detector raises can be suppressed.
  EXPECT_NO_THROW(SuppressionRules({"kind=icmp_flood", "kind=slow_http"}));
  EXPECT_NE(error_of("src=10.0.0.0/40").find("bad token \"src=10.0.0.0/40\""), std::string::npos);
  EXPECT_NE(error_of("dst_port=70000").find("bad token \"dst_port=70000\""), std::string::npos);
  EXPECT_NE(error_of("port=90-80").find("bad token \"port=90-80\""), std::string::npos);
  EXPECT_NE(error_of("min_severity=URGENT").find("expected LOW, MEDIUM, HIGH or CRITICAL"),
            std::string::npos);
  EXPECT_NE(error_of("colour=red").find("unknown key"), std::string::npos);
  EXPECT_NE(error_of("dst_port").find("expected key=value"), std::string::npos);
  EXPECT_NE(error_of("dst_port=1 dst_port=2").find("given twice"), std::string::npos);
  EXPECT_NE(error_of("   ").find("empty"), std::string::npos);
}

}  // namespace
}  // namespace netsentry::detect
