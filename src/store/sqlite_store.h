// Provides the SQLite store (the only SQLite user): SqliteStore writes traffic samples, scored
// flows, alerts and connection events into one database file, and StoreReader queries it.
//
// Writing: add_* never throw; they copy the row into a bounded queue and a writer thread commits
// the rows in batched transactions (every commit_interval or batch_max rows, with prepared
// statements). A live sensor's store never blocks: a full queue refuses the row, counts it
// (stats().dropped items, rows_dropped rows) and logs a warning once. A lossless store (a replayed
// file: nothing of it may be lost) makes add_* wait for room instead, so the producer slows to the
// writer's pace. Alert ids are assigned by the
// store when add_alert is called, so the caller has the id at once. flush() blocks until every row
// accepted before the call is committed; the destructor flushes. A failed transaction (disk full,
// I/O error) loses its rows, is counted and remembered (last_error()), and the store keeps going.
// Housekeeping on the writer thread: rows older than `retention` are deleted, measured from the
// newest timestamp written (so replaying an old capture does not delete what it just stored), and
// when the data exceeds max_bytes the oldest rows are deleted (flows first, then connections,
// traffic, alerts) and the file is shrunk (incremental auto-vacuum).
//
// Reading: StoreReader is a separate read-only connection (WAL lets it read while the writer
// writes), usable from another process (the dashboard) or through SqliteStore::reader().
//
// Sensors (schema version 2): `netsentry hub` writes the rows of many sensors into one store with
// add_sensor_message(); every table then has a `sensor` column (empty for a sensor's own rows),
// flows and alerts keep the id they have in the sensor's store as `sensor_id`, and each bus
// message is applied at most once (its id is remembered in bus_messages in the same transaction).
// A StoreReader made for one sensor sees only that sensor's rows.
//
// Thread rules: SqliteStore's add_*, ack_alert, update_alert, flush, stats and last_error may be
// called from any thread. StoreReader's methods may be called from any thread (one mutex
// serialises them). Both constructors throw core::Error naming the path and SQLite's message.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/bounded_queue.h"
#include "detect/alert.h"
#include "flow/flow_record.h"
#include "host/connection_tracker.h"
#include "host/monitor.h"
#include "net/packet.h"

struct sqlite3;
struct sqlite3_stmt;

