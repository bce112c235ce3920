#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "store/sqlite_sinks.h"

namespace netsentry::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kDay = 86400 * kSecond;
constexpr std::int64_t kT0 = 1'795'477'501 * kSecond;

net::IpAddress ip(const char* text) {
  net::IpAddress address;
  EXPECT_TRUE(net::IpAddress::parse(text, address)) << text;
  return address;
}

FlowRow flow_at(std::int64_t end_ns, float score = 0.1f, std::uint16_t src_port = 40000) {
  FlowRow row;
  row.start_ns = end_ns - kSecond;
  row.end_ns = end_ns;
  row.src_ip = ip("10.0.0.66");
  row.dst_ip = ip("10.0.0.5");
  row.src_port = src_port;
  row.dst_port = 443;
  row.ip_proto = 6;
  row.packets = 12;
  row.bytes = 3400;
  row.duration_s = 1.0;
  row.score = score;
  row.verdict = score > 0.5f ? "anomaly" : "benign";
  row.votes = score > 0.5f ? 3 : 0;
  row.voters = 4;
  row.community_id = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
  row.orig_ip_bytes = 1200;
  row.resp_ip_bytes = 2000;
  row.conn_state = "SF";
  row.history = "ShADadFf";
  return row;
}

detect::Alert alert_at(std::int64_t time_ns, detect::Severity severity,
                       std::string_view kind = detect::kind::kPortScan) {
  detect::Alert alert;
  alert.time_ns = time_ns;
  alert.last_ns = time_ns + kSecond;
  alert.severity = severity;
  alert.kind = std::string(kind);
  alert.src_ip = ip("2001:db8::66");
  alert.src_port = 5555;
  alert.dst_ip = ip("10.0.0.5");
  alert.dst_port = 22;
  alert.protocol = "TCP";
  alert.score = 0.875f;
  alert.votes = 3;
  alert.voters = 4;
  alert.count = 5;
  alert.reason = "Port scan suspected: 2,998 ports";
  alert.models = {{"isolation_forest", 0.8f, 0.6f, true}, {"lstm", 0.25f, 0.5f, false}};
  alert.features = {{"distinct_ports", 2998, 3, 41.5}};
  return alert;
}

host::TrafficSample sample_at(std::int64_t ns) {
  host::TrafficSample sample;
  sample.timestamp = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(ns)));
  sample.interval_seconds = 1;
  sample.total = {"total", 1500, 2500, 10, 20, 0, 0, 0, 0};
  sample.interfaces = {{"eth0", 1000, 2000, 7, 15, 0, 0, 0, 0}, {"lo", 500, 500, 3, 5, 0, 0, 0, 0}};
  return sample;
}

// A second connection, as another process would have.
class RawDb {
 public:
  explicit RawDb(const fs::path& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close(db_); }
  std::string text(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
    std::string result;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0)) {
      result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return result;
  }
  void exec(const char* sql) {
    EXPECT_EQ(sqlite3_exec(db_, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
  }
  // Column `column` of every row, joined with " | " (e.g. an EXPLAIN QUERY PLAN's details).
  std::string joined(const std::string& sql, int column) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    std::string result;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      if (!result.empty()) result += " | ";
      if (sqlite3_column_text(stmt, column)) {
        result += reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
      }
    }
    sqlite3_finalize(stmt);
    return result;
  }

 private:
  sqlite3* db_ = nullptr;
};

// The schema netsentry 0.1 created (version 1), which the migration tests start from.
constexpr const char* kVersionOneSchema =
    "CREATE TABLE traffic(ts_ns INTEGER NOT NULL, interface TEXT NOT NULL, bytes_sent REAL NOT "
    "NULL, bytes_recv REAL NOT NULL, packets_sent REAL NOT NULL, packets_recv REAL NOT NULL);"
    "CREATE TABLE flows(id INTEGER PRIMARY KEY, start_ns INTEGER NOT NULL, end_ns INTEGER NOT "
    "NULL, src_ip TEXT NOT NULL, src_port INTEGER NOT NULL, dst_ip TEXT NOT NULL, dst_port "
    "INTEGER NOT NULL, protocol TEXT NOT NULL, ip_proto INTEGER NOT NULL, packets INTEGER NOT "
    "NULL, bytes INTEGER NOT NULL, duration_s REAL NOT NULL, score REAL NOT NULL, verdict TEXT "
    "NOT NULL, votes INTEGER NOT NULL, voters INTEGER NOT NULL);"
    "CREATE TABLE alerts(id INTEGER PRIMARY KEY AUTOINCREMENT, time_ns INTEGER NOT NULL, "
    "last_ns INTEGER NOT NULL, severity INTEGER NOT NULL, kind TEXT NOT NULL, src_ip TEXT NOT "
    "NULL, src_port INTEGER NOT NULL, dst_ip TEXT NOT NULL, dst_port INTEGER NOT NULL, "
    "protocol TEXT NOT NULL, interface TEXT NOT NULL, score REAL NOT NULL, votes INTEGER NOT "
    "NULL, voters INTEGER NOT NULL, count INTEGER NOT NULL, reason TEXT NOT NULL, models TEXT "
    "NOT NULL, evidence TEXT NOT NULL, acknowledged INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE connections(ts_ns INTEGER NOT NULL, event TEXT NOT NULL, transport TEXT NOT "
    "NULL, local_ip TEXT NOT NULL, local_port INTEGER NOT NULL, remote_ip TEXT NOT NULL, "
    "remote_port INTEGER NOT NULL, status TEXT NOT NULL, pid INTEGER NOT NULL, process TEXT "
    "NOT NULL);";

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "netsentry-sqlite-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A version-1 store at options().path holding the rows `inserts` adds.
  void create_version_one_store(const std::string& inserts) const {
    RawDb db(dir_ / "netsentry.db");
    db.exec((kVersionOneSchema + inserts + "PRAGMA user_version = 1;").c_str());
  }

  SqliteStoreOptions options() const {
    SqliteStoreOptions result;
    result.path = dir_ / "netsentry.db";
    result.commit_interval = 20ms;
    return result;
  }

  fs::path dir_;
};

std::string error_of(const auto& make) {
  try {
    make();
  } catch (const core::Error& error) {
    return error.what();
  }
  return "(no error)";
}

