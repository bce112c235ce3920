#include "server/store_source.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "server/http_lib.h"
#include "server/http_server.h"
#include "store/sqlite_store.h"

namespace netsentry::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kT0 = 1'795'477'501 * kSecond;  // an odd second: 2 s buckets split 1 + 2
constexpr std::int64_t kT0Ms = kT0 / 1'000'000;

net::IpAddress ip(const char* text) {
  net::IpAddress address;
  EXPECT_TRUE(net::IpAddress::parse(text, address)) << text;
  return address;
}

// Second i: total sends 1000 * (i + 1) bytes/s, eth0 and lo split it.
host::TrafficSample sample_at(int i) {
  host::TrafficSample sample;
  sample.timestamp = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(kT0 + i * kSecond)));
  sample.interval_seconds = 1;
  const double sent = 1000.0 * (i + 1);
  sample.total = {"total", sent, 2 * sent, 10, 20, 0, 0, 0, 0};
  sample.interfaces = {{"eth0", sent - 100, 2 * sent - 100, 7, 15, 0, 0, 0, 0},
                       {"lo", 100, 100, 3, 5, 0, 0, 0, 0}};
  return sample;
}

store::FlowRow flow(std::int64_t end_ns, const char* src, std::uint16_t dst_port,
                    std::uint64_t bytes, float score, int voters = 4) {
  store::FlowRow row;
  row.start_ns = end_ns - 2 * kSecond;
  row.end_ns = end_ns;
  row.src_ip = ip(src);
  row.dst_ip = ip("10.0.0.5");
  row.src_port = 40000;
  row.dst_port = dst_port;
  row.ip_proto = dst_port == 53 ? 17 : 6;
  row.packets = bytes / 100;
  row.bytes = bytes;
  row.duration_s = 2;
  row.score = score;
  row.voters = voters;
  row.votes = score > 0.5f ? voters : 0;
  row.verdict = voters == 0 ? "unscored" : score > 0.5f ? "anomaly" : "benign";
  return row;
}

detect::Alert alert_at(std::int64_t time_ns, detect::Severity severity) {
  detect::Alert alert;
  alert.time_ns = time_ns;
  alert.last_ns = time_ns;
  alert.severity = severity;
  alert.kind = std::string(detect::kind::kPortScan);
  alert.src_ip = ip("10.66.0.10");
  alert.dst_ip = ip("10.0.0.5");
  alert.protocol = "TCP";
  alert.score = 0.9f;
  alert.count = 3;
  alert.reason = "<script>512 ports probed</script>";
  alert.models = {{"random_forest", 0.97f, 0.5f, true}};
  alert.features = {{"distinct_ports", 512, 4, 38.2}};
  return alert;
}

host::ConnectionEvent socket_event(host::ConnectionEventKind kind, std::uint16_t port,
                                   host::SocketState state, int pid, const char* process) {
  host::ConnectionEvent event;
  event.kind = kind;
  event.connection.socket.transport = host::Transport::kTcp;
  event.connection.socket.local = {host::IpAddress{}, port};
  event.connection.socket.local.ip.bytes = {127, 0, 0, 1};
  event.connection.socket.state = state;
  event.connection.pid = pid;
  event.connection.process = process;
  return event;
}

std::chrono::system_clock::time_point at(std::int64_t ns) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(ns)));
}

class StoreSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "netsentry-store-source-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    store::SqliteStoreOptions options;
    options.path = path();
    options.commit_interval = 10ms;
    store_ = std::make_unique<store::SqliteStore>(options);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  [[nodiscard]] fs::path path() const { return dir_ / "netsentry.db"; }

  // Three seconds of traffic, four flows (one unscored), one alert and a socket list that changed.
  void fill() {
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->add_traffic(sample_at(i)));
    std::vector<store::FlowRow> flows = {
        flow(kT0, "192.168.1.20", 443, 30000, 0.1f),
        flow(kT0 + kSecond, "192.168.1.20", 443, 5000, 0.3f),
        flow(kT0 + kSecond, "10.66.0.10", 22, 800, 0.95f),
        flow(kT0 + 2 * kSecond, "192.168.1.30", 53, 200, 0, /*voters=*/0)};
    ASSERT_TRUE(store_->add_flows(flows));
    alert_id_ = store_->add_alert(alert_at(kT0 + kSecond, detect::Severity::kHigh));
    ASSERT_GT(alert_id_, 0);
    const std::vector<host::ConnectionEvent> snapshot = {
        socket_event(host::ConnectionEventKind::kSnapshot, 22, host::SocketState::kListen, 812,
                     "sshd"),
        socket_event(host::ConnectionEventKind::kSnapshot, 631, host::SocketState::kListen, -1,
                     "")};
    ASSERT_TRUE(store_->add_connections(at(kT0), snapshot));
    const std::vector<host::ConnectionEvent> changes = {
        socket_event(host::ConnectionEventKind::kClosed, 631, host::SocketState::kListen, -1, ""),
        socket_event(host::ConnectionEventKind::kOpened, 8050, host::SocketState::kListen, 99,
                     "netsentry")};
    ASSERT_TRUE(store_->add_connections(at(kT0 + kSecond), changes));
    store_->flush();
  }

  fs::path dir_;
  std::unique_ptr<store::SqliteStore> store_;
  std::int64_t alert_id_ = 0;
};

std::vector<std::string> types_of(const EventBatch& batch) {
  std::vector<std::string> types;
  for (const Event& e : batch.events) types.push_back(e.type);
  return types;
}

TEST_F(StoreSourceTest, ServesStatsTrafficAndInterfacesFromTheStore) {
  fill();
  StoreSource source(path());
  const Stats stats = source.stats();
  // 1000 + 2000 + 3000 bytes/s, each row covering one second.
  EXPECT_DOUBLE_EQ(stats.bytes_sent_total, 6000);
  EXPECT_DOUBLE_EQ(stats.bytes_recv_total, 12000);
  EXPECT_DOUBLE_EQ(stats.bytes_sent_per_second, 3000);
  EXPECT_EQ(stats.pipeline.packets_total, 90u);
  EXPECT_EQ(stats.pipeline.flows_total, 4u);
  EXPECT_EQ(stats.time_ms, kT0Ms + 2000);
  EXPECT_EQ(stats.interfaces, (std::vector<std::string>{"total", "eth0", "lo"}));
  EXPECT_EQ(stats.alerts_total, 1u);
  EXPECT_EQ(stats.alerts_by_severity[static_cast<int>(detect::Severity::kHigh)], 1u);
  EXPECT_EQ(stats.alerts_unacknowledged, 1u);
  EXPECT_EQ(stats.event_seq, 0u);  // the stream starts at the store's state, no history replay

  const auto eth0 = source.traffic(0, "eth0", 100);
  ASSERT_EQ(eth0.size(), 3u);
  EXPECT_EQ(eth0[0].time_ms, kT0Ms);
  EXPECT_EQ(eth0[0].interface, "eth0");
  EXPECT_DOUBLE_EQ(eth0[2].bytes_sent, 2900);
  EXPECT_DOUBLE_EQ(eth0[2].packets_recv, 15);
  EXPECT_EQ(source.traffic(kT0Ms + 1000, "total", 100).size(), 2u);
  EXPECT_TRUE(source.traffic(0, "wlan9", 100).empty());

  // Too many points for the limit: averages over whole-second buckets cover the whole range.
  const auto averaged = source.traffic(0, "total", 2);
  ASSERT_EQ(averaged.size(), 2u);
  EXPECT_EQ(averaged[0].time_ms, kT0Ms - 1000);  // the bucket [T0 - 1 s, T0 + 1 s)
  EXPECT_DOUBLE_EQ(averaged[0].bytes_sent, 1000);
  EXPECT_EQ(averaged[1].time_ms, kT0Ms + 1000);
  EXPECT_DOUBLE_EQ(averaged[1].bytes_sent, 2500);
  EXPECT_DOUBLE_EQ(averaged[1].interval_s, 2);
}

