#include "detect/beacon_detector.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "detect/alert.h"
#include "detect/alert_format.h"

namespace netsentry::detect {

namespace {

constexpr std::size_t kRecent = 3;

double median_of(std::vector<double>& v) {
  const std::size_t n = v.size();
  std::nth_element(v.begin(), v.begin() + n / 2, v.end());
  const double upper = v[n / 2];
  if (n % 2 == 1) return upper;
  return (*std::max_element(v.begin(), v.begin() + n / 2) + upper) / 2;
}

}  // namespace

IntervalStats interval_stats(std::span<const std::int64_t> times_ns) {
  IntervalStats out;
  if (times_ns.size() < 3) return out;
  std::vector<double> gaps;
  gaps.reserve(times_ns.size() - 1);
  for (std::size_t i = 1; i < times_ns.size(); ++i) {
    gaps.push_back(double(times_ns[i] - times_ns[i - 1]) / 1e9);
  }
  std::vector<double> work = gaps;
  out.median_s = median_of(work);
  const auto [shortest, longest] = std::minmax_element(gaps.begin(), gaps.end());
  out.spread = *shortest > 0 ? *longest / *shortest : 1e9;
  for (double& g : gaps) g = std::abs(g - out.median_s);
  const double mad = median_of(gaps);
  out.dispersion = out.median_s > 0 ? mad / out.median_s : 1.0;
  return out;
}

BeaconDetector::BeaconDetector(const HostDetectorOptions& options)
    : options_(options),
      ignored_(65'536, false),
      table_(options.beacon_window_ns, options.max_tracked),
      users_(options.beacon_window_ns, options.max_tracked),
      admit_(std::max<std::size_t>(1'024, options.max_tracked / 4), options.beacon_window_ns) {
  validate(options_);
  for (const std::uint16_t p : options_.beacon_ignored_ports) ignored_[p] = true;
}

std::size_t BeaconDetector::users(const flow::FlowEvent& ev) {
  auto& e = users_.touch({{}, ev.dst, ev.dst_port, ev.ip_proto}, ev.ts_ns, [](const auto&) {});
  Users& u = e.state;
  const std::uint64_t h = hash_address(ev.src, 0x51ed270bULL) | 1;
  const auto end =
      u.sources.begin() + static_cast<std::ptrdiff_t>(std::min(u.distinct, u.sources.size()));
  if (std::find(u.sources.begin(), end, h) == end) {
    if (u.distinct < u.sources.size()) u.sources[u.distinct] = h;
    ++u.distinct;  // past four it only counts (the first four stay known)
  }
  return u.distinct;
}

Evidence BeaconDetector::make(const Table::Entry& e) const {
  const State& s = e.state;
  const double t = double(options_.beacon_connections);
  Evidence ev =
      rule_evidence(kind::kBeacon, name(), e.key, s, 1, rule_confidence(double(s.count), t, 4));
  ev.host = e.key.src;
  ev.role = Role::kAttacker;
  ev.peer = e.key.dst;
  ev.count = s.count;
  ev.score = static_cast<float>(double(s.count) / t);
  ev.flows = s.recent;
  ev.hold_ns = static_cast<std::int64_t>(2 * s.regularity.median_s * 1e9);
  ev.description = fmt::format(
      "Beaconing suspected: {} connected to {}{} {} times, every {} (±{}); few hosts use that "
      "server",
      e.key.src.to_string(), format_endpoint(e.key.dst, e.key.port),
      e.key.proto == kUdp ? " (UDP)" : "", format_count(s.count),
      format_duration(s.regularity.median_s),
      format_duration(s.regularity.dispersion * s.regularity.median_s));
  ev.deviations.push_back({"interval_dispersion", s.regularity.dispersion,
                           options_.beacon_max_dispersion,
                           s.regularity.dispersion / options_.beacon_max_dispersion});
  ev.deviations.push_back({"connections", double(s.count), t, ev.score});
  return ev;
}

void BeaconDetector::on_flow_event(const flow::FlowEvent& ev, std::vector<Evidence>& out) {
  const auto& o = options_;
  if (o.beacon_connections == 0 || ev.moment != flow::FlowMoment::kStart) return;
  if (ev.ip_proto == kTcp) {
    if ((ev.tcp_flags & 0x12) != 0x02) return;  // a SYN without ACK opens a connection
  } else if (ev.ip_proto != kUdp) {
    return;
  }
  if (ignored_[ev.dst_port]) return;
  const std::size_t hosts = users(ev);
  const SubjectKey key{ev.src, ev.dst, ev.dst_port, ev.ip_proto};
  Table::Entry* e = table_.find(key);
  if (!e) {
    // A subject costs a table entry from its second connection in the window.
    const auto first = admit_.admit(key, ev.ts_ns, First{ev.ts_ns});
    if (!first) return;
    e = &table_.touch(key, first->start_ns, [](const auto&) {});
    e->state.starts[0] = first->start_ns;
    e->state.count = 1;
    e->state.see(first->start_ns, first->start_ns);
  } else {
    e = &table_.touch(key, ev.ts_ns, [](const auto&) {});
    if (e->state.count == 0) {  // a new window
      e->state.starts[0] = ev.ts_ns;
      e->state.count = 1;
      e->state.see(ev.ts_ns, ev.ts_ns);
      return;
    }
  }
  State& s = e->state;
  const std::size_t held = std::min(s.count, kStarts);
  const std::int64_t last = s.starts[held - 1];
  FlowRef ref;
  ref.start_ns = ev.start_ns;
  ref.src = ev.src;
  ref.dst = ev.dst;
  ref.src_port = ev.src_port;
  ref.dst_port = ev.dst_port;
  ref.ip_proto = ev.ip_proto;
  if (s.recent.size() >= kRecent) s.recent.erase(s.recent.begin());
  s.recent.push_back(ref);
  if (double(ev.ts_ns - last) / 1e9 < o.beacon_min_interval_s) return;  // the same burst
  if (held == kStarts) {
    std::rotate(s.starts.begin(), s.starts.begin() + 1, s.starts.end());
    s.starts[kStarts - 1] = ev.ts_ns;
  } else {
    s.starts[held] = ev.ts_ns;
  }
  ++s.count;
  s.see(ev.ts_ns, ev.ts_ns);
  if (s.count < o.beacon_connections) return;
  s.regularity = interval_stats({s.starts.data(), std::min(s.count, kStarts)});
  const bool regular = s.regularity.median_s >= o.beacon_min_interval_s &&
                       s.regularity.median_s <= o.beacon_max_interval_s &&
                       s.regularity.dispersion <= o.beacon_max_dispersion &&
                       s.regularity.spread <= o.beacon_max_spread;
  // A server port many hosts use on schedule is an ordinary polled service.
  if (!regular || hosts > o.beacon_rare_sources || s.bulk > 0) return;
  // Evidence when the pattern first holds and at every further callback on schedule: each one
  // replaces the last (one subject), and expects the next within two intervals, so the alert stays
  // one engaged alert while the schedule goes on, however long its interval.
  s.level = 1;
  s.reported = s.count;
  out.push_back(make(*e));
  ++evidence_;
}

void BeaconDetector::see_size(const flow::FlowRecord& r) {
  if (r.byte_count <= options_.beacon_max_bytes) return;
  if (Table::Entry* e = table_.find({r.src_ip, r.dst_ip, r.dst_port, r.ip_proto})) {
    const FlowRef ref = FlowRef::of(r);
    // Once per connection: progress reports and the final record of one flow count once.
    if (e->state.last_bulk_ns != ref.start_ns) {
      e->state.last_bulk_ns = ref.start_ns;
      ++e->state.bulk;
    }
  }
}

void BeaconDetector::on_flow_progress(const flow::FlowRecord& record,
                                      std::vector<Evidence>& /*out*/) {
  see_size(record);
}

void BeaconDetector::on_flow_finished(const flow::FlowRecord& record,
                                      std::vector<Evidence>& /*out*/) {
  see_size(record);
}

void BeaconDetector::advance(std::int64_t now_ns, std::vector<Evidence>& /*out*/) {
  table_.expire(now_ns, [](const auto&) {});
  users_.expire(now_ns, [](const auto&) {});
}

void BeaconDetector::flush(std::vector<Evidence>& /*out*/) {
  table_.close_all([](const auto&) {});
  users_.close_all([](const auto&) {});
}

DetectorStats BeaconDetector::stats() const {
  return {evidence_, table_.evictions() + users_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
