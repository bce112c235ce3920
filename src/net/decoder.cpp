// Per-packet decoder. Every read is preceded by a length check against the captured bytes; lengths
// from headers only ever shrink the region we look at, never grow it past the capture. Nested
// encapsulations are bounded (VLAN tags, link layers, MPLS labels, IPv6 extension headers), so the
// work per packet is bounded whatever the bytes say.
#include "net/decoder.h"

#include <algorithm>
#include <cstddef>

namespace netsentry::net {
namespace {

using Bytes = std::span<const std::uint8_t>;

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherArp = 0x0806;
constexpr std::uint16_t kEtherRarp = 0x8035;
constexpr std::uint16_t kEtherIpv6 = 0x86DD;
constexpr std::uint16_t kEtherVlan = 0x8100;
constexpr std::uint16_t kEtherQinQ = 0x88A8;
constexpr std::uint16_t kEtherQinQLegacy = 0x9100;
constexpr std::uint16_t kEtherQinQLegacy2 = 0x9200;
constexpr std::uint16_t kEtherPppoeDiscovery = 0x8863;
constexpr std::uint16_t kEtherPppoeSession = 0x8864;
constexpr std::uint16_t kEtherMplsUnicast = 0x8847;
constexpr std::uint16_t kEtherMplsMulticast = 0x8848;
constexpr std::uint16_t kEtherPbb = 0x88E7;         // 802.1ah I-TAG
constexpr std::uint16_t kEtherVnTag = 0x8926;       // Cisco VN-Tag
constexpr std::uint16_t kEtherFabricPath = 0x8903;  // Cisco FabricPath
constexpr std::uint16_t kEtherETag = 0x893F;        // 802.1BR E-Tag
constexpr std::uint16_t kEtherCiscoMeta = 0x8909;   // Cisco MetaData (SGT)
constexpr std::uint16_t kEtherNsh = 0x894F;         // Network Service Header
constexpr std::uint16_t kEtherTeb = 0x6558;         // transparent Ethernet bridging
constexpr std::uint16_t kEtherLldp = 0x88CC;
constexpr std::uint16_t kEtherEapol = 0x888E;
constexpr std::uint16_t kEtherSlow = 0x8809;
constexpr std::uint16_t kEtherIpx = 0x8137;
constexpr std::uint16_t kEtherIpx2 = 0x8138;
constexpr std::uint16_t kEtherAppleTalk = 0x809B;
constexpr std::uint16_t kEtherAarp = 0x80F3;
constexpr std::uint16_t kEtherLoopback = 0x9000;
constexpr std::uint16_t kEtherPtp = 0x88F7;
constexpr std::uint16_t kEtherMacsec = 0x88E5;
constexpr std::uint16_t kEtherCfm = 0x8902;
constexpr std::uint16_t kEtherMinType = 0x0600;  // smaller values are 802.3 lengths

constexpr std::uint16_t kPppIpv4 = 0x0021;
constexpr std::uint16_t kPppIpv6 = 0x0057;
constexpr std::uint16_t kPppMplsUnicast = 0x0281;
constexpr std::uint16_t kPppMplsMulticast = 0x0283;
constexpr std::uint16_t kPppVjCompressed = 0x002D;
constexpr std::uint16_t kPppVjUncompressed = 0x002F;
constexpr std::uint16_t kPppOsi = 0x0023;
constexpr std::uint16_t kPppAppleTalk = 0x0029;
constexpr std::uint16_t kPppIpx = 0x002B;
constexpr std::uint16_t kPppDecnet = 0x0027;

constexpr std::size_t kPppoeHeaderLen = 6;
constexpr std::size_t kMplsLabelLen = 4;
constexpr int kMaxMplsLabels = 8;

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
constexpr std::size_t kSctpHeaderLen = 12;
constexpr std::size_t kArpIpv4Len = 28;
constexpr std::size_t kArpMinLen = 8;

constexpr std::uint8_t kProtoIcmp = 1;
constexpr std::uint8_t kProtoIpv4 = 4;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint8_t kProtoIpv6 = 41;
constexpr std::uint8_t kProtoGre = 47;
constexpr std::uint8_t kProtoIcmpv6 = 58;
constexpr std::uint8_t kProtoSctp = 132;
constexpr std::uint8_t kIpv6HopByHop = 0;
constexpr std::uint8_t kIpv6Routing = 43;
constexpr std::uint8_t kIpv6Fragment = 44;
constexpr std::uint8_t kIpv6Ah = 51;
constexpr std::uint8_t kIpv6DestOptions = 60;
constexpr std::uint8_t kIpv6NoNextHeader = 59;

// BSD address-family values for IPv6 differ by OS: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
constexpr std::uint32_t kAfInet = 2;
constexpr bool is_af_inet6(std::uint32_t family) {
  return family == 24 || family == 28 || family == 30;
}

inline std::uint16_t load16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
inline std::uint16_t load16_le(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[1] << 8 | p[0]);
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

// The Jumbo Payload option's length from an IPv6 header followed by a hop-by-hop header, or 0.
std::uint32_t jumbo_length(std::span<const std::uint8_t> b) {
  if (b.size() < 48) return 0;
  const std::size_t end = std::min(b.size(), 40 + (static_cast<std::size_t>(b[41]) + 1) * 8);
  std::size_t off = 42;
  while (off < end) {
    const std::uint8_t type = b[off];
    if (type == 0) {  // Pad1
      ++off;
      continue;
    }
    if (end - off < 2) return 0;
    const std::size_t len = b[off + 1];
    if (end - off < 2 + len) return 0;
    if (type == 0xC2 && len == 4) return load32(b.data() + off + 2);
    off += 2 + len;
  }
  return 0;
}

// The tunnel a UDP port announces (either side), else kNone. Checked for every UDP packet, so it
// is one switch; decode_inner() validates the header before anything is decapsulated.
inline Encap udp_encap(std::uint16_t port) {
  switch (port) {
    case 4789:
      return Encap::kVxlan;
    case 4790:
      return Encap::kVxlanGpe;
    case 6081:
      return Encap::kGeneve;
    case 2152:
      return Encap::kGtpU;
    case 3544:
      return Encap::kTeredo;
    case 5072:
      return Encap::kAyiya;
    case 6635:
      return Encap::kMplsUdp;
    default:
      return Encap::kNone;
  }
}

// Decodes one frame (or, for decode_inner, one encapsulated packet) into `out`. Each layer method
// returns the error of the first layer that failed; stats are counted as layers are accepted.
class FrameDecoder {
 public:
  FrameDecoder(Packet& out, DecodeStats& stats) : out_(out), stats_(stats) {}

