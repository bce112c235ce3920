// Provides server::LiveState, the in-memory DashboardSource of `netsentry monitor`: the pipeline
// pushes traffic points, alerts, scored flows, score points, connections and counters into it and
// the HTTP server reads them. Everything is held in bounded rings (sizes in LiveStateOptions), so
// memory stays bounded whatever the traffic: old points, alerts and flows fall off the end and the
// top-N tables keep only the heaviest keys. Every change also appends a serialized event to the
// event ring that /api/events streams.
// Thread rules: all methods are thread-safe (one mutex, `mutex_`). Feeding is meant for the
// once-a-second / per-flow / per-alert paths, never per packet.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "flow/flow_record.h"
#include "host/monitor.h"
#include "server/dashboard_source.h"

namespace netsentry::server {

struct LiveStateOptions {
  std::size_t traffic_points = 3600;   // per interface at full resolution (1 h of 1 s points)
  std::size_t traffic_minutes = 1440;  // per interface, one-minute averages (24 h)
  std::size_t max_interfaces = 32;     // "total" included; points for others are ignored
  std::size_t alerts = 5000;
  std::size_t flows = 2000;
  std::size_t timeline_points = 3600;
  std::size_t connections = 5000;
  std::size_t events = 4096;    // catch-up window of /api/events
  std::size_t top_keys = 4096;  // per top-N table, before the lightest half is dropped
};

// A scored flow as the flows table shows it.
[[nodiscard]] FlowRow flow_row(const flow::FlowRecord& record, std::optional<float> score,
                               bool anomalous);

class LiveState final : public DashboardSource {
 public:
  explicit LiveState(LiveStateOptions options = {});

  // --- feeding (any pipeline thread) ---
  void add_traffic(const TrafficPoint& point);
  // host::Monitor's sample: its total as "total" plus one point per interface.
  void add_traffic_sample(const host::TrafficSample& sample);
  // Keeps the alert and returns its id: the one it carries (set by the store) or, when 0, the
  // next free one. An alert whose id is already kept replaces it (an aggregate update).
  std::int64_t add_alert(detect::Alert alert);
  void add_flow(const FlowRow& flow);
  void add_score(const ScorePoint& point);
  void set_connections(std::vector<ConnectionRow> connections);
  void set_models(ModelsInfo models);
  // Replaces the riskiest host profiles (the detection stage's, about once a second) and
  // publishes a "hosts" event when they changed.
  void set_hosts(std::vector<detect::HostRisk> hosts);
  // Replaces the pipeline's counters and publishes a "stats" event; call about once a second.
  void set_pipeline(const PipelineStatus& status);
  // Called (on the acknowledging thread) after an alert was acknowledged, e.g. to persist it.
  // Set before serving starts.
  void set_ack_listener(std::function<void(std::int64_t id)> listener) {
    ack_listener_ = std::move(listener);
  }

  // Reads an alert's stored packets (the evidence folder) for alert_packets(). Set before serving
  // starts.
  void set_packet_reader(std::function<std::optional<std::string>(std::int64_t id)> reader) {
    packet_reader_ = std::move(reader);
  }

  // --- DashboardSource ---
  [[nodiscard]] Stats stats() const override;
  [[nodiscard]] std::vector<TrafficPoint> traffic(std::int64_t since_ms, std::string_view interface,
                                                  std::size_t max_points) const override;
  [[nodiscard]] std::vector<detect::Alert> alerts(std::int64_t since_id,
                                                  std::optional<detect::Severity> min_severity,
                                                  std::size_t limit) const override;
  [[nodiscard]] std::optional<detect::Alert> alert(std::int64_t id) const override;
  bool acknowledge(std::int64_t id) override;
  [[nodiscard]] std::optional<std::string> alert_packets(std::int64_t id) const override {
    return packet_reader_ ? packet_reader_(id) : std::nullopt;
  }
  [[nodiscard]] std::vector<FlowRow> flows(std::size_t limit, FlowSort sort) const override;
  [[nodiscard]] std::vector<ConnectionRow> connections(std::size_t limit) const override;
  [[nodiscard]] ModelsInfo models() const override;
  [[nodiscard]] std::vector<ScorePoint> timeline(std::int64_t since_ms,
                                                 std::size_t max_points) const override;
  [[nodiscard]] TopLists top(std::size_t limit) const override;
  [[nodiscard]] std::vector<detect::HostRisk> hosts(std::size_t limit) const override;
  [[nodiscard]] EventBatch events_since(std::uint64_t after_seq,
                                        std::size_t max_events) const override;
  bool wait_for_events(std::uint64_t after_seq, std::chrono::milliseconds timeout,
                       std::stop_token stop) const override;

 private:
  struct MinuteSum {
    std::int64_t minute = -1;  // time_ms / 60000 of the points being summed
    TrafficPoint sum;
    std::size_t count = 0;
  };
  struct Series {
    std::deque<TrafficPoint> recent;
    std::deque<TrafficPoint> minutes;
    MinuteSum pending;
  };
  using TopTable = std::unordered_map<std::string, TopEntry>;

  // False when the point is older than the series' newest and was not kept.
  bool add_traffic_locked(const TrafficPoint& point);
  void add_top_locked(TopTable& table, const std::string& key, const FlowRow& flow);
  void push_event_locked(std::string type, std::string data);
  [[nodiscard]] Stats stats_locked() const;

  const LiveStateOptions options_;
  std::function<void(std::int64_t)> ack_listener_;  // set before serving; read-only afterwards
  std::function<std::optional<std::string>(std::int64_t)> packet_reader_;  // the same

  mutable std::mutex mutex_;                       // guards every member below
  mutable std::condition_variable_any events_cv_;  // notified when an event is appended
  std::unordered_map<std::string, Series> series_;
  std::vector<std::string> interfaces_;  // "total" first, then in order of appearance
  std::int64_t newest_ms_ = 0;
  double bytes_sent_total_ = 0;
  double bytes_recv_total_ = 0;
  TrafficPoint latest_total_;
  PipelineStatus pipeline_;
  std::deque<detect::Alert> alerts_;
  std::int64_t next_alert_id_ = 1;
  std::uint64_t alerts_total_ = 0;
  std::uint64_t alerts_by_severity_[4] = {0, 0, 0, 0};
  std::deque<FlowRow> flows_;
  std::deque<ScorePoint> timeline_;
  std::vector<ConnectionRow> connections_;
  ModelsInfo models_;
  std::vector<detect::HostRisk> hosts_;
  std::string hosts_data_;  // the last "hosts" event, to skip unchanged ones
  TopTable talkers_;
  TopTable ports_;
  TopTable protocols_;
  std::deque<Event> events_;
  std::uint64_t last_seq_ = 0;
};

}  // namespace netsentry::server
