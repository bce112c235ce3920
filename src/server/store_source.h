// Provides server::StoreSource, the DashboardSource of `netsentry dashboard --db PATH`: it serves
// the SQLite store that a running (or finished) `netsentry monitor` writes, from another process.
// REST answers are SQL queries on a read-only store::StoreReader. Live events are made by polling:
// at most once per poll_interval, rows inserted since the last poll (traffic, alerts, flows,
// connection events) become the same "traffic", "alert", "score" and "stats" events LiveState
// publishes, in a bounded ring with a strictly increasing seq, so the page works unchanged. The
// stream starts at the store's state when the source is built (no history replay).
// Acknowledging writes through store::acknowledge_alert, a short-lived read-write connection with a
// busy timeout (WAL lets it commit between the monitor's transactions), and publishes an "ack".
// Not visible from the store: the pipeline's capture health and queues (zero), the models (empty),
// the score threshold (null), and changes another process makes to alerts already seen.
// Thread rules: every method is thread-safe. One thread at a time polls (others return what the
// ring holds); `mutex_` guards the cached state and the ring, never held during SQL.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/dashboard_source.h"
#include "server/top_window.h"

namespace netsentry::store {
class StoreReader;
struct ConnectionRow;
struct TrafficRow;
}  // namespace netsentry::store

namespace netsentry::server {

struct StoreSourceOptions {
  std::chrono::milliseconds poll_interval{500};
  std::chrono::milliseconds busy_timeout{5000};  // for reads and the acknowledgement's write
  std::size_t events = 4096;                     // catch-up window of /api/events
  std::size_t max_rows_per_poll = 4096;          // per table; the rest waits for the next poll
  std::size_t recent_flows = 2000;               // the flows table sorts the newest this many
  std::size_t connections = 65536;               // sockets tracked from connection events
  std::size_t max_interfaces = 32;               // "total" included
  // Top talkers, ports and protocols cover flows that ended this long before the newest data.
  std::chrono::hours top_window{24};
  // Count the top lists' window once at start on a thread of its own, so the first /api/top does
  // not wait for it. Off for a live monitor's history (its top lists are served live).
  bool warm_top_lists = true;
  // A hub's store: only this sensor's rows (empty: every row).
  std::string sensor;
  // A hub's store seen whole: traffic is the sum over sensors ("total" only), and live traffic
  // points are sent once a second is `settle` old (sensors report it at slightly different times).
  bool multi_sensor = false;
  std::chrono::seconds settle{2};
  // The evidence folder (alert-<id>.pcap files) that GET /api/alerts/ID/pcap serves from; empty:
  // none.
  std::filesystem::path evidence_dir;
};

class StoreSource final : public DashboardSource {
 public:
  // Opens the store read-only and reads its current state (totals, interfaces, the socket list).
  // Throws core::Error naming the path when it is missing or not a netsentry store.
  explicit StoreSource(std::filesystem::path path, StoreSourceOptions options = {});
  ~StoreSource() override;
  StoreSource(const StoreSource&) = delete;
  StoreSource& operator=(const StoreSource&) = delete;

  // Reads what was added since the last poll now (the server calls it through events_since at
  // most once per poll_interval).
  void poll();