TEST_F(StoreSourceTest, ServesAlertsFlowsConnectionsTimelineAndTopLists) {
  fill();
  StoreSource source(path());

  const auto alerts = source.alerts(0, std::nullopt, 10);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].id, alert_id_);
  EXPECT_EQ(alerts[0].reason, "<script>512 ports probed</script>");
  ASSERT_EQ(alerts[0].models.size(), 1u);
  EXPECT_EQ(alerts[0].models[0].model, "random_forest");
  EXPECT_TRUE(source.alerts(0, detect::Severity::kCritical, 10).empty());
  EXPECT_TRUE(source.alerts(alert_id_, std::nullopt, 10).empty());
  ASSERT_TRUE(source.alert(alert_id_).has_value());
  EXPECT_EQ(source.alert(alert_id_)->features.at(0).feature, "distinct_ports");
  EXPECT_FALSE(source.alert(alert_id_ + 100).has_value());

  const auto by_bytes = source.flows(10, FlowSort::kBytes);
  ASSERT_EQ(by_bytes.size(), 4u);
  EXPECT_EQ(by_bytes[0].bytes, 30000u);
  EXPECT_EQ(by_bytes[0].protocol, "TCP");
  EXPECT_EQ(by_bytes[0].src_ip, "192.168.1.20");
  EXPECT_EQ(by_bytes[0].first_ms, kT0Ms - 2000);
  const auto by_score = source.flows(2, FlowSort::kScore);
  ASSERT_EQ(by_score.size(), 2u);
  EXPECT_FLOAT_EQ(by_score[0].score.value(), 0.95f);
  EXPECT_TRUE(by_score[0].anomalous);
  const auto newest = source.flows(1, FlowSort::kLast);
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0].protocol, "UDP");
  EXPECT_FALSE(newest[0].score.has_value());  // stored unscored
  EXPECT_FALSE(newest[0].anomalous);

  // The snapshot {22, 631}, then 631 closed and 8050 opened.
  const auto sockets = source.connections(100);
  ASSERT_EQ(sockets.size(), 2u);
  EXPECT_EQ(sockets[0].local_port, 22);
  EXPECT_EQ(sockets[0].process, "sshd");
  EXPECT_EQ(sockets[0].pid, 812);
  EXPECT_EQ(sockets[0].status, "LISTEN");
  EXPECT_EQ(sockets[0].type, "TCP");
  EXPECT_EQ(sockets[1].local_port, 8050);
  EXPECT_EQ(sockets[1].process, "netsentry");
  EXPECT_EQ(source.connections(1).size(), 1u);

  // The highest score per second of the scored flows; the alert's second carries its marker.
  const auto timeline = source.timeline(0, 100);
  ASSERT_EQ(timeline.size(), 2u);
  EXPECT_EQ(timeline[0].time_ms, kT0Ms);
  EXPECT_FLOAT_EQ(timeline[0].score, 0.1f);
  EXPECT_EQ(timeline[0].alert_id, 0);
  EXPECT_EQ(timeline[1].time_ms, kT0Ms + 1000);
  EXPECT_FLOAT_EQ(timeline[1].score, 0.95f);
  EXPECT_EQ(timeline[1].alert_id, alert_id_);
  EXPECT_TRUE(std::isnan(timeline[1].threshold));  // the store does not know the threshold
  EXPECT_EQ(source.timeline(0, 1).size(), 1u);

  const TopLists top = source.top(2);
  ASSERT_EQ(top.talkers.size(), 2u);
  EXPECT_EQ(top.talkers[0].key, "192.168.1.20");
  EXPECT_EQ(top.talkers[0].bytes, 35000u);
  EXPECT_EQ(top.talkers[0].flows, 2u);
  EXPECT_EQ(top.talkers[1].key, "10.66.0.10");
  ASSERT_EQ(top.ports.size(), 2u);
  EXPECT_EQ(top.ports[0].key, "443/TCP");
  EXPECT_EQ(top.ports[1].key, "22/TCP");
  ASSERT_EQ(top.protocols.size(), 2u);
  EXPECT_EQ(top.protocols[0].key, "TCP");
  EXPECT_EQ(top.protocols[1].key, "UDP");

  EXPECT_TRUE(source.models().models.empty());
}

