#include "flow/flow_table.h"

#include <algorithm>
#include <array>
#include <bit>
#include <new>
#include <numeric>
#include <random>
#include <string>
#include <utility>

#include "core/error.h"
#include "net/community_id.h"

namespace netsentry::flow {
namespace {

constexpr std::size_t kMaxFlowsLimit = std::size_t{1} << 24;  // 16 Mi flows, ~16 GB
constexpr std::size_t kMaxFirstPackets = 1'024;
constexpr std::uint8_t kUdpProto = 17;
// New ids' slots and first-packet summaries are committed this many flows at a time (~2.3 MB with
// 32 first packets) rather than page by page on first touch: under a spoofed flood, which fills
// the table with new flows, page faults were a third of the flow thread's time.
constexpr std::uint32_t kPopulateIds = 2'048;

std::uint64_t random_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

}  // namespace

std::uint64_t FlowStats::emitted_total() const {
  return std::accumulate(emitted.begin(), emitted.end(), std::uint64_t{0});
}

FlowTable::FlowTable(const FlowConfig& config, FlowSink& sink)
    : config_(config),
      sink_(sink),
      idle_ns_(config.idle_timeout.count()),
      active_ns_(config.active_timeout.count()),
      linger_ns_(config.linger.count()),
      seed_(random_seed()),
      guard_(config.cic_mode ? 0 : config.flood_summary_rate, stats_.flood) {
  if (config.max_flows == 0 || config.max_flows > kMaxFlowsLimit) {
    throw core::Error("flow table: max_flows must be between 1 and " +
                      std::to_string(kMaxFlowsLimit) + ", got " + std::to_string(config.max_flows));
  }
  if (idle_ns_ <= 0 || active_ns_ <= 0) {
    throw core::Error("flow table: idle and active timeouts must be positive");
  }
  if (linger_ns_ < 0) throw core::Error("flow table: the TCP linger time must not be negative");
  if (config.first_packets > kMaxFirstPackets) {
    throw core::Error("flow table: first_packets must be at most " +
                      std::to_string(kMaxFirstPackets) + ", got " +
                      std::to_string(config.first_packets));
  }
  const std::size_t capacity = std::bit_ceil(std::max<std::size_t>(16, config.max_flows * 2));
  try {
    index_ = HugePageArray<std::uint64_t>(capacity);  // zero-filled: all empty
    // The slots and first-packet summaries hold ~1.2 KB a flow (~330 MB at the default bound,
    // filled within seconds by a spoofed flood): huge pages only for their first 32 MiB (the tens
    // of thousands of flows of ordinary traffic: freed ids are reused before new ones, so ids grow
    // only with the number of live flows), small pages beyond, so a flood never stalls the flow
    // thread on huge-page compaction (under a two-hping3 flood on loopback, with huge pages
    // throughout 11-48 % of packets were dropped from the capture ring, with small pages 0-4 %).
    // The index and the list links, small and touched most, keep huge pages.
    constexpr std::size_t kHugeBytes = std::size_t{32} << 20;
    slots_ = HugePageArray<Slot>(config.max_flows, kHugeBytes);
    sequences_ = HugePageArray<PacketSummary>(config.max_flows * config.first_packets, kHugeBytes);
    lru_.links = HugePageArray<Link>(config.max_flows);
    age_.links = HugePageArray<Link>(config.max_flows);
    linger_.links = HugePageArray<Link>(config.max_flows);
    // Sized up front so that ending a flow never allocates.
    free_.reserve(config.max_flows);
  } catch (const std::bad_alloc&) {
    throw core::Error("flow table: cannot reserve address space for " +
                      std::to_string(config.max_flows) + " flows; lower max_flows");
  }
  mask_ = capacity - 1;
}

FlowTable::~FlowTable() = default;

void FlowTable::List::push_back(std::uint32_t id, std::int64_t time_ns) {
  links[id] = Link{tail, kNil, time_ns};
  if (tail != kNil) {
    links[tail].next = id;
  } else {
    head = id;
  }
  tail = id;
}

void FlowTable::List::unlink(std::uint32_t id) {
  Link& link = links[id];
  if (link.prev != kNil) {
    links[link.prev].next = link.next;
  } else {
    head = link.next;
  }
  if (link.next != kNil) {
    links[link.next].prev = link.prev;
  } else {
    tail = link.prev;
  }
  link.prev = link.next = kNil;
}

std::uint32_t FlowTable::find(const net::FlowKey& key, std::uint32_t hash) const {
  std::uint64_t i = hash & mask_;
  for (;;) {
    const std::uint64_t entry = index_[i];
    if (entry == 0) return kNil;
    if (static_cast<std::uint32_t>(entry >> 32) == hash) {
      const auto id = static_cast<std::uint32_t>(entry) - 1;
      if (slots_[id].key == key) return id;
    }
    i = (i + 1) & mask_;
  }
}

void FlowTable::index_erase(std::uint32_t id) {
  std::uint64_t i = slots_[id].hash & mask_;
  while (static_cast<std::uint32_t>(index_[i]) != id + 1) i = (i + 1) & mask_;
  // Backward-shift deletion: pull later entries of the probe run into the hole, so lookups never
  // need tombstones and a churn of short-lived flows cannot degrade the table.
  std::uint64_t j = i;
  for (;;) {
    j = (j + 1) & mask_;
    const std::uint64_t entry = index_[j];
    if (entry == 0) break;
    const std::uint64_t home = static_cast<std::uint32_t>(entry >> 32) & mask_;
    const bool home_in_hole_to_j = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!home_in_hole_to_j) {
      index_[i] = entry;
      i = j;
    }
  }
  index_[i] = 0;
}