  DecodeError link(LinkType link, Bytes b);
  DecodeError ethernet(Bytes b);
  DecodeError ether_type(std::uint16_t type, Bytes b);
  DecodeError by_version(Bytes b);
  DecodeError ipv4(Bytes b);
  DecodeError ipv6(Bytes b);
  DecodeError ppp(Bytes b);
  DecodeError mpls(Bytes b);
  DecodeError nsh(Bytes b);
  DecodeError transport(Bytes l4_bytes, std::uint32_t l4_len) { return l4(l4_bytes, l4_len); }

 private:
  DecodeError enter();
  DecodeError l4(Bytes l4, std::uint32_t l4_len);
  DecodeError later_fragment(Bytes rest, std::uint32_t rest_len);
  DecodeError arp(Bytes b);
  DecodeError llc(Bytes b);
  DecodeError ppp_protocol(std::uint16_t protocol, Bytes b);
  DecodeError pppoe(Bytes b);
  DecodeError cisco_hdlc(Bytes b);
  DecodeError frame_relay(Bytes b);
  DecodeError nlpid(std::uint8_t id, Bytes b);
  DecodeError wifi(Bytes b);
  DecodeError nflog(Bytes b);
  DecodeError none(NotIp reason);
  DecodeError other_ether_type(std::uint16_t type);

  Packet& out_;
  DecodeStats& stats_;
  int layers_ = 0;
};

DecodeError FrameDecoder::enter() {
  return ++layers_ > kMaxLinkLayers ? DecodeError::kTooManyLayers : DecodeError::kNone;
}

DecodeError FrameDecoder::none(NotIp reason) {
  out_.l3 = reason == NotIp::kArp ? L3::kArp : L3::kOther;
  out_.not_ip = reason;
  ++stats_.not_ip[static_cast<std::size_t>(reason)];
  if (reason == NotIp::kArp) {
    ++stats_.arp;
  } else {
    ++stats_.other_l3;
  }
  return DecodeError::kNone;
}

DecodeError FrameDecoder::other_ether_type(std::uint16_t type) {
  stats_.other_ether_types.add(type);
  return none(NotIp::kOtherEtherType);
}

// `l4` is the captured part of the IP payload (already clipped to the IP length); `l4_len` is the
// payload length the IP header declares, which may exceed what was captured.
DecodeError FrameDecoder::l4(Bytes l4, std::uint32_t l4_len) {
  Packet& out = out_;
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
      ++stats_.tcp;
      return DecodeError::kNone;
    }
    case kProtoUdp: {
      if (l4.size() < kUdpHeaderLen) return DecodeError::kTruncatedUdp;
      std::uint32_t udp_len = load16(p + 4);
      // A UDP datagram in a jumbogram or BIG TCP packet has length 0 (RFC 2675): it fills the IP
      // payload.
      if (udp_len == 0 && l4_len > 0xFFFF) udp_len = l4_len;
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
      ++stats_.udp;
      if (!out.fragment) {
        out.encap = udp_encap(out.dst_port);
        if (out.encap == Encap::kNone) out.encap = udp_encap(out.src_port);
      }
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
      ++stats_.icmp;
      return DecodeError::kNone;
    }
    case kProtoSctp: {
      if (l4.size() < kSctpHeaderLen) return DecodeError::kTruncatedSctp;
      out.src_port = load16(p);
      out.dst_port = load16(p + 2);
      out.has_l4 = true;
      out.l4_header_len = static_cast<std::uint16_t>(kSctpHeaderLen);
      out.payload_len = l4_len - static_cast<std::uint32_t>(kSctpHeaderLen);
      out.payload = l4.subspan(kSctpHeaderLen);
      ++stats_.other_l4;
      return DecodeError::kNone;
    }
    default:
      // GRE, ESP, IP-in-IP, ...: everything after the IP header(s) is payload to us.
      out.payload_len = l4_len;
      out.payload = l4;
      ++stats_.other_l4;
      if (!out.fragment) {
        if (out.ip_proto == kProtoGre) {
          out.encap = Encap::kGre;
        } else if (out.ip_proto == kProtoIpv4 || out.ip_proto == kProtoIpv6) {
          out.encap = Encap::kIpInIp;
        }
      }
      return DecodeError::kNone;
  }
}

// Bytes after the IP header of a non-first fragment continue an L4 payload: no header to parse.
DecodeError FrameDecoder::later_fragment(Bytes rest, std::uint32_t rest_len) {
  out_.payload_len = rest_len;
  out_.payload = rest;
  return DecodeError::kNone;
}

DecodeError FrameDecoder::ipv4(Bytes b) {
  Packet& out = out_;
  if (b.size() < kIpv4MinHeaderLen) return DecodeError::kTruncatedIpv4;
  const std::uint8_t* p = b.data();
  if ((p[0] >> 4) != 4) return DecodeError::kBadIpv4Version;
  const std::size_t header_len = static_cast<std::size_t>(p[0] & 0x0F) * 4;
  if (header_len < kIpv4MinHeaderLen) return DecodeError::kBadIpv4HeaderLength;
  if (b.size() < header_len) return DecodeError::kTruncatedIpv4;
  std::size_t total_len = load16(p + 2);
  if (total_len == 0) {
    // Captured on the sending host before TCP segmentation offload (the NIC fills the length in
    // later), or a BIG TCP packet (Linux: larger than 64 KiB, length 0): like Wireshark, take the
    // datagram to be the rest of the frame on the wire.
    const std::size_t offset = out.cap_len > b.size() ? out.cap_len - b.size() : 0;
    total_len = out.wire_len > offset ? out.wire_len - offset : b.size();
    ++stats_.tso_length;
  }
  if (total_len < header_len) return DecodeError::kBadIpv4TotalLength;

  out.l3 = L3::kIpv4;
  ++stats_.ipv4;
  set_address(out.src, p + 12, 4, 4);
  set_address(out.dst, p + 16, 4, 4);
  out.ttl = p[8];
  out.ip_proto = p[9];
  out.ip_header_len = static_cast<std::uint16_t>(header_len);
  out.ip_total_len = static_cast<std::uint32_t>(total_len);

  // The IP total length, not the frame, bounds the datagram: Ethernet pads short frames.
  const std::size_t end = std::min(b.size(), total_len);
  out.ip_bytes = b.first(end);
  const Bytes rest = b.subspan(header_len, end - header_len);
  const auto rest_len = static_cast<std::uint32_t>(total_len - header_len);

  const std::uint16_t frag = load16(p + 6);
  const unsigned frag_offset = frag & 0x1FFF;
  const bool more_fragments = (frag & 0x2000) != 0;
  if (more_fragments || frag_offset != 0) {
    out.fragment = true;
    out.first_fragment = frag_offset == 0;
    out.more_fragments = more_fragments;
    out.frag_id = load16(p + 4);
    out.frag_offset = frag_offset * 8u;
    ++stats_.fragments;
    if (frag_offset != 0) return later_fragment(rest, rest_len);
  }
  return l4(rest, rest_len);
}

