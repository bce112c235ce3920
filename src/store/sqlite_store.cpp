#include "store/sqlite_store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <nlohmann/json.hpp>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "detect/alert_format.h"

namespace netsentry::store {
namespace {

namespace fs = std::filesystem;

std::string describe(sqlite3* db, const fs::path& path, std::string_view what) {
  std::string message = path.string();
  message += ": ";
  message += what;
  message += ": ";
  message += db ? sqlite3_errmsg(db) : "out of memory";
  // "disk I/O error" alone does not say whether the disk is full or the file too large.
  const int code = db ? (sqlite3_errcode(db) & 0xff) : SQLITE_NOMEM;
  if ((code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN) &&
      sqlite3_system_errno(db) != 0) {
    message += " (";
    message += std::strerror(sqlite3_system_errno(db));
    message += ")";
  }
  return message;
}

[[noreturn]] void fail(sqlite3* db, const fs::path& path, std::string_view what) {
  throw core::Error(describe(db, path, what));
}

std::int64_t to_ns(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

std::string address_text(const net::IpAddress& address) {
  return address.family == 0 ? std::string() : address.to_string();
}

net::IpAddress parse_address(std::string_view text) {
  net::IpAddress address;
  if (!text.empty() && !net::IpAddress::parse(text, address)) address = net::IpAddress{};
  return address;
}

// Flows per multi-row INSERT (a sensor's own and a hub's), and the parameters one row takes in it
// (?1..?23; row k's are shifted by k * kFlowRowParams).
constexpr int kFlowBlock = 32;
constexpr int kFlowRowParams = 23;

// A prepared statement; binds and reads by 1-based / 0-based index as SQLite does.
class Statement {
 public:
  Statement() = default;
  // `what` opens the message of a failure: "cannot write to the store".
  Statement(sqlite3* db, const fs::path& path, std::string_view sql,
            const char* what = "SQLite error")
      : db_(db), path_(&path), what_(what) {
    if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                           &stmt_, nullptr) != SQLITE_OK) {
      fail(db, path, "cannot prepare statement");
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(Statement&& other) noexcept
      : db_(other.db_),
        path_(other.path_),
        what_(other.what_),
        stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&& other) noexcept {
    if (this != &other) {
      sqlite3_finalize(stmt_);
      db_ = other.db_;
      path_ = other.path_;
      what_ = other.what_;
      stmt_ = std::exchange(other.stmt_, nullptr);
    }
    return *this;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind(int i, std::int64_t value) { sqlite3_bind_int64(stmt_, i, value); }
  void bind_null(int i) { sqlite3_bind_null(stmt_, i); }
  // Binds parameter i when the statement has that many.
  void bind_if_present(int i, std::string_view text) {
    if (i <= sqlite3_bind_parameter_count(stmt_)) bind(i, text);
  }
  void bind(int i, double value) { sqlite3_bind_double(stmt_, i, value); }
  // The text must stay alive until the statement is stepped.
  void bind(int i, std::string_view text) {
    // An empty view may have no data pointer, which SQLite would store as NULL.
    sqlite3_bind_text(stmt_, i, text.data() != nullptr ? text.data() : "",
                      static_cast<int>(text.size()), SQLITE_STATIC);
  }

  // True for a row, false when done; throws core::Error on failure (the statement is reset).
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    // Described before the reset, which may clear the OS error number.
    std::string message = describe(db_, *path_, what_);
    sqlite3_reset(stmt_);
    throw core::Error(message);
  }
  // Runs to completion and resets for the next use.
  void run() {
    while (step()) {
    }
    sqlite3_reset(stmt_);
  }
  void reset() { sqlite3_reset(stmt_); }

  [[nodiscard]] std::int64_t integer(int column) const {
    return sqlite3_column_int64(stmt_, column);
  }
  [[nodiscard]] double real(int column) const { return sqlite3_column_double(stmt_, column); }
  [[nodiscard]] std::string text(int column) const {
    const auto* data = sqlite3_column_text(stmt_, column);
    const int size = sqlite3_column_bytes(stmt_, column);
    return data ? std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size))
                : std::string();
  }
  // Valid until the next step() or reset().
  [[nodiscard]] std::string_view text_view(int column) const {
    const auto* data = sqlite3_column_text(stmt_, column);
    const int size = sqlite3_column_bytes(stmt_, column);
    return data ? std::string_view(reinterpret_cast<const char*>(data),
                                   static_cast<std::size_t>(size))
                : std::string_view();
  }

 private:
  sqlite3* db_ = nullptr;
  const fs::path* path_ = nullptr;
  const char* what_ = "SQLite error";
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const fs::path& path, const char* sql, std::string_view what) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text =
        path.string() + ": " + std::string(what) + ": " + (message ? message : sqlite3_errmsg(db));
    sqlite3_free(message);
    throw core::Error(text);
  }
}

std::int64_t query_integer(sqlite3* db, const fs::path& path, std::string_view sql,
                           const char* what = "cannot read the store") {
  Statement statement(db, path, sql, what);
  return statement.step() ? statement.integer(0) : 0;
}

sqlite3* open_database(const fs::path& path, int flags, std::chrono::milliseconds busy_timeout) {
  // Once, before SQLite initialises: no global memory statistics (nothing here reads them), so
  // its allocations do not take a process-wide mutex each; every connection is used by one
  // thread at a time anyway (SQLITE_OPEN_NOMUTEX below).
  static const bool configured = [] {
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);  // SQLITE_MISUSE once initialised: harmless
    return true;
  }();
  (void)configured;
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = path.string() + ": cannot open SQLite store: " +
                          (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    throw core::Error(message);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
  return db;
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS traffic(
  ts_ns INTEGER NOT NULL, interface TEXT NOT NULL, bytes_sent REAL NOT NULL,
  bytes_recv REAL NOT NULL, packets_sent REAL NOT NULL, packets_recv REAL NOT NULL);
CREATE INDEX IF NOT EXISTS traffic_ts ON traffic(ts_ns);
CREATE TABLE IF NOT EXISTS flows(
  id INTEGER PRIMARY KEY, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
  src_ip TEXT NOT NULL, src_port INTEGER NOT NULL, dst_ip TEXT NOT NULL, dst_port INTEGER NOT NULL,
  protocol TEXT NOT NULL, ip_proto INTEGER NOT NULL, packets INTEGER NOT NULL,
  bytes INTEGER NOT NULL, duration_s REAL NOT NULL, score REAL NOT NULL, verdict TEXT NOT NULL,
  votes INTEGER NOT NULL, voters INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS flows_end ON flows(end_ns);
CREATE TABLE IF NOT EXISTS alerts(
  id INTEGER PRIMARY KEY AUTOINCREMENT, time_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,
  severity INTEGER NOT NULL, kind TEXT NOT NULL, src_ip TEXT NOT NULL, src_port INTEGER NOT NULL,
  dst_ip TEXT NOT NULL, dst_port INTEGER NOT NULL, protocol TEXT NOT NULL,
  interface TEXT NOT NULL, score REAL NOT NULL, votes INTEGER NOT NULL, voters INTEGER NOT NULL,
  count INTEGER NOT NULL, reason TEXT NOT NULL, models TEXT NOT NULL, evidence TEXT NOT NULL,
  acknowledged INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS alerts_last ON alerts(last_ns);
CREATE TABLE IF NOT EXISTS connections(
  ts_ns INTEGER NOT NULL, event TEXT NOT NULL, transport TEXT NOT NULL, local_ip TEXT NOT NULL,
  local_port INTEGER NOT NULL, remote_ip TEXT NOT NULL, remote_port INTEGER NOT NULL,
  status TEXT NOT NULL, pid INTEGER NOT NULL, process TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS connections_ts ON connections(ts_ns);
)sql";

// Version 2: the rows of many sensors in one store (netsentry hub). A sensor's own rows have an
// empty `sensor` and no sensor_id. alerts_sensor_id makes a sensor's alert updates find their row;
// bus_messages remembers which bus messages were applied, so a redelivered one changes nothing.
constexpr const char* kMigrateTo2 = R"sql(
ALTER TABLE traffic ADD COLUMN sensor TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN sensor TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN sensor_id INTEGER;
ALTER TABLE alerts ADD COLUMN sensor TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN sensor_id INTEGER;
ALTER TABLE alerts ADD COLUMN sensors TEXT NOT NULL DEFAULT '';
ALTER TABLE connections ADD COLUMN sensor TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX IF NOT EXISTS alerts_sensor_id ON alerts(sensor, sensor_id)
  WHERE sensor_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS sensors(
  name TEXT PRIMARY KEY, first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,
  health_ns INTEGER NOT NULL DEFAULT 0, health TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS bus_messages(id TEXT PRIMARY KEY, received_ns INTEGER NOT NULL)
  WITHOUT ROWID;
)sql";

// Version 3: the interoperable flow fields (docs/flow-columns.md); rows written before are empty.
constexpr const char* kMigrateTo3 = R"sql(
ALTER TABLE flows ADD COLUMN community_id TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN orig_ip_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN resp_ip_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN conn_state TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN history TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN tunnel_parent TEXT NOT NULL DEFAULT '';
)sql";

// A reader's sensor filter: parameter 90 is the reader's sensor, '' for every row. (Numbered far
// past the queries' own parameters: a named one would take the next free number and could
// collide with a later ?N.)
constexpr int kSensorParameter = 90;
constexpr std::string_view kRowFilter = "(?90 = '' OR sensor = ?90)";
constexpr std::string_view kAlertFilter =
    "(?90 = '' OR sensor = ?90 OR instr(',' || sensors || ',', ',' || ?90 || ',') > 0)";

// Version 4: alerts with a lifecycle (detect/alert.h). The feature deviations move to `features`,
// and each alert row keeps its state, host, role, revision, the evidence that built it (JSON) and
// `changed`, a store-wide sequence number set on every write, so a reader follows updates in place.
constexpr const char* kMigrateTo4 = R"sql(
ALTER TABLE alerts RENAME COLUMN evidence TO features;
ALTER TABLE alerts ADD COLUMN state TEXT NOT NULL DEFAULT 'engaged';
ALTER TABLE alerts ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN role TEXT NOT NULL DEFAULT 'attacker';
ALTER TABLE alerts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN evidence TEXT NOT NULL DEFAULT '[]';
ALTER TABLE alerts ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
-- Alerts stored before alerts had a lifecycle are history: none is still accumulating.
UPDATE alerts SET changed = id, state = 'past';
CREATE INDEX IF NOT EXISTS alerts_changed ON alerts(changed);
)sql";

// Version 5: a host's flows and alerts (the page's host page, /api/flows?host=) without scanning
// the tables: the alert's profile address, and each flow end's address with the end time
// (flows_src_end and flows_dst_end, which version 6 replaces, so an upgrade from before 5 does
// not build them).
constexpr const char* kMigrateTo5 = R"sql(
CREATE INDEX IF NOT EXISTS alerts_host ON alerts(host);
)sql";