TEST_F(SqliteStoreTest, CreatesTheSchemaInWalModeWithAVersion) {
  { SqliteStore store(options()); }
  RawDb db(dir_ / "netsentry.db");
  EXPECT_EQ(db.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(db.text("PRAGMA user_version"), std::to_string(SqliteStore::kSchemaVersion));
  EXPECT_EQ(db.text("PRAGMA auto_vacuum"), "2");  // incremental
  EXPECT_EQ(db.text("SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE "
                    "type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name)"),
            "alerts bus_messages connections flows sensors traffic");
  EXPECT_EQ(db.text("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                    "('traffic_ts', 'flows_end', 'alerts_last', 'connections_ts')"),
            "4");
}

TEST_F(SqliteStoreTest, StoresAndReadsBackFlowsTrafficAndConnections) {
  SqliteStore store(options());
  ASSERT_TRUE(store.add_traffic(sample_at(kT0)));
  std::vector<FlowRow> flows = {flow_at(kT0, 0.2f, 1), flow_at(kT0 + kSecond, 0.9f, 2),
                                flow_at(kT0 + 2 * kSecond, 0.4f, 3)};
  ASSERT_TRUE(store.add_flows(flows));
  ASSERT_TRUE(store.add_flow(flow_at(kT0 + 3 * kSecond, 0.05f, 4)));
  host::ConnectionEvent opened;
  opened.kind = host::ConnectionEventKind::kOpened;
  opened.connection.socket.transport = host::Transport::kTcp;
  opened.connection.socket.local = {host::IpAddress{}, 22};
  opened.connection.socket.local.ip.bytes = {127, 0, 0, 1};
  opened.connection.socket.state = host::SocketState::kListen;
  opened.connection.pid = 42;
  opened.connection.process = "sshd";
  ASSERT_TRUE(store.add_connections(sample_at(kT0).timestamp, std::span(&opened, 1)));
  store.flush();

  const std::vector<TrafficRow> traffic = store.reader().traffic_since(kT0);
  ASSERT_EQ(traffic.size(), 3u);
  const std::vector<TrafficRow> eth0 = store.reader().traffic_since(kT0, "eth0");
  ASSERT_EQ(eth0.size(), 1u);
  EXPECT_EQ(eth0[0].ts_ns, kT0);
  EXPECT_DOUBLE_EQ(eth0[0].bytes_recv, 2000);
  EXPECT_DOUBLE_EQ(eth0[0].packets_recv, 15);
  EXPECT_TRUE(store.reader().traffic_since(kT0 + 1).empty());

  const std::vector<FlowRow> newest = store.reader().recent_flows(2);
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[0].src_port, 4);
  EXPECT_EQ(newest[1].src_port, 3);
  const std::vector<FlowRow> worst = store.reader().recent_flows(10, FlowOrder::kHighestScore);
  ASSERT_EQ(worst.size(), 4u);
  EXPECT_EQ(worst[0].src_port, 2);
  EXPECT_FLOAT_EQ(worst[0].score, 0.9f);
  EXPECT_EQ(worst[0].verdict, "anomaly");
  EXPECT_EQ(worst[0].src_ip, ip("10.0.0.66"));
  EXPECT_EQ(worst[0].dst_port, 443);
  EXPECT_EQ(worst[0].ip_proto, 6);
  EXPECT_EQ(worst[0].bytes, 3400u);
  EXPECT_EQ(worst[0].votes, 3);
  EXPECT_EQ(worst[0].community_id, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
  EXPECT_EQ(worst[0].orig_ip_bytes, 1200u);
  EXPECT_EQ(worst[0].resp_ip_bytes, 2000u);
  EXPECT_EQ(worst[0].conn_state, "SF");
  EXPECT_EQ(worst[0].history, "ShADadFf");
  EXPECT_EQ(worst[0].tunnel_parent, "");
  EXPECT_EQ(store.reader().recent_flows(10, FlowOrder::kNewest, kT0 + 2 * kSecond).size(), 2u);

  const std::vector<ConnectionRow> connections = store.reader().connections_since(0);
  ASSERT_EQ(connections.size(), 1u);
  EXPECT_EQ(connections[0].event, "opened");
  EXPECT_EQ(connections[0].local_ip, "127.0.0.1");
  EXPECT_EQ(connections[0].local_port, 22);
  EXPECT_EQ(connections[0].remote_ip, "");
  EXPECT_EQ(connections[0].status, "LISTEN");
  EXPECT_EQ(connections[0].process, "sshd");

  const StoreCounts counts = store.reader().counts();
  EXPECT_EQ(counts.traffic, 3u);
  EXPECT_EQ(counts.flows, 4u);
  EXPECT_EQ(counts.connections, 1u);
  EXPECT_GT(counts.data_bytes, 0u);
  EXPECT_EQ(store.stats().rows_written, 3u + 4u + 1u);
  EXPECT_EQ(store.stats().dropped, 0u);
}

TEST_F(SqliteStoreTest, AssignsAlertIdsAtOnceAndKeepsCountingAfterRestart) {
  detect::Alert first = alert_at(kT0, detect::Severity::kHigh);
  {
    SqliteStore store(options());
    EXPECT_EQ(store.add_alert(first), 1);
    EXPECT_EQ(store.add_alert(alert_at(kT0, detect::Severity::kLow)), 2);
  }
  SqliteStore store(options());
  EXPECT_EQ(store.add_alert(alert_at(kT0, detect::Severity::kLow)), 3);
  store.flush();
  const std::optional<detect::Alert> read = store.reader().alert(1);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->id, 1);
  EXPECT_EQ(read->time_ns, first.time_ns);
  EXPECT_EQ(read->last_ns, first.last_ns);
  EXPECT_EQ(read->severity, detect::Severity::kHigh);
  EXPECT_EQ(read->kind, "port_scan");
  EXPECT_EQ(read->src_ip, first.src_ip);
  EXPECT_EQ(read->src_port, 5555);
  EXPECT_EQ(read->dst_ip, first.dst_ip);
  EXPECT_EQ(read->dst_port, 22);
  EXPECT_EQ(read->protocol, "TCP");
  EXPECT_FLOAT_EQ(read->score, 0.875f);
  EXPECT_EQ(read->votes, 3);
  EXPECT_EQ(read->voters, 4);
  EXPECT_EQ(read->count, 5u);
  EXPECT_EQ(read->reason, first.reason);
  ASSERT_EQ(read->models.size(), 2u);
  EXPECT_EQ(read->models[1].model, "lstm");
  EXPECT_FLOAT_EQ(read->models[1].score, 0.25f);
  EXPECT_FALSE(read->models[1].vote);
  EXPECT_TRUE(read->models[0].vote);
  ASSERT_EQ(read->features.size(), 1u);
  EXPECT_EQ(read->features[0].feature, "distinct_ports");
  EXPECT_DOUBLE_EQ(read->features[0].deviation, 41.5);
  EXPECT_FALSE(read->acknowledged);
  EXPECT_FALSE(store.reader().alert(99).has_value());
}

TEST_F(SqliteStoreTest, ANonFiniteModelOrFeatureNumberReadsBackAsNaN) {
  detect::Alert alert = alert_at(kT0, detect::Severity::kHigh);
  alert.features = {{"Flow Packets/s", 1e6, 10, std::numeric_limits<double>::quiet_NaN()}};
  alert.models = {{"autoencoder", std::numeric_limits<float>::infinity(), 0.5f, true}};
  SqliteStore store(options());
  const std::int64_t id = store.add_alert(alert);
  store.flush();
  const std::optional<detect::Alert> read = store.reader().alert(id);
  ASSERT_TRUE(read.has_value());
  ASSERT_EQ(read->features.size(), 1u);
  EXPECT_DOUBLE_EQ(read->features[0].value, 1e6);
  EXPECT_TRUE(std::isnan(read->features[0].deviation));
  ASSERT_EQ(read->models.size(), 1u);
  EXPECT_TRUE(std::isnan(read->models[0].score));
  EXPECT_FLOAT_EQ(read->models[0].threshold, 0.5f);
}

TEST_F(SqliteStoreTest, AcknowledgesAndUpdatesAlertsById) {
  SqliteStore store(options());
  detect::Alert alert = alert_at(kT0, detect::Severity::kMedium);
  alert.id = store.add_alert(alert);
  ASSERT_GT(alert.id, 0);
  EXPECT_FALSE(store.ack_alert(alert.id + 1)) << "an id the store never assigned";
  EXPECT_FALSE(store.ack_alert(0));
  ASSERT_TRUE(store.ack_alert(alert.id));
  alert.count = 40;
  alert.last_ns = kT0 + 60 * kSecond;
  alert.severity = detect::Severity::kCritical;
  alert.acknowledged = false;
  ASSERT_TRUE(store.update_alert(alert));
  store.flush();
  const std::optional<detect::Alert> read = store.reader().alert(alert.id);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->count, 40u);
  EXPECT_EQ(read->last_ns, kT0 + 60 * kSecond);
  EXPECT_EQ(read->severity, detect::Severity::kCritical);
  EXPECT_TRUE(read->acknowledged) << "an update of the aggregate keeps the acknowledgement";
  ASSERT_TRUE(store.ack_alert(alert.id, false));
  store.flush();
  EXPECT_FALSE(store.reader().alert(alert.id)->acknowledged);
}

TEST_F(SqliteStoreTest, QueriesAlertsBySeverityKindTimeAndAcknowledgement) {
  SqliteStore store(options());
  const std::int64_t low = store.add_alert(alert_at(kT0, detect::Severity::kLow));
  const std::int64_t high = store.add_alert(alert_at(kT0 + 10 * kSecond, detect::Severity::kHigh));
  const std::int64_t flood =
      store.add_alert(alert_at(kT0 + 20 * kSecond, detect::Severity::kCritical, "syn_flood"));
  store.ack_alert(high);
  store.flush();

  auto ids = [&](auto&& adjust) {
    AlertQuery query;
    adjust(query);
    std::vector<std::int64_t> result;
    for (const detect::Alert& alert : store.reader().alerts(query)) result.push_back(alert.id);
    return result;
  };
  EXPECT_EQ(ids([](AlertQuery&) {}), (std::vector<std::int64_t>{flood, high, low}));
  EXPECT_EQ(ids([](AlertQuery& q) { q.newest_first = false; }),
            (std::vector<std::int64_t>{low, high, flood}));
  EXPECT_EQ(ids([](AlertQuery& q) { q.min_severity = detect::Severity::kHigh; }),
            (std::vector<std::int64_t>{flood, high}));
  EXPECT_EQ(ids([](AlertQuery& q) { q.kind = "port_scan"; }),
            (std::vector<std::int64_t>{high, low}));
  EXPECT_EQ(ids([](AlertQuery& q) { q.unacknowledged_only = true; }),
            (std::vector<std::int64_t>{flood, low}));
  EXPECT_EQ(ids([](AlertQuery& q) { q.since_ns = kT0 + 5 * kSecond; }),
            (std::vector<std::int64_t>{flood, high}));
  EXPECT_EQ(ids([](AlertQuery& q) { q.limit = 1; }), (std::vector<std::int64_t>{flood}));

  const StoreCounts counts = store.reader().counts();
  EXPECT_EQ(counts.alerts, 3u);
  EXPECT_EQ(counts.unacknowledged_alerts, 2u);
  EXPECT_EQ(counts.alerts_by_severity[static_cast<int>(detect::Severity::kLow)], 1u);
  EXPECT_EQ(counts.alerts_by_severity[static_cast<int>(detect::Severity::kMedium)], 0u);
  EXPECT_EQ(counts.alerts_by_severity[static_cast<int>(detect::Severity::kCritical)], 1u);
}