namespace netsentry::store {

// The flows' address indexes (schema version 6) lead with id >> kFlowIdBlockShift: blocks of
// 16,384 consecutive flows.
inline constexpr int kFlowIdBlockShift = 14;

// One scored flow as stored (the flows table).
struct FlowRow {
  std::int64_t id = 0;  // assigned by SQLite; 0 before it is stored
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  net::IpAddress src_ip;
  net::IpAddress dst_ip;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t ip_proto = 0;
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  double duration_s = 0;
  float score = 0;      // ensemble score
  std::string verdict;  // "benign", "anomaly", or a classifier label
  int votes = 0;        // models that voted anomalous
  int voters = 0;
  std::string sensor;          // hub only: the sensor it came from (empty on a sensor)
  std::int64_t sensor_id = 0;  // hub only: its id in the sensor's store
  // Interoperable fields (schema version 3; docs/flow-columns.md).
  std::string community_id;  // "1:..." (Community ID v1)
  std::uint64_t orig_ip_bytes = 0;
  std::uint64_t resp_ip_bytes = 0;
  std::string conn_state;     // Zeek's conn_state
  std::string history;        // Zeek's history
  std::string tunnel_parent;  // the outer flow's Community ID, or ""
};

// The stored columns of `record` with its scoring outcome.
[[nodiscard]] FlowRow make_flow_row(const flow::FlowRecord& record, float score,
                                    std::string_view verdict, int votes, int voters);

// One per-second traffic rate of one interface ("total" for the sum).
struct TrafficRow {
  std::int64_t ts_ns = 0;
  std::string interface;
  double bytes_sent = 0;
  double bytes_recv = 0;
  double packets_sent = 0;
  double packets_recv = 0;
  std::int64_t rowid = 0;  // SQLite's rowid: grows with every insert, so a poller can resume
  std::string sensor;      // hub only
};

// One connection event (the connections table).
struct ConnectionRow {
  std::int64_t ts_ns = 0;
  std::string event;      // "snapshot", "opened", "state_changed", "closed"
  std::string transport;  // "TCP", "UDP"
  std::string local_ip;   // empty for an empty endpoint
  std::uint16_t local_port = 0;
  std::string remote_ip;
  std::uint16_t remote_port = 0;
  std::string status;  // "ESTABLISHED", ..., "NONE"
  std::int32_t pid = host::kUnknownPid;
  std::string process;
  std::int64_t rowid = 0;  // SQLite's rowid: grows with every insert, so a poller can resume
  std::string sensor;      // hub only
};

enum class FlowOrder : std::uint8_t { kNewest, kHighestScore };

struct AlertQuery {
  std::int64_t since_ns = 0;  // alerts whose latest repeat (last_ns) is at or after this
  detect::Severity min_severity = detect::Severity::kLow;
  std::string kind;  // empty: every kind
  // Alerts about this address (its profile, source or destination); empty: every alert.
  std::string host;
  std::int64_t until_ns = std::numeric_limits<std::int64_t>::max();  // first seen at or before
  bool unacknowledged_only = false;
  std::size_t limit = 1000;
  bool newest_first = true;
};

struct StoreCounts {
  std::uint64_t traffic = 0;
  std::uint64_t flows = 0;
  std::uint64_t alerts = 0;
  std::uint64_t connections = 0;
  std::uint64_t unacknowledged_alerts = 0;
  std::uint64_t alerts_by_severity[4] = {};  // indexed by detect::Severity
  std::uint64_t data_bytes = 0;              // pages in use times the page size
};

// The newest row of each table (0 when empty): a poller reads what lies beyond what it has seen.
struct StoreHeads {
  std::int64_t traffic_rowid = 0;
  std::int64_t flow_id = 0;
  std::int64_t alert_id = 0;
  std::int64_t alert_changed = 0;  // the newest alerts.changed (every insert, update or ack)
  std::int64_t connection_rowid = 0;
  std::int64_t newest_ns = 0;  // newest traffic, flow end or alert time; 0 when empty
};

// Bytes and packets one interface's rates add up to (rate times the interval each row covers).
struct TrafficTotals {
  double bytes_sent = 0;
  double bytes_recv = 0;
  double packets = 0;           // sent + received
  std::int64_t last_ts_ns = 0;  // the newest row summed; 0 when none
};

struct TrafficSpan {
  std::uint64_t rows = 0;
  std::int64_t first_ns = 0;
  std::int64_t last_ns = 0;
};

struct AlertCounts {
  std::uint64_t total = 0;
  std::uint64_t unacknowledged = 0;
  std::uint64_t by_severity[4] = {};  // indexed by detect::Severity
};

// The highest score of the scored flows that ended in one time bucket.
struct ScoreBucket {
  std::int64_t start_ns = 0;
  float max_score = 0;
};

// What top_flows groups by: the source address, "port/protocol" of the responder, or protocol.
enum class TopKey : std::uint8_t { kSource, kPort, kProtocol };

struct TopCount {
  std::string key;
  std::uint64_t bytes = 0;
  std::uint64_t packets = 0;
  std::uint64_t flows = 0;
};

// One flow as the top lists count it; the views are valid during a visit only.
struct TopFlow {
  std::int64_t id = 0;
  std::int64_t end_ns = 0;
  std::string_view src_ip;
  std::int64_t dst_port = 0;
  std::string_view protocol;
  std::uint64_t bytes = 0;
  std::uint64_t packets = 0;
};

// Flows added up by the top lists' three keys (the source address, "port/protocol" of the
// responder, the protocol), as top_all counts them; counts of parts of a window merge into the
// window's.
struct TopCounts {
  // Looked up by string_view without making a string.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const noexcept {
      return std::hash<std::string_view>{}(key);
    }
  };
  using Table = std::unordered_map<std::string, TopCount, KeyHash, std::equal_to<>>;
  Table sources, ports, protocols;
  void add(const TopFlow& flow);
  void merge(const TopCounts& other);
  // Takes counts merged before back out (an entry left with no flow goes).
  void subtract(const TopCounts& other);
  // Each list's heaviest (bytes, then key) `limit` entries.
  [[nodiscard]] std::vector<TopCount> heaviest_sources(std::size_t limit) const;
  [[nodiscard]] std::vector<TopCount> heaviest_ports(std::size_t limit) const;
  [[nodiscard]] std::vector<TopCount> heaviest_protocols(std::size_t limit) const;
};

// One sensor known to a hub's store: when it was first and last heard of, and its latest health
// (the bus's Health message as a JSON object).
struct SensorRow {
  std::string name;
  std::int64_t first_ns = 0;  // wall time the hub first applied one of its messages
  std::int64_t last_ns = 0;   // ... and the latest
  std::string health = "{}";
};

