// Per-packet decoder. Every read is preceded by a length check against the captured bytes; lengths
// from headers only ever shrink the region we look at, never grow it past the capture.
#include "net/decoder.h"

#include <algorithm>
#include <cstddef>

namespace netsentry::net {
namespace {

using Bytes = std::span<const std::uint8_t>;

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherArp = 0x0806;
constexpr std::uint16_t kEtherIpv6 = 0x86DD;
constexpr std::uint16_t kEtherVlan = 0x8100;
constexpr std::uint16_t kEtherQinQ = 0x88A8;
constexpr std::uint16_t kEtherQinQLegacy = 0x9100;
constexpr std::uint16_t kEtherPppoeSession = 0x8864;
constexpr std::uint16_t kEtherMplsUnicast = 0x8847;
constexpr std::uint16_t kEtherMplsMulticast = 0x8848;
constexpr std::uint16_t kPppIpv4 = 0x0021;
constexpr std::uint16_t kPppIpv6 = 0x0057;
constexpr std::size_t kPppoeHeaderLen = 8;  // 6-byte PPPoE session header + 2-byte PPP protocol
constexpr std::size_t kMplsLabelLen = 4;
constexpr int kMaxMplsLabels = 8;
constexpr int kMaxVlanTags = 2;

constexpr std::size_t kEthernetHeaderLen = 14;
constexpr std::size_t kSllHeaderLen = 16;
constexpr std::size_t kSll2HeaderLen = 20;
constexpr std::size_t kNullHeaderLen = 4;
constexpr std::size_t kVlanTagLen = 4;
constexpr std::size_t kIpv4MinHeaderLen = 20;
constexpr std::size_t kIpv6HeaderLen = 40;
constexpr std::size_t kTcpMinHeaderLen = 20;
constexpr std::size_t kUdpHeaderLen = 8;
constexpr std::size_t kIcmpHeaderLen = 8;
constexpr std::size_t kArpIpv4Len = 28;

constexpr std::uint8_t kProtoIcmp = 1;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint8_t kProtoIcmpv6 = 58;
constexpr std::uint8_t kIpv6HopByHop = 0;
constexpr std::uint8_t kIpv6Routing = 43;
constexpr std::uint8_t kIpv6Fragment = 44;
constexpr std::uint8_t kIpv6Ah = 51;
constexpr std::uint8_t kIpv6DestOptions = 60;

// BSD address-family values for IPv6 differ by OS: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
constexpr std::uint32_t kAfInet = 2;
constexpr bool is_af_inet6(std::uint32_t family) {
  return family == 24 || family == 28 || family == 30;
}

inline std::uint16_t load16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
inline std::uint32_t load32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}
inline std::uint32_t load32_le(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[3]) << 24 | static_cast<std::uint32_t>(p[2]) << 16 |
         static_cast<std::uint32_t>(p[1]) << 8 | p[0];
}

inline void set_address(IpAddress& address, const std::uint8_t* p, std::size_t len,
                        std::uint8_t family) {
  std::copy_n(p, len, address.bytes.begin());
  address.family = family;
}

// `l4` is the captured part of the IP payload (already clipped to the IP length); `l4_len` is the
// payload length the IP header declares, which may exceed what was captured.
DecodeError decode_l4(Bytes l4, std::uint32_t l4_len, Packet& out, DecodeStats& stats) {
  const std::uint8_t* p = l4.data();
  switch (out.ip_proto) {
    case kProtoTcp: {
      if (l4.size() < kTcpMinHeaderLen) return DecodeError::kTruncatedTcp;
      const std::size_t header_len = static_cast<std::size_t>(p[12] >> 4) * 4;
      if (header_len < kTcpMinHeaderLen || header_len > l4.size()) {
        return DecodeError::kBadTcpHeaderLength;
      }
      out.src_port = load16(p);
      out.dst_port = load16(p + 2);
      out.tcp_seq = load32(p + 4);
      out.tcp_ack = load32(p + 8);
      out.tcp_flags = p[13];
      out.tcp_window = load16(p + 14);
      out.has_l4 = true;
      out.l4_header_len = static_cast<std::uint16_t>(header_len);
      out.payload_len = l4_len - static_cast<std::uint32_t>(header_len);
      out.payload = l4.subspan(header_len);
      ++stats.tcp;
      return DecodeError::kNone;
    }
    case kProtoUdp: {
      if (l4.size() < kUdpHeaderLen) return DecodeError::kTruncatedUdp;
      const std::uint32_t udp_len = load16(p + 4);
      // The UDP length is what we report as payload, so it must not claim more than the IP
      // datagram carries; only a first fragment legitimately declares more than it holds.
      if (udp_len < kUdpHeaderLen || (!out.fragment && udp_len > l4_len)) {
        return DecodeError::kBadUdpLength;
      }
      out.src_port = load16(p);
      out.dst_port = load16(p + 2);
      out.has_l4 = true;
      out.l4_header_len = static_cast<std::uint16_t>(kUdpHeaderLen);
      out.payload_len = udp_len - static_cast<std::uint32_t>(kUdpHeaderLen);
      const std::size_t captured_end = std::min<std::size_t>(l4.size(), udp_len);
      out.payload = l4.subspan(kUdpHeaderLen, captured_end - kUdpHeaderLen);
      ++stats.udp;
      return DecodeError::kNone;
    }
    case kProtoIcmp:
    case kProtoIcmpv6: {
      if (l4.size() < kIcmpHeaderLen) return DecodeError::kTruncatedIcmp;
      out.icmp_type = p[0];
      out.icmp_code = p[1];
      out.has_l4 = true;
      out.l4_header_len = static_cast<std::uint16_t>(kIcmpHeaderLen);
      out.payload_len = l4_len - static_cast<std::uint32_t>(kIcmpHeaderLen);
      out.payload = l4.subspan(kIcmpHeaderLen);
      ++stats.icmp;
      return DecodeError::kNone;
    }
    default:
      // GRE, ESP, SCTP, ...: everything after the IP header(s) is payload to us.
      out.payload_len = l4_len;
      out.payload = l4;
      ++stats.other_l4;
      return DecodeError::kNone;
  }
}