TEST_F(SqliteStoreTest, FindsAHostsFlowsAndAlertsInATimeRangeThroughIndexes) {
  {
    SqliteStore store(options());
    for (int i = 0; i < 40; ++i) {
      FlowRow row = flow_at(kT0 + i * kSecond, 0.1f, static_cast<std::uint16_t>(40000 + i));
      // 10.0.0.66 -> 10.0.0.5 by default; every 4th flow is 10.0.0.5's reply to 10.0.0.77.
      if (i % 4 == 0) {
        row.src_ip = ip("10.0.0.5");
        row.dst_ip = ip("10.0.0.77");
      }
      store.add_flow(row);
    }
    detect::Alert about = alert_at(kT0, detect::Severity::kHigh);
    about.host = ip("10.0.0.77");
    store.add_alert(about);
    store.add_alert(alert_at(kT0 + 30 * kSecond, detect::Severity::kMedium));
  }
  StoreReader reader(dir_ / "netsentry.db");
  const auto ends = [](const std::vector<FlowRow>& rows) {
    std::vector<std::int64_t> out;
    for (const FlowRow& r : rows) out.push_back((r.end_ns - kT0) / kSecond);
    return out;
  };
  // Either end, newest first, within the range, up to the limit.
  EXPECT_EQ(ends(reader.flows_between("10.0.0.77", kT0, kT0 + 100 * kSecond, 100)),
            (std::vector<std::int64_t>{36, 32, 28, 24, 20, 16, 12, 8, 4, 0}));
  EXPECT_EQ(ends(reader.flows_between("10.0.0.77", kT0 + 5 * kSecond, kT0 + 20 * kSecond, 100)),
            (std::vector<std::int64_t>{20, 16, 12, 8}));
  EXPECT_EQ(reader.flows_between("10.0.0.5", kT0, kT0 + 100 * kSecond, 100).size(), 40u);
  EXPECT_EQ(reader.flows_between("10.0.0.66", kT0, kT0 + 100 * kSecond, 100).size(), 30u);
  EXPECT_EQ(ends(reader.flows_between("10.0.0.66", kT0, kT0 + 100 * kSecond, 2)),
            (std::vector<std::int64_t>{39, 38}));
  EXPECT_EQ(reader.flows_between("", kT0 + 35 * kSecond, kT0 + 100 * kSecond, 100).size(), 5u);
  EXPECT_TRUE(reader.flows_between("10.9.9.9", kT0, kT0 + 100 * kSecond, 100).empty());

  AlertQuery query;
  query.host = "10.0.0.77";
  ASSERT_EQ(reader.alerts(query).size(), 1u);
  query.host = "10.0.0.5";  // both alerts' destination
  EXPECT_EQ(reader.alerts(query).size(), 2u);
  query.until_ns = kT0 + 10 * kSecond;  // first seen by then
  EXPECT_EQ(reader.alerts(query).size(), 1u);

  // The host's flows come from the address indexes (a seek per block of ids), not a scan of the
  // table.
  RawDb db(dir_ / "netsentry.db");
  const std::string plan = db.joined(
      "EXPLAIN QUERY PLAN WITH RECURSIVE blocks(b) AS (SELECT 0 UNION ALL SELECT b + 1 FROM blocks "
      "WHERE b < 3) SELECT id FROM flows WHERE (id >> 14) IN blocks AND src_ip = '10.0.0.5' AND "
      "end_ns >= 0 UNION SELECT id FROM flows WHERE (id >> 14) IN blocks AND dst_ip = '10.0.0.5' "
      "AND end_ns >= 0",
      3);
  EXPECT_NE(plan.find("SEARCH flows USING COVERING INDEX flows_src_block (<expr>=? AND src_ip=?"),
            std::string::npos)
      << plan;
  EXPECT_NE(plan.find("SEARCH flows USING COVERING INDEX flows_dst_block (<expr>=? AND dst_ip=?"),
            std::string::npos)
      << plan;
}

TEST_F(SqliteStoreTest, FindsAHostsFlowsInEveryBlockOfIdsNewestFirst) {
  // Flows 1..N span several blocks of 2^kFlowIdBlockShift ids; 10.0.0.9 talks in the first
  // flow, at each block's edges and in the last flow, with end times out of id order (a flow
  // stored late can have ended early), so the result must be ordered by end time across blocks.
  constexpr std::int64_t kBlock = std::int64_t{1} << kFlowIdBlockShift;
  const std::int64_t n = 3 * kBlock + 5;
  std::vector<std::int64_t> host_ids = {1, kBlock - 1, kBlock, 2 * kBlock + 7, n};
  {
    SqliteStore store(options());
    std::vector<FlowRow> rows;
    for (std::int64_t id = 1; id <= n; ++id) {
      FlowRow row = flow_at(kT0 + id * 1000, 0.1f, static_cast<std::uint16_t>(id % 60000));
      if (std::find(host_ids.begin(), host_ids.end(), id) != host_ids.end()) {
        (id % 2 ? row.src_ip : row.dst_ip) = ip("10.0.0.9");
        row.end_ns = kT0 + (n - id) * 1000;  // the first flow ended last
      }
      rows.push_back(std::move(row));
    }
    store.add_flows(std::move(rows));
  }
  StoreReader reader(dir_ / "netsentry.db");
  std::vector<std::int64_t> ids;
  for (const FlowRow& r : reader.flows_between("10.0.0.9", 0, INT64_MAX, 100)) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::int64_t>{1, kBlock - 1, kBlock, 2 * kBlock + 7, n}));
  ids.clear();
  for (const FlowRow& r : reader.flows_between("10.0.0.9", kT0, kT0 + (n - kBlock) * 1000, 2)) {
    ids.push_back(r.id);
  }
  EXPECT_EQ(ids, (std::vector<std::int64_t>{kBlock, 2 * kBlock + 7}));
}

TEST_F(SqliteStoreTest, AStoppedStoreHasEveryRowInItsDatabaseFileEvenWithAReaderStillOpen) {
  // A dashboard's reader outlives the writer; after the store stops, the .db file alone (copied
  // without its -wal) must hold every row.
  auto store = std::make_unique<SqliteStore>(options());
  StoreReader dashboard(dir_ / "netsentry.db");
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(store->add_flow(flow_at(kT0 + i * kSecond)));
  store.reset();
  EXPECT_EQ(dashboard.counts().flows, 500u);
  const fs::path copy = dir_ / "copy";
  fs::create_directories(copy);
  fs::copy_file(dir_ / "netsentry.db", copy / "netsentry.db");
  RawDb db(copy / "netsentry.db");
  EXPECT_EQ(db.text("SELECT count(*) FROM flows"), "500");
}

TEST_F(SqliteStoreTest, AVersionFiveStoreGetsTheBlockIndexesAndKeepsItsHostsFlows) {
  {
    SqliteStore store(options());
    FlowRow row = flow_at(kT0);
    row.src_ip = ip("10.0.0.9");
    ASSERT_TRUE(store.add_flow(row));
  }
  {
    // Back to version 5's indexes.
    RawDb db(dir_ / "netsentry.db");
    db.exec(
        "DROP INDEX flows_src_block; DROP INDEX flows_dst_block; "
        "CREATE INDEX flows_src_end ON flows(src_ip, end_ns); "
        "CREATE INDEX flows_dst_end ON flows(dst_ip, end_ns); PRAGMA user_version = 5;");
  }
  EXPECT_NE(error_of([&] { StoreReader reader(dir_ / "netsentry.db"); }).find("schema version 5"),
            std::string::npos);
  { SqliteStore store(options()); }
  RawDb db(dir_ / "netsentry.db");
  EXPECT_EQ(db.text("PRAGMA user_version"), "6");
  EXPECT_EQ(db.joined("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE "
                      "'flows_%' ORDER BY name",
                      0),
            "flows_dst_block | flows_end | flows_src_block");
  StoreReader reader(dir_ / "netsentry.db");
  EXPECT_EQ(reader.flows_between("10.0.0.9", 0, INT64_MAX, 10).size(), 1u);
}

