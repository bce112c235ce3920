// Provides the decoded view of one captured packet (net::Packet), the link types we accept, the
// reasons a packet can be malformed or carry no IP, what a packet may encapsulate, and per-reason
// counters. A Packet holds no pointers into the capture buffer except `payload`, which is valid
// only while the captured bytes are, and `outer`, set by the flow meter for tunnelled packets.
// Thread rules: plain values; DecodeStats is owned by one thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace netsentry::net {

// A pcap link type (DLT/LINKTYPE number). Any value may be held; the named ones are those we
// decode (is_supported), and a packet of another link type is counted, never refused.
enum class LinkType : int {
  kNull = 0,              // DLT_NULL: BSD loopback, 4-byte host-order family
  kEthernet = 1,          // DLT_EN10MB
  kSlip = 8,              // DLT_SLIP: 16-byte BSD/OS SLIP header, then IP
  kPpp = 9,               // DLT_PPP: optional FF 03, then the PPP protocol
  kFddi = 10,             // DLT_FDDI: frame control, addresses, LLC
  kAtmRfc1483 = 100,      // DLT_ATM_RFC1483: LLC/SNAP, then the payload
  kRaw = 101,             // LINKTYPE_RAW (DLT_RAW is 12 or 14 on some systems; normalised to this)
  kPppHdlc = 50,          // DLT_PPP_SERIAL: PPP in HDLC-like framing (or Cisco HDLC)
  kPppEther = 51,         // DLT_PPP_ETHER: PPPoE header without Ethernet
  kCiscoHdlc = 104,       // DLT_C_HDLC
  kIeee80211 = 105,       // DLT_IEEE802_11: 802.11 frames
  kFrameRelay = 107,      // DLT_FRELAY: Q.922 address, then NLPID
  kLoop = 108,            // DLT_LOOP: OpenBSD loopback, network-order family
  kLinuxSll = 113,        // DLT_LINUX_SLL
  kPrism = 119,           // DLT_PRISM_HEADER: Prism monitor header, then 802.11
  kRadiotap = 127,        // DLT_IEEE802_11_RADIO: radiotap header, then 802.11
  kAvs = 163,             // DLT_IEEE802_11_RADIO_AVS: AVS monitor header, then 802.11
  kPpi = 192,             // DLT_PPI: per-packet information header, then its own link type
  kIpnet = 226,           // DLT_IPNET: Solaris ipnet header, then IP
  kIpv4 = 228,            // LINKTYPE_IPV4
  kIpv6 = 229,            // LINKTYPE_IPV6
  kNflog = 239,           // DLT_NFLOG: Linux netfilter log TLVs, the packet in NFULA_PAYLOAD
  kPktap = 258,           // DLT_PKTAP: Apple pktap header, then its own link type
  kLinuxSll2 = 276,       // DLT_LINUX_SLL2
  kDsaBrcm = 281,         // Ethernet with a Broadcom switch tag after the source address
  kDsaBrcmPrepend = 282,  // a Broadcom switch tag before the Ethernet header
  kDsa = 284,             // Ethernet with a Marvell DSA tag after the source address
  kEdsa = 285,            // Ethernet with a Marvell EtherType DSA tag after the source address
};

// The link type for a pcap DLT number, normalising DLT_RAW aliases (12, 14 -> kRaw).
[[nodiscard]] LinkType link_type_of_dlt(int dlt);
// True when net::decode understands frames of `type`.
[[nodiscard]] bool is_supported(LinkType type);
// Compatibility form: sets `out` to link_type_of_dlt(dlt) and returns is_supported(out).
bool link_type_from_dlt(int dlt, LinkType& out);
// Our name for a link type ("ethernet", "ieee802_11_radiotap", ...), or "dlt_<n>".
std::string link_type_name(LinkType type);

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
// True for 127.0.0.0/8 and ::1 (and IPv4-mapped ::ffff:127.x.y.z).
[[nodiscard]] bool is_loopback_address(const IpAddress& address);
// True for IPv4 multicast (224.0.0.0/4) and the limited broadcast (255.255.255.255), and IPv6
// multicast (ff00::/8).
[[nodiscard]] bool is_broadcast_or_multicast_address(const IpAddress& address);
// Whether the address whose bytes start at `bytes` (of `network`'s family) is in the network
// `network`/`prefix`, prefix at most 32 (IPv4) or 128: its first `prefix` bits are network's.
[[nodiscard]] bool in_prefix(const std::uint8_t* bytes, const IpAddress& network, int prefix);

enum class L3 : std::uint8_t { kNone, kIpv4, kIpv6, kArp, kOther };

