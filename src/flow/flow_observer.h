// Provides flow::FlowObserver, an optional listener that FlowTable tells about a flow while it is
// still open, so detectors can act within seconds instead of waiting for the flow to end:
//  * moments: the flow's first packet (kStart), the responder's first packet (kReply) and the
//    initiator's first packet after that reply (kConfirm: for TCP normally the handshake's last
//    ACK, or a scanner's RST), each as a small FlowEvent;
//  * progress: a record of the flow so far (end reason kOngoing) once it has
//    FlowConfig::progress_packets packets and again at every 8x that count (N, 8N, 64N, ...), and
//    at its first packet progress_after or more after its start, and after each doubling of that
//    age (T, 2T, 4T, ...): a few reports per flow, however long it lives;
//  * flood summaries: the SYNs (and the victim's replies) that the flow table counted for a
//    flooded destination instead of starting a flow for each (flow/flood_guard.h).
// A flow split by the active timeout keeps its moments and milestones (it is the same connection).
// Without an observer the table does no work for any of this (one pointer test per packet).
// Thread rules: called on the FlowTable's thread, inside add(), add_batch(); keep it cheap (copy
// into a batch). The FlowEvent is valid only during the call.
#pragma once

#include <cstdint>

#include "flow/flow_record.h"
#include "net/packet.h"

namespace netsentry::flow {

enum class FlowMoment : std::uint8_t {
  kStart,    // the flow's first packet (sent by the initiator)
  kReply,    // the responder's first packet
  kConfirm,  // the initiator's first packet after the reply
};

struct FlowEvent {
  std::int64_t ts_ns = 0;     // this packet's time
  std::int64_t start_ns = 0;  // the flow's first packet
  net::IpAddress src;         // the initiator (as in FlowRecord), whoever sent this packet
  net::IpAddress dst;
  std::uint16_t src_port = 0;  // ICMP: the flow key's pseudo-ports (type, counterpart/code)
  std::uint16_t dst_port = 0;
  std::uint16_t vlan = 0;
  std::uint8_t ip_proto = 0;
  FlowMoment moment = FlowMoment::kStart;
  std::uint8_t tcp_flags = 0;  // this packet's (0 when not TCP)
  std::uint8_t icmp_type = 0;  // this packet's (0 when not ICMP)
  std::uint8_t icmp_code = 0;
  std::uint32_t wire_len = 0;  // this packet's
  std::uint32_t payload_len = 0;
};

// One step of a weighted Boyer-Moore majority vote over addresses (or ports): `votes` more for
// `candidate`. `leader` and `lead` start as {} and 0.
template <class T>
inline void majority_vote(T& leader, std::uint64_t& lead, const T& candidate, std::uint64_t votes) {
  if (lead == 0) {
    leader = candidate;
    lead = votes;
  } else if (leader == candidate) {
    lead += votes;
  } else if (votes > lead) {
    leader = candidate;
    lead = votes - lead;
  } else {
    lead -= votes;
  }
}
// No address cast 80 % of `total` votes: a lead of 80 % means the leader cast at least that
// many, and one that cast 90 % always has it.
[[nodiscard]] inline bool no_majority(std::uint64_t lead, std::uint64_t total) {
  return lead * 5 < total * 4;
}

// A flooded destination's counts since its previous summary (flow/flood_guard.h): attempts to it
// that started no flow (TCP SYNs, UDP datagrams, ICMP echo requests), and its replies to them.
struct FloodSummary {
  std::int64_t first_ns = 0;  // the first and the last packet counted in this summary
  std::int64_t last_ns = 0;
  net::IpAddress dst;  // the flooded destination
  std::uint16_t dst_port = 0;
  std::uint16_t vlan = 0;
  std::uint8_t ip_proto = 6;  // 6, 17, 1 or 58 (echo requests: dst_port 0)
  bool all_ports = false;     // SYNs or datagrams to every port of dst (dst_port 0): a spray
  bool strays = false;  // with all_ports: TCP packets outside any connection (ACK, RST floods)
  // Nonzero: attempts to every host of the network dst/prefix (IPv4 /24, IPv6 /64; dst is its
  // first address), with all_ports: a flood spread over many hosts ("carpet bombing"); or of the
  // block dst/prefix (IPv4 /16, IPv6 /48: block()), a flood spread over its networks, each of
  // which got too few for its own count.
  std::uint8_t prefix = 0;
  bool started = false;        // the flood's first summary
  bool ended = false;          // its last: the destination calmed down, or the input ended
  std::uint64_t attempts = 0;  // attempts to it: SYNs, UDP datagrams or echo requests
  std::uint64_t attempt_bytes = 0;
  std::uint64_t replies = 0;      // its replies: SYN-ACKs and RSTs, datagrams, echo replies
  std::uint64_t resets = 0;       // RSTs to it (a flooding host's kernel resetting the SYN-ACKs)
  std::uint64_t reply_bytes = 0;  // of the replies and resets
  // The attempts' source when one address sent most of them (a flood from one host, though
  // clients keep connecting to the flooded server: their SYNs are counted here too).
  net::IpAddress source;
  std::uint64_t source_lead = 0;     // its lead in a majority vote over the attempts (Boyer-Moore)
  std::uint64_t total_attempts = 0;  // since the flood started, this summary's included
  std::uint64_t total_replies = 0;   // replies and resets
  // No address sent at least 80 % of the attempts (see no_majority()).
  [[nodiscard]] bool many_sources() const { return no_majority(source_lead, attempts); }
  // A summary of a block of networks (see prefix).
  [[nodiscard]] bool block() const;
};

// `address` with every bit past its IPv4 /`v4` or IPv6 /`v6` prefix cleared (whole bytes).
[[nodiscard]] inline net::IpAddress first_address_of(const net::IpAddress& address, std::uint8_t v4,
                                                     std::uint8_t v6) {
  net::IpAddress n = address;
  const std::size_t keep = (address.family == 6 ? v6 : v4) / 8u;
  for (std::size_t i = keep; i < n.bytes.size(); ++i) n.bytes[i] = 0;
  return n;
}
// The network a flood spread over many hosts is counted in (FloodSummary::prefix): `address`'s
// IPv4 /24 or IPv6 /64, as its first address, and that prefix length.
[[nodiscard]] inline std::uint8_t flood_prefix_of(const net::IpAddress& address) {
  return address.family == 6 ? 64 : 24;
}
[[nodiscard]] inline net::IpAddress flood_network_of(const net::IpAddress& address) {
  return first_address_of(address, 24, 64);
}
// The block of neighbouring networks a flood spread over them is counted in: `address`'s IPv4
// /16 or IPv6 /48, as its first address, and that prefix length.
[[nodiscard]] inline std::uint8_t flood_block_prefix_of(const net::IpAddress& address) {
  return address.family == 6 ? 48 : 16;
}
[[nodiscard]] inline net::IpAddress flood_block_of(const net::IpAddress& address) {
  return first_address_of(address, 16, 48);
}
inline bool FloodSummary::block() const {
  return prefix != 0 && prefix == flood_block_prefix_of(dst);
}

class FlowObserver {
 public:
  virtual ~FlowObserver() = default;
  virtual void on_flow_event(const FlowEvent& event) = 0;
  // A record of an open flow (end_reason kOngoing); the flow itself goes on unchanged.
  virtual void on_flow_progress(FlowRecord&& record) = 0;
  // A flooded destination's summary (at most about once a packet-time second per destination).
  virtual void on_flood_summary(const FloodSummary& /*summary*/) {}
};

}  // namespace netsentry::flow