DecodeError FrameDecoder::ipv6(Bytes b) {
  Packet& out = out_;
  if (b.size() < kIpv6HeaderLen) return DecodeError::kTruncatedIpv6;
  const std::uint8_t* p = b.data();
  if ((p[0] >> 4) != 6) return DecodeError::kBadIpv6Version;
  std::size_t total_len = kIpv6HeaderLen + load16(p + 4);
  if (total_len == kIpv6HeaderLen && p[6] == kIpv6HopByHop) {
    // A jumbogram (RFC 2675, also Linux BIG TCP): payload length 0 and the real length in the
    // hop-by-hop Jumbo Payload option.
    const std::uint32_t jumbo = jumbo_length(b);
    if (jumbo != 0) total_len = kIpv6HeaderLen + jumbo;
  }
  if (total_len == kIpv6HeaderLen && p[6] != kIpv6NoNextHeader && b.size() > kIpv6HeaderLen) {
    // Payload length 0 with a payload: a BIG TCP packet whose jumbo option was already removed
    // (as inside a tunnel); like IPv4's total length 0, the rest of the frame is the datagram.
    const std::size_t offset = out.cap_len > b.size() ? out.cap_len - b.size() : 0;
    total_len = out.wire_len > offset ? out.wire_len - offset : b.size();
    ++stats_.tso_length;
  }

  out.l3 = L3::kIpv6;
  ++stats_.ipv6;
  set_address(out.src, p + 8, 16, 6);
  set_address(out.dst, p + 24, 16, 6);
  out.ttl = p[7];
  out.ip_total_len = static_cast<std::uint32_t>(total_len);

  // Extension headers must fit both in the capture and in the declared payload length.
  const std::size_t end = std::min(b.size(), total_len);
  out.ip_bytes = b.first(end);
  std::uint8_t next = p[6];
  std::size_t off = kIpv6HeaderLen;
  bool later_fragment_seen = false;
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
        out.more_fragments = more_fragments;
        out.frag_id = load32(ext + 4);
        out.frag_offset = frag_offset * 8u;
        ++stats_.fragments;
      }
      later_fragment_seen = frag_offset != 0;
    }
    next = ext[0];
    off += ext_len;
    // What follows the fragment header of a later fragment is payload data, not more headers.
    if (later_fragment_seen) break;
  }

  out.ip_proto = next;
  out.ip_header_len = static_cast<std::uint16_t>(off);
  const Bytes rest = b.subspan(off, end - off);
  const auto rest_len = static_cast<std::uint32_t>(total_len - off);
  if (later_fragment_seen) return later_fragment(rest, rest_len);
  return l4(rest, rest_len);
}

DecodeError FrameDecoder::arp(Bytes b) {
  if (b.size() < kArpMinLen) return DecodeError::kTruncatedArp;
  const std::uint8_t* p = b.data();
  // Ethernet/IPv4 ARP: expose sender and target protocol addresses so ARP scans are visible.
  if (load16(p) == 1 && load16(p + 2) == kEtherIpv4 && p[4] == 6 && p[5] == 4) {
    if (b.size() < kArpIpv4Len) return DecodeError::kTruncatedArp;
    set_address(out_.src, p + 14, 4, 4);
    set_address(out_.dst, p + 24, 4, 4);
  }
  return none(NotIp::kArp);
}

DecodeError FrameDecoder::by_version(Bytes b) {
  if (b.empty()) return DecodeError::kTruncatedIpv4;
  switch (b[0] >> 4) {
    case 4:
      return ipv4(b);
    case 6:
      return ipv6(b);
    default:
      return DecodeError::kBadIpv4Version;
  }
}

// PPP protocol numbers (RFC 1661 and the IANA list): network layers we follow, and control
// protocols (0x8000-0xFFFF: NCPs such as IPCP and link protocols such as LCP, PAP, CHAP) we count.
DecodeError FrameDecoder::ppp_protocol(std::uint16_t protocol, Bytes b) {
  switch (protocol) {
    case kPppIpv4:
      return ipv4(b);
    case kPppIpv6:
      return ipv6(b);
    case kPppMplsUnicast:
    case kPppMplsMulticast:
      return mpls(b);
    case kPppVjCompressed:
    case kPppVjUncompressed:
      return none(NotIp::kVjCompressed);
    case kPppOsi:
      return none(NotIp::kOsi);
    case kPppAppleTalk:
      return none(NotIp::kAppleTalk);
    case kPppIpx:
      return none(NotIp::kIpx);
    case kPppDecnet:
      return none(NotIp::kDecnet);
    default:
      return none(protocol >= 0x8000 ? NotIp::kPppControl : NotIp::kOtherLinkProtocol);
  }
}

// PPP frame (RFC 1661/1662): optional address and control (FF 03), then a protocol field of one
// byte (when compressed: the low bit is set) or two.
DecodeError FrameDecoder::ppp(Bytes b) {
  if (const DecodeError e = enter(); e != DecodeError::kNone) return e;
  if (b.size() >= 2 && b[0] == 0xFF && b[1] == 0x03) b = b.subspan(2);
  if (b.empty()) return DecodeError::kTruncatedEncapsulation;
  if (b[0] & 0x01) return ppp_protocol(b[0], b.subspan(1));
  if (b.size() < 2) return DecodeError::kTruncatedEncapsulation;
  return ppp_protocol(load16(b.data()), b.subspan(2));
}

// PPPoE (RFC 2516): 6-byte header, then PPP without address and control.
DecodeError FrameDecoder::pppoe(Bytes b) {
  if (b.size() < kPppoeHeaderLen + 2) return DecodeError::kTruncatedPppoe;
  if (b[1] != 0x00) return none(NotIp::kPppoeDiscovery);  // PADI, PADO, ... on the session type
  // The PPPoE length bounds the PPP payload (Ethernet may pad the frame).
  const std::size_t len = load16(b.data() + 4);
  Bytes ppp_bytes = b.subspan(kPppoeHeaderLen);
  if (len >= 2 && len < ppp_bytes.size()) ppp_bytes = ppp_bytes.first(len);
  return ppp_protocol(load16(ppp_bytes.data()), ppp_bytes.subspan(2));
}

