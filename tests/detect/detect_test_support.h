// Test helpers for tests/detect: flow records filled field by field, shaped like the flows the
// flow table produces for probes, handshakes and sessions. Thread rules: single-threaded tests.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "flow/flow_observer.h"
#include "flow/flow_record.h"
#include "net/packet.h"

namespace netsentry::detect::testing {

inline constexpr std::int64_t kMs = 1'000'000;
inline constexpr std::int64_t kSec = 1'000'000'000;
inline constexpr std::int64_t kT0 = 1'499'344'746'000'000'000;  // 2017-07-06 12:39:06 UTC

inline net::IpAddress ip(const char* text) {
  net::IpAddress out;
  net::IpAddress::parse(text, out);
  return out;
}

inline net::IpAddress ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  net::IpAddress out;
  out.family = 4;
  out.bytes[0] = a;
  out.bytes[1] = b;
  out.bytes[2] = c;
  out.bytes[3] = d;
  return out;
}

struct Pkt {
  std::int8_t direction;
  std::uint8_t flags;
  std::uint32_t size = 0;
};

// A flow whose first packets (and the matching counters) are `packets`.
inline flow::FlowRecord flow_of(const net::IpAddress& src, std::uint16_t sport,
                                const net::IpAddress& dst, std::uint16_t dport, std::uint8_t proto,
                                std::int64_t start_ns, std::int64_t duration_ns,
                                std::initializer_list<Pkt> packets) {
  using flow::CicFeature;
  flow::FlowRecord r;
  r.src_ip = src;
  r.dst_ip = dst;
  r.src_port = sport;
  r.dst_port = dport;
  r.ip_proto = proto;
  r.start_ns = start_ns;
  r.end_ns = start_ns + duration_ns;
  r.duration_s = double(duration_ns) / 1e9;
  auto& c = r.cic;
  auto at = [&c](CicFeature f) -> double& { return c[static_cast<std::size_t>(f)]; };
  at(CicFeature::kIcmpType) = -1;
  for (const Pkt& p : packets) {
    r.first_packets.push_back({p.size, 0, p.direction, p.flags});
    ++r.packet_count;
    r.byte_count += 54 + p.size;
    at(p.direction > 0 ? CicFeature::kTotalFwdPacket : CicFeature::kTotalBwdPackets) += 1;
    at(p.direction > 0 ? CicFeature::kTotalLengthFwd : CicFeature::kTotalLengthBwd) += p.size;
    if (p.flags & net::tcp_flag::kSyn) at(CicFeature::kSynFlagCount) += 1;
    if (p.flags & net::tcp_flag::kAck) at(CicFeature::kAckFlagCount) += 1;
    if (p.flags & net::tcp_flag::kRst) at(CicFeature::kRstFlagCount) += 1;
    if (proto == 6 && (p.flags & net::tcp_flag::kSyn)) {
      // The handshake's letters of Zeek's history, as the flow table writes them (once each):
      // S/s a SYN from the originator/responder, H/h a SYN-ACK.
      const bool ack = (p.flags & net::tcp_flag::kAck) != 0;
      const char letter = p.direction > 0 ? (ack ? 'H' : 'S') : (ack ? 'h' : 's');
      if (r.history.view().find(letter) == std::string_view::npos) r.history.push(letter);
    }
  }
  return r;
}

inline constexpr std::uint8_t kSyn = net::tcp_flag::kSyn;
inline constexpr std::uint8_t kAck = net::tcp_flag::kAck;
inline constexpr std::uint8_t kRst = net::tcp_flag::kRst;
inline constexpr std::uint8_t kPsh = net::tcp_flag::kPsh;
inline constexpr std::uint8_t kFin = net::tcp_flag::kFin;

// SYN answered by RST-ACK: a closed port probed by a SYN scan.
inline flow::FlowRecord syn_probe(const net::IpAddress& src, const net::IpAddress& dst,
                                  std::uint16_t dport, std::int64_t start_ns) {
  return flow_of(src, 40000, dst, dport, 6, start_ns, 1 * kMs,
                 {{+1, kSyn}, {-1, static_cast<std::uint8_t>(kRst | kAck)}});
}

