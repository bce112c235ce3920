// Link type mapping, address text conversion and error names for net/packet.h. None of this is on
// the per-packet path: text conversion is for logs, reports and configuration.
#include "net/packet.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

namespace netsentry::net {

LinkType link_type_of_dlt(int dlt) {
  // DLT_RAW is 12 on most systems and 14 on OpenBSD; both mean "starts with an IP header".
  if (dlt == 12 || dlt == 14) return LinkType::kRaw;
  return static_cast<LinkType>(dlt);
}

bool is_supported(LinkType type) {
  switch (type) {
    case LinkType::kNull:
    case LinkType::kEthernet:
    case LinkType::kSlip:
    case LinkType::kPpp:
    case LinkType::kFddi:
    case LinkType::kAtmRfc1483:
    case LinkType::kRaw:
    case LinkType::kPppHdlc:
    case LinkType::kPppEther:
    case LinkType::kCiscoHdlc:
    case LinkType::kIeee80211:
    case LinkType::kFrameRelay:
    case LinkType::kLoop:
    case LinkType::kLinuxSll:
    case LinkType::kPrism:
    case LinkType::kRadiotap:
    case LinkType::kAvs:
    case LinkType::kPpi:
    case LinkType::kIpnet:
    case LinkType::kIpv4:
    case LinkType::kIpv6:
    case LinkType::kNflog:
    case LinkType::kPktap:
    case LinkType::kLinuxSll2:
    case LinkType::kDsaBrcm:
    case LinkType::kDsaBrcmPrepend:
    case LinkType::kDsa:
    case LinkType::kEdsa:
      return true;
  }
  return false;
}

bool link_type_from_dlt(int dlt, LinkType& out) {
  out = link_type_of_dlt(dlt);
  return is_supported(out);
}

std::string link_type_name(LinkType type) {
  switch (type) {
    case LinkType::kNull:
      return "null";
    case LinkType::kEthernet:
      return "ethernet";
    case LinkType::kSlip:
      return "slip";
    case LinkType::kPpp:
      return "ppp";
    case LinkType::kFddi:
      return "fddi";
    case LinkType::kAtmRfc1483:
      return "atm_rfc1483";
    case LinkType::kRaw:
      return "raw";
    case LinkType::kPppHdlc:
      return "ppp_hdlc";
    case LinkType::kPppEther:
      return "ppp_ether";
    case LinkType::kCiscoHdlc:
      return "cisco_hdlc";
    case LinkType::kIeee80211:
      return "ieee802_11";
    case LinkType::kFrameRelay:
      return "frame_relay";
    case LinkType::kLoop:
      return "loop";
    case LinkType::kLinuxSll:
      return "linux_sll";
    case LinkType::kPrism:
      return "ieee802_11_prism";
    case LinkType::kRadiotap:
      return "ieee802_11_radiotap";
    case LinkType::kAvs:
      return "ieee802_11_avs";
    case LinkType::kPpi:
      return "ppi";
    case LinkType::kIpnet:
      return "ipnet";
    case LinkType::kIpv4:
      return "ipv4";
    case LinkType::kIpv6:
      return "ipv6";
    case LinkType::kNflog:
      return "nflog";
    case LinkType::kPktap:
      return "pktap";
    case LinkType::kLinuxSll2:
      return "linux_sll2";
    case LinkType::kDsaBrcm:
      return "dsa_tag_brcm";
    case LinkType::kDsaBrcmPrepend:
      return "dsa_tag_brcm_prepend";
    case LinkType::kDsa:
      return "dsa_tag_dsa";
    case LinkType::kEdsa:
      return "dsa_tag_edsa";
  }
  // Names of link types we meet in public captures but do not decode.
  switch (static_cast<int>(type)) {
    case 6:
      return "ieee802_5";
    case 7:
      return "arcnet";
    case 11:
      return "atm_clip";
    case 106:
      return "linux_atm_clip";
    case 117:
      return "pflog";
    case 122:
      return "ip_over_fc";
    case 129:
      return "arcnet_linux";
    case 138:
      return "apple_ip_over_ieee1394";
    case 143:
      return "docsis";
    case 182:
      return "mfr";
    case 195:
      return "ieee802_15_4_withfcs";
    case 215:
      return "ieee802_15_4_nonask_phy";
    case 230:
      return "ieee802_15_4_nofcs";
    case 283:
      return "ieee802_15_4_tap";
    case 231:
      return "dbus";
    case 242:
      return "ipoib";
    case 271:
      return "vsock";
    default:
      break;
  }
  if (static_cast<int>(type) >= 147 && static_cast<int>(type) <= 162) {
    return "user" + std::to_string(static_cast<int>(type) - 147);
  }
  return "dlt_" + std::to_string(static_cast<int>(type));
}

std::string_view not_ip_name(NotIp reason) {
  switch (reason) {
    case NotIp::kArp:
      return "arp";
    case NotIp::kLldp:
      return "lldp";
    case NotIp::kStp:
      return "stp";
    case NotIp::kLlcOther:
      return "llc_other";
    case NotIp::kSnapOther:
      return "snap_other";
    case NotIp::kEapol:
      return "eapol";
    case NotIp::kSlowProtocols:
      return "slow_protocols";
    case NotIp::kPppoeDiscovery:
      return "pppoe_discovery";
    case NotIp::kPppControl:
      return "ppp_control";
    case NotIp::kVjCompressed:
      return "vj_compressed";
    case NotIp::kIpx:
      return "ipx";
    case NotIp::kAppleTalk:
      return "appletalk";
    case NotIp::kDecnet:
      return "decnet";
    case NotIp::kOsi:
      return "osi";
    case NotIp::kLoopback:
      return "ethernet_loopback";
    case NotIp::kPtp:
      return "ptp";
    case NotIp::kMacsec:
      return "macsec";
    case NotIp::kCfm:
      return "cfm";
    case NotIp::kMplsNonIp:
      return "mpls_not_ip";
    case NotIp::kWifiManagement:
      return "wifi_management";
    case NotIp::kWifiControl:
      return "wifi_control";
    case NotIp::kWifiNoData:
      return "wifi_no_data";
    case NotIp::kWifiProtected:
      return "wifi_protected";
    case NotIp::kWifiAggregate:
      return "wifi_amsdu";
    case NotIp::kNflogNoPayload:
      return "nflog_no_payload";
    case NotIp::kLinkControl:
      return "link_control";
    case NotIp::kOtherEtherType:
      return "other_ethertype";
    case NotIp::kOtherLinkProtocol:
      return "other_link_protocol";
    case NotIp::kUnsupportedLinkType:
      return "unsupported_link_type";
    case NotIp::kCount:
      break;
  }
  return "unknown";
}

std::string_view tunnel_name(Tunnel tunnel) {
  switch (tunnel) {
    case Tunnel::kGre:
      return "gre";
    case Tunnel::kGrePptp:
      return "gre_pptp";
    case Tunnel::kErspan1:
      return "erspan_1";
    case Tunnel::kErspan2:
      return "erspan_2";
    case Tunnel::kErspan3:
      return "erspan_3";
    case Tunnel::kVxlan:
      return "vxlan";
    case Tunnel::kGeneve:
      return "geneve";
    case Tunnel::kGtpU:
      return "gtp_u";
    case Tunnel::kTeredo:
      return "teredo";
    case Tunnel::kAyiya:
      return "ayiya";
    case Tunnel::kIpInIp:
      return "ip_in_ip";
    case Tunnel::k6in4:
      return "6in4";
    case Tunnel::k4in6:
      return "4in6";
    case Tunnel::kMplsUdp:
      return "mpls_udp";
    case Tunnel::kVxlanGpe:
      return "vxlan_gpe";
    case Tunnel::kCount:
      break;
  }
  return "unknown";
}

std::string_view decode_error_name(DecodeError error) {
  switch (error) {
    case DecodeError::kNone:
      return "none";
    case DecodeError::kTruncatedLinkHeader:
      return "truncated_link_header";
    case DecodeError::kTruncatedVlan:
      return "truncated_vlan";
    case DecodeError::kTooManyVlanTags:
      return "too_many_vlan_tags";
    case DecodeError::kTruncatedIpv4:
      return "truncated_ipv4";
    case DecodeError::kBadIpv4Version:
      return "bad_ipv4_version";
    case DecodeError::kBadIpv4HeaderLength:
      return "bad_ipv4_header_length";
    case DecodeError::kBadIpv4TotalLength:
      return "bad_ipv4_total_length";
    case DecodeError::kTruncatedIpv6:
      return "truncated_ipv6";
    case DecodeError::kBadIpv6Version:
      return "bad_ipv6_version";
    case DecodeError::kBadIpv6ExtensionHeader:
      return "bad_ipv6_extension_header";
    case DecodeError::kTruncatedTcp:
      return "truncated_tcp";
    case DecodeError::kBadTcpHeaderLength:
      return "bad_tcp_header_length";
    case DecodeError::kTruncatedUdp:
      return "truncated_udp";
    case DecodeError::kBadUdpLength:
      return "bad_udp_length";
    case DecodeError::kTruncatedIcmp:
      return "truncated_icmp";
    case DecodeError::kTruncatedPppoe:
      return "truncated_pppoe";
    case DecodeError::kBadMplsStack:
      return "bad_mpls_stack";
    case DecodeError::kTruncatedArp:
      return "truncated_arp";
    case DecodeError::kBadLinkHeader:
      return "bad_link_header";
    case DecodeError::kTruncatedEncapsulation:
      return "truncated_encapsulation";
    case DecodeError::kTruncatedSctp:
      return "truncated_sctp";
    case DecodeError::kTooManyLayers:
      return "too_many_layers";
    case DecodeError::kCount:
      break;
  }
  return "unknown";
}

namespace {

void append_decimal(std::string& out, unsigned value) {
  char digits[10];
  std::size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0) out.push_back(digits[--n]);
}

void append_hex_group(std::string& out, unsigned value) {
  static constexpr char kHex[] = "0123456789abcdef";
  bool started = false;
  for (int shift = 12; shift >= 0; shift -= 4) {
    const unsigned nibble = (value >> shift) & 0xF;
    if (nibble != 0 || started || shift == 0) {
      out.push_back(kHex[nibble]);
      started = true;
    }
  }
}

void append_ipv4(std::string& out, const std::uint8_t* b) {
  for (int i = 0; i < 4; ++i) {
    if (i > 0) out.push_back('.');
    append_decimal(out, b[i]);
  }
}

std::optional<unsigned> hex_value(char c) {
  if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return static_cast<unsigned>(c - 'A' + 10);
  return std::nullopt;
}

// Strict dotted quad: exactly four decimal parts 0-255 and no leading zeros, because "010" is octal
// to inet_aton and decimal to others; refusing it avoids silently meaning the wrong host.
bool parse_ipv4(std::string_view text, std::uint8_t* out) {
  int part = 0;
  std::size_t i = 0;
  while (part < 4) {
    if (i >= text.size() || text[i] < '0' || text[i] > '9') return false;
    const std::size_t start = i;
    unsigned value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value = value * 10 + static_cast<unsigned>(text[i] - '0');
      if (value > 255 || i - start >= 3) return false;
      ++i;
    }
    if (i - start > 1 && text[start] == '0') return false;
    out[part++] = static_cast<std::uint8_t>(value);
    if (part < 4) {
      if (i >= text.size() || text[i] != '.') return false;
      ++i;
    }
  }
  return i == text.size();
}