std::uint32_t FlowTable::create(const net::FlowKey& key, std::uint32_t hash, bool src_is_a,
                                const net::Packet& first) {
  if (stats_.current >= config_.max_flows) {
    const std::uint32_t victim = lru_.head;
    if (slots_[victim].acc.packets() > 0) ++stats_.evicted;
    end(victim, EndReason::kEvicted);
  }
  std::uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = next_unused_++;
    if (id >= populated_) {
      (void)slots_.populate(id, kPopulateIds);
      (void)sequences_.populate(std::size_t{id} * config_.first_packets,
                                std::size_t{kPopulateIds} * config_.first_packets);
      populated_ = id + kPopulateIds;
    }
    new (&slots_[id]) Slot();
  }
  Slot& s = slots_[id];
  s.key = key;
  s.hash = hash;
  // Zeek's initiator rules (CICFlowMeter's mode keeps the first packet's source).
  const bool flip = !config_.cic_mode && initiator_is_destination(first);
  s.initiator_is_a = flip ? !src_is_a : src_is_a;
  if (flip) ++stats_.flipped;
  s.closed = false;
  s.conn.start(first.ip_proto, flip);
  s.parent =
      first.outer ? net::community_id(*first.outer, config_.community_id_seed) : net::CommunityId{};
  if (first.outer) ++stats_.tunnelled;
  s.replied = false;
  s.confirmed = false;
  s.next_progress_age = config_.progress_after.count();
  s.next_progress = config_.progress_packets;
  s.acc.reset();

  std::uint64_t i = hash & mask_;
  while (index_[i] != 0) i = (i + 1) & mask_;
  index_[i] = (static_cast<std::uint64_t>(hash) << 32) | (id + 1);

  age_.links[id] = Link{kNil, kNil, 0};
  linger_.links[id] = Link{kNil, kNil, 0};
  lru_.push_back(id, now_);
  ++stats_.current;
  stats_.peak = std::max(stats_.peak, stats_.current);
  return id;
}

