#include "store/eve_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "net/community_id.h"

namespace netsentry::store {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::int64_t kT0 = 1795477501'250000000;  // 2026-11-23 23:45:01.25 UTC

net::IpAddress ip(const char* text) {
  net::IpAddress out;
  EXPECT_TRUE(net::IpAddress::parse(text, out));
  return out;
}

flow::FlowRecord tcp_flow(std::int64_t start_ns, std::uint16_t sport = 40000) {
  flow::FlowRecord f;
  f.start_ns = start_ns;
  f.end_ns = start_ns + 2 * kSec + 500'000'000;
  f.src_ip = ip("10.0.0.66");
  f.dst_ip = ip("10.0.0.5");
  f.src_port = sport;
  f.dst_port = 22;
  f.ip_proto = 6;
  f.end_reason = flow::EndReason::kFin;
  f.packet_count = 10;
  f.byte_count = 1500;
  f.orig_ip_bytes = 600;
  f.resp_ip_bytes = 760;
  f.cic[static_cast<std::size_t>(flow::CicFeature::kTotalFwdPacket)] = 6;
  f.cic[static_cast<std::size_t>(flow::CicFeature::kTotalBwdPackets)] = 4;
  f.community_id = net::community_id(f.src_ip, f.dst_ip, 6, sport, 22);
  f.conn_state = flow::ConnState::kSF;
  return f;
}

detect::Alert scan_alert(const flow::FlowRecord& evidence_flow) {
  detect::Alert alert;
  alert.id = 7;
  alert.time_ns = kT0;
  alert.last_ns = kT0 + 3 * kSec;
  alert.severity = detect::Severity::kHigh;
  alert.kind = std::string(detect::kind::kPortScan);
  alert.src_ip = ip("10.0.0.66");
  alert.dst_ip = ip("10.0.0.5");
  alert.protocol = "TCP";
  alert.score = 1.5f;
  alert.count = 12;
  alert.reason = "Port scan suspected: 2,998 ports on 10.0.0.5";
  alert.host = alert.src_ip;
  detect::Evidence e;
  e.kind = alert.kind;
  e.threat = detect::Severity::kHigh;
  e.confidence = 0.95;
  e.description = "2,998 ports probed";
  e.flows = {detect::FlowRef::of(tcp_flow(kT0 - kSec, 39000)), detect::FlowRef::of(evidence_flow)};
  alert.evidence = {e};
  return alert;
}

std::vector<json> read_lines(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(json::parse(line));  // throws (fails the test) on a line that is not JSON
  }
  return lines;
}

class EveLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "netsentry-eve-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  EveLogOptions options() const {
    EveLogOptions o;
    o.path = dir_ / "out" / "eve.json";  // the folder is created on demand
    o.interface = "eth0";
    return o;
  }

  fs::path dir_;
};

TEST(EveFormat, NamesProtocolsAndSeveritiesAsSuricataDoes) {
  EXPECT_EQ(eve_proto(6), "TCP");
  EXPECT_EQ(eve_proto(17), "UDP");
  EXPECT_EQ(eve_proto(1), "ICMP");
  EXPECT_EQ(eve_proto(58), "IPv6-ICMP");
  EXPECT_EQ(eve_proto(47), "47");
  EXPECT_EQ(eve_severity(detect::Severity::kCritical), 1);
  EXPECT_EQ(eve_severity(detect::Severity::kHigh), 1);
  EXPECT_EQ(eve_severity(detect::Severity::kMedium), 2);
  EXPECT_EQ(eve_severity(detect::Severity::kLow), 3);
}

TEST(EveFormat, FlowIdIsStablePositiveAndFitsADouble) {
  const flow::FlowRecord f = tcp_flow(kT0);
  const std::int64_t id = eve_flow_id(detect::FlowRef::of(f));
  EXPECT_EQ(id, eve_flow_id(detect::FlowRef::of(tcp_flow(kT0))));
  EXPECT_NE(id, eve_flow_id(detect::FlowRef::of(tcp_flow(kT0 + 1))));
  EXPECT_GT(id, 0);
  EXPECT_LT(id, std::int64_t{1} << 53);
}

