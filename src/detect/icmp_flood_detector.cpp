#include "detect/icmp_flood_detector.h"

#include <fmt/format.h>

#include "detect/alert.h"
#include "detect/alert_format.h"
#include "detect/network_flood_detector.h"

namespace netsentry::detect {

namespace {
bool echo_request(std::uint8_t proto, double type) {
  return (proto == kIcmp && type == 8) || (proto == kIcmpv6 && type == 128);
}

// Echo requests per second, the span floored at 1 s.
double request_rate(std::uint64_t requests, const Track& t) {
  return double(requests) / std::max(t.elapsed_seconds(), 1.0);
}
}  // namespace

IcmpFloodDetector::IcmpFloodDetector(const HostDetectorOptions& options,
                                     NetworkFloodDetector* networks)
    : options_(options), networks_(networks), table_(options.window_ns, options.max_tracked) {
  validate(options_);
}

auto IcmpFloodDetector::closer(std::vector<Evidence>& out) {
  return [this, &out](const Table::Entry& e) {
    if (e.state.grew(e.state.requests)) {
      out.push_back(make(e, e.state.level));
      ++evidence_;
    }
  };
}

Evidence IcmpFloodDetector::make(const Table::Entry& e, int level) const {
  const State& s = e.state;
  const double rate = request_rate(s.requests, s);
  const double threshold = options_.icmp_flood_packets_per_second;
  Evidence ev = rule_evidence(kind::kIcmpFlood, name(), e.key, s, level,
                              rule_confidence(rate, threshold, options_.critical_factor));
  ev.count = s.requests;
  ev.score = static_cast<float>(rate / threshold);
  ev.flows = s.recent;
  if (victim_subject(e.key)) {
    ev.host = e.key.dst;
    ev.role = Role::kVictim;
    ev.description =
        fmt::format("ICMP flood suspected: {} echo requests/s to {} from many sources ({} over {})",
                    format_number(rate), e.key.dst.to_string(), format_count(s.requests),
                    format_duration(s.elapsed_seconds()));
  } else {
    ev.host = e.key.src;
    ev.role = Role::kAttacker;
    ev.peer = e.key.dst;
    ev.description =
        fmt::format("ICMP flood suspected: {} echo requests/s from {} to {} ({} over {})",
                    format_number(rate), e.key.src.to_string(), e.key.dst.to_string(),
                    format_count(s.requests), format_duration(s.elapsed_seconds()));
  }
  ev.deviations.push_back({"echo_requests_per_second", rate, threshold, ev.score});
  ev.deviations.push_back(
      {"echo_requests", double(s.requests), double(options_.icmp_flood_min_packets), 0});
  return ev;
}

void IcmpFloodDetector::check(Table::Entry& e, std::vector<Evidence>& out) {
  State& s = e.state;
  if (s.requests < options_.icmp_flood_min_packets) return;
  if (victim_subject(e.key) && !many_sources(s)) return;  // one host's flood: its own subject
  const int level = level_for(request_rate(s.requests, s), options_.icmp_flood_packets_per_second,
                              options_.critical_factor);
  if (level > s.level && victim_subject(e.key) && networks_ != nullptr &&
      networks_->engaged(e.key.dst, e.key.proto)) {
    return;  // part of a flood at its whole network (that network's evidence)
  }
  if (level > s.level) {
    s.level = level;
    s.reported = s.requests;
    out.push_back(make(e, level));
    ++evidence_;
  }
}

void IcmpFloodDetector::on_flow_event(const flow::FlowEvent& ev, std::vector<Evidence>& out) {
  if (ev.ip_proto != kIcmp && ev.ip_proto != kIcmpv6) return;
  events_ = true;
  if (options_.icmp_flood_packets_per_second <= 0 || ev.moment != flow::FlowMoment::kStart ||
      !echo_request(ev.ip_proto, ev.icmp_type)) {
    return;
  }
  const FlowRef ref{ev.start_ns, ev.src, ev.dst, ev.src_port, ev.dst_port, ev.ip_proto};
  count(ev.src, ev.dst, ev.ip_proto, 1, ev.ts_ns, ev.ts_ns, &ref, out);
}

void IcmpFloodDetector::count(const net::IpAddress& src, const net::IpAddress& dst,
                              std::uint8_t proto, std::uint64_t requests, std::int64_t from_ns,
                              std::int64_t to_ns, const FlowRef* ref, std::vector<Evidence>& out) {
  auto& e = table_.touch({src, dst, 0, proto}, to_ns, closer(out));
  e.state.see(from_ns, to_ns);
  e.state.requests += requests;
  if (ref != nullptr) e.state.recent = {*ref};
  check(e, out);
  count_victim(src, dst, proto, requests, from_ns, to_ns, ref, false, out);
}

void IcmpFloodDetector::count_victim(const net::IpAddress& src, const net::IpAddress& dst,
                                     std::uint8_t proto, std::uint64_t requests,
                                     std::int64_t from_ns, std::int64_t to_ns, const FlowRef* ref,
                                     bool spread, std::vector<Evidence>& out) {
  auto& v = table_.touch({{}, dst, 0, proto}, to_ns, closer(out));
  State& s = v.state;
  s.see(from_ns, to_ns);
  s.requests += requests;
  s.spread = s.spread || spread;
  flow::majority_vote(s.source, s.source_lead, src, requests);
  if (ref != nullptr) remember_recent(s.recent, *ref);
  check(v, out);
}

void IcmpFloodDetector::on_flood_summary(const flow::FloodSummary& f, std::vector<Evidence>& out) {
  // A network's summary is the network flood detector's.
  if ((f.ip_proto != kIcmp && f.ip_proto != kIcmpv6) || f.prefix != 0 || f.attempts == 0 ||
      options_.icmp_flood_packets_per_second <= 0) {
    return;
  }
  // The summary's own vote: a leading source is the flooder (its own subject too). Summarised
  // requests started no flow to refer to.
  if (f.many_sources()) {
    count_victim(f.source, f.dst, f.ip_proto, f.attempts, f.first_ns, f.last_ns, nullptr, true,
                 out);
  } else {
    count(f.source, f.dst, f.ip_proto, f.attempts, f.first_ns, f.last_ns, nullptr, out);
  }
}

void IcmpFloodDetector::record(const flow::FlowRecord& r, bool finished,
                               std::vector<Evidence>& out) {
  // The flow table keys echo requests and their replies apart from ICMP errors, so an echo flow's
  // initiator is the pinger and its forward packets are the requests.
  if ((r.ip_proto != kIcmp && r.ip_proto != kIcmpv6) ||
      options_.icmp_flood_packets_per_second <= 0 ||
      !echo_request(r.ip_proto, r[flow::CicFeature::kIcmpType])) {
    return;
  }
  const auto requests =
      static_cast<std::uint64_t>(std::max(0.0, r[flow::CicFeature::kTotalFwdPacket]));
  const FlowRef ref = FlowRef::of(r);
  const std::uint64_t id = ref.hash();
  const std::uint64_t before = ledger_.counted(id, events_ ? 1 : 0);
  if (finished) {
    ledger_.forget(id);
  } else {
    ledger_.set(id, std::max(before, requests));
  }
  if (requests <= before) return;
  count(r.src_ip, r.dst_ip, r.ip_proto, requests - before, r.start_ns,
        std::max(r.end_ns, r.start_ns), &ref, out);
}

void IcmpFloodDetector::on_flow_progress(const flow::FlowRecord& r, std::vector<Evidence>& out) {
  record(r, false, out);
}

void IcmpFloodDetector::on_flow_finished(const flow::FlowRecord& r, std::vector<Evidence>& out) {
  record(r, true, out);
}

void IcmpFloodDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  table_.expire(now_ns, closer(out));
}

void IcmpFloodDetector::flush(std::vector<Evidence>& out) { table_.close_all(closer(out)); }

DetectorStats IcmpFloodDetector::stats() const {
  return {evidence_, table_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