TEST_F(StoreSourceTest, AcknowledgesInTheStoreWhileTheWriterRunsAndPublishesAnAck) {
  fill();
  StoreSource source(path());
  EXPECT_TRUE(source.acknowledge(alert_id_));
  EXPECT_TRUE(store_->reader().alert(alert_id_)->acknowledged);  // visible to the writer's side
  EXPECT_TRUE(source.alert(alert_id_)->acknowledged);
  EXPECT_EQ(source.stats().alerts_unacknowledged, 0u);
  const EventBatch batch = source.events_since(0, 10);
  ASSERT_EQ(batch.events.size(), 1u);
  EXPECT_EQ(batch.events[0].type, "ack");
  EXPECT_EQ(json::parse(batch.events[0].data), (json{{"id", alert_id_}}));
  EXPECT_FALSE(source.acknowledge(alert_id_ + 100));

  // The writer keeps working after the second connection wrote, and keeps the acknowledgement.
  detect::Alert update = alert_at(kT0 + kSecond, detect::Severity::kCritical);
  update.id = alert_id_;
  ASSERT_TRUE(store_->update_alert(update));
  store_->flush();
  EXPECT_TRUE(source.alert(alert_id_)->acknowledged);
  EXPECT_EQ(source.alert(alert_id_)->severity, detect::Severity::kCritical);
}

// The riskiest hosts from the store: each host's newest alert, engaged ones first; a host whose
// alert went past keeps its id as past_alert_id, so its row still leads to it.
TEST_F(StoreSourceTest, HostsNameTheEngagedAlertOrTheLatestPastOne) {
  detect::Alert quiet = alert_at(kT0, detect::Severity::kCritical);
  quiet.host = ip("10.66.0.10");
  quiet.state = detect::AlertState::kPast;
  const std::int64_t past_id = store_->add_alert(quiet);
  detect::Alert busy = alert_at(kT0 + kSecond, detect::Severity::kHigh);
  busy.host = busy.src_ip = ip("10.66.0.11");
  const std::int64_t engaged_id = store_->add_alert(busy);
  ASSERT_GT(past_id, 0);
  ASSERT_GT(engaged_id, 0);
  store_->flush();
  StoreSource source(path());
  const auto hosts = source.hosts(10);
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts[0].host, ip("10.66.0.11"));
  EXPECT_EQ(hosts[0].alert_id, engaged_id);
  EXPECT_EQ(hosts[0].past_alert_id, 0);
  EXPECT_EQ(hosts[1].host, ip("10.66.0.10"));
  EXPECT_EQ(hosts[1].alert_id, 0);
  EXPECT_EQ(hosts[1].past_alert_id, past_id);
}

TEST_F(StoreSourceTest, EventsDeliverRowsAddedAfterItStartedInOrder) {
  fill();
  StoreSourceOptions options;
  options.poll_interval = 0ms;
  StoreSource source(path(), options);
  EXPECT_TRUE(source.events_since(0, 100).events.empty());

  ASSERT_TRUE(store_->add_traffic(sample_at(3)));
  ASSERT_TRUE(store_->add_flow(flow(kT0 + 3 * kSecond, "10.66.0.10", 23, 900, 0.8f)));
  const std::int64_t second_alert =
      store_->add_alert(alert_at(kT0 + 3 * kSecond, detect::Severity::kMedium));
  store_->flush();

  const EventBatch batch = source.events_since(0, 100);
  EXPECT_FALSE(batch.gap);
  EXPECT_EQ(types_of(batch),
            (std::vector<std::string>{"traffic", "traffic", "traffic", "alert", "score", "stats"}));
  for (std::size_t i = 0; i < batch.events.size(); ++i) EXPECT_EQ(batch.events[i].seq, i + 1);
  EXPECT_EQ(batch.last_seq, batch.events.size());
  const json total = json::parse(batch.events[0].data);
  EXPECT_EQ(total["interface"], "total");
  EXPECT_EQ(total["time"], kT0Ms + 3000);
  EXPECT_EQ(total["bytes_sent"], 4000);
  const json alert = json::parse(batch.events[3].data);
  EXPECT_EQ(alert["id"], second_alert);
  EXPECT_EQ(alert["severity"], "MEDIUM");
  const json score = json::parse(batch.events[4].data);
  EXPECT_EQ(score["time"], kT0Ms + 3000);
  EXPECT_FLOAT_EQ(score["score"].get<float>(), 0.8f);
  EXPECT_EQ(score["alert_id"], second_alert);
  EXPECT_TRUE(score["threshold"].is_null());
  const json stats = json::parse(batch.events[5].data);
  EXPECT_EQ(stats["event_seq"], 6);
  EXPECT_EQ(stats["alerts_total"], 2);
  EXPECT_EQ(stats["bytes_sent_total"], 10000);  // 6000 before plus 4000 over the next second
  EXPECT_EQ(stats["flows_total"], 5);

  // Deltas only: nothing new, nothing more; a later seq sees just what follows it.
  EXPECT_EQ(source.events_since(6, 100).events.size(), 0u);
  EXPECT_EQ(source.events_since(4, 100).events.size(), 2u);
  EXPECT_EQ(source.events_since(0, 2).events.size(), 2u);
  EXPECT_EQ(source.events_since(0, 2).last_seq, 6u);
  // A seq from an earlier server run is a gap.
  EXPECT_TRUE(source.events_since(99, 100).gap);
}