// Version 6: version 5's address indexes keyed by the flow's block of ids first (id >> 14:
// 16,384 consecutive flows; kFlowIdBlockShift in the header), so a commit's inserts land in the
// newest block or two of each index instead of leaves all over it: with random source addresses
// (a spoofed flood) every commit rewrote most of flows_src_end's leaves, ~60 % of the writer's
// CPU. A host's flows are one seek per block (flows_between), a few hundred for a week of 10 M.
constexpr const char* kMigrateTo6 = R"sql(
DROP INDEX IF EXISTS flows_src_end;
DROP INDEX IF EXISTS flows_dst_end;
CREATE INDEX IF NOT EXISTS flows_src_block ON flows(id >> 14, src_ip, end_ns);
CREATE INDEX IF NOT EXISTS flows_dst_block ON flows(id >> 14, dst_ip, end_ns);
)sql";
static_assert(kFlowIdBlockShift == 14 &&
              std::string_view(kMigrateTo6).find("(id >> 14, dst_ip") != std::string_view::npos);

// Selected in this order by read_alert(); written in it by the insert (parameters ?1..?20, then
// ?23..?28: ?21 and ?22 are a hub's sensor and sensor_id).
constexpr std::string_view kAlertColumns =
    "id, time_ns, last_ns, severity, kind, src_ip, src_port, dst_ip, dst_port, protocol, "
    "interface, score, votes, voters, count, reason, models, features, acknowledged, sensors, "
    "state, host, role, revision, evidence, changed";

std::string join_sensors(const std::vector<std::string>& sensors) {
  std::string text;
  for (const std::string& s : sensors) {
    if (!text.empty()) text += ',';
    text += s;
  }
  return text;
}

std::vector<std::string> split_sensors(const std::string& text) {
  std::vector<std::string> sensors;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) sensors.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return sensors;
}

// The alert's JSON pieces as detect/alert_format.h writes them for every other output.
std::string models_json(const detect::Alert& alert) {
  return detect::models_to_json(alert.models)
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string features_json(const detect::Alert& alert) {
  return detect::features_to_json(alert.features)
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string why_json(const detect::Alert& alert) {
  nlohmann::json evidence = nlohmann::json::array();
  for (const detect::Evidence& e : alert.evidence) evidence.push_back(detect::evidence_to_json(e));
  return evidence.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A stored number: null is how JSON holds a non-finite one (NaN), an absent key or another type
// reads as 0.
double stored_number(const nlohmann::json& item, const char* key) {
  const auto it = item.find(key);
  if (it == item.end()) return 0.0;
  if (it->is_null()) return std::numeric_limits<double>::quiet_NaN();
  return it->is_number() ? it->get<double>() : 0.0;
}

// Stored JSON is ours, but a hand-edited row must not take the reader down: bad JSON reads as none.
void read_models(const std::string& text, detect::Alert& alert) {
  const nlohmann::json models = nlohmann::json::parse(text, nullptr, false);
  if (!models.is_array()) return;
  for (const nlohmann::json& item : models) {
    if (!item.is_object()) continue;
    detect::ModelVote vote;
    vote.model = item.value("model", std::string());
    vote.score = static_cast<float>(stored_number(item, "score"));
    vote.threshold = static_cast<float>(stored_number(item, "threshold"));
    vote.vote = item.value("vote", false);
    alert.models.push_back(std::move(vote));
  }
}

void read_features(const std::string& text, detect::Alert& alert) {
  const nlohmann::json features = nlohmann::json::parse(text, nullptr, false);
  if (!features.is_array()) return;
  for (const nlohmann::json& item : features) {
    if (!item.is_object()) continue;
    detect::FeatureDeviation entry;
    entry.feature = item.value("feature", std::string());
    entry.value = stored_number(item, "value");
    entry.expected = stored_number(item, "expected");
    entry.deviation = stored_number(item, "deviation");
    alert.features.push_back(std::move(entry));
  }
}

void read_why(const std::string& text, detect::Alert& alert) {
  const nlohmann::json evidence = nlohmann::json::parse(text, nullptr, false);
  if (!evidence.is_array()) return;
  for (const nlohmann::json& item : evidence)
    alert.evidence.push_back(detect::evidence_from_json(item));
}

detect::Alert read_alert(const Statement& row) {
  detect::Alert alert;
  alert.id = row.integer(0);
  alert.time_ns = row.integer(1);
  alert.last_ns = row.integer(2);
  alert.severity = static_cast<detect::Severity>(std::clamp<std::int64_t>(row.integer(3), 0, 3));
  alert.kind = row.text(4);
  alert.src_ip = parse_address(row.text(5));
  alert.src_port = static_cast<std::uint16_t>(row.integer(6));
  alert.dst_ip = parse_address(row.text(7));
  alert.dst_port = static_cast<std::uint16_t>(row.integer(8));
  alert.protocol = row.text(9);
  alert.interface = row.text(10);
  alert.score = static_cast<float>(row.real(11));
  alert.votes = static_cast<int>(row.integer(12));
  alert.voters = static_cast<int>(row.integer(13));
  alert.count = static_cast<std::uint64_t>(row.integer(14));
  alert.reason = row.text(15);
  read_models(row.text(16), alert);
  read_features(row.text(17), alert);
  alert.acknowledged = row.integer(18) != 0;
  alert.sensors = split_sensors(row.text(19));
  alert.state = row.text(20) == "past" ? detect::AlertState::kPast : detect::AlertState::kEngaged;
  alert.host = parse_address(row.text(21));
  alert.role = row.text(22) == "victim" ? detect::Role::kVictim : detect::Role::kAttacker;
  alert.revision = static_cast<std::uint32_t>(row.integer(23));
  read_why(row.text(24), alert);
  return alert;
}

constexpr std::string_view kTrafficColumns =
    "ts_ns, interface, bytes_sent, bytes_recv, packets_sent, packets_recv, rowid, sensor";
constexpr std::string_view kFlowColumns =
    "id, start_ns, end_ns, src_ip, src_port, dst_ip, dst_port, ip_proto, packets, bytes, "
    "duration_s, score, verdict, votes, voters, sensor, coalesce(sensor_id, 0), community_id, "
    "orig_ip_bytes, resp_ip_bytes, conn_state, history, tunnel_parent";
constexpr std::string_view kConnectionColumns =
    "ts_ns, event, transport, local_ip, local_port, remote_ip, remote_port, status, pid, process, "
    "rowid, sensor";

TrafficRow read_traffic(const Statement& row) {
  return {row.integer(0), row.text(1), row.real(2),    row.real(3),
          row.real(4),    row.real(5), row.integer(6), row.text(7)};
}

FlowRow read_flow(const Statement& query) {
  FlowRow row;
  row.id = query.integer(0);
  row.start_ns = query.integer(1);
  row.end_ns = query.integer(2);
  row.src_ip = parse_address(query.text(3));
  row.src_port = static_cast<std::uint16_t>(query.integer(4));
  row.dst_ip = parse_address(query.text(5));
  row.dst_port = static_cast<std::uint16_t>(query.integer(6));
  row.ip_proto = static_cast<std::uint8_t>(query.integer(7));
  row.packets = static_cast<std::uint64_t>(query.integer(8));
  row.bytes = static_cast<std::uint64_t>(query.integer(9));
  row.duration_s = query.real(10);
  row.score = static_cast<float>(query.real(11));
  row.verdict = query.text(12);
  row.votes = static_cast<int>(query.integer(13));
  row.voters = static_cast<int>(query.integer(14));
  row.sensor = query.text(15);
  row.sensor_id = query.integer(16);
  row.community_id = query.text(17);
  row.orig_ip_bytes = static_cast<std::uint64_t>(query.integer(18));
  row.resp_ip_bytes = static_cast<std::uint64_t>(query.integer(19));
  row.conn_state = query.text(20);
  row.history = query.text(21);
  row.tunnel_parent = query.text(22);
  return row;
}

ConnectionRow read_connection(const Statement& query) {
  ConnectionRow row;
  row.ts_ns = query.integer(0);
  row.event = query.text(1);
  row.transport = query.text(2);
  row.local_ip = query.text(3);
  row.local_port = static_cast<std::uint16_t>(query.integer(4));
  row.remote_ip = query.text(5);
  row.remote_port = static_cast<std::uint16_t>(query.integer(6));
  row.status = query.text(7);
  row.pid = static_cast<std::int32_t>(query.integer(8));
  row.process = query.text(9);
  row.rowid = query.integer(10);
  row.sensor = query.text(11);
  return row;
}

std::int64_t sql_limit(std::size_t limit) {
  return static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX));
}

std::string select_from(std::string_view columns, std::string_view rest) {
  std::string sql = "SELECT ";
  sql += columns;
  sql += ' ';
  sql += rest;
  return sql;
}

std::size_t rows_of(const auto& item) {
  using T = std::decay_t<decltype(item)>;
  if constexpr (std::is_same_v<T, std::vector<FlowRow>>) {
    return item.size();
  } else if constexpr (requires { item.events; }) {
    return item.events.size();
  } else if constexpr (requires { item.sample; }) {
    return 1 + item.sample.interfaces.size();
  } else if constexpr (requires { item.done; }) {
    return 0;
  } else if constexpr (std::is_same_v<T, SensorMessage>) {
    if (const auto* flows = std::get_if<std::vector<FlowRow>>(&item.body)) {
      return std::max<std::size_t>(flows->size(), 1);
    }
    return 1;
  } else {
    return 1;
  }
}

// The tables housekeeping trims, in the order the size cap sacrifices them, with their time column.
struct TableTime {
  const char* table;
  const char* time_column;
};
constexpr TableTime kTrimOrder[] = {
    {"flows", "end_ns"}, {"connections", "ts_ns"}, {"traffic", "ts_ns"}, {"alerts", "last_ns"}};

}  // namespace

FlowRow make_flow_row(const flow::FlowRecord& record, float score, std::string_view verdict,
                      int votes, int voters) {
  FlowRow row;
  row.start_ns = record.start_ns;
  row.end_ns = record.end_ns;
  row.src_ip = record.src_ip;
  row.dst_ip = record.dst_ip;
  row.src_port = record.src_port;
  row.dst_port = record.dst_port;
  row.ip_proto = record.ip_proto;
  row.packets = record.packet_count;
  row.bytes = record.byte_count;
  row.duration_s = record.duration_s;
  row.score = score;
  row.verdict = verdict;
  row.votes = votes;
  row.voters = voters;
  row.community_id = record.community_id.to_string();
  row.orig_ip_bytes = record.orig_ip_bytes;
  row.resp_ip_bytes = record.resp_ip_bytes;
  row.conn_state = std::string(flow::conn_state_name(record.conn_state));
  row.history = std::string(record.history.view());
  row.tunnel_parent = record.tunnel_parent.to_string();
  return row;
}

// ---------------------------------------------------------------------------------------------
// StoreReader

