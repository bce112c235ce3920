#include "detect/exfiltration_detector.h"

#include <fmt/format.h>

#include <algorithm>

#include "detect/alert.h"
#include "detect/alert_format.h"

namespace netsentry::detect {

namespace {
constexpr std::size_t kRecent = 3;
}  // namespace

ExfiltrationDetector::ExfiltrationDetector(const HostDetectorOptions& options)
    : options_(options), table_(options.window_ns, options.max_tracked) {
  validate(options_);
}

auto ExfiltrationDetector::closer(std::vector<Evidence>& out) {
  return [this, &out](const Table::Entry& e) {
    if (e.state.grew(e.state.bytes)) {
      out.push_back(make(e));
      ++evidence_;
    }
  };
}

Evidence ExfiltrationDetector::make(const Table::Entry& e) const {
  const State& s = e.state;
  // Surer the longer it goes on: 0.8 at the minimum duration, 1 at eight times it.
  const double confidence = rule_confidence(std::max(s.seconds, options_.exfil_min_seconds),
                                            options_.exfil_min_seconds, 8);
  Evidence ev = rule_evidence(kind::kExfiltration, name(), e.key, s, 1, confidence);
  ev.host = e.key.src;
  ev.role = Role::kAttacker;
  ev.peer = e.key.dst;
  ev.count = s.connections;
  const double rate = s.seconds > 0 ? double(s.bytes) / s.seconds : 0.0;
  ev.score = static_cast<float>(s.seconds / options_.exfil_min_seconds);
  ev.flows = s.recent;
  ev.description = fmt::format(
      "Exfiltration suspected: {} sent {} bytes to {} in {} ({} B/s) and got no data back",
      e.key.src.to_string(), format_count(s.bytes), format_endpoint(e.key.dst, e.key.port),
      format_duration(s.seconds), format_number(rate));
  ev.deviations.push_back({"one_way_seconds", s.seconds, options_.exfil_min_seconds, ev.score});
  ev.deviations.push_back({"bytes_sent", double(s.bytes), double(options_.exfil_min_bytes), 0});
  return ev;
}

void ExfiltrationDetector::observe(const flow::FlowRecord& r, std::vector<Evidence>& out) {
  const auto& o = options_;
  if (r.ip_proto != kTcp || r.duration_s < o.exfil_min_seconds) return;
  using flow::CicFeature;
  const double fwd = r[CicFeature::kTotalLengthFwd];
  const double bwd = r[CicFeature::kTotalLengthBwd];
  // The sending side: the one with payload, the other silent.
  const bool forward = fwd > 0 && bwd <= 0;
  const bool backward = bwd > 0 && fwd <= 0;
  if (!forward && !backward) return;
  const double sent = forward ? fwd : bwd;
  const double packets = forward ? r[CicFeature::kFwdActDataPkts] : r[CicFeature::kTotalBwdPackets];
  const std::uint16_t port = forward ? r.dst_port : r.src_port;
  if (sent < double(o.exfil_min_bytes) || packets < double(o.exfil_min_packets) ||
      sent / r.duration_s > o.exfil_max_bytes_per_second ||
      std::find(o.exfil_ignored_ports.begin(), o.exfil_ignored_ports.end(), port) !=
          o.exfil_ignored_ports.end()) {
    return;
  }
  const net::IpAddress& sender = forward ? r.src_ip : r.dst_ip;
  const net::IpAddress& receiver = forward ? r.dst_ip : r.src_ip;
  auto& e =
      table_.touch({sender, receiver, port, kTcp}, std::max(r.end_ns, r.start_ns), closer(out));
  State& s = e.state;
  s.see(r);
  const auto bytes = static_cast<std::uint64_t>(sent);
  const FlowRef ref = FlowRef::of(r);
  if (s.recent.empty() || !(s.recent.back() == ref)) {
    ++s.connections;
    if (s.recent.size() >= kRecent) s.recent.erase(s.recent.begin());
    s.recent.push_back(ref);
  }
  if (bytes > s.bytes) {
    s.bytes = bytes;
    s.seconds = r.duration_s;
  }
  if (s.level == 0) {
    s.level = 1;
    s.reported = s.bytes;
    out.push_back(make(e));
    ++evidence_;
  }
}

void ExfiltrationDetector::on_flow_progress(const flow::FlowRecord& r, std::vector<Evidence>& out) {
  observe(r, out);
}

void ExfiltrationDetector::on_flow_finished(const flow::FlowRecord& r, std::vector<Evidence>& out) {
  observe(r, out);
}

void ExfiltrationDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  table_.expire(now_ns, closer(out));
}

void ExfiltrationDetector::flush(std::vector<Evidence>& out) { table_.close_all(closer(out)); }

DetectorStats ExfiltrationDetector::stats() const {
  return {evidence_, table_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
