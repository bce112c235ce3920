#include "detect/ml_flow_detector.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "detect/alert.h"
#include "detect/detect_test_support.h"

namespace netsentry::detect {
namespace {

using namespace testing;  // NOLINT
namespace fs = std::filesystem;

flow::FlowRecord web(int i, std::int64_t t) {
  auto r = session(ipv4(10, 0, 0, static_cast<std::uint8_t>(10 + i % 5)),
                   static_cast<std::uint16_t>(30000 + i), ip("10.0.0.5"), 80, t,
                   static_cast<std::uint32_t>(300 + (i * 37) % 900));
  r.cic[static_cast<std::size_t>(flow::CicFeature::kFlowDuration)] = 200'000 + (i * 911) % 50'000;
  return r;
}

// A long one-way trickle: nothing like a web session.
flow::FlowRecord odd(std::uint16_t sport, std::int64_t t) {
  return one_way_trickle(sport, t, true);
}

class Verdicts final : public FlowVerdictSink {
 public:
  void on_flows(std::span<const flow::FlowRecord> flows, std::span<const FlowVerdict> verdicts,
                float) override {
    for (std::size_t i = 0; i < flows.size(); ++i) {
      records.push_back(flows[i]);
      seen.push_back(verdicts[i]);
    }
  }
  std::vector<flow::FlowRecord> records;
  std::vector<FlowVerdict> seen;
};

// A baseline of web sessions: alone it is the model (--learn-baseline).
std::unique_ptr<SiteBaseline> learned_on_web(const fs::path& dir = {}) {
  SiteBaselineOptions o;
  o.learn_s = 30;
  o.refresh_s = 0;
  o.synchronous = true;
  o.dir = dir;
  auto site = std::make_unique<SiteBaseline>(o);
  for (int i = 0; i < 300; ++i) {
    site->observe(web(i, kT0 + i * 200 * kMs));
    (void)site->take_ready();
  }
  EXPECT_TRUE(site->ready());
  site->wait_saved();  // a synchronous fit saves on a thread of its own
  return site;
}

MlDetectorOptions replay_options() {
  MlDetectorOptions o;
  o.live = false;
  o.batch = 16;
  return o;
}

TEST(MlFlowDetector, GivesEvidenceAboutTheInitiatorOfAnAnomalousFlow) {
  auto site = learned_on_web();
  Verdicts sink;
  MlFlowDetector ml(replay_options(), &sink, site.get(), {});
  std::vector<Evidence> out;
  for (int i = 0; i < 10; ++i) ml.on_flow_finished(web(500 + i, kT0 + 100 * kSec), out);
  ml.on_flow_finished(odd(50000, kT0 + 100 * kSec), out);
  ml.flush(out);
  ASSERT_EQ(out.size(), 1u);
  const Evidence& e = out[0];
  EXPECT_EQ(e.kind, kind::kFlowAnomaly);
  EXPECT_EQ(e.detector, "flow_scorer");
  EXPECT_EQ(e.host, ip("10.0.0.70"));
  EXPECT_EQ(e.role, Role::kAttacker);
  EXPECT_EQ(e.peer, ip("10.0.0.1"));
  EXPECT_EQ(e.port, 4444);
  EXPECT_EQ(e.threat, Severity::kMedium);
  EXPECT_GT(e.confidence, 0);
  EXPECT_LE(e.confidence, 1);
  EXPECT_EQ(e.subject, FlowRef::of(odd(50000, kT0 + 100 * kSec)).hash());
  ASSERT_EQ(sink.seen.size(), 11u);  // every finished flow, in order
  EXPECT_TRUE(sink.seen[10].evidence);
  EXPECT_FALSE(sink.seen[0].evidence);
  EXPECT_EQ(ml.ml_stats().with_evidence, 1u);
}

TEST(MlFlowDetector, LeavesOnePacketFlowsAndOrdinaryTrafficUnscored) {
  auto site = learned_on_web();
  Verdicts sink;
  MlFlowDetector ml(replay_options(), &sink, site.get(), {});
  std::vector<Evidence> out;
  auto syn = flow_of(ip("172.16.0.9"), 1234, ip("10.0.0.5"), 80, 6, kT0, 0, {{+1, kSyn}});
  ml.on_flow_finished(syn, out);
  auto dhcp = udp_flow(ip("0.0.0.0"), 68, ip("255.255.255.255"), 67, kT0, kSec, 4);
  dhcp.packet_count = 4;
  ml.on_flow_finished(dhcp, out);
  ml.flush(out);
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(sink.seen.size(), 2u);
  EXPECT_FALSE(sink.seen[0].scored);
  EXPECT_NE(sink.seen[0].note.find("one packet"), std::string_view::npos);
  EXPECT_FALSE(sink.seen[1].scored);
  EXPECT_EQ(sink.seen[1].note, "DHCP");
  EXPECT_EQ(ml.ml_stats().one_packet, 1u);
  EXPECT_EQ(ml.ml_stats().ordinary, 1u);
}

TEST(MlFlowDetector, AFlowThisNetworksBaselineCallsTypicalGivesNoEvidenceFromTheGenericModel) {
  // The generic model knows only web sessions; this network also runs the trickle service.
  const fs::path dir = fs::temp_directory_path() / ("netsentry-ml-" + std::to_string(::getpid()));
  auto generic_site = learned_on_web(dir);
  auto generic = std::make_unique<ml::Bundle>(ml::Bundle::load(dir));
  SiteBaselineOptions o;
  o.learn_s = 30;
  o.refresh_s = 0;
  o.synchronous = true;
  SiteBaseline site(o);
  for (int i = 0; i < 400; ++i) {
    site.observe(i % 2 ? web(i, kT0 + i * 100 * kMs)
                       : odd(static_cast<std::uint16_t>(40000 + i), kT0 + i * 100 * kMs));
    (void)site.take_ready();
  }
  ASSERT_TRUE(site.ready());
  Verdicts sink;
  MlFlowDetector ml(replay_options(), &sink, &site, {});
  ml.set_model(std::move(generic), "generic");
  std::vector<Evidence> out;
  ml.on_flow_finished(odd(50000, kT0 + 100 * kSec), out);
  ml.flush(out);
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(sink.seen.size(), 1u);
  EXPECT_TRUE(sink.seen[0].anomalous);  // the generic model's verdict
  EXPECT_FALSE(sink.seen[0].evidence);
  EXPECT_NE(sink.seen[0].note.find("typical of this network"), std::string_view::npos);
  EXPECT_EQ(ml.ml_stats().typical_here, 1u);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(MlFlowDetector, WhileTheSiteBaselineLearnsAnEarlyVerdictGivesNoEvidenceButTheFinalOneDoes) {
  // The generic model's verdict on part of a flow has nothing to check it against this network's
  // normal until the baseline is fitted; without a baseline (turned off) it stands alone.
  const fs::path dir =
      fs::temp_directory_path() / ("netsentry-ml-early-" + std::to_string(::getpid()));
  auto generic_site = learned_on_web(dir);
  SiteBaselineOptions o;
  o.learn_s = 600;
  o.refresh_s = 0;
  o.synchronous = true;
  SiteBaseline learning(o);
  for (SiteBaseline* site : {&learning, static_cast<SiteBaseline*>(nullptr)}) {
    SCOPED_TRACE(site != nullptr ? "baseline learning" : "no baseline");
    Verdicts sink;
    MlFlowDetector ml(replay_options(), &sink, site, {});
    ml.set_model(std::make_unique<ml::Bundle>(ml::Bundle::load(dir)), "generic");
    std::vector<Evidence> out;
    auto early = odd(50000, kT0);
    early.end_reason = flow::EndReason::kOngoing;
    ml.on_flow_progress(early, out);
    ml.flush(out);
    EXPECT_EQ(ml.ml_stats().early_scored, 1u);
    if (site != nullptr) {
      EXPECT_TRUE(out.empty()) << out.front().description;
      EXPECT_EQ(ml.ml_stats().early_held, 1u);
    } else {
      ASSERT_EQ(out.size(), 1u);
      EXPECT_NE(out[0].description.find("(after 240 packets)"), std::string::npos);
      EXPECT_EQ(ml.ml_stats().early_held, 0u);
    }
    out.clear();
    ml.on_flow_finished(odd(50000, kT0), out);
    ml.flush(out);
    ASSERT_EQ(out.size(), 1u);  // the final verdict
    EXPECT_EQ(out[0].description.find("(after"), std::string::npos) << out[0].description;
    ASSERT_EQ(sink.seen.size(), 1u);
    EXPECT_TRUE(sink.seen[0].evidence);
  }
  EXPECT_FALSE(learning.ready());
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// What a replay hands the detector: early reports of web sessions and odd trickles, each flow
// ending five reports later, so batch boundaries decide which early reports are superseded.
struct ReplayRun {
  std::vector<Evidence> evidence;
  Verdicts sink;
  MlDetectorStats stats;
};
void feed(MlFlowDetector& ml, ReplayRun& run, const std::function<void()>& between = {}) {
  const auto flow_of_index = [](int i) {
    // 100 ms apart, each over within 50 ms (the trickles' features still say two minutes): the
    // batches are cut by their size (16), not by their span of packet time.
    auto r = i % 7 == 3 ? odd(static_cast<std::uint16_t>(50000 + i), kT0 + i * 100 * kMs)
                        : web(i, kT0 + i * 100 * kMs);
    r.end_ns = r.start_ns + 50 * kMs;
    return r;
  };
  for (int i = 0; i < 60; ++i) {
    auto early = flow_of_index(i);
    early.end_reason = flow::EndReason::kOngoing;
    ml.on_flow_progress(early, run.evidence);
    if (i >= 5) ml.on_flow_finished(flow_of_index(i - 5), run.evidence);
    if (between) between();
  }
  ml.flush(run.evidence);
  run.stats = ml.ml_stats();
}

TEST(MlFlowDetector, AReplayWaitingForItsBundleScoresTheSameBatchesAsOneThatHadIt) {
  const fs::path dir =
      fs::temp_directory_path() / ("netsentry-ml-await-" + std::to_string(::getpid()));
  (void)learned_on_web(dir);

  ReplayRun had;
  MlFlowDetector loaded(replay_options(), &had.sink, nullptr, {});
  loaded.set_model(std::make_unique<ml::Bundle>(ml::Bundle::load(dir)), "generic");
  feed(loaded, had);

  // The bundle arrives only when the first batch falls due: until then flows queue unscored.
  ReplayRun waited;
  MlFlowDetector waiting(replay_options(), &waited.sink, nullptr, {});
  waiting.set_waiting(true);
  int awaited = 0;
  std::size_t pending_when_awaited = 0;
  waiting.set_await([&] {
    ++awaited;
    pending_when_awaited = waiting.pending();
    waiting.set_model(std::make_unique<ml::Bundle>(ml::Bundle::load(dir)), "generic");
  });
  feed(waiting, waited);

  EXPECT_EQ(awaited, 1);
  EXPECT_EQ(pending_when_awaited, replay_options().batch);
  ASSERT_GT(had.stats.early_superseded, 0u);
  ASSERT_GT(had.evidence.size(), 0u);
  EXPECT_EQ(waited.stats.early_scored, had.stats.early_scored);
  EXPECT_EQ(waited.stats.early_superseded, had.stats.early_superseded);
  EXPECT_EQ(waited.stats.scored, had.stats.scored);
  EXPECT_EQ(waited.stats.with_evidence, had.stats.with_evidence);
  ASSERT_EQ(waited.evidence.size(), had.evidence.size());
  for (std::size_t i = 0; i < had.evidence.size(); ++i) {
    EXPECT_EQ(waited.evidence[i].subject, had.evidence[i].subject) << i;
    EXPECT_EQ(waited.evidence[i].description, had.evidence[i].description) << i;
    EXPECT_DOUBLE_EQ(waited.evidence[i].confidence, had.evidence[i].confidence) << i;
  }
  ASSERT_EQ(waited.sink.seen.size(), had.sink.seen.size());
  for (std::size_t i = 0; i < had.sink.seen.size(); ++i) {
    EXPECT_EQ(waited.sink.seen[i].score, had.sink.seen[i].score) << i;
    EXPECT_EQ(waited.sink.seen[i].evidence, had.sink.seen[i].evidence) << i;
  }

  // Without a replay's await (live), the queue just grows until the bundle is set.
  ReplayRun live;
  MlFlowDetector unawaited(replay_options(), &live.sink, nullptr, {});
  unawaited.set_waiting(true);
  for (int i = 0; i < 40; ++i) unawaited.on_flow_finished(web(i, kT0 + i * kSec), live.evidence);
  EXPECT_EQ(unawaited.pending(), 40u);
  EXPECT_TRUE(live.sink.seen.empty());
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(MlFlowDetector, ScoresAFlowEarlyOnceAndItsFinalVerdictIsTheSameSubject) {
  auto site = learned_on_web();
  Verdicts sink;
  MlFlowDetector ml(replay_options(), &sink, site.get(), {});
  std::vector<Evidence> out;
  auto early = odd(50000, kT0);
  early.end_reason = flow::EndReason::kOngoing;
  ml.on_flow_progress(early, out);
  ml.on_flow_progress(early, out);  // a later progress report of the same flow: not again
  ml.flush(out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].description.find("(after 240 packets)"), std::string::npos)
      << out[0].description;
  EXPECT_EQ(ml.ml_stats().early_scored, 1u);
  EXPECT_TRUE(sink.seen.empty());  // progress reports are not finished flows
  ml.on_flow_finished(odd(50000, kT0), out);
  ml.flush(out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].subject, out[1].subject);
  ASSERT_EQ(sink.seen.size(), 1u);
  EXPECT_TRUE(sink.seen[0].evidence);
  EXPECT_EQ(ml.ml_stats().with_evidence, 1u);  // one flow, whatever its verdicts
}

TEST(MlFlowDetector, EveryBatchHandsTheSinkItsOwnFlowsWithTheirOwnVerdicts) {
  // Batches of 16 (replay_options): the second and third batches reuse the first one's scratch,
  // and must not see its flows or verdicts.
  auto site = learned_on_web();
  Verdicts sink;
  MlFlowDetector ml(replay_options(), &sink, site.get(), {});
  std::vector<Evidence> out;
  std::vector<bool> anomalous_sent;
  for (int i = 0; i < 40; ++i) {
    const std::int64_t t = kT0 + 100 * kSec + i * kMs;
    if (i % 7 == 3) {
      ml.on_flow_finished(odd(static_cast<std::uint16_t>(50000 + i), t), out);
      anomalous_sent.push_back(true);
    } else if (i % 5 == 1) {
      ml.on_flow_finished(flow_of(ip("172.16.0.9"), static_cast<std::uint16_t>(1000 + i),
                                  ip("10.0.0.5"), 80, 6, t, 0, {{+1, kSyn}}),
                          out);
      anomalous_sent.push_back(false);
    } else {
      ml.on_flow_finished(web(600 + i, t), out);
      anomalous_sent.push_back(false);
    }
  }
  ml.flush(out);
  ASSERT_EQ(sink.records.size(), 40u);
  std::size_t odd_flows = 0;
  for (std::size_t i = 0; i < sink.records.size(); ++i) {
    const bool is_odd = sink.records[i].dst_port == 4444;
    const bool one_packet = sink.records[i].packet_count == 1;
    EXPECT_EQ(is_odd, anomalous_sent[i]) << "flow " << i << " out of order";
    EXPECT_EQ(sink.seen[i].evidence, is_odd) << "flow " << i;
    EXPECT_EQ(sink.seen[i].scored, !one_packet) << "flow " << i;
    odd_flows += is_odd;
  }
  EXPECT_EQ(out.size(), odd_flows);
  EXPECT_EQ(ml.ml_stats().with_evidence, odd_flows);
  EXPECT_EQ(ml.ml_stats().finished, 40u);
}

TEST(MlFlowDetector, AnEarlyReportOfAFlowThatEndsInTheSameBatchIsNotScored) {
  auto site = learned_on_web();
  Verdicts sink;
  MlFlowDetector ml(replay_options(), &sink, site.get(), {});
  std::vector<Evidence> out;
  auto early = odd(50000, kT0);
  early.end_reason = flow::EndReason::kOngoing;
  ml.on_flow_progress(early, out);
  // Another flow's early report, whose flow does not end in this batch: scored early.
  auto other = odd(50001, kT0);
  other.end_reason = flow::EndReason::kOngoing;
  ml.on_flow_progress(other, out);
  ml.on_flow_finished(odd(50000, kT0), out);
  ml.flush(out);
  EXPECT_EQ(ml.ml_stats().early_superseded, 1u);
  EXPECT_EQ(ml.ml_stats().early_scored, 1u);
  ASSERT_EQ(out.size(), 2u);  // the other flow's early evidence and the finished flow's
  EXPECT_NE(out[0].description.find("(after 240 packets)"), std::string::npos);
  EXPECT_EQ(out[0].subject, FlowRef::of(other).hash());
  EXPECT_EQ(out[1].description.find("(after"), std::string::npos);
  ASSERT_EQ(sink.seen.size(), 1u);
  EXPECT_TRUE(sink.seen[0].evidence);
  EXPECT_EQ(ml.ml_stats().with_evidence, 1u);
}

TEST(MlFlowDetector, TheSiteBaselineLearnsOnlyFromHostsItMay) {
  SiteBaselineOptions o;
  o.learn_s = 30;
  o.refresh_s = 0;
  o.synchronous = true;
  SiteBaseline site(o);
  Verdicts sink;
  // 10.0.0.10 has an engaged alert: its flows must not teach the baseline.
  MlFlowDetector ml(replay_options(), &sink, &site,
                    [](const net::IpAddress& host) { return !(host == ip("10.0.0.10")); });
  std::vector<Evidence> out;
  for (int i = 0; i < 600; ++i) {
    auto f = web(i, kT0 + i * 50 * kMs);
    f.src_ip = ip("10.0.0.10");
    ml.on_flow_finished(f, out);
  }
  ml.flush(out);
  EXPECT_FALSE(site.ready());
  for (int i = 0; i < 800; ++i) ml.on_flow_finished(web(i, kT0 + 30 * kSec + i * 50 * kMs), out);
  ml.flush(out);
  EXPECT_TRUE(site.ready());
}

}  // namespace
}  // namespace netsentry::detect