StoreReader::StoreReader(const fs::path& path, std::chrono::milliseconds busy_timeout,
                         std::string sensor)
    : path_(path), sensor_(std::move(sensor)) {
  db_ = open_database(path, SQLITE_OPEN_READONLY, busy_timeout);
  try {
    std::int64_t version =
        query_integer(db_, path_, "PRAGMA user_version", "cannot open the store");
    // Version 0 is also a store another process is creating (or upgrading) right now: its schema
    // commits within moments, so wait for it up to the busy timeout before calling it foreign.
    const auto deadline = std::chrono::steady_clock::now() + busy_timeout;
    while (version == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      version = query_integer(db_, path_, "PRAGMA user_version", "cannot open the store");
    }
    if (version > 0 && version < SqliteStore::kSchemaVersion) {
      throw core::Error(path_.string() + ": written by an older netsentry (schema version " +
                        std::to_string(version) + ", expected " +
                        std::to_string(SqliteStore::kSchemaVersion) +
                        "); `netsentry monitor --db` on it upgrades it once");
    }
    if (version != SqliteStore::kSchemaVersion) {
      throw core::Error(path_.string() + ": not a netsentry store (schema version " +
                        std::to_string(version) + ", expected " +
                        std::to_string(SqliteStore::kSchemaVersion) + ")");
    }
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

StoreReader::~StoreReader() { sqlite3_close(db_); }

std::vector<TrafficRow> StoreReader::traffic_since(std::int64_t since_ns,
                                                   std::string_view interface, std::size_t limit) {
  std::lock_guard lock(mutex_);
  Statement query(db_, path_,
                  select_from(kTrafficColumns,
                              std::string(interface.empty()
                                              ? "FROM traffic WHERE ts_ns >= ?1 AND "
                                              : "FROM traffic WHERE ts_ns >= ?1 AND interface = ?3 "
                                                "AND ") +
                                  std::string(kRowFilter) + " ORDER BY ts_ns LIMIT ?2"));
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, since_ns);
  query.bind(2, sql_limit(limit));
  if (!interface.empty()) query.bind(3, interface);
  std::vector<TrafficRow> rows;
  while (query.step()) rows.push_back(read_traffic(query));
  return rows;
}

std::vector<detect::Alert> StoreReader::alerts(const AlertQuery& filter) {
  std::string sql = "SELECT ";
  sql += kAlertColumns;
  sql += " FROM alerts WHERE last_ns >= ?1 AND severity >= ?2 AND time_ns <= ?5 AND ";
  sql += kAlertFilter;
  if (!filter.kind.empty()) sql += " AND kind = ?3";
  if (!filter.host.empty()) sql += " AND (host = ?6 OR src_ip = ?6 OR dst_ip = ?6)";
  if (filter.unacknowledged_only) sql += " AND acknowledged = 0";
  sql += filter.newest_first ? " ORDER BY last_ns DESC, id DESC" : " ORDER BY last_ns, id";
  sql += " LIMIT ?4";
  std::lock_guard lock(mutex_);
  Statement query(db_, path_, sql);
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, filter.since_ns);
  query.bind(2, static_cast<std::int64_t>(filter.min_severity));
  if (!filter.kind.empty()) query.bind(3, filter.kind);
  query.bind(4, static_cast<std::int64_t>(std::min<std::size_t>(filter.limit, INT64_MAX)));
  query.bind(5, filter.until_ns);
  if (!filter.host.empty()) query.bind(6, filter.host);
  std::vector<detect::Alert> result;
  while (query.step()) result.push_back(read_alert(query));
  return result;
}

std::optional<detect::Alert> StoreReader::alert(std::int64_t id) {
  std::lock_guard lock(mutex_);
  Statement query(db_, path_,
                  std::string("SELECT ") + std::string(kAlertColumns) +
                      " FROM alerts WHERE id = ?1 AND " + std::string(kAlertFilter));
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, id);
  if (!query.step()) return std::nullopt;
  return read_alert(query);
}

std::vector<FlowRow> StoreReader::recent_flows(std::size_t limit, FlowOrder order,
                                               std::int64_t since_ns) {
  std::lock_guard lock(mutex_);
  Statement query(
      db_, path_,
      select_from(kFlowColumns,
                  "FROM flows WHERE end_ns >= ?1 AND " + std::string(kRowFilter) + " ORDER BY " +
                      (order == FlowOrder::kHighestScore ? "score DESC, id DESC" : "id DESC") +
                      " LIMIT ?2"));
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, since_ns);
  query.bind(2, sql_limit(limit));
  std::vector<FlowRow> rows;
  while (query.step()) rows.push_back(read_flow(query));
  return rows;
}

std::vector<FlowRow> StoreReader::flows_between(std::string_view host, std::int64_t since_ns,
                                                std::int64_t until_ns, std::size_t limit) {
  // With a host, each end is its own indexed lookup and the union is ordered by end time (an OR
  // over the two columns would make SQLite walk the whole time range instead). The address
  // indexes lead with the block of ids (schema version 6), so the lookup is one seek per block
  // from the oldest stored flow's to the newest's: `blocks` lists them.
  const std::string range = "end_ns >= ?1 AND end_ns <= ?2 AND " + std::string(kRowFilter);
  const std::string block = "(id >> " + std::to_string(kFlowIdBlockShift) + ")";
  const std::string sql =
      host.empty()
          ? select_from(kFlowColumns,
                        "FROM flows WHERE " + range + " ORDER BY end_ns DESC, id DESC LIMIT ?3")
          : "WITH RECURSIVE blocks(b) AS (SELECT (SELECT min(id) FROM flows) >> " +
                std::to_string(kFlowIdBlockShift) +
                " UNION ALL SELECT b + 1 FROM blocks WHERE b < (SELECT max(id) FROM flows) >> " +
                std::to_string(kFlowIdBlockShift) + ") " +
                select_from(kFlowColumns, "FROM flows WHERE id IN (SELECT id FROM flows WHERE " +
                                              block + " IN blocks AND src_ip = ?4 AND " + range +
                                              " UNION SELECT id FROM flows WHERE " + block +
                                              " IN blocks AND dst_ip = ?4 AND " + range +
                                              ") ORDER BY end_ns DESC, id DESC LIMIT ?3");
  std::lock_guard lock(mutex_);
  Statement query(db_, path_, sql);
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, since_ns);
  query.bind(2, until_ns);
  query.bind(3, sql_limit(limit));
  if (!host.empty()) query.bind(4, host);  // bound without a copy: `host` outlives the query
  std::vector<FlowRow> rows;
  while (query.step()) rows.push_back(read_flow(query));
  return rows;
}

std::vector<ConnectionRow> StoreReader::connections_since(std::int64_t since_ns,
                                                          std::size_t limit) {
  std::lock_guard lock(mutex_);
  Statement query(db_, path_,
                  select_from(kConnectionColumns, "FROM connections WHERE ts_ns >= ?1 AND " +
                                                      std::string(kRowFilter) +
                                                      " ORDER BY ts_ns, rowid LIMIT ?2"));
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, since_ns);
  query.bind(2, sql_limit(limit));
  std::vector<ConnectionRow> rows;
  while (query.step()) rows.push_back(read_connection(query));
  return rows;
}

StoreCounts StoreReader::counts() {
  std::lock_guard lock(mutex_);
  StoreCounts counts;
  // One read transaction, so the numbers describe one state of the file.
  exec(db_, path_, "BEGIN", "cannot start a read");
  try {
    const auto count = [&](const char* table) {
      Statement q(
          db_, path_,
          std::string("SELECT count(*) FROM ") + table + " WHERE " + std::string(kRowFilter),
          "cannot read the store");
      q.bind_if_present(kSensorParameter, sensor_);
      return q.step() ? static_cast<std::uint64_t>(q.integer(0)) : 0;
    };
    counts.traffic = count("traffic");
    counts.flows = count("flows");
    counts.connections = count("connections");
    Statement severities(db_, path_,
                         "SELECT severity, count(*), sum(acknowledged = 0) FROM alerts WHERE " +
                             std::string(kAlertFilter) + " GROUP BY severity");
    severities.bind_if_present(kSensorParameter, sensor_);
    while (severities.step()) {
      const std::int64_t severity = severities.integer(0);
      const auto n = static_cast<std::uint64_t>(severities.integer(1));
      counts.alerts += n;
      counts.unacknowledged_alerts += static_cast<std::uint64_t>(severities.integer(2));
      if (severity >= 0 && severity < 4) counts.alerts_by_severity[severity] += n;
    }
    const std::int64_t pages = query_integer(db_, path_, "PRAGMA page_count");
    const std::int64_t free_pages = query_integer(db_, path_, "PRAGMA freelist_count");
    const std::int64_t page_size = query_integer(db_, path_, "PRAGMA page_size");
    counts.data_bytes =
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, pages - free_pages) * page_size);
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  exec(db_, path_, "COMMIT", "cannot end a read");
  return counts;
}

StoreHeads StoreReader::heads() {
  std::lock_guard lock(mutex_);
  // Without a sensor filter max() reads one end of an index; with one, the newest matching row
  // is found walking back from the newest row (a sensor heard recently is found at once).
  const std::string rows(kRowFilter);
  const std::string alerts(kAlertFilter);
  Statement query(db_, path_,
                  sensor_.empty()
                      ? std::string("SELECT (SELECT coalesce(max(rowid), 0) FROM traffic), "
                                    "(SELECT coalesce(max(id), 0) FROM flows), "
                                    "(SELECT coalesce(max(id), 0) FROM alerts), "
                                    "(SELECT coalesce(max(rowid), 0) FROM connections), "
                                    "max(coalesce((SELECT max(ts_ns) FROM traffic), 0), "
                                    "coalesce((SELECT max(end_ns) FROM flows), 0), "
                                    "coalesce((SELECT max(last_ns) FROM alerts), 0)), "
                                    "(SELECT coalesce(max(changed), 0) FROM alerts)")
                      : "SELECT coalesce((SELECT rowid FROM traffic WHERE " + rows +
                            " ORDER BY rowid DESC LIMIT 1), 0), "
                            "coalesce((SELECT id FROM flows WHERE " +
                            rows +
                            " ORDER BY id DESC LIMIT 1), 0), "
                            "coalesce((SELECT id FROM alerts WHERE " +
                            alerts +
                            " ORDER BY id DESC LIMIT 1), 0), "
                            "coalesce((SELECT rowid FROM connections WHERE " +
                            rows +
                            " ORDER BY rowid DESC LIMIT 1), 0), "
                            "max(coalesce((SELECT ts_ns FROM traffic WHERE " +
                            rows +
                            " ORDER BY rowid DESC LIMIT 1), 0), "
                            "coalesce((SELECT end_ns FROM flows WHERE " +
                            rows +
                            " ORDER BY id DESC LIMIT 1), 0), "
                            "coalesce((SELECT max(last_ns) FROM alerts WHERE " +
                            alerts +
                            "), 0)), "
                            "coalesce((SELECT max(changed) FROM alerts WHERE " +
                            alerts + "), 0)",
                  "cannot read the store");
  query.bind_if_present(kSensorParameter, sensor_);
  StoreHeads heads;
  if (query.step()) {
    heads.traffic_rowid = query.integer(0);
    heads.flow_id = query.integer(1);
    heads.alert_id = query.integer(2);
    heads.connection_rowid = query.integer(3);
    heads.newest_ns = query.integer(4);
    heads.alert_changed = query.integer(5);
  }
  return heads;
}

std::vector<TrafficRow> StoreReader::traffic_after(std::int64_t after_rowid, std::size_t limit) {
  std::lock_guard lock(mutex_);
  Statement query(
      db_, path_,
      select_from(kTrafficColumns, "FROM traffic WHERE rowid > ?1 AND " + std::string(kRowFilter) +
                                       " ORDER BY rowid LIMIT ?2"));
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, after_rowid);
  query.bind(2, sql_limit(limit));
  std::vector<TrafficRow> rows;
  while (query.step()) rows.push_back(read_traffic(query));
  return rows;
}

