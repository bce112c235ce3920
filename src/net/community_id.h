// Provides net::CommunityId, the Community ID v1 flow hash (https://github.com/corelight/
// community-id-spec) that Zeek, Suricata, Wireshark and Elastic compute, so one connection can be
// joined across tools: "1:" + base64(SHA-1(seed . saddr . daddr . proto . 0 . sport . dport)) with
// the endpoints ordered so both directions give the same value. ICMP and ICMPv6 use Zeek's
// type/counterpart (or type/code) as ports; a one-way ICMP type is not reordered. Protocols
// without ports (GRE, ESP, ...) hash the addresses and protocol only.
// Thread rules: plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "net/packet.h"

namespace netsentry::net {

struct CommunityId {
  std::array<std::uint8_t, 20> digest{};  // SHA-1 of the ordered tuple
  bool valid = false;

  static constexpr std::size_t kTextLength = 30;  // "1:" + 28 base64 characters
  // Writes kTextLength characters to `out` (nothing when !valid); returns the end.
  char* write(char* out) const;
  // "1:..." or "" when !valid.
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const CommunityId&, const CommunityId&) = default;
};

// The Community ID of a flow with the given initiator-side tuple. For ICMP/ICMPv6 `src_port` is the
// message type of the first packet and `dst_port` its code (or counterpart type).
[[nodiscard]] CommunityId community_id(const IpAddress& src, const IpAddress& dst,
                                       std::uint8_t ip_proto, std::uint16_t src_port,
                                       std::uint16_t dst_port, std::uint16_t seed = 0);
// The Community ID of the flow `packet` belongs to (its source as the initiator).
[[nodiscard]] CommunityId community_id(const Packet& packet, std::uint16_t seed = 0);

}  // namespace netsentry::net