// SYN, SYN-ACK and nothing more: a half-open connection (a spoofed SYN flood).
inline flow::FlowRecord half_open(const net::IpAddress& src, std::uint16_t sport,
                                  const net::IpAddress& dst, std::uint16_t dport,
                                  std::int64_t start_ns) {
  return flow_of(src, sport, dst, dport, 6, start_ns, 1 * kMs,
                 {{+1, kSyn}, {-1, static_cast<std::uint8_t>(kSyn | kAck)}});
}

// A complete short TCP session with some payload each way (a login attempt, a web request).
inline flow::FlowRecord session(const net::IpAddress& src, std::uint16_t sport,
                                const net::IpAddress& dst, std::uint16_t dport,
                                std::int64_t start_ns, std::uint32_t payload = 300) {
  const auto sa = static_cast<std::uint8_t>(kSyn | kAck);
  const auto pa = static_cast<std::uint8_t>(kPsh | kAck);
  const auto fa = static_cast<std::uint8_t>(kFin | kAck);
  return flow_of(src, sport, dst, dport, 6, start_ns, 200 * kMs,
                 {{+1, kSyn},
                  {-1, sa},
                  {+1, kAck},
                  {+1, pa, payload},
                  {-1, pa, payload},
                  {+1, fa},
                  {-1, fa},
                  {+1, kAck}});
}

// A long one-way trickle from 10.0.0.70 to 10.0.0.1:4444 (240 packets, 96 kB over two minutes):
// nothing like a web session. `handshake`: its first packets are a TCP handshake (else none kept).
inline flow::FlowRecord one_way_trickle(std::uint16_t sport, std::int64_t start_ns,
                                        bool handshake) {
  flow::FlowRecord r =
      handshake
          ? flow_of(ip("10.0.0.70"), sport, ip("10.0.0.1"), 4444, 6, start_ns, 120 * kSec,
                    {{+1, kSyn}, {-1, static_cast<std::uint8_t>(kSyn | kAck)}, {+1, kAck}})
          : flow_of(ip("10.0.0.70"), sport, ip("10.0.0.1"), 4444, 6, start_ns, 120 * kSec, {});
  r.packet_count = 240;
  r.byte_count = 96'000;
  r.cic[static_cast<std::size_t>(flow::CicFeature::kTotalFwdPacket)] = 240;
  r.cic[static_cast<std::size_t>(flow::CicFeature::kTotalLengthFwd)] = 96'000;
  r.cic[static_cast<std::size_t>(flow::CicFeature::kFlowDuration)] = 120e6;
  return r;
}

// A one-way UDP flow of `packets` datagrams.
inline flow::FlowRecord udp_flow(const net::IpAddress& src, std::uint16_t sport,
                                 const net::IpAddress& dst, std::uint16_t dport,
                                 std::int64_t start_ns, std::int64_t duration_ns,
                                 std::uint64_t packets, bool reply = false) {
  flow::FlowRecord r = flow_of(src, sport, dst, dport, 17, start_ns, duration_ns, {{+1, 0, 100}});
  r.cic[static_cast<std::size_t>(flow::CicFeature::kTotalFwdPacket)] = double(packets);
  r.packet_count = packets;
  if (reply) r.cic[static_cast<std::size_t>(flow::CicFeature::kTotalBwdPackets)] = 1;
  return r;
}

// A flow event as the flow table tells it: `moment` of the flow src:sport -> dst:dport that
// started at start_ns, seen at ts_ns with this packet's TCP flags (or ICMP type).
inline flow::FlowEvent event(flow::FlowMoment moment, const net::IpAddress& src,
                             std::uint16_t sport, const net::IpAddress& dst, std::uint16_t dport,
                             std::uint8_t proto, std::int64_t start_ns, std::int64_t ts_ns,
                             std::uint8_t flags = 0, std::uint8_t icmp_type = 0) {
  flow::FlowEvent e;
  e.moment = moment;
  e.src = src;
  e.dst = dst;
  e.src_port = sport;
  e.dst_port = dport;
  e.ip_proto = proto;
  e.start_ns = start_ns;
  e.ts_ns = ts_ns;
  e.tcp_flags = proto == 6 ? flags : 0;
  e.icmp_type = icmp_type;
  e.wire_len = 60;
  return e;
}

}  // namespace netsentry::detect::testing