TEST_F(SqliteStoreTest, TopListsFromOnePassEqualTheThreeGroupedQueries) {
  {
    SqliteStore store(options());
    for (int i = 0; i < 60; ++i) {
      FlowRow row = flow_at(kT0 + i * kSecond, 0.1f, static_cast<std::uint16_t>(40000 + i));
      row.src_ip = ip(i % 3 == 0 ? "10.0.0.1" : i % 3 == 1 ? "10.0.0.2" : "2001:db8::3");
      row.dst_port = static_cast<std::uint16_t>(i % 4 == 0 ? 0 : 440 + i % 4);
      row.ip_proto = static_cast<std::uint8_t>(i % 5 == 0 ? 17 : i % 7 == 0 ? 1 : 6);
      row.bytes = static_cast<std::uint64_t>(100 + 37 * i);
      row.packets = static_cast<std::uint64_t>(1 + i);
      store.add_flow(row);
    }
  }
  StoreReader reader(dir_ / "netsentry.db");
  const auto same = [](const std::vector<TopCount>& a, const std::vector<TopCount>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i].key != b[i].key || a[i].bytes != b[i].bytes || a[i].packets != b[i].packets ||
          a[i].flows != b[i].flows) {
        return false;
      }
    }
    return true;
  };
  for (const std::int64_t since : {kT0, kT0 + 30 * kSecond}) {
    for (const std::size_t limit : {std::size_t{2}, std::size_t{100}}) {
      const StoreReader::TopAll all = reader.top_all(since, limit);
      EXPECT_FALSE(all.sources.empty());
      EXPECT_TRUE(same(all.sources, reader.top_flows(TopKey::kSource, since, limit)));
      EXPECT_TRUE(same(all.ports, reader.top_flows(TopKey::kPort, since, limit)));
      EXPECT_TRUE(same(all.protocols, reader.top_flows(TopKey::kProtocol, since, limit)));
    }
  }
}

// Every column of a stored flow equals what was added (ids included).
void expect_same_flow(const FlowRow& stored, const FlowRow& added) {
  EXPECT_EQ(stored.id, added.id);
  EXPECT_EQ(stored.start_ns, added.start_ns);
  EXPECT_EQ(stored.end_ns, added.end_ns);
  EXPECT_EQ(stored.src_ip.to_string(), added.src_ip.to_string());
  EXPECT_EQ(stored.dst_ip.to_string(), added.dst_ip.to_string());
  EXPECT_EQ(stored.src_port, added.src_port);
  EXPECT_EQ(stored.dst_port, added.dst_port);
  EXPECT_EQ(stored.ip_proto, added.ip_proto);
  EXPECT_EQ(stored.packets, added.packets);
  EXPECT_EQ(stored.bytes, added.bytes);
  EXPECT_DOUBLE_EQ(stored.duration_s, added.duration_s);
  EXPECT_FLOAT_EQ(stored.score, added.score);
  EXPECT_EQ(stored.verdict, added.verdict);
  EXPECT_EQ(stored.votes, added.votes);
  EXPECT_EQ(stored.voters, added.voters);
  EXPECT_EQ(stored.sensor, "");
  EXPECT_EQ(stored.sensor_id, 0);
  EXPECT_EQ(stored.community_id, added.community_id);
  EXPECT_EQ(stored.orig_ip_bytes, added.orig_ip_bytes);
  EXPECT_EQ(stored.resp_ip_bytes, added.resp_ip_bytes);
  EXPECT_EQ(stored.conn_state, added.conn_state);
  EXPECT_EQ(stored.history, added.history);
  EXPECT_EQ(stored.tunnel_parent, added.tunnel_parent);
}

// A flow whose every column depends on n, so a row bound to the wrong parameters shows.
FlowRow distinct_flow(int n) {
  FlowRow row = flow_at(kT0 + n * kSecond, static_cast<float>(n % 100) / 100.0f,
                        static_cast<std::uint16_t>(10000 + n));
  row.src_ip = ip(("10.1." + std::to_string(n / 256) + "." + std::to_string(n % 256)).c_str());
  row.dst_ip = ip(n % 2 ? "2001:db8::5" : "192.168.7.9");
  row.dst_port = static_cast<std::uint16_t>(20 + n % 1000);
  row.ip_proto = n % 3 ? 6 : 17;
  row.packets = 1 + n;
  row.bytes = 60 + 7 * n;
  row.duration_s = 0.25 * n;
  row.votes = n % 5;
  row.voters = 4 + n % 3;
  row.community_id = "1:flow" + std::to_string(n);
  row.orig_ip_bytes = 40 + n;
  row.resp_ip_bytes = 3 * n;
  row.conn_state = n % 2 ? "S0" : "SF";
  row.history = "S" + std::string(static_cast<std::size_t>(n % 4), 'h');
  row.tunnel_parent = n % 4 == 0 ? "1:outer" + std::to_string(n) : "";
  return row;
}

TEST_F(SqliteStoreTest, AddFlowsTakingTheRowsStoresEveryColumnWithIdsInOrder) {
  SqliteStore store(options());
  FlowRow first = distinct_flow(0);
  first.id = store.add_flow(first);
  ASSERT_EQ(first.id, 1);
  std::vector<FlowRow> expected;
  std::vector<FlowRow> taken;
  for (int n = 1; n <= 40; ++n) {
    expected.push_back(distinct_flow(n));
    taken.push_back(distinct_flow(n));
  }
  ASSERT_TRUE(store.add_flows(std::move(taken)));
  EXPECT_TRUE(taken.empty());  // NOLINT(bugprone-use-after-move): the rows went to the store
  std::vector<FlowRow> copied = {distinct_flow(41), distinct_flow(42)};
  ASSERT_TRUE(store.add_flows(copied));  // the copying overload still numbers after them
  EXPECT_EQ(copied[0].id, 42);
  store.flush();
  std::vector<FlowRow> stored = store.reader().recent_flows(100);
  ASSERT_EQ(stored.size(), 43u);
  std::sort(stored.begin(), stored.end(),
            [](const FlowRow& a, const FlowRow& b) { return a.id < b.id; });
  expect_same_flow(stored[0], first);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("flow " + std::to_string(i + 1));
    expected[i].id = static_cast<std::int64_t>(i) + 2;
    expect_same_flow(stored[i + 1], expected[i]);
  }
  expect_same_flow(stored[41], copied[0]);
  expect_same_flow(stored[42], copied[1]);
}

TEST_F(SqliteStoreTest, StoresEveryFlowOnceAcrossBlockBoundaries) {
  // Flows are written 32 rows per statement, gathered across batches; the rest of a transaction
  // one by one. Sizes around the block (and batches that straddle it) in one transaction each.
  SqliteStoreOptions slow = options();
  slow.commit_interval = 60s;  // one transaction per flush
  SqliteStore store(slow);
  std::vector<FlowRow> added;
  int n = 0;
  for (const std::vector<int>& batches : std::vector<std::vector<int>>{
           {1}, {31}, {32}, {33}, {64}, {65}, {5, 27, 1}, {20, 20, 20, 7}, {100}, {0, 31, 2}}) {
    const std::uint64_t before = added.size();
    for (int size : batches) {
      std::vector<FlowRow> batch;
      for (int i = 0; i < size; ++i) batch.push_back(distinct_flow(n++));
      if (size == 1) {
        batch[0].id = store.add_flow(batch[0]);
        ASSERT_GT(batch[0].id, 0);
      } else {
        ASSERT_TRUE(store.add_flows(batch));
      }
      added.insert(added.end(), batch.begin(), batch.end());
    }
    store.flush();
    EXPECT_EQ(store.reader().counts().flows, added.size())
        << "after batches of " << ::testing::PrintToString(batches) << " (" << before
        << " stored before)";
  }
  RawDb db(dir_ / "netsentry.db");
  EXPECT_EQ(db.text("SELECT count(DISTINCT id) || ' ' || min(id) || ' ' || max(id) FROM flows"),
            std::to_string(added.size()) + " 1 " + std::to_string(added.size()));
  std::vector<FlowRow> stored = store.reader().recent_flows(added.size() + 10);
  ASSERT_EQ(stored.size(), added.size());
  std::sort(stored.begin(), stored.end(),
            [](const FlowRow& a, const FlowRow& b) { return a.id < b.id; });
  for (std::size_t i = 0; i < added.size(); ++i) {
    SCOPED_TRACE("flow " + std::to_string(i));
    expect_same_flow(stored[i], added[i]);
  }
  EXPECT_EQ(store.stats().write_errors, 0u);
}

