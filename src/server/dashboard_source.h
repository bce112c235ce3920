// Provides server::DashboardSource, the read side the dashboard server serves from, and the plain
// structs it returns. Two implementations exist: server::LiveState (fed by the running pipeline)
// and the store-backed one in src/app (reads SQLite for `netsentry dashboard --db`).
// Thread rules: the HTTP server calls every method concurrently from its worker threads, so an
// implementation must be thread-safe. Times are milliseconds since the Unix epoch (what the
// browser's Date uses); the pipeline's packet time is converted when the data is pushed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detect/alert.h"
#include "detect/profiles.h"

namespace netsentry::server {

// One bounded queue of the pipeline (capture ring, flow batches, alert queue, writer queue).
struct QueueStatus {
  std::string name;
  std::uint64_t depth = 0;
  std::uint64_t capacity = 0;
  std::uint64_t dropped = 0;  // items refused because the queue was full, since start
};

// How well the capture keeps up.
struct CaptureHealth {
  double packets_per_second = 0;
  std::uint64_t kernel_drops = 0;  // pcap_stats ps_drop + ps_ifdrop
  std::uint64_t queue_drops = 0;   // packets dropped between capture and flow thread
  std::uint64_t flow_table_size = 0;
  std::uint64_t flow_table_capacity = 0;
  std::uint64_t decode_errors = 0;
};

// The packets kept for alert evidence: the recorder's memory ring and the evidence folder.
struct EvidenceStatus {
  bool recording = false;          // the recorder is on
  std::uint64_t memory_bytes = 0;  // held by the ring now
  std::uint64_t memory_budget = 0;
  std::uint64_t packets_recorded = 0;  // since start
  std::uint64_t packets_evicted = 0;   // left the ring (budget or age)
  std::uint64_t packets_not_kept = 0;  // the ring was full of packets the meter still read
  std::int64_t oldest_ms = 0;          // packet time of the oldest packet held (0: none)
  std::uint64_t files = 0;             // alert-<id>.pcap files on disk now
  std::uint64_t disk_bytes = 0;
  std::uint64_t disk_budget = 0;
  std::uint64_t files_removed = 0;  // for the size budget or the retention
  std::uint64_t write_errors = 0;
};

// Counters the pipeline owns; the source adds what it accumulates itself (bytes, alerts).
struct PipelineStatus {
  std::uint64_t packets_total = 0;
  std::uint64_t flows_total = 0;
  // Packets the flow table counted in flood summaries instead of flows (flow/flood_guard.h).
  std::uint64_t flood_summarized = 0;
  double flows_per_second = 0;
  CaptureHealth health;
  std::vector<QueueStatus> queues;
  EvidenceStatus evidence;
};

struct Stats {
  std::int64_t time_ms = 0;  // time of the newest data (packet time in replays)
  double bytes_sent_total = 0;
  double bytes_recv_total = 0;
  double bytes_sent_per_second = 0;  // the latest "total" traffic point
  double bytes_recv_per_second = 0;
  PipelineStatus pipeline;
  std::uint64_t alerts_total = 0;
  std::uint64_t alerts_by_severity[4] = {0, 0, 0, 0};  // indexed by detect::Severity
  std::uint64_t alerts_unacknowledged = 0;
  std::vector<std::string> interfaces;  // "total" first
  std::uint64_t event_seq = 0;          // newest event; open /api/events?since= this for deltas
};

// Bytes and packets per second on one interface ("total" is the sum) over one interval.
struct TrafficPoint {
  std::int64_t time_ms = 0;
  std::string interface = "total";
  double bytes_sent = 0;
  double bytes_recv = 0;
  double packets_sent = 0;
  double packets_recv = 0;
  double interval_s = 1;  // the interval the rates cover (adds rate * interval to the totals)
};

struct FlowRow {
  std::int64_t first_ms = 0;
  std::int64_t last_ms = 0;
  std::string src_ip;
  std::uint16_t src_port = 0;
  std::string dst_ip;
  std::uint16_t dst_port = 0;
  std::string protocol;  // "TCP", "UDP", "ICMP", ...
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::optional<float> score;  // the ensemble score; empty when the flow was not scored
  bool anomalous = false;
  std::string sensor;  // a hub's flow: the sensor that saw it
  // Interoperable fields (docs/flow-columns.md); empty/0 for flows of an older store.
  std::string community_id;
  std::uint64_t orig_ip_bytes = 0;
  std::uint64_t resp_ip_bytes = 0;
  std::string conn_state;
  std::string history;
  std::string tunnel_parent;
};

enum class FlowSort : std::uint8_t { kLast, kBytes, kPackets, kScore, kDuration };
// "last", "bytes", "packets", "score", "duration"; nullopt for anything else.
[[nodiscard]] std::optional<FlowSort> parse_flow_sort(std::string_view text);

// A socket on this host with its owning process (the seed's network_connections.csv plus process).
struct ConnectionRow {
  std::string local_ip;
  std::uint16_t local_port = 0;
  std::string remote_ip;
  std::uint16_t remote_port = 0;
  std::string status;  // "ESTABLISHED", "LISTEN", ...
  std::string type;    // "TCP", "UDP"
  int pid = 0;         // 0 = unknown (other user's process without privileges)
  std::string process;
};

// One point of the anomaly-score timeline (typically the highest ensemble score in a second).
struct ScorePoint {
  std::int64_t time_ms = 0;
  float score = 0;
  float threshold = 0;
  std::int64_t alert_id = 0;  // non-zero when this point raised an alert (drawn as a marker)
};

struct TopEntry {
  std::string key;  // an address, "443/TCP", or a protocol name
  std::uint64_t bytes = 0;
  std::uint64_t packets = 0;
  std::uint64_t flows = 0;
};

struct TopLists {
  std::vector<TopEntry> talkers;
  std::vector<TopEntry> ports;
  std::vector<TopEntry> protocols;
};

struct ModelInfo {
  std::string name;  // "isolation_forest", "random_forest", "lstm", "autoencoder"
  bool loaded = true;
  float threshold = 0;
  double weight = 1;
  std::vector<std::pair<std::string, double>> metrics;  // in display order: accuracy, f1, ...
  std::vector<std::string> confusion_labels;            // e.g. {"normal", "anomaly"}
  std::vector<std::vector<std::uint64_t>> confusion;    // rows = truth, columns = prediction
};

// One sensor a hub hears from (GET /api/sensors).
struct SensorInfo {
  std::string name;
  std::int64_t first_ms = 0;  // wall time its first message was applied
  std::int64_t last_ms = 0;   // ... and its latest
  std::string health = "{}";  // its latest health message, a JSON object (docs/bus.md)
};

struct ModelsInfo {
  std::string bundle_path;  // empty when no bundle is loaded (rule detectors only)
  std::string format_version;
  std::string created;  // as written in the manifest
  std::size_t feature_count = 0;
  std::string ensemble_rule;  // e.g. "weighted vote >= 0.5"
  float ensemble_threshold = 0;
  std::vector<ModelInfo> models;
};

// One server-sent event. `data` is serialized JSON, so fanning it out to many clients costs no
// re-serialization.
struct Event {
  std::uint64_t seq = 0;  // strictly increasing, starts at 1
  std::string type;       // "traffic", "alert", "ack", "stats", "score", "hosts"
  std::string data;
};

struct EventBatch {
  std::vector<Event> events;  // oldest first, all with seq > the requested one
  // The requested seq is older than the oldest event kept: the client missed events and must
  // reload its state through the REST API.
  bool gap = false;
  std::uint64_t last_seq = 0;  // newest seq in the source (even if `events` was capped)
};

// The catch-up rule both sources share: the events of `ring` (oldest first, consecutive seqs,
// the newest being `last_seq`) after `after_seq`, at most `max_events`; `gap` when some were
// already dropped from the ring, or `after_seq` comes from an earlier run (ahead of last_seq).
[[nodiscard]] EventBatch events_after(const std::deque<Event>& ring, std::uint64_t last_seq,
                                      std::uint64_t after_seq, std::size_t max_events);

// The /api/flows order both sources share: the first `limit` rows of `rows` by `sort` (largest
// first; newest last-seen breaks ties and is the kLast order), the rest dropped.
void sort_flows(std::vector<FlowRow>& rows, std::size_t limit, FlowSort sort);

// What /api/flows and /api/alerts narrow to (?host=, ?from=, ?to=; the host page and the page's
// time range): flows with the address at either end that ended within [from_ms, to_ms]; alerts
// about the address (its profile, source or destination) whose first..last span meets the range.
struct RowFilter {
  std::string host;  // an address as the API writes it (net::IpAddress::to_string); "" = any
  std::int64_t from_ms = std::numeric_limits<std::int64_t>::min();
  std::int64_t to_ms = std::numeric_limits<std::int64_t>::max();

