#include "app/pcap_evaluation.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace netsentry::app {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kT0 = 1'767'225'600LL * kSecond;  // 2026-01-01T00:00:00Z

const char* const kLabels =
    "kind,src,dst,start,end,tool,description\n"
    "port_scan,10.0.0.66,10.0.0.1,1767225610,1767225610.2,nmap,SYN scan\n"
    "syn_flood,198.18.0.0/15,10.0.0.1,1767225650,1767225660,hping3,spoofed\n"
    "host_scan,10.0.0.99,,1767225700,1767225701,nmap,sweep\n";

net::IpAddress ip(const char* text) {
  net::IpAddress out;
  EXPECT_TRUE(net::IpAddress::parse(text, out)) << text;
  return out;
}

flow::FlowRecord flow_between(const char* a, const char* b, double start_s, double end_s,
                              std::uint64_t packets = 1) {
  flow::FlowRecord f;
  f.src_ip = ip(a);
  f.dst_ip = ip(b);
  f.start_ns = kT0 + static_cast<std::int64_t>(start_s * 1e9);
  f.end_ns = kT0 + static_cast<std::int64_t>(end_s * 1e9);
  f.packet_count = packets;
  f.end_reason = flow::EndReason::kIdle;
  return f;
}

// An alert with a new id each time (a delivery of an existing one copies its id).
detect::Alert alert(const char* kind, const char* src, const char* dst, double time_s,
                    std::uint64_t count = 1) {
  static std::int64_t next_id = 1;
  detect::Alert a;
  a.id = next_id++;
  a.kind = kind;
  if (*src) a.src_ip = ip(src);
  if (*dst) a.dst_ip = ip(dst);
  a.time_ns = a.last_ns = kT0 + static_cast<std::int64_t>(time_s * 1e9);
  a.count = count;
  return a;
}

class PcapEvaluatorTest : public ::testing::Test {
 protected:
  EpisodeLabels labels_ = EpisodeLabels::parse(kLabels, "labels.csv");
  PcapEvaluator evaluator_{labels_};
};

TEST_F(PcapEvaluatorTest, CountsEachEpisodesFlowsAndPacketsAndSkipsInterimReports) {
  std::vector<flow::FlowRecord> flows = {
      flow_between("10.0.0.66", "10.0.0.1", 10.0, 10.1, 2),
      flow_between("10.0.0.66", "10.0.0.1", 10.1, 10.1, 1),
      flow_between("198.18.3.3", "10.0.0.1", 65, 65, 1),  // after the window: benign
      flow_between("10.0.0.10", "10.0.0.1", 0, 3600, 40),
  };
  flows.push_back(flow_between("10.0.0.66", "10.0.0.1", 10.0, 10.1, 7));
  flows.back().end_reason = flow::EndReason::kOngoing;
  evaluator_.observe_flows(flows);
  evaluator_.on_flows(flows, {}, 0.0f);
  const PcapEvaluation r = evaluator_.result();
  ASSERT_EQ(r.outcomes.size(), 3u);
  EXPECT_EQ(r.outcomes[0].flows, 2u);
  EXPECT_EQ(r.outcomes[0].packets, 3u);
  EXPECT_EQ(r.outcomes[1].flows, 0u);
  EXPECT_EQ(r.flows.flows, 4u);
  EXPECT_EQ(r.flows.by_label.at("BENIGN"), 2u);
  EXPECT_EQ(r.flows.by_label.at("port_scan"), 2u);
  EXPECT_EQ(r.flows.unscored, 4u);
  EXPECT_FALSE(r.flows.scored());
  EXPECT_DOUBLE_EQ(r.duration_s(), 3600.0);
}

