#include "detect/tcp_flood_detector.h"

#include <fmt/format.h>

#include "detect/alert.h"
#include "detect/alert_format.h"

namespace netsentry::detect {

TcpFloodDetector::TcpFloodDetector(const HostDetectorOptions& options)
    : options_(options),
      table_(options.window_ns, options.max_tracked),
      blocks_(2 * options.window_ns, kMaxFloodedBlocks) {
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
  // A network or a block: its profile is named by the prefix (no one host's), or by its block's
  // when it joined one.
  const bool network = e.key.port != 0;
  const bool whole_block = block_subject(e.key);
  const std::string prefix = fmt::format("{}/{}", e.key.dst.to_string(), e.key.port);
  const FloodedBlocks::Block* block = s.joined ? blocks_.find(e.key.dst, kTcp) : nullptr;
  const std::string target =
      !network ? e.key.dst.to_string()
               : fmt::format("every host of {} (a flood spread over {})", prefix,
                             whole_block ? "neighbouring networks" : "the network");
  ev.description = fmt::format(
      "TCP flood suspected: {} packets/s to {} outside any connection (ACK, RST, SYN-ACK or data "
      "without a handshake) from {} ({} over {}; {} resets and replies)",
      format_number(per_second), target, many ? std::string("many sources") : s.source.to_string(),
      format_count(s.packets), format_duration(s.elapsed_seconds()), format_count(s.replies));
  if (network) {
    ev.host = {};
    ev.port = 0;
    ev.interface = block != nullptr ? FloodedBlocks::name_of(e.key.dst) : prefix;
    if (block != nullptr) {
      ev.description += block_suffix(*block, flow::flood_prefix_of(e.key.dst), !whole_block);
    }
  }
  ev.deviations.push_back({"stray_packets_per_second", per_second, threshold, ev.score});
  ev.deviations.push_back({"stray_packets", double(s.packets), 0, 0});
  return ev;
}

void TcpFloodDetector::on_flood_summary(const flow::FloodSummary& f, std::vector<Evidence>& out) {
  if (f.ip_proto != kTcp || !f.strays || options_.tcp_flood_packets_per_second <= 0) return;
  if (f.attempts == 0 && f.replies + f.resets == 0) return;
  if (f.prefix != 0) {
    // The network first: a flood at one network is its own before its block's (a block's own
    // summary is its block's alone).
    if (!f.block()) count({{}, f.dst, f.prefix, kTcp}, f, out);
    count(block_key(f.dst), f, out);
    return;
  }
  // A host that got more than its share of a network's flood is part of it.
  if (f.many_sources() && engaged(f.dst)) return;
  count({{}, f.dst, 0, kTcp}, f, out);
}

void TcpFloodDetector::before_network_floods(std::span<const flow::FloodSummary> networks) {
  blocks_.claim_together(networks, kTcp, [](const flow::FloodSummary& f) {
    return f.ip_proto == kTcp && f.strays && f.attempts > 0;
  });
}

void TcpFloodDetector::count(const SubjectKey& key, const flow::FloodSummary& f,
                             std::vector<Evidence>& out) {
  auto& e = table_.touch(key, f.last_ns, closer(out));
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
  // A block's own summary casts no network vote: no network got 80 % of it.
  if (!f.block()) flow::majority_vote(s.network, s.network_lead, f.dst, f.attempts);
  // A block's flood at one network (80 %) is that network's.
  const bool eligible = !block_subject(e.key) || flow::no_majority(s.network_lead, s.packets);
  const int level =
      eligible ? level_for(rate(s), options_.tcp_flood_packets_per_second, options_.critical_factor)
               : 0;
  if (level > s.level) {
    if (s.level == 0 && key.port != 0) {
      s.joined = blocks_.reached(key.dst, block_subject(key), kTcp, s.last_ns);
    }
    s.level = level;
    s.reported = s.packets;
    push_with_culprit(out, make(e, level));
    ++evidence_;
  }
}

bool TcpFloodDetector::engaged(const net::IpAddress& host) {
  const Table::Entry* n =
      table_.find({{}, flow::flood_network_of(host), flow::flood_prefix_of(host), kTcp});
  if (n != nullptr && n->state.level > 0) return true;
  const Table::Entry* b = table_.find(block_key(host));
  return b != nullptr && b->state.level > 0;
}

void TcpFloodDetector::advance(std::int64_t now_ns, std::vector<Evidence>& out) {
  table_.expire(now_ns, closer(out));
}

void TcpFloodDetector::flush(std::vector<Evidence>& out) { table_.close_all(closer(out)); }

DetectorStats TcpFloodDetector::stats() const {
  return {evidence_, table_.evictions(), table_.size()};
}

}  // namespace netsentry::detect