  [[nodiscard]] bool matches(const FlowRow& flow) const;
  [[nodiscard]] bool matches(const detect::Alert& alert) const;
};

class DashboardSource {
 public:
  virtual ~DashboardSource() = default;

  [[nodiscard]] virtual Stats stats() const = 0;
  // Points with time_ms >= since_ms for one interface, oldest first, at most max_points (the
  // newest ones). Unknown interface: empty.
  [[nodiscard]] virtual std::vector<TrafficPoint> traffic(std::int64_t since_ms,
                                                          std::string_view interface,
                                                          std::size_t max_points) const = 0;
  // Alerts with id > since_id and severity >= min_severity, newest first, at most limit.
  [[nodiscard]] virtual std::vector<detect::Alert> alerts(
      std::int64_t since_id, std::optional<detect::Severity> min_severity,
      std::size_t limit) const = 0;
  [[nodiscard]] virtual std::optional<detect::Alert> alert(std::int64_t id) const = 0;
  // Marks an alert acknowledged; false when no alert has that id.
  virtual bool acknowledge(std::int64_t id) = 0;
  // The alert's packets as a classic pcap file's bytes (GET /api/alerts/ID/pcap); nullopt when
  // none are stored (the default: a source without an evidence folder).
  [[nodiscard]] virtual std::optional<std::string> alert_packets(std::int64_t id) const {
    (void)id;
    return std::nullopt;
  }
  [[nodiscard]] virtual std::vector<FlowRow> flows(std::size_t limit, FlowSort sort) const = 0;
  [[nodiscard]] virtual std::vector<ConnectionRow> connections(std::size_t limit) const = 0;
  // Flows matching `filter` in `sort` order, at most limit. This default narrows what flows()
  // serves (the newest flows the source keeps); a store searches every flow it holds.
  [[nodiscard]] virtual std::vector<FlowRow> find_flows(const RowFilter& filter, std::size_t limit,
                                                        FlowSort sort) const;
  // Alerts matching `filter` with severity >= min_severity, newest first, at most limit. This
  // default narrows alerts(); a store searches every alert it holds.
  [[nodiscard]] virtual std::vector<detect::Alert> find_alerts(
      const RowFilter& filter, std::optional<detect::Severity> min_severity,
      std::size_t limit) const;