// RFC 4291 section 2.2 text forms: hex groups, one optional "::", optional trailing dotted IPv4.
bool parse_ipv6(std::string_view text, std::uint8_t* out) {
  std::uint16_t groups[8] = {};
  int count = 0;
  int gap = -1;  // index in `groups` where "::" stands
  std::size_t i = 0;
  if (text.starts_with("::")) {
    gap = 0;
    i = 2;
    if (i == text.size()) {
      std::fill(out, out + 16, 0);
      return true;
    }
  } else if (text.starts_with(":")) {
    return false;
  }
  while (i < text.size()) {
    if (count == 8) return false;
    // A dotted IPv4 tail takes the last two groups.
    const std::size_t next_colon = text.find(':', i);
    const std::string_view token = text.substr(
        i, next_colon == std::string_view::npos ? std::string_view::npos : next_colon - i);
    if (next_colon == std::string_view::npos && token.find('.') != std::string_view::npos) {
      if (count > 6) return false;
      std::uint8_t v4[4];
      if (!parse_ipv4(token, v4)) return false;
      groups[count++] = static_cast<std::uint16_t>(v4[0] << 8 | v4[1]);
      groups[count++] = static_cast<std::uint16_t>(v4[2] << 8 | v4[3]);
      i = text.size();
      break;
    }
    if (token.empty() || token.size() > 4) return false;
    unsigned value = 0;
    for (char c : token) {
      const auto nibble = hex_value(c);
      if (!nibble) return false;
      value = value << 4 | *nibble;
    }
    groups[count++] = static_cast<std::uint16_t>(value);
    i += token.size();
    if (i == text.size()) break;
    // Here text[i] == ':'.
    ++i;
    if (i < text.size() && text[i] == ':') {
      if (gap >= 0) return false;
      gap = count;
      ++i;
    } else if (i == text.size()) {
      return false;  // trailing single colon
    }
  }
  if (gap < 0) {
    if (count != 8) return false;
  } else {
    if (count > 7) return false;
    const int tail = count - gap;
    for (int k = 0; k < tail; ++k) groups[7 - k] = groups[count - 1 - k];
    for (int k = gap; k < 8 - tail; ++k) groups[k] = 0;
  }
  for (int k = 0; k < 8; ++k) {
    out[2 * k] = static_cast<std::uint8_t>(groups[k] >> 8);
    out[2 * k + 1] = static_cast<std::uint8_t>(groups[k] & 0xFF);
  }
  return true;
}

}  // namespace