std::vector<ConnectionRow> StoreReader::connections_after(std::int64_t after_rowid,
                                                          std::size_t limit) {
  std::lock_guard lock(mutex_);
  Statement query(
      db_, path_,
      select_from(kConnectionColumns, "FROM connections WHERE rowid > ?1 AND " +
                                          std::string(kRowFilter) + " ORDER BY rowid LIMIT ?2"));
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, after_rowid);
  query.bind(2, sql_limit(limit));
  std::vector<ConnectionRow> rows;
  while (query.step()) rows.push_back(read_connection(query));
  return rows;
}

TrafficTotals StoreReader::traffic_totals(std::string_view interface, std::int64_t up_to_rowid) {
  std::lock_guard lock(mutex_);
  Statement query(
      db_, path_,
      "SELECT coalesce(sum(bytes_sent * iv), 0), coalesce(sum(bytes_recv * iv), 0), "
      "coalesce(sum((packets_sent + packets_recv) * iv), 0), coalesce(max(ts_ns), 0) FROM "
      "(SELECT bytes_sent, bytes_recv, packets_sent, packets_recv, ts_ns, "
      "coalesce(min(max(ts_ns - lag(ts_ns) OVER (PARTITION BY sensor ORDER BY ts_ns, rowid), 0), "
      "60000000000), 1000000000) / 1e9 AS iv FROM traffic WHERE interface = ?1 AND rowid <= ?2 "
      "AND " +
          std::string(kRowFilter) + ")");
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, interface);
  query.bind(2, up_to_rowid);
  TrafficTotals totals;
  if (query.step()) {
    totals.bytes_sent = query.real(0);
    totals.bytes_recv = query.real(1);
    totals.packets = query.real(2);
    totals.last_ts_ns = query.integer(3);
  }
  return totals;
}

TrafficSpan StoreReader::traffic_span(std::string_view interface, std::int64_t since_ns) {
  std::lock_guard lock(mutex_);
  Statement query(db_, path_,
                  "SELECT count(*), coalesce(min(ts_ns), 0), coalesce(max(ts_ns), 0) FROM traffic "
                  "WHERE interface = ?1 AND ts_ns >= ?2 AND " +
                      std::string(kRowFilter));
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, interface);
  query.bind(2, since_ns);
  TrafficSpan span;
  if (query.step()) {
    span.rows = static_cast<std::uint64_t>(query.integer(0));
    span.first_ns = query.integer(1);
    span.last_ns = query.integer(2);
  }
  return span;
}

std::vector<TrafficRow> StoreReader::traffic_averages(std::string_view interface,
                                                      std::int64_t since_ns, std::int64_t bucket_ns,
                                                      std::size_t limit) {
  std::lock_guard lock(mutex_);
  // The mean rate per sensor, summed over sensors (one sensor: the mean): the sum of the rows
  // divided by the rows per sensor.
  Statement query(db_, path_,
                  "SELECT bucket, interface, sb / n, rb / n, sp / n, rp / n, r, '' FROM (SELECT "
                  "(ts_ns / ?3) * ?3 AS bucket, interface, sum(bytes_sent) AS sb, "
                  "sum(bytes_recv) AS rb, sum(packets_sent) AS sp, sum(packets_recv) AS rp, "
                  "count(*) * 1.0 / count(DISTINCT sensor) AS n, max(rowid) AS r FROM traffic "
                  "WHERE interface = ?1 AND ts_ns >= ?2 AND " +
                      std::string(kRowFilter) +
                      " GROUP BY ts_ns / ?3 ORDER BY bucket DESC LIMIT ?4) ORDER BY bucket");
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, interface);
  query.bind(2, since_ns);
  query.bind(3, std::max<std::int64_t>(bucket_ns, 1));
  query.bind(4, sql_limit(limit));
  std::vector<TrafficRow> rows;
  while (query.step()) rows.push_back(read_traffic(query));
  return rows;
}

std::vector<std::string> StoreReader::interfaces_since(std::int64_t since_ns, std::size_t limit) {
  std::lock_guard lock(mutex_);
  Statement query(db_, path_,
                  "SELECT interface FROM traffic WHERE ts_ns >= ?1 AND " + std::string(kRowFilter) +
                      " GROUP BY interface ORDER BY interface <> 'total', interface LIMIT ?2");
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, since_ns);
  query.bind(2, sql_limit(limit));
  std::vector<std::string> names;
  while (query.step()) names.push_back(query.text(0));
  return names;
}

std::vector<detect::Alert> StoreReader::alerts_after(std::int64_t after_id,
                                                     detect::Severity min_severity,
                                                     std::size_t limit, bool newest_first) {
  std::lock_guard lock(mutex_);
  Statement query(db_, path_,
                  select_from(kAlertColumns, "FROM alerts WHERE id > ?1 AND severity >= ?2 AND " +
                                                 std::string(kAlertFilter) + " ORDER BY id" +
                                                 (newest_first ? " DESC" : "") + " LIMIT ?3"));
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, after_id);
  query.bind(2, static_cast<std::int64_t>(min_severity));
  query.bind(3, sql_limit(limit));
  std::vector<detect::Alert> alerts;
  while (query.step()) alerts.push_back(read_alert(query));
  return alerts;
}

std::uint64_t StoreReader::flow_count_after(std::int64_t after_id) {
  std::lock_guard lock(mutex_);
  Statement query(db_, path_,
                  "SELECT count(*) FROM flows WHERE id > ?1 AND " + std::string(kRowFilter),
                  "cannot read the store");
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, after_id);
  return query.step() ? static_cast<std::uint64_t>(query.integer(0)) : 0;
}

std::vector<detect::Alert> StoreReader::alerts_changed_after(std::int64_t after_changed,
                                                             std::size_t limit,
                                                             std::int64_t* last_changed) {
  std::lock_guard lock(mutex_);
  Statement query(
      db_, path_,
      select_from(kAlertColumns, "FROM alerts WHERE changed > ?1 AND " + std::string(kAlertFilter) +
                                     " ORDER BY changed LIMIT ?2"));
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, after_changed);
  query.bind(2, sql_limit(limit));
  std::vector<detect::Alert> alerts;
  std::int64_t newest = after_changed;
  while (query.step()) {
    alerts.push_back(read_alert(query));
    newest = std::max(newest, query.integer(25));
  }
  if (last_changed != nullptr) *last_changed = newest;
  return alerts;
}

AlertCounts StoreReader::alert_counts() {
  std::lock_guard lock(mutex_);
  Statement query(db_, path_,
                  "SELECT severity, count(*), sum(acknowledged = 0) FROM alerts WHERE " +
                      std::string(kAlertFilter) + " GROUP BY severity");
  query.bind_if_present(kSensorParameter, sensor_);
  AlertCounts counts;
  while (query.step()) {
    const std::int64_t severity = query.integer(0);
    const auto n = static_cast<std::uint64_t>(query.integer(1));
    counts.total += n;
    counts.unacknowledged += static_cast<std::uint64_t>(query.integer(2));
    if (severity >= 0 && severity < 4) counts.by_severity[severity] += n;
  }
  return counts;
}

std::vector<ScoreBucket> StoreReader::max_scores(std::int64_t since_ns, std::int64_t bucket_ns,
                                                 std::size_t limit) {
  std::lock_guard lock(mutex_);
  Statement query(db_, path_,
                  "SELECT * FROM (SELECT (end_ns / ?2) * ?2 AS bucket, max(score) FROM flows "
                  "WHERE end_ns >= ?1 AND voters > 0 AND " +
                      std::string(kRowFilter) +
                      " GROUP BY end_ns / ?2 ORDER BY bucket DESC LIMIT ?3) ORDER BY bucket");
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, since_ns);
  query.bind(2, std::max<std::int64_t>(bucket_ns, 1));
  query.bind(3, sql_limit(limit));
  std::vector<ScoreBucket> buckets;
  while (query.step()) {
    buckets.push_back({query.integer(0), static_cast<float>(query.real(1))});
  }
  return buckets;
}

std::vector<TopCount> StoreReader::top_flows(TopKey key, std::int64_t since_ns, std::size_t limit) {
  // The same keys as the live dashboard's top tables (server::LiveState::add_flow).
  const char* group = "src_ip";
  const char* filter = "src_ip <> ''";
  if (key == TopKey::kPort) {
    group = "dst_port || '/' || protocol";
    filter = "(dst_port <> 0 OR protocol IN ('TCP', 'UDP'))";
  } else if (key == TopKey::kProtocol) {
    group = "CASE WHEN protocol = '' THEN 'other' ELSE protocol END";
    filter = "1";
  }
  const std::string sql = std::string("SELECT ") + group +
                          " AS key, sum(bytes), sum(packets), count(*) FROM flows WHERE end_ns >= "
                          "?1 AND " +
                          filter + " AND " + std::string(kRowFilter) +
                          " GROUP BY key ORDER BY 2 DESC, key LIMIT ?2";
  std::lock_guard lock(mutex_);
  Statement query(db_, path_, sql);
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, since_ns);
  query.bind(2, sql_limit(limit));
  std::vector<TopCount> top;
  while (query.step()) {
    top.push_back({query.text(0), static_cast<std::uint64_t>(query.integer(1)),
                   static_cast<std::uint64_t>(query.integer(2)),
                   static_cast<std::uint64_t>(query.integer(3))});
  }
  return top;
}

namespace {

void add_count(TopCounts::Table& table, std::string_view key, std::uint64_t bytes,
               std::uint64_t packets, std::uint64_t flows) {
  auto it = table.find(key);
  if (it == table.end()) it = table.emplace(std::string(key), TopCount{std::string(key)}).first;
  it->second.bytes += bytes;
  it->second.packets += packets;
  it->second.flows += flows;
}

std::vector<TopCount> heaviest(const TopCounts::Table& table, std::size_t limit) {
  std::vector<const TopCount*> all;
  all.reserve(table.size());
  for (const auto& [key, count] : table) all.push_back(&count);
  const auto by = [](const TopCount* a, const TopCount* b) {
    return a->bytes != b->bytes ? a->bytes > b->bytes : a->key < b->key;
  };
  const std::size_t n = std::min(limit, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(), by);
  std::vector<TopCount> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(*all[i]);
  return out;
}

constexpr std::string_view kTopColumns = "id, end_ns, src_ip, dst_port, protocol, bytes, packets";

TopFlow top_flow(Statement& query) {
  TopFlow f;
  f.id = query.integer(0);
  f.end_ns = query.integer(1);
  f.src_ip = query.text_view(2);
  f.dst_port = query.integer(3);
  f.protocol = query.text_view(4);
  f.bytes = static_cast<std::uint64_t>(query.integer(5));
  f.packets = static_cast<std::uint64_t>(query.integer(6));
  return f;
}

}  // namespace

void TopCounts::add(const TopFlow& flow) {
  // The same keys as top_flows (and the live dashboard's top tables).
  if (!flow.src_ip.empty()) add_count(sources, flow.src_ip, flow.bytes, flow.packets, 1);
  if (flow.dst_port != 0 || flow.protocol == "TCP" || flow.protocol == "UDP") {
    const std::string key = std::to_string(flow.dst_port) + "/" + std::string(flow.protocol);
    add_count(ports, key, flow.bytes, flow.packets, 1);
  }
  add_count(protocols, flow.protocol.empty() ? std::string_view("other") : flow.protocol,
            flow.bytes, flow.packets, 1);
}

