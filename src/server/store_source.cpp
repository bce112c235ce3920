#include "server/store_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <utility>

#include "flow/flow_record.h"
#include "host/connection_reader.h"
#include "server/api_json.h"
#include "store/evidence_store.h"
#include "store/sqlite_store.h"

namespace netsentry::server {

namespace {

constexpr std::int64_t kNsPerMs = 1'000'000;
constexpr std::int64_t kNsPerSecond = 1'000'000'000;
constexpr std::string_view kTotal = "total";

// The API's milliseconds to the store's nanoseconds, saturating (since= may be any int64).
std::int64_t ms_to_ns(std::int64_t ms) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / kNsPerMs;
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min() / kNsPerMs;
  return std::clamp(ms, kMin, kMax) * kNsPerMs;
}

TrafficPoint traffic_point(const store::TrafficRow& row, double interval_s) {
  TrafficPoint p;
  p.time_ms = ns_to_ms(row.ts_ns);
  p.interface = row.interface;
  p.bytes_sent = row.bytes_sent;
  p.bytes_recv = row.bytes_recv;
  p.packets_sent = row.packets_sent;
  p.packets_recv = row.packets_recv;
  p.interval_s = interval_s;
  return p;
}

std::string address(const net::IpAddress& ip) { return ip.family == 0 ? "" : ip.to_string(); }

FlowRow flow_row(const store::FlowRow& row) {
  FlowRow f;
  f.first_ms = ns_to_ms(row.start_ns);
  f.last_ms = ns_to_ms(row.end_ns);
  f.src_ip = address(row.src_ip);
  f.src_port = row.src_port;
  f.dst_ip = address(row.dst_ip);
  f.dst_port = row.dst_port;
  f.protocol = std::string(flow::protocol_name(row.ip_proto));
  f.packets = row.packets;
  f.bytes = row.bytes;
  f.sensor = row.sensor;
  // The engine stores flows it did not score with no voters (verdict "unscored").
  if (row.voters > 0) {
    f.score = row.score;
    f.anomalous = row.verdict != "benign";
  }
  f.community_id = row.community_id;
  f.orig_ip_bytes = row.orig_ip_bytes;
  f.resp_ip_bytes = row.resp_ip_bytes;
  f.conn_state = row.conn_state;
  f.history = row.history;
  f.tunnel_parent = row.tunnel_parent;
  return f;
}

ConnectionRow connection_row(const store::ConnectionRow& row) {
  ConnectionRow c;
  c.local_ip = row.local_ip;
  c.local_port = row.local_port;
  c.remote_ip = row.remote_ip;
  c.remote_port = row.remote_port;
  c.status = row.status;
  c.type = row.transport;
  c.pid = row.pid == host::kUnknownPid ? 0 : row.pid;
  c.process = row.process;
  return c;
}

// A socket's identity as host::ConnectionTracker defines it: transport and both endpoints.
std::string connection_key(const store::ConnectionRow& row) {
  return row.transport + ' ' + row.local_ip + ' ' + std::to_string(row.local_port) + ' ' +
         row.remote_ip + ' ' + std::to_string(row.remote_port);
}

// The interval a "total" row covers, as store::StoreReader::traffic_totals counts it.
double covered_seconds(std::int64_t previous_ns, std::int64_t ts_ns) {
  if (previous_ns == 0) return 1;
  return static_cast<double>(std::clamp<std::int64_t>(ts_ns - previous_ns, 0, 60 * kNsPerSecond)) /
         1e9;
}

// The store does not hold the ensemble threshold; NaN is served as null, so no line is drawn.
constexpr float kNoThreshold = std::numeric_limits<float>::quiet_NaN();

}  // namespace

