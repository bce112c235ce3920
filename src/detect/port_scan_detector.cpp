#include "detect/port_scan_detector.h"

#include <fmt/format.h>

#include "detect/alert.h"
#include "detect/alert_format.h"

namespace netsentry::detect {

namespace {
constexpr std::size_t kRecent = 3;

void remember(std::vector<FlowRef>& recent, const Attempt& p) {
  if (recent.size() >= kRecent) recent.erase(recent.begin());
  recent.push_back({p.start_ns, p.src, p.dst, p.src_port, p.dst_port, p.ip_proto});
}
}  // namespace

PortScanDetector::PortScanDetector(const HostDetectorOptions& options)
    : options_(options),
      table_(options.window_ns, options.max_tracked),
      waiting_(16'384, options.window_ns) {
  validate(options_);
  budget_.limit = options_.max_sketches;
}

auto PortScanDetector::closer(std::vector<Evidence>& out) {
  return [this, &out](const Table::Entry& e) {
    if (e.state.grew(e.state.distinct.count(true))) {
      out.push_back(make(e, e.state.level));
      ++evidence_;
    }
  };
}

Evidence PortScanDetector::make(const Table::Entry& e, int level) const {
  const State& s = e.state;
  const std::uint64_t ports = s.distinct.count(true);
  const double threshold = double(options_.port_scan_ports);
  Evidence ev = rule_evidence(kind::kPortScan, name(), e.key, s, level,
                              rule_confidence(double(ports), threshold, options_.critical_factor));
  ev.host = e.key.src;
  ev.role = Role::kAttacker;
  ev.peer = e.key.dst;
  ev.count = s.probes;
  ev.score = static_cast<float>(double(ports) / threshold);
  ev.flows = s.recent;
  ev.description =
      fmt::format("Port scan suspected: {}{} ports on {} probed from {} in {} ({})",
                  s.distinct.saturated() ? "at least " : "", format_count(ports),
                  e.key.dst.to_string(), e.key.src.to_string(),
                  format_duration(s.elapsed_seconds()), flow::protocol_name(e.key.proto));
  ev.deviations.push_back({"distinct_ports", double(ports), threshold, ev.score});
  ev.deviations.push_back({"probes", double(s.probes), 0, 0});
  return ev;
}

void PortScanDetector::on_attempt(const Attempt& p, std::vector<Evidence>& out) {
  if (!p.probe()) return;
  if (options_.port_scan_ports == 0 || (p.ip_proto != kTcp && p.ip_proto != kUdp)) return;
  const SubjectKey key{p.src, p.dst, 0, p.ip_proto};
  Table::Entry* e = table_.find(key);
  if (e == nullptr) {
    // A subject's first probe waits outside the table: one probe is no scan.
    const std::optional<FirstProbe> first =
        waiting_.admit(key, p.time_ns, {p.start_ns, p.time_ns, p.src_port, p.dst_port});
    if (!first) return;
    Attempt earlier = p;
    earlier.start_ns = first->start_ns;
    earlier.time_ns = first->time_ns;
    earlier.src_port = first->src_port;
    earlier.dst_port = first->dst_port;
    e = &table_.touch(key, earlier.time_ns, closer(out));
    count(*e, earlier, out);
  }
  e = &table_.touch(key, p.time_ns, closer(out));
  count(*e, p, out);
}

void PortScanDetector::count(Table::Entry& e, const Attempt& p, std::vector<Evidence>& out) {
  State& s = e.state;
  s.see(p.start_ns, p.time_ns);
  ++s.probes;
  remember(s.recent, p);
  s.distinct.add(p.dst_port, true, options_.port_scan_ports, budget_);
  const std::uint64_t ports = s.distinct.count(true);
  const int level =
      level_for(double(ports), double(options_.port_scan_ports), options_.critical_factor);
  if (level > s.level) {
    s.level = level;
    s.reported = ports;
    out.push_back(make(e, level));
    ++evidence_;
  }
}

void PortScanDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  table_.expire(now_ns, closer(out));
}

void PortScanDetector::flush(std::vector<Evidence>& out) { table_.close_all(closer(out)); }

DetectorStats PortScanDetector::stats() const {
  return {evidence_, table_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