TEST(EveFormat, AFlowEventHasSuricatasFields) {
  const flow::FlowRecord f = tcp_flow(kT0);
  detect::FlowVerdict verdict;
  verdict.scored = true;
  verdict.score = 0.25f;
  const json e = eve_flow_event(f, verdict, "eth0");
  EXPECT_EQ(e["timestamp"], "2026-11-23T23:45:03.750000+0000");
  EXPECT_EQ(e["event_type"], "flow");
  EXPECT_EQ(e["flow_id"], eve_flow_id(detect::FlowRef::of(f)));
  EXPECT_EQ(e["in_iface"], "eth0");
  EXPECT_EQ(e["src_ip"], "10.0.0.66");
  EXPECT_EQ(e["src_port"], 40000);
  EXPECT_EQ(e["dest_ip"], "10.0.0.5");
  EXPECT_EQ(e["dest_port"], 22);
  EXPECT_EQ(e["proto"], "TCP");
  EXPECT_EQ(e["community_id"], f.community_id.to_string());
  const json& flow = e["flow"];
  EXPECT_EQ(flow["pkts_toserver"], 6);
  EXPECT_EQ(flow["pkts_toclient"], 4);
  EXPECT_EQ(flow["bytes_toserver"], 600);
  EXPECT_EQ(flow["bytes_toclient"], 760);
  EXPECT_EQ(flow["start"], "2026-11-23T23:45:01.250000+0000");
  EXPECT_EQ(flow["end"], "2026-11-23T23:45:03.750000+0000");
  EXPECT_EQ(flow["age"], 2);
  EXPECT_EQ(flow["state"], "closed");
  EXPECT_EQ(flow["reason"], "timeout");
  EXPECT_EQ(e["netsentry"]["conn_state"], "SF");
  EXPECT_EQ(e["netsentry"]["verdict"], "benign");
  EXPECT_FLOAT_EQ(e["netsentry"]["score"].get<float>(), 0.25f);
  EXPECT_FALSE(e.contains("vlan"));
}

TEST(EveFormat, IcmpFlowsCarryTypeAndCodeAndOneWayFlowsAreNew) {
  flow::FlowRecord f = tcp_flow(kT0);
  f.ip_proto = 1;
  f.src_port = 8;  // echo request
  f.dst_port = 0;
  f.end_reason = flow::EndReason::kEvicted;
  f.cic[static_cast<std::size_t>(flow::CicFeature::kTotalBwdPackets)] = 0;
  const json e = eve_flow_event(f, {}, "");
  EXPECT_FALSE(e.contains("in_iface"));
  EXPECT_FALSE(e.contains("src_port"));
  EXPECT_EQ(e["icmp_type"], 8);
  EXPECT_EQ(e["icmp_code"], 0);
  EXPECT_EQ(e["proto"], "ICMP");
  EXPECT_EQ(e["flow"]["state"], "new");
  EXPECT_EQ(e["flow"]["reason"], "forced");
  EXPECT_EQ(e["netsentry"]["verdict"], "unscored");
  detect::FlowVerdict one_packet;
  one_packet.scored = true;
  one_packet.score = 0.9f;
  one_packet.note = "one packet";
  const json quiet = eve_flow_event(f, one_packet, "");
  EXPECT_EQ(quiet["netsentry"]["verdict"], "benign");
  EXPECT_EQ(quiet["netsentry"]["note"], "one packet");
}