// MPLS: labels until the bottom-of-stack bit, then IP told apart by its version nibble.
DecodeError FrameDecoder::mpls(Bytes b) {
  std::size_t off = 0;
  for (int count = 0;; ++count) {
    if (count == kMaxMplsLabels || b.size() - off < kMplsLabelLen)
      return DecodeError::kBadMplsStack;
    const bool bottom = (b[off + 2] & 0x01) != 0;
    off += kMplsLabelLen;
    if (bottom) break;
  }
  const Bytes rest = b.subspan(off);
  if (!rest.empty() && ((rest[0] >> 4) == 4 || (rest[0] >> 4) == 6)) return by_version(rest);
  return none(NotIp::kMplsNonIp);  // pseudowire / Ethernet over MPLS: not followed
}

// Network Service Header (RFC 8300): a 4-byte base header whose length field counts 4-byte words
// of the whole NSH, then the next protocol.
DecodeError FrameDecoder::nsh(Bytes b) {
  if (const DecodeError e = enter(); e != DecodeError::kNone) return e;
  if (b.size() < 8) return DecodeError::kTruncatedEncapsulation;
  const std::size_t len = static_cast<std::size_t>(b[1] & 0x3F) * 4;
  if (len < 8 || len > b.size()) return DecodeError::kTruncatedEncapsulation;
  const Bytes rest = b.subspan(len);
  switch (b[3]) {
    case 1:
      return ipv4(rest);
    case 2:
      return ipv6(rest);
    case 3:
      return ethernet(rest);
    case 4:
      return nsh(rest);
    case 5:
      return mpls(rest);
    default:
      return none(NotIp::kOtherLinkProtocol);
  }
}

// 802.2 LLC, and SNAP (AA AA 03 + OUI + protocol) whose protocol is an EtherType.
DecodeError FrameDecoder::llc(Bytes b) {
  if (const DecodeError e = enter(); e != DecodeError::kNone) return e;
  if (b.size() < 2) return DecodeError::kTruncatedEncapsulation;
  const std::uint8_t dsap = b[0];
  const std::uint8_t ssap = b[1];
  if (dsap == 0xFF && ssap == 0xFF) return none(NotIp::kIpx);  // Novell "raw 802.3"
  if (b.size() < 3) return DecodeError::kTruncatedEncapsulation;
  if (dsap == 0xAA && ssap == 0xAA) {
    if (b.size() < 8) return DecodeError::kTruncatedEncapsulation;
    const std::uint32_t oui =
        static_cast<std::uint32_t>(b[3]) << 16 | static_cast<std::uint32_t>(b[4]) << 8 | b[5];
    const std::uint16_t protocol = load16(b.data() + 6);
    // RFC 1042 and 802.1H bridge tunnel encapsulation carry an EtherType.
    if (oui == 0x000000 || oui == 0x0000F8) {
      if (protocol < kEtherMinType) return none(NotIp::kSnapOther);
      return ether_type(protocol, b.subspan(8));
    }
    // RFC 2684 bridged Ethernet/802.3 (with or without the FCS): 2 pad bytes, then the frame.
    if (oui == 0x0080C2 && (protocol == 0x0001 || protocol == 0x0007)) {
      return b.size() < 10 ? DecodeError::kTruncatedEncapsulation : ethernet(b.subspan(10));
    }
    if (oui == 0x080007) return none(NotIp::kAppleTalk);
    return none(NotIp::kSnapOther);
  }
  if (dsap == 0xFE && ssap == 0xFE && b[2] == 0x03) {  // routed NLPID (RFC 2684, ISO 9577)
    if (b.size() < 4) return DecodeError::kTruncatedEncapsulation;
    return nlpid(b[3], b.subspan(4));
  }
  switch (dsap) {
    case 0x42:
      return none(NotIp::kStp);
    case 0x06:
      return ipv4(b.subspan(3));
    case 0xE0:
      return none(NotIp::kIpx);
    case 0xFE:
      return none(NotIp::kOsi);
    default:
      return none(NotIp::kLlcOther);
  }
}

// ISO/IEC TR 9577 network layer protocol identifiers (Frame Relay, routed ATM).
DecodeError FrameDecoder::nlpid(std::uint8_t id, Bytes b) {
  switch (id) {
    case 0xCC:
      return ipv4(b);
    case 0x8E:
      return ipv6(b);
    case 0x80: {  // SNAP: OUI + EtherType
      if (b.size() < 5) return DecodeError::kTruncatedEncapsulation;
      const std::uint16_t protocol = load16(b.data() + 3);
      if (b[0] == 0 && b[1] == 0 && b[2] == 0 && protocol >= kEtherMinType) {
        return ether_type(protocol, b.subspan(5));
      }
      if (b[0] == 0x00 && b[1] == 0x80 && b[2] == 0xC2) {
        return b.size() < 7 ? DecodeError::kTruncatedEncapsulation : ethernet(b.subspan(7));
      }
      return none(NotIp::kSnapOther);
    }
    case 0x81:
    case 0x82:
    case 0x83:
      return none(NotIp::kOsi);
    case 0x08:
    case 0x09:
      return none(NotIp::kLinkControl);  // Q.933 / LMI
    default:
      return none(NotIp::kOtherLinkProtocol);
  }
}

// Frame Relay: a Q.922 address of 2 to 4 bytes (the last has its EA bit set), then either UI
// control (03) + NLPID (RFC 2427; a 00 pad byte may come first), or a Cisco-style EtherType.
DecodeError FrameDecoder::frame_relay(Bytes b) {
  std::size_t off = 0;
  while (true) {
    if (off >= b.size() || off == 4) return DecodeError::kTruncatedEncapsulation;
    if (b[off++] & 0x01) break;
  }
  if (off < 2) return DecodeError::kTruncatedEncapsulation;
  if (b.size() - off < 2) return DecodeError::kTruncatedEncapsulation;
  if (b[off] != 0x03) return ether_type(load16(b.data() + off), b.subspan(off + 2));
  ++off;
  if (b[off] == 0x00) ++off;  // pad
  if (off >= b.size()) return DecodeError::kTruncatedEncapsulation;
  return nlpid(b[off], b.subspan(off + 1));
}