bool FlowTable::build_record(std::uint32_t id, EndReason reason, FlowRecord& record) {
  const Slot& s = slots_[id];
  if (s.acc.packets() == 0) return false;
  if (config_.cic_mode && s.acc.packets() == 1) {
    ++stats_.single_packet_suppressed;
    return false;
  }
  fill_record(id, reason, record);
  ++stats_.emitted[static_cast<std::size_t>(reason)];
  return true;
}

void FlowTable::fill_record(std::uint32_t id, EndReason reason, FlowRecord& record) {
  const Slot& s = slots_[id];
  const net::FlowKey& key = s.key;
  const bool a = s.initiator_is_a;
  record.src_ip.bytes = a ? key.addr_a : key.addr_b;
  record.dst_ip.bytes = a ? key.addr_b : key.addr_a;
  record.src_ip.family = record.dst_ip.family = key.family;
  record.src_port = a ? key.port_a : key.port_b;
  record.dst_port = a ? key.port_b : key.port_a;
  record.ip_proto = key.ip_proto;
  record.vlan = key.vlan_id();
  record.end_reason = reason;
  s.acc.finish(record, sequence(id));
  record.community_id =
      net::community_id(record.src_ip, record.dst_ip, record.ip_proto, record.src_port,
                        record.dst_port, config_.community_id_seed);
  record.conn_state = s.conn.state(s.acc.forward_packets(), s.acc.backward_packets());
  record.history = s.conn.history();
  record.tunnel_parent = s.parent;
}

std::size_t FlowTable::report_ongoing(std::int64_t previous_now_ns, std::int64_t now_ns,
                                      std::int64_t min_age_ns, std::int64_t interval_ns,
                                      FlowSink& sink) {
  if (interval_ns <= 0 || now_ns <= previous_now_ns) return 0;
  std::size_t reported = 0;
  // The age list runs oldest first (by first packet), so the walk stops at the first young flow.
  for (std::uint32_t id = age_.head; id != kNil; id = age_.links[id].next) {
    const std::int64_t start = age_.links[id].time_ns;
    const std::int64_t age = now_ns - start;
    if (age < min_age_ns) break;
    const std::int64_t before = previous_now_ns - start;
    if (before >= 0 && before / interval_ns == age / interval_ns) continue;
    if (slots_[id].acc.packets() == 0) continue;
    // Only flows that moved since the last report: an idle one has nothing new to judge.
    if (lru_.links[id].time_ns < previous_now_ns) continue;
    FlowRecord record;
    fill_record(id, EndReason::kOngoing, record);
    sink.on_flow(std::move(record));
    ++reported;
  }
  return reported;
}

void FlowTable::end(std::uint32_t id, EndReason reason) {
  FlowRecord record;
  const bool emit = build_record(id, reason, record);
  if (age_.contains(id)) age_.unlink(id);
  if (linger_.contains(id)) linger_.unlink(id);
  lru_.unlink(id);
  index_erase(id);
  free_.push_back(id);
  --stats_.current;
  // Delivered last, so the table is consistent even if the sink throws.
  if (emit) sink_.on_flow(std::move(record));
}

void FlowTable::split(std::uint32_t id) {
  Slot& s = slots_[id];
  FlowRecord record;
  const bool emit = build_record(id, EndReason::kActive, record);
  age_.unlink(id);
  s.acc.restart_keeping_connection();
  if (emit) sink_.on_flow(std::move(record));
}

EndReason FlowTable::close_reason(std::uint32_t id) const {
  const Slot& s = slots_[id];
  if (s.closed) return s.conn.reset() ? EndReason::kRst : EndReason::kFin;
  return EndReason::kEndOfInput;
}

void FlowTable::expire(std::int64_t now) {
  while (linger_.head != kNil && now - linger_.links[linger_.head].time_ns > linger_ns_) {
    end(linger_.head, close_reason(linger_.head));
  }
  while (lru_.head != kNil && now - lru_.links[lru_.head].time_ns > idle_ns_) {
    const std::uint32_t id = lru_.head;
    end(id, slots_[id].closed ? close_reason(id) : EndReason::kIdle);
  }
  while (age_.head != kNil && now - age_.links[age_.head].time_ns > active_ns_) split(age_.head);
}