TEST_F(PcapEvaluatorTest, AttributesAlertsAndCountsTheRestAsFalseAlertsPerHour) {
  evaluator_.observe_time(kT0 + 12 * kSecond);
  evaluator_.on_alert(alert("port_scan", "10.0.0.66", "10.0.0.1", 10.05),
                      detect::AlertChange::kRaised);
  evaluator_.observe_time(kT0 + 51 * kSecond);
  evaluator_.on_alert(alert("syn_flood", "", "10.0.0.1", 50.5, 3), detect::AlertChange::kRaised);
  evaluator_.on_alert(alert("volume", "", "", 55),
                      detect::AlertChange::kRaised);  // coincides with the flood
  evaluator_.on_alert(alert("volume", "", "", 900), detect::AlertChange::kRaised);  // false
  evaluator_.on_alert(alert("flow_anomaly", "10.0.0.10", "10.0.0.1", 300),
                      detect::AlertChange::kRaised);  // false
  // The capture's span comes from its flows: half an hour.
  const std::vector<flow::FlowRecord> span = {flow_between("10.0.0.10", "10.0.0.1", 0, 1800)};
  evaluator_.observe_flows(span);
  const PcapEvaluation r = evaluator_.result();
  EXPECT_TRUE(r.outcomes[0].detected());
  EXPECT_EQ(r.outcomes[0].alert_kinds.at("port_scan"), 1u);
  // Raised when the evaluator last saw packet time 12 s, two seconds after the episode began.
  ASSERT_TRUE(r.outcomes[0].first_alert_ns.has_value());
  EXPECT_EQ(*r.outcomes[0].first_alert_ns - labels_.episodes()[0].start_ns, 2 * kSecond);
  EXPECT_TRUE(r.outcomes[1].detected());
  EXPECT_EQ(r.outcomes[1].alert_events, 3u);
  EXPECT_EQ(r.outcomes[1].coinciding_alerts, 1u);
  EXPECT_FALSE(r.outcomes[2].detected());
  EXPECT_EQ(r.detected_episodes(), 2u);
  EXPECT_EQ(r.alerts, 5u);
  EXPECT_EQ(r.attributed_alerts, 2u);
  EXPECT_EQ(r.coinciding_alerts, 1u);
  EXPECT_EQ(r.false_alerts, 2u);
  EXPECT_EQ(r.false_alerts_by_kind.at("volume"), 1u);
  EXPECT_EQ(r.false_alerts_by_kind.at("flow_anomaly"), 1u);
  EXPECT_DOUBLE_EQ(r.false_alerts_per_hour(), 4.0);  // 2 in half an hour
}

TEST_F(PcapEvaluatorTest, AnUpdateReplacesItsAlertAndKeepsTheFirstRaiseTime) {
  evaluator_.observe_time(kT0 + 11 * kSecond);
  const detect::Alert raised = alert("port_scan", "10.0.0.66", "10.0.0.1", 10.05, 1);
  evaluator_.on_alert(raised, detect::AlertChange::kRaised);
  evaluator_.observe_time(kT0 + 70 * kSecond);
  detect::Alert update = raised;
  update.count = 9;
  evaluator_.on_alert(update, detect::AlertChange::kUpdated);
  const PcapEvaluation r = evaluator_.result();
  EXPECT_EQ(r.alerts, 1u);
  EXPECT_EQ(r.alert_events, 9u);
  EXPECT_EQ(r.outcomes[0].alerts, 1u);
  EXPECT_EQ(*r.outcomes[0].first_alert_ns, kT0 + 11 * kSecond);
}