// Cisco HDLC: address (0F unicast, 8F broadcast), control, then an EtherType.
DecodeError FrameDecoder::cisco_hdlc(Bytes b) {
  if (b.size() < 4) return DecodeError::kTruncatedLinkHeader;
  const std::uint16_t protocol = load16(b.data() + 2);
  if (protocol == kEtherRarp || protocol == 0x2000) {
    return none(NotIp::kLinkControl);  // SLARP keepalives, CDP
  }
  return ether_type(protocol, b.subspan(4));
}

// 802.11: data frames are followed through their LLC header; management, control, null-function,
// protected (encrypted) and aggregated (A-MSDU) frames are counted by kind.
DecodeError FrameDecoder::wifi(Bytes b) {
  if (const DecodeError e = enter(); e != DecodeError::kNone) return e;
  if (b.size() < 2) return DecodeError::kTruncatedLinkHeader;
  const unsigned type = (b[0] >> 2) & 0x3;
  const unsigned subtype = (b[0] >> 4) & 0xF;
  const std::uint8_t flags = b[1];
  if (type == 0) return none(NotIp::kWifiManagement);
  if (type == 1) return none(NotIp::kWifiControl);
  if (type != 2) return none(NotIp::kOtherLinkProtocol);
  std::size_t header = 24;
  if ((flags & 0x03) == 0x03) header += 6;  // to and from DS: a fourth address
  const bool qos = (subtype & 0x8) != 0;
  if (qos) header += 2;
  if (qos && (flags & 0x80)) header += 4;  // HT control (order bit on a QoS frame)
  if (b.size() < header) return DecodeError::kTruncatedLinkHeader;
  if (subtype & 0x4) return none(NotIp::kWifiNoData);
  if (flags & 0x40) return none(NotIp::kWifiProtected);
  if (qos) {
    const std::size_t qos_at = (flags & 0x03) == 0x03 ? 30 : 24;
    if (b[qos_at] & 0x80) return none(NotIp::kWifiAggregate);
  }
  return llc(b.subspan(header));
}

// NFLOG (Linux netfilter log): family, version, resource id, then TLVs (length and type in the
// capturing host's byte order; length includes the 4-byte TLV header, TLVs padded to 4 bytes).
// NFULA_PAYLOAD (9) holds the packet from its IP header.
DecodeError FrameDecoder::nflog(Bytes b) {
  if (b.size() < 4) return DecodeError::kTruncatedLinkHeader;
  const std::uint8_t family = b[0];
  std::size_t off = 4;
  // Little-endian hosts wrote nearly every NFLOG capture; a first TLV whose length does not fit
  // says the writer was big-endian.
  bool big_endian = false;
  if (b.size() >= off + 4) {
    const std::size_t le = load16_le(b.data() + off);
    big_endian = le < 4 || le > b.size() - off;
  }
  for (int count = 0; count < 64 && b.size() - off >= 4; ++count) {
    const std::uint8_t* t = b.data() + off;
    const std::size_t len = big_endian ? load16(t) : load16_le(t);
    const unsigned type = (big_endian ? load16(t + 2) : load16_le(t + 2)) & 0x3FFF;
    if (len < 4 || len > b.size() - off) return DecodeError::kBadLinkHeader;
    if (type == 9) {
      const Bytes payload = b.subspan(off + 4, len - 4);
      if (family == 2) return ipv4(payload);
      if (family == 10) return ipv6(payload);
      return none(NotIp::kOtherLinkProtocol);
    }
    off += (len + 3) & ~std::size_t{3};
    if (off > b.size()) break;
  }
  return none(NotIp::kNflogNoPayload);
}

DecodeError FrameDecoder::ethernet(Bytes b) {
  if (b.size() < kEthernetHeaderLen) return DecodeError::kTruncatedLinkHeader;
  return ether_type(load16(b.data() + 12), b.subspan(kEthernetHeaderLen));
}

// What follows an EtherType (or an 802.3 length): tags and shims that carry another EtherType are
// followed in a bounded loop, then the network layer.
DecodeError FrameDecoder::ether_type(std::uint16_t type, Bytes b) {
  if (const DecodeError e = enter(); e != DecodeError::kNone) return e;
  Packet& out = out_;
  for (;;) {
    if (type < kEtherMinType) {
      // An 802.3 length: the frame holds that many bytes of LLC data (the rest is padding).
      if (type < b.size()) b = b.first(type);
      return llc(b);
    }
    std::size_t shim = 0;
    std::size_t next_at = 0;
    switch (type) {
      case kEtherVlan:
      case kEtherQinQ:
      case kEtherQinQLegacy:
      case kEtherQinQLegacy2:
        if (out.vlan_depth == kMaxVlanTags) return DecodeError::kTooManyVlanTags;
        if (b.size() < kVlanTagLen) return DecodeError::kTruncatedVlan;
        if (out.vlan_depth == 0) out.vlan = load16(b.data()) & 0x0FFF;
        ++out.vlan_depth;
        shim = kVlanTagLen;
        next_at = 2;
        break;
      case kEtherPbb:  // I-TAG (4), then the customer frame's addresses (12) and EtherType
        shim = 18;
        next_at = 16;
        break;
      case kEtherVnTag:  // 4-byte tag, then the EtherType
        shim = 6;
        next_at = 4;
        break;
      case kEtherFabricPath:  // FTag/TTL (2), then the original frame's addresses and EtherType
        shim = 16;
        next_at = 14;
        break;
      case kEtherETag:  // 6-byte E-TAG, then the EtherType
        shim = 8;
        next_at = 6;
        break;
      case kEtherCiscoMeta:  // version, length, option type, SGT, then the EtherType
        shim = 8;
        next_at = 6;
        break;
      default:
        break;
    }
    if (shim == 0) break;
    if (b.size() < shim) {
      return type == kEtherVlan || type == kEtherQinQ || type == kEtherQinQLegacy ||
                     type == kEtherQinQLegacy2
                 ? DecodeError::kTruncatedVlan
                 : DecodeError::kTruncatedEncapsulation;
    }
    type = load16(b.data() + next_at);
    b = b.subspan(shim);
  }
  switch (type) {
    case kEtherIpv4:
      return ipv4(b);
    case kEtherIpv6:
      return ipv6(b);
    case kEtherArp:
    case kEtherRarp:
      return arp(b);
    case kEtherPppoeSession:
      return pppoe(b);
    case kEtherPppoeDiscovery:
      return none(NotIp::kPppoeDiscovery);
    case kEtherMplsUnicast:
    case kEtherMplsMulticast:
      return mpls(b);
    case kEtherNsh:
      return nsh(b);
    case kEtherTeb:
      return ethernet(b);
    case kEtherLldp:
      return none(NotIp::kLldp);
    case kEtherEapol:
      return none(NotIp::kEapol);
    case kEtherSlow:
      return none(NotIp::kSlowProtocols);
    case kEtherIpx:
    case kEtherIpx2:
      return none(NotIp::kIpx);
    case kEtherAppleTalk:
    case kEtherAarp:
      return none(NotIp::kAppleTalk);
    case kEtherLoopback:
      return none(NotIp::kLoopback);
    case kEtherPtp:
      return none(NotIp::kPtp);
    case kEtherMacsec:
      return none(NotIp::kMacsec);
    case kEtherCfm:
      return none(NotIp::kCfm);
    default:
      if (type >= 0x6000 && type <= 0x6009) return none(NotIp::kDecnet);
      return other_ether_type(type);
  }
}

