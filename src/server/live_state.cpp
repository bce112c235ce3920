#include "server/live_state.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <utility>

#include "server/api_json.h"

namespace netsentry::server {

namespace {

constexpr std::int64_t kMinuteMs = 60'000;
constexpr std::string_view kTotal = "total";

template <typename T>
void push_bounded(std::deque<T>& ring, T value, std::size_t capacity) {
  ring.push_back(std::move(value));
  while (ring.size() > capacity) ring.pop_front();
}

std::int64_t to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

TrafficPoint rates_point(const host::InterfaceRates& rates, std::int64_t time_ms, double interval) {
  TrafficPoint p;
  p.time_ms = time_ms;
  p.interface = rates.name;
  p.bytes_sent = rates.bytes_sent;
  p.bytes_recv = rates.bytes_recv;
  p.packets_sent = rates.packets_sent;
  p.packets_recv = rates.packets_recv;
  p.interval_s = interval;
  return p;
}

// The newest `max_points` of the points at or after since_ms, oldest first.
template <typename T>
void append_since(const std::deque<T>& ring, std::int64_t since_ms, std::int64_t before_ms,
                  std::vector<T>& out) {
  auto first = std::lower_bound(ring.begin(), ring.end(), since_ms,
                                [](const T& p, std::int64_t t) { return p.time_ms < t; });
  for (; first != ring.end() && first->time_ms < before_ms; ++first) out.push_back(*first);
}

template <typename T>
void keep_newest(std::vector<T>& points, std::size_t max_points) {
  if (points.size() > max_points) {
    points.erase(points.begin(), points.end() - static_cast<std::ptrdiff_t>(max_points));
  }
}

}  // namespace

FlowRow flow_row(const flow::FlowRecord& record, std::optional<float> score, bool anomalous) {
  FlowRow row;
  row.first_ms = ns_to_ms(record.start_ns);
  row.last_ms = ns_to_ms(record.end_ns);
  row.src_ip = record.src_ip.family == 0 ? std::string() : record.src_ip.to_string();
  row.src_port = record.src_port;
  row.dst_ip = record.dst_ip.family == 0 ? std::string() : record.dst_ip.to_string();
  row.dst_port = record.dst_port;
  row.protocol = std::string(record.protocol());
  row.packets = record.packet_count;
  row.bytes = record.byte_count;
  row.score = score;
  row.anomalous = anomalous;
  row.community_id = record.community_id.to_string();
  row.orig_ip_bytes = record.orig_ip_bytes;
  row.resp_ip_bytes = record.resp_ip_bytes;
  row.conn_state = std::string(flow::conn_state_name(record.conn_state));
  row.history = std::string(record.history.view());
  row.tunnel_parent = record.tunnel_parent.to_string();
  return row;
}

LiveState::LiveState(LiveStateOptions options) : options_(options) {}

void LiveState::add_traffic(const TrafficPoint& point) {
  std::string data = json_text(traffic_json(point));
  std::lock_guard lock(mutex_);
  if (!series_.contains(point.interface) && series_.size() >= options_.max_interfaces) return;
  if (add_traffic_locked(point)) push_event_locked("traffic", std::move(data));
}

void LiveState::add_traffic_sample(const host::TrafficSample& sample) {
  const std::int64_t t = to_ms(sample.timestamp);
  TrafficPoint total = rates_point(sample.total, t, sample.interval_seconds);
  total.interface = std::string(kTotal);
  add_traffic(total);
  for (const host::InterfaceRates& rates : sample.interfaces) {
    add_traffic(rates_point(rates, t, sample.interval_seconds));
  }
}

bool LiveState::add_traffic_locked(const TrafficPoint& point) {
  auto [it, inserted] = series_.try_emplace(point.interface);
  if (inserted) {
    if (point.interface == kTotal) {
      interfaces_.insert(interfaces_.begin(), point.interface);
    } else {
      interfaces_.push_back(point.interface);
    }
  }
  Series& series = it->second;
  // Out-of-order points would break the binary searches; after a clock step back the points are
  // dropped until time catches up.
  if (!series.recent.empty() && point.time_ms < series.recent.back().time_ms) return false;
  push_bounded(series.recent, point, options_.traffic_points);

  const std::int64_t minute = point.time_ms / kMinuteMs;
  MinuteSum& pending = series.pending;
  if (pending.count > 0 && minute != pending.minute) {
    TrafficPoint avg = pending.sum;
    const auto n = static_cast<double>(pending.count);
    avg.time_ms = pending.minute * kMinuteMs;
    avg.bytes_sent /= n;
    avg.bytes_recv /= n;
    avg.packets_sent /= n;
    avg.packets_recv /= n;
    avg.interval_s = 60;
    push_bounded(series.minutes, avg, options_.traffic_minutes);
    pending = MinuteSum{};
  }
  if (pending.count == 0) {
    pending.minute = minute;
    pending.sum = point;
  } else {
    pending.sum.bytes_sent += point.bytes_sent;
    pending.sum.bytes_recv += point.bytes_recv;
    pending.sum.packets_sent += point.packets_sent;
    pending.sum.packets_recv += point.packets_recv;
  }
  ++pending.count;

  if (point.interface == kTotal) {
    bytes_sent_total_ += point.bytes_sent * point.interval_s;
    bytes_recv_total_ += point.bytes_recv * point.interval_s;
    latest_total_ = point;
  }
  newest_ms_ = std::max(newest_ms_, point.time_ms);
  return true;
}

std::int64_t LiveState::add_alert(detect::Alert alert) {
  std::lock_guard lock(mutex_);
  if (alert.id == 0) {
    alert.id = next_alert_id_;
  }
  next_alert_id_ = std::max(next_alert_id_, alert.id + 1);
  const std::int64_t id = alert.id;
  // An aggregate update of a kept alert (same id, larger count) replaces it.
  for (auto it = alerts_.rbegin(); it != alerts_.rend(); ++it) {
    if (it->id != id) continue;
    alert.acknowledged = alert.acknowledged || it->acknowledged;
    newest_ms_ = std::max(newest_ms_, ns_to_ms(alert.last_ns > 0 ? alert.last_ns : alert.time_ns));
    std::string data = json_text(alert_json(alert));
    *it = std::move(alert);
    push_event_locked("alert", std::move(data));
    return id;
  }
  ++alerts_total_;
  const auto sev = static_cast<std::size_t>(alert.severity);
  if (sev < 4) ++alerts_by_severity_[sev];
  newest_ms_ = std::max(newest_ms_, ns_to_ms(alert.last_ns > 0 ? alert.last_ns : alert.time_ns));
  // Serialized under the lock because the id is assigned here; alerts are rare.
  std::string data = json_text(alert_json(alert));
  push_bounded(alerts_, std::move(alert), options_.alerts);
  push_event_locked("alert", std::move(data));
  return id;
}

void LiveState::add_flow(const FlowRow& flow) {
  std::lock_guard lock(mutex_);
  push_bounded(flows_, flow, options_.flows);
  if (!flow.src_ip.empty()) add_top_locked(talkers_, flow.src_ip, flow);
  if (flow.dst_port != 0 || flow.protocol == "TCP" || flow.protocol == "UDP") {
    add_top_locked(ports_, std::to_string(flow.dst_port) + "/" + flow.protocol, flow);
  }
  add_top_locked(protocols_, flow.protocol.empty() ? std::string("other") : flow.protocol, flow);
  newest_ms_ = std::max(newest_ms_, flow.last_ms);
}

void LiveState::add_top_locked(TopTable& table, const std::string& key, const FlowRow& flow) {
  TopEntry& e = table[key];
  if (e.key.empty()) e.key = key;
  e.bytes += flow.bytes;
  e.packets += flow.packets;
  ++e.flows;
  if (table.size() <= options_.top_keys) return;
  // A scan touching many addresses must not grow the table without bound: keep the heavier half.
  std::vector<std::pair<std::uint64_t, std::string>> weights;
  weights.reserve(table.size());
  for (const auto& [k, entry] : table) weights.emplace_back(entry.bytes, k);
  const std::size_t keep = options_.top_keys / 2;
  std::nth_element(weights.begin(), weights.begin() + static_cast<std::ptrdiff_t>(keep),
                   weights.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = keep; i < weights.size(); ++i) table.erase(weights[i].second);
}

void LiveState::add_score(const ScorePoint& point) {
  std::lock_guard lock(mutex_);
  if (!timeline_.empty() && point.time_ms < timeline_.back().time_ms) return;
  if (!timeline_.empty() && point.time_ms == timeline_.back().time_ms) {
    // Each scored batch reports its seconds' peaks, so one second arrives many times (measured:
    // 3600 points for 83 seconds, and a "score" event each). The timeline keeps one point per
    // second, its peak; the page draws a second once, so only a new alert marker is published.
    ScorePoint& last = timeline_.back();
    last.score = std::max(last.score, point.score);
    last.threshold = point.threshold;
    if (point.alert_id != 0 && last.alert_id == 0) {
      last.alert_id = point.alert_id;
      push_event_locked("score", json_text(score_json(last)));
    }
    return;
  }
  push_bounded(timeline_, point, options_.timeline_points);
  newest_ms_ = std::max(newest_ms_, point.time_ms);
  push_event_locked("score", json_text(score_json(point)));
}

void LiveState::set_connections(std::vector<ConnectionRow> connections) {
  if (connections.size() > options_.connections) connections.resize(options_.connections);
  std::lock_guard lock(mutex_);
  connections_ = std::move(connections);
}

void LiveState::set_hosts(std::vector<detect::HostRisk> hosts) {
  std::string data =
      hosts_json(hosts).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard lock(mutex_);
  hosts_ = std::move(hosts);
  if (data == hosts_data_) return;
  hosts_data_ = data;
  push_event_locked("hosts", std::move(data));
}

std::vector<detect::HostRisk> LiveState::hosts(std::size_t limit) const {
  std::lock_guard lock(mutex_);
  return {hosts_.begin(),
          hosts_.begin() + static_cast<std::ptrdiff_t>(std::min(limit, hosts_.size()))};
}

void LiveState::set_models(ModelsInfo models) {
  std::lock_guard lock(mutex_);
  models_ = std::move(models);
}

void LiveState::set_pipeline(const PipelineStatus& status) {
  std::lock_guard lock(mutex_);
  pipeline_ = status;
  // The event carries the seq it is about to get, so a client can resume from it.
  Stats s = stats_locked();
  s.event_seq = last_seq_ + 1;
  push_event_locked("stats", json_text(stats_json(s)));
}

void LiveState::push_event_locked(std::string type, std::string data) {
  push_bounded(events_, Event{++last_seq_, std::move(type), std::move(data)}, options_.events);
  events_cv_.notify_all();
}

Stats LiveState::stats() const {
  std::lock_guard lock(mutex_);
  return stats_locked();
}

Stats LiveState::stats_locked() const {
  Stats s;
  s.time_ms = newest_ms_;
  s.bytes_sent_total = bytes_sent_total_;
  s.bytes_recv_total = bytes_recv_total_;
  s.bytes_sent_per_second = latest_total_.bytes_sent;
  s.bytes_recv_per_second = latest_total_.bytes_recv;
  s.pipeline = pipeline_;
  s.alerts_total = alerts_total_;
  std::copy(std::begin(alerts_by_severity_), std::end(alerts_by_severity_),
            std::begin(s.alerts_by_severity));
  s.alerts_unacknowledged = static_cast<std::uint64_t>(std::count_if(
      alerts_.begin(), alerts_.end(), [](const detect::Alert& a) { return !a.acknowledged; }));
  s.interfaces = interfaces_;
  s.event_seq = last_seq_;
  return s;
}

std::vector<TrafficPoint> LiveState::traffic(std::int64_t since_ms, std::string_view interface,
                                             std::size_t max_points) const {
  std::vector<TrafficPoint> out;
  std::lock_guard lock(mutex_);
  const auto it = series_.find(std::string(interface));
  if (it == series_.end()) return out;
  const Series& series = it->second;
  // Minute averages cover what has already fallen out of the full-resolution ring.
  const std::int64_t recent_start =
      series.recent.empty() ? INT64_MAX : series.recent.front().time_ms;
  append_since(series.minutes, since_ms, recent_start, out);
  append_since(series.recent, since_ms, INT64_MAX, out);
  keep_newest(out, max_points);
  return out;
}

std::vector<detect::Alert> LiveState::alerts(std::int64_t since_id,
                                             std::optional<detect::Severity> min_severity,
                                             std::size_t limit) const {
  std::vector<detect::Alert> out;
  std::lock_guard lock(mutex_);
  for (auto it = alerts_.rbegin(); it != alerts_.rend() && out.size() < limit; ++it) {
    if (it->id <= since_id) continue;
    if (min_severity && it->severity < *min_severity) continue;
    out.push_back(*it);
  }
  return out;
}

std::optional<detect::Alert> LiveState::alert(std::int64_t id) const {
  std::lock_guard lock(mutex_);
  for (auto it = alerts_.rbegin(); it != alerts_.rend(); ++it) {
    if (it->id == id) return *it;
  }
  return std::nullopt;
}

bool LiveState::acknowledge(std::int64_t id) {
  {
    std::lock_guard lock(mutex_);
    auto it = alerts_.rbegin();
    for (; it != alerts_.rend() && it->id != id; ++it) {
    }
    if (it == alerts_.rend()) return false;
    it->acknowledged = true;
    push_event_locked("ack", json_text(nlohmann::json{{"id", id}}));
  }
  // Outside the lock: the listener may take its own (the store's queue).
  if (ack_listener_) ack_listener_(id);
  return true;
}

std::vector<FlowRow> LiveState::flows(std::size_t limit, FlowSort sort) const {
  std::vector<FlowRow> out;
  {
    std::lock_guard lock(mutex_);
    out.assign(flows_.begin(), flows_.end());
  }
  // Sorting happens outside the lock so a large table does not stall the pipeline.
  sort_flows(out, limit, sort);
  return out;
}

std::vector<ConnectionRow> LiveState::connections(std::size_t limit) const {
  std::lock_guard lock(mutex_);
  const std::size_t n = std::min(limit, connections_.size());
  return {connections_.begin(), connections_.begin() + static_cast<std::ptrdiff_t>(n)};
}

ModelsInfo LiveState::models() const {
  std::lock_guard lock(mutex_);
  return models_;
}

std::vector<ScorePoint> LiveState::timeline(std::int64_t since_ms, std::size_t max_points) const {
  std::vector<ScorePoint> out;
  std::lock_guard lock(mutex_);
  append_since(timeline_, since_ms, INT64_MAX, out);
  keep_newest(out, max_points);
  return out;
}

TopLists LiveState::top(std::size_t limit) const {
  const auto heaviest = [limit](const TopTable& table) {
    std::vector<TopEntry> entries;
    entries.reserve(table.size());
    for (const auto& [key, entry] : table) entries.push_back(entry);
    const std::size_t n = std::min(limit, entries.size());
    std::partial_sort(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(n),
                      entries.end(), [](const TopEntry& a, const TopEntry& b) {
                        return a.bytes != b.bytes ? a.bytes > b.bytes : a.key < b.key;
                      });
    entries.resize(n);
    return entries;
  };
  std::lock_guard lock(mutex_);
  return {heaviest(talkers_), heaviest(ports_), heaviest(protocols_)};
}

EventBatch LiveState::events_since(std::uint64_t after_seq, std::size_t max_events) const {
  std::lock_guard lock(mutex_);
  return events_after(events_, last_seq_, after_seq, max_events);
}

bool LiveState::wait_for_events(std::uint64_t after_seq, std::chrono::milliseconds timeout,
                                std::stop_token stop) const {
  std::unique_lock lock(mutex_);
  return events_cv_.wait_for(lock, stop, timeout, [&] { return last_seq_ > after_seq; });
}

}  // namespace netsentry::server
