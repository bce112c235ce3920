#include "detect/tcp_flood_detector.h"

#include <fmt/format.h>

#include "detect/alert.h"
#include "detect/alert_format.h"

namespace netsentry::detect {

TcpFloodDetector::TcpFloodDetector(const HostDetectorOptions& options)
    : options_(options), table_(options.window_ns, options.max_tracked) {
  validate(options_);
}

auto TcpFloodDetector::closer(std::vector<Evidence>& out) {
  return [this, &out](const Table::Entry& e) {
    if (e.state.grew(e.state.packets)) {
      push_with_culprit(out, make(e, e.state.level));
      ++evidence_;
    }
  };
}

Evidence TcpFloodDetector::make(const Table::Entry& e, int level) const {
  const State& s = e.state;
  const double per_second = rate(s);
  const double threshold = options_.tcp_flood_packets_per_second;
  Evidence ev = rule_evidence(kind::kTcpFlood, name(), e.key, s, level,
                              rule_confidence(per_second, threshold, options_.critical_factor));
  ev.host = e.key.dst;  // the victim
  ev.role = Role::kVictim;
  const bool many = many_sources(s);
  if (!many) ev.peer = s.source;
  ev.ip_proto = kTcp;
  ev.count = s.packets;
  ev.score = static_cast<float>(per_second / threshold);
  ev.description = fmt::format(
      "TCP flood suspected: {} packets/s to {} outside any connection (ACK, RST, SYN-ACK or data "
      "without a handshake) from {} ({} over {}; {} resets and replies)",
      format_number(per_second), e.key.dst.to_string(),
      many ? std::string("many sources") : s.source.to_string(), format_count(s.packets),
      format_duration(s.elapsed_seconds()), format_count(s.replies));
  ev.deviations.push_back({"stray_packets_per_second", per_second, threshold, ev.score});
  ev.deviations.push_back({"stray_packets", double(s.packets), 0, 0});
  return ev;
}

void TcpFloodDetector::on_flood_summary(const flow::FloodSummary& f, std::vector<Evidence>& out) {
  if (f.ip_proto != kTcp || !f.strays || options_.tcp_flood_packets_per_second <= 0) return;
  if (f.attempts == 0 && f.replies + f.resets == 0) return;
  auto& e = table_.touch({{}, f.dst, 0, kTcp}, f.last_ns, closer(out));
  State& s = e.state;
  s.replies += f.replies + f.resets;
  if (f.attempts == 0) return;
  s.see(f.first_ns, f.last_ns);
  s.packets += f.attempts;
  if (f.many_sources()) {
    s.spread = true;
  } else {
    flow::majority_vote(s.source, s.source_lead, f.source, f.attempts);
  }
  const int level =
      level_for(rate(s), options_.tcp_flood_packets_per_second, options_.critical_factor);
  if (level > s.level) {
    s.level = level;
    s.reported = s.packets;
    push_with_culprit(out, make(e, level));
    ++evidence_;
  }
}

void TcpFloodDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  table_.expire(now_ns, closer(out));
}

void TcpFloodDetector::flush(std::vector<Evidence>& out) { table_.close_all(closer(out)); }

DetectorStats TcpFloodDetector::stats() const {
  return {evidence_, table_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