std::string IpAddress::to_string() const {
  std::string out;
  if (family == 4) {
    out.reserve(15);
    append_ipv4(out, bytes.data());
    return out;
  }
  if (family != 6) return out;
  out.reserve(39);
  unsigned groups[8];
  for (int k = 0; k < 8; ++k) {
    groups[k] = static_cast<unsigned>(bytes[2 * k] << 8 | bytes[2 * k + 1]);
  }
  // IPv4-mapped addresses read better, and are printed by RFC 5952 section 5, in mixed notation.
  if (groups[0] == 0 && groups[1] == 0 && groups[2] == 0 && groups[3] == 0 && groups[4] == 0 &&
      groups[5] == 0xFFFF) {
    out += "::ffff:";
    append_ipv4(out, bytes.data() + 12);
    return out;
  }
  // RFC 5952 section 4.2: compress the longest run (first on ties) of two or more zero groups.
  int best_start = -1;
  int best_len = 1;
  for (int k = 0; k < 8;) {
    if (groups[k] != 0) {
      ++k;
      continue;
    }
    int end = k;
    while (end < 8 && groups[end] == 0) ++end;
    if (end - k > best_len) {
      best_start = k;
      best_len = end - k;
    }
    k = end;
  }
  for (int k = 0; k < 8; ++k) {
    if (k == best_start) {
      out += "::";
      k += best_len - 1;
      continue;
    }
    if (k > 0 && k != best_start + best_len) out.push_back(':');
    append_hex_group(out, groups[k]);
  }
  return out;
}