// Bytes after the IP header of a non-first fragment continue an L4 payload: no header to parse.
DecodeError finish_later_fragment(Bytes rest, std::uint32_t rest_len, Packet& out) {
  out.payload_len = rest_len;
  out.payload = rest;
  return DecodeError::kNone;
}

DecodeError decode_ipv4(Bytes b, Packet& out, DecodeStats& stats) {
  if (b.size() < kIpv4MinHeaderLen) return DecodeError::kTruncatedIpv4;
  const std::uint8_t* p = b.data();
  if ((p[0] >> 4) != 4) return DecodeError::kBadIpv4Version;
  const std::size_t header_len = static_cast<std::size_t>(p[0] & 0x0F) * 4;
  if (header_len < kIpv4MinHeaderLen) return DecodeError::kBadIpv4HeaderLength;
  if (b.size() < header_len) return DecodeError::kTruncatedIpv4;
  std::size_t total_len = load16(p + 2);
  if (total_len == 0) {
    // Captured on the sending host before TCP segmentation offload: the NIC fills the length in
    // later. Like Wireshark, take the datagram to be the rest of the frame on the wire.
    const std::size_t offset = out.cap_len - b.size();
    total_len = out.wire_len > offset ? out.wire_len - offset : b.size();
    if (total_len > 0xFFFF) total_len = 0xFFFF;
    ++stats.tso_length;
  }
  if (total_len < header_len) return DecodeError::kBadIpv4TotalLength;

  out.l3 = L3::kIpv4;
  ++stats.ipv4;
  set_address(out.src, p + 12, 4, 4);
  set_address(out.dst, p + 16, 4, 4);
  out.ttl = p[8];
  out.ip_proto = p[9];
  out.ip_header_len = static_cast<std::uint16_t>(header_len);
  out.ip_total_len = static_cast<std::uint32_t>(total_len);

  // The IP total length, not the frame, bounds the datagram: Ethernet pads short frames.
  const std::size_t end = std::min(b.size(), total_len);
  const Bytes rest = b.subspan(header_len, end - header_len);
  const auto rest_len = static_cast<std::uint32_t>(total_len - header_len);

  const std::uint16_t frag = load16(p + 6);
  const unsigned frag_offset = frag & 0x1FFF;
  const bool more_fragments = (frag & 0x2000) != 0;
  if (more_fragments || frag_offset != 0) {
    out.fragment = true;
    out.first_fragment = frag_offset == 0;
    ++stats.fragments;
    if (frag_offset != 0) return finish_later_fragment(rest, rest_len, out);
  }
  return decode_l4(rest, rest_len, out, stats);
}

