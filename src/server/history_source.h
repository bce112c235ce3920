// Provides server::HistorySource, the DashboardSource of `netsentry monitor` when it writes a
// SQLite store: the live state answers everything live (stats, the event stream, the newest flows
// and alerts, traffic, top lists, host profiles), and the store answers what the live rings no
// longer hold. The live state keeps the newest 2,000 flows, 5,000 alerts and an hour of scores;
// a time range on the page or a host page reaches back further, so ranged and per-host flow and
// alert searches (find_flows, find_alerts) return the store's rows merged with the live ones (the
// live copy wins: it can be newer than the last commit), an alert that left the live ring is
// read from the store, and a score timeline older than the live ring's reach comes from the store.
// Traffic stays live: its minute averages cover 24 hours.
// Thread rules: thread-safe as both sources are; the store is read through its own read-only
// connections (SQLite WAL lets them read between the writer's commits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/dashboard_source.h"

namespace netsentry::server {

class HistorySource final : public DashboardSource {
 public:
  // `live` must outlive this source; `store` answers history (a StoreSource on the monitor's
  // store). `live_timeline_ms` is how far back the live score timeline reaches (its ring at one
  // point a second).
  HistorySource(DashboardSource& live, std::unique_ptr<DashboardSource> store,
                std::int64_t live_timeline_ms);
  ~HistorySource() override;

  [[nodiscard]] Stats stats() const override { return live_.stats(); }
  [[nodiscard]] std::vector<TrafficPoint> traffic(std::int64_t since_ms, std::string_view interface,
                                                  std::size_t max_points) const override {
    return live_.traffic(since_ms, interface, max_points);
  }
  [[nodiscard]] std::vector<detect::Alert> alerts(std::int64_t since_id,
                                                  std::optional<detect::Severity> min_severity,
                                                  std::size_t limit) const override {
    return live_.alerts(since_id, min_severity, limit);
  }
  [[nodiscard]] std::optional<detect::Alert> alert(std::int64_t id) const override;
  bool acknowledge(std::int64_t id) override { return live_.acknowledge(id); }
  [[nodiscard]] std::optional<std::string> alert_packets(std::int64_t id) const override {
    return live_.alert_packets(id);
  }
  [[nodiscard]] std::vector<FlowRow> flows(std::size_t limit, FlowSort sort) const override {
    return live_.flows(limit, sort);
  }
  [[nodiscard]] std::vector<ConnectionRow> connections(std::size_t limit) const override {
    return live_.connections(limit);
  }
  [[nodiscard]] std::vector<FlowRow> find_flows(const RowFilter& filter, std::size_t limit,
                                                FlowSort sort) const override;
  [[nodiscard]] std::vector<detect::Alert> find_alerts(const RowFilter& filter,
                                                       std::optional<detect::Severity> min_severity,
                                                       std::size_t limit) const override;
  [[nodiscard]] ModelsInfo models() const override { return live_.models(); }
  [[nodiscard]] std::vector<ScorePoint> timeline(std::int64_t since_ms,
                                                 std::size_t max_points) const override;
  [[nodiscard]] TopLists top(std::size_t limit) const override { return live_.top(limit); }
  [[nodiscard]] std::vector<detect::HostRisk> hosts(std::size_t limit) const override {
    return live_.hosts(limit);
  }
  [[nodiscard]] EventBatch events_since(std::uint64_t after_seq,
                                        std::size_t max_events) const override {
    return live_.events_since(after_seq, max_events);
  }
  bool wait_for_events(std::uint64_t after_seq, std::chrono::milliseconds timeout,
                       std::stop_token stop) const override {
    return live_.wait_for_events(after_seq, timeout, stop);
  }

 private:
  DashboardSource& live_;
  std::unique_ptr<DashboardSource> store_;
  std::int64_t live_timeline_ms_;
};

}  // namespace netsentry::server
