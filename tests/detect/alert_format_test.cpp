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
  EXPECT_EQ(format_time_iso(1'499'344'746'818'901'000), "2017-07-06T12:39:06.818Z");
  EXPECT_EQ(format_time_iso(0), "1970-01-01T00:00:00.000Z");
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
  a.evidence.push_back({"Flow Packets/s", 1e6, 10, std::numeric_limits<double>::quiet_NaN()});

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
  ASSERT_EQ(j["evidence"].size(), 1u);
  EXPECT_EQ(j["evidence"][0]["feature"], "Flow Packets/s");
  EXPECT_TRUE(j["evidence"][0]["deviation"].is_null());
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

}  // namespace
}  // namespace netsentry::detect