StoreSource::StoreSource(std::filesystem::path path, StoreSourceOptions options)
    : path_(std::move(path)),
      options_(options),
      reader_(std::make_unique<store::StoreReader>(path_, options_.busy_timeout, options_.sensor)),
      top_reader_(
          std::make_unique<store::StoreReader>(path_, options_.busy_timeout, options_.sensor)) {
  const store::StoreHeads heads = reader_->heads();
  cursor_.traffic = heads.traffic_rowid;
  cursor_.flow = heads.flow_id;
  cursor_.alert = heads.alert_changed;

  const store::TrafficTotals totals = reader_->traffic_totals(kTotal, heads.traffic_rowid);
  bytes_sent_total_ = totals.bytes_sent;
  bytes_recv_total_ = totals.bytes_recv;
  packets_total_ = totals.packets;
  last_total_ns_ = totals.last_ts_ns;
  if (totals.last_ts_ns != 0) {
    const auto latest = reader_->traffic_since(totals.last_ts_ns, kTotal, 1);
    if (!latest.empty()) latest_total_ = traffic_point(latest.front(), 1);
  }
  newest_ms_ = ns_to_ms(heads.newest_ns);
  // Interfaces seen in the last day of data: what the page's longest range can show.
  interfaces_ = options_.multi_sensor
                    ? std::vector<std::string>{std::string(kTotal)}
                    : reader_->interfaces_since(heads.newest_ns - 24 * 3600 * kNsPerSecond,
                                                options_.max_interfaces);
  flows_total_ = options_.sensor.empty() ? static_cast<std::uint64_t>(heads.flow_id)
                                         : reader_->flow_count_after(0);
  const store::AlertCounts counts = reader_->alert_counts();
  alerts_total_ = counts.total;
  alerts_unacknowledged_ = counts.unacknowledged;
  std::copy(std::begin(counts.by_severity), std::end(counts.by_severity),
            std::begin(alerts_by_severity_));

  // The current socket list: the newest snapshot replayed with every change after it.
  const std::int64_t snapshot = reader_->last_snapshot_rowid();
  cursor_.connection = snapshot > 0 ? snapshot - 1 : 0;
  for (;;) {
    const auto rows = reader_->connections_after(cursor_.connection, options_.max_rows_per_poll);
    for (const store::ConnectionRow& row : rows) {
      if (row.rowid > heads.connection_rowid) break;
      apply_connection_locked(row);
      cursor_.connection = row.rowid;
    }
    if (rows.size() < options_.max_rows_per_poll || cursor_.connection >= heads.connection_rowid) {
      break;
    }
  }
  cursor_.connection = std::max(cursor_.connection, heads.connection_rowid);
  const auto now = std::chrono::steady_clock::now();
  last_poll_time_ = now;
  next_poll_ = now + options_.poll_interval;

  top_window_ = std::make_unique<TopWindow>(*top_reader_);
  if (!options_.warm_top_lists) return;
  top_warmup_ = std::jthread([this] {
    try {
      (void)top(1);
    } catch (const std::exception& error) {
      spdlog::warn("dashboard: top lists: {}", error.what());  // the first request retries
    }
  });
}

StoreSource::~StoreSource() = default;

void StoreSource::poll_if_due() const {
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (now < next_poll_) return;
  }
  std::unique_lock poll_lock(poll_mutex_, std::try_to_lock);
  // Another thread is polling: what it finds reaches the ring for everybody.
  if (!poll_lock.owns_lock()) return;
  // The read side of the interface is const; polling only refreshes the cache behind it.
  const_cast<StoreSource*>(this)->poll_locked_out();
}

void StoreSource::poll() {
  std::lock_guard poll_lock(poll_mutex_);
  poll_locked_out();
}

