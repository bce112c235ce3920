#include "detect/brute_force_detector.h"

#include <fmt/format.h>

#include "detect/alert.h"
#include "detect/alert_format.h"

namespace netsentry::detect {

namespace {
constexpr std::size_t kRecent = 3;
}  // namespace

void BruteForceDetector::ReplySizes::add(std::uint64_t reply) {
  for (std::size_t i = 0; i < used; ++i) {
    if (slots[i].first == reply) {
      ++slots[i].second;
      return;
    }
  }
  if (used < kSlots) {
    slots[used++] = {reply, 1};
    return;
  }
  // Full: every counter loses one and the new size is dropped (Misra-Gries).
  std::size_t kept = 0;
  for (std::size_t i = 0; i < used; ++i) {
    if (--slots[i].second > 0) slots[kept++] = slots[i];
  }
  used = kept;
}

bool BruteForceDetector::ReplySizes::holds(double ratio, std::uint64_t votes) const {
  std::uint64_t first = 0;
  std::uint64_t second = 0;
  for (std::size_t i = 0; i < used; ++i) {
    const std::uint64_t c = slots[i].second;
    if (c > first) {
      second = first;
      first = c;
    } else if (c > second) {
      second = c;
    }
  }
  return votes > 0 && double(first + second) >= ratio * double(votes);
}

BruteForceDetector::BruteForceDetector(const HostDetectorOptions& options)
    : options_(options), port_class_(65'536, 0), table_(options.window_ns, options.max_tracked) {
  validate(options_);
  for (const std::uint16_t p : options_.brute_force_web_ports) port_class_[p] = kPortWeb;
  for (const std::uint16_t p : options_.brute_force_ports) port_class_[p] = kPortLogin;
}

std::size_t BruteForceDetector::threshold(std::uint16_t port) const {
  return port_class_[port] == kPortWeb ? options_.brute_force_web_sessions
                                       : options_.brute_force_sessions;
}

// A web login attack below the web threshold: a fast run of short sessions that mostly got one
// of two replies (the login form, the failure page). Browsers and API clients fetch pages of varied
// sizes, or reuse connections.
bool BruteForceDetector::web_burst(const State& s) const {
  const auto& o = options_;
  if (o.brute_force_web_burst_sessions == 0 || s.sessions < o.brute_force_web_burst_sessions) {
    return false;
  }
  const double rate = double(s.sessions) / std::max(s.elapsed_seconds(), 1.0);
  return rate >= o.brute_force_web_burst_per_second &&
         s.replies.holds(o.brute_force_same_reply_ratio, s.sessions);
}

auto BruteForceDetector::closer(std::vector<Evidence>& out) {
  return [this, &out](const Table::Entry& e) {
    if (e.state.grew(e.state.measure())) {
      out.push_back(make(e, e.state.level));
      ++evidence_;
    }
  };
}

Evidence BruteForceDetector::make(const Table::Entry& e, int level) const {
  const State& s = e.state;
  const double t = double(threshold(e.key.port));
  const std::uint64_t measure = s.measure();
  Evidence ev = rule_evidence(kind::kBruteForce, name(), e.key, s, level,
                              rule_confidence(double(measure), t, options_.critical_factor));
  ev.host = e.key.src;
  ev.role = Role::kAttacker;
  ev.peer = e.key.dst;
  ev.count = measure;
  ev.score = static_cast<float>(double(measure) / t);
  ev.flows = s.recent;
  const bool failures = s.failures > s.sessions;
  ev.description = fmt::format("Brute force suspected: {} {} from {} to {}{} in {}",
                               format_count(measure), failures ? "failed logins" : "short sessions",
                               e.key.src.to_string(), format_endpoint(e.key.dst, e.key.port),
                               service_suffix(e.key.port), format_duration(s.elapsed_seconds()));
  ev.deviations.push_back({"short_sessions", double(s.sessions), t, double(s.sessions) / t});
  if (s.failures > 0) {
    ev.deviations.push_back({"failed_logins", double(s.failures), t, double(s.failures) / t});
  }
  return ev;
}

void BruteForceDetector::on_flow_finished(const flow::FlowRecord& r, std::vector<Evidence>& out) {
  if (r.ip_proto != kTcp) return;
  const std::uint8_t port_class = port_class_[r.dst_port];
  if (port_class == 0) return;
  const std::size_t t = threshold(r.dst_port);
  const auto& o = options_;
  const bool short_session = r.packet_count <= o.brute_force_max_packets &&
                             r.byte_count <= o.brute_force_max_bytes &&
                             r.duration_s <= o.brute_force_max_seconds;
  if (t == 0 || !short_session || payload_bytes(r) == 0 || !tcp_handshake(r).completed) return;
  auto& e = table_.touch({r.src_ip, r.dst_ip, r.dst_port, kTcp}, std::max(r.end_ns, r.start_ns),
                         closer(out));
  State& s = e.state;
  s.see(r);
  ++s.sessions;
  s.replies.add(static_cast<std::uint64_t>(r[flow::CicFeature::kTotalLengthBwd]));
  if (s.recent.size() >= kRecent) s.recent.erase(s.recent.begin());
  s.recent.push_back(FlowRef::of(r));
  judge(e, port_class, out);
}

void BruteForceDetector::judge(Table::Entry& e, std::uint8_t port_class,
                               std::vector<Evidence>& out) {
  State& s = e.state;
  const std::size_t t = threshold(e.key.port);
  int level = level_for(double(s.measure()), double(t), options_.critical_factor);
  if (level == 0 && port_class == kPortWeb && web_burst(s)) level = 1;
  if (level > s.level) {
    s.level = level;
    s.reported = s.measure();
    out.push_back(make(e, level));
    ++evidence_;
  }
}

void BruteForceDetector::on_sighting(const net::Sighting& sighting, std::vector<Evidence>& out) {
  if (sighting.kind != net::SightingKind::kLoginFailure) return;
  const std::uint8_t port_class = port_class_[sighting.dst_port];
  if (port_class != kPortLogin || threshold(sighting.dst_port) == 0) return;
  auto& e = table_.touch({sighting.ip, sighting.peer, sighting.dst_port, kTcp}, sighting.ts_ns,
                         closer(out));
  e.state.see(sighting.ts_ns, sighting.ts_ns);
  ++e.state.failures;
  judge(e, port_class, out);
}

void BruteForceDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  table_.expire(now_ns, closer(out));
}

void BruteForceDetector::flush(std::vector<Evidence>& out) { table_.close_all(closer(out)); }

DetectorStats BruteForceDetector::stats() const {
  return {evidence_, table_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