TEST_F(SqliteStoreTest, TheDestructorWritesAPartialBlockOfFlows) {
  SqliteStoreOptions slow = options();
  slow.commit_interval = 60s;  // nothing is committed before the store goes away
  std::vector<FlowRow> added;
  {
    SqliteStore store(slow);
    for (int i = 0; i < 45; ++i) added.push_back(distinct_flow(i));
    ASSERT_TRUE(store.add_flows(std::span<FlowRow>(added).subspan(0, 40)));
    ASSERT_TRUE(store.add_flows(std::span<FlowRow>(added).subspan(40)));
  }
  StoreReader reader(dir_ / "netsentry.db");
  std::vector<FlowRow> stored = reader.recent_flows(100);
  ASSERT_EQ(stored.size(), 45u);
  std::sort(stored.begin(), stored.end(),
            [](const FlowRow& a, const FlowRow& b) { return a.id < b.id; });
  for (std::size_t i = 0; i < added.size(); ++i) expect_same_flow(stored[i], added[i]);
}

TEST_F(SqliteStoreTest, FlushCommitsAtOnceAndTheDestructorFlushes) {
  SqliteStoreOptions slow = options();
  slow.commit_interval = 60s;  // nothing would be committed by the timer during this test
  {
    SqliteStore store(slow);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(store.add_flow(flow_at(kT0 + i)));
    const auto start = std::chrono::steady_clock::now();
    store.flush();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    EXPECT_EQ(store.reader().counts().flows, 100u);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(store.add_flow(flow_at(kT0 + 100 + i)));
    EXPECT_EQ(store.add_alert(alert_at(kT0, detect::Severity::kLow)), 1);
  }
  StoreReader reader(dir_ / "netsentry.db");
  EXPECT_EQ(reader.counts().flows, 150u);
  EXPECT_EQ(reader.counts().alerts, 1u);
}