DecodeError FrameDecoder::link(LinkType link, Bytes b) {
  if (const DecodeError e = enter(); e != DecodeError::kNone) return e;
  switch (link) {
    case LinkType::kEthernet:
      return ethernet(b);
    case LinkType::kLinuxSll:
    case LinkType::kLinuxSll2: {
      const bool v2 = link == LinkType::kLinuxSll2;
      const std::size_t len = v2 ? kSll2HeaderLen : kSllHeaderLen;
      if (b.size() < len) return DecodeError::kTruncatedLinkHeader;
      const std::uint16_t protocol = load16(b.data() + (v2 ? 0 : 14));
      const std::uint16_t hatype = load16(b.data() + (v2 ? 8 : 2));
      const Bytes rest = b.subspan(len);
      if (hatype == 824) return nflog(rest);  // ARPHRD_NETLINK: an NFLOG record
      if (protocol >= kEtherMinType) return ether_type(protocol, rest);
      switch (protocol) {
        case 0x0004:  // ETH_P_802_2: an LLC header follows
          return llc(rest);
        case 0x0001:  // ETH_P_802_3: Novell raw 802.3
          return none(NotIp::kIpx);
        default:
          return none(NotIp::kOtherLinkProtocol);
      }
    }
    case LinkType::kRaw:
      return by_version(b);
    case LinkType::kIpv4:
      return ipv4(b);
    case LinkType::kIpv6:
      return ipv6(b);
    case LinkType::kNull: {
      if (b.size() < kNullHeaderLen) return DecodeError::kTruncatedLinkHeader;
      // Host order of the capturing machine, which need not be ours: accept both.
      const std::uint32_t le = load32_le(b.data());
      const std::uint32_t be = load32(b.data());
      if (le == kAfInet || be == kAfInet) return ipv4(b.subspan(4));
      if (is_af_inet6(le) || is_af_inet6(be)) return ipv6(b.subspan(4));
      return none(NotIp::kOtherLinkProtocol);
    }
    case LinkType::kLoop: {
      if (b.size() < kNullHeaderLen) return DecodeError::kTruncatedLinkHeader;
      const std::uint32_t family = load32(b.data());
      if (family == kAfInet) return ipv4(b.subspan(4));
      if (is_af_inet6(family)) return ipv6(b.subspan(4));
      return none(NotIp::kOtherLinkProtocol);
    }
    case LinkType::kPpp:
      return ppp(b);
    case LinkType::kPppHdlc:
      if (!b.empty() && (b[0] == 0x0F || b[0] == 0x8F)) return cisco_hdlc(b);
      return ppp(b);
    case LinkType::kPppEther:
      if (b.size() < 2) return DecodeError::kTruncatedLinkHeader;
      return b[1] == 0x00 ? pppoe(b) : none(NotIp::kPppoeDiscovery);
    case LinkType::kCiscoHdlc:
      return cisco_hdlc(b);
    case LinkType::kFrameRelay:
      return frame_relay(b);
    case LinkType::kAtmRfc1483:
      return llc(b);
    case LinkType::kSlip: {
      // BSD/OS SLIP header: direction, then 15 bytes of (possibly compressed) link header copy.
      if (b.size() < 17) return DecodeError::kTruncatedLinkHeader;
      const std::uint8_t first = b[16];
      if ((first & 0x80) || (first & 0xF0) == 0x70) return none(NotIp::kVjCompressed);
      return by_version(b.subspan(16));
    }
    case LinkType::kFddi:
      if (b.size() < 13) return DecodeError::kTruncatedLinkHeader;
      if ((b[0] & 0xF8) == 0x50) return llc(b.subspan(13));  // asynchronous LLC frame
      return none(NotIp::kLinkControl);                      // SMT and MAC frames
    case LinkType::kIeee80211:
      return wifi(b);
    case LinkType::kRadiotap: {
      if (b.size() < 8) return DecodeError::kTruncatedLinkHeader;
      const std::size_t len = load16_le(b.data() + 2);
      if (b[0] != 0 || len < 8 || len > b.size()) return DecodeError::kBadLinkHeader;
      return wifi(b.subspan(len));
    }
    case LinkType::kPrism:
    case LinkType::kAvs: {
      if (b.size() < 8) return DecodeError::kTruncatedLinkHeader;
      // DLT_PRISM_HEADER files may hold AVS headers (magic 0x8021100x, big-endian length).
      const bool avs = link == LinkType::kAvs || (load32(b.data()) & 0xFFFFFFF0u) == 0x80211000u;
      const std::size_t len = avs ? load32(b.data() + 4) : load32_le(b.data() + 4);
      if (len < 8 || len > b.size()) return DecodeError::kBadLinkHeader;
      return wifi(b.subspan(len));
    }
    case LinkType::kPpi:
    case LinkType::kPktap: {
      if (b.size() < 8) return DecodeError::kTruncatedLinkHeader;
      const bool ppi = link == LinkType::kPpi;
      const std::size_t len = ppi ? load16_le(b.data() + 2) : load32_le(b.data());
      const std::uint32_t dlt = load32_le(b.data() + 4);
      if (len < 8 || len > b.size()) return DecodeError::kBadLinkHeader;
      const LinkType inner = link_type_of_dlt(static_cast<int>(dlt));
      if (inner == LinkType::kPpi || inner == LinkType::kPktap) return DecodeError::kBadLinkHeader;
      return this->link(inner, b.subspan(len));
    }
    case LinkType::kIpnet: {
      if (b.size() < 24) return DecodeError::kTruncatedLinkHeader;
      if (b[1] == 2) return ipv4(b.subspan(24));
      if (b[1] == 26) return ipv6(b.subspan(24));
      return none(NotIp::kOtherLinkProtocol);
    }
    case LinkType::kNflog:
      return nflog(b);
    case LinkType::kDsaBrcm:
    case LinkType::kDsa:
      // A 4-byte switch tag between the source address and the EtherType.
      if (b.size() < 18) return DecodeError::kTruncatedLinkHeader;
      return ether_type(load16(b.data() + 16), b.subspan(18));
    case LinkType::kEdsa:
      // EtherType DSA: 0xDADA, 2 reserved bytes and the 4-byte tag, then the EtherType.
      if (b.size() < 22) return DecodeError::kTruncatedLinkHeader;
      return ether_type(load16(b.data() + 20), b.subspan(22));
    case LinkType::kDsaBrcmPrepend:
      if (b.size() < 4) return DecodeError::kTruncatedLinkHeader;
      return ethernet(b.subspan(4));
  }
  stats_.unsupported_links.add(static_cast<std::uint32_t>(link));
  return none(NotIp::kUnsupportedLinkType);
}

