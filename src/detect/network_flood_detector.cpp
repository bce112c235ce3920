#include "detect/network_flood_detector.h"

#include <fmt/format.h>

#include "detect/alert.h"
#include "detect/alert_format.h"

namespace netsentry::detect {

NetworkFloodDetector::NetworkFloodDetector(const HostDetectorOptions& options)
    : options_(options),
      table_(options.window_ns, options.max_tracked),
      blocks_(2 * options.window_ns, kMaxFloodedBlocks) {
  validate(options_);
}

auto NetworkFloodDetector::closer(std::vector<Evidence>& out) {
  return [this, &out](const Table::Entry& e) {
    if (e.state.grew(e.state.attempts)) {
      push_with_culprit(out, make(e, e.state.level));
      ++evidence_;
    }
  };
}

double NetworkFloodDetector::threshold(std::uint8_t proto) const {
  if (proto == kUdp) {
    return options_.udp_flood_packets_per_second > 0
               ? options_.udp_flood_unanswered_packets_per_second
               : 0;
  }
  return options_.icmp_flood_packets_per_second;
}

Evidence NetworkFloodDetector::make(const Table::Entry& e, int level) const {
  const State& s = e.state;
  const std::uint8_t proto = e.key.proto;
  const double per_second = rate(s);
  const double limit = threshold(proto);
  const std::string_view kind = proto == kUdp ? kind::kUdpFlood : kind::kIcmpFlood;
  Evidence ev = rule_evidence(kind, name(), e.key, s, level,
                              rule_confidence(per_second, limit, options_.critical_factor));
  // The victim is the network: its profile is named by the prefix (no one host's), or by its
  // block's when it joined one.
  const std::string network = fmt::format("{}/{}", e.key.dst.to_string(), e.key.port);
  const bool whole_block = block_subject(e.key);
  const FloodedBlocks::Block* block = s.joined ? blocks_.find(e.key.dst, proto) : nullptr;
  ev.host = {};
  ev.interface = block != nullptr ? FloodedBlocks::name_of(e.key.dst) : network;
  ev.role = Role::kVictim;
  ev.port = 0;
  const bool many = many_sources(s);
  if (!many) ev.peer = s.source;
  ev.ip_proto = proto;
  ev.count = s.attempts;
  ev.score = static_cast<float>(per_second / limit);
  const bool udp = proto == kUdp;
  ev.description = fmt::format(
      "{} flood suspected at every host of {} (a flood spread over {}): {}/s {} from {} "
      "({} over {}; {} replies)",
      udp ? "UDP" : "ICMP", network, whole_block ? "neighbouring networks" : "the network",
      format_number(per_second), udp ? "UDP datagrams that went unanswered" : "echo requests",
      many ? std::string("many sources") : s.source.to_string(), format_count(s.attempts),
      format_duration(s.elapsed_seconds()), format_count(s.replies));
  if (block != nullptr) {
    ev.description += block_suffix(*block, flow::flood_prefix_of(e.key.dst), !whole_block);
  }
  ev.deviations.push_back({"attempts_per_second", per_second, limit, ev.score});
  ev.deviations.push_back({"attempts", double(s.attempts), 0, 0});
  return ev;
}

void NetworkFloodDetector::on_flood_summary(const flow::FloodSummary& f,
                                            std::vector<Evidence>& out) {
  // SYNs spread over a network are the SYN flood detector's (its network subject).
  if (f.prefix == 0 || f.strays) return;
  if (f.ip_proto != kUdp && f.ip_proto != kIcmp && f.ip_proto != kIcmpv6) return;
  const double limit = threshold(f.ip_proto);
  if (limit <= 0) return;
  if (f.attempts == 0 && f.replies + f.resets == 0) return;
  // A block's own summary: the flow table judged its networks' spread.
  if (f.block()) {
    count_summary(block_key(f.dst, f.ip_proto), f, limit, out);
    return;
  }
  // The network first: a flood at one network is its own before its block's.
  count_summary({{}, f.dst, f.prefix, f.ip_proto}, f, limit, out);
  count_summary(block_key(f.dst, f.ip_proto), f, limit, out);
}

void NetworkFloodDetector::count_summary(const SubjectKey& key, const flow::FloodSummary& f,
                                         double limit, std::vector<Evidence>& out) {
  auto& e = table_.touch(key, f.last_ns, closer(out));
  State& s = e.state;
  s.replies += f.replies + f.resets;
  if (f.attempts == 0) return;
  s.see(f.first_ns, f.last_ns);
  s.attempts += f.attempts;
  if (f.many_sources()) {
    s.spread = true;
  } else {
    flow::majority_vote(s.source, s.source_lead, f.source, f.attempts);
  }
  // A block's own summary casts no network vote: no network got 80 % of it.
  if (!f.block()) flow::majority_vote(s.network, s.network_lead, f.dst, f.attempts);
  judge(e, limit, out);
}

void NetworkFloodDetector::before_network_floods(std::span<const flow::FloodSummary> networks) {
  for (const std::uint8_t proto : {kUdp, kIcmp, kIcmpv6}) {
    blocks_.claim_together(networks, proto, [proto](const flow::FloodSummary& f) {
      return f.ip_proto == proto && !f.strays && f.attempts > 0;
    });
  }
}

void NetworkFloodDetector::on_attempt(const Attempt& a, std::vector<Evidence>& out) {
  if (a.ip_proto != kUdp || a.outcome != AttemptOutcome::kUnanswered || a.repeat) return;
  const double limit = threshold(kUdp);
  if (limit <= 0) return;
  count_attempt(network_key(a.dst, kUdp), a, limit, out);
  count_attempt(block_key(a.dst, kUdp), a, limit, out);
}

void NetworkFloodDetector::count_attempt(const SubjectKey& key, const Attempt& a, double limit,
                                         std::vector<Evidence>& out) {
  auto& e = table_.touch(key, a.time_ns, closer(out));
  State& s = e.state;
  s.see(a.start_ns, a.time_ns);
  ++s.attempts;
  ++s.flow_attempts;
  flow::majority_vote(s.source, s.source_lead, a.src, 1);
  flow::majority_vote(s.host, s.host_lead, host_vote(a.dst), 1);
  flow::majority_vote(s.network, s.network_lead, flow::flood_network_of(a.dst), 1);
  judge(e, limit, out);
}

void NetworkFloodDetector::judge(Table::Entry& e, double limit, std::vector<Evidence>& out) {
  State& s = e.state;
  // From flows, a flood at one host (a host that got 80 %) is that host's; from one source, a
  // sweep or that source's flood (the UDP flood detector's). Summaries' hosts were judged. A
  // block's flood at one network (80 %) is that network's.
  const bool many_hosts = s.flow_attempts == 0 || flow::no_majority(s.host_lead, s.flow_attempts);
  const bool many_networks = !block_subject(e.key) || flow::no_majority(s.network_lead, s.attempts);
  const bool eligible = many_hosts && many_networks && (s.flow_attempts == 0 || many_sources(s));
  const int level = eligible ? level_for(rate(s), limit, options_.critical_factor) : 0;
  if (level > s.level) {
    if (s.level == 0) {
      s.joined = blocks_.reached(e.key.dst, block_subject(e.key), e.key.proto, s.last_ns);
    }
    s.level = level;
    s.reported = s.attempts;
    push_with_culprit(out, make(e, level));
    ++evidence_;
  }
}

bool NetworkFloodDetector::engaged(const net::IpAddress& host, std::uint8_t ip_proto) {
  const Table::Entry* e = table_.find(network_key(host, ip_proto));
  if (e != nullptr && e->state.level > 0) return true;
  const Table::Entry* b = table_.find(block_key(host, ip_proto));
  return b != nullptr && b->state.level > 0;
}

void NetworkFloodDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  table_.expire(now_ns, closer(out));
}

void NetworkFloodDetector::flush(std::vector<Evidence>& out) { table_.close_all(closer(out)); }

DetectorStats NetworkFloodDetector::stats() const {
  return {evidence_, table_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
