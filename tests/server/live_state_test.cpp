#include "server/live_state.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <thread>

namespace netsentry::server {
namespace {

constexpr std::int64_t kT0 = 1'700'000'000'000;  // ms since the epoch

TrafficPoint point(std::int64_t t, std::string interface, double sent, double recv) {
  TrafficPoint p;
  p.time_ms = t;
  p.interface = std::move(interface);
  p.bytes_sent = sent;
  p.bytes_recv = recv;
  return p;
}

detect::Alert make_alert(detect::Severity severity, std::string reason = "test") {
  detect::Alert a;
  a.time_ns = kT0 * 1'000'000;
  a.last_ns = a.time_ns;
  a.severity = severity;
  a.kind = std::string(detect::kind::kPortScan);
  a.reason = std::move(reason);
  return a;
}

FlowRow flow(std::string src, std::uint16_t port, std::uint64_t bytes, std::int64_t first,
             std::int64_t last, std::optional<float> score = std::nullopt) {
  FlowRow f;
  f.src_ip = std::move(src);
  f.dst_ip = "10.0.0.1";
  f.dst_port = port;
  f.protocol = "TCP";
  f.bytes = bytes;
  f.packets = bytes / 100;
  f.first_ms = first;
  f.last_ms = last;
  f.score = score;
  return f;
}

TEST(LiveState, AccumulatesByteTotalsFromTheTotalSeriesOnly) {
  LiveState state;
  TrafficPoint p = point(kT0, "total", 100, 200);
  p.interval_s = 2;
  state.add_traffic(p);
  state.add_traffic(point(kT0, "eth0", 1000, 1000));  // an interface is already in the total
  const Stats s = state.stats();
  EXPECT_DOUBLE_EQ(s.bytes_sent_total, 200);
  EXPECT_DOUBLE_EQ(s.bytes_recv_total, 400);
  EXPECT_DOUBLE_EQ(s.bytes_sent_per_second, 100);
  EXPECT_EQ(s.time_ms, kT0);
  EXPECT_EQ(s.interfaces, (std::vector<std::string>{"total", "eth0"}));
}

TEST(LiveState, ListsTotalFirstEvenWhenAnInterfaceArrivesFirst) {
  LiveState state;
  state.add_traffic(point(kT0, "wlan0", 1, 1));
  state.add_traffic(point(kT0, "total", 1, 1));
  EXPECT_EQ(state.stats().interfaces, (std::vector<std::string>{"total", "wlan0"}));
}

TEST(LiveState, TrafficReturnsPointsSinceOldestFirstCappedToTheNewest) {
  LiveState state;
  for (int i = 0; i < 10; ++i) state.add_traffic(point(kT0 + i * 1000, "total", i, 0));
  const auto since = state.traffic(kT0 + 5000, "total", 100);
  ASSERT_EQ(since.size(), 5U);
  EXPECT_EQ(since.front().time_ms, kT0 + 5000);
  EXPECT_EQ(since.back().time_ms, kT0 + 9000);
  const auto capped = state.traffic(0, "total", 3);
  ASSERT_EQ(capped.size(), 3U);
  EXPECT_EQ(capped.front().time_ms, kT0 + 7000);
  EXPECT_TRUE(state.traffic(0, "eth9", 100).empty());
}

TEST(LiveState, OlderTrafficComesFromMinuteAverages) {
  LiveStateOptions options;
  options.traffic_points = 60;
  LiveState state(options);
  const std::int64_t start = (kT0 / 60'000) * 60'000;  // on a minute boundary
  // Five minutes at 1 s; minute m has bytes_sent == m for every point.
  for (int s = 0; s < 300; ++s) state.add_traffic(point(start + s * 1000, "total", s / 60, 0));
  const auto all = state.traffic(0, "total", 10'000);
  // Full-resolution ring: the last 60 s (minute 4); averages cover minutes 0..3 before it.
  ASSERT_EQ(all.size(), 4U + 60U);
  for (int m = 0; m < 4; ++m) {
    EXPECT_EQ(all[m].time_ms, start + m * 60'000);
    EXPECT_DOUBLE_EQ(all[m].bytes_sent, m);
    EXPECT_DOUBLE_EQ(all[m].interval_s, 60);
  }
  EXPECT_EQ(all[4].time_ms, start + 240'000);
}

TEST(LiveState, DropsOutOfOrderTrafficAndEmitsNoEventForIt) {
  LiveState state;
  state.add_traffic(point(kT0 + 1000, "total", 1, 1));
  state.add_traffic(point(kT0, "total", 5, 5));
  EXPECT_EQ(state.traffic(0, "total", 10).size(), 1U);
  EXPECT_EQ(state.events_since(0, 10).events.size(), 1U);
}

TEST(LiveState, IgnoresInterfacesBeyondTheCap) {
  LiveStateOptions options;
  options.max_interfaces = 2;
  LiveState state(options);
  state.add_traffic(point(kT0, "total", 1, 1));
  state.add_traffic(point(kT0, "eth0", 1, 1));
  state.add_traffic(point(kT0, "eth1", 1, 1));
  EXPECT_EQ(state.stats().interfaces.size(), 2U);
  EXPECT_TRUE(state.traffic(0, "eth1", 10).empty());
}

TEST(LiveState, SplitsAMonitorSampleIntoTotalAndInterfaces) {
  LiveState state;
  host::TrafficSample sample;
  sample.timestamp = std::chrono::system_clock::time_point(std::chrono::milliseconds(kT0));
  sample.interval_seconds = 1;
  sample.total.name = "total";
  sample.total.bytes_sent = 30;
  host::InterfaceRates eth0;
  eth0.name = "eth0";
  eth0.bytes_sent = 10;
  host::InterfaceRates lo;
  lo.name = "lo";
  lo.bytes_sent = 20;
  sample.interfaces = {eth0, lo};
  state.add_traffic_sample(sample);
  EXPECT_EQ(state.stats().interfaces, (std::vector<std::string>{"total", "eth0", "lo"}));
  ASSERT_EQ(state.traffic(0, "lo", 10).size(), 1U);
  EXPECT_DOUBLE_EQ(state.traffic(0, "lo", 10)[0].bytes_sent, 20);
  EXPECT_EQ(state.traffic(0, "lo", 10)[0].time_ms, kT0);
  EXPECT_DOUBLE_EQ(state.stats().bytes_sent_total, 30);
}

TEST(LiveState, AssignsIncreasingAlertIdsAndKeepsIdsFromTheStore) {
  LiveState state;
  EXPECT_EQ(state.add_alert(make_alert(detect::Severity::kLow)), 1);
  detect::Alert stored = make_alert(detect::Severity::kLow);
  stored.id = 41;
  EXPECT_EQ(state.add_alert(stored), 41);
  EXPECT_EQ(state.add_alert(make_alert(detect::Severity::kLow)), 42);
  ASSERT_TRUE(state.alert(41).has_value());
  EXPECT_FALSE(state.alert(7).has_value());
}

TEST(LiveState, FiltersAlertsBySeveritySinceIdNewestFirst) {
  LiveState state;
  state.add_alert(make_alert(detect::Severity::kLow));
  state.add_alert(make_alert(detect::Severity::kHigh));
  state.add_alert(make_alert(detect::Severity::kCritical));
  state.add_alert(make_alert(detect::Severity::kMedium));
  const auto high = state.alerts(0, detect::Severity::kHigh, 100);
  ASSERT_EQ(high.size(), 2U);
  EXPECT_EQ(high[0].id, 3);
  EXPECT_EQ(high[1].id, 2);
  const auto newer = state.alerts(2, std::nullopt, 100);
  ASSERT_EQ(newer.size(), 2U);
  EXPECT_EQ(newer[0].id, 4);
  EXPECT_EQ(state.alerts(0, std::nullopt, 1).size(), 1U);
  const Stats s = state.stats();
  EXPECT_EQ(s.alerts_total, 4U);
  EXPECT_EQ(s.alerts_by_severity[static_cast<int>(detect::Severity::kHigh)], 1U);
}

TEST(LiveState, AcknowledgeMarksTheAlertAndPublishesAnAckEvent) {
  LiveState state;
  const auto id = state.add_alert(make_alert(detect::Severity::kHigh));
  EXPECT_EQ(state.stats().alerts_unacknowledged, 1U);
  EXPECT_TRUE(state.acknowledge(id));
  EXPECT_FALSE(state.acknowledge(id + 100));
  EXPECT_TRUE(state.alert(id)->acknowledged);
  EXPECT_EQ(state.stats().alerts_unacknowledged, 0U);
  const auto batch = state.events_since(0, 10);
  ASSERT_EQ(batch.events.size(), 2U);
  EXPECT_EQ(batch.events[1].type, "ack");
  EXPECT_EQ(nlohmann::json::parse(batch.events[1].data)["id"], id);
}

TEST(LiveState, RingsStayWithinTheirCapacities) {
  LiveStateOptions options;
  options.alerts = 5;
  options.flows = 7;
  options.events = 9;
  options.timeline_points = 4;
  LiveState state(options);
  for (int i = 0; i < 50; ++i) {
    state.add_alert(make_alert(detect::Severity::kLow));
    state.add_flow(flow("10.0.0.2", 80, 100, kT0 + i, kT0 + i));
    state.add_score({kT0 + i, 0.5F, 0.9F, 0});
  }
  EXPECT_EQ(state.alerts(0, std::nullopt, 1000).size(), 5U);
  EXPECT_EQ(state.alerts(0, std::nullopt, 1000).back().id, 46);  // the oldest kept
  EXPECT_EQ(state.flows(1000, FlowSort::kLast).size(), 7U);
  EXPECT_EQ(state.timeline(0, 1000).size(), 4U);
  const auto batch = state.events_since(0, 1000);
  EXPECT_EQ(batch.events.size(), 9U);
  EXPECT_EQ(batch.last_seq, 100U);  // 50 alerts + 50 score points
  EXPECT_EQ(state.stats().alerts_total, 50U);
}

TEST(LiveState, SortsFlowsByTheRequestedKey) {
  LiveState state;
  state.add_flow(flow("a", 1, 500, kT0, kT0 + 100, 0.2F));
  state.add_flow(flow("b", 2, 100, kT0, kT0 + 9000, std::nullopt));
  state.add_flow(flow("c", 3, 900, kT0 + 500, kT0 + 600, 0.9F));
  EXPECT_EQ(state.flows(10, FlowSort::kBytes)[0].src_ip, "c");
  EXPECT_EQ(state.flows(10, FlowSort::kScore)[0].src_ip, "c");
  EXPECT_EQ(state.flows(10, FlowSort::kScore)[2].src_ip, "b");  // unscored last
  EXPECT_EQ(state.flows(10, FlowSort::kDuration)[0].src_ip, "b");
  EXPECT_EQ(state.flows(10, FlowSort::kLast)[0].src_ip, "b");
  EXPECT_EQ(state.flows(10, FlowSort::kPackets)[0].src_ip, "c");
  EXPECT_EQ(state.flows(2, FlowSort::kBytes).size(), 2U);
}

TEST(LiveState, TopTablesRankByBytesAndStayBounded) {
  LiveStateOptions options;
  options.top_keys = 64;
  LiveState state(options);
  state.add_flow(flow("192.168.1.10", 443, 1'000'000, kT0, kT0));
  state.add_flow(flow("192.168.1.10", 443, 1'000'000, kT0, kT0));
  // A scan: many sources, tiny flows, each a new key.
  for (int i = 0; i < 1000; ++i) {
    state.add_flow(flow("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250),
                        static_cast<std::uint16_t>(1000 + i), 60, kT0, kT0));
  }
  const TopLists top = state.top(5);
  ASSERT_EQ(top.talkers.size(), 5U);
  EXPECT_EQ(top.talkers[0].key, "192.168.1.10");
  EXPECT_EQ(top.talkers[0].bytes, 2'000'000U);
  EXPECT_EQ(top.talkers[0].flows, 2U);
  EXPECT_EQ(top.ports[0].key, "443/TCP");
  ASSERT_EQ(top.protocols.size(), 1U);
  EXPECT_EQ(top.protocols[0].key, "TCP");
  EXPECT_LE(state.top(10'000).talkers.size(), 65U);
  EXPECT_LE(state.top(10'000).ports.size(), 65U);
}

TEST(LiveState, EventsSinceReportsAGapWhenTheRingWasOverrun) {
  LiveStateOptions options;
  options.events = 4;
  LiveState state(options);
  for (int i = 0; i < 10; ++i) state.add_traffic(point(kT0 + i * 1000, "total", i, 0));
  const auto late = state.events_since(2, 100);
  EXPECT_TRUE(late.gap);
  ASSERT_EQ(late.events.size(), 4U);
  EXPECT_EQ(late.events.front().seq, 7U);
  const auto current = state.events_since(6, 100);
  EXPECT_FALSE(current.gap);
  EXPECT_EQ(current.events.size(), 4U);
  const auto capped = state.events_since(6, 1);
  ASSERT_EQ(capped.events.size(), 1U);
  EXPECT_EQ(capped.events[0].seq, 7U);
  EXPECT_EQ(capped.last_seq, 10U);
  // A seq from an earlier run of the server (higher than anything here) is a gap too.
  EXPECT_TRUE(state.events_since(500, 100).gap);
  EXPECT_TRUE(state.events_since(10, 100).events.empty());
  EXPECT_FALSE(state.events_since(10, 100).gap);
}

TEST(LiveState, EventsCarryTheApiJson) {
  LiveState state;
  state.add_traffic(point(kT0, "total", 12, 34));
  state.add_alert(make_alert(detect::Severity::kCritical, "<script>alert(1)</script>"));
  PipelineStatus status;
  status.packets_total = 77;
  state.set_pipeline(status);
  const auto batch = state.events_since(0, 10);
  ASSERT_EQ(batch.events.size(), 3U);
  EXPECT_EQ(batch.events[0].type, "traffic");
  EXPECT_EQ(nlohmann::json::parse(batch.events[0].data)["bytes_recv"], 34.0);
  EXPECT_EQ(batch.events[1].type, "alert");
  const auto alert = nlohmann::json::parse(batch.events[1].data);
  EXPECT_EQ(alert["severity"], "CRITICAL");
  EXPECT_EQ(alert["reason"], "<script>alert(1)</script>");
  EXPECT_EQ(alert["time"], kT0);
  EXPECT_EQ(batch.events[2].type, "stats");
  const auto stats = nlohmann::json::parse(batch.events[2].data);
  EXPECT_EQ(stats["packets_total"], 77);
  EXPECT_EQ(stats["event_seq"], 3);
}

TEST(LiveState, WaitForEventsWakesWhenAnEventArrives) {
  LiveState state;
  std::jthread feeder([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    state.add_traffic(point(kT0, "total", 1, 1));
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(state.wait_for_events(0, std::chrono::seconds(10), {}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(LiveState, WaitForEventsReturnsOnStopAndTimeout) {
  LiveState state;
  EXPECT_FALSE(state.wait_for_events(0, std::chrono::milliseconds(20), {}));
  std::stop_source stop;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(state.wait_for_events(0, std::chrono::seconds(30), stop.get_token()));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(LiveState, FlowRowCarriesTheRecordAndItsScore) {
  flow::FlowRecord record;
  record.start_ns = kT0 * 1'000'000;
  record.end_ns = (kT0 + 2500) * 1'000'000;
  ASSERT_TRUE(net::IpAddress::parse("10.0.0.5", record.src_ip));
  ASSERT_TRUE(net::IpAddress::parse("2001:db8::1", record.dst_ip));
  record.src_port = 51000;
  record.dst_port = 22;
  record.ip_proto = 6;
  record.packet_count = 12;
  record.byte_count = 3400;
  const FlowRow row = flow_row(record, 0.75F, true);
  EXPECT_EQ(row.first_ms, kT0);
  EXPECT_EQ(row.last_ms, kT0 + 2500);
  EXPECT_EQ(row.src_ip, "10.0.0.5");
  EXPECT_EQ(row.dst_ip, "2001:db8::1");
  EXPECT_EQ(row.protocol, "TCP");
  EXPECT_EQ(row.bytes, 3400U);
  EXPECT_EQ(row.score, 0.75F);
  EXPECT_TRUE(row.anomalous);
}

TEST(ParseFlowSort, AcceptsTheDocumentedKeysOnly) {
  EXPECT_EQ(parse_flow_sort("bytes"), FlowSort::kBytes);
  EXPECT_EQ(parse_flow_sort("score"), FlowSort::kScore);
  EXPECT_EQ(parse_flow_sort("last"), FlowSort::kLast);
  EXPECT_FALSE(parse_flow_sort("Bytes").has_value());
  EXPECT_FALSE(parse_flow_sort("").has_value());
}

}  // namespace
}  // namespace netsentry::server

namespace netsentry::server {
namespace {

TEST(LiveState, AnUpdateWithTheSameIdReplacesTheAlert) {
  LiveState state;
  detect::Alert a;
  a.id = 7;
  a.kind = "port_scan";
  a.count = 1;
  a.time_ns = 1'700'000'000'000'000'000;
  state.add_alert(a);
  a.count = 40;
  state.add_alert(a);
  const auto all = state.alerts(0, std::nullopt, 100);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].count, 40u);
  EXPECT_EQ(state.stats().alerts_total, 1u);
}

}  // namespace
}  // namespace netsentry::server

namespace netsentry::server {
namespace {

TEST(LiveState, AcknowledgingTellsTheListenerOnlyForKeptAlerts) {
  LiveState state;
  std::vector<std::int64_t> told;
  state.set_ack_listener([&told](std::int64_t id) { told.push_back(id); });
  detect::Alert a;
  a.id = 11;
  a.kind = "port_scan";
  state.add_alert(a);
  EXPECT_TRUE(state.acknowledge(11));
  EXPECT_FALSE(state.acknowledge(12));
  EXPECT_EQ(told, std::vector<std::int64_t>{11});
  EXPECT_TRUE(state.alert(11)->acknowledged);
}

}  // namespace
}  // namespace netsentry::server
