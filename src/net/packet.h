// Provides the decoded view of one captured packet (net::Packet), the link types we accept, the
// reasons a packet can be malformed, and per-reason counters. A Packet holds no pointers into the
// capture buffer except `payload`, which is valid only while the captured bytes are.
// Thread rules: plain values; DecodeStats is owned by one thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace netsentry::net {

// DLT values from pcap-linktype(7) that we decode.
enum class LinkType : int {
  kNull = 0,         // DLT_NULL: BSD loopback, 4-byte host-order family
  kEthernet = 1,     // DLT_EN10MB
  kRaw = 101,        // LINKTYPE_RAW (DLT_RAW is 12 or 14 on some systems; normalised to this)
  kLoop = 108,       // DLT_LOOP: OpenBSD loopback, network-order family
  kLinuxSll = 113,   // DLT_LINUX_SLL
  kIpv4 = 228,       // LINKTYPE_IPV4
  kIpv6 = 229,       // LINKTYPE_IPV6
  kLinuxSll2 = 276,  // DLT_LINUX_SLL2
};

// Returns true when `dlt` (a pcap link type number) is one we decode; normalises DLT_RAW aliases.
bool link_type_from_dlt(int dlt, LinkType& out);
std::string_view link_type_name(LinkType type);

// An IPv4 or IPv6 address; IPv4 uses the first 4 bytes, the rest are zero.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  std::uint8_t family = 0;  // 4 or 6; 0 = none

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
  [[nodiscard]] std::string to_string() const;
  // Parses dotted IPv4 or textual IPv6; returns false when it is neither.
  static bool parse(std::string_view text, IpAddress& out);
};

enum class L3 : std::uint8_t { kNone, kIpv4, kIpv6, kArp, kOther };

// Why a packet could not be decoded fully. kNone means it decoded cleanly.
enum class DecodeError : std::uint8_t {
  kNone = 0,
  kTruncatedLinkHeader,  // shorter than the Ethernet / SLL / SLL2 / null header
  kTruncatedVlan,        // 802.1Q / QinQ tag cut short
  kTooManyVlanTags,      // more than 2 stacked tags
  kTruncatedIpv4,        // shorter than 20 bytes or than its IHL
  kBadIpv4Version,       // version field is not 4
  kBadIpv4HeaderLength,  // IHL < 5
  kBadIpv4TotalLength,   // total length < IHL*4
  kTruncatedIpv6,        // shorter than 40 bytes
  kBadIpv6Version,
  kBadIpv6ExtensionHeader,  // extension header cut short or chain too long
  kTruncatedTcp,
  kBadTcpHeaderLength,  // data offset < 5 or past the captured bytes
  kTruncatedUdp,
  kBadUdpLength,
  kTruncatedIcmp,
  kTruncatedArp,
  kTruncatedPppoe,  // PPPoE session header or PPP protocol field cut short
  kBadMplsStack,    // MPLS label stack cut short or deeper than 8 labels
  kCount
};
std::string_view decode_error_name(DecodeError error);

struct Packet {
  std::int64_t ts_ns = 0;      // capture time, nanoseconds since the Unix epoch
  std::uint32_t wire_len = 0;  // length on the wire
  std::uint32_t cap_len = 0;   // bytes captured

  std::uint16_t vlan = 0;       // outer VLAN id, 0 when untagged
  std::uint8_t vlan_depth = 0;  // 0, 1 or 2 (QinQ)
  L3 l3 = L3::kNone;

  IpAddress src;
  IpAddress dst;
  std::uint8_t ip_proto = 0;        // 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...
  std::uint8_t ttl = 0;             // TTL or hop limit
  std::uint16_t ip_header_len = 0;  // IPv4 IHL*4, or IPv6 40 + extension headers
  std::uint32_t ip_total_len = 0;   // IPv4 total length, or 40 + IPv6 payload length
  bool fragment = false;            // part of a fragmented datagram
  bool first_fragment = false;      // offset 0 (carries the L4 header)

  bool has_l4 = false;  // ports / ICMP type were decoded
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t tcp_flags =
      0;  // FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80
  std::uint16_t tcp_window = 0;
  std::uint32_t tcp_seq = 0;
  std::uint32_t tcp_ack = 0;
  std::uint16_t l4_header_len = 0;  // TCP data offset*4, UDP 8, ICMP 8
  std::uint32_t payload_len = 0;    // L4 payload bytes per the IP lengths (not the captured bytes)
  std::uint8_t icmp_type = 0;
  std::uint8_t icmp_code = 0;

  std::span<const std::uint8_t>
      payload;  // captured L4 payload bytes (may be shorter than payload_len)
};

namespace tcp_flag {
inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kPsh = 0x08;
inline constexpr std::uint8_t kAck = 0x10;
inline constexpr std::uint8_t kUrg = 0x20;
inline constexpr std::uint8_t kEce = 0x40;
inline constexpr std::uint8_t kCwr = 0x80;
}  // namespace tcp_flag

// Counters kept by the decoding thread.
struct DecodeStats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;  // wire bytes
  std::uint64_t ipv4 = 0;
  std::uint64_t ipv6 = 0;
  std::uint64_t arp = 0;
  std::uint64_t other_l3 = 0;    // not IP, not ARP (LLDP, STP, ...)
  std::uint64_t fragments = 0;   // IP fragments (first and later)
  std::uint64_t tso_length = 0;  // IPv4 total length 0 (TSO/GSO capture): wire length used
  std::uint64_t tcp = 0;
  std::uint64_t udp = 0;
  std::uint64_t icmp = 0;
  std::uint64_t other_l4 = 0;
  std::uint64_t malformed = 0;  // sum of by_reason
  std::array<std::uint64_t, static_cast<std::size_t>(DecodeError::kCount)> by_reason{};
};

}  // namespace netsentry::net