class StoreReader final {
 public:
  // Opens an existing store read-only. Throws core::Error naming the path. A non-empty `sensor`
  // restricts every query to that sensor's rows (a hub's store); alerts that name the sensor among
  // their `sensors` (cross-sensor alerts) count as its rows too.
  explicit StoreReader(const std::filesystem::path& path,
                       std::chrono::milliseconds busy_timeout = std::chrono::milliseconds(5000),
                       std::string sensor = {});
  ~StoreReader();
  StoreReader(const StoreReader&) = delete;
  StoreReader& operator=(const StoreReader&) = delete;

  // Samples with ts_ns >= since_ns, oldest first; empty interface: every interface and "total".
  [[nodiscard]] std::vector<TrafficRow> traffic_since(std::int64_t since_ns,
                                                      std::string_view interface = {},
                                                      std::size_t limit = 100000);
  [[nodiscard]] std::vector<detect::Alert> alerts(const AlertQuery& query);
  [[nodiscard]] std::optional<detect::Alert> alert(std::int64_t id);
  // Flows that ended at or after since_ns.
  [[nodiscard]] std::vector<FlowRow> recent_flows(std::size_t limit,
                                                  FlowOrder order = FlowOrder::kNewest,
                                                  std::int64_t since_ns = 0);
  // Flows with `host` at either end (empty: any) that ended within [since_ns, until_ns], newest
  // first, at most limit; served by the end-time index and the address indexes (schema version 6:
  // one seek per block of kFlowIdBlockShift ids).
  [[nodiscard]] std::vector<FlowRow> flows_between(std::string_view host, std::int64_t since_ns,
                                                   std::int64_t until_ns, std::size_t limit);
  [[nodiscard]] std::vector<ConnectionRow> connections_since(std::int64_t since_ns,
                                                             std::size_t limit = 10000);
  [[nodiscard]] StoreCounts counts();

  // --- for the dashboard (server::StoreSource), which polls a store another process writes ---
  [[nodiscard]] StoreHeads heads();
  // Rows inserted after the given rowid, oldest insert first, at most limit.
  [[nodiscard]] std::vector<TrafficRow> traffic_after(std::int64_t after_rowid, std::size_t limit);
  [[nodiscard]] std::vector<ConnectionRow> connections_after(std::int64_t after_rowid,
                                                             std::size_t limit);
  // Sums rate x interval over one interface's rows with rowid <= up_to_rowid. A row covers the gap
  // since the previous row of the interface (at most 60 s, so a pause in recording adds nothing
  // made up); the first row covers 1 s, the recorders' default interval.
  [[nodiscard]] TrafficTotals traffic_totals(std::string_view interface, std::int64_t up_to_rowid);
  [[nodiscard]] TrafficSpan traffic_span(std::string_view interface, std::int64_t since_ns);
  // One interface's rows at or after since_ns averaged per bucket_ns (ts_ns = the bucket's start),
  // the newest `limit` buckets, oldest first.
  [[nodiscard]] std::vector<TrafficRow> traffic_averages(std::string_view interface,
                                                         std::int64_t since_ns,
                                                         std::int64_t bucket_ns, std::size_t limit);
  // Interface names with rows at or after since_ns, "total" first, then by name.
  [[nodiscard]] std::vector<std::string> interfaces_since(std::int64_t since_ns, std::size_t limit);
  // How many flows have an id above after_id (0: every flow).
  [[nodiscard]] std::uint64_t flow_count_after(std::int64_t after_id);
  // Alerts written (inserted, updated in place or acknowledged) after `after_changed` (the
  // alerts.changed sequence), oldest change first, at most limit.
  // `last_changed` (when given) receives the newest change read (after_changed when none).
  [[nodiscard]] std::vector<detect::Alert> alerts_changed_after(
      std::int64_t after_changed, std::size_t limit, std::int64_t* last_changed = nullptr);
  // Alerts with id > after_id and severity >= min_severity, ordered by id.
  [[nodiscard]] std::vector<detect::Alert> alerts_after(std::int64_t after_id,
                                                        detect::Severity min_severity,
                                                        std::size_t limit, bool newest_first);
  [[nodiscard]] AlertCounts alert_counts();
  // The highest score per bucket_ns of the scored flows (voters > 0) that ended at or after
  // since_ns, the newest `limit` buckets, oldest first.
  [[nodiscard]] std::vector<ScoreBucket> max_scores(std::int64_t since_ns, std::int64_t bucket_ns,
                                                    std::size_t limit);
  // Flows that ended at or after since_ns grouped by `key`, heaviest (bytes) first.
  [[nodiscard]] std::vector<TopCount> top_flows(TopKey key, std::int64_t since_ns,
                                                std::size_t limit);
  // The three top_flows lists (kSource, kPort, kProtocol) from one pass over the flows: what a
  // day of history costs once instead of three times.
  struct TopAll {
    std::vector<TopCount> sources, ports, protocols;
  };
  [[nodiscard]] TopAll top_all(std::int64_t since_ns, std::size_t limit);
  // Flows that ended in [from_ns, to_ns) with an id up to max_id, in no particular order (through
  // the end-time index).
  void visit_top_flows(std::int64_t from_ns, std::int64_t to_ns, std::int64_t max_id,
                       const std::function<void(const TopFlow&)>& visit);
  // Flows with an id above after_id (those stored since), in id order; returns the highest id
  // visited (after_id when none).
  std::int64_t visit_top_flows_after(std::int64_t after_id,
                                     const std::function<void(const TopFlow&)>& visit);
  // The end time of the oldest flow held (nullopt: none), and the highest flow id (0: none).
  [[nodiscard]] std::optional<std::int64_t> oldest_flow_end();
  [[nodiscard]] std::int64_t newest_flow_id();
  // The rowid of the first row of the newest "snapshot" (where the current socket list starts);
  // 0 when there is none (then every stored event counts).
  [[nodiscard]] std::int64_t last_snapshot_rowid();