TEST_F(SqliteStoreTest, CommitsWithoutAFlushWithinTheCommitInterval) {
  SqliteStore store(options());
  ASSERT_TRUE(store.add_flow(flow_at(kT0)));
  // Another connection (as the dashboard's) sees the row once the writer has committed it.
  StoreReader other(dir_ / "netsentry.db");
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (other.counts().flows == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(other.counts().flows, 1u);
}

TEST_F(SqliteStoreTest, DropsBulkRowsWhenFullButKeepsRoomForAlerts) {
  SqliteStoreOptions small = options();
  small.queue_capacity = 16;
  small.alert_reserve = 4;
  small.busy_timeout = 10s;
  SqliteStore store(small);
  // Another writer holds the lock, so the store's writer waits and its queue fills up.
  RawDb blocker(dir_ / "netsentry.db");
  blocker.exec("BEGIN IMMEDIATE");
  std::size_t accepted = 0;
  for (int i = 0; i < 100; ++i) accepted += store.add_flow(flow_at(kT0 + i)) ? 1 : 0;
  EXPECT_LT(accepted, 100u);
  EXPECT_GE(store.stats().dropped, 100u - accepted);
  EXPECT_EQ(store.stats().rows_dropped, 100u - accepted);
  const std::int64_t id = store.add_alert(alert_at(kT0, detect::Severity::kCritical));
  EXPECT_GT(id, 0) << "the reserve keeps room for alerts";
  blocker.exec("COMMIT");
  store.flush();
  EXPECT_EQ(store.reader().counts().flows, accepted);
  EXPECT_TRUE(store.reader().alert(id).has_value());
  EXPECT_EQ(store.stats().write_errors, 0u);
}

TEST_F(SqliteStoreTest, ALiveStoreCountsTheRowsOfEveryRefusedBatch) {
  SqliteStoreOptions small = options();
  small.queue_capacity = 16;
  small.alert_reserve = 4;
  small.busy_timeout = 10s;
  // No gathering window: the writer takes what waits, then blocks on the lock at once.
  small.commit_interval = 0ms;
  SqliteStore store(small);
  RawDb blocker(dir_ / "netsentry.db");
  blocker.exec("BEGIN IMMEDIATE");
  std::uint64_t accepted_rows = 0, refused_batches = 0;
  for (int i = 0; i < 40; ++i) {
    std::vector<FlowRow> batch = {flow_at(kT0 + 3 * i), flow_at(kT0 + 3 * i + 1),
                                  flow_at(kT0 + 3 * i + 2)};
    if (store.add_flows(batch)) {
      accepted_rows += batch.size();
    } else {
      ++refused_batches;
    }
  }
  EXPECT_GT(refused_batches, 0u);
  EXPECT_EQ(store.stats().dropped, refused_batches);
  EXPECT_EQ(store.stats().rows_dropped, 3 * refused_batches);
  blocker.exec("COMMIT");
  store.flush();
  EXPECT_EQ(store.reader().counts().flows, accepted_rows);
  EXPECT_EQ(accepted_rows + store.stats().rows_dropped, 120u);
}

TEST_F(SqliteStoreTest, ALiveStoreBoundsTheRowsWaitingNotOnlyTheItems) {
  SqliteStoreOptions small = options();
  small.queue_capacity = 1000;  // room for every batch below: only the row bound can refuse
  small.queue_rows = 12;
  small.busy_timeout = 10s;
  small.commit_interval = 0ms;
  SqliteStore store(small);
  RawDb blocker(dir_ / "netsentry.db");
  blocker.exec("BEGIN IMMEDIATE");
  std::uint64_t accepted_rows = 0, refused_batches = 0;
  for (int i = 0; i < 40; ++i) {
    std::vector<FlowRow> batch = {flow_at(kT0 + 3 * i), flow_at(kT0 + 3 * i + 1),
                                  flow_at(kT0 + 3 * i + 2)};
    if (store.add_flows(batch)) {
      accepted_rows += batch.size();
    } else {
      ++refused_batches;
    }
  }
  EXPECT_GT(refused_batches, 0u);
  EXPECT_LT(store.stats().queue_depth, 40u);
  EXPECT_EQ(store.stats().rows_dropped, 3 * refused_batches);
  // At most the bound waits, plus what the writer took before it blocked on the lock.
  EXPECT_LE(accepted_rows, 12u + 3u * 256u);
  EXPECT_LT(accepted_rows, 120u);
  // An alert is not held back by the row bound.
  const std::int64_t id = store.add_alert(alert_at(kT0, detect::Severity::kCritical));
  EXPECT_GT(id, 0);
  blocker.exec("COMMIT");
  store.flush();
  EXPECT_EQ(store.reader().counts().flows, accepted_rows);
  EXPECT_EQ(accepted_rows + store.stats().rows_dropped, 120u);
  EXPECT_TRUE(store.reader().alert(id).has_value());
  // Once the writer caught up, the rows it gave back make room again.
  std::vector<FlowRow> more = {flow_at(kT0 + 500), flow_at(kT0 + 501)};
  EXPECT_TRUE(store.add_flows(more));
}

TEST_F(SqliteStoreTest, ALosslessStoreWaitsForRowRoomAndTakesAnOversizedBatchAlone) {
  SqliteStoreOptions small = options();
  small.queue_capacity = 1000;
  small.queue_rows = 8;
  small.busy_timeout = 10s;
  small.lossless = true;
  small.commit_interval = 0ms;
  SqliteStore store(small);
  // A batch larger than the bound, into an empty queue: taken, not refused or waited on forever.
  std::vector<FlowRow> big;
  for (int k = 0; k < 20; ++k) big.push_back(flow_at(kT0 + k));
  ASSERT_TRUE(store.add_flows(big));
  store.flush();
  RawDb blocker(dir_ / "netsentry.db");
  blocker.exec("BEGIN IMMEDIATE");
  constexpr auto kHold = 300ms;
  std::jthread release([&blocker, kHold] {
    std::this_thread::sleep_for(kHold);
    blocker.exec("COMMIT");
  });
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t rows = big.size();
  for (int i = 0; i < 40; ++i) {
    std::vector<FlowRow> batch;
    for (int k = 0; k < 5; ++k) batch.push_back(flow_at(kT0 + 100 + i * 10 + k));
    ASSERT_TRUE(store.add_flows(batch));
    rows += batch.size();
  }
  // 40 items fit the item queue many times over: only the row bound makes the producer wait.
  EXPECT_GE(std::chrono::steady_clock::now() - start, kHold - 50ms);
  store.flush();
  EXPECT_EQ(store.reader().counts().flows, rows);
  EXPECT_EQ(store.stats().rows_dropped, 0u);
}

TEST_F(SqliteStoreTest, ALosslessStoreWaitsForRoomAndStoresEveryRow) {
  SqliteStoreOptions small = options();
  small.queue_capacity = 16;
  small.alert_reserve = 4;
  small.busy_timeout = 10s;
  small.lossless = true;
  // No gathering window: the writer takes what waits, then blocks on the lock at once.
  small.commit_interval = 0ms;
  SqliteStore store(small);
  // Another writer holds the lock for a while: the store's writer is stuck, its queue fills, and
  // the producer must wait rather than drop.
  RawDb blocker(dir_ / "netsentry.db");
  blocker.exec("BEGIN IMMEDIATE");
  constexpr auto kHold = 300ms;
  std::jthread release([&blocker, kHold] {
    std::this_thread::sleep_for(kHold);
    blocker.exec("COMMIT");
  });
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t rows = 0, alerts = 0;
  for (int i = 0; i < 400; ++i) {
    // Batches of 1 to 7 rows and single rows, faster than a locked writer can take them.
    std::vector<FlowRow> batch;
    for (int k = 0; k <= i % 7; ++k) batch.push_back(flow_at(kT0 + i * 10 + k));
    ASSERT_TRUE(store.add_flows(batch));
    rows += batch.size();
    ASSERT_GT(store.add_flow(flow_at(kT0 + i * 10 + 9)), 0);
    ++rows;
    if (i % 50 == 0) {
      ASSERT_GT(store.add_alert(alert_at(kT0 + i, detect::Severity::kHigh)), 0);
      ++alerts;
    }
  }
  EXPECT_GE(std::chrono::steady_clock::now() - start, kHold - 50ms)
      << "the producer waited for the locked writer";
  store.flush();
  EXPECT_EQ(store.reader().counts().flows, rows);
  EXPECT_EQ(store.reader().counts().alerts, alerts);
  EXPECT_EQ(store.stats().dropped, 0u);
  EXPECT_EQ(store.stats().rows_dropped, 0u);
  EXPECT_EQ(store.stats().write_errors, 0u);
}

TEST_F(SqliteStoreTest, DeletesRowsOlderThanTheRetention) {
  SqliteStoreOptions keep_week = options();
  keep_week.retention = std::chrono::hours(24 * 7);
  keep_week.retention_check_interval = 0ms;
  SqliteStore store(keep_week);
  store.add_traffic(sample_at(kT0));
  store.add_flow(flow_at(kT0));
  store.add_alert(alert_at(kT0, detect::Severity::kLow));
  store.flush();
  EXPECT_EQ(store.reader().counts().flows, 1u);
  EXPECT_EQ(store.stats().retention_deleted, 0u);

  // Six days later everything is kept; eight days later the first rows go.
  store.add_flow(flow_at(kT0 + 6 * kDay));
  store.flush();
  EXPECT_EQ(store.reader().counts().flows, 2u);
  store.add_traffic(sample_at(kT0 + 8 * kDay));
  store.flush();
  const StoreCounts counts = store.reader().counts();
  EXPECT_EQ(counts.flows, 1u);
  EXPECT_EQ(counts.traffic, 3u);  // only the new sample's three rows
  EXPECT_EQ(counts.alerts, 0u);
  EXPECT_EQ(store.stats().retention_deleted, 1u + 3u + 1u);
  EXPECT_EQ(store.reader().recent_flows(10)[0].end_ns, kT0 + 6 * kDay);
}

TEST_F(SqliteStoreTest, SizeCapDeletesTheOldestFlowsFirstAndShrinksTheFile) {
  SqliteStoreOptions capped = options();
  capped.max_bytes = 1 << 20;
  capped.retention = std::chrono::nanoseconds(0);
  std::int64_t last_flow_end = 0;
  {
    SqliteStore store(capped);
    for (int i = 0; i < 5; ++i) store.add_alert(alert_at(kT0 + i, detect::Severity::kLow));
    std::vector<FlowRow> batch;
    for (int b = 0; b < 40; ++b) {
      batch.clear();
      for (int i = 0; i < 500; ++i) {
        last_flow_end = kT0 + (b * 500 + i) * kSecond;
        batch.push_back(flow_at(last_flow_end, 0.1f, static_cast<std::uint16_t>(i)));
      }
      ASSERT_TRUE(store.add_flows(batch));
      store.flush();
    }
    const StoreCounts counts = store.reader().counts();
    EXPECT_LE(counts.data_bytes, capped.max_bytes);
    EXPECT_GT(store.stats().cap_deleted, 0u);
    EXPECT_EQ(counts.flows, 20000u - store.stats().cap_deleted);
    EXPECT_GT(counts.flows, 1000u) << "only the excess is deleted";
    EXPECT_EQ(counts.alerts, 5u) << "flows go first";
    const std::vector<FlowRow> newest = store.reader().recent_flows(1);
    ASSERT_EQ(newest.size(), 1u);
    EXPECT_EQ(newest[0].end_ns, last_flow_end);
    EXPECT_TRUE(store.reader().recent_flows(1, FlowOrder::kNewest, 0).size() == 1);
    EXPECT_TRUE(store.reader().recent_flows(20000, FlowOrder::kNewest, 0).back().end_ns > kT0);
  }
  EXPECT_LE(fs::file_size(dir_ / "netsentry.db"), capped.max_bytes);
}

TEST_F(SqliteStoreTest, UnwritablePathIsAnErrorNamingIt) {
  std::ofstream(dir_ / "plain-file") << "x";
  SqliteStoreOptions bad = options();
  bad.path = dir_ / "plain-file" / "netsentry.db";
  const std::string message = error_of([&] { SqliteStore store(bad); });
  EXPECT_NE(message.find(bad.path.string()), std::string::npos) << message;
}

TEST_F(SqliteStoreTest, CorruptFileIsAnErrorNamingItAndSqlitesReason) {
  {
    std::ofstream garbage(dir_ / "netsentry.db");
    for (int i = 0; i < 200; ++i) garbage << "this is not a database, just text\n";
  }
  const std::string message = error_of([&] { SqliteStore store(options()); });
  EXPECT_NE(message.find((dir_ / "netsentry.db").string()), std::string::npos) << message;
  EXPECT_NE(message.find("not a database"), std::string::npos) << message;
}

TEST_F(SqliteStoreTest, AVersionOneStoreIsMigratedAndKeepsItsRows) {
  // The schema netsentry 0.1 created (version 1), with one flow in it.
  create_version_one_store("INSERT INTO flows VALUES(1, " + std::to_string(kT0 - kSecond) + ", " +
                           std::to_string(kT0 - kSecond) +
                           ", '10.0.0.1', 1000, '10.0.0.2', 80, 'TCP', 6, 3, 180, 0.5, 0.1, "
                           "'benign', 0, 2);");
  // A reader alone cannot upgrade it, and says which version it found.
  EXPECT_NE(error_of([&] { StoreReader reader(dir_ / "netsentry.db"); }).find("schema version 1"),
            std::string::npos);
  SqliteStore store(options());
  ASSERT_TRUE(store.add_flow(flow_at(kT0)));
  store.flush();
  const std::vector<FlowRow> rows = store.reader().recent_flows(10, FlowOrder::kNewest, 0);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].conn_state, "SF");
  EXPECT_EQ(rows[1].src_port, 1000);  // the old row, with empty new fields
  EXPECT_EQ(rows[1].community_id, "");
  EXPECT_EQ(rows[1].orig_ip_bytes, 0u);
  RawDb db(dir_ / "netsentry.db");
  EXPECT_EQ(db.text("PRAGMA user_version"), std::to_string(SqliteStore::kSchemaVersion));
}