TEST(EveFormat, AnAlertEventNamesItsNewestFlowAndCarriesOurAlert) {
  const flow::FlowRecord f = tcp_flow(kT0 + kSec);
  const detect::Alert alert = scan_alert(f);
  const json e = eve_alert_event(alert, detect::AlertChange::kRaised, "eth0");
  EXPECT_EQ(e["timestamp"], "2026-11-23T23:45:04.250000+0000");
  EXPECT_EQ(e["event_type"], "alert");
  EXPECT_EQ(e["flow_id"], eve_flow_id(detect::FlowRef::of(f)));
  EXPECT_EQ(e["community_id"], f.community_id.to_string());
  EXPECT_EQ(e["src_ip"], "10.0.0.66");
  EXPECT_EQ(e["dest_ip"], "10.0.0.5");
  EXPECT_FALSE(e.contains("dest_port"));  // a scan has no single port
  EXPECT_EQ(e["proto"], "TCP");
  const json& a = e["alert"];
  EXPECT_EQ(a["action"], "allowed");
  EXPECT_EQ(a["gid"], 1);
  EXPECT_EQ(a["signature_id"], 1'990'001);
  EXPECT_EQ(a["rev"], 1);
  EXPECT_EQ(a["signature"], "NETSENTRY Port scan");
  EXPECT_EQ(a["category"], "Detection of a Network Scan");
  EXPECT_EQ(a["severity"], 1);
  EXPECT_EQ(a["metadata"]["netsentry_id"], json::array({"7"}));
  EXPECT_EQ(a["metadata"]["kind"], json::array({"port_scan"}));
  EXPECT_EQ(a["metadata"]["score"], json::array({"1.5000"}));
  EXPECT_EQ(a["metadata"]["state"], json::array({"engaged"}));
  EXPECT_EQ(a["metadata"]["change"], json::array({"raised"}));
  EXPECT_EQ(a["metadata"]["evidence"], json::array({"port_scan HIGH 0.95: 2,998 ports probed"}));
  // The whole alert, as every other output writes it.
  EXPECT_EQ(e["netsentry"]["id"], 7);
  EXPECT_EQ(e["netsentry"]["time"], "2026-11-23T23:45:01.250Z");
  EXPECT_EQ(e["netsentry"]["change"], "raised");
}

TEST(EveFormat, AnInterfaceAlertWithoutFlowsHasNoFlowId) {
  detect::Alert alert;
  alert.id = 3;
  alert.time_ns = kT0;
  alert.kind = std::string(detect::kind::kVolume);
  alert.severity = detect::Severity::kMedium;
  alert.interface = "total";
  const json e = eve_alert_event(alert, detect::AlertChange::kRaised, "");
  EXPECT_FALSE(e.contains("flow_id"));
  EXPECT_FALSE(e.contains("src_ip"));
  EXPECT_EQ(e["alert"]["severity"], 2);
  EXPECT_EQ(e["alert"]["signature_id"], 1'990'010);
  EXPECT_EQ(e["alert"]["metadata"]["interface"], json::array({"total"}));
}

TEST(EveAlert, EveryKindHasItsOwnSignature) {
  std::set<int> ids;
  for (const std::string_view k : detect::kind::kAll) {
    detect::Alert alert;
    alert.id = 1;
    alert.time_ns = kT0;
    alert.kind = std::string(k);
    const int sid =
        eve_alert_event(alert, detect::AlertChange::kRaised, "")["alert"]["signature_id"];
    EXPECT_NE(sid, 1'990'000) << k << " has no signature of its own";
    EXPECT_TRUE(ids.insert(sid).second) << k << " shares signature " << sid;
  }
}

TEST_F(EveLogTest, WritesFlowAlertAndStatsLinesThatParse) {
  const flow::FlowRecord f = tcp_flow(kT0);
  {
    EveLog log(options());
    const std::vector<flow::FlowRecord> flows = {f};
    const std::vector<detect::FlowVerdict> verdicts(1);
    log.on_flows(flows, verdicts, 0.5f);
    log.on_alert(scan_alert(f), detect::AlertChange::kRaised);
    log.flush();
    log.flush();  // the stage flushes it as an alert sink and as a flow sink
    EXPECT_EQ(log.stats().flows, 1u);
    EXPECT_EQ(log.stats().alerts, 1u);
    EXPECT_EQ(log.stats().stats, 1u);
  }
  std::ifstream raw(dir_ / "out" / "eve.json");
  for (std::string line; std::getline(raw, line);) {
    EXPECT_TRUE(line.starts_with("{\"timestamp\":\"2026-11-23T23:45:"))
        << line;  // Suricata's order
  }
  const std::vector<json> lines = read_lines(dir_ / "out" / "eve.json");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["event_type"], "flow");
  EXPECT_EQ(lines[1]["event_type"], "alert");
  EXPECT_EQ(lines[1]["flow_id"], lines[0]["flow_id"]);
  EXPECT_EQ(lines[2]["event_type"], "stats");
  EXPECT_EQ(lines[2]["stats"]["flow"]["total"], 1);
  EXPECT_EQ(lines[2]["stats"]["flow"]["tcp"], 1);
  EXPECT_EQ(lines[2]["stats"]["decoder"]["pkts"], 10);
  EXPECT_EQ(lines[2]["stats"]["detect"]["alert"], 1);
}