  // --- a hub's store ---
  // Every sensor heard of, by name (ignores this reader's sensor filter).
  [[nodiscard]] std::vector<SensorRow> sensors();
  // The ids among `message_ids` already applied by add_sensor_message().
  [[nodiscard]] std::vector<std::string> applied_messages(std::span<const std::string> message_ids);
  [[nodiscard]] const std::string& sensor() const { return sensor_; }

  // Every query throws core::Error naming the path when SQLite fails.
 private:
  std::filesystem::path path_;
  std::string sensor_;  // empty: every row
  std::mutex mutex_;    // guards db_ (one statement at a time on this connection)
  sqlite3* db_ = nullptr;
};

// Marks an alert acknowledged through a short-lived read-write connection of its own, for a
// process that does not own the SqliteStore (`netsentry dashboard` beside a running monitor): WAL
// lets it write between the monitor's commits, waiting up to busy_timeout for the write lock.
// Returns false for an id the store does not hold; throws core::Error naming the path on failure.
bool acknowledge_alert(const std::filesystem::path& path, std::int64_t id,
                       std::chrono::milliseconds busy_timeout = std::chrono::milliseconds(5000));

struct SqliteStoreOptions {
  std::filesystem::path path = "netsentry.db";
  std::size_t queue_capacity = 65536;  // items (an add_flows batch is one item)
  // Rows waiting in the queue at most (flows, traffic, connections, sensor messages; alerts, acks
  // and flushes not counted): an item may carry thousands of rows, so the item bound alone let a
  // flood's batches hold hundreds of millions of rows in memory. A live store refuses (and counts)
  // bulk rows past it; a lossless one waits. One batch larger than the bound is taken alone.
  std::size_t queue_rows = 262144;
  // Room kept for alerts, acks and flushes: bulk rows are refused once the queue holds
  // capacity - alert_reserve items, so a flood of flows cannot crowd out its own alerts.
  std::size_t alert_reserve = 1024;
  // Rows per transaction (at most; a transaction also ends every commit_interval). A flood's rows
  // from random sources touch index pages all over: each transaction rewrites the pages it
  // touched, so a writer with a backlog commits large ones (bench/store_bench.cpp,
  // BM_StoreCommitSpoofedFlows: 8,192 -> 65,536 rows was about 2.5x the rate).
  std::size_t batch_max = 65536;
  // Wait for room instead of dropping (a replay: every row of the file is stored). Acks from the
  // page still never wait.
  bool lossless = false;
  std::chrono::milliseconds commit_interval{200};
  std::chrono::nanoseconds retention = std::chrono::hours(24 * 7);  // 0: keep everything
  std::chrono::milliseconds retention_check_interval{60000};
  // Size cap on the stored data (pages in use); 0: none. The -wal file comes on top until the next
  // checkpoint (journal_size_limit keeps it under 64 MB afterwards).
  std::uint64_t max_bytes = 0;
  std::chrono::milliseconds busy_timeout{5000};
  // fsync every commit (synchronous = FULL) instead of at checkpoints: a hub acknowledges what it
  // committed to the bus, so a power cut must not take those commits back.
  bool sync_every_commit = false;
  // SQLite's page cache (grown as used). Since schema version 6 a commit's index inserts stay in
  // the newest block of ids, so a small cache serves floods and big stores alike
  // (bench/store_bench.cpp: 2 MiB was as fast as 32 MiB in BM_StoreCommitSpoofedFlows and
  // BM_StoreSteadyCommitsIntoALargeStore, and spares the writer 30 MiB of fresh memory).
  std::int64_t cache_kib = 2048;
  // A store written in bulk (a hub): larger pages for a new file, and fewer WAL checkpoints.
  std::int64_t page_size = 4096;
  std::int64_t wal_autocheckpoint_pages = 1000;
};

