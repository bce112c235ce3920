#include "detect/syn_flood_detector.h"

#include <fmt/format.h>

#include <algorithm>

#include "detect/alert.h"
#include "detect/alert_format.h"

namespace netsentry::detect {

namespace {
constexpr std::size_t kRecent = 3;
}  // namespace

SynFloodDetector::SynFloodDetector(const HostDetectorOptions& options)
    : options_(options),
      table_(options.window_ns, options.max_tracked),
      blocks_(2 * options.window_ns, kMaxFloodedBlocks) {
  validate(options_);
}

auto SynFloodDetector::closer(std::vector<Evidence>& out) {
  return [this, &out](const Table::Entry& e) {
    if (e.state.grew(e.state.half_open)) {
      push_with_culprit(out, make(e, e.state.level));
      ++evidence_;
    }
  };
}

Evidence SynFloodDetector::make(const Table::Entry& e, int level) const {
  const State& s = e.state;
  const double threshold = double(options_.syn_flood_half_open);
  Evidence ev =
      rule_evidence(kind::kSynFlood, name(), e.key, s, level,
                    rule_confidence(double(s.half_open), threshold, options_.critical_factor));
  const bool network_wide = e.key.dst.family == 0;
  const bool network = network_subject(e.key);
  ev.host = e.key.dst;  // the victim; none for the network-wide subject (see below)
  ev.role = Role::kVictim;
  if (!s.sources.many) ev.peer = s.sources.first;
  ev.ip_proto = kTcp;
  ev.count = s.half_open;
  const double ratio = s.attempts > 0 ? double(s.half_open) / double(s.attempts) : 0.0;
  const double per_second = rate(s);
  ev.score = static_cast<float>(double(s.half_open) / threshold);
  ev.flows = s.recent;
  const bool spread = victim_wide(e.key);
  const std::string prefix = fmt::format("{}/{}", e.key.dst.to_string(), e.key.port);
  // A network joined to its block, or the block's own subject (FloodedBlocks).
  const bool whole_block = block_subject(e.key);
  const FloodedBlocks::Block* block = s.joined ? blocks_.find(e.key.dst, kTcp) : nullptr;
  const std::string target = network_wide  ? std::string("many destinations")
                             : whole_block ? "many hosts of neighbouring networks of " + prefix
                             : network     ? "many hosts of " + prefix
                             : spread      ? "many ports of " + e.key.dst.to_string()
                                           : format_endpoint(e.key.dst, e.key.port);
  if (spread) {
    // Sources: many, or the subject would not speak. Its count includes refused SYNs (closed
    // ports' RSTs).
    ev.peer = {};
    ev.description = fmt::format(
        "SYN flood suspected: {} connection attempts to {} left half-open or refused ({:.0f}% of "
        "{} attempts) from many sources, {}/s",
        format_count(s.half_open), target, ratio * 100, format_count(s.attempts),
        format_number(per_second));
  } else {
    ev.description = fmt::format(
        "SYN flood suspected: {} half-open connections to {} ({:.0f}% of {} attempts) from {}, "
        "{}/s",
        format_count(s.half_open), target, ratio * 100, format_count(s.attempts),
        s.sources.many ? std::string("many sources") : s.sources.first.to_string(),
        format_number(per_second));
  }
  if (block != nullptr) {
    ev.description += block_suffix(*block, flow::flood_prefix_of(e.key.dst), !whole_block);
  }
  if (network) {
    // The network is the victim: its profile is named by the prefix (no one host's); its
    // sources are many, or the subject would not speak.
    ev.host = {};
    ev.peer = {};
    ev.port = 0;
    ev.interface = block != nullptr ? FloodedBlocks::name_of(e.key.dst) : prefix;
  }
  if (network_wide) {
    // A spray has no single victim: the profile is the source when there is one, else the
    // network-wide "syn_flood" profile (interface name).
    if (!s.sources.many) {
      ev.host = s.sources.first;
      ev.role = Role::kAttacker;
      ev.peer = {};
    } else {
      ev.interface = "network";
    }
  }
  ev.deviations.push_back({"half_open", double(s.half_open), threshold, ev.score});
  ev.deviations.push_back({"half_open_ratio", ratio, options_.syn_flood_ratio, 0});
  ev.deviations.push_back({"half_open_per_second", per_second, 0, 0});
  return ev;
}

void SynFloodDetector::see_half_open(State& s, const Attempt& a, const FlowRef& ref) {
  // The flood's time span and sources are those of its half-open attempts: clients served
  // meanwhile neither make the sources "many" nor date the flood back to their visits.
  s.see(a.start_ns, a.time_ns);
  s.sources.see(a.src);
  ++s.half_open;
  s.last_sent_ns = std::max(s.last_sent_ns, a.start_ns);
  remember_recent(s.recent, ref, kRecent);
}

void SynFloodDetector::on_attempt(const Attempt& a, std::vector<Evidence>& out) {
  if (a.ip_proto != kTcp || a.repeat || options_.syn_flood_half_open == 0) return;
  const bool half_open = a.outcome == AttemptOutcome::kHalfOpen ||
                         a.outcome == AttemptOutcome::kUnanswered ||
                         a.outcome == AttemptOutcome::kReset;
  const FlowRef ref{a.start_ns, a.src, a.dst, a.src_port, a.dst_port, a.ip_proto};
  const double cf = options_.critical_factor;
  // The network first: a flood spread over it is found before its hosts' own subjects speak.
  if (options_.syn_flood_network_rate > 0) count_network(a, half_open, ref, out);
  auto& e = table_.touch({{}, a.dst, a.dst_port, kTcp}, a.time_ns, closer(out));
  State& s = e.state;
  ++s.attempts;
  if (half_open) see_half_open(s, a, ref);
  rise(e, out, !covered(s, a.dst, out));
  if (options_.syn_flood_network_rate > 0) {
    // Victim-wide: half-open SYNs from many sources at many ports of the destination.
    // A refused SYN counts here too: a spray at every port mostly meets closed ones.
    const bool unserved = half_open || a.outcome == AttemptOutcome::kRefused;
    count_victim({.src = a.src,
                  .dst = a.dst,
                  .port = a.dst_port,
                  .attempts = 1,
                  .half_open = unserved ? 1U : 0U,
                  .first_sent_ns = a.start_ns,
                  .last_sent_ns = a.start_ns,
                  .judged_ns = a.time_ns,
                  .ref = unserved ? &ref : nullptr},
                 out);
    // Network-wide: half-open SYNs sprayed at many destinations from many sources, fast.
    auto& n = table_.touch({{}, {}, 0, kTcp}, a.time_ns, closer(out));
    State& ns = n.state;
    ns.see(a.start_ns, a.time_ns);
    ns.sources.see(a.src);
    ns.destinations.see(a.dst);
    ++ns.attempts;
    if (half_open) {
      ++ns.half_open;
      ns.last_sent_ns = std::max(ns.last_sent_ns, a.start_ns);
      remember_recent(ns.recent, ref, kRecent);
      flow::majority_vote(ns.network, ns.network_lead, flow::flood_network_of(a.dst), 1);
      flow::majority_vote(ns.block, ns.block_lead, FloodedBlocks::block_of(a.dst), 1);
    }
    const bool spray = ns.sources.many && ns.destinations.many &&
                       double(ns.half_open) >= options_.syn_flood_ratio * double(ns.attempts) &&
                       rate(ns) >= options_.syn_flood_network_rate && !within_network(ns);
    const int nlevel =
        spray ? level_for(double(ns.half_open), double(options_.syn_flood_half_open), cf) : 0;
    if (nlevel > ns.level) speak(n, nlevel, out);
  }
}

void SynFloodDetector::count_victim(const VictimCount& c, std::vector<Evidence>& out) {
  auto& v = table_.touch(victim_key(c.dst), c.judged_ns, closer(out));
  State& s = v.state;
  s.attempts += c.attempts;
  if (c.half_open == 0) return;
  s.see(c.first_sent_ns, c.judged_ns);
  s.half_open += c.half_open;
  s.last_sent_ns = std::max(s.last_sent_ns, c.last_sent_ns);
  s.spread = s.spread || c.spread;
  s.all_ports = s.all_ports || c.all_ports;
  if (!c.spread) flow::majority_vote(s.source, s.source_lead, c.src, c.half_open);
  if (!c.all_ports) flow::majority_vote(s.port, s.port_lead, c.port, c.half_open);
  if (c.ref != nullptr) remember_recent(s.recent, *c.ref);
  const bool many_sources = s.spread || flow::no_majority(s.source_lead, s.half_open);
  const bool many_ports = s.all_ports || flow::no_majority(s.port_lead, s.half_open);
  rise(v, out, many_sources && many_ports && rate(s) >= options_.syn_flood_network_rate);
}

int SynFloodDetector::level_of(const State& s) const {
  if (double(s.half_open) < options_.syn_flood_ratio * double(s.attempts)) return 0;
  return level_for(double(s.half_open), double(options_.syn_flood_half_open),
                   options_.critical_factor);
}

void SynFloodDetector::rise(Table::Entry& e, std::vector<Evidence>& out, bool eligible) {
  State& s = e.state;
  const int level = eligible ? level_of(s) : 0;
  if (level > s.level) speak(e, level, out);
}

void SynFloodDetector::speak(Table::Entry& e, int level, std::vector<Evidence>& out) {
  if (network_subject(e.key) && e.state.level == 0) {
    if (!block_subject(e.key)) {
      // The networks' shares of half-open SYNs vary about the rule's ratio as the hosts' do, so
      // a network may pass it before its block as a whole: when the block's SYNs are spread
      // over its networks from many sources at its rate, the block speaks first (at the higher
      // of their levels) and this network joins it.
      Table::Entry* b = table_.find(block_key(e.key.dst));
      if (b != nullptr && b->state.level == 0 && spread_over_network(*b)) {
        speak(*b,
              std::max(level,
                       level_for(double(b->state.half_open), double(options_.syn_flood_half_open),
                                 options_.critical_factor)),
              out);
      }
    }
    e.state.joined = blocks_.reached(e.key.dst, block_subject(e.key), kTcp, e.state.last_ns);
  }
  e.state.level = level;
  e.state.reported = e.state.half_open;
  push_with_culprit(out, make(e, level));
  ++evidence_;
}

SubjectKey SynFloodDetector::network_key(const net::IpAddress& dst) {
  return {{}, flow::flood_network_of(dst), flow::flood_prefix_of(dst), 1};
}

void SynFloodDetector::count_network(const Attempt& a, bool half_open, const FlowRef& ref,
                                     std::vector<Evidence>& out) {
  // The network first: a flood at one network is its own before its block's.
  for (const SubjectKey& key : {network_key(a.dst), block_key(a.dst)}) {
    auto& n = table_.touch(key, a.time_ns, closer(out));
    State& s = n.state;
    ++s.attempts;
    if (half_open) {
      see_half_open(s, a, ref);
      flow::majority_vote(s.source, s.source_lead, a.src, 1);
      flow::majority_vote(s.port, s.port_lead, host_vote(a.dst), 1);
      flow::majority_vote(s.network, s.network_lead, flow::flood_network_of(a.dst), 1);
      if (block_subject(key)) {
        ++s.flow_half_open;
        s.flow_first_ns = std::min(s.flow_first_ns, a.start_ns);
        s.flow_last_sent_ns = std::max(s.flow_last_sent_ns, a.start_ns);
      }
    }
    rise(n, out, spread_over_network(n));
  }
}

bool SynFloodDetector::spread_over_network(const Table::Entry& n) const {
  const State& s = n.state;
  const bool many_sources = s.spread || flow::no_majority(s.source_lead, s.half_open);
  const bool many_hosts = s.spread || flow::no_majority(s.port_lead, s.half_open);
  // A block's flood at one network (80 %) is that network's.
  return many_sources && many_hosts && many_networks(n) &&
         rate(s) >= options_.syn_flood_network_rate;
}

bool SynFloodDetector::within_network(const State& spray) {
  if (!flow::no_majority(spray.network_lead, spray.half_open)) {
    const Table::Entry* n = table_.find(network_key(spray.network));
    if (n != nullptr && n->state.level > 0) return true;
  }
  if (flow::no_majority(spray.block_lead, spray.half_open)) return false;
  const Table::Entry* b = table_.find(block_key(spray.block));
  return b != nullptr && b->state.level > 0;
}

bool SynFloodDetector::covered(const State& s, const net::IpAddress& dst,
                               std::vector<Evidence>& out) {
  if (!s.sources.many || options_.syn_flood_network_rate <= 0) return false;
  if (const Table::Entry* b = table_.find(block_key(dst)); b != nullptr && b->state.level > 0) {
    return true;
  }
  Table::Entry* n = table_.find(network_key(dst));
  if (n == nullptr) return false;
  State& ns = n->state;
  if (ns.level > 0) return true;
  const int level = level_of(s);
  if (level == 0 || !spread_over_network(*n)) return false;
  // This host passes the rule first: the network speaks for it, at the higher of their levels.
  speak(*n,
        std::max(level, level_for(double(ns.half_open), double(options_.syn_flood_half_open),
                                  options_.critical_factor)),
        out);
  return true;
}

void SynFloodDetector::see_summary(State& s, const flow::FloodSummary& f) {
  s.attempts += f.attempts;
  s.half_open += f.attempts;
  s.see(f.first_ns, f.last_ns);
  s.last_sent_ns = std::max(s.last_sent_ns, f.last_ns);
  s.sources.see(f.source);
  if (f.many_sources()) s.sources.many = true;
}

void SynFloodDetector::before_network_floods(std::span<const flow::FloodSummary> networks) {
  blocks_.claim_together(networks, kTcp, [](const flow::FloodSummary& f) {
    return f.ip_proto == kTcp && !f.strays && f.attempts > 0;
  });
}

void SynFloodDetector::on_flood_summary(const flow::FloodSummary& f, std::vector<Evidence>& out) {
  // Strays are no connection attempts (the TCP flood detector's).
  if (f.ip_proto != kTcp || f.strays || f.attempts == 0 || options_.syn_flood_half_open == 0) {
    return;
  }
  if (f.prefix != 0) {
    // Every host of a network: its network subject's and its block's alone (the flow table
    // judged the hosts' and sources' spread); every network of a block: its block's alone.
    if (options_.syn_flood_network_rate <= 0) return;
    for (const SubjectKey& key : {network_key(f.dst), block_key(f.dst)}) {
      if (f.block() && !block_subject(key)) continue;
      auto& n = table_.touch(key, f.last_ns, closer(out));
      State& s = n.state;
      see_summary(s, f);
      if (f.many_sources()) {
        s.spread = true;
      } else {
        flow::majority_vote(s.source, s.source_lead, f.source, f.attempts);
      }
      // A block's own summary casts no network vote: no network got 80 % of it.
      if (!f.block()) flow::majority_vote(s.network, s.network_lead, f.dst, f.attempts);
      const bool many_sources = s.spread || flow::no_majority(s.source_lead, s.half_open);
      rise(n, out, many_sources && many_networks(n) && rate(s) >= options_.syn_flood_network_rate);
    }
    return;
  }
  const VictimCount victim{.src = f.source,
                           .dst = f.dst,
                           .port = f.dst_port,
                           .attempts = f.attempts,
                           .half_open = f.attempts,
                           .first_sent_ns = f.first_ns,
                           .last_sent_ns = f.last_ns,
                           .judged_ns = f.last_ns,
                           .spread = f.many_sources(),
                           .all_ports = f.all_ports};
  if (f.all_ports) {
    // SYNs to every port of the host: the victim-wide subject's alone.
    if (options_.syn_flood_network_rate > 0) count_victim(victim, out);
    return;
  }
  auto& e = table_.touch({{}, f.dst, f.dst_port, kTcp}, f.last_ns, closer(out));
  State& s = e.state;
  see_summary(s, f);
  rise(e, out, !covered(s, f.dst, out));
  if (options_.syn_flood_network_rate > 0) count_victim(victim, out);
}

void SynFloodDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  table_.expire(now_ns, closer(out));
}

void SynFloodDetector::flush(std::vector<Evidence>& out) { table_.close_all(closer(out)); }

DetectorStats SynFloodDetector::stats() const {
  return {evidence_, table_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
