#include "net/sighting.h"

#include <fmt/format.h>

#include <optional>

namespace netsentry::net {
namespace {

constexpr std::uint16_t kEtherArp = 0x0806;
constexpr std::size_t kArpLength = 28;
constexpr std::uint8_t kIcmpv6 = 58;
constexpr std::uint8_t kNeighbourSolicitation = 135;
constexpr std::uint8_t kNeighbourAdvertisement = 136;
constexpr std::uint8_t kUdp = 17;
constexpr std::uint8_t kTcp = 6;
constexpr std::uint16_t kDnsPort = 53;

std::uint16_t load16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}

MacAddress mac_at(std::span<const std::uint8_t> b, std::size_t at) {
  MacAddress mac{};
  for (std::size_t i = 0; i < mac.size(); ++i) mac[i] = b[at + i];
  return mac;
}

// Where a frame's network layer starts, its EtherType and the frame's source MAC, for the link
// types that carry ARP with Ethernet addresses.
struct LinkHeader {
  std::size_t l3 = 0;
  std::uint16_t ether_type = 0;
  std::optional<MacAddress> src;
};

std::optional<LinkHeader> link_header(LinkType link, std::span<const std::uint8_t> f) {
  LinkHeader h;
  switch (link) {
    case LinkType::kEthernet: {
      if (f.size() < 14) return std::nullopt;
      h.src = mac_at(f, 6);
      std::size_t at = 12;
      std::uint16_t type = load16(f, at);
      // 802.1Q, 802.1ad and the old QinQ tag: each adds four bytes.
      for (int tags = 0; (type == 0x8100 || type == 0x88A8 || type == 0x9100) && tags < 8; ++tags) {
        at += 4;
        if (f.size() < at + 2) return std::nullopt;
        type = load16(f, at);
      }
      h.ether_type = type;
      h.l3 = at + 2;
      return h;
    }
    case LinkType::kLinuxSll: {
      if (f.size() < 16) return std::nullopt;
      if (load16(f, 2) == 1 && load16(f, 4) == 6) h.src = mac_at(f, 6);
      h.ether_type = load16(f, 14);
      h.l3 = 16;
      return h;
    }
    case LinkType::kLinuxSll2: {
      if (f.size() < 20) return std::nullopt;
      if (load16(f, 8) == 1 && f[11] == 6) h.src = mac_at(f, 12);
      h.ether_type = load16(f, 0);
      h.l3 = 20;
      return h;
    }
    default:
      return std::nullopt;
  }
}

bool sight_arp(LinkType link, std::span<const std::uint8_t> frame, Sighting& out) {
  const auto h = link_header(link, frame);
  if (!h || h->ether_type != kEtherArp || frame.size() < h->l3 + kArpLength) return false;
  const auto arp = frame.subspan(h->l3, kArpLength);
  // Ethernet hardware, IPv4 protocol addresses, their lengths.
  if (load16(arp, 0) != 1 || load16(arp, 2) != 0x0800 || arp[4] != 6 || arp[5] != 4) return false;
  const std::uint16_t op = load16(arp, 6);
  if (op != 1 && op != 2) return false;
  out.kind = op == 1 ? SightingKind::kArpRequest : SightingKind::kArpReply;
  out.mac = mac_at(arp, 8);
  out.ip = IpAddress{};
  out.ip.family = 4;
  for (std::size_t i = 0; i < 4; ++i) out.ip.bytes[i] = arp[14 + i];
  out.peer = IpAddress{};
  out.peer.family = 4;
  for (std::size_t i = 0; i < 4; ++i) out.peer.bytes[i] = arp[24 + i];
  out.sender = out.ip;
  out.has_frame_src = h->src.has_value();
  if (h->src) out.frame_src = *h->src;
  return true;
}

// The MAC of the first link-layer address option of `type` (1 source, 2 target) in ND options.
std::optional<MacAddress> nd_option(std::span<const std::uint8_t> options, std::uint8_t type) {
  std::size_t at = 0;
  while (at + 2 <= options.size()) {
    const std::size_t len = std::size_t{options[at + 1]} * 8;
    if (len == 0 || at + len > options.size()) return std::nullopt;  // RFC 4861 4.6: discard
    if (options[at] == type && len >= 8) return mac_at(options, at + 2);
    at += len;
  }
  return std::nullopt;
}

bool sight_neighbour(LinkType link, std::span<const std::uint8_t> frame, const Packet& p,
                     Sighting& out) {
  if (p.l3 != L3::kIpv6 || p.ip_proto != kIcmpv6 || p.fragment || !p.has_l4) return false;
  if (p.icmp_type != kNeighbourSolicitation && p.icmp_type != kNeighbourAdvertisement) {
    return false;
  }
  if (p.ip_bytes.size() < std::size_t{p.ip_header_len} + 24) return false;
  const auto icmp = p.ip_bytes.subspan(p.ip_header_len);
  const auto options = icmp.subspan(24);
  const auto h = link_header(link, frame);
  out.has_frame_src = h && h->src.has_value();
  if (out.has_frame_src) out.frame_src = *h->src;
  out.sender = p.src;
  out.peer = p.dst;
  if (p.icmp_type == kNeighbourSolicitation) {
    // A solicitation tells its source's binding (none from the unspecified address: DAD).
    const auto mac = nd_option(options, 1);
    bool unspecified = true;
    for (const auto b : p.src.bytes) unspecified = unspecified && b == 0;
    if (!mac || unspecified) return false;
    out.kind = SightingKind::kNeighbourSolicit;
    out.ip = p.src;
    out.mac = *mac;
    return true;
  }
  out.kind = SightingKind::kNeighbourAdvert;
  out.solicited = (icmp[4] & 0x40) != 0;
  out.override_flag = (icmp[4] & 0x20) != 0;
  out.ip = IpAddress{};
  out.ip.family = 6;
  for (std::size_t i = 0; i < 16; ++i) out.ip.bytes[i] = icmp[8 + i];
  const auto mac = nd_option(options, 2);
  if (mac) {
    out.mac = *mac;
  } else if (out.has_frame_src) {
    out.mac = out.frame_src;
  } else {
    return false;
  }
  return true;
}

bool sight_dns(const Packet& p, Sighting& out) {
  if (p.ip_proto != kUdp || !p.has_l4 || p.dst_port != kDnsPort) return false;
  if (p.fragment && !p.first_fragment) return false;
  if (!dns_question(p.payload, out.name, out.dns_type)) return false;
  out.kind = SightingKind::kDnsQuery;
  out.ip = p.src;
  out.sender = p.src;
  out.peer = p.dst;
  out.src_port = p.src_port;
  return true;
}

bool starts_with(std::span<const std::uint8_t> payload, std::string_view prefix) {
  if (payload.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (payload[i] != static_cast<std::uint8_t>(prefix[i])) return false;
  }
  return true;
}

// An IMAP tagged "NO" answer: "<tag> NO ..." (a failed LOGIN or AUTHENTICATE).
bool imap_no(std::span<const std::uint8_t> payload) {
  std::size_t at = 0;
  while (at < payload.size() && at < 32 && payload[at] != ' ') ++at;
  if (at == 0 || payload[0] == '*' || payload[0] == '+') return false;
  return starts_with(payload.subspan(std::min(at, payload.size())), " NO ");
}

bool login_failed(std::uint16_t port, std::span<const std::uint8_t> payload) {
  switch (port) {
    case 21:
      return starts_with(payload, "530 ") || starts_with(payload, "530-");
    case 23:
      return starts_with(payload, "\r\nLogin incorrect") || starts_with(payload, "Login incorrect");
    case 25:
    case 587:
      return starts_with(payload, "535 ") || starts_with(payload, "535-");
    case 110:
      return starts_with(payload, "-ERR");
    case 143:
      return imap_no(payload);
    default:
      return false;
  }
}

bool sight_login_failure(const Packet& p, Sighting& out) {
  if (p.payload.empty() || !login_failed(p.src_port, p.payload)) return false;
  out.kind = SightingKind::kLoginFailure;
  out.ip = p.dst;
  out.sender = p.src;
  out.peer = p.src;
  out.src_port = p.dst_port;
  out.dst_port = p.src_port;
  return true;
}

}  // namespace