void TopCounts::merge(const TopCounts& other) {
  for (const auto& [key, c] : other.sources) add_count(sources, key, c.bytes, c.packets, c.flows);
  for (const auto& [key, c] : other.ports) add_count(ports, key, c.bytes, c.packets, c.flows);
  for (const auto& [key, c] : other.protocols) {
    add_count(protocols, key, c.bytes, c.packets, c.flows);
  }
}

void TopCounts::subtract(const TopCounts& other) {
  const auto take = [](Table& table, const Table& out) {
    for (const auto& [key, c] : out) {
      const auto it = table.find(key);
      if (it == table.end()) continue;
      if (it->second.flows <= c.flows) {
        table.erase(it);
        continue;
      }
      it->second.bytes -= c.bytes;
      it->second.packets -= c.packets;
      it->second.flows -= c.flows;
    }
  };
  take(sources, other.sources);
  take(ports, other.ports);
  take(protocols, other.protocols);
}

std::vector<TopCount> TopCounts::heaviest_sources(std::size_t limit) const {
  return heaviest(sources, limit);
}
std::vector<TopCount> TopCounts::heaviest_ports(std::size_t limit) const {
  return heaviest(ports, limit);
}
std::vector<TopCount> TopCounts::heaviest_protocols(std::size_t limit) const {
  return heaviest(protocols, limit);
}

StoreReader::TopAll StoreReader::top_all(std::int64_t since_ns, std::size_t limit) {
  TopCounts counts;
  visit_top_flows(since_ns, INT64_MAX, INT64_MAX, [&](const TopFlow& f) { counts.add(f); });
  return {counts.heaviest_sources(limit), counts.heaviest_ports(limit),
          counts.heaviest_protocols(limit)};
}

void StoreReader::visit_top_flows(std::int64_t from_ns, std::int64_t to_ns, std::int64_t max_id,
                                  const std::function<void(const TopFlow&)>& visit) {
  std::lock_guard lock(mutex_);
  Statement query(db_, path_,
                  "SELECT " + std::string(kTopColumns) +
                      " FROM flows WHERE end_ns >= ?1 AND end_ns < ?2 AND id <= ?3 AND " +
                      std::string(kRowFilter));
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, from_ns);
  query.bind(2, to_ns);
  query.bind(3, max_id);
  while (query.step()) visit(top_flow(query));
}

std::int64_t StoreReader::visit_top_flows_after(std::int64_t after_id,
                                                const std::function<void(const TopFlow&)>& visit) {
  std::lock_guard lock(mutex_);
  Statement query(db_, path_,
                  "SELECT " + std::string(kTopColumns) + " FROM flows WHERE id > ?1 AND " +
                      std::string(kRowFilter) + " ORDER BY id");
  query.bind_if_present(kSensorParameter, sensor_);
  query.bind(1, after_id);
  std::int64_t last = after_id;
  while (query.step()) {
    const TopFlow f = top_flow(query);
    last = f.id;
    visit(f);
  }
  return last;
}

std::optional<std::int64_t> StoreReader::oldest_flow_end() {
  std::lock_guard lock(mutex_);
  Statement query(
      db_, path_,
      "SELECT end_ns FROM flows WHERE " + std::string(kRowFilter) + " ORDER BY end_ns LIMIT 1");
  query.bind_if_present(kSensorParameter, sensor_);
  if (!query.step()) return std::nullopt;
  return query.integer(0);
}

std::int64_t StoreReader::newest_flow_id() {
  std::lock_guard lock(mutex_);
  Statement query(
      db_, path_,
      "SELECT id FROM flows WHERE " + std::string(kRowFilter) + " ORDER BY id DESC LIMIT 1");
  query.bind_if_present(kSensorParameter, sensor_);
  return query.step() ? query.integer(0) : 0;
}

std::int64_t StoreReader::last_snapshot_rowid() {
  std::lock_guard lock(mutex_);
  const std::string rows(kRowFilter);
  Statement query(db_, path_,
                  "SELECT coalesce(min(rowid), 0) FROM connections WHERE event = 'snapshot' AND " +
                      rows +
                      " AND ts_ns = (SELECT max(ts_ns) FROM connections WHERE event = 'snapshot' "
                      "AND " +
                      rows + ")",
                  "cannot read the store");
  query.bind_if_present(kSensorParameter, sensor_);
  return query.step() ? query.integer(0) : 0;
}

std::vector<SensorRow> StoreReader::sensors() {
  std::lock_guard lock(mutex_);
  Statement query(db_, path_, "SELECT name, first_ns, last_ns, health FROM sensors ORDER BY name",
                  "cannot read the store");
  std::vector<SensorRow> rows;
  while (query.step()) {
    rows.push_back({query.text(0), query.integer(1), query.integer(2), query.text(3)});
  }
  return rows;
}

std::vector<std::string> StoreReader::applied_messages(std::span<const std::string> message_ids) {
  std::lock_guard lock(mutex_);
  Statement query(db_, path_, "SELECT 1 FROM bus_messages WHERE id = ?1", "cannot read the store");
  std::vector<std::string> applied;
  for (const std::string& id : message_ids) {
    query.bind(1, std::string_view(id));
    if (query.step()) applied.push_back(id);
    query.reset();
  }
  return applied;
}

bool acknowledge_alert(const fs::path& path, std::int64_t id,
                       std::chrono::milliseconds busy_timeout) {
  // No SQLITE_OPEN_CREATE: acknowledging in a store that is not there must not create one.
  sqlite3* db = open_database(path, SQLITE_OPEN_READWRITE, busy_timeout);
  const std::unique_ptr<sqlite3, int (*)(sqlite3*)> guard(db, sqlite3_close);
  Statement update(db, path, "UPDATE alerts SET acknowledged = 1 WHERE id = ?1",
                   "cannot acknowledge the alert");
  update.bind(1, id);
  update.run();
  const bool found = sqlite3_changes(db) > 0;
  return found;
}

// ---------------------------------------------------------------------------------------------
// SqliteStore::Writer: the read-write connection. Created on the constructor's thread, then used
// only by the writer thread.