bool is_loopback_address(const IpAddress& a) {
  const auto& b = a.bytes;
  if (a.family == 4) return b[0] == 127;
  if (a.family != 6) return false;
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  if (b[10] == 0xFF && b[11] == 0xFF) return b[12] == 127;  // ::ffff:127.x.y.z
  for (int i = 10; i < 15; ++i) {
    if (b[i] != 0) return false;
  }
  return b[15] == 1;
}

bool in_prefix(const std::uint8_t* bytes, const IpAddress& network, int prefix) {
  const auto full = static_cast<std::size_t>(prefix / 8);
  if (std::memcmp(bytes, network.bytes.data(), full) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xFFu << (8 - rest));
  return (bytes[full] & mask) == (network.bytes[full] & mask);
}

bool is_broadcast_or_multicast_address(const IpAddress& a) {
  const auto& b = a.bytes;
  if (a.family == 4) {
    return (b[0] & 0xF0) == 0xE0 || (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255);
  }
  return a.family == 6 && b[0] == 0xFF;
}

bool IpAddress::parse(std::string_view text, IpAddress& out) {
  IpAddress parsed;
  if (text.find(':') != std::string_view::npos) {
    if (!parse_ipv6(text, parsed.bytes.data())) return false;
    parsed.family = 6;
  } else {
    if (!parse_ipv4(text, parsed.bytes.data())) return false;
    parsed.family = 4;
  }
  out = parsed;
  return true;
}

}  // namespace netsentry::net