// Why a packet could not be decoded fully. kNone means it decoded cleanly.
enum class DecodeError : std::uint8_t {
  kNone = 0,
  kTruncatedLinkHeader,  // shorter than its link-layer header (Ethernet, SLL, 802.11, ...)
  kTruncatedVlan,        // 802.1Q / QinQ tag cut short
  kTooManyVlanTags,      // more than kMaxVlanTags stacked tags
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
  kTruncatedPppoe,          // PPPoE session header or PPP protocol field cut short
  kBadMplsStack,            // MPLS label stack cut short or deeper than 8 labels
  kBadLinkHeader,           // a link header whose own length field is impossible (radiotap, ...)
  kTruncatedEncapsulation,  // LLC/SNAP, PBB, VN-Tag, FabricPath, PPP, ... header cut short
  kTruncatedSctp,
  kTooManyLayers,  // more nested link-layer encapsulations than kMaxLinkLayers
  kCount
};
std::string_view decode_error_name(DecodeError error);

// Why a cleanly decoded packet carries no IP datagram (it belongs to no flow). Each one is counted
// and named in the summaries; nothing is dropped silently.
enum class NotIp : std::uint8_t {
  kArp = 0,              // ARP / RARP
  kLldp,                 // 802.1AB LLDP
  kStp,                  // spanning tree (LLC 0x42)
  kLlcOther,             // other 802.2 LLC (NetBIOS, XID/TEST, ...)
  kSnapOther,            // SNAP with a non-IP protocol (CDP, VTP, DTP, PVST+, ...)
  kEapol,                // 802.1X
  kSlowProtocols,        // LACP, marker, link OAM (0x8809)
  kPppoeDiscovery,       // PPPoE PADI/PADO/...
  kPppControl,           // LCP, IPCP, IPV6CP, PAP, CHAP, CCP, ...
  kVjCompressed,         // Van Jacobson compressed TCP/IP (SLIP, PPP): headers not recoverable
  kIpx,                  // Novell IPX (any framing)
  kAppleTalk,            // AppleTalk and AARP
  kDecnet,               // DECnet and other DEC protocols
  kOsi,                  // OSI: IS-IS, ES-IS, CLNP
  kLoopback,             // Ethernet configuration test protocol (0x9000)
  kPtp,                  // IEEE 1588 precision time
  kMacsec,               // 802.1AE MACsec: the payload is encrypted or integrity-only
  kCfm,                  // 802.1ag connectivity fault management
  kMplsNonIp,            // an MPLS payload that is not IP (pseudowire, ...)
  kWifiManagement,       // 802.11 management frames (beacons, probes, ...)
  kWifiControl,          // 802.11 control frames (RTS, CTS, ACK, ...)
  kWifiNoData,           // 802.11 null-function data frames
  kWifiProtected,        // 802.11 data frames with the protected bit: encrypted payload
  kWifiAggregate,        // 802.11 A-MSDU data frames
  kNflogNoPayload,       // NFLOG records without a packet payload
  kLinkControl,          // Frame Relay LMI/Q.933, Cisco SLARP/keepalives, other link control
  kOtherEtherType,       // an EtherType we do not follow (see DecodeStats::other_ether_types)
  kOtherLinkProtocol,    // a link-layer protocol number we do not follow (PPP, SLL, NFLOG, ...)
  kUnsupportedLinkType,  // the capture's link type is one we do not decode
  kCount
};
inline constexpr std::size_t kNotIpCount = static_cast<std::size_t>(NotIp::kCount);
std::string_view not_ip_name(NotIp reason);

// What the IP payload of a packet may carry, judged from its protocol number or well-known UDP
// port. decode() only marks the candidate; decode_inner() checks the tunnel header and decodes the
// inner packet (the flow meter calls it).
enum class Encap : std::uint8_t {
  kNone = 0,
  kGre,       // IP protocol 47: GRE, enhanced GRE (PPTP), ERSPAN I/II/III
  kIpInIp,    // IP protocol 4 or 41 (IP-in-IP, 6in4, 4in6, 6in6)
  kVxlan,     // UDP 4789
  kGeneve,    // UDP 6081
  kGtpU,      // UDP 2152
  kTeredo,    // UDP 3544
  kAyiya,     // UDP 5072
  kMplsUdp,   // UDP 6635 (RFC 7510)
  kVxlanGpe,  // UDP 4790
};

// The tunnel a decapsulated packet came out of, for the per-type counters.
enum class Tunnel : std::uint8_t {
  kGre = 0,  // GRE version 0 carrying IP, Ethernet, MPLS or PPP
  kGrePptp,  // enhanced GRE (version 1, PPTP) carrying PPP
  kErspan1,  // ERSPAN type I (GRE 0x88BE without a sequence number)
  kErspan2,  // ERSPAN type II
  kErspan3,  // ERSPAN type III
  kVxlan,
  kGeneve,
  kGtpU,
  kTeredo,
  kAyiya,
  kIpInIp,  // IPv4 in IPv4, IPv6 in IPv6
  k6in4,    // IPv6 in IPv4 (SIT)
  k4in6,    // IPv4 in IPv6
  kMplsUdp,
  kVxlanGpe,
  kCount
};
inline constexpr std::size_t kTunnelCount = static_cast<std::size_t>(Tunnel::kCount);
std::string_view tunnel_name(Tunnel tunnel);