TEST_F(SqliteStoreTest, SinksWriteAnEngagedAlertsUpdatesOncePerIntervalAndTheNewestAtFlush) {
  SqliteStore store(options());
  SqliteSinks sinks(store, 5 * kSecond);
  RawDb db(dir_ / "netsentry.db");
  auto row = [&] {
    store.flush();
    const auto all = store.reader().alerts({});
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? detect::Alert{} : all[0];
  };
  auto writes = [&] { return db.text("SELECT changed FROM alerts"); };
  detect::Alert a = alert_at(kT0, detect::Severity::kLow);
  a.id = store.next_alert_id();
  a.last_ns = kT0;
  sinks.on_alert(a, detect::AlertChange::kRaised);
  EXPECT_EQ(row().count, a.count);
  EXPECT_EQ(writes(), "1");
  // Updates every second of packet time: written at 5 s and 10 s, the rest held.
  for (std::uint32_t i = 1; i <= 12; ++i) {
    a.count = i + 1;
    a.revision = i;
    a.last_ns = kT0 + i * kSecond;
    sinks.on_alert(a, detect::AlertChange::kUpdated);
  }
  EXPECT_EQ(row().count, 11u) << "the update of 10 s";
  EXPECT_EQ(writes(), "3");
  // An escalation is written at once, and so is the past state.
  a.severity = detect::Severity::kHigh;
  a.count = 14;
  a.last_ns += kSecond / 2;
  sinks.on_alert(a, detect::AlertChange::kEscalated);
  EXPECT_EQ(row().severity, detect::Severity::kHigh);
  EXPECT_EQ(row().count, 14u);
  EXPECT_EQ(writes(), "4");
  // A held update reaches the store at flush (the stage's stop).
  a.count = 15;
  a.last_ns += kSecond;
  sinks.on_alert(a, detect::AlertChange::kUpdated);
  EXPECT_EQ(row().count, 14u);
  sinks.flush();
  EXPECT_EQ(row().count, 15u);
  EXPECT_EQ(writes(), "5");
  a.state = detect::AlertState::kPast;
  a.last_ns += kSecond;
  sinks.on_alert(a, detect::AlertChange::kPast);
  EXPECT_EQ(row().state, detect::AlertState::kPast);
  EXPECT_EQ(writes(), "6");
}

TEST_F(SqliteStoreTest, AnAlertDeliveredAgainIsReplacedInPlaceWithItsEvidence) {
  SqliteStore store(options());
  detect::Alert a = alert_at(kT0, detect::Severity::kHigh);
  a.id = store.next_alert_id();
  EXPECT_TRUE(net::IpAddress::parse("10.0.0.66", a.host));
  detect::Evidence e;
  e.time_ns = kT0;
  e.host = a.host;
  e.kind = "port_scan";
  e.detector = "port_scan";
  e.threat = detect::Severity::kHigh;
  e.confidence = 0.8;
  e.description = "Port scan suspected: 100 ports";
  a.evidence = {e};
  ASSERT_TRUE(store.put_alert(a));
  ASSERT_TRUE(store.ack_alert(a.id));
  a.count = 77;
  a.revision = 3;
  a.state = detect::AlertState::kPast;
  e.description = "Port scan suspected: 1,000 ports";
  a.evidence = {e, e};
  ASSERT_TRUE(store.put_alert(a));
  store.flush();
  const auto all = store.reader().alerts({});
  ASSERT_EQ(all.size(), 1u) << "one row per alert id";
  const detect::Alert& read = all[0];
  EXPECT_EQ(read.id, a.id);
  EXPECT_EQ(read.count, 77u);
  EXPECT_EQ(read.revision, 3u);
  EXPECT_EQ(read.state, detect::AlertState::kPast);
  EXPECT_EQ(read.host, a.host);
  EXPECT_TRUE(read.acknowledged) << "a later delivery keeps the acknowledgement";
  ASSERT_EQ(read.evidence.size(), 2u);
  EXPECT_EQ(read.evidence[0].description, "Port scan suspected: 1,000 ports");
  EXPECT_EQ(store.next_alert_id(), a.id + 1);
  // A reader following changes sees the insert, the acknowledgement and the replacement in order.
  std::int64_t last = 0;
  const auto changed = store.reader().alerts_changed_after(0, 10, &last);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(last, 3);
  EXPECT_EQ(store.reader().heads().alert_changed, 3);
}

TEST_F(SqliteStoreTest, UpgradesAVersionOneStoreKeepingItsAlerts) {
  create_version_one_store(
      "INSERT INTO alerts(time_ns, last_ns, severity, kind, src_ip, src_port, dst_ip, dst_port, "
      "protocol, interface, score, votes, voters, count, reason, models, evidence) VALUES(1, 2, "
      "2, 'port_scan', '10.0.0.66', 0, '10.0.0.5', 0, 'TCP', '', 1.5, 0, 0, 3, 'old', '[]', "
      "'[{\"feature\":\"distinct_ports\",\"value\":300,\"expected\":100,\"deviation\":3}]');");
  {
    SqliteStore store(options());
    EXPECT_EQ(store.next_alert_id(), 2);
    const auto old = store.reader().alert(1);
    ASSERT_TRUE(old.has_value());
    EXPECT_EQ(old->reason, "old");
    ASSERT_EQ(old->features.size(), 1u);
    EXPECT_EQ(old->features[0].feature, "distinct_ports");
    EXPECT_EQ(old->state, detect::AlertState::kPast);
    EXPECT_TRUE(old->evidence.empty());
  }
  RawDb db(dir_ / "netsentry.db");
  EXPECT_EQ(db.text("PRAGMA user_version"), std::to_string(SqliteStore::kSchemaVersion));
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  { RawDb(dir_ / "netsentry.db").exec("PRAGMA user_version = 99"); }
  const std::string message = error_of([&] { SqliteStore store(options()); });
  EXPECT_NE(message.find("schema version 99"), std::string::npos) << message;
}

// Lowers the file size limit (the kernel then refuses writes past it, as a full disk does) and
// restores it, with SIGXFSZ ignored so the refusal is an error and not a signal.
class ScopedFileSizeLimit {
 public:
  explicit ScopedFileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = old_;
    limit.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &limit) == 0;
  }
  ~ScopedFileSizeLimit() { restore(); }
  void restore() {
    if (restored_) return;
    restored_ = true;
    ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, old_handler_);
  }
  [[nodiscard]] bool ok() const { return ok_; }

 private:
  rlimit old_{};
  sighandler_t old_handler_ = SIG_DFL;
  bool ok_ = false;
  bool restored_ = false;
};

TEST_F(SqliteStoreTest, AWriteFailureIsCountedAndRememberedAndTheStoreKeepsGoing) {
  SqliteStore store(options());
  store.add_flow(flow_at(kT0));
  store.flush();
  ASSERT_FALSE(store.last_error().has_value());
  {
    ScopedFileSizeLimit limit(512 * 1024);
    ASSERT_TRUE(limit.ok());
    std::vector<FlowRow> big(20000, flow_at(kT0 + kSecond));
    ASSERT_TRUE(store.add_flows(big));
    store.flush();
  }
  const StoreStats failed = store.stats();
  EXPECT_GE(failed.write_errors, 1u);
  EXPECT_GE(failed.rows_lost, 20000u);
  ASSERT_TRUE(store.last_error().has_value());
  EXPECT_NE(store.last_error()->find((dir_ / "netsentry.db").string()), std::string::npos)
      << *store.last_error();

  ASSERT_TRUE(store.add_flow(flow_at(kT0 + 2 * kSecond)));
  store.flush();
  EXPECT_EQ(store.stats().rows_written, failed.rows_written + 1);
  EXPECT_EQ(store.reader().counts().flows, 2u);
}

}  // namespace
}  // namespace netsentry::store

