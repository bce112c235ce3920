#include "detect/attempt_tracker.h"

#include <algorithm>
#include <bit>

#include "detect/detector_support.h"

namespace netsentry::detect {

namespace {

using flow::CicFeature;
using net::tcp_flag::kAck;
using net::tcp_flag::kRst;
using net::tcp_flag::kSyn;

bool echo_request(std::uint8_t proto, int type) {
  return (proto == kIcmp && type == 8) || (proto == kIcmpv6 && type == 128);
}

std::uint64_t id_of(std::int64_t start_ns, const net::IpAddress& src, const net::IpAddress& dst,
                    std::uint16_t src_port, std::uint16_t dst_port, std::uint8_t proto) {
  return FlowRef{start_ns, src, dst, src_port, dst_port, proto}.hash();
}

// The responder's first packet was a reset (from the packet summaries, else its RST count).
bool refused(const flow::FlowRecord& r) {
  for (const flow::PacketSummary& p : r.first_packets) {
    if (p.direction < 0) return (p.tcp_flags & kRst) != 0;
  }
  return r[CicFeature::kBwdRstFlags] > 0;
}

}  // namespace

AttemptTracker::AttemptTracker(AttemptTrackerOptions options) : options_(options) {
  options_.max_pending = std::max<std::size_t>(1, options_.max_pending);
  resize(std::min(options_.max_pending, kInitialRing));
}

void AttemptTracker::resize(std::size_t ring_size) {
  // The entries (holes too, so the ring fills exactly as a full-size one would) move to the
  // front in ring order, and the index is rebuilt for their new positions.
  std::vector<Pending> ring(ring_size);
  for (std::size_t i = 0; i < count_; ++i) ring[i] = ring_[(head_ + i) % ring_.size()];
  ring_ = std::move(ring);
  head_ = 0;
  const std::size_t capacity = std::bit_ceil(std::max<std::size_t>(16, ring_size * 2));
  index_ids_.assign(capacity, 0);
  index_pos_.assign(capacity, 0);
  index_mask_ = capacity - 1;
  for (std::size_t i = 0; i < count_; ++i) {
    if (ring_[i].live) index_insert(ring_[i].id, static_cast<std::uint32_t>(i));
  }
}

std::uint32_t AttemptTracker::find(std::uint64_t id) const {
  for (std::size_t i = id & index_mask_;; i = (i + 1) & index_mask_) {
    if (index_pos_[i] == 0) return kNone;
    if (index_ids_[i] == id) return index_pos_[i] - 1;
  }
}

void AttemptTracker::index_insert(std::uint64_t id, std::uint32_t position) {
  std::size_t i = id & index_mask_;
  while (index_pos_[i] != 0) i = (i + 1) & index_mask_;
  index_ids_[i] = id;
  index_pos_[i] = position + 1;
}

void AttemptTracker::index_erase(std::uint64_t id) {
  std::size_t i = id & index_mask_;
  while (index_pos_[i] != 0 && index_ids_[i] != id) i = (i + 1) & index_mask_;
  if (index_pos_[i] == 0) return;
  // Backward-shift deletion: no tombstones, so a churn of attempts cannot degrade the table.
  std::size_t j = i;
  for (;;) {
    j = (j + 1) & index_mask_;
    if (index_pos_[j] == 0) break;
    const std::size_t home = index_ids_[j] & index_mask_;
    const bool home_in_hole_to_j = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!home_in_hole_to_j) {
      index_ids_[i] = index_ids_[j];
      index_pos_[i] = index_pos_[j];
      i = j;
    }
  }
  index_pos_[i] = 0;
}

void AttemptTracker::remove(std::uint32_t position) {
  Pending& p = ring_[position];
  index_erase(p.id);
  p.live = false;
  --live_;
  pop_dead();
}

void AttemptTracker::pop_dead() {
  while (count_ > 0 && !ring_[head_].live) {
    head_ = (head_ + 1) % ring_.size();
    --count_;
  }
}

void AttemptTracker::tell(Attempt attempt, std::vector<Attempt>& out) {
  ++stats_.attempts;
  out.push_back(attempt);
}

void AttemptTracker::resolve(Pending& p, std::int64_t now_ns, std::vector<Attempt>& out) {
  Attempt a = p.attempt;
  a.time_ns = std::max(now_ns, a.start_ns);
  if (a.ip_proto == kTcp) {
    a.outcome = p.syn_ack ? AttemptOutcome::kHalfOpen : AttemptOutcome::kUnanswered;
  } else {
    a.outcome = AttemptOutcome::kUnanswered;
  }
  tell(a, out);
}