void FlowTable::advance(std::int64_t now_ns) {
  now_ = std::max(now_, now_ns);
  expire(now_);
  guard_.tick(now_);
}

void FlowTable::add(const net::Packet& packet) {
  ++stats_.packets;
  if (packet.l3 != net::L3::kIpv4 && packet.l3 != net::L3::kIpv6) {
    ++stats_.non_ip;
    return;
  }
  Keyed keyed;
  keyed.key = net::flow_key_of(packet, keyed.src_is_a);
  keyed.hash = hash_key(keyed.key);
  add_keyed(packet, keyed);
}

void FlowTable::add_batch(std::span<const net::Packet> packets) {
  // Software pipeline: the hash bucket of packet i+8 and the slot of packet i+4 are fetched from
  // memory while packet i is processed, so a stream over many flows waits on fewer cache misses.
  // Prefetching only reads; each packet is still looked up afresh when it is processed.
  constexpr std::size_t kIndexAhead = 8;
  constexpr std::size_t kSlotAhead = 4;
  constexpr std::size_t kRing = 16;
  std::array<Keyed, kRing> ring;
  const std::size_t n = packets.size();
  const auto prepare = [&](std::size_t j) {
    const net::Packet& packet = packets[j];
    Keyed& keyed = ring[j % kRing];
    keyed.ip = packet.l3 == net::L3::kIpv4 || packet.l3 == net::L3::kIpv6;
    if (!keyed.ip) return;
    keyed.key = net::flow_key_of(packet, keyed.src_is_a);
    keyed.hash = hash_key(keyed.key);
    __builtin_prefetch(&index_[keyed.hash & mask_]);
  };
  for (std::size_t j = 0; j < std::min(n, kIndexAhead); ++j) prepare(j);
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kIndexAhead < n) prepare(i + kIndexAhead);
    if (i + kSlotAhead < n) {
      const Keyed& ahead = ring[(i + kSlotAhead) % kRing];
      const std::uint64_t entry = ahead.ip ? index_[ahead.hash & mask_] : 0;
      if (entry != 0 && static_cast<std::uint32_t>(entry >> 32) == ahead.hash) {
        const auto id = static_cast<std::uint32_t>(entry) - 1;
        const auto* bytes = reinterpret_cast<const char*>(&slots_[id]);
        for (std::size_t line = 0; line < sizeof(Slot); line += 64) {
          __builtin_prefetch(bytes + line, 1);
        }
        __builtin_prefetch(&lru_.links[id], 1);
      }
    }
    ++stats_.packets;
    const Keyed& keyed = ring[i % kRing];
    if (!keyed.ip) {
      ++stats_.non_ip;
      continue;
    }
    add_keyed(packets[i], keyed);
  }
}

std::uint32_t FlowTable::hash_key(const net::FlowKey& key) const {
  const std::uint64_t h = net::hash_of(key, seed_);
  return static_cast<std::uint32_t>(h >> 32) ^ static_cast<std::uint32_t>(h);
}