DecodeError decode_ipv6(Bytes b, Packet& out, DecodeStats& stats) {
  if (b.size() < kIpv6HeaderLen) return DecodeError::kTruncatedIpv6;
  const std::uint8_t* p = b.data();
  if ((p[0] >> 4) != 6) return DecodeError::kBadIpv6Version;
  const std::size_t total_len = kIpv6HeaderLen + load16(p + 4);

  out.l3 = L3::kIpv6;
  ++stats.ipv6;
  set_address(out.src, p + 8, 16, 6);
  set_address(out.dst, p + 24, 16, 6);
  out.ttl = p[7];
  out.ip_total_len = static_cast<std::uint32_t>(total_len);

  // Extension headers must fit both in the capture and in the declared payload length.
  const std::size_t end = std::min(b.size(), total_len);
  std::uint8_t next = p[6];
  std::size_t off = kIpv6HeaderLen;
  bool later_fragment = false;
  for (int count = 0;; ++count) {
    if (next != kIpv6HopByHop && next != kIpv6Routing && next != kIpv6Fragment && next != kIpv6Ah &&
        next != kIpv6DestOptions) {
      break;
    }
    if (count == kMaxIpv6ExtensionHeaders || end - off < 2) {
      return DecodeError::kBadIpv6ExtensionHeader;
    }
    const std::uint8_t* ext = p + off;
    std::size_t ext_len;
    if (next == kIpv6Fragment) {
      ext_len = 8;
    } else if (next == kIpv6Ah) {
      ext_len = (static_cast<std::size_t>(ext[1]) + 2) * 4;  // AH counts 4-byte units, minus 2
    } else {
      ext_len = (static_cast<std::size_t>(ext[1]) + 1) * 8;
    }
    if (end - off < ext_len) return DecodeError::kBadIpv6ExtensionHeader;
    if (next == kIpv6Fragment) {
      const std::uint16_t frag = load16(ext + 2);
      const unsigned frag_offset = frag >> 3;
      const bool more_fragments = (frag & 0x1) != 0;
      // An atomic fragment (offset 0, M clear, RFC 6946) is a whole datagram, as in IPv4.
      if ((more_fragments || frag_offset != 0) && !out.fragment) {
        out.fragment = true;
        out.first_fragment = frag_offset == 0;
        ++stats.fragments;
      }
      later_fragment = frag_offset != 0;
    }
    next = ext[0];
    off += ext_len;
    // What follows the fragment header of a later fragment is payload data, not more headers.
    if (later_fragment) break;
  }

  out.ip_proto = next;
  out.ip_header_len = static_cast<std::uint16_t>(off);
  const Bytes rest = b.subspan(off, end - off);
  const auto rest_len = static_cast<std::uint32_t>(total_len - off);
  if (later_fragment) return finish_later_fragment(rest, rest_len, out);
  return decode_l4(rest, rest_len, out, stats);
}

DecodeError decode_arp(Bytes b, Packet& out, DecodeStats& stats) {
  if (b.size() < kArpIpv4Len) return DecodeError::kTruncatedArp;
  const std::uint8_t* p = b.data();
  out.l3 = L3::kArp;
  ++stats.arp;
  // Ethernet/IPv4 ARP: expose sender and target protocol addresses so ARP scans are visible.
  if (load16(p) == 1 && load16(p + 2) == kEtherIpv4 && p[4] == 6 && p[5] == 4) {
    set_address(out.src, p + 14, 4, 4);
    set_address(out.dst, p + 24, 4, 4);
  }
  return DecodeError::kNone;
}

DecodeError decode_other_l3(Packet& out, DecodeStats& stats) {
  out.l3 = L3::kOther;
  ++stats.other_l3;
  return DecodeError::kNone;
}

// Decodes what follows an EtherType field: optional 802.1Q/QinQ tags, then IPv4, IPv6 or ARP.
DecodeError decode_by_version(Bytes b, Packet& out, DecodeStats& stats);

// PPPoE session (RFC 2516): 6-byte header, then the PPP protocol number.
DecodeError decode_pppoe(Bytes b, Packet& out, DecodeStats& stats) {
  if (b.size() < kPppoeHeaderLen) return DecodeError::kTruncatedPppoe;
  switch (load16(b.data() + 6)) {
    case kPppIpv4:
      return decode_ipv4(b.subspan(kPppoeHeaderLen), out, stats);
    case kPppIpv6:
      return decode_ipv6(b.subspan(kPppoeHeaderLen), out, stats);
    default:
      return decode_other_l3(out, stats);  // LCP, IPCP, CHAP, ...
  }
}

// MPLS: labels until the bottom-of-stack bit, then IP told apart by its version nibble.
DecodeError decode_mpls(Bytes b, Packet& out, DecodeStats& stats) {
  std::size_t off = 0;
  for (int count = 0;; ++count) {
    if (count == kMaxMplsLabels || b.size() - off < kMplsLabelLen)
      return DecodeError::kBadMplsStack;
    const bool bottom = (b[off + 2] & 0x01) != 0;
    off += kMplsLabelLen;
    if (bottom) break;
  }
  const Bytes rest = b.subspan(off);
  if (!rest.empty() && ((rest[0] >> 4) == 4 || (rest[0] >> 4) == 6)) {
    return decode_by_version(rest, out, stats);
  }
  return decode_other_l3(out, stats);  // pseudowire / Ethernet over MPLS: not followed
}