TEST(PcapEvaluator, AFoldedAlertDetectsEveryEpisodeOfItsSourceThatItsSpanOverlaps) {
  const EpisodeLabels labels = EpisodeLabels::parse(
      "kind,src,dst,start,end\n"
      "port_scan,10.0.0.66,10.0.0.1,1767225610,1767225611\n"
      "port_scan,10.0.0.66,10.0.0.1,1767225615,1767225616\n"
      "port_scan,10.0.0.66,10.0.0.1,1767225640,1767225641\n"
      "port_scan,10.0.0.77,10.0.0.1,1767225615,1767225616\n",
      "labels.csv");
  PcapEvaluator evaluator(labels);
  evaluator.observe_time(kT0 + 11 * kSecond);
  // The first scan's alert, with the second scan folded in: [10.2 s, 15.6 s], two events.
  detect::Alert folded = alert("port_scan", "10.0.0.66", "10.0.0.1", 10.2, 2);
  folded.last_ns = kT0 + 15'600'000'000;
  evaluator.on_alert(folded, detect::AlertChange::kRaised);
  const PcapEvaluation r = evaluator.result();
  ASSERT_EQ(r.outcomes.size(), 4u);
  EXPECT_TRUE(r.outcomes[0].detected());
  EXPECT_EQ(*r.outcomes[0].first_alert_ns, kT0 + 11 * kSecond);  // when it was raised
  EXPECT_TRUE(r.outcomes[1].detected());
  EXPECT_EQ(r.outcomes[1].alert_kinds.at("port_scan"), 1u);
  // Covered from the episode's start: time to first alert 0.
  EXPECT_EQ(*r.outcomes[1].first_alert_ns, labels.episodes()[1].start_ns);
  EXPECT_FALSE(r.outcomes[2].detected());  // after the span
  EXPECT_FALSE(r.outcomes[3].detected());  // another source
  EXPECT_EQ(r.detected_episodes(), 2u);
  EXPECT_EQ(r.attributed_alerts, 1u);
  EXPECT_EQ(r.false_alerts, 0u);
}

TEST_F(PcapEvaluatorTest, FlowLevelReportsTheEnsembleAgainstTheLabels) {
  const std::vector<flow::FlowRecord> flows = {
      flow_between("10.0.0.66", "10.0.0.1", 10.0, 10.1),
      flow_between("198.18.0.1", "10.0.0.1", 51, 51),
      flow_between("10.0.0.10", "10.0.0.1", 20, 21),
      flow_between("10.0.0.11", "10.0.0.1", 20, 21),
  };
  const std::vector<detect::FlowVerdict> verdicts = {{0.9f, true, 1, 1, true, true, {}},
                                                     {0.2f, false, 0, 1, true, false, {}},
                                                     {0.1f, false, 0, 1, true, false, {}},
                                                     {0.8f, true, 1, 1, true, true, {}}};
  evaluator_.on_flows(flows, verdicts, 0.5f);
  const PcapEvaluation r = evaluator_.result();
  ASSERT_TRUE(r.flows.scored());
  EXPECT_EQ(r.flows.with_evidence, 2u);
  EXPECT_EQ(r.flows.benign_with_evidence, 1u);
  EXPECT_EQ(r.flows.y, (std::vector<int>{1, 1, 0, 0}));
  EXPECT_EQ(r.flows.label_names, (std::vector<std::string>{"BENIGN", "port_scan", "syn_flood"}));
  const std::string text = format_pcap_evaluation(r);
  EXPECT_NE(text.find("confusion matrix"), std::string::npos) << text;
  EXPECT_NE(text.find("syn_flood"), std::string::npos);
  const auto j = pcap_evaluation_json(r);
  const auto& e = j.at("flow_level").at("ensemble");
  EXPECT_EQ(e.at("confusion_matrix"), nlohmann::json::parse("[[1, 1], [1, 1]]"));
  EXPECT_DOUBLE_EQ(e.at("recall").get<double>(), 0.5);
}