void count_error(DecodeError error, const Packet& out, DecodeStats& stats) {
  if (error == DecodeError::kNone) return;
  ++stats.malformed;
  ++stats.by_reason[static_cast<std::size_t>(error)];
  if (out.l3 == L3::kNone) ++stats.malformed_before_ip;
}

// --- tunnels ----------------------------------------------------------------------------------

constexpr std::uint16_t kGreErspan2 = 0x88BE;  // type I when the S bit is clear
constexpr std::uint16_t kGreErspan3 = 0x22EB;
constexpr std::uint16_t kGrePpp = 0x880B;

// What the bytes after a tunnel header start with.
enum class Inner : std::uint8_t { kEthernet, kIp, kIpv4, kIpv6, kPpp, kMpls, kNsh };

struct TunnelHeader {
  bool valid = false;
  Tunnel tunnel = Tunnel::kCount;
  Inner inner = Inner::kIp;
  std::size_t length = 0;  // header bytes before the inner packet
};

TunnelHeader gre_header(Bytes b) {
  TunnelHeader h;
  if (b.size() < 4) return h;
  const std::uint8_t flags = b[0];
  const unsigned version = b[1] & 0x07;
  const std::uint16_t protocol = load16(b.data() + 2);
  const bool checksum = (flags & 0x80) != 0;
  const bool routing = (flags & 0x40) != 0;
  const bool key = (flags & 0x20) != 0;
  const bool sequence = (flags & 0x10) != 0;
  if (routing) return h;  // RFC 1701 source routing: obsolete, not followed
  std::size_t len = 4;
  if (version == 1) {
    // Enhanced GRE (RFC 2637, PPTP): key (payload length + call id) always, PPP inside.
    if (protocol != kGrePpp || !key || checksum) return h;
    len += 4;
    if (sequence) len += 4;
    if (b[1] & 0x80) len += 4;  // acknowledgment number
    if (b.size() < len) return h;
    h = {true, Tunnel::kGrePptp, Inner::kPpp, len};
    return h;
  }
  if (version != 0) return h;
  if (checksum) len += 4;
  if (key) len += 4;
  if (sequence) len += 4;
  if (b.size() < len) return h;
  switch (protocol) {
    case kEtherIpv4:
      return {true, Tunnel::kGre, Inner::kIpv4, len};
    case kEtherIpv6:
      return {true, Tunnel::kGre, Inner::kIpv6, len};
    case kEtherTeb:
      return {true, Tunnel::kGre, Inner::kEthernet, len};
    case kEtherMplsUnicast:
    case kEtherMplsMulticast:
      return {true, Tunnel::kGre, Inner::kMpls, len};
    case kGrePpp:
      return {true, Tunnel::kGre, Inner::kPpp, len};
    case kEtherNsh:
      return {true, Tunnel::kGre, Inner::kNsh, len};
    case kGreErspan2:
      if (!sequence) return {true, Tunnel::kErspan1, Inner::kEthernet, len};
      if (b.size() < len + 8 || (b[len] >> 4) != 1) return h;
      return {true, Tunnel::kErspan2, Inner::kEthernet, len + 8};
    case kGreErspan3: {
      if (b.size() < len + 12 || (b[len] >> 4) != 2) return h;
      // The O bit (last bit of the header) announces an 8-byte platform-specific subheader.
      const std::size_t sub = (b[len + 11] & 0x01) ? 8 : 0;
      if (b.size() < len + 12 + sub) return h;
      return {true, Tunnel::kErspan3, Inner::kEthernet, len + 12 + sub};
    }
    default:
      return h;
  }
}

