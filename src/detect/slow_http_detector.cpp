#include "detect/slow_http_detector.h"

#include <fmt/format.h>

#include <algorithm>

#include "detect/alert.h"
#include "detect/alert_format.h"

namespace netsentry::detect {

namespace {
constexpr std::size_t kRecent = 3;
}  // namespace

SlowHttpDetector::SlowHttpDetector(const HostDetectorOptions& options)
    : options_(options), table_(options.window_ns, options.max_tracked) {
  validate(options_);
}

auto SlowHttpDetector::closer(std::vector<Evidence>& out) {
  return [this, &out](const Table::Entry& e) {
    if (e.state.grew(e.state.connections)) {
      out.push_back(make(e, e.state.level));
      ++evidence_;
    }
  };
}

Evidence SlowHttpDetector::make(const Table::Entry& e, int level) const {
  const State& s = e.state;
  const double t = double(options_.slow_http_connections);
  Evidence ev = rule_evidence(kind::kSlowHttp, name(), e.key, s, level,
                              rule_confidence(double(s.connections), t, options_.critical_factor));
  ev.host = e.key.src;
  ev.role = Role::kAttacker;
  ev.peer = e.key.dst;
  ev.count = s.connections;
  ev.score = static_cast<float>(double(s.connections) / t);
  ev.flows = s.recent;
  ev.description = fmt::format(
      "Slow HTTP attack suspected (slowloris): {} connections from {} to {} held open while "
      "sending under {} bytes each (open {} or more, or {} with the request unanswered)",
      format_count(s.connections), e.key.src.to_string(), format_endpoint(e.key.dst, e.key.port),
      format_count(options_.slow_http_max_bytes), format_duration(options_.slow_http_min_seconds),
      format_duration(options_.slow_http_early_seconds));
  ev.deviations.push_back({"slow_connections", double(s.connections), t, ev.score});
  return ev;
}

void SlowHttpDetector::observe(const flow::FlowRecord& r, std::vector<Evidence>& out) {
  const auto& o = options_;
  if (r.ip_proto != kTcp || o.slow_http_connections == 0 ||
      std::find(o.slow_http_ports.begin(), o.slow_http_ports.end(), r.dst_port) ==
          o.slow_http_ports.end()) {
    return;
  }
  const double sent = r[flow::CicFeature::kTotalLengthFwd];
  if (sent > static_cast<double>(o.slow_http_max_bytes) || !tcp_handshake(r).completed) return;
  const bool held = r.duration_s >= o.slow_http_min_seconds;
  const bool unfinished =
      o.slow_http_early_seconds > 0 && r.duration_s >= o.slow_http_early_seconds && sent > 0 &&
      r[flow::CicFeature::kTotalLengthBwd] <= 0 && r[flow::CicFeature::kFinFlagCount] <= 0;
  if (!held && !unfinished) return;
  auto& e = table_.touch({r.src_ip, r.dst_ip, r.dst_port, kTcp}, std::max(r.end_ns, r.start_ns),
                         closer(out));
  State& s = e.state;
  s.see(r);
  const auto cap =
      static_cast<std::size_t>(o.critical_factor * double(o.slow_http_connections)) + 1;
  if (std::find(s.ports.begin(), s.ports.end(), r.src_port) != s.ports.end()) return;
  ++s.connections;
  if (s.ports.size() < cap) s.ports.push_back(r.src_port);
  if (s.recent.size() >= kRecent) s.recent.erase(s.recent.begin());
  s.recent.push_back(FlowRef::of(r));
  const int level =
      level_for(double(s.connections), double(o.slow_http_connections), o.critical_factor);
  if (level > s.level) {
    s.level = level;
    s.reported = s.connections;
    out.push_back(make(e, level));
    ++evidence_;
  }
}

void SlowHttpDetector::on_flow_progress(const flow::FlowRecord& r, std::vector<Evidence>& out) {
  observe(r, out);
}

void SlowHttpDetector::on_flow_finished(const flow::FlowRecord& r, std::vector<Evidence>& out) {
  observe(r, out);
}

void SlowHttpDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  table_.expire(now_ns, closer(out));
}

void SlowHttpDetector::flush(std::vector<Evidence>& out) { table_.close_all(closer(out)); }

DetectorStats SlowHttpDetector::stats() const {
  return {evidence_, table_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
