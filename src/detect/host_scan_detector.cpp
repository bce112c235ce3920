#include "detect/host_scan_detector.h"

#include <fmt/format.h>

#include "detect/alert.h"
#include "detect/alert_format.h"

namespace netsentry::detect {

namespace {
constexpr std::size_t kRecent = 3;
}  // namespace

HostScanDetector::HostScanDetector(const HostDetectorOptions& options)
    : options_(options),
      table_(options.window_ns, options.max_tracked),
      waiting_(16'384, options.window_ns) {
  validate(options_);
  budget_.limit = options_.max_sketches;
}

auto HostScanDetector::closer(std::vector<Evidence>& out) {
  return [this, &out](const Table::Entry& e) {
    if (e.state.grew(e.state.distinct.count(false))) {
      out.push_back(make(e, e.state.level));
      ++evidence_;
    }
  };
}

Evidence HostScanDetector::make(const Table::Entry& e, int level) const {
  const State& s = e.state;
  const std::uint64_t hosts = s.distinct.count(false);
  const double threshold = double(options_.host_scan_hosts);
  Evidence ev = rule_evidence(kind::kHostScan, name(), e.key, s, level,
                              rule_confidence(double(hosts), threshold, options_.critical_factor));
  ev.host = e.key.src;
  ev.role = Role::kAttacker;
  ev.count = s.probes;
  ev.score = static_cast<float>(double(hosts) / threshold);
  ev.flows = s.recent;
  const std::string target =
      (e.key.proto == kTcp || e.key.proto == kUdp)
          ? fmt::format("port {}/{}{}", e.key.port, flow::protocol_name(e.key.proto),
                        service_suffix(e.key.port))
          : std::string(flow::protocol_name(e.key.proto));
  ev.description = fmt::format("Host scan suspected: {}{} hosts probed on {} from {} in {}",
                               s.distinct.saturated() ? "at least " : "", format_count(hosts),
                               target, e.key.src.to_string(), format_duration(s.elapsed_seconds()));
  ev.deviations.push_back({"distinct_hosts", double(hosts), threshold, ev.score});
  ev.deviations.push_back({"probes", double(s.probes), 0, 0});
  return ev;
}

void HostScanDetector::on_attempt(const Attempt& p, std::vector<Evidence>& out) {
  if (!p.probe()) return;
  if (options_.host_scan_hosts == 0) return;
  const std::uint16_t port = (p.ip_proto == kTcp || p.ip_proto == kUdp) ? p.dst_port : 0;
  const SubjectKey key{p.src, {}, port, p.ip_proto};
  Table::Entry* e = table_.find(key);
  if (e == nullptr) {
    // A subject's first probe waits outside the table: one probe is no scan.
    const std::optional<FirstProbe> first =
        waiting_.admit(key, p.time_ns, {p.start_ns, p.time_ns, p.dst, p.src_port});
    if (!first) return;
    Attempt earlier = p;
    earlier.start_ns = first->start_ns;
    earlier.time_ns = first->time_ns;
    earlier.dst = first->dst;
    earlier.src_port = first->src_port;
    e = &table_.touch(key, earlier.time_ns, closer(out));
    count(*e, earlier, out);
  }
  e = &table_.touch(key, p.time_ns, closer(out));
  count(*e, p, out);
}

void HostScanDetector::count(Table::Entry& e, const Attempt& p, std::vector<Evidence>& out) {
  State& s = e.state;
  s.see(p.start_ns, p.time_ns);
  ++s.probes;
  if (s.recent.size() >= kRecent) s.recent.erase(s.recent.begin());
  s.recent.push_back({p.start_ns, p.src, p.dst, p.src_port, p.dst_port, p.ip_proto});
  s.distinct.add(static_cast<std::uint32_t>(hash_address(p.dst, 0)), false,
                 options_.host_scan_hosts, budget_);
  const std::uint64_t hosts = s.distinct.count(false);
  const int level =
      level_for(double(hosts), double(options_.host_scan_hosts), options_.critical_factor);
  if (level > s.level) {
    s.level = level;
    s.reported = hosts;
    out.push_back(make(e, level));
    ++evidence_;
  }
}

void HostScanDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  table_.expire(now_ns, closer(out));
}

void HostScanDetector::flush(std::vector<Evidence>& out) { table_.close_all(closer(out)); }

DetectorStats HostScanDetector::stats() const {
  return {evidence_, table_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
