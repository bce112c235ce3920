#include "server/history_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

#include "core/error.h"

namespace netsentry::server {

namespace {

// Everything the store holds is wanted: no range and no host means the newest rows, which the
// live state has.
bool reaches_back(const RowFilter& filter) {
  return !filter.host.empty() || filter.from_ms != std::numeric_limits<std::int64_t>::min() ||
         filter.to_ms != std::numeric_limits<std::int64_t>::max();
}

// A flow as both sources name it: its 5-tuple and first packet.
auto flow_key(const FlowRow& f) {
  return std::make_tuple(f.first_ms, f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.protocol);
}

}  // namespace

HistorySource::HistorySource(DashboardSource& live, std::unique_ptr<DashboardSource> store,
                             std::int64_t live_timeline_ms)
    : live_(live), store_(std::move(store)), live_timeline_ms_(live_timeline_ms) {}

HistorySource::~HistorySource() = default;

std::optional<detect::Alert> HistorySource::alert(std::int64_t id) const {
  if (auto a = live_.alert(id)) return a;
  try {
    return store_->alert(id);
  } catch (const core::Error& e) {
    spdlog::warn("dashboard: reading alert {} from the store: {}", id, e.what());
    return std::nullopt;
  }
}

std::vector<FlowRow> HistorySource::find_flows(const RowFilter& filter, std::size_t limit,
                                               FlowSort sort) const {
  std::vector<FlowRow> rows = live_.find_flows(filter, limit, sort);
  if (!reaches_back(filter)) return rows;
  std::vector<FlowRow> stored;
  try {
    stored = store_->find_flows(filter, limit, sort);
  } catch (const core::Error& e) {
    spdlog::warn("dashboard: searching the store's flows: {}", e.what());
    return rows;
  }
  std::set<decltype(flow_key(rows.front()))> seen;
  for (const FlowRow& f : rows) seen.insert(flow_key(f));
  for (FlowRow& f : stored) {
    if (!seen.contains(flow_key(f))) rows.push_back(std::move(f));
  }
  sort_flows(rows, limit, sort);
  return rows;
}

std::vector<detect::Alert> HistorySource::find_alerts(const RowFilter& filter,
                                                      std::optional<detect::Severity> min_severity,
                                                      std::size_t limit) const {
  std::vector<detect::Alert> rows = live_.find_alerts(filter, min_severity, limit);
  if (!reaches_back(filter)) return rows;
  std::vector<detect::Alert> stored;
  try {
    stored = store_->find_alerts(filter, min_severity, limit);
  } catch (const core::Error& e) {
    spdlog::warn("dashboard: searching the store's alerts: {}", e.what());
    return rows;
  }
  std::set<std::int64_t> seen;
  for (const detect::Alert& a : rows) seen.insert(a.id);
  for (detect::Alert& a : stored) {
    if (!seen.contains(a.id)) rows.push_back(std::move(a));
  }
  // Newest first, as both sources answer.
  std::sort(rows.begin(), rows.end(),
            [](const detect::Alert& a, const detect::Alert& b) { return a.id > b.id; });
  if (rows.size() > limit) rows.resize(limit);
  return rows;
}

std::vector<ScorePoint> HistorySource::timeline(std::int64_t since_ms,
                                                std::size_t max_points) const {
  std::vector<ScorePoint> live = live_.timeline(since_ms, max_points);
  // The live ring reaches back live_timeline_ms from its newest point: older asks go to the store.
  const std::int64_t newest = live.empty() ? live_.stats().time_ms : live.back().time_ms;
  if (since_ms >= newest - live_timeline_ms_) return live;
  try {
    std::vector<ScorePoint> stored = store_->timeline(since_ms, max_points);
    return stored.empty() ? live : stored;
  } catch (const core::Error& e) {
    spdlog::warn("dashboard: reading the store's score timeline: {}", e.what());
    return live;
  }
}

}  // namespace netsentry::server
