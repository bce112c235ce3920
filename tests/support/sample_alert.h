// Test support: one port-scan alert with every field an alert sink writes (subject, score, model
// votes, deviating features, the host and its evidence), shared by the sink tests (the CSV log,
// syslog, the webhook) so they describe the same alert.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "detect/alert.h"
#include "detect/evidence.h"
#include "net/packet.h"

namespace netsentry::testing {

// Alert 7: HIGH port_scan from 10.0.0.66 to 10.0.0.5:22, first seen 2026-11-23T23:45:01.25Z.
inline detect::Alert sample_scan_alert() {
  detect::Alert alert;
  alert.id = 7;
  alert.time_ns = 1795477501'250000000;  // 2026-11-23T23:45:01.25Z
  alert.last_ns = 1795477502'000000000;
  alert.severity = detect::Severity::kHigh;
  alert.kind = std::string(detect::kind::kPortScan);
  EXPECT_TRUE(net::IpAddress::parse("10.0.0.66", alert.src_ip));
  EXPECT_TRUE(net::IpAddress::parse("10.0.0.5", alert.dst_ip));
  alert.dst_port = 22;
  alert.protocol = "TCP";
  alert.score = 0.91f;
  alert.votes = 3;
  alert.voters = 4;
  alert.count = 12;
  alert.reason = "Port scan suspected: 2,998 ports on 10.0.0.5 probed from 10.0.0.66 in 0.6 s";
  alert.models = {{"isolation_forest", 0.8f, 0.6f, true}, {"lstm", 0.1f, 0.5f, false}};
  alert.features = {{"distinct_ports", 2998, 3, 41.5}};
  alert.host = alert.src_ip;
  detect::Evidence e;
  e.kind = std::string(detect::kind::kPortScan);
  e.threat = detect::Severity::kHigh;
  e.confidence = 0.95;
  e.count = 2998;
  e.description = "Port scan suspected";
  alert.evidence = {e};
  return alert;
}

}  // namespace netsentry::testing