void FlowTable::add_keyed(const net::Packet& packet, const Keyed& keyed) {
  now_ = std::max(now_, packet.ts_ns);
  expire(now_);
  guard_.tick(now_);

  const net::FlowKey& key = keyed.key;
  const std::uint32_t hash = keyed.hash;
  const bool src_is_a = keyed.src_is_a;
  const bool tcp = packet.ip_proto == 6;
  const std::uint8_t flags = tcp ? packet.tcp_flags : 0;

  std::uint32_t id = find(key, hash);
  if (id != kNil && (flags & (net::tcp_flag::kSyn | net::tcp_flag::kAck)) == net::tcp_flag::kSyn) {
    // A fresh SYN after a FIN or RST is a new connection reusing the 5-tuple.
    const Slot& old = slots_[id];
    if (old.closed || old.acc.fin_seen()) {
      end(id, old.closed ? close_reason(id) : EndReason::kFin);
      id = kNil;
    }
  }
  const bool created = id == kNil;
  bool attempt = false;
  bool stray = false;
  if (created && guard_.enabled()) {
    // An attempt or a reply counted in a flood summary starts no flow (flow/flood_guard.h).
    if (tcp) {
      using namespace net::tcp_flag;
      const std::uint8_t handshake = flags & (kSyn | kAck | kRst | kFin);
      if (handshake == kSyn) {
        if (guard_.on_attempt(packet, now_)) return;
        attempt = true;
      } else if ((handshake & (kSyn | kAck)) == (kSyn | kAck) || (handshake & kRst)) {
        // A flooded destination's reply; else a stray too (a RST flood's, a SYN-ACK reflected
        // by a server whose SYNs carried this host's address, a handshake picked up halfway).
        if (guard_.on_reply(packet, now_)) return;
        if (guard_.on_stray(packet, now_)) return;
        stray = true;
      } else if ((handshake & kSyn) == 0) {
        // An ACK, FIN or data segment outside any connection: a stray (an ACK flood's, or a
        // connection picked up mid-stream).
        if (guard_.on_stray(packet, now_)) return;
        stray = true;
      }
    } else if (packet.ip_proto == kUdpProto && packet.has_l4) {
      if (guard_.on_reply(packet, now_) || guard_.on_attempt(packet, now_)) return;
      attempt = true;
    } else if (FloodGuard::echo_request(packet)) {
      if (guard_.on_attempt(packet, now_)) return;
    } else if (FloodGuard::echo_reply(packet)) {
      if (guard_.on_reply(packet, now_)) return;
    } else if (FloodGuard::unreachable(packet)) {
      if (guard_.on_unreachable(packet, now_)) return;
    }
  }
  if (created) {
    id = create(key, hash, src_is_a, packet);
    slots_[id].attempt = attempt;
    slots_[id].stray = stray;
    slots_[id].stray_dst_is_a = !src_is_a;
  }

  Slot& s = slots_[id];
  if (s.acc.packets() == 0) {
    age_.push_back(id, now_);
    ++stats_.flows_created;
  }
  if (lru_.tail != id) {
    lru_.unlink(id);
    lru_.push_back(id, now_);
  } else {
    lru_.links[id].time_ns = now_;
  }
  const bool forward = src_is_a == s.initiator_is_a;
  if (s.attempt && forward &&
      (flags & (net::tcp_flag::kSyn | net::tcp_flag::kAck | net::tcp_flag::kRst)) ==
          net::tcp_flag::kAck &&
      s.acc.backward_packets() > 0) {
    // The handshake's last ACK: the flood guard counts the attempt as completed.
    s.attempt = false;
    guard_.on_completed(packet.dst, packet.dst_port, packet.vlan, 6, s.acc.first_ns());
  } else if (s.attempt && !forward && !tcp) {
    // The destination's first reply to a datagram.
    s.attempt = false;
    guard_.on_completed(packet.src, packet.src_port, packet.vlan, packet.ip_proto,
                        s.acc.first_ns());
  } else if (s.stray && src_is_a == s.stray_dst_is_a && !(flags & net::tcp_flag::kRst)) {
    // The stray's destination carries the connection on (a RST would refuse it).
    s.stray = false;
    guard_.on_completed(packet.src, 0, packet.vlan, 6, s.acc.first_ns(), true);
  }
  // A remnant of a closed connection tells the observer nothing new.
  if (observer_ && !s.closed) observe_moment(id, packet, forward, created);
  s.acc.add(packet, forward, sequence(id));
  if (observer_ && !(flags & net::tcp_flag::kRst) && !s.closed) observe_progress(id);

  if (config_.cic_mode) {
    if (!tcp) return;
    if (flags & net::tcp_flag::kRst) {
      end(id, EndReason::kRst);
    } else if (flags & net::tcp_flag::kFin) {
      end(id, EndReason::kFin);
    }
    return;
  }
  if (s.conn.add(packet, forward)) {
    // A SYN answering the SYN-ACK seen first: the other side is the initiator after all.
    s.initiator_is_a = !s.initiator_is_a;
    s.acc.swap_directions(sequence(id));
    s.conn.flip();
    ++stats_.reversed;
  }
  if (s.closed) {
    ++stats_.remnants;  // belongs to the closed connection, which keeps lingering
    return;
  }
  if (tcp && s.conn.closed()) {
    if (s.conn.reset()) {
      // A connection rejected or aborted before it was established (a closed port's RST, a
      // scanner's own RST) ends at once: no remnant can follow, and scan probes reach the
      // detectors without waiting.
      const ConnState state = s.conn.state(s.acc.forward_packets(), s.acc.backward_packets());
      if (state == ConnState::kREJ || state == ConnState::kRSTOS0 || state == ConnState::kRSTRH) {
        end(id, EndReason::kRst);
        return;
      }
    }
    s.closed = true;
    linger_.push_back(id, now_);
  }
}