void StoreSource::poll_locked_out() {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    next_poll_ = now + options_.poll_interval;
  }
  std::vector<store::TrafficRow> traffic;
  std::vector<detect::Alert> alerts;
  std::vector<store::FlowRow> flows;
  std::vector<store::ConnectionRow> connection_events;
  store::StoreHeads heads;
  store::AlertCounts counts;
  std::uint64_t sensor_new_flows = 0;
  std::int64_t alert_changed = cursor_.alert;
  try {
    heads = reader_->heads();
    // A head behind the cursor means rows were deleted (the size cap emptied a table): follow it.
    cursor_.traffic = std::min(cursor_.traffic, heads.traffic_rowid);
    cursor_.flow = std::min(cursor_.flow, heads.flow_id);
    cursor_.alert = std::min(cursor_.alert, heads.alert_changed);
    cursor_.connection = std::min(cursor_.connection, heads.connection_rowid);
    const std::size_t n = options_.max_rows_per_poll;
    if (heads.traffic_rowid > cursor_.traffic) traffic = reader_->traffic_after(cursor_.traffic, n);
    // Alerts are updated in place while engaged: follow every change, not only new ids.
    if (heads.alert_changed > cursor_.alert) {
      alerts = reader_->alerts_changed_after(cursor_.alert, n, &alert_changed);
    }
    if (heads.flow_id > cursor_.flow) {
      // Only the newest flows become score events: a flood must not leave the live timeline
      // behind, and the REST timeline has every second anyway.
      flows =
          reader_->recent_flows(static_cast<std::size_t>(std::min<std::int64_t>(
                                    heads.flow_id - cursor_.flow, static_cast<std::int64_t>(n))),
                                store::FlowOrder::kNewest);
      std::erase_if(flows, [&](const store::FlowRow& f) {
        return f.id <= cursor_.flow || f.id > heads.flow_id;
      });
    }
    if (heads.connection_rowid > cursor_.connection) {
      connection_events = reader_->connections_after(cursor_.connection, n);
    }
    if (!alerts.empty()) counts = reader_->alert_counts();
    // A sensor's rows are among the other sensors' in a hub's store: count them.
    if (!options_.sensor.empty() && heads.flow_id > cursor_.flow) {
      sensor_new_flows = reader_->flow_count_after(cursor_.flow);
    }
  } catch (const std::exception& error) {
    // A store being replaced or damaged under us: keep serving what we have, retry next poll.
    if (last_error_ != error.what()) spdlog::warn("dashboard: {}", error.what());
    last_error_ = error.what();
    return;
  }
  last_error_.clear();
  if (!traffic.empty()) cursor_.traffic = traffic.back().rowid;
  if (!alerts.empty()) cursor_.alert = alert_changed;
  const std::int64_t new_flows = options_.sensor.empty()
                                     ? heads.flow_id - cursor_.flow
                                     : static_cast<std::int64_t>(sensor_new_flows);
  cursor_.flow = heads.flow_id;
  if (!connection_events.empty()) cursor_.connection = connection_events.back().rowid;

  std::unordered_map<std::int64_t, std::int64_t> alert_by_second;  // second -> alert id
  for (const detect::Alert& a : alerts) {
    alert_by_second[a.time_ns / kNsPerSecond] = a.id;
  }
  // The timeline's points: the highest score per second of the flows scored since the last poll.
  std::map<std::int64_t, float> seconds;  // second -> max score
  for (const store::FlowRow& f : flows) {
    if (f.voters <= 0) continue;
    const auto [it, inserted] = seconds.try_emplace(f.end_ns / kNsPerSecond, f.score);
    if (!inserted) it->second = std::max(it->second, f.score);
  }

  std::lock_guard lock(mutex_);
  if (options_.multi_sensor) {
    add_sensor_traffic_locked(traffic);
    traffic.clear();
  }
  for (const store::TrafficRow& row : traffic) {
    double interval = 1;
    if (row.interface == kTotal) {
      interval = covered_seconds(last_total_ns_, row.ts_ns);
      bytes_sent_total_ += row.bytes_sent * interval;
      bytes_recv_total_ += row.bytes_recv * interval;
      packets_total_ += (row.packets_sent + row.packets_recv) * interval;
      last_total_ns_ = std::max(last_total_ns_, row.ts_ns);
      latest_total_ = traffic_point(row, interval);
    }
    const bool known =
        std::find(interfaces_.begin(), interfaces_.end(), row.interface) != interfaces_.end();
    if (!known && interfaces_.size() >= options_.max_interfaces) continue;
    if (!known) add_interface_locked(row.interface);
    push_event_locked("traffic", json_text(traffic_json(traffic_point(row, interval))));
  }
  for (const detect::Alert& a : alerts) push_event_locked("alert", json_text(alert_json(a)));
  for (const auto& [second, score] : seconds) {
    ScorePoint p;
    p.time_ms = second * 1000;
    p.score = score;
    p.threshold = kNoThreshold;
    if (const auto it = alert_by_second.find(second); it != alert_by_second.end()) {
      p.alert_id = it->second;
    }
    push_event_locked("score", json_text(score_json(p)));
  }
  for (const store::ConnectionRow& row : connection_events) apply_connection_locked(row);

  const double elapsed = std::chrono::duration<double>(now - last_poll_time_).count();
  last_poll_time_ = now;
  flows_per_second_ = elapsed > 0 ? static_cast<double>(new_flows) / elapsed : 0;
  if (options_.sensor.empty()) {
    flows_total_ = std::max(flows_total_, static_cast<std::uint64_t>(heads.flow_id));
  } else {
    flows_total_ += sensor_new_flows;
  }
  if (!alerts.empty()) {
    alerts_total_ = counts.total;
    alerts_unacknowledged_ = counts.unacknowledged;
    std::copy(std::begin(counts.by_severity), std::end(counts.by_severity),
              std::begin(alerts_by_severity_));
  }
  newest_ms_ = std::max(newest_ms_, ns_to_ms(heads.newest_ns));
  if (!traffic.empty() || !alerts.empty() || new_flows > 0) {
    // Like LiveState's once-a-second stats event; it carries the seq it is about to get.
    Stats s = stats_locked();
    s.event_seq = last_seq_ + 1;
    push_event_locked("stats", json_text(stats_json(s)));
  }
}