std::string format_mac(const MacAddress& mac) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1], mac[2], mac[3],
                     mac[4], mac[5]);
}

bool dns_question(std::span<const std::uint8_t> m, std::string& name, std::uint16_t& type) {
  name.clear();
  if (m.size() < 12) return false;
  const bool response = (m[2] & 0x80) != 0;
  const int opcode = (m[2] >> 3) & 0x0F;
  if (response || opcode != 0 || load16(m, 4) == 0) return false;
  std::size_t at = 12;
  std::size_t wire = 1;  // the root label
  for (;;) {
    if (at >= m.size()) return false;
    const std::size_t len = m[at++];
    if (len == 0) break;
    if ((len & 0xC0) != 0) return false;  // a pointer or an extended label type
    wire += len + 1;
    if (wire > Sighting::kMaxName || at + len > m.size()) return false;
    if (!name.empty()) name.push_back('.');
    for (std::size_t i = 0; i < len; ++i) {
      const auto c = static_cast<char>(m[at + i]);
      name.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    at += len;
  }
  if (at + 2 > m.size()) return false;
  type = load16(m, at);
  return true;
}

bool sight(LinkType link, std::span<const std::uint8_t> frame, const Packet& packet,
           Sighting& out) {
  out.ts_ns = packet.ts_ns;
  out.vlan = packet.vlan;
  if (packet.l3 == L3::kArp) return sight_arp(link, frame, out);
  if (packet.l3 == L3::kIpv6 && packet.ip_proto == kIcmpv6) {
    return sight_neighbour(link, frame, packet, out);
  }
  if (!packet.has_l4) return false;
  if (packet.ip_proto == kUdp && packet.dst_port == kDnsPort) return sight_dns(packet, out);
  if (packet.ip_proto == kTcp && packet.src_port < 600) return sight_login_failure(packet, out);
  return false;
}

}  // namespace netsentry::net