void AttemptTracker::on_flow_event(const flow::FlowEvent& ev, std::vector<Attempt>& out) {
  events_ = true;
  const bool tcp = ev.ip_proto == kTcp;
  const std::uint64_t id =
      id_of(ev.start_ns, ev.src, ev.dst, ev.src_port, ev.dst_port, ev.ip_proto);
  if (ev.moment == flow::FlowMoment::kStart) {
    const bool candidate = tcp ? (ev.tcp_flags & (kSyn | kAck)) == kSyn
                               : ev.ip_proto == kUdp || echo_request(ev.ip_proto, ev.icmp_type);
    if (!candidate || find(id) != kNone) return;
    if (count_ == ring_.size() && ring_.size() < options_.max_pending) {
      resize(std::min(options_.max_pending, ring_.size() * 2));
    }
    if (count_ == ring_.size()) {
      // Full: the oldest waiting attempt is judged now, as if its time had run out.
      const auto oldest = static_cast<std::uint32_t>(head_);
      resolve(ring_[oldest], ev.ts_ns, out);
      ++stats_.judged_early;
      remove(oldest);
    }
    const auto position = static_cast<std::uint32_t>((head_ + count_) % ring_.size());
    Pending& p = ring_[position];
    p.attempt = Attempt{};
    p.attempt.start_ns = ev.start_ns;
    p.attempt.src = ev.src;
    p.attempt.dst = ev.dst;
    p.attempt.src_port = ev.src_port;
    p.attempt.dst_port = ev.dst_port;
    p.attempt.ip_proto = ev.ip_proto;
    p.id = id;
    p.deadline = ev.ts_ns + options_.unanswered_after_ns;
    p.syn_ack = false;
    p.live = true;
    ++count_;
    ++live_;
    index_insert(id, position);
    return;
  }
  const std::uint32_t position = find(id);
  if (position == kNone) return;
  Pending& p = ring_[position];
  Attempt a = p.attempt;
  a.time_ns = ev.ts_ns;
  if (ev.moment == flow::FlowMoment::kReply) {
    if (!tcp) {
      remove(position);  // answered: a served UDP or ICMP exchange is not told
      return;
    }
    if (ev.tcp_flags & kRst) {
      a.outcome = AttemptOutcome::kRefused;
      tell(a, out);
      remove(position);
    } else if ((ev.tcp_flags & (kSyn | kAck)) == (kSyn | kAck)) {
      p.syn_ack = true;
    }
    return;
  }
  // kConfirm: the initiator's answer to the reply.
  if (!tcp) return;
  if (!p.syn_ack) {
    // Data after a reply that was not a SYN-ACK (mid-stream or odd): nothing to judge.
    remove(position);
    return;
  }
  if (ev.tcp_flags & kRst) {
    a.outcome = AttemptOutcome::kReset;
  } else if ((ev.tcp_flags & kAck) && !(ev.tcp_flags & kSyn)) {
    a.outcome = AttemptOutcome::kCompleted;
  } else {
    return;  // a retransmitted SYN: keep waiting
  }
  tell(a, out);
  remove(position);
}

void AttemptTracker::on_flow_finished(const flow::FlowRecord& r, std::vector<Attempt>& out) {
  const bool tcp = r.ip_proto == kTcp;
  const bool answered = r[CicFeature::kTotalBwdPackets] > 0;
  Attempt a;
  a.time_ns = std::max(r.end_ns, r.start_ns);
  a.start_ns = r.start_ns;
  a.src = r.src_ip;
  a.dst = r.dst_ip;
  a.src_port = r.src_port;
  a.dst_port = r.dst_port;
  a.ip_proto = r.ip_proto;
  const TcpHandshake hs = tcp ? tcp_handshake(r) : TcpHandshake{};
  const bool reset_empty =
      hs.completed && payload_bytes(r) == 0 && r[CicFeature::kRstFlagCount] > 0;
  if (events_) {
    const std::uint32_t position = find(FlowRef::of(r).hash());
    if (position == kNone) {
      // Judged already; a served connection reset without payload is a probe after all.
      if (reset_empty) {
        a.outcome = AttemptOutcome::kReset;
        a.repeat = true;
        tell(a, out);
      }
      return;
    }
    remove(position);
  }
  if (tcp) {
    if (!hs.attempt) return;
    if (hs.completed) {
      a.outcome = reset_empty ? AttemptOutcome::kReset : AttemptOutcome::kCompleted;
    } else if (!answered) {
      a.outcome = AttemptOutcome::kUnanswered;
    } else if (refused(r)) {
      a.outcome = AttemptOutcome::kRefused;
    } else {
      a.outcome = AttemptOutcome::kHalfOpen;
    }
    tell(a, out);
    return;
  }
  const bool candidate =
      r.ip_proto == kUdp || echo_request(r.ip_proto, static_cast<int>(r[CicFeature::kIcmpType]));
  if (!candidate || answered) return;
  a.outcome = AttemptOutcome::kUnanswered;
  tell(a, out);
}

void AttemptTracker::advance(std::int64_t now_ns, std::vector<Attempt>& out) {
  pop_dead();
  while (count_ > 0 && ring_[head_].deadline <= now_ns) {
    const auto oldest = static_cast<std::uint32_t>(head_);
    resolve(ring_[oldest], ring_[oldest].deadline, out);
    remove(oldest);
  }
}

void AttemptTracker::flush(std::vector<Attempt>& out) {
  pop_dead();
  while (count_ > 0) {
    const auto oldest = static_cast<std::uint32_t>(head_);
    resolve(ring_[oldest], ring_[oldest].deadline, out);
    remove(oldest);
  }
}

AttemptTrackerStats AttemptTracker::stats() const {
  AttemptTrackerStats s = stats_;
  s.pending = live_;
  return s;
}

}  // namespace netsentry::detect
