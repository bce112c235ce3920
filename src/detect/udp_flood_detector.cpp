#include "detect/udp_flood_detector.h"

#include <fmt/format.h>

#include "detect/alert.h"
#include "detect/alert_format.h"
#include "detect/network_flood_detector.h"

namespace netsentry::detect {

UdpFloodDetector::UdpFloodDetector(const HostDetectorOptions& options,
                                   NetworkFloodDetector* networks)
    : options_(options), networks_(networks), table_(options.window_ns, options.max_tracked) {
  validate(options_);
}

auto UdpFloodDetector::closer(std::vector<Evidence>& out) {
  return [this, &out](const Table::Entry& e) {
    if (e.state.grew(e.state.packets)) {
      push_with_culprit(out, make(e, e.state.level));
      ++evidence_;
    }
  };
}

UdpFloodDetector::Measure UdpFloodDetector::measure(const State& s) const {
  const auto& o = options_;
  // Packets per second, the span floored at 1 s so a burst of a few packets in a microsecond is
  // not a "flood".
  Measure general{double(s.packets) / std::max(s.elapsed_seconds(), 1.0),
                  o.udp_flood_packets_per_second, false};
  // The unanswered part is a flood of its own kind when there are many flows, nearly one per
  // packet (a new source port each time): one-way streams (few flows) and DNS (answered) are not.
  const bool unanswered_flood =
      o.udp_flood_unanswered_packets_per_second > 0 && s.unanswered >= o.udp_flood_min_flows &&
      double(s.unanswered) >= o.udp_flood_unanswered_ratio * double(s.unanswered_packets);
  if (!unanswered_flood) return general;
  Measure unanswered{
      double(s.unanswered_packets) / std::max(s.unanswered_span.elapsed_seconds(), 1.0),
      o.udp_flood_unanswered_packets_per_second, true};
  return unanswered.rate / unanswered.limit >= general.rate / general.limit ? unanswered : general;
}

Evidence UdpFloodDetector::make(const Table::Entry& e, int level) const {
  const State& s = e.state;
  const Measure m = measure(s);
  const double r = m.rate;
  const double lim = m.limit;
  Evidence ev = rule_evidence(kind::kUdpFlood, name(), e.key, s, level,
                              rule_confidence(r, lim, options_.critical_factor));
  ev.host = e.key.dst;
  ev.role = Role::kVictim;
  // The flood's sources are those of the traffic its rate is measured on.
  const SourceTracker& sources = m.unanswered ? s.unanswered_sources : s.sources;
  if (!sources.many) ev.peer = sources.first;
  ev.count = s.packets;
  ev.score = static_cast<float>(r / lim);
  ev.flows = s.recent;
  // An unanswered flood is timed by its own flows (answered traffic may have opened the window).
  const Track& span = m.unanswered ? s.unanswered_span : static_cast<const Track&>(s);
  ev.first_ns = span.first_ns;
  ev.description = fmt::format(
      "UDP flood suspected: {} packets/s to {} in {} flows from {} over {} ({} unanswered)",
      format_number(r), e.key.dst.to_string(), format_count(m.unanswered ? s.unanswered : s.flows),
      sources.many ? std::string("many sources") : sources.first.to_string(),
      format_duration(span.elapsed_seconds()), format_count(s.unanswered));
  ev.deviations.push_back({"packets_per_second", r, lim, ev.score});
  ev.deviations.push_back({"flows", double(s.flows), double(options_.udp_flood_min_flows), 0});
  ev.deviations.push_back({"unanswered_flows", double(s.unanswered), 0, 0});
  return ev;
}

void UdpFloodDetector::check(Table::Entry& e, std::vector<Evidence>& out) {
  State& s = e.state;
  if (s.flows < options_.udp_flood_min_flows) return;
  const Measure m = measure(s);
  const int level = level_for(m.rate, m.limit, options_.critical_factor);
  if (level > s.level && networks_ != nullptr &&
      (m.unanswered ? s.unanswered_sources : s.sources).many &&
      networks_->engaged(e.key.dst, kUdp)) {
    return;  // part of a flood at its whole network (that network's evidence)
  }
  if (level > s.level) {
    s.level = level;
    s.reported = s.packets;
    push_with_culprit(out, make(e, level));
    ++evidence_;
  }
}

void UdpFloodDetector::on_flow_event(const flow::FlowEvent& ev, std::vector<Evidence>& out) {
  if (ev.ip_proto != kUdp) return;
  events_ = true;
  if (options_.udp_flood_packets_per_second <= 0 || ev.moment != flow::FlowMoment::kStart) return;
  auto& e = table_.touch({{}, ev.dst, 0, kUdp}, ev.ts_ns, closer(out));
  State& s = e.state;
  s.see(ev.ts_ns, ev.ts_ns);
  s.sources.see(ev.src);
  ++s.flows;
  ++s.packets;
  remember_recent(s.recent, {ev.start_ns, ev.src, ev.dst, ev.src_port, ev.dst_port, kUdp});
  check(e, out);
}

void UdpFloodDetector::on_attempt(const Attempt& a, std::vector<Evidence>& out) {
  if (a.ip_proto != kUdp || a.outcome != AttemptOutcome::kUnanswered) return;
  attempts_ = true;
  if (options_.udp_flood_packets_per_second <= 0) return;
  auto& e = table_.touch({{}, a.dst, 0, kUdp}, a.time_ns, closer(out));
  State& s = e.state;
  // The flow itself is counted by its event (or, records only, by its finished record).
  s.see(a.start_ns, a.time_ns);
  ++s.unanswered;
  s.unanswered_sources.see(a.src);
  const FlowRef ref{a.start_ns, a.src, a.dst, a.src_port, a.dst_port, kUdp};
  s.unanswered_packets += ledger_.counted(ref.hash(), 1);
  s.unanswered_span.see(a.start_ns, a.start_ns);
  remember_recent(s.recent, ref);
  check(e, out);
}

void UdpFloodDetector::on_flood_summary(const flow::FloodSummary& f, std::vector<Evidence>& out) {
  // A network's summary is the network flood detector's.
  if (f.ip_proto != kUdp || f.prefix != 0 || f.attempts == 0 ||
      options_.udp_flood_packets_per_second <= 0) {
    return;
  }
  auto& e = table_.touch({{}, f.dst, 0, kUdp}, f.last_ns, closer(out));
  State& s = e.state;
  s.see(f.first_ns, f.last_ns);
  s.flows += f.attempts;
  s.packets += f.attempts;
  s.unanswered += f.attempts;
  s.unanswered_packets += f.attempts;
  s.unanswered_span.see(f.first_ns, f.last_ns);
  for (SourceTracker* sources : {&s.sources, &s.unanswered_sources}) {
    sources->see(f.source);
    if (f.many_sources()) sources->many = true;
  }
  check(e, out);
}

void UdpFloodDetector::record(const flow::FlowRecord& r, bool finished,
                              std::vector<Evidence>& out) {
  if (r.ip_proto != kUdp || options_.udp_flood_packets_per_second <= 0) return;
  const auto forward =
      static_cast<std::uint64_t>(std::max(0.0, r[flow::CicFeature::kTotalFwdPacket]));
  const bool answered = r[flow::CicFeature::kTotalBwdPackets] > 0;
  const FlowRef ref = FlowRef::of(r);
  const std::uint64_t id = ref.hash();
  const std::uint64_t before = ledger_.counted(id, events_ ? 1 : 0);
  if (finished) {
    ledger_.forget(id);
  } else {
    ledger_.set(id, std::max(before, forward));
  }
  const std::uint64_t fresh = forward > before ? forward - before : 0;
  const bool new_flow = before == 0;  // records only: the flow was never counted
  if (fresh == 0 && !new_flow) return;
  const std::int64_t now = std::max(r.end_ns, r.start_ns);
  auto& e = table_.touch({{}, r.dst_ip, 0, kUdp}, now, closer(out));
  State& s = e.state;
  s.see(r);
  s.sources.see(r.src_ip);
  s.packets += fresh;
  if (new_flow) ++s.flows;
  if (!answered) {
    // With attempts, a flow joins the unanswered counts when judged; its later packets here.
    if (new_flow && !attempts_) {
      ++s.unanswered;
      s.unanswered_sources.see(r.src_ip);
    }
    if (!new_flow || !attempts_) s.unanswered_packets += fresh;
    if (!attempts_) s.unanswered_span.see(r);
  }
  remember_recent(s.recent, ref);
  check(e, out);
}

void UdpFloodDetector::on_flow_progress(const flow::FlowRecord& r, std::vector<Evidence>& out) {
  record(r, false, out);
}

void UdpFloodDetector::on_flow_finished(const flow::FlowRecord& r, std::vector<Evidence>& out) {
  record(r, true, out);
}

void UdpFloodDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  table_.expire(now_ns, closer(out));
}

void UdpFloodDetector::flush(std::vector<Evidence>& out) { table_.close_all(closer(out)); }

DetectorStats UdpFloodDetector::stats() const {
  return {evidence_, table_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