class SqliteStore::Writer {
 public:
  explicit Writer(const SqliteStoreOptions& options)
      : path_(options.path),
        sync_every_commit_(options.sync_every_commit),
        cache_kib_(options.cache_kib),
        page_size_option_(options.page_size),
        wal_autocheckpoint_(options.wal_autocheckpoint_pages) {
    if (path_.has_parent_path()) {
      std::error_code error;
      fs::create_directories(path_.parent_path(), error);
      if (error) {
        throw core::Error(path_.string() + ": cannot create the directory: " + error.message());
      }
    }
    db_ = open_database(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, options.busy_timeout);
    try {
      open_schema();
      prepare();
    } catch (...) {
      statements_clear();
      sqlite3_close(db_);
      throw;
    }
  }
  ~Writer() {
    statements_clear();
    // Every committed row into the database file itself, the WAL emptied: closing deletes the WAL
    // only when no other connection is open, and a reader (the dashboard's) often outlives the
    // writer, which left a 4 KB netsentry.db beside a -wal holding every row after a clean stop,
    // so copying the .db alone copied nothing. A reader mid-query makes this wait up to the busy
    // timeout or fail, and then the rows stay in the WAL, where SQLite still finds them.
    sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    sqlite3_close(db_);
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  [[nodiscard]] std::int64_t max_flow_id() const {
    return query_integer(db_, path_, "SELECT coalesce(max(id), 0) FROM flows");
  }

  [[nodiscard]] std::int64_t max_alert_id() const {
    const std::int64_t max_row =
        query_integer(db_, path_, "SELECT coalesce(max(id), 0) FROM alerts");
    const std::int64_t sequence = query_integer(
        db_, path_, "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'alerts'");
    return std::max(max_row, sequence);
  }

  void begin() {
    pending_flows_ = 0;
    begin_.run();
  }
  // Writes the flows still pending (see apply(FlowRow)), then commits.
  void commit() {
    finish_flows();
    commit_.run();
  }
  void rollback() noexcept {
    pending_flows_ = 0;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

  void apply(const TrafficItem& item) { write_sample(item.ts_ns, item.sample, {}); }

  void write_sample(std::int64_t ts_ns, const host::TrafficSample& sample,
                    std::string_view sensor) {
    write_traffic(ts_ns, sample.total, "total", sensor);
    for (const host::InterfaceRates& rates : sample.interfaces) {
      write_traffic(ts_ns, rates, rates.name, sensor);
    }
    note_time(ts_ns);
  }

  // A sensor's own flows are gathered across the transaction's items (a flood hands over many
  // small batches) and written kFlowBlock rows per statement: one step per block instead of per
  // row (bench/store_bench.cpp measures both). The rows stay alive in the caller's batch until
  // commit() writes the rest one by one.
  void apply(const FlowRow& row) {
    pending_[pending_flows_++] = &row;
    if (pending_flows_ < kFlowBlock) return;
    for (int k = 0; k < kFlowBlock; ++k) {
      insert_flows_.bind(bind_block_row(insert_flows_, k, *pending_[k]) + 16, pending_[k]->id);
    }
    insert_flows_.run();
    pending_flows_ = 0;
  }

  void finish_flows() {
    for (int k = 0; k < pending_flows_; ++k) write_flow(*pending_[k], {});
    pending_flows_ = 0;
  }

  // A sensor's own flow keeps the id add_flows gave it; a hub's row gets a new one and remembers
  // the sensor's as sensor_id.
  void write_flow(const FlowRow& row, std::string_view sensor) {
    src_ip_ = address_text(row.src_ip);
    dst_ip_ = address_text(row.dst_ip);
    Statement& s = sensor.empty() ? insert_flow_ : insert_sensor_flow_;
    if (sensor.empty()) {
      if (row.id > 0) {
        s.bind(16, row.id);
      } else {
        s.bind_null(16);
      }
    } else {
      s.bind(16, sensor);
      s.bind(17, row.id);
    }
    bind_flow(s, 0, row, src_ip_, dst_ip_);
    s.run();
    note_time(row.end_ns);
  }

  // Binds row k of a kFlowBlock-row INSERT (its addresses' text kept in block_ips_ until the
  // statement runs) and notes its time; returns the row's parameter offset.
  int bind_block_row(Statement& s, int k, const FlowRow& row) {
    block_ips_[2 * k] = address_text(row.src_ip);
    block_ips_[2 * k + 1] = address_text(row.dst_ip);
    const int base = k * kFlowRowParams;
    bind_flow(s, base, row, block_ips_[2 * k], block_ips_[2 * k + 1]);
    note_time(row.end_ns);
    return base;
  }

  // A flow's columns as parameters base+1 .. base+23 (16 and 17: id, or sensor and sensor_id,
  // bound by the caller), the layout of flow_values below.
  static void bind_flow(Statement& s, int base, const FlowRow& row, std::string_view src,
                        std::string_view dst) {
    s.bind(base + 1, row.start_ns);
    s.bind(base + 2, row.end_ns);
    s.bind(base + 3, src);
    s.bind(base + 4, static_cast<std::int64_t>(row.src_port));
    s.bind(base + 5, dst);
    s.bind(base + 6, static_cast<std::int64_t>(row.dst_port));
    s.bind(base + 7, flow::protocol_name(row.ip_proto));
    s.bind(base + 8, static_cast<std::int64_t>(row.ip_proto));
    s.bind(base + 9, static_cast<std::int64_t>(row.packets));
    s.bind(base + 10, static_cast<std::int64_t>(row.bytes));
    s.bind(base + 11, row.duration_s);
    s.bind(base + 12, static_cast<double>(row.score));
    s.bind(base + 13, std::string_view(row.verdict));
    s.bind(base + 14, static_cast<std::int64_t>(row.votes));
    s.bind(base + 15, static_cast<std::int64_t>(row.voters));
    s.bind(base + 18, std::string_view(row.community_id));
    s.bind(base + 19, static_cast<std::int64_t>(row.orig_ip_bytes));
    s.bind(base + 20, static_cast<std::int64_t>(row.resp_ip_bytes));
    s.bind(base + 21, std::string_view(row.conn_state));
    s.bind(base + 22, std::string_view(row.history));
    s.bind(base + 23, std::string_view(row.tunnel_parent));
  }

  void apply(const std::vector<FlowRow>& rows) {
    for (const FlowRow& row : rows) apply(row);
  }

  // A hub's flows: kFlowBlock rows per statement (a hub inserts hundreds of thousands a second;
  // one step per block instead of per row), the rest one by one.
  void write_sensor_flows(std::span<const FlowRow> rows, std::string_view sensor) {
    std::size_t i = 0;
    for (; i + kFlowBlock <= rows.size(); i += kFlowBlock) {
      for (int k = 0; k < kFlowBlock; ++k) {
        const FlowRow& row = rows[i + k];
        const int base = bind_block_row(insert_sensor_flows_, k, row);
        insert_sensor_flows_.bind(base + 16, sensor);
        insert_sensor_flows_.bind(base + 17, row.id);
      }
      insert_sensor_flows_.run();
    }
    for (; i < rows.size(); ++i) write_flow(rows[i], sensor);
  }

  void apply(const SensorMessage& m) {
    insert_message_.bind(1, std::string_view(m.message_id));
    insert_message_.bind(2, m.received_ns);
    insert_message_.run();
    if (sqlite3_changes(db_) == 0) return;  // applied before: a redelivery changes nothing
    if (m.record_sensor) {
      upsert_sensor_.bind(1, std::string_view(m.sensor));
      upsert_sensor_.bind(2, m.received_ns);
      upsert_sensor_.run();
    }
    std::visit(
        [&](const auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, std::vector<FlowRow>>) {
            write_sensor_flows(body, m.sensor);
          } else if constexpr (std::is_same_v<T, detect::Alert>) {
            write_alert(body, m.sensor);
          } else if constexpr (std::is_same_v<T, host::TrafficSample>) {
            write_sample(to_ns(body.timestamp), body, m.sensor);
          } else if constexpr (std::is_same_v<T, SensorMessage::Connections>) {
            for (const ConnectionRow& row : body.rows) {
              Statement& s = insert_connection_;
              s.bind(1, row.ts_ns);
              s.bind(2, std::string_view(row.event));
              s.bind(3, std::string_view(row.transport));
              s.bind(4, std::string_view(row.local_ip));
              s.bind(5, static_cast<std::int64_t>(row.local_port));
              s.bind(6, std::string_view(row.remote_ip));
              s.bind(7, static_cast<std::int64_t>(row.remote_port));
              s.bind(8, std::string_view(row.status));
              s.bind(9, static_cast<std::int64_t>(row.pid));
              s.bind(10, std::string_view(row.process));
              s.bind(11, m.sensor);
              s.run();
              note_time(row.ts_ns);
            }
          } else {
            update_health_.bind(1, std::string_view(m.sensor));
            update_health_.bind(2, body.time_ns);
            update_health_.bind(3, std::string_view(body.json));
            update_health_.run();
          }
        },
        m.body);
  }

  void apply(const ConnectionsItem& item) {
    for (const host::ConnectionEvent& event : item.events) {
      const host::SocketEntry& socket = event.connection.socket;
      src_ip_ = socket.local.empty() ? std::string() : socket.local.ip.to_string();
      dst_ip_ = socket.remote.empty() ? std::string() : socket.remote.ip.to_string();
      Statement& s = insert_connection_;
      s.bind(1, item.ts_ns);
      s.bind(2, host::event_name(event.kind));
      s.bind(3, std::string_view(socket.transport == host::Transport::kTcp ? "TCP" : "UDP"));
      s.bind(4, std::string_view(src_ip_));
      s.bind(5, static_cast<std::int64_t>(socket.local.port));
      s.bind(6, std::string_view(dst_ip_));
      s.bind(7, static_cast<std::int64_t>(socket.remote.port));
      s.bind(8, host::state_name(socket.state));
      s.bind(9, static_cast<std::int64_t>(event.connection.pid));
      s.bind(10, std::string_view(event.connection.process));
      s.bind(11, std::string_view());
      s.run();
    }
    note_time(item.ts_ns);
  }

  void apply(const AlertItem& item) { write_alert(item.alert, {}, item.update); }

  // A sensor's own alert (insert, or update by id); on a hub, an upsert keyed by (sensor, the
  // sensor's id) that keeps the newest state (latest last_ns, then count) and any acknowledgement.
  void write_alert(const detect::Alert& alert, std::string_view sensor, bool update = false) {
    src_ip_ = address_text(alert.src_ip);
    dst_ip_ = address_text(alert.dst_ip);
    const std::string models = models_json(alert);
    const std::string features = features_json(alert);
    const std::string why = why_json(alert);
    const std::string host = address_text(alert.host);
    const std::string sensors = join_sensors(alert.sensors);
    Statement& s = !sensor.empty() ? upsert_sensor_alert_ : update ? update_alert_ : insert_alert_;
    if (sensor.empty()) {
      s.bind(1, alert.id);
    } else {
      s.bind(21, sensor);
      if (alert.id > 0) {
        s.bind(22, alert.id);
      } else {
        s.bind_null(22);
      }
    }
    s.bind(2, alert.time_ns);
    s.bind(3, alert.last_ns != 0 ? alert.last_ns : alert.time_ns);
    s.bind(4, static_cast<std::int64_t>(alert.severity));
    s.bind(5, std::string_view(alert.kind));
    s.bind(6, std::string_view(src_ip_));
    s.bind(7, static_cast<std::int64_t>(alert.src_port));
    s.bind(8, std::string_view(dst_ip_));
    s.bind(9, static_cast<std::int64_t>(alert.dst_port));
    s.bind(10, std::string_view(alert.protocol));
    s.bind(11, std::string_view(alert.interface));
    s.bind(12, static_cast<double>(alert.score));
    s.bind(13, static_cast<std::int64_t>(alert.votes));
    s.bind(14, static_cast<std::int64_t>(alert.voters));
    s.bind(15, static_cast<std::int64_t>(alert.count));
    s.bind(16, std::string_view(alert.reason));
    s.bind(17, std::string_view(models));
    s.bind(18, std::string_view(features));
    s.bind(19, static_cast<std::int64_t>(alert.acknowledged ? 1 : 0));
    s.bind(20, std::string_view(sensors));
    s.bind(23, detect::alert_state_name(alert.state));
    s.bind(24, std::string_view(host));
    s.bind(25, detect::role_name(alert.role, alert.host));
    s.bind(26, static_cast<std::int64_t>(alert.revision));
    s.bind(27, std::string_view(why));
    s.bind(28, ++changed_);
    s.run();
    note_time(alert.last_ns != 0 ? alert.last_ns : alert.time_ns);
  }

  void apply(const AckItem& item) {
    ack_alert_.bind(1, static_cast<std::int64_t>(item.acknowledged ? 1 : 0));
    ack_alert_.bind(2, item.id);
    ack_alert_.bind(3, ++changed_);
    ack_alert_.run();
  }

  void apply(const FlushItem&) {}

  // Deletes rows older than `retention` before the newest timestamp written; returns the count.
  std::uint64_t enforce_retention(std::chrono::nanoseconds retention) {
    if (retention.count() <= 0 || newest_ns_ == INT64_MIN) return 0;
    const std::int64_t cutoff = newest_ns_ - retention.count();
    std::uint64_t deleted = 0;
    begin();
    try {
      // Applied-message ids are kept as long as data: a resend older than that is not expected.
      Statement messages = write_statement("DELETE FROM bus_messages WHERE received_ns < ?1");
      messages.bind(1, to_ns(std::chrono::system_clock::now()) - retention.count());
      messages.run();
      for (const TableTime& table : kTrimOrder) {
        const std::string sql =
            std::string("DELETE FROM ") + table.table + " WHERE " + table.time_column + " < ?1";
        Statement statement = write_statement(sql);
        statement.bind(1, cutoff);
        statement.run();
        deleted += static_cast<std::uint64_t>(sqlite3_changes64(db_));
      }
      commit();
    } catch (...) {
      rollback();
      throw;
    }
    if (deleted) vacuum();
    return deleted;
  }

  // Pages in use (the WAL included) times the page size: what the file shrinks to once vacuumed.
  [[nodiscard]] std::uint64_t data_bytes() const {
    const std::int64_t pages = query_integer(db_, path_, "PRAGMA page_count");
    const std::int64_t free_pages = query_integer(db_, path_, "PRAGMA freelist_count");
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, pages - free_pages) * page_size_);
  }

  // Deletes the oldest rows, flows first, until the data is under 90% of max_bytes (the margin
  // keeps the cap from trimming on every commit). Returns the number of rows deleted.
  std::uint64_t enforce_size_cap(std::uint64_t max_bytes) {
    if (max_bytes == 0) return 0;
    std::uint64_t used = data_bytes();
    if (used <= max_bytes) return 0;
    const auto target = static_cast<std::uint64_t>(static_cast<double>(max_bytes) * 0.9);
    std::uint64_t deleted = 0;
    for (const TableTime& table : kTrimOrder) {
      const std::string span_sql =
          std::string("SELECT coalesce(max(rowid) - min(rowid) + 1, 0) FROM ") + table.table;
      const std::string delete_sql = std::string("DELETE FROM ") + table.table +
                                     " WHERE rowid IN (SELECT rowid FROM " + table.table +
                                     " ORDER BY rowid LIMIT ?1)";
      while (used > target) {
        const std::int64_t span = query_integer(db_, path_, span_sql);
        if (span <= 0) break;
        // Delete the share of rows the excess suggests (rows are similar in size), at least a few
        // hundred so a table of small rows does not take thousands of rounds.
        const double excess = static_cast<double>(used - target) / static_cast<double>(used);
        const auto chunk =
            std::max<std::int64_t>(256, static_cast<std::int64_t>(std::ceil(excess * span * 1.1)));
        begin();
        try {
          Statement statement = write_statement(delete_sql);
          statement.bind(1, chunk);
          statement.run();
          deleted += static_cast<std::uint64_t>(sqlite3_changes64(db_));
          commit();
        } catch (...) {
          rollback();
          throw;
        }
        used = data_bytes();
      }
    }
    if (deleted) vacuum();
    return deleted;
  }

 private:
  void open_schema() {
    // The first statement reads the header: a file that is not a database fails here.
    const std::int64_t version =
        query_integer(db_, path_, "PRAGMA user_version", "cannot open the store");
    if (version > kSchemaVersion) {
      throw core::Error(path_.string() + ": the store has schema version " +
                        std::to_string(version) + ", newer than this netsentry (" +
                        std::to_string(kSchemaVersion) + ")");
    }
    if (version == 0) {
      // Only takes effect on a file without tables; it lets the size cap shrink the file.
      exec(db_, path_, "PRAGMA auto_vacuum = INCREMENTAL", "cannot configure the store");
      exec(db_, path_, ("PRAGMA page_size = " + std::to_string(page_size_option_)).c_str(),
           "cannot configure the store");
    }
    Statement journal(db_, path_, "PRAGMA journal_mode = WAL");
    if (!journal.step() || journal.text(0) != "wal") {
      throw core::Error(path_.string() + ": cannot switch the store to WAL mode (journal mode " +
                        journal.text(0) + ")");
    }
    journal.reset();
    // NORMAL in WAL mode never corrupts the file; a power cut may lose the last commits only.
    exec(db_, path_,
         (std::string(sync_every_commit_ ? "PRAGMA synchronous = FULL; "
                                         : "PRAGMA synchronous = NORMAL; ") +
          "PRAGMA journal_size_limit = 67108864; PRAGMA temp_store = MEMORY; "
          "PRAGMA cache_size = -" +
          std::to_string(std::max<std::int64_t>(cache_kib_, 256)) +
          "; PRAGMA wal_autocheckpoint = " + std::to_string(wal_autocheckpoint_))
             .c_str(),
         "cannot configure the store");
    if (version < kSchemaVersion) {
      if (version > 0) {
        // Rebuilding indexes over millions of stored flows takes a while: say why start waits.
        spdlog::info("store: upgrading {} from schema version {} to {}", path_.string(), version,
                     kSchemaVersion);
      }
      // A new file gets version 1 and then every migration, so old and new stores end up alike.
      exec(db_, path_, "BEGIN IMMEDIATE", "cannot create the schema");
      try {
        // Versioned migrations: a new file gets version 1's schema, then every later step.
        if (version < 1) exec(db_, path_, kSchema, "cannot create the schema");
        if (version < 2) exec(db_, path_, kMigrateTo2, "cannot upgrade the store to version 2");
        if (version < 3) exec(db_, path_, kMigrateTo3, "cannot upgrade the store to version 3");
        if (version < 4) exec(db_, path_, kMigrateTo4, "cannot upgrade the store to version 4");
        if (version < 5) exec(db_, path_, kMigrateTo5, "cannot upgrade the store to version 5");
        if (version < 6) exec(db_, path_, kMigrateTo6, "cannot upgrade the store to version 6");
        static_assert(kSchemaVersion == 6);
        exec(db_, path_, "PRAGMA user_version = 6", "cannot create the schema");
        exec(db_, path_, "COMMIT", "cannot create the schema");
      } catch (...) {
        rollback();
        throw;
      }
    }
    page_size_ = query_integer(db_, path_, "PRAGMA page_size");
    changed_ = query_integer(db_, path_, "SELECT coalesce(max(changed), 0) FROM alerts");
  }

  void prepare() {
    begin_ = write_statement("BEGIN IMMEDIATE");
    commit_ = write_statement("COMMIT");
    insert_traffic_ = write_statement(
        "INSERT INTO traffic(ts_ns, interface, bytes_sent, bytes_recv, "
        "packets_sent, packets_recv, sensor) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    constexpr std::string_view flow_columns =
        "start_ns, end_ns, src_ip, src_port, dst_ip, dst_port, protocol, ip_proto, packets, bytes, "
        "duration_s, score, verdict, votes, voters, community_id, orig_ip_bytes, resp_ip_bytes, "
        "conn_state, history, tunnel_parent";
    constexpr std::string_view flow_values =
        "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?18, ?19, ?20, ?21, "
        "?22, "
        "?23";
    insert_flow_ = write_statement("INSERT INTO flows(" + std::string(flow_columns) +
                                   ", id) VALUES(" + std::string(flow_values) + ", ?16)");
    insert_sensor_flow_ =
        write_statement("INSERT INTO flows(" + std::string(flow_columns) +
                        ", sensor, sensor_id) VALUES(" + std::string(flow_values) + ", ?16, ?17)");
    // The same row kFlowBlock times, each row's parameters shifted by its index times the
    // highest parameter number of one row (23: a sensor's own row leaves ?17 unused).
    const auto block = [&](std::string_view columns, const std::string& row_values) {
      std::vector<int> numbers;
      for (std::size_t at = row_values.find('?'); at != std::string::npos;
           at = row_values.find('?', at + 1)) {
        numbers.push_back(std::atoi(row_values.c_str() + at + 1));
      }
      if (*std::max_element(numbers.begin(), numbers.end()) != kFlowRowParams) {
        throw core::Error(path_.string() +
                          ": internal error: a flow row's parameters are not ?1.." +
                          std::to_string(kFlowRowParams));
      }
      std::string sql = "INSERT INTO flows(" + std::string(flow_columns) + ", " +
                        std::string(columns) + ") VALUES";
      for (int k = 0; k < kFlowBlock; ++k) {
        sql += k == 0 ? "(" : ",(";
        for (std::size_t j = 0; j < numbers.size(); ++j) {
          sql += (j == 0 ? "?" : ",?") + std::to_string(k * kFlowRowParams + numbers[j]);
        }
        sql += ")";
      }
      return write_statement(sql);
    };
    insert_flows_ = block("id", std::string(flow_values) + ", ?16");
    insert_sensor_flows_ = block("sensor, sensor_id", std::string(flow_values) + ", ?16, ?17");
    insert_connection_ = write_statement(
        "INSERT INTO connections(ts_ns, event, transport, local_ip, local_port, "
        "remote_ip, remote_port, status, pid, process, sensor) VALUES(?1, ?2, ?3, ?4, ?5, ?6, "
        "?7, ?8, ?9, ?10, ?11)");
    constexpr std::string_view alert_values =
        "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, "
        "?23, ?24, ?25, ?26, ?27, ?28";
    // An update never clears an acknowledgement: the user has seen the subject already.
    constexpr std::string_view alert_update =
        "time_ns = ?2, last_ns = ?3, severity = ?4, kind = ?5, src_ip = ?6, src_port = ?7, "
        "dst_ip = ?8, dst_port = ?9, protocol = ?10, interface = ?11, score = ?12, votes = ?13, "
        "voters = ?14, count = ?15, reason = ?16, models = ?17, features = ?18, "
        "acknowledged = max(acknowledged, ?19), sensors = ?20, state = ?23, host = ?24, "
        "role = ?25, revision = ?26, evidence = ?27, changed = ?28";
    // An alert delivered again (same id: engaged, updated, past) replaces its row in place.
    insert_alert_ = write_statement(
        std::string("INSERT INTO alerts(") + std::string(kAlertColumns) + ") VALUES(?1, " +
        std::string(alert_values) + ") ON CONFLICT(id) DO UPDATE SET " + std::string(alert_update));
    update_alert_ =
        write_statement("UPDATE alerts SET " + std::string(alert_update) + " WHERE id = ?1");
    // A hub's alert of a sensor: the id is the hub's own; an older state arriving late (a resend
    // after an outage) does not replace a newer one.
    upsert_sensor_alert_ = write_statement(
        "INSERT INTO alerts(time_ns, last_ns, severity, kind, src_ip, src_port, dst_ip, dst_port, "
        "protocol, interface, score, votes, voters, count, reason, models, features, acknowledged, "
        "sensors, state, host, role, revision, evidence, changed, sensor, sensor_id) VALUES(" +
        std::string(alert_values) +
        ", ?21, ?22) ON CONFLICT(sensor, sensor_id) WHERE sensor_id IS NOT NULL DO UPDATE SET " +
        std::string(alert_update) +
        " WHERE (excluded.last_ns, excluded.count) >= (alerts.last_ns, alerts.count)");
    // An acknowledgement is a change a reader of updates must see.
    ack_alert_ = write_statement("UPDATE alerts SET acknowledged = ?1, changed = ?3 WHERE id = ?2");
    insert_message_ =
        write_statement("INSERT OR IGNORE INTO bus_messages(id, received_ns) VALUES(?1, ?2)");
    upsert_sensor_ = write_statement(
        "INSERT INTO sensors(name, first_ns, last_ns) VALUES(?1, ?2, ?2) ON CONFLICT(name) DO "
        "UPDATE SET last_ns = max(last_ns, excluded.last_ns)");
    update_health_ = write_statement(
        "UPDATE sensors SET health_ns = ?2, health = ?3 WHERE name = ?1 AND health_ns <= ?2");
  }

  Statement write_statement(std::string_view sql) {
    return Statement(db_, path_, sql, "cannot write to the store");
  }

  void statements_clear() {
    begin_ = {};
    commit_ = {};
    insert_traffic_ = {};
    insert_flow_ = {};
    insert_connection_ = {};
    insert_alert_ = {};
    update_alert_ = {};
    ack_alert_ = {};
    insert_sensor_flow_ = {};
    insert_sensor_flows_ = {};
    insert_flows_ = {};
    upsert_sensor_alert_ = {};
    insert_message_ = {};
    upsert_sensor_ = {};
    update_health_ = {};
  }

  void write_traffic(std::int64_t ts_ns, const host::InterfaceRates& rates, std::string_view name,
                     std::string_view sensor) {
    Statement& s = insert_traffic_;
    s.bind(1, ts_ns);
    s.bind(2, name);
    s.bind(3, rates.bytes_sent);
    s.bind(4, rates.bytes_recv);
    s.bind(5, rates.packets_sent);
    s.bind(6, rates.packets_recv);
    s.bind(7, sensor);
    s.run();
  }

  void note_time(std::int64_t ns) { newest_ns_ = std::max(newest_ns_, ns); }

  // Returns the freed pages to the file system (a no-op on files created without auto-vacuum).
  void vacuum() {
    Statement statement(db_, path_, "PRAGMA incremental_vacuum");
    statement.run();
  }

  fs::path path_;
  bool sync_every_commit_ = false;
  std::int64_t cache_kib_ = 32768;
  std::int64_t page_size_option_ = 4096;
  std::int64_t wal_autocheckpoint_ = 1000;
  sqlite3* db_ = nullptr;
  std::int64_t page_size_ = 4096;
  std::int64_t newest_ns_ = INT64_MIN;
  std::int64_t changed_ = 0;  // the newest alerts.changed written
  std::string src_ip_;
  std::string dst_ip_;
  Statement begin_, commit_, insert_traffic_, insert_flow_, insert_connection_, insert_alert_,
      update_alert_, ack_alert_, insert_sensor_flow_, insert_sensor_flows_, insert_flows_,
      upsert_sensor_alert_, insert_message_, upsert_sensor_, update_health_;
  std::array<std::string, 2 * kFlowBlock> block_ips_;
  std::array<const FlowRow*, kFlowBlock> pending_{};  // own flows not written yet
  int pending_flows_ = 0;
};