namespace netsentry::store {
namespace {

// --- schema version 2: a hub's store of many sensors ---

SensorMessage sensor_message(std::string sensor, std::string id,
                             decltype(SensorMessage::body) body) {
  SensorMessage m;
  m.sensor = std::move(sensor);
  m.message_id = std::move(id);
  // Wall time, as the hub stamps it (applied ids are kept for the retention period).
  m.received_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  m.body = std::move(body);
  return m;
}

TEST_F(SqliteStoreTest, GivesFlowsTheirIdsBeforeTheyAreWritten) {
  std::vector<FlowRow> flows = {flow_at(kT0), flow_at(kT0 + 1), flow_at(kT0 + 2)};
  {
    SqliteStore store(options());
    ASSERT_TRUE(store.add_flows(flows));
    EXPECT_EQ(flows[0].id, 1);
    EXPECT_EQ(flows[2].id, 3);
    EXPECT_EQ(store.add_flow(flow_at(kT0 + 3)), 4);
    store.flush();
    const auto stored = store.reader().recent_flows(10);
    ASSERT_EQ(stored.size(), 4u);
    EXPECT_EQ(stored.front().id, 4);  // newest first
  }
  SqliteStore reopened(options());  // ids go on after the stored ones
  EXPECT_EQ(reopened.add_flow(flow_at(kT0 + 4)), 5);
}

TEST_F(SqliteStoreTest, MigratesAVersionOneStoreKeepingItsRows) {
  create_version_one_store(
      "INSERT INTO flows VALUES(7, 1, 2, '10.0.0.1', 1, '10.0.0.2', 2, 'TCP', 6, 3, 300, 1.0, "
      "0.5, 'benign', 0, 1);"
      "INSERT INTO alerts(time_ns, last_ns, severity, kind, src_ip, src_port, dst_ip, dst_port, "
      "protocol, interface, score, votes, voters, count, reason, models, evidence) VALUES(1, 2, "
      "2, 'port_scan', '10.0.0.9', 0, '', 0, '', '', 1, 0, 0, 1, 'old', '[]', '[]');");
  SqliteStore store(options());
  RawDb db(dir_ / "netsentry.db");
  EXPECT_EQ(db.text("PRAGMA user_version"), std::to_string(SqliteStore::kSchemaVersion));
  EXPECT_EQ(db.text("SELECT sensor || '|' || coalesce(sensor_id, 'null') FROM flows WHERE id = 7"),
            "|null");
  EXPECT_EQ(db.text("SELECT community_id || '|' || conn_state || '|' || orig_ip_bytes FROM flows "
                    "WHERE id = 7"),
            "||0");
  EXPECT_EQ(db.text("SELECT reason FROM alerts"), "old");
  EXPECT_EQ(store.add_flow(flow_at(kT0)), 8);
  EXPECT_EQ(store.add_alert(alert_at(kT0, detect::Severity::kLow)), 2);
}

TEST_F(SqliteStoreTest, AppliesEachSensorMessageOnce) {
  SqliteStore store(options());
  std::vector<FlowRow> flows = {flow_at(kT0), flow_at(kT0 + 1)};
  flows[0].id = 41;
  flows[1].id = 42;
  for (int copy = 0; copy < 3; ++copy) {  // redelivered twice
    ASSERT_TRUE(store.add_sensor_message(sensor_message("edge-a", "edge-a-1-1", flows)));
  }
  flows[0].id = 41;  // the same ids from another sensor are other flows
  ASSERT_TRUE(store.add_sensor_message(sensor_message("edge-b", "edge-b-1-1", flows)));
  store.flush();
  RawDb db(dir_ / "netsentry.db");
  EXPECT_EQ(db.text("SELECT group_concat(sensor || ':' || sensor_id, ' ') FROM (SELECT * FROM "
                    "flows ORDER BY sensor, sensor_id)"),
            "edge-a:41 edge-a:42 edge-b:41 edge-b:42");
  EXPECT_EQ(db.text("SELECT group_concat(id) FROM bus_messages"), "edge-a-1-1,edge-b-1-1");
  const std::vector<std::string> ids = {"edge-a-1-1", "edge-a-1-2"};
  EXPECT_EQ(store.reader().applied_messages(ids), std::vector<std::string>{"edge-a-1-1"});
  const auto sensors = store.reader().sensors();
  ASSERT_EQ(sensors.size(), 2u);
  EXPECT_EQ(sensors[0].name, "edge-a");
}

TEST_F(SqliteStoreTest, AHubStoresASensorsFlowsAcrossBlockBoundaries) {
  // A hub writes a message's flows 32 per statement and the rest one by one.
  SqliteStoreOptions slow = options();
  slow.commit_interval = 60s;
  SqliteStore store(slow);
  std::vector<FlowRow> remote;
  for (int i = 0; i < 103; ++i) {
    remote.push_back(distinct_flow(i));
    remote.back().id = 1000 + i;  // the sensor's ids
  }
  ASSERT_TRUE(store.add_sensor_message(sensor_message(
      "edge-a", "edge-a-1-1", std::vector<FlowRow>(remote.begin(), remote.begin() + 70))));
  ASSERT_TRUE(store.add_sensor_message(sensor_message(
      "edge-a", "edge-a-1-2", std::vector<FlowRow>(remote.begin() + 70, remote.end()))));
  store.flush();
  EXPECT_EQ(store.stats().write_errors, 0u) << store.last_error().value_or("");
  std::vector<FlowRow> stored = store.reader().recent_flows(200);
  ASSERT_EQ(stored.size(), remote.size());
  std::sort(stored.begin(), stored.end(),
            [](const FlowRow& a, const FlowRow& b) { return a.sensor_id < b.sensor_id; });
  for (std::size_t i = 0; i < remote.size(); ++i) {
    SCOPED_TRACE("flow " + std::to_string(i));
    FlowRow expected = remote[i];
    expected.id = stored[i].id;  // the hub's own id
    EXPECT_EQ(stored[i].sensor, "edge-a");
    EXPECT_EQ(stored[i].sensor_id, remote[i].id);
    stored[i].sensor.clear();
    stored[i].sensor_id = 0;
    expect_same_flow(stored[i], expected);
  }
}

TEST_F(SqliteStoreTest, KeepsTheNewestStateOfASensorsAlert) {
  SqliteStore store(options());
  detect::Alert a = alert_at(kT0, detect::Severity::kHigh);
  a.id = 5;  // the sensor's id
  a.sensors = {"edge-a"};
  a.count = 2;
  ASSERT_TRUE(store.add_sensor_message(sensor_message("edge-a", "m1", a)));
  a.count = 9;
  a.last_ns += 10 * kSecond;
  a.severity = detect::Severity::kCritical;
  ASSERT_TRUE(store.add_sensor_message(sensor_message("edge-a", "m2", a)));
  detect::Alert older = a;  // an older state resent late
  older.count = 3;
  older.last_ns = kT0 + 2 * kSecond;
  ASSERT_TRUE(store.add_sensor_message(sensor_message("edge-a", "m0", older)));
  store.flush();
  const auto alerts = store.reader().alerts(AlertQuery{});
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].count, 9u);
  EXPECT_EQ(alerts[0].severity, detect::Severity::kCritical);
  EXPECT_EQ(alerts[0].sensors, std::vector<std::string>{"edge-a"});
  RawDb db(dir_ / "netsentry.db");
  EXPECT_EQ(db.text("SELECT sensor || ':' || sensor_id FROM alerts"), "edge-a:5");
}

TEST_F(SqliteStoreTest, AReaderForOneSensorSeesOnlyItsRows) {
  {
    SqliteStore store(options());
    std::vector<FlowRow> a = {flow_at(kT0), flow_at(kT0 + 1)};
    std::vector<FlowRow> b = {flow_at(kT0 + 2)};
    ASSERT_TRUE(store.add_sensor_message(sensor_message("edge-a", "a1", a)));
    ASSERT_TRUE(store.add_sensor_message(sensor_message("edge-b", "b1", b)));
    ASSERT_TRUE(store.add_sensor_message(sensor_message("edge-a", "a2", sample_at(kT0))));
    ASSERT_TRUE(store.add_sensor_message(sensor_message("edge-b", "b2", sample_at(kT0))));
    detect::Alert both = alert_at(kT0, detect::Severity::kHigh, "multi_sensor");
    both.id = 1;
    both.sensors = {"edge-a", "edge-b"};
    SensorMessage hub = sensor_message("hub:h", "h1", both);
    hub.record_sensor = false;
    ASSERT_TRUE(store.add_sensor_message(hub));
    detect::Alert only_b = alert_at(kT0, detect::Severity::kLow);
    only_b.id = 1;
    only_b.sensors = {"edge-b"};
    ASSERT_TRUE(store.add_sensor_message(sensor_message("edge-b", "b3", only_b)));
  }
  StoreReader all(dir_ / "netsentry.db");
  StoreReader a(dir_ / "netsentry.db", std::chrono::milliseconds(5000), "edge-a");
  EXPECT_EQ(all.counts().flows, 3u);
  EXPECT_EQ(a.counts().flows, 2u);
  EXPECT_EQ(a.recent_flows(10).size(), 2u);
  EXPECT_EQ(a.recent_flows(10)[0].sensor, "edge-a");
  EXPECT_EQ(a.flow_count_after(0), 2u);
  EXPECT_EQ(all.alerts(AlertQuery{}).size(), 2u);
  const auto a_alerts = a.alerts(AlertQuery{});
  ASSERT_EQ(a_alerts.size(), 1u);  // the cross-sensor alert naming it
  EXPECT_EQ(a_alerts[0].kind, "multi_sensor");
  // Traffic of the whole is the sum over sensors; of one sensor, its own.
  const auto sum = all.traffic_averages("total", 0, kSecond, 10);
  ASSERT_EQ(sum.size(), 1u);
  EXPECT_DOUBLE_EQ(sum[0].bytes_sent, 3000);
  const auto own = a.traffic_averages("total", 0, kSecond, 10);
  ASSERT_EQ(own.size(), 1u);
  EXPECT_DOUBLE_EQ(own[0].bytes_sent, 1500);
  EXPECT_EQ(all.sensors().size(), 2u);  // the hub itself is not a sensor
  EXPECT_EQ(a.heads().flow_id, 2);
}

}  // namespace
}  // namespace netsentry::store
