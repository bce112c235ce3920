#include "detect/alert_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "detect/detect_test_support.h"

namespace netsentry::detect {
namespace {

using testing::ip;

TEST(AlertFormat, GroupsThousands) {
  EXPECT_EQ(format_count(0), "0");
  EXPECT_EQ(format_count(999), "999");
  EXPECT_EQ(format_count(2998), "2,998");
  EXPECT_EQ(format_count(1'000'000), "1,000,000");
  EXPECT_EQ(format_count(12'345'678'901), "12,345,678,901");
}

TEST(AlertFormat, WritesByteRatesInDecimalUnits) {
  EXPECT_EQ(format_bytes_per_second(512), "512 B/s");
  EXPECT_EQ(format_bytes_per_second(100'000), "100 kB/s");
  EXPECT_EQ(format_bytes_per_second(650'000), "650 kB/s");
  EXPECT_EQ(format_bytes_per_second(9'300'000), "9.3 MB/s");
  EXPECT_EQ(format_bytes_per_second(1'000'000), "1 MB/s");
  EXPECT_EQ(format_bytes_per_second(999'960), "1 MB/s");
  EXPECT_EQ(format_bytes_per_second(2.5e9), "2.5 GB/s");
  EXPECT_EQ(format_bytes_per_second(-3), "0 B/s");
}

TEST(AlertFormat, WritesDurationsAndRatios) {
  EXPECT_EQ(format_duration(0.045), "45 ms");
  EXPECT_EQ(format_duration(0.6), "0.6 s");
  EXPECT_EQ(format_duration(3.14), "3.1 s");
  EXPECT_EQ(format_duration(44.9), "45 s");
  EXPECT_EQ(format_duration(3600), "3,600 s");
  EXPECT_EQ(format_ratio(14.3), "14x");
  EXPECT_EQ(format_ratio(2.54), "2.5x");
  EXPECT_EQ(format_ratio(3.0), "3x");
  EXPECT_EQ(format_number(2057.4), "2,057");
  EXPECT_EQ(format_number(-0.0), "0");
  EXPECT_EQ(format_number(-1e-9), "0");
  EXPECT_EQ(format_number(-2.5), "-2.5");
  EXPECT_EQ(format_number(std::numeric_limits<double>::infinity()), "n/a");
}

TEST(AlertFormat, WritesEndpointsAndTimes) {
  EXPECT_EQ(format_endpoint(ip("10.0.0.5"), 80), "10.0.0.5:80");
  EXPECT_EQ(format_endpoint(ip("2001:db8::1"), 443), "[2001:db8::1]:443");
  EXPECT_EQ(format_endpoint(ip("10.0.0.5"), 0, false), "10.0.0.5");
}

TEST(AlertFormat, SerialisesEveryAlertFieldToJson) {
  Alert a;
  a.id = 7;
  a.time_ns = 1'499'344'746'818'901'000;
  a.last_ns = a.time_ns + 5;
  a.severity = Severity::kCritical;
  a.kind = std::string(kind::kFlowAnomaly);
  a.src_ip = ip("10.0.0.66");
  a.src_port = 40000;
  a.dst_ip = ip("2001:db8::5");
  a.dst_port = 443;
  a.protocol = "TCP";
  a.score = 0.75f;
  a.votes = 3;
  a.voters = 4;
  a.count = 12;
  a.reason = "Flow \"odd\"";
  a.models.push_back({"isolation_forest", 0.8f, 0.6f, true});
  a.features.push_back({"Flow Packets/s", 1e6, 10, std::numeric_limits<double>::quiet_NaN()});
  a.host = ip("10.0.0.66");
  a.revision = 2;
  a.state = AlertState::kPast;
  Evidence e;
  e.time_ns = a.time_ns;
  e.host = a.host;
  e.peer = a.dst_ip;
  e.port = 443;
  e.ip_proto = 6;
  e.kind = std::string(kind::kPortScan);
  e.detector = "port_scan";
  e.confidence = 0.9;
  e.threat = Severity::kHigh;
  e.description = "Port scan";
  e.count = 300;
  e.flows.push_back({a.time_ns, a.host, a.dst_ip, 40000, 22, 6});
  a.evidence.push_back(e);

  const auto j = nlohmann::json::parse(alert_to_json(a));
  EXPECT_EQ(j["id"], 7);
  EXPECT_EQ(j["time"], "2017-07-06T12:39:06.818Z");
  EXPECT_EQ(j["time_ns"], a.time_ns);
  EXPECT_EQ(j["last_ns"], a.last_ns);
  EXPECT_EQ(j["severity"], "CRITICAL");
  EXPECT_EQ(j["kind"], "flow_anomaly");
  EXPECT_EQ(j["src_ip"], "10.0.0.66");
  EXPECT_EQ(j["src_port"], 40000);
  EXPECT_EQ(j["dst_ip"], "2001:db8::5");
  EXPECT_EQ(j["dst_port"], 443);
  EXPECT_EQ(j["protocol"], "TCP");
  EXPECT_EQ(j["interface"], "");
  EXPECT_FLOAT_EQ(j["score"].get<float>(), 0.75f);
  EXPECT_EQ(j["votes"], 3);
  EXPECT_EQ(j["voters"], 4);
  EXPECT_EQ(j["count"], 12);
  EXPECT_EQ(j["reason"], "Flow \"odd\"");
  EXPECT_EQ(j["acknowledged"], false);
  ASSERT_EQ(j["models"].size(), 1u);
  EXPECT_EQ(j["models"][0]["model"], "isolation_forest");
  EXPECT_EQ(j["models"][0]["vote"], true);
  ASSERT_EQ(j["features"].size(), 1u);
  EXPECT_EQ(j["features"][0]["feature"], "Flow Packets/s");
  EXPECT_TRUE(j["features"][0]["deviation"].is_null());
  EXPECT_EQ(j["state"], "past");
  EXPECT_EQ(j["host"], "10.0.0.66");
  EXPECT_EQ(j["role"], "attacker");
  EXPECT_EQ(j["revision"], 2);
  ASSERT_EQ(j["evidence"].size(), 1u);
  const auto& ev = j["evidence"][0];
  EXPECT_EQ(ev["kind"], "port_scan");
  EXPECT_EQ(ev["threat"], "HIGH");
  EXPECT_DOUBLE_EQ(ev["confidence"].get<double>(), 0.9);
  EXPECT_EQ(ev["count"], 300);
  EXPECT_EQ(ev["peer"], "2001:db8::5");
  EXPECT_EQ(ev["protocol"], "TCP");
  ASSERT_EQ(ev["flows"].size(), 1u);
  EXPECT_EQ(ev["flows"][0]["dst_port"], 22);
  EXPECT_EQ(ev["flows"][0]["text"], "TCP 10.0.0.66:40000 -> [2001:db8::5]:22");
}

TEST(AlertFormat, EvidenceReadsBackFromItsJson) {
  Evidence e;
  e.time_ns = 1'499'344'746'818'901'000;
  e.first_ns = e.time_ns - 5;
  e.host = ip("10.0.0.1");
  e.role = Role::kVictim;
  e.peer = ip("10.0.0.66");
  e.port = 80;
  e.ip_proto = 17;
  e.kind = std::string(kind::kUdpFlood);
  e.detector = "udp_flood";
  e.confidence = 0.85;
  e.threat = Severity::kCritical;
  e.description = "flood";
  e.count = 20'000;
  e.score = 3.5f;
  e.flows.push_back({e.first_ns, e.peer, e.host, 1234, 80, 17});
  e.models.push_back({"isolation_forest", 0.8f, 0.6f, true});
  e.deviations.push_back({"packets_per_second", 20'000, 1'000, 20});
  const Evidence back = evidence_from_json(evidence_to_json(e));
  EXPECT_EQ(back.time_ns, e.time_ns);
  EXPECT_EQ(back.first_ns, e.first_ns);
  EXPECT_EQ(back.host, e.host);
  EXPECT_EQ(back.role, Role::kVictim);
  EXPECT_EQ(back.peer, e.peer);
  EXPECT_EQ(back.port, 80);
  EXPECT_EQ(back.ip_proto, 17);
  EXPECT_EQ(back.kind, e.kind);
  EXPECT_EQ(back.detector, e.detector);
  EXPECT_DOUBLE_EQ(back.confidence, 0.85);
  EXPECT_EQ(back.threat, Severity::kCritical);
  EXPECT_EQ(back.count, 20'000u);
  ASSERT_EQ(back.flows.size(), 1u);
  EXPECT_EQ(back.flows[0], e.flows[0]);
  ASSERT_EQ(back.models.size(), 1u);
  ASSERT_EQ(back.deviations.size(), 1u);
  EXPECT_DOUBLE_EQ(back.deviations[0].value, 20'000);
}

TEST(AlertFormat, WritesUnknownAddressesAsEmptyStrings) {
  Alert a;
  a.kind = std::string(kind::kVolume);
  a.interface = "total";
  const auto j = nlohmann::json::parse(alert_to_json(a));
  EXPECT_EQ(j["src_ip"], "");
  EXPECT_EQ(j["dst_ip"], "");
  EXPECT_EQ(j["interface"], "total");
}

TEST(AlertFormat, WritesTheApisEpochMillisecondsOrRfc3339Times) {
  Alert a;
  a.id = 3;
  a.time_ns = 1'499'344'746'818'901'000;
  a.last_ns = a.time_ns + 2'500'000'000;
  const auto api = alert_to_json_object(a, AlertTimes::kEpochMs);
  EXPECT_EQ(api["time"], 1'499'344'746'818);
  EXPECT_EQ(api["last"], 1'499'344'749'318);
  EXPECT_FALSE(api.contains("time_ns"));
  EXPECT_FALSE(api.contains("change"));
  const auto text = alert_to_json_object(a, AlertTimes::kRfc3339, AlertChange::kEscalated);
  EXPECT_EQ(text["time"], "2017-07-06T12:39:06.818Z");
  EXPECT_EQ(text["last_seen"], "2017-07-06T12:39:09.318Z");
  EXPECT_EQ(text["last_ns"], a.last_ns);
  EXPECT_EQ(text["change"], "escalated");
  // Everything but the times is the same object in both forms.
  auto same_api = api;
  auto same_text = text;
  for (const char* key : {"time", "last", "last_seen", "time_ns", "last_ns", "change"}) {
    same_api.erase(key);
    same_text.erase(key);
  }
  EXPECT_EQ(same_api, same_text);
}

TEST(AlertFormat, ALastTimeOfZeroIsTheFirstTime) {
  Alert a;
  a.time_ns = 1'000'000'000;
  const auto j = alert_to_json_object(a);
  EXPECT_EQ(j["last_ns"], 1'000'000'000);
  EXPECT_EQ(j["last_seen"], "1970-01-01T00:00:01.000Z");
}

TEST(AlertFormat, AHubsAlertNamesItsSensorsAndInvalidUtf8IsReplaced) {
  Alert a;
  a.sensors = {"edge-1", "edge-2"};
  a.interface = "eth\xff";
  const auto j = nlohmann::json::parse(alert_to_json(a));
  EXPECT_EQ(j["sensors"], nlohmann::json::array({"edge-1", "edge-2"}));
  EXPECT_EQ(j["interface"], "eth\xEF\xBF\xBD");
  EXPECT_FALSE(alert_to_json_object(Alert{}).contains("sensors"));
}

}  // namespace
}  // namespace netsentry::detect
