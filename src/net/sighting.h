// Provides net::Sighting and net::sight(): the few facts some detectors need from a packet that a
// flow does not keep, read from one captured frame after net::decode():
//  * address bindings (who says which MAC has an IP): ARP requests and replies on Ethernet and
//    Linux cooked captures, and IPv6 neighbour solicitations and advertisements with their
//    link-layer address options, for ARP and neighbour-discovery spoofing;
//  * DNS questions (UDP to port 53): the first question's name and type, for DNS tunnelling;
//  * failed logins that cleartext servers announce (FTP 530, SMTP 535, POP3 -ERR, IMAP NO, telnet
//    "Login incorrect"), for brute force that keeps one connection for many guesses.
// Every field is bounded and checked against the captured length; a damaged ARP or DNS message
// gives no sighting (the decoder already counted it by reason when it is malformed at its layer).
// Names keep their bytes as sent (not trusted text: sinks escape them).
// Thread rules: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "net/packet.h"

namespace netsentry::net {

using MacAddress = std::array<std::uint8_t, 6>;

// "02:4e:0a:4d:00:4b".
[[nodiscard]] std::string format_mac(const MacAddress& mac);

enum class SightingKind : std::uint8_t {
  kArpRequest,        // ARP who-has: the sender tells its own binding
  kArpReply,          // ARP is-at (also a gratuitous ARP)
  kNeighbourSolicit,  // ICMPv6 135 with a source link-layer address option
  kNeighbourAdvert,   // ICMPv6 136 with a target link-layer address option (or the frame's MAC)
  kDnsQuery,          // a DNS question over UDP port 53
  kLoginFailure,      // a server's "login failed" reply (ip: the client, peer: the server)
};

struct Sighting {
  static constexpr std::size_t kMaxName = 255;  // a DNS name's wire limit

  std::int64_t ts_ns = 0;
  std::uint16_t vlan = 0;  // the packet's outer VLAN (bindings are per VLAN)
  SightingKind kind = SightingKind::kArpRequest;
  // Bindings: `ip` is at `mac` (ARP sender; ND solicitation source or advertisement target).
  // DNS: the client.
  IpAddress ip;
  MacAddress mac{};
  // The packet's sender: ARP: the frame's source MAC (equal to `mac` unless forged); ND and DNS:
  // the IP source (for an advertisement, who claims the target's binding).
  IpAddress sender;
  MacAddress frame_src{};
  bool has_frame_src = false;  // the link layer carried a source MAC
  bool override_flag = false;  // ND advertisement: O flag (replace existing entries)
  bool solicited = false;      // ND advertisement: S flag
  // ARP: the target address; DNS and login failures: the server.
  IpAddress peer;
  std::uint16_t dns_type = 0;  // QTYPE
  std::uint16_t src_port = 0;  // DNS and login failures: the client's port
  std::uint16_t dst_port = 0;  // login failures: the server's port
  std::string name;            // DNS: the question's name, lower case, dotted, no trailing dot
};

// Reads a sighting from a decoded packet and its frame. Returns false when the packet carries
// none of the above.
[[nodiscard]] bool sight(LinkType link, std::span<const std::uint8_t> frame, const Packet& packet,
                         Sighting& out);

// The first question's name of a DNS message (wire format, RFC 1035 4.1.2: labels, no
// compression pointers in the question of a query). Returns false when the message is not a
// query, has no question, or the name is malformed or longer than Sighting::kMaxName.
[[nodiscard]] bool dns_question(std::span<const std::uint8_t> message, std::string& name,
                                std::uint16_t& type);

}  // namespace netsentry::net
