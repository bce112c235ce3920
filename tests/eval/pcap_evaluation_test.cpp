#include "eval/pcap_evaluation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "eval/lab_labels_fixture.h"

namespace netsentry::eval {
namespace {

using test_support::ip;
using test_support::kLabels;
using test_support::kSecond;
using test_support::kT0;

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

detect::Evidence evidence_about(const char* kind, const char* host, double time_s) {
  detect::Evidence ev;
  ev.kind = kind;
  ev.host = ip(host);
  ev.time_ns = kT0 + static_cast<std::int64_t>(time_s * 1e9);
  return ev;
}

TEST_F(PcapEvaluatorTest, TheThresholdIsWhenTheAlertsOwnKindOfEvidenceConcluded) {
  // The port scan (10 s .. 10.2 s): an early ML verdict on one of its flows at 10.05 s stayed
  // below the alert threshold; the scan detector concluded at 11 s and the alert went out when
  // the evaluator had seen packet time 11.3 s.
  evaluator_.observe_time(kT0 + 11'300'000'000);
  detect::Alert scan = alert("port_scan", "10.0.0.66", "10.0.0.1", 10.05);
  scan.host = ip("10.0.0.66");
  scan.evidence = {evidence_about("port_scan", "10.0.0.66", 11),
                   evidence_about("flow_anomaly", "10.0.0.66", 10.05)};
  evaluator_.on_alert(scan, detect::AlertChange::kRaised);
  // The host scan (100 s .. 101 s): an alert of a kind none of whose evidence is about the
  // episode counts from its earliest evidence.
  evaluator_.observe_time(kT0 + 104 * kSecond);
  detect::Alert sweep = alert("host_scan", "10.0.0.99", "", 100.5);
  sweep.host = ip("10.0.0.99");
  sweep.evidence = {evidence_about("beacon", "10.0.0.99", 101),
                    evidence_about("flow_anomaly", "10.0.0.99", 100.5)};
  evaluator_.on_alert(sweep, detect::AlertChange::kRaised);
  const PcapEvaluation r = evaluator_.result();
  const auto& episodes = labels_.episodes();
  ASSERT_TRUE(r.outcomes[0].threshold_ns.has_value());
  EXPECT_EQ(*r.outcomes[0].threshold_ns, kT0 + 11 * kSecond);
  EXPECT_EQ(*r.outcomes[0].first_alert_ns - episodes[0].start_ns, 1'300'000'000);
  ASSERT_TRUE(r.outcomes[2].threshold_ns.has_value());
  EXPECT_EQ(*r.outcomes[2].threshold_ns, kT0 + 100'500'000'000);
  ASSERT_TRUE(r.time_after_threshold_quantile(1.0).has_value());
  EXPECT_DOUBLE_EQ(*r.time_after_threshold_quantile(1.0), 3.5);   // the sweep: 104 - 100.5
  EXPECT_NEAR(*r.time_after_threshold_quantile(0.0), 0.3, 1e-9);  // the scan: 11.3 - 11
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

}  // namespace
}  // namespace netsentry::eval