// One bus message of one sensor, as the hub writes it (add_sensor_message): applied at most once
// per message_id, in one transaction with the id.
struct SensorMessage {
  struct Connections {
    std::vector<ConnectionRow> rows;
  };
  struct Health {
    std::int64_t time_ns = 0;
    std::string json;  // the Health message as a JSON object
  };
  std::string sensor;
  std::string message_id;
  std::int64_t received_ns = 0;  // wall time at the hub
  bool record_sensor = true;     // false for the hub's own alerts: not a sensor of the list
  // Flows (FlowRow::id = the sensor's id), an alert (new or newer state; Alert::id = the sensor's
  // id, 0 = none; Alert::sensors names who saw it), a traffic sample, connection events, health.
  std::variant<std::vector<FlowRow>, detect::Alert, host::TrafficSample, Connections, Health> body;
};

struct StoreStats {
  std::uint64_t accepted = 0;      // items taken into the queue
  std::uint64_t dropped = 0;       // items refused (queue full)
  std::uint64_t rows_dropped = 0;  // rows of those items (a batch of flows is one item)
  std::uint64_t rows_written = 0;
  std::uint64_t commits = 0;
  std::uint64_t write_errors = 0;  // failed transactions
  std::uint64_t rows_lost = 0;     // rows of failed transactions
  std::uint64_t retention_deleted = 0;
  std::uint64_t cap_deleted = 0;
  std::size_t queue_depth = 0;     // items waiting for the writer thread
  std::size_t queue_capacity = 0;  // options' queue_capacity
};

class SqliteStore final {
 public:
  // 1: the first schema; 2: sensor columns, sensors and bus_messages tables (netsentry hub).
  // 3: flows gain community_id, orig_ip_bytes, resp_ip_bytes, conn_state, history and
  // tunnel_parent.
  // 4: alerts with a lifecycle (state, host, role, revision, evidence, changed; features).
  // 5: indexes for a host's flows and alerts (the page's host page).
  // 6: the flows' address indexes lead with the block of ids (kFlowIdBlockShift), so inserts of
  // random addresses stay in the newest blocks.
  static constexpr int kSchemaVersion = 6;

  // Opens or creates the database and its schema and starts the writer thread. Throws core::Error
  // (with the path and SQLite's message) when the file cannot be created, is not a database, or
  // has a newer schema.
  explicit SqliteStore(SqliteStoreOptions options);
  ~SqliteStore();  // flushes, then stops the writer
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Each returns false when the row was dropped (queue full or store shutting down); a lossless
  // store waits for room instead.
  bool add_traffic(const host::TrafficSample& sample);  // "total" and each interface
  // Flows get their id here, so a publisher can name them before they are committed: add_flow
  // returns it (0 when dropped), add_flows sets FlowRow::id in `flows` (one queue item for all).
  std::int64_t add_flow(FlowRow flow);
  bool add_flows(std::span<FlowRow> flows);
  // The same, taking the rows instead of copying them (`flows` is left empty): a flood's batches
  // of thousands of rows are then handed to the writer without a copy of each row's strings.
  bool add_flows(std::vector<FlowRow>&& flows);
  bool add_connections(std::chrono::system_clock::time_point time,
                       std::span<const host::ConnectionEvent> events);
  // Stores a new alert (alert.id is ignored) and returns its id; 0 when it was dropped.
  std::int64_t add_alert(const detect::Alert& alert);
  // Stores an alert under its own id (alert.id > 0): inserted the first time, replaced in place
  // on every later delivery (an acknowledgement stays). False when it was dropped.
  bool put_alert(const detect::Alert& alert);
  // The id the next alert should get (past every id stored), for the detection stage.
  [[nodiscard]] std::int64_t next_alert_id() const { return next_alert_id_.load(); }
  // Replaces a stored alert (by alert.id) with a newer aggregate (count, last_ns, severity...).
  bool update_alert(const detect::Alert& alert);
  // Returns false for an id the store never assigned, or when the queue is full.
  bool ack_alert(std::int64_t id, bool acknowledged = true);
  // The hub's writes: waits for room (nothing a hub takes from the bus may be dropped). False when
  // the store is shutting down. Rows of a message id applied before are skipped.
  bool add_sensor_message(SensorMessage message);