  [[nodiscard]] virtual ModelsInfo models() const = 0;
  // Points with time_ms >= since_ms, oldest first, at most max_points (the newest ones).
  [[nodiscard]] virtual std::vector<ScorePoint> timeline(std::int64_t since_ms,
                                                         std::size_t max_points) const = 0;
  [[nodiscard]] virtual TopLists top(std::size_t limit) const = 0;
  // The riskiest host profiles (highest score first), at most limit.
  [[nodiscard]] virtual std::vector<detect::HostRisk> hosts(std::size_t limit) const = 0;

  // Events with seq > after_seq, oldest first, at most max_events.
  [[nodiscard]] virtual EventBatch events_since(std::uint64_t after_seq,
                                                std::size_t max_events) const = 0;
  // Blocks until an event newer than after_seq exists, the timeout passes or stop is requested;
  // true when there is something new. This default polls, for sources without a wake-up (SQLite).
  virtual bool wait_for_events(std::uint64_t after_seq, std::chrono::milliseconds timeout,
                               std::stop_token stop) const;

  // A hub's source serves many sensors: their list (empty for one sensor's source), and the view
  // of one of them (?sensor=NAME on every endpoint), null for a name it does not know.
  [[nodiscard]] virtual std::vector<SensorInfo> sensors() const { return {}; }
  [[nodiscard]] virtual DashboardSource* sensor_view(std::string_view name) {
    (void)name;
    return nullptr;
  }
};

}  // namespace netsentry::server
