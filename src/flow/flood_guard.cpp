#include "flow/flood_guard.h"

#include <algorithm>
#include <cstring>

#include "net/flow_key.h"

namespace netsentry::flow {

namespace {
constexpr std::size_t kBuckets = 4096;     // two entries each
constexpr std::size_t kNetBuckets = 256;   // two networks each, after the destinations'
constexpr std::size_t kBlockBuckets = 64;  // two blocks each, after the networks'
constexpr std::int64_t kSecondNs = 1'000'000'000;
constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;
constexpr std::uint8_t kIcmp = 1;
constexpr std::uint8_t kIcmpv6 = 58;

bool icmp(std::uint8_t ip_proto) { return ip_proto == kIcmp || ip_proto == kIcmpv6; }

// The port an attempt is counted under: its destination port, none for echo requests.
std::uint16_t attempt_port(const net::Packet& p) { return icmp(p.ip_proto) ? 0 : p.dst_port; }
}  // namespace

bool FloodGuard::echo_request(const net::Packet& p) {
  return p.has_l4 && ((p.ip_proto == kIcmp && p.icmp_type == 8) ||
                      (p.ip_proto == kIcmpv6 && p.icmp_type == 128));
}

bool FloodGuard::echo_reply(const net::Packet& p) {
  return p.has_l4 && ((p.ip_proto == kIcmp && p.icmp_type == 0) ||
                      (p.ip_proto == kIcmpv6 && p.icmp_type == 129));
}

bool FloodGuard::unreachable(const net::Packet& p) {
  return p.has_l4 &&
         ((p.ip_proto == kIcmp && p.icmp_type == 3) || (p.ip_proto == kIcmpv6 && p.icmp_type == 1));
}

bool FloodGuard::on_unreachable(const net::Packet& packet, std::int64_t now_ns) {
  if (floods_.empty() || packet.outer != nullptr) return false;
  // At most kMaxFlooded floods: the error's quoted datagram is not decoded, so the host's first
  // flooded UDP port takes it.
  for (Flood& f : floods_) {
    FloodSummary& s = f.summary;
    const bool from_dst = s.prefix == 0 ? s.dst == packet.src
                          : s.block()   ? s.dst == flood_block_of(packet.src)
                                        : s.dst == flood_network_of(packet.src);
    if (s.ip_proto == kUdp && from_dst && s.vlan == packet.vlan) {
      count(s, s.replies, s.reply_bytes, packet, now_ns);
      ++s.total_replies;
      return true;
    }
  }
  return false;
}

FloodGuard::FloodGuard(std::uint32_t rate, FloodGuardStats& stats)
    : rate_(rate),
      flood_attempts_(std::max<std::uint32_t>(1, rate / 4)),
      calm_attempts_(std::max<std::uint32_t>(1, rate / 8)),
      stats_(stats) {
  if (rate_ != 0) entries_.resize((kBuckets + kNetBuckets + kBlockBuckets) * 2);
  floods_.reserve(kMaxFlooded);
}

std::uint64_t FloodGuard::tag_of(const net::IpAddress& address, std::uint16_t port,
                                 std::uint16_t vlan, std::uint8_t ip_proto, std::uint8_t scope) {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  std::uint64_t words[2];
  std::memcpy(words, address.bytes.data(), sizeof(words));
  std::uint64_t h = net::detail::mum(words[0] ^ kMul, kMul);
  h = net::detail::mum(h ^ words[1], kMul);
  h = net::detail::mum(
      h ^ (std::uint64_t{port} | std::uint64_t{vlan} << 16 | std::uint64_t{address.family} << 32 |
           std::uint64_t{ip_proto} << 40 | std::uint64_t{scope} << 48),
      kMul);
  return h | 1;  // never 0 (a free entry)
}

net::IpAddress FloodGuard::key_address(const net::IpAddress& address, std::uint8_t scope) {
  if (block_scope(scope)) return flood_block_of(address);
  if (network_scope(scope)) return flood_network_of(address);
  return address;
}

std::uint8_t FloodGuard::scope_prefix(const net::IpAddress& address, std::uint8_t scope) {
  if (block_scope(scope)) return flood_block_prefix_of(address);
  if (network_scope(scope)) return flood_prefix_of(address);
  return 0;
}

bool FloodGuard::same(const FloodSummary& s, const net::IpAddress& ip, std::uint16_t port,
                      std::uint16_t vlan, std::uint8_t ip_proto, std::uint8_t scope) {
  return s.dst == ip && s.dst_port == port && s.vlan == vlan && s.ip_proto == ip_proto &&
         s.all_ports == (scope != kPort) && s.strays == stray_scope(scope) &&
         s.prefix == scope_prefix(ip, scope);
}

FloodGuard::Entry* FloodGuard::bucket(std::uint64_t tag, std::uint8_t scope) {
  if (block_scope(scope)) {
    return &entries_[(kBuckets + kNetBuckets + ((tag >> 20) & (kBlockBuckets - 1))) * 2];
  }
  if (network_scope(scope)) {
    return &entries_[(kBuckets + ((tag >> 20) & (kNetBuckets - 1))) * 2];
  }
  return &entries_[((tag >> 20) & (kBuckets - 1)) * 2];
}

FloodGuard::Entry* FloodGuard::find(std::uint64_t tag, std::uint8_t scope) {
  Entry* b = bucket(tag, scope);
  if (b[0].tag == tag) return &b[0];
  if (b[1].tag == tag) return &b[1];
  return nullptr;
}

FloodGuard::Entry* FloodGuard::claim(std::uint64_t tag, std::uint8_t scope, std::int64_t quarter) {
  if (Entry* e = find(tag, scope)) return e;
  Entry* b = bucket(tag, scope);
  for (int i = 0; i < 2; ++i) {
    Entry& e = b[i];
    // Free, or not counted for a second (its counts are all stale) and not flooded.
    if (e.tag == 0 || (e.flood == 0 && quarter - e.quarter >= 4)) {
      e = Entry{};
      e.tag = tag;
      e.quarter = quarter;
      e.judged = quarter - 1;
      return &e;
    }
  }
  return nullptr;
}

void FloodGuard::advance(Entry& e, std::int64_t quarter, bool& flood, bool& calm) {
  // Judge the quarters at least two behind `quarter` that hold counts (up to e.quarter).
  const std::int64_t due = quarter - 2;
  for (std::int64_t q = std::max(e.judged + 1, e.quarter - 3); q <= std::min(due, e.quarter); ++q) {
    const std::size_t i = static_cast<std::size_t>(q & 3);
    if (e.flood == 0) {
      if (e.attempts[i] >= flood_attempts_ &&
          (e.echo || std::uint64_t{e.completed[i]} * 10 < std::uint64_t{e.attempts[i]}) &&
          (e.scope == kPort || ((e.scope == kStray || no_majority(e.port_lead[i], e.attempts[i])) &&
                                no_majority(e.source_lead[i], e.attempts[i])))) {
        flood = true;
      }
    } else if (e.attempts[i] < calm_attempts_) {
      calm = true;
    }
  }
  // A quarter without any count is calm too.
  if (e.flood != 0 && due > e.quarter && due > e.judged) calm = true;
  e.judged = std::max(e.judged, due);
  if (quarter > e.quarter) {
    for (std::int64_t q = e.quarter + 1; q <= std::min(quarter, e.quarter + 4); ++q) {
      const std::size_t i = static_cast<std::size_t>(q & 3);
      e.attempts[i] = 0;
      e.completed[i] = 0;
      e.port[i] = 0;
      e.port_lead[i] = 0;
      e.source[i] = 0;
      e.source_lead[i] = 0;
    }
    e.quarter = quarter;
  }
}

void FloodGuard::start_flood(Entry& e, const net::Packet& attempt, std::uint16_t port,
                             std::uint8_t scope) {
  if (floods_.size() >= kMaxFlooded) {
    ++stats_.not_guarded;
    return;
  }
  Flood f;
  f.entry = static_cast<std::size_t>(&e - entries_.data());
  f.summary.dst = attempt.dst;
  f.summary.dst_port = port;
  f.summary.vlan = attempt.vlan;
  f.summary.ip_proto = attempt.ip_proto;
  f.summary.all_ports = scope != kPort;
  f.summary.strays = stray_scope(scope);
  f.summary.dst = key_address(attempt.dst, scope);
  f.summary.prefix = scope_prefix(attempt.dst, scope);
  floods_.push_back(f);
  e.flood = static_cast<std::uint8_t>(floods_.size());
  ++stats_.floods;
}

bool FloodGuard::on_attempt(const net::Packet& packet, std::int64_t now_ns) {
  if (rate_ == 0 || packet.outer != nullptr) return false;
  const std::uint16_t port = attempt_port(packet);
  std::uint32_t source = 0;
  if (count_attempt(packet, port, kPort, now_ns, source)) return true;
  // Echo requests are counted per host already.
  if (!icmp(packet.ip_proto) && count_attempt(packet, port, kHost, now_ns, source)) return true;
  return count_attempt(packet, port, kNet, now_ns, source) ||
         count_attempt(packet, port, kBlock, now_ns, source);
}

bool FloodGuard::on_stray(const net::Packet& packet, std::int64_t now_ns) {
  if (rate_ == 0 || packet.outer != nullptr) return false;
  std::uint32_t source = 0;
  return count_attempt(packet, packet.dst_port, kStray, now_ns, source) ||
         count_attempt(packet, packet.dst_port, kNetStray, now_ns, source) ||
         count_attempt(packet, packet.dst_port, kBlockStray, now_ns, source);
}

bool FloodGuard::count_attempt(const net::Packet& packet, std::uint16_t port, std::uint8_t scope,
                               std::int64_t now_ns, std::uint32_t& source) {
  const std::uint16_t key_port = scope == kPort ? port : std::uint16_t{0};
  const net::IpAddress dst = key_address(packet.dst, scope);
  const std::uint64_t tag = tag_of(dst, key_port, packet.vlan, packet.ip_proto, scope);
  const std::int64_t quarter = now_ns / kQuarterNs;
  Entry* e = claim(tag, scope, quarter);
  if (e == nullptr) return false;
  e->echo = icmp(packet.ip_proto);
  e->scope = scope;
  bool flood = false;
  bool calm = false;
  advance(*e, quarter, flood, calm);
  if (flood && e->flood == 0) {
    start_flood(*e, packet, key_port, scope);
    // Its first summary a quarter second on, not at the next whole second: the detectors judge a
    // flood from its summaries, and up to a second of waiting was most of a block's time to its
    // first alert (the guard finds a flood half a second in).
    if (e->flood != 0 && next_tick_ns_ != INT64_MIN) {
      next_tick_ns_ = std::min(next_tick_ns_, now_ns + kQuarterNs);
    }
  }
  if (calm && e->flood != 0) end_flood(e->flood - 1u);
  const auto q = static_cast<std::size_t>(quarter & 3);
  ++e->attempts[q];
  if (scope != kPort) {
    std::uint64_t lead = e->port_lead[q];
    // A network's vote is over its destination hosts, a block's over its networks (a 16-bit hash
    // of the address).
    const auto hash16 = [](const net::IpAddress& a) {
      return static_cast<std::uint16_t>(tag_of(a, 0, 0, 0) >> 48);
    };
    const std::uint16_t item = block_scope(scope)     ? hash16(flood_network_of(packet.dst))
                               : network_scope(scope) ? hash16(packet.dst)
                                                      : port;
    majority_vote(e->port[q], lead, item, 1);
    e->port_lead[q] = static_cast<std::uint32_t>(lead);
    lead = e->source_lead[q];
    if (source == 0) source = static_cast<std::uint32_t>(tag_of(packet.src, 0, 0, 0) >> 32);
    majority_vote(e->source[q], lead, source, 1);
    e->source_lead[q] = static_cast<std::uint32_t>(lead);
  }
  if (e->flood == 0) return false;
  FloodSummary& s = floods_[e->flood - 1u].summary;
  if (!same(s, dst, key_port, packet.vlan, packet.ip_proto, scope)) {
    return false;  // another destination with the same tag: never summarised
  }
  count(s, s.attempts, s.attempt_bytes, packet, now_ns);
  ++s.total_attempts;
  // A majority vote names the source (FloodSummary::many_sources()); spoofed ones leave no lead.
  majority_vote(s.source, s.source_lead, packet.src, 1);
  return true;
}

void FloodGuard::count(FloodSummary& s, std::uint64_t& packets, std::uint64_t& bytes,
                       const net::Packet& packet, std::int64_t now_ns) {
  if (s.attempts == 0 && s.replies == 0 && s.resets == 0) s.first_ns = now_ns;
  s.last_ns = now_ns;
  ++packets;
  bytes += packet.wire_len;
  ++stats_.summarized;
  stats_.summarized_bytes += packet.wire_len;
}

FloodSummary* FloodGuard::flooded(const net::IpAddress& ip, std::uint16_t port, std::uint16_t vlan,
                                  std::uint8_t ip_proto, bool host_too, bool strays_too) {
  for (const std::uint8_t scope : {kPort, kHost, kStray, kNet, kNetStray, kBlock, kBlockStray}) {
    if (scope == kHost && (icmp(ip_proto) || !host_too)) continue;
    if (stray_scope(scope) && (ip_proto != kTcp || !host_too || !strays_too)) continue;
    if ((scope == kNet || scope == kBlock) && !icmp(ip_proto) && !host_too) continue;
    const std::uint16_t key_port = scope == kPort ? port : std::uint16_t{0};
    const net::IpAddress key = key_address(ip, scope);
    Entry* e = find(tag_of(key, key_port, vlan, ip_proto, scope), scope);
    if (e == nullptr || e->flood == 0) continue;
    FloodSummary& s = floods_[e->flood - 1u].summary;
    if (same(s, key, key_port, vlan, ip_proto, scope)) return &s;
  }
  return nullptr;
}

bool FloodGuard::on_reply(const net::Packet& packet, std::int64_t now_ns) {
  if (floods_.empty() || packet.outer != nullptr) return false;
  // A datagram from a host flooded on all its ports may start its own new UDP flow (a DNS query):
  // only its flooded port's datagrams are replies.
  FloodSummary* s = flooded(packet.src, icmp(packet.ip_proto) ? std::uint16_t{0} : packet.src_port,
                            packet.vlan, packet.ip_proto, packet.ip_proto == kTcp);
  std::uint64_t* counter = nullptr;
  if (s != nullptr) {
    counter = &s->replies;
  } else if (packet.ip_proto == kTcp && (packet.tcp_flags & net::tcp_flag::kRst) != 0 &&
             (s = flooded(packet.dst, packet.dst_port, packet.vlan, kTcp, true, false)) !=
                 nullptr) {
    // The initiator resets the victim's SYN-ACK. (A RST to a host flooded with strays is one of
    // the strays: on_stray().)
    counter = &s->resets;
  } else {
    return false;
  }
  count(*s, *counter, s->reply_bytes, packet, now_ns);
  ++s->total_replies;
  return true;
}

void FloodGuard::on_completed(const net::IpAddress& dst, std::uint16_t dst_port, std::uint16_t vlan,
                              std::uint8_t ip_proto, std::int64_t started_ns, bool stray) {
  if (rate_ == 0) return;
  const std::int64_t q = started_ns / kQuarterNs;
  // Its ip:port's entry, and its host's (all ports), network's and block's when it was counted
  // there too; a stray's host, network and block entries.
  for (const std::uint8_t scope : {kPort, kHost, kStray, kNet, kNetStray, kBlock, kBlockStray}) {
    if (stray_scope(scope) != stray || (scope == kHost && icmp(ip_proto))) continue;
    const net::IpAddress key = key_address(dst, scope);
    Entry* e = find(
        tag_of(key, scope == kPort ? dst_port : std::uint16_t{0}, vlan, ip_proto, scope), scope);
    if (e != nullptr && q > e->judged && q <= e->quarter && q > e->quarter - 4) {
      ++e->completed[static_cast<std::size_t>(q & 3)];
    }
  }
}

void FloodGuard::report_due(std::int64_t now_ns) {
  next_tick_ns_ = (now_ns / kSecondNs + 1) * kSecondNs;
  const std::int64_t quarter = now_ns / kQuarterNs;
  for (std::size_t i = floods_.size(); i-- > 0;) {
    Flood& f = floods_[i];
    bool flood = false;
    bool calm = false;
    advance(entries_[f.entry], quarter, flood, calm);
    if (calm) {
      end_flood(i);
    } else if (f.summary.attempts != 0 || f.summary.replies != 0 || f.summary.resets != 0) {
      report(f, false);
    }
  }
}

void FloodGuard::report(Flood& f, bool ended) {
  FloodSummary& s = f.summary;
  s.started = !f.reported;
  s.ended = ended;
  if (observer_ != nullptr) observer_->on_flood_summary(s);
  f.reported = true;
  s.first_ns = s.last_ns = 0;
  s.attempts = s.attempt_bytes = s.replies = s.resets = s.reply_bytes = 0;
  s.source = {};
  s.source_lead = 0;
}

void FloodGuard::end_flood(std::size_t index) {
  report(floods_[index], true);
  entries_[floods_[index].entry].flood = 0;
  if (index + 1 != floods_.size()) {
    floods_[index] = floods_.back();
    entries_[floods_[index].entry].flood = static_cast<std::uint8_t>(index + 1);
  }
  floods_.pop_back();
}

void FloodGuard::flush() {
  while (!floods_.empty()) end_flood(floods_.size() - 1);
}

}  // namespace netsentry::flow