void StoreSource::add_sensor_traffic_locked(const std::vector<store::TrafficRow>& rows) {
  std::int64_t newest_s = 0;
  for (const store::TrafficRow& row : rows) {
    if (row.interface != kTotal) continue;
    std::int64_t& last = last_total_by_sensor_[row.sensor];
    const double interval = covered_seconds(last, row.ts_ns);
    last = std::max(last, row.ts_ns);
    bytes_sent_total_ += row.bytes_sent * interval;
    bytes_recv_total_ += row.bytes_recv * interval;
    packets_total_ += (row.packets_sent + row.packets_recv) * interval;
    const std::int64_t second = row.ts_ns / kNsPerSecond;
    newest_s = std::max(newest_s, second);
    TrafficPoint& p = unsettled_[second];
    p.time_ms = second * 1000;
    p.interface = std::string(kTotal);
    p.bytes_sent += row.bytes_sent;
    p.bytes_recv += row.bytes_recv;
    p.packets_sent += row.packets_sent;
    p.packets_recv += row.packets_recv;
  }
  if (unsettled_.empty()) return;
  newest_s = std::max(newest_s, unsettled_.rbegin()->first);
  // A second is sent once every sensor had time to report it; later rows of it only count in
  // the totals and the REST series.
  while (!unsettled_.empty() && unsettled_.begin()->first <= newest_s - options_.settle.count()) {
    TrafficPoint p = unsettled_.begin()->second;
    unsettled_.erase(unsettled_.begin());
    latest_total_ = p;
    push_event_locked("traffic", traffic_json(p).dump());
  }
  while (unsettled_.size() > 600) unsettled_.erase(unsettled_.begin());
}

void StoreSource::apply_connection_locked(const store::ConnectionRow& row) {
  if (row.event == "snapshot" && row.ts_ns != snapshot_ts_) {
    // A monitor (re)started: its snapshot replaces the list.
    connections_.clear();
    snapshot_ts_ = row.ts_ns;
  }
  const std::string key = connection_key(row);
  if (row.event == "closed") {
    connections_.erase(key);
  } else if (connections_.size() < options_.connections || connections_.contains(key)) {
    connections_[key] = connection_row(row);
  }
}

void StoreSource::push_event_locked(std::string type, std::string data) {
  events_.push_back(Event{++last_seq_, std::move(type), std::move(data)});
  while (events_.size() > options_.events) events_.pop_front();
}

void StoreSource::add_interface_locked(const std::string& name) {
  if (name == kTotal) {
    interfaces_.insert(interfaces_.begin(), name);
  } else {
    interfaces_.push_back(name);
  }
}

Stats StoreSource::stats() const {
  poll_if_due();
  std::lock_guard lock(mutex_);
  return stats_locked();
}

Stats StoreSource::stats_locked() const {
  Stats s;
  s.time_ms = newest_ms_;
  s.bytes_sent_total = bytes_sent_total_;
  s.bytes_recv_total = bytes_recv_total_;
  s.bytes_sent_per_second = latest_total_.bytes_sent;
  s.bytes_recv_per_second = latest_total_.bytes_recv;
  s.pipeline.packets_total = static_cast<std::uint64_t>(std::llround(packets_total_));
  s.pipeline.flows_total = flows_total_;
  s.pipeline.flows_per_second = flows_per_second_;
  // The host's packet rate is the closest the store has to the capture's.
  s.pipeline.health.packets_per_second = latest_total_.packets_sent + latest_total_.packets_recv;
  s.alerts_total = alerts_total_;
  std::copy(std::begin(alerts_by_severity_), std::end(alerts_by_severity_),
            std::begin(s.alerts_by_severity));
  s.alerts_unacknowledged = alerts_unacknowledged_;
  s.interfaces = interfaces_;
  s.event_seq = last_seq_;
  return s;
}