void FlowTable::observe_moment(std::uint32_t id, const net::Packet& packet, bool forward,
                               bool created) {
  Slot& s = slots_[id];
  FlowMoment moment;
  if (created) {
    moment = FlowMoment::kStart;
  } else if (!forward && !s.replied) {
    s.replied = true;
    moment = FlowMoment::kReply;
  } else if (forward && s.replied && !s.confirmed) {
    s.confirmed = true;
    moment = FlowMoment::kConfirm;
  } else {
    return;
  }
  const net::FlowKey& key = s.key;
  const bool a = s.initiator_is_a;
  FlowEvent event;
  event.ts_ns = now_;
  event.start_ns = created ? now_ : s.acc.first_ns();
  event.src.bytes = a ? key.addr_a : key.addr_b;
  event.dst.bytes = a ? key.addr_b : key.addr_a;
  event.src.family = event.dst.family = key.family;
  event.src_port = a ? key.port_a : key.port_b;
  event.dst_port = a ? key.port_b : key.port_a;
  event.vlan = key.vlan_id();
  event.ip_proto = key.ip_proto;
  event.moment = moment;
  event.tcp_flags = packet.ip_proto == 6 ? packet.tcp_flags : 0;
  if (packet.ip_proto == 1 || packet.ip_proto == 58) {
    event.icmp_type = packet.icmp_type;
    event.icmp_code = packet.icmp_code;
  }
  event.wire_len = packet.wire_len;
  event.payload_len = packet.payload_len;
  observer_->on_flow_event(event);
}

void FlowTable::observe_progress(std::uint32_t id) {
  Slot& s = slots_[id];
  // Milestones carry on across an active-timeout split: the same connection is not reported again
  // at N packets (its record's count restarts, the next milestone does not).
  const std::uint64_t packets = s.acc.packets();
  bool report = false;
  if (s.next_progress != 0 && packets >= s.next_progress) {
    s.next_progress *= 8;
    report = true;
  }
  const std::int64_t age = now_ - s.acc.first_ns();
  if (s.next_progress_age > 0 && packets > 1 && age >= s.next_progress_age) {
    while (s.next_progress_age <= age) s.next_progress_age *= 2;
    report = true;
  }
  if (!report) return;
  FlowRecord record;
  fill_record(id, EndReason::kOngoing, record);
  observer_->on_flow_progress(std::move(record));
}

void FlowTable::flush() {
  guard_.flush();
  while (lru_.head != kNil) end(lru_.head, close_reason(lru_.head));
}

}  // namespace netsentry::flow
