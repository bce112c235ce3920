// Provides net::decode, which turns one captured frame into a net::Packet view and counts what it
// saw in net::DecodeStats. Malformed traffic is a counted reason, never an exception.
// Thread rules: decode is reentrant; `out` and `stats` belong to the calling thread.
#pragma once

#include <cstdint>
#include <span>

#include "net/packet.h"

namespace netsentry::net {

// Decodes one captured packet. Resets `out`, then fills it as far as the bytes allow; on an error
// `out` keeps what was decoded before the failing layer (e.g. addresses when the TCP header is
// cut). Updates `stats`: packets and wire bytes always; a per-protocol counter once that layer's
// header is valid (so a packet with a truncated TCP header counts in `ipv4` and in `malformed`);
// fragments; and malformed by reason. Never reads outside `bytes`, never allocates, never throws.
[[nodiscard]] DecodeError decode(LinkType link, std::span<const std::uint8_t> bytes,
                                 std::uint32_t wire_len, std::int64_t ts_ns, Packet& out,
                                 DecodeStats& stats) noexcept;

// Longest IPv6 extension-header chain we follow before calling the packet malformed; real traffic
// rarely has more than two, and a cap keeps decoding cost bounded on hostile input.
inline constexpr int kMaxIpv6ExtensionHeaders = 8;

}  // namespace netsentry::net