TEST_F(EveLogTest, WritesStatsEveryIntervalOfPacketTime) {
  EveLogOptions o = options();
  o.stats_interval_ns = 8 * kSec;
  EveLog log(o);
  for (int second = 0; second < 20; ++second) {
    const std::vector<flow::FlowRecord> flows = {
        tcp_flow(kT0 + second * kSec, static_cast<std::uint16_t>(40000 + second))};
    log.on_flows(flows, {}, 0);
    log.tick();
  }
  // Flows end 2.5 s after they start: packet time runs from +2.5 s to +21.5 s, so stats at
  // +10.5 s and +18.5 s.
  EXPECT_EQ(log.stats().stats, 2u);
}

TEST_F(EveLogTest, UpdatesAreRateLimitedLikeTheOtherOutputs) {
  EveLog log(options());
  detect::Alert alert = scan_alert(tcp_flow(kT0));
  log.on_alert(alert, detect::AlertChange::kRaised);
  alert.last_ns += kSec;
  log.on_alert(alert, detect::AlertChange::kUpdated);  // 1 s later: held back
  alert.last_ns += 60 * kSec;
  log.on_alert(alert, detect::AlertChange::kUpdated);  // a minute later: written
  log.on_alert(alert, detect::AlertChange::kEscalated);
  log.on_alert(alert, detect::AlertChange::kPast);
  EXPECT_EQ(log.stats().alerts, 4u);
}

TEST_F(EveLogTest, RotatesBySizeAndKeepsOnlyKeepFiles) {
  EveLogOptions o = options();
  o.max_bytes = 4096;
  o.keep = 2;
  {
    EveLog log(o);
    for (int i = 0; i < 200; ++i) {
      const std::vector<flow::FlowRecord> flows = {
          tcp_flow(kT0 + i * kSec, static_cast<std::uint16_t>(30000 + i))};
      log.on_flows(flows, {}, 0);
    }
    log.flush();
  }
  const fs::path dir = dir_ / "out";
  ASSERT_TRUE(fs::exists(dir / "eve.json"));
  ASSERT_TRUE(fs::exists(dir / "eve.json.1"));
  ASSERT_TRUE(fs::exists(dir / "eve.json.2"));
  EXPECT_FALSE(fs::exists(dir / "eve.json.3"));
  for (const char* name : {"eve.json", "eve.json.1", "eve.json.2"}) {
    EXPECT_LE(fs::file_size(dir / name), 4096u) << name;
    EXPECT_FALSE(read_lines(dir / name).empty()) << name;  // whole JSON lines only
  }
}

TEST_F(EveLogTest, RefusesAnUnboundedFile) {
  EveLogOptions o = options();
  o.max_bytes = 0;
  EXPECT_THROW(EveLog log(o), core::Error);
}

TEST_F(EveLogTest, ReplacesInvalidUtf8FromTheNetwork) {
  EveLogOptions o = options();
  o.interface = "eth\xff";
  {
    EveLog log(o);
    detect::Alert alert = scan_alert(tcp_flow(kT0));
    alert.reason = "HTTP header \"\xc3\x28\"";
    log.on_alert(alert, detect::AlertChange::kRaised);
    log.flush();
  }
  const std::vector<json> lines = read_lines(dir_ / "out" / "eve.json");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0]["in_iface"], "eth\xEF\xBF\xBD");
  EXPECT_EQ(lines[0]["alert"]["metadata"]["reason"][0], "HTTP header \"\xEF\xBF\xBD(\"");
}

TEST_F(EveLogTest, AppendsAcrossRestarts) {
  for (int run = 0; run < 2; ++run) {
    EveLog log(options());
    const std::vector<flow::FlowRecord> flows = {tcp_flow(kT0 + run * kSec)};
    log.on_flows(flows, {}, 0);
    log.flush();
  }
  EXPECT_EQ(read_lines(dir_ / "out" / "eve.json").size(), 4u);  // two flows, two stats
}

}  // namespace
}  // namespace netsentry::store