DecodeError decode_ether_payload(std::uint16_t ether_type, Bytes b, Packet& out,
                                 DecodeStats& stats) {
  std::size_t off = 0;
  while (ether_type == kEtherVlan || ether_type == kEtherQinQ || ether_type == kEtherQinQLegacy) {
    if (out.vlan_depth == kMaxVlanTags) return DecodeError::kTooManyVlanTags;
    if (b.size() - off < kVlanTagLen) return DecodeError::kTruncatedVlan;
    if (out.vlan_depth == 0) out.vlan = load16(b.data() + off) & 0x0FFF;
    ++out.vlan_depth;
    ether_type = load16(b.data() + off + 2);
    off += kVlanTagLen;
  }
  const Bytes rest = b.subspan(off);
  switch (ether_type) {
    case kEtherIpv4:
      return decode_ipv4(rest, out, stats);
    case kEtherIpv6:
      return decode_ipv6(rest, out, stats);
    case kEtherArp:
      return decode_arp(rest, out, stats);
    case kEtherPppoeSession:
      return decode_pppoe(rest, out, stats);
    case kEtherMplsUnicast:
    case kEtherMplsMulticast:
      return decode_mpls(rest, out, stats);
    default:
      return decode_other_l3(out, stats);
  }
}

DecodeError decode_by_version(Bytes b, Packet& out, DecodeStats& stats) {
  if (b.empty()) return DecodeError::kTruncatedIpv4;
  switch (b[0] >> 4) {
    case 4:
      return decode_ipv4(b, out, stats);
    case 6:
      return decode_ipv6(b, out, stats);
    default:
      return DecodeError::kBadIpv4Version;
  }
}

DecodeError decode_link(LinkType link, Bytes b, Packet& out, DecodeStats& stats) {
  switch (link) {
    case LinkType::kEthernet:
      if (b.size() < kEthernetHeaderLen) return DecodeError::kTruncatedLinkHeader;
      return decode_ether_payload(load16(b.data() + 12), b.subspan(kEthernetHeaderLen), out, stats);
    case LinkType::kLinuxSll:
      if (b.size() < kSllHeaderLen) return DecodeError::kTruncatedLinkHeader;
      return decode_ether_payload(load16(b.data() + 14), b.subspan(kSllHeaderLen), out, stats);
    case LinkType::kLinuxSll2:
      if (b.size() < kSll2HeaderLen) return DecodeError::kTruncatedLinkHeader;
      return decode_ether_payload(load16(b.data()), b.subspan(kSll2HeaderLen), out, stats);
    case LinkType::kRaw:
      return decode_by_version(b, out, stats);
    case LinkType::kIpv4:
      return decode_ipv4(b, out, stats);
    case LinkType::kIpv6:
      return decode_ipv6(b, out, stats);
    case LinkType::kNull: {
      if (b.size() < kNullHeaderLen) return DecodeError::kTruncatedLinkHeader;
      // Host order of the capturing machine, which need not be ours: accept both.
      const std::uint32_t le = load32_le(b.data());
      const std::uint32_t be = load32(b.data());
      if (le == kAfInet || be == kAfInet) return decode_ipv4(b.subspan(4), out, stats);
      if (is_af_inet6(le) || is_af_inet6(be)) return decode_ipv6(b.subspan(4), out, stats);
      return decode_other_l3(out, stats);
    }
    case LinkType::kLoop: {
      if (b.size() < kNullHeaderLen) return DecodeError::kTruncatedLinkHeader;
      const std::uint32_t family = load32(b.data());
      if (family == kAfInet) return decode_ipv4(b.subspan(4), out, stats);
      if (is_af_inet6(family)) return decode_ipv6(b.subspan(4), out, stats);
      return decode_other_l3(out, stats);
    }
  }
  // A LinkType value outside the enum: callers obtain link types from link_type_from_dlt, so this
  // is unreachable in practice; treat the frame as unknown traffic rather than malformed.
  return decode_other_l3(out, stats);
}

}  // namespace

DecodeError decode(LinkType link, std::span<const std::uint8_t> bytes, std::uint32_t wire_len,
                   std::int64_t ts_ns, Packet& out, DecodeStats& stats) noexcept {
  out = Packet{};
  out.ts_ns = ts_ns;
  out.wire_len = wire_len;
  out.cap_len = static_cast<std::uint32_t>(bytes.size());
  ++stats.packets;
  stats.bytes += wire_len;
  const DecodeError error = decode_link(link, bytes, out, stats);
  if (error != DecodeError::kNone) {
    ++stats.malformed;
    ++stats.by_reason[static_cast<std::size_t>(error)];
  }
  return error;
}

}  // namespace netsentry::net