std::vector<TrafficPoint> StoreSource::traffic(std::int64_t since_ms, std::string_view interface,
                                               std::size_t max_points) const {
  std::vector<TrafficPoint> out;
  if (max_points == 0) return out;
  const std::int64_t since_ns = ms_to_ns(since_ms);
  const store::TrafficSpan span = reader_->traffic_span(interface, since_ns);
  if (span.rows == 0) return out;
  // Full resolution when it fits; else averages over buckets of whole seconds that cover the
  // whole range in at most max_points (as LiveState's minute averages do for its older data).
  std::int64_t bucket_s = 0;
  if (span.rows > max_points) {
    const double seconds = static_cast<double>(span.last_ns - span.first_ns) / 1e9;
    bucket_s = std::max<std::int64_t>(
        1, static_cast<std::int64_t>(
               std::ceil(seconds / static_cast<double>(std::max<std::size_t>(max_points - 1, 1)))));
  }
  const auto rows = reader_->traffic_averages(
      interface, since_ns, bucket_s == 0 ? 1 : bucket_s * kNsPerSecond, max_points);
  out.reserve(rows.size());
  for (const store::TrafficRow& row : rows) {
    out.push_back(traffic_point(row, bucket_s == 0 ? 1.0 : static_cast<double>(bucket_s)));
  }
  return out;
}

std::vector<detect::Alert> StoreSource::alerts(std::int64_t since_id,
                                               std::optional<detect::Severity> min_severity,
                                               std::size_t limit) const {
  return reader_->alerts_after(since_id, min_severity.value_or(detect::Severity::kLow), limit,
                               true);
}

std::vector<detect::HostRisk> StoreSource::hosts(std::size_t limit) const {
  store::AlertQuery query;
  query.limit = 1000;
  std::vector<detect::Alert> alerts;
  try {
    alerts = reader_->alerts(query);  // newest first
  } catch (const std::exception&) {
    return {};
  }
  std::vector<detect::HostRisk> out;
  std::vector<bool> engaged;
  for (const detect::Alert& a : alerts) {
    const bool same = std::any_of(out.begin(), out.end(), [&](const detect::HostRisk& h) {
      return h.host == a.host && h.interface == (a.host.family == 0 ? a.interface : "");
    });
    if (same) continue;
    detect::HostRisk h;
    h.host = a.host;
    if (a.host.family == 0) h.interface = a.interface;
    h.score = a.score;
    h.last_ns = a.last_ns;
    h.severity = a.severity;
    h.alert_id = a.state == detect::AlertState::kEngaged ? a.id : 0;
    h.past_alert_id = a.state == detect::AlertState::kPast ? a.id : 0;
    h.evidence = a.evidence;
    out.push_back(std::move(h));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const detect::HostRisk& a, const detect::HostRisk& b) {
                     if ((a.alert_id != 0) != (b.alert_id != 0)) return a.alert_id != 0;
                     return a.score > b.score;
                   });
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::optional<detect::Alert> StoreSource::alert(std::int64_t id) const {
  return reader_->alert(id);
}

std::optional<std::string> StoreSource::alert_packets(std::int64_t id) const {
  if (options_.evidence_dir.empty()) return std::nullopt;
  return store::read_evidence_file(options_.evidence_dir / store::EvidenceStore::file_name(id),
                                   store::kMaxEvidenceFileBytes);
}

bool StoreSource::acknowledge(std::int64_t id) {
  if (!store::acknowledge_alert(path_, id, options_.busy_timeout)) return false;
  const store::AlertCounts counts = reader_->alert_counts();
  std::lock_guard lock(mutex_);
  alerts_unacknowledged_ = counts.unacknowledged;
  push_event_locked("ack", json_text(nlohmann::json{{"id", id}}));
  return true;
}