TEST_F(PcapEvaluatorTest, JsonHasEveryDocumentedKey) {
  evaluator_.on_alert(alert("volume", "", "", 900), detect::AlertChange::kRaised);
  const auto j = pcap_evaluation_json(evaluator_.result());
  for (const char* key : {"capture", "labels", "model", "packets", "start", "end", "duration_s",
                          "flow_level", "episodes", "attacks", "alerts", "false_alerts"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  ASSERT_EQ(j.at("episodes").size(), 3u);
  for (const char* key :
       {"kind", "src", "dst", "start", "end", "tool", "flows", "packets", "detected", "alerts",
        "alert_events", "alert_kinds", "time_to_first_alert_s", "coinciding_alerts"}) {
    EXPECT_TRUE(j.at("episodes")[0].contains(key)) << key;
  }
  EXPECT_TRUE(j.at("flow_level").at("ensemble").is_null());
  EXPECT_EQ(j.at("false_alerts").at("total"), 1);
  EXPECT_EQ(j.at("false_alerts").at("by_kind").at("volume"), 1);
  EXPECT_EQ(j.at("attacks").at("detected"), 0);
}

// --- evaluate_pcap on a capture written here: a SYN scan of 150 ports plus answered DNS.

void put16(std::string& out, unsigned v) {
  out += static_cast<char>((v >> 8) & 0xFF);
  out += static_cast<char>(v & 0xFF);
}

std::string frame(const char* src, const char* dst, std::uint8_t proto, std::uint16_t sport,
                  std::uint16_t dport, std::uint8_t tcp_flags) {
  std::string l4;
  if (proto == 6) {
    put16(l4, sport);
    put16(l4, dport);
    l4 += std::string("\0\0\0\1\0\0\0\0", 8);  // seq 1, ack 0
    l4 += static_cast<char>(5 << 4);
    l4 += static_cast<char>(tcp_flags);
    put16(l4, 29200);
    put16(l4, 0);
    put16(l4, 0);
  } else {
    const std::string payload(30, 'q');
    put16(l4, sport);
    put16(l4, dport);
    put16(l4, 8 + static_cast<unsigned>(payload.size()));
    put16(l4, 0);
    l4 += payload;
  }
  std::string ip4;
  ip4 += static_cast<char>(0x45);
  ip4 += '\0';
  put16(ip4, 20 + static_cast<unsigned>(l4.size()));
  put16(ip4, 1);
  put16(ip4, 0);
  ip4 += static_cast<char>(64);
  ip4 += static_cast<char>(proto);
  put16(ip4, 0);
  const auto s = ip(src), d = ip(dst);
  ip4.append(reinterpret_cast<const char*>(s.bytes.data()), 4);
  ip4.append(reinterpret_cast<const char*>(d.bytes.data()), 4);
  return std::string("\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", 14) + ip4 + l4;
}

void write_pcap(const fs::path& path,
                std::vector<std::pair<double, std::string>> packets) {  // (seconds from T0, frame)
  std::sort(packets.begin(), packets.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::ofstream out(path, std::ios::binary);
  const auto u32 = [&out](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  const auto u16 = [&out](std::uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
  u32(0xA1B2C3D4);
  u16(2);
  u16(4);
  u32(0);
  u32(0);
  u32(65535);
  u32(1);
  for (const auto& [t, bytes] : packets) {
    const auto us = static_cast<std::int64_t>(t * 1e6 + 0.5);
    u32(static_cast<std::uint32_t>(kT0 / kSecond + us / 1'000'000));
    u32(static_cast<std::uint32_t>(us % 1'000'000));
    u32(static_cast<std::uint32_t>(bytes.size()));
    u32(static_cast<std::uint32_t>(bytes.size()));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
}

struct Lab {
  fs::path dir, pcap, labels;
};

Lab write_lab(const std::string& name) {
  Lab lab;
  lab.dir = fs::path(::testing::TempDir()) / ("ns_pcap_eval_" + name);
  fs::remove_all(lab.dir);
  fs::create_directories(lab.dir);
  lab.pcap = lab.dir / "capture.pcap";
  lab.labels = lab.dir / "labels.csv";
  std::vector<std::pair<double, std::string>> packets;
  for (int port = 1; port <= 150; ++port) {
    // Closed ports answer RST-ACK, so each probe's flow ends at once (as in the lab).
    const auto dport = static_cast<std::uint16_t>(port);
    packets.emplace_back(10.0 + port * 0.001,
                         frame("10.0.0.66", "10.0.0.1", 6, 40000, dport, 0x02));
    packets.emplace_back(10.0005 + port * 0.001,
                         frame("10.0.0.1", "10.0.0.66", 6, dport, 40000, 0x14));
  }
  for (int i = 0; i < 20; ++i) {
    const double t = i * 5.0;
    const auto sport = static_cast<std::uint16_t>(30000 + i);
    packets.emplace_back(t, frame("10.0.0.10", "10.0.0.1", 17, sport, 53, 0));
    packets.emplace_back(t + 0.002, frame("10.0.0.1", "10.0.0.10", 17, 53, sport, 0));
  }
  write_pcap(lab.pcap, std::move(packets));
  std::ofstream(lab.labels) << kLabels;
  return lab;
}

PcapEvaluationOptions rules_only(const Lab& lab) {
  PcapEvaluationOptions o;
  o.pcap = lab.pcap;
  o.labels = lab.labels;
  o.detection.no_model = true;
  o.out_dir = lab.dir / "out";
  return o;
}

TEST(EvaluatePcap, ReplaysTheCaptureThroughTheEngineAndFindsThePortScan) {
  const Lab lab = write_lab("scan");
  const PcapEvaluation r = evaluate_pcap(rules_only(lab));
  EXPECT_EQ(r.packets, 340u);
  EXPECT_TRUE(r.model.empty());
  ASSERT_EQ(r.episodes.size(), 3u);
  EXPECT_EQ(r.outcomes[0].flows, 150u);
  EXPECT_EQ(r.outcomes[0].packets, 300u);
  EXPECT_TRUE(r.outcomes[0].detected());
  EXPECT_EQ(r.outcomes[0].alert_kinds.count("port_scan"), 1u);
  ASSERT_TRUE(r.outcomes[0].first_alert_ns.has_value());
  const std::int64_t delay = *r.outcomes[0].first_alert_ns - r.episodes[0].start_ns;
  // Raised within a couple of packet-time seconds of the scan (flow batches leave each second).
  EXPECT_GE(delay, 0);
  EXPECT_LE(delay, 3 * kSecond);
  EXPECT_FALSE(r.outcomes[1].detected());  // nothing of the flood is in the capture
  EXPECT_FALSE(r.outcomes[2].detected());
  EXPECT_EQ(r.flows.by_label.at("BENIGN"), 20u);
  EXPECT_EQ(r.false_alerts_by_kind.count("port_scan"), 0u);
  // --out keeps the replay's files.
  EXPECT_TRUE(fs::exists(lab.dir / "out" / "flows.csv"));
  EXPECT_TRUE(fs::exists(lab.dir / "out" / "alerts.csv"));
}

TEST(EvaluatePcap, AsksForAModelOrNoModel) {
  const Lab lab = write_lab("nomodel");
  PcapEvaluationOptions o = rules_only(lab);
  o.detection.no_model = false;
  try {
    (void)evaluate_pcap(o);
    FAIL() << "no error";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--no-model"), std::string::npos) << e.what();
  }
}

TEST(EvaluatePcap, ABadLabelsFileStopsItBeforeTheReplay) {
  const Lab lab = write_lab("badlabels");
  std::ofstream(lab.labels) << "kind,src,dst,start,end\nport_scan,10.0.0.66,10.0.0.1,ten,20\n";
  try {
    (void)evaluate_pcap(rules_only(lab));
    FAIL() << "no error";
  } catch (const core::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              lab.labels.string() + ":2:30: start \"ten\" is not a time in epoch seconds");
  }
  EXPECT_FALSE(fs::exists(lab.dir / "out"));
}

}  // namespace
}  // namespace netsentry::app