// ---------------------------------------------------------------------------------------------
// SqliteStore

SqliteStore::SqliteStore(SqliteStoreOptions options)
    : options_(std::move(options)),
      writer_(std::make_unique<Writer>(options_)),
      reader_(std::make_unique<StoreReader>(options_.path, options_.busy_timeout)),
      queue_(options_.queue_capacity) {
  options_.alert_reserve = std::min(options_.alert_reserve, queue_.capacity() / 2);
  options_.batch_max = std::max<std::size_t>(options_.batch_max, 1);
  next_alert_id_.store(writer_->max_alert_id() + 1);
  next_flow_id_.store(writer_->max_flow_id() + 1);
  next_retention_check_ = std::chrono::steady_clock::now();
  thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
}

SqliteStore::~SqliteStore() {
  flush();
  queue_.close();
  thread_.request_stop();
  thread_.join();
}

bool SqliteStore::push_bulk(Item item, std::size_t rows) {
  const std::size_t limit = queue_.capacity() - options_.alert_reserve;
  if (!reserve_rows(rows, options_.lossless)) {
    refused_bulk_.fetch_add(1, std::memory_order_relaxed);
    count_refused(rows);
    return false;
  }
  if (options_.lossless) {
    if (queue_.push_within(std::move(item), limit)) return true;
  } else if (queue_.size() >= limit) {
    refused_bulk_.fetch_add(1, std::memory_order_relaxed);
  } else if (queue_.try_push(std::move(item))) {
    return true;
  }
  release_rows(rows);
  count_refused(rows);
  return false;
}