TEST_F(StoreSourceTest, EventRingIsBoundedAndReportsAGapForMissedEvents) {
  StoreSourceOptions options;
  options.poll_interval = 0ms;
  options.events = 4;
  StoreSource source(path(), options);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->add_traffic(sample_at(i)));
  store_->flush();
  const EventBatch batch = source.events_since(0, 100);  // 9 traffic + 1 stats, ring keeps 4
  EXPECT_TRUE(batch.gap);
  ASSERT_EQ(batch.events.size(), 4u);
  EXPECT_EQ(batch.events.front().seq, 7u);
  EXPECT_EQ(batch.last_seq, 10u);
  EXPECT_FALSE(source.events_since(6, 100).gap);
}

TEST_F(StoreSourceTest, WaitForEventsWakesWhenTheMonitorWritesMore) {
  StoreSourceOptions options;
  options.poll_interval = 20ms;
  StoreSource source(path(), options);
  std::jthread writer([this] {
    std::this_thread::sleep_for(100ms);
    (void)store_->add_alert(alert_at(kT0, detect::Severity::kLow));
    store_->flush();
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(source.wait_for_events(0, 5s, std::stop_token{}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(source.events_since(0, 10).events.front().type, "alert");
}

TEST_F(StoreSourceTest, MissingOrForeignFileIsAnErrorNamingIt) {
  const fs::path missing = dir_ / "absent.db";
  try {
    StoreSource source(missing);
    ADD_FAILURE() << "no error";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(missing));  // reading never creates a store
  const fs::path text = dir_ / "notes.txt";
  std::ofstream(text) << "not a database, just some words that are long enough to be a header\n";
  try {
    StoreSource source(text);
    ADD_FAILURE() << "no error";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find(text.string()), std::string::npos) << e.what();
  }
}

TEST_F(StoreSourceTest, HttpServerServesStoredAlertsAndTrafficAndAcknowledges) {
  fill();
  StoreSource source(path());
  ServerOptions options;
  options.port = 0;
  options.worker_threads = 2;
  HttpServer server(source, options);
  server.start();
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(5, 0);

  const auto alerts = client.Get("/api/alerts?severity=high");
  ASSERT_TRUE(alerts);
  EXPECT_EQ(alerts->status, 200);
  const json alert_body = json::parse(alerts->body);
  ASSERT_EQ(alert_body["alerts"].size(), 1u);
  EXPECT_EQ(alert_body["alerts"][0]["id"], alert_id_);
  EXPECT_EQ(alert_body["alerts"][0]["kind"], "port_scan");
  EXPECT_EQ(alert_body["alerts"][0]["acknowledged"], false);

  const auto traffic = client.Get("/api/traffic?interface=eth0&window=60");
  ASSERT_TRUE(traffic);
  EXPECT_EQ(traffic->status, 200);
  const json traffic_body = json::parse(traffic->body);
  EXPECT_EQ(traffic_body["interface"], "eth0");
  ASSERT_EQ(traffic_body["points"].size(), 3u);
  EXPECT_EQ(traffic_body["points"][2]["bytes_sent"], 2900);

  // The page's own origin, as a browser sends it (a POST without it is refused: CSRF).
  const httplib::Headers origin = {{"Origin", "http://127.0.0.1:" + std::to_string(server.port())}};
  const auto ack =
      client.Post("/api/alerts/" + std::to_string(alert_id_) + "/ack", origin, "", "text/plain");
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->status, 200);
  const auto unknown = client.Post("/api/alerts/999/ack", origin, "", "text/plain");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  const auto stats = client.Get("/api/stats");
  ASSERT_TRUE(stats);
  EXPECT_EQ(json::parse(stats->body)["alerts_unacknowledged"], 0);
  server.stop();
}

}  // namespace
}  // namespace netsentry::server