std::vector<FlowRow> StoreSource::flows(std::size_t limit, FlowSort sort) const {
  const auto rows =
      reader_->recent_flows(std::max(limit, options_.recent_flows), store::FlowOrder::kNewest);
  std::vector<FlowRow> out;
  out.reserve(rows.size());
  for (const store::FlowRow& row : rows) out.push_back(flow_row(row));
  // The same order as LiveState::flows, over the same kind of window (the newest flows).
  sort_flows(out, limit, sort);
  return out;
}

std::vector<FlowRow> StoreSource::find_flows(const RowFilter& filter, std::size_t limit,
                                             FlowSort sort) const {
  // The newest matching flows; another order sorts the newest recent_flows of them, as flows()
  // does, so a busy host's heaviest flows of the range are those of its latest traffic.
  const std::size_t n = sort == FlowSort::kLast ? limit : std::max(limit, options_.recent_flows);
  const auto rows =
      reader_->flows_between(filter.host, ms_to_ns(filter.from_ms), ms_to_ns(filter.to_ms), n);
  std::vector<FlowRow> out;
  out.reserve(rows.size());
  for (const store::FlowRow& row : rows) out.push_back(flow_row(row));
  sort_flows(out, limit, sort);
  return out;
}

std::vector<detect::Alert> StoreSource::find_alerts(const RowFilter& filter,
                                                    std::optional<detect::Severity> min_severity,
                                                    std::size_t limit) const {
  store::AlertQuery query;
  query.since_ns = ms_to_ns(filter.from_ms);
  query.until_ns = ms_to_ns(filter.to_ms);
  query.host = filter.host;
  query.min_severity = min_severity.value_or(detect::Severity::kLow);
  query.limit = limit;
  return reader_->alerts(query);
}

std::vector<ConnectionRow> StoreSource::connections(std::size_t limit) const {
  poll_if_due();
  std::vector<ConnectionRow> out;
  std::lock_guard lock(mutex_);
  out.reserve(std::min(limit, connections_.size()));
  for (const auto& [key, row] : connections_) {
    if (out.size() >= limit) break;
    out.push_back(row);
  }
  return out;
}

ModelsInfo StoreSource::models() const { return {}; }

std::vector<ScorePoint> StoreSource::timeline(std::int64_t since_ms, std::size_t max_points) const {
  std::vector<ScorePoint> out;
  if (max_points == 0) return out;
  const auto buckets = reader_->max_scores(ms_to_ns(since_ms), kNsPerSecond, max_points);
  if (buckets.empty()) return out;
  // Alert markers: an alert raised within a point's second.
  store::AlertQuery query;
  query.since_ns = buckets.front().start_ns;
  query.newest_first = false;
  std::unordered_map<std::int64_t, std::int64_t> alert_by_second;
  for (const detect::Alert& a : reader_->alerts(query)) {
    alert_by_second[a.time_ns / kNsPerSecond] = a.id;
  }
  out.reserve(buckets.size());
  for (const store::ScoreBucket& b : buckets) {
    ScorePoint p;
    p.time_ms = ns_to_ms(b.start_ns);
    p.score = b.max_score;
    p.threshold = kNoThreshold;
    if (const auto it = alert_by_second.find(b.start_ns / kNsPerSecond);
        it != alert_by_second.end()) {
      p.alert_id = it->second;
    }
    out.push_back(p);
  }
  return out;
}

TopLists StoreSource::top(std::size_t limit) const {
  std::int64_t newest_ns = 0;
  {
    std::lock_guard lock(mutex_);
    newest_ns = ms_to_ns(newest_ms_);
  }
  const std::int64_t since_ns =
      newest_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(options_.top_window).count();
  const auto convert = [](const std::vector<store::TopCount>& counts) {
    std::vector<TopEntry> entries;
    entries.reserve(counts.size());
    for (const store::TopCount& c : counts) entries.push_back({c.key, c.bytes, c.packets, c.flows});
    return entries;
  };
  TopLists lists;
  // Its own connection: the window's first count takes a while, and the other panels' queries
  // should not wait behind it.
  const store::StoreReader::TopAll all = top_window_->lists(since_ns, limit);
  lists.talkers = convert(all.sources);
  lists.ports = convert(all.ports);
  lists.protocols = convert(all.protocols);
  return lists;
}

EventBatch StoreSource::events_since(std::uint64_t after_seq, std::size_t max_events) const {
  poll_if_due();
  std::lock_guard lock(mutex_);
  return events_after(events_, last_seq_, after_seq, max_events);
}

}  // namespace netsentry::server
