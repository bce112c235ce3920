// Provides server::HubSource, the DashboardSource of `netsentry hub`: the hub's SQLite store seen
// whole (every sensor's rows; traffic summed over sensors) and, for ?sensor=NAME, each sensor's
// own view (a StoreSource filtered to it, made on first use), plus the list of sensors with each
// one's latest health (GET /api/sensors).
// Thread rules: every method is thread-safe; `mutex_` guards the views.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "server/store_source.h"

namespace netsentry::server {

class HubSource final : public DashboardSource {
 public:
  // Throws core::Error naming the path when the store is missing or not a netsentry store.
  explicit HubSource(std::filesystem::path path, StoreSourceOptions options = {},
                     std::size_t max_sensors = 256);
  ~HubSource() override;

  [[nodiscard]] Stats stats() const override { return all_->stats(); }
  [[nodiscard]] std::vector<TrafficPoint> traffic(std::int64_t since_ms, std::string_view interface,
                                                  std::size_t max_points) const override {
    return all_->traffic(since_ms, interface, max_points);
  }
  [[nodiscard]] std::vector<detect::Alert> alerts(std::int64_t since_id,
                                                  std::optional<detect::Severity> min_severity,
                                                  std::size_t limit) const override {
    return all_->alerts(since_id, min_severity, limit);
  }
  [[nodiscard]] std::optional<detect::Alert> alert(std::int64_t id) const override {
    return all_->alert(id);
  }
  bool acknowledge(std::int64_t id) override { return all_->acknowledge(id); }
  [[nodiscard]] std::vector<FlowRow> flows(std::size_t limit, FlowSort sort) const override {
    return all_->flows(limit, sort);
  }
  [[nodiscard]] std::vector<FlowRow> find_flows(const RowFilter& filter, std::size_t limit,
                                                FlowSort sort) const override {
    return all_->find_flows(filter, limit, sort);
  }
  [[nodiscard]] std::vector<detect::Alert> find_alerts(const RowFilter& filter,
                                                       std::optional<detect::Severity> min_severity,
                                                       std::size_t limit) const override {
    return all_->find_alerts(filter, min_severity, limit);
  }
  [[nodiscard]] std::vector<ConnectionRow> connections(std::size_t limit) const override {
    return all_->connections(limit);
  }
  [[nodiscard]] ModelsInfo models() const override { return {}; }
  [[nodiscard]] std::vector<ScorePoint> timeline(std::int64_t since_ms,
                                                 std::size_t max_points) const override {
    return all_->timeline(since_ms, max_points);
  }
  [[nodiscard]] TopLists top(std::size_t limit) const override { return all_->top(limit); }
  [[nodiscard]] std::vector<detect::HostRisk> hosts(std::size_t limit) const override {
    return all_->hosts(limit);
  }
  [[nodiscard]] EventBatch events_since(std::uint64_t after_seq,
                                        std::size_t max_events) const override {
    return all_->events_since(after_seq, max_events);
  }

  [[nodiscard]] std::vector<SensorInfo> sensors() const override;
  [[nodiscard]] DashboardSource* sensor_view(std::string_view name) override;

 private:
  const std::filesystem::path path_;
  const StoreSourceOptions options_;
  const std::size_t max_sensors_;
  std::unique_ptr<StoreSource> all_;
  std::unique_ptr<store::StoreReader> reader_;  // the sensors table
  mutable std::mutex mutex_;                    // guards views_
  std::map<std::string, std::unique_ptr<StoreSource>, std::less<>> views_;
};

}  // namespace netsentry::server