  // Blocks until every item accepted before the call is committed (or failed and counted).
  void flush();
  // The same without blocking: the future is ready once they are.
  [[nodiscard]] std::future<void> flush_async();

  [[nodiscard]] StoreStats stats() const;
  // The latest write failure ("<path>: ...: database or disk is full"), if any.
  [[nodiscard]] std::optional<std::string> last_error() const;
  [[nodiscard]] const std::filesystem::path& path() const { return options_.path; }
  // Queries on the store's own read connection.
  [[nodiscard]] StoreReader& reader() { return *reader_; }

 private:
  struct TrafficItem {
    std::int64_t ts_ns;
    host::TrafficSample sample;
  };
  struct ConnectionsItem {
    std::int64_t ts_ns;
    std::vector<host::ConnectionEvent> events;
  };
  struct AckItem {
    std::int64_t id;
    bool acknowledged;
  };
  struct AlertItem {
    detect::Alert alert;
    bool update;
  };
  struct FlushItem {
    std::shared_ptr<std::promise<void>> done;
  };
  using Item = std::variant<TrafficItem, FlowRow, std::vector<FlowRow>, ConnectionsItem, AlertItem,
                            AckItem, FlushItem, SensorMessage>;
  class Writer;  // the writer connection and its prepared statements (sqlite_store.cpp)
  struct Counters {
    std::atomic<std::uint64_t> rows_written{0};
    std::atomic<std::uint64_t> commits{0};
    std::atomic<std::uint64_t> write_errors{0};
    std::atomic<std::uint64_t> rows_lost{0};
    std::atomic<std::uint64_t> retention_deleted{0};
    std::atomic<std::uint64_t> cap_deleted{0};
  };

  // Bulk rows (flows, traffic, connections) leave alert_reserve items free; alerts may use them.
  bool push_bulk(Item item, std::size_t rows);
  bool push_priority(Item item);
  void count_refused(std::size_t rows);
  // Takes room for `rows` queued rows (waits for it when `wait`); false when there is none.
  bool reserve_rows(std::size_t rows, bool wait);
  void release_rows(std::size_t rows);
  // The rows an item holds against queue_rows: those of the bulk items (push_bulk,
  // add_sensor_message); alerts, acks and flushes are bounded by the item count alone.
  [[nodiscard]] static std::size_t queued_rows_of(const Item& item);
  void run(std::stop_token stop);
  // The writer thread's open transaction: begun at its first row, every item applied as it is
  // taken from the queue, committed (or rolled back as a whole) by finish().
  struct Transaction {
    std::size_t rows = 0;  // rows of the items taken into it
    bool open = false;     // BEGIN done, not yet committed or rolled back
    bool failed = false;   // an item failed: rolled back, the rest is only counted
    std::string error;
  };
  void apply(Transaction& tx, const Item& item);
  void finish(Transaction& tx);
  void housekeeping();
  void record_error(const std::string& message);

  SqliteStoreOptions options_;
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<StoreReader> reader_;
  core::BoundedQueue<Item> queue_;
  std::atomic<std::int64_t> next_alert_id_{1};
  std::atomic<std::int64_t> next_flow_id_{1};
  std::atomic<std::uint64_t> refused_bulk_{0};  // refused for the alert reserve
  std::atomic<std::uint64_t> rows_refused_{0};  // rows of every refused item
  std::atomic<bool> warned_full_{false};        // the first drop was logged
  // Rows of the bulk items waiting in queue_ (queue_rows bounds them); the writer gives them back
  // as it takes the items.
  std::mutex rows_mutex_;
  std::condition_variable rows_room_;
  std::size_t queued_rows_ = 0;
  Counters counters_;
  std::chrono::steady_clock::time_point next_retention_check_{};  // writer thread only
  mutable std::mutex error_mutex_;                                // guards last_error_
  std::optional<std::string> last_error_;
  std::jthread thread_;  // last: stops and joins before the members it uses go away
};

}  // namespace netsentry::store