TunnelHeader udp_tunnel_header(Encap encap, Bytes b, std::uint32_t declared) {
  TunnelHeader h;
  switch (encap) {
    case Encap::kVxlan:
      // Flags with the I bit (valid VNI); the reserved bits are not checked (group policy uses
      // some of them).
      if (b.size() < 8 || (b[0] & 0x08) == 0) return h;
      return {true, Tunnel::kVxlan, Inner::kEthernet, 8};
    case Encap::kVxlanGpe: {
      if (b.size() < 8 || ((b[0] >> 4) & 0x3) != 0 || (b[0] & 0x04) == 0) return h;
      switch (b[3]) {
        case 1:
          return {true, Tunnel::kVxlanGpe, Inner::kIpv4, 8};
        case 2:
          return {true, Tunnel::kVxlanGpe, Inner::kIpv6, 8};
        case 3:
          return {true, Tunnel::kVxlanGpe, Inner::kEthernet, 8};
        case 4:
          return {true, Tunnel::kVxlanGpe, Inner::kNsh, 8};
        case 5:
          return {true, Tunnel::kVxlanGpe, Inner::kMpls, 8};
        default:
          return h;
      }
    }
    case Encap::kGeneve: {
      if (b.size() < 8 || (b[0] >> 6) != 0) return h;
      const std::size_t len = 8 + static_cast<std::size_t>(b[0] & 0x3F) * 4;
      if (b.size() < len) return h;
      switch (load16(b.data() + 2)) {
        case kEtherTeb:
          return {true, Tunnel::kGeneve, Inner::kEthernet, len};
        case kEtherIpv4:
          return {true, Tunnel::kGeneve, Inner::kIpv4, len};
        case kEtherIpv6:
          return {true, Tunnel::kGeneve, Inner::kIpv6, len};
        default:
          return h;
      }
    }
    case Encap::kGtpU: {
      // GTPv1-U G-PDU: version 1, protocol type GTP, message type 255.
      if (b.size() < 8 || (b[0] >> 5) != 1 || (b[0] & 0x10) == 0 || b[1] != 0xFF) return h;
      std::size_t len = 8;
      if (b[0] & 0x07) len = 12;  // sequence number, N-PDU number, next extension type
      if (b.size() < len) return h;
      if (b[0] & 0x04) {
        std::uint8_t next = b[11];
        for (int count = 0; next != 0; ++count) {
          if (count == 8 || b.size() < len + 1) return h;
          const std::size_t ext = static_cast<std::size_t>(b[len]) * 4;
          if (ext == 0 || b.size() < len + ext) return h;
          next = b[len + ext - 1];
          len += ext;
        }
      }
      if (b.size() <= len) return h;
      const unsigned version = b[len] >> 4;
      if (version != 4 && version != 6) return h;
      return {true, Tunnel::kGtpU, Inner::kIp, len};
    }
    case Encap::kTeredo: {
      // Optional authentication (00 01) and origin indication (00 00) headers, then IPv6 whose
      // payload length matches the UDP payload (as Zeek checks, so other traffic on the port is
      // not mistaken for Teredo).
      std::size_t len = 0;
      if (b.size() >= 4 && b[0] == 0x00 && b[1] == 0x01) {
        len = 4 + static_cast<std::size_t>(b[2]) + b[3] + 8 + 1;
      }
      if (b.size() >= len + 8 && b[len] == 0x00 && b[len + 1] == 0x00) len += 8;
      if (b.size() < len + kIpv6HeaderLen || (b[len] >> 4) != 6) return h;
      const std::size_t ipv6_len = kIpv6HeaderLen + load16(b.data() + len + 4);
      if (ipv6_len != declared - len) return h;
      return {true, Tunnel::kTeredo, Inner::kIpv6, len};
    }
    case Encap::kAyiya: {
      // Identity length (2^n bytes) and type, signature length (n*4 bytes) and hash method,
      // authentication method and opcode (1 = forward), next header, 4-byte epoch.
      if (b.size() < 8) return h;
      const std::size_t len = 8 + (std::size_t{1} << (b[0] >> 4)) + (b[1] >> 4) * std::size_t{4};
      if ((b[2] & 0x0F) != 1 || b.size() < len) return h;
      if (b[3] == kProtoIpv4) return {true, Tunnel::kAyiya, Inner::kIpv4, len};
      if (b[3] == kProtoIpv6) return {true, Tunnel::kAyiya, Inner::kIpv6, len};
      return h;
    }
    case Encap::kMplsUdp:
      return {true, Tunnel::kMplsUdp, Inner::kMpls, 0};
    default:
      return h;
  }
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
  FrameDecoder decoder(out, stats);
  const DecodeError error = decoder.link(link, bytes);
  count_error(error, out, stats);
  return error;
}

DecodeError decode_reassembled(const Packet& head, std::span<const std::uint8_t> l4,
                               std::uint32_t l4_len, Packet& out, DecodeStats& stats) noexcept {
  out = Packet{};
  out.ts_ns = head.ts_ns;
  out.wire_len = head.wire_len;
  out.cap_len = head.cap_len;
  out.vlan = head.vlan;
  out.vlan_depth = head.vlan_depth;
  out.l3 = head.l3;
  out.tunnel_depth = head.tunnel_depth;
  out.src = head.src;
  out.dst = head.dst;
  out.ip_proto = head.ip_proto;
  out.ttl = head.ttl;
  out.ip_header_len = head.ip_header_len;
  out.ip_total_len = head.ip_header_len + l4_len;
  out.outer = head.outer;
  FrameDecoder decoder(out, stats);
  const DecodeError error = decoder.transport(l4, l4_len);
  count_error(error, out, stats);
  return error;
}

InnerResult decode_inner(const Packet& outer, Packet& inner, DecodeStats& stats) noexcept {
  InnerResult result;
  const Bytes payload = outer.payload;
  const std::uint32_t declared = outer.payload_len;
  TunnelHeader h;
  switch (outer.encap) {
    case Encap::kNone:
      return result;
    case Encap::kGre:
      h = gre_header(payload);
      break;
    case Encap::kIpInIp:
      h.valid = true;
      h.inner = outer.ip_proto == kProtoIpv4 ? Inner::kIpv4 : Inner::kIpv6;
      if (outer.l3 == L3::kIpv4) {
        h.tunnel = h.inner == Inner::kIpv4 ? Tunnel::kIpInIp : Tunnel::k6in4;
      } else {
        h.tunnel = h.inner == Inner::kIpv4 ? Tunnel::k4in6 : Tunnel::kIpInIp;
      }
      break;
    default:
      h = udp_tunnel_header(outer.encap, payload, declared);
      break;
  }
  if (!h.valid || h.length > payload.size()) return result;

  const Bytes bytes = payload.subspan(h.length);
  inner = Packet{};
  inner.ts_ns = outer.ts_ns;
  inner.cap_len = static_cast<std::uint32_t>(bytes.size());
  inner.wire_len =
      declared > h.length ? declared - static_cast<std::uint32_t>(h.length) : inner.cap_len;
  inner.tunnel_depth = static_cast<std::uint8_t>(outer.tunnel_depth + 1);
  ++stats.packets;
  stats.bytes += inner.wire_len;
  FrameDecoder decoder(inner, stats);
  DecodeError error = DecodeError::kNone;
  switch (h.inner) {
    case Inner::kEthernet:
      error = decoder.ethernet(bytes);
      break;
    case Inner::kIp:
      error = decoder.by_version(bytes);
      break;
    case Inner::kIpv4:
      error = decoder.ipv4(bytes);
      break;
    case Inner::kIpv6:
      error = decoder.ipv6(bytes);
      break;
    case Inner::kPpp:
      error = decoder.ppp(bytes);
      break;
    case Inner::kMpls:
      error = decoder.mpls(bytes);
      break;
    case Inner::kNsh:
      error = decoder.nsh(bytes);
      break;
  }
  count_error(error, inner, stats);
  result.decapsulated = true;
  result.tunnel = h.tunnel;
  result.error = error;
  return result;
}

}  // namespace netsentry::net