  [[nodiscard]] Stats stats() const override;
  [[nodiscard]] std::vector<TrafficPoint> traffic(std::int64_t since_ms, std::string_view interface,
                                                  std::size_t max_points) const override;
  [[nodiscard]] std::vector<detect::Alert> alerts(std::int64_t since_id,
                                                  std::optional<detect::Severity> min_severity,
                                                  std::size_t limit) const override;
  [[nodiscard]] std::optional<detect::Alert> alert(std::int64_t id) const override;
  bool acknowledge(std::int64_t id) override;
  [[nodiscard]] std::optional<std::string> alert_packets(std::int64_t id) const override;
  [[nodiscard]] std::vector<FlowRow> flows(std::size_t limit, FlowSort sort) const override;
  // Every stored flow / alert the filter names (indexed queries), not only the recent window.
  [[nodiscard]] std::vector<FlowRow> find_flows(const RowFilter& filter, std::size_t limit,
                                                FlowSort sort) const override;
  [[nodiscard]] std::vector<detect::Alert> find_alerts(const RowFilter& filter,
                                                       std::optional<detect::Severity> min_severity,
                                                       std::size_t limit) const override;
  [[nodiscard]] std::vector<ConnectionRow> connections(std::size_t limit) const override;
  [[nodiscard]] ModelsInfo models() const override;
  [[nodiscard]] std::vector<ScorePoint> timeline(std::int64_t since_ms,
                                                 std::size_t max_points) const override;
  [[nodiscard]] TopLists top(std::size_t limit) const override;
  // From the stored alerts: the newest alert of each host, engaged ones first, by score.
  [[nodiscard]] std::vector<detect::HostRisk> hosts(std::size_t limit) const override;
  [[nodiscard]] EventBatch events_since(std::uint64_t after_seq,
                                        std::size_t max_events) const override;

 private:
  struct Cursor {  // the newest row of each table already turned into events
    std::int64_t traffic = 0;
    std::int64_t flow = 0;
    std::int64_t alert = 0;
    std::int64_t connection = 0;
  };

  void poll_if_due() const;
  void poll_locked_out();  // the body of poll(); the caller holds poll_mutex_
  // Snapshot rows of a new monitor run replace the socket list; others open, change or close one.
  void apply_connection_locked(const store::ConnectionRow& row);
  void push_event_locked(std::string type, std::string data);
  // multi_sensor: the sensors' "total" rows summed per second.
  void add_sensor_traffic_locked(const std::vector<store::TrafficRow>& rows);
  void add_interface_locked(const std::string& name);
  [[nodiscard]] Stats stats_locked() const;

  const std::filesystem::path path_;
  const StoreSourceOptions options_;
  std::unique_ptr<store::StoreReader> reader_;      // thread-safe (its own mutex)
  std::unique_ptr<store::StoreReader> top_reader_;  // the top lists' (a long query), the same
  std::unique_ptr<TopWindow> top_window_;           // reads through top_reader_

  mutable std::mutex poll_mutex_;  // held by the one thread polling; guards the 3 below
  Cursor cursor_;
  std::int64_t snapshot_ts_ = -1;  // ts_ns of the socket snapshot the connection list started at
  std::string last_error_;         // the last poll's failure, logged once until it changes

  mutable std::mutex mutex_;  // guards every member below
  std::chrono::steady_clock::time_point next_poll_{};
  std::int64_t newest_ms_ = 0;
  double bytes_sent_total_ = 0;
  double bytes_recv_total_ = 0;
  double packets_total_ = 0;
  std::int64_t last_total_ns_ = 0;                            // newest "total" traffic row summed
  std::map<std::string, std::int64_t> last_total_by_sensor_;  // multi_sensor: the same, per sensor
  std::map<std::int64_t, TrafficPoint> unsettled_;  // multi_sensor: second -> summed rates
  TrafficPoint latest_total_;
  std::uint64_t flows_total_ = 0;
  double flows_per_second_ = 0;
  std::chrono::steady_clock::time_point last_poll_time_{};
  std::uint64_t alerts_total_ = 0;
  std::uint64_t alerts_by_severity_[4] = {0, 0, 0, 0};
  std::uint64_t alerts_unacknowledged_ = 0;
  std::vector<std::string> interfaces_;  // "total" first
  // Sockets by transport and endpoints; std::map keeps /api/connections in a stable order.
  std::map<std::string, ConnectionRow> connections_;
  std::deque<Event> events_;
  std::uint64_t last_seq_ = 0;

  // Adds up the top lists' window once at start, off the request path (last: it stops first).
  std::jthread top_warmup_;
};

}  // namespace netsentry::server