struct Packet {
  std::int64_t ts_ns = 0;      // capture time, nanoseconds since the Unix epoch
  std::uint32_t wire_len = 0;  // length on the wire (of the whole frame, also for inner packets)
  std::uint32_t cap_len = 0;   // bytes captured

  std::uint16_t vlan = 0;       // outer VLAN id, 0 when untagged
  std::uint8_t vlan_depth = 0;  // stacked 802.1Q/QinQ tags seen (0 .. kMaxVlanTags)
  L3 l3 = L3::kNone;
  NotIp not_ip = NotIp::kCount;   // why there is no IP (l3 kArp or kOther); kCount otherwise
  Encap encap = Encap::kNone;     // what the IP payload may carry (see decode_inner)
  std::uint8_t tunnel_depth = 0;  // 0 for the outermost IP layer, 1 for a packet inside it, ...

  IpAddress src;
  IpAddress dst;
  std::uint8_t ip_proto = 0;        // 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...
  std::uint8_t ttl = 0;             // TTL or hop limit
  std::uint16_t ip_header_len = 0;  // IPv4 IHL*4, or IPv6 40 + extension headers
  std::uint32_t ip_total_len = 0;   // IPv4 total length, or 40 + IPv6 payload length
  // The captured bytes of the IP datagram from its header on (clipped to the IP length).
  std::span<const std::uint8_t> ip_bytes;

  // Fragments (fragment == true): the datagram they belong to and their place in it.
  bool fragment = false;          // part of a fragmented datagram
  bool first_fragment = false;    // offset 0 (carries the L4 header)
  bool more_fragments = false;    // MF / M flag
  std::uint32_t frag_id = 0;      // IPv4 identification or IPv6 fragment identification
  std::uint32_t frag_offset = 0;  // byte offset of this fragment's data in the datagram

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
  // For a packet decapsulated from a tunnel: the packet that carried it (its tunnel_parent flow).
  // Set by the flow meter, valid while the meter hands the packet to the flow table.
  const Packet* outer = nullptr;
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

// A small fixed table of (value, count) for values that are rare but worth naming in a summary
// (EtherTypes we do not follow, link types we do not decode). Values past its capacity are counted
// in `others` only; never allocates.
struct ValueCounts {
  static constexpr std::size_t kCapacity = 8;
  std::array<std::uint32_t, kCapacity> value{};
  std::array<std::uint64_t, kCapacity> count{};
  std::size_t size = 0;
  std::uint64_t others = 0;

  void add(std::uint32_t v) {
    for (std::size_t i = 0; i < size; ++i) {
      if (value[i] == v) {
        ++count[i];
        return;
      }
    }
    if (size < kCapacity) {
      value[size] = v;
      count[size++] = 1;
    } else {
      ++others;
    }
  }
};

// Counters kept by the decoding thread.
struct DecodeStats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;  // wire bytes
  std::uint64_t ipv4 = 0;
  std::uint64_t ipv6 = 0;
  std::uint64_t arp = 0;
  std::uint64_t other_l3 = 0;    // not IP, not ARP: by reason in not_ip
  std::uint64_t fragments = 0;   // IP fragments (first and later)
  std::uint64_t tso_length = 0;  // IPv4 total length 0 (TSO/GSO capture): wire length used
  std::uint64_t tcp = 0;
  std::uint64_t udp = 0;
  std::uint64_t icmp = 0;
  std::uint64_t other_l4 = 0;
  std::uint64_t malformed = 0;            // sum of by_reason
  std::uint64_t malformed_before_ip = 0;  // malformed before an IP header was read (no flow)
  std::array<std::uint64_t, static_cast<std::size_t>(DecodeError::kCount)> by_reason{};
  // Packets without IP, by reason (arp and other_l3 are sums over these).
  std::array<std::uint64_t, kNotIpCount> not_ip{};
  ValueCounts other_ether_types;  // NotIp::kOtherEtherType, by EtherType
  ValueCounts unsupported_links;  // NotIp::kUnsupportedLinkType, by link type number

  // Packets that left no IP datagram for a flow: not IP, or malformed before the IP addresses.
  [[nodiscard]] std::uint64_t not_in_flows() const { return arp + other_l3 + malformed_before_ip; }
};

}  // namespace netsentry::net