std::size_t SqliteStore::queued_rows_of(const Item& item) {
  return std::visit(
      [](const auto& i) -> std::size_t {
        using T = std::decay_t<decltype(i)>;
        if constexpr (std::is_same_v<T, AlertItem> || std::is_same_v<T, AckItem> ||
                      std::is_same_v<T, FlushItem>) {
          return 0;
        } else {
          return rows_of(i);
        }
      },
      item);
}

bool SqliteStore::reserve_rows(std::size_t rows, bool wait) {
  std::unique_lock lock(rows_mutex_);
  // An empty queue takes any batch, so one larger than the bound is never refused for its size.
  const auto fits = [&] { return queued_rows_ == 0 || queued_rows_ + rows <= options_.queue_rows; };
  if (wait) rows_room_.wait(lock, fits);
  if (!fits()) return false;
  queued_rows_ += rows;
  return true;
}

void SqliteStore::release_rows(std::size_t rows) {
  if (rows == 0) return;
  {
    std::lock_guard lock(rows_mutex_);
    queued_rows_ -= std::min(rows, queued_rows_);
  }
  rows_room_.notify_all();
}

bool SqliteStore::push_priority(Item item) {
  const std::size_t rows = std::visit([](const auto& i) { return rows_of(i); }, item);
  if (options_.lossless ? queue_.push(std::move(item)) : queue_.try_push(std::move(item))) {
    return true;
  }
  count_refused(rows);
  return false;
}

void SqliteStore::count_refused(std::size_t rows) {
  rows_refused_.fetch_add(rows, std::memory_order_relaxed);
  // Once: the counters (stats(), monitor's periodic log line) tell how many followed.
  if (!warned_full_.exchange(true, std::memory_order_relaxed)) {
    spdlog::warn(
        "SQLite store {}: the writer cannot keep up (queue full: {} items or {} rows waiting); "
        "rows are dropped and counted until it catches up",
        options_.path.string(), queue_.capacity(), options_.queue_rows);
  }
}

bool SqliteStore::add_traffic(const host::TrafficSample& sample) {
  TrafficItem item{to_ns(sample.timestamp), sample};
  const std::size_t rows = rows_of(item);
  return push_bulk(std::move(item), rows);
}

std::int64_t SqliteStore::add_flow(FlowRow flow) {
  flow.id = next_flow_id_.fetch_add(1);
  const std::int64_t id = flow.id;
  return push_bulk(std::move(flow), 1) ? id : 0;
}

bool SqliteStore::add_flows(std::span<FlowRow> flows) {
  if (flows.empty()) return true;
  std::int64_t id = next_flow_id_.fetch_add(static_cast<std::int64_t>(flows.size()));
  for (FlowRow& f : flows) f.id = id++;
  return push_bulk(std::vector<FlowRow>(flows.begin(), flows.end()), flows.size());
}

bool SqliteStore::add_flows(std::vector<FlowRow>&& flows) {
  if (flows.empty()) return true;
  std::int64_t id = next_flow_id_.fetch_add(static_cast<std::int64_t>(flows.size()));
  for (FlowRow& f : flows) f.id = id++;
  const std::size_t rows = flows.size();
  return push_bulk(std::exchange(flows, {}), rows);
}

bool SqliteStore::add_sensor_message(SensorMessage message) {
  const std::size_t rows = rows_of(message);
  if (!reserve_rows(rows, /*wait=*/true)) return false;
  if (queue_.push(std::move(message))) return true;
  release_rows(rows);
  return false;
}

bool SqliteStore::add_connections(std::chrono::system_clock::time_point time,
                                  std::span<const host::ConnectionEvent> events) {
  if (events.empty()) return true;
  return push_bulk(ConnectionsItem{to_ns(time), std::vector<host::ConnectionEvent>(events.begin(),
                                                                                   events.end())},
                   events.size());
}

std::int64_t SqliteStore::add_alert(const detect::Alert& alert) {
  const std::int64_t id = next_alert_id_.fetch_add(1);
  AlertItem item{alert, false};
  item.alert.id = id;
  return push_priority(std::move(item)) ? id : 0;
}

bool SqliteStore::put_alert(const detect::Alert& alert) {
  if (alert.id <= 0) return false;
  std::int64_t next = next_alert_id_.load();
  while (next <= alert.id && !next_alert_id_.compare_exchange_weak(next, alert.id + 1)) {
  }
  return push_priority(AlertItem{alert, false});
}

bool SqliteStore::update_alert(const detect::Alert& alert) {
  if (alert.id <= 0 || alert.id >= next_alert_id_.load()) return false;
  return push_priority(AlertItem{alert, true});
}

bool SqliteStore::ack_alert(std::int64_t id, bool acknowledged) {
  if (id <= 0 || id >= next_alert_id_.load()) return false;
  // Never waits, even when lossless: the page's request thread must not hang on a busy writer.
  if (queue_.try_push(AckItem{id, acknowledged})) return true;
  count_refused(1);
  return false;
}

void SqliteStore::flush() { flush_async().wait(); }

std::future<void> SqliteStore::flush_async() {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  // push (not try_push): a flush must not be lost, and the writer is draining the queue.
  if (!queue_.push(FlushItem{done})) done->set_value();  // closed: nothing will be written
  return finished;
}

StoreStats SqliteStore::stats() const {
  StoreStats stats;
  stats.accepted = queue_.pushed();
  stats.dropped = queue_.dropped() + refused_bulk_.load(std::memory_order_relaxed);
  stats.rows_dropped = rows_refused_.load(std::memory_order_relaxed);
  stats.rows_written = counters_.rows_written.load();
  stats.commits = counters_.commits.load();
  stats.write_errors = counters_.write_errors.load();
  stats.rows_lost = counters_.rows_lost.load();
  stats.retention_deleted = counters_.retention_deleted.load();
  stats.cap_deleted = counters_.cap_deleted.load();
  stats.queue_depth = queue_.size();
  stats.queue_capacity = options_.queue_capacity;
  return stats;
}

std::optional<std::string> SqliteStore::last_error() const {
  std::lock_guard lock(error_mutex_);
  return last_error_;
}

void SqliteStore::record_error(const std::string& message) {
  std::lock_guard lock(error_mutex_);
  last_error_ = message;
}

void SqliteStore::run(std::stop_token stop) {
  // A deque: the writer keeps pointers to the rows applied (apply(FlowRow) writes them in blocks),
  // so items must not move while their transaction is open.
  std::deque<Item> batch;
  for (;;) {
    // No stop token here: the queue is closed on shutdown and pop drains it before giving up.
    std::optional<Item> first = queue_.pop();
    if (!first) break;
    batch.clear();
    Transaction tx;
    const auto take = [&](Item&& item) {
      batch.push_back(std::move(item));
      apply(tx, batch.back());
    };
    release_rows(queued_rows_of(*first));
    take(std::move(*first));
    bool flush_requested = std::holds_alternative<FlushItem>(batch.back());
    const auto deadline = std::chrono::steady_clock::now() + options_.commit_interval;
    // One transaction per commit_interval or batch_max rows, at once on flush. Items are applied
    // as they are taken, so the writer works alongside the producers instead of all at once
    // when the transaction ends (in a replay that left it alone with a backlog at the end).
    std::vector<Item> drained;
    while (!flush_requested && tx.rows < options_.batch_max) {
      drained.clear();
      queue_.drain(drained, 256);
      std::size_t taken = 0;
      for (const Item& item : drained) taken += queued_rows_of(item);
      release_rows(taken);
      for (Item& item : drained) {
        flush_requested = flush_requested || std::holds_alternative<FlushItem>(item);
        take(std::move(item));
      }
      if (flush_requested || tx.rows >= options_.batch_max || stop.stop_requested() ||
          std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      if (drained.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    finish(tx);
    housekeeping();
    for (Item& item : batch) {
      if (auto* flush = std::get_if<FlushItem>(&item)) flush->done->set_value();
    }
  }
}

void SqliteStore::apply(Transaction& tx, const Item& item) {
  const std::size_t rows = std::visit([](const auto& i) { return rows_of(i); }, item);
  if (rows == 0) return;  // a flush, or an item without rows: nothing to write
  tx.rows += rows;
  if (tx.failed) return;
  try {
    if (!tx.open) {
      writer_->begin();
      tx.open = true;
    }
    std::visit([&](const auto& row) { writer_->apply(row); }, item);
  } catch (const std::exception& error) {
    tx.failed = true;
    tx.error = error.what();
    if (tx.open) {
      try {
        writer_->rollback();
      } catch (const std::exception&) {
        // Rolling back a failed transaction failed too: the error above is the one to report.
      }
      tx.open = false;
    }
  }
}

void SqliteStore::finish(Transaction& tx) {
  if (tx.rows == 0) return;
  if (!tx.failed) {
    try {
      writer_->commit();
      tx.open = false;
      counters_.rows_written.fetch_add(tx.rows);
      counters_.commits.fetch_add(1);
      return;
    } catch (const std::exception& error) {
      tx.error = error.what();
      try {
        writer_->rollback();
      } catch (const std::exception&) {
      }
      tx.open = false;
    }
  }
  // The monitor must keep going on a full disk: count, remember, and move on.
  counters_.write_errors.fetch_add(1);
  counters_.rows_lost.fetch_add(tx.rows);
  record_error(tx.error);
}

void SqliteStore::housekeeping() {
  try {
    const auto now = std::chrono::steady_clock::now();
    if (options_.retention.count() > 0 && now >= next_retention_check_) {
      next_retention_check_ = now + options_.retention_check_interval;
      counters_.retention_deleted.fetch_add(writer_->enforce_retention(options_.retention));
    }
    counters_.cap_deleted.fetch_add(writer_->enforce_size_cap(options_.max_bytes));
  } catch (const std::exception& error) {
    counters_.write_errors.fetch_add(1);
    record_error(error.what());
  }
}

}  // namespace netsentry::store
