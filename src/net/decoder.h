// Provides net::decode, which turns one captured frame into a net::Packet view and counts what it
// saw in net::DecodeStats, and net::decode_inner, which checks a tunnel header and decodes the
// packet inside it. Malformed traffic is a counted reason, never an exception.
// Thread rules: both are reentrant; `out` and `stats` belong to the calling thread.
#pragma once

#include <cstdint>
#include <span>

#include "net/packet.h"

namespace netsentry::net {

// Decodes one captured packet. Resets `out`, then fills it as far as the bytes allow; on an error
// `out` keeps what was decoded before the failing layer (e.g. addresses when the TCP header is
// cut). Updates `stats`: packets and wire bytes always; a per-protocol counter once that layer's
// header is valid (so a packet with a truncated TCP header counts in `ipv4` and in `malformed`);
// fragments; packets without IP by reason; and malformed by reason. A packet of a link type we do
// not decode is counted (not_ip kUnsupportedLinkType), not malformed. An IP packet whose payload
// may be a tunnel gets `out.encap`; decode_inner() goes further. Never reads outside `bytes`,
// never allocates, never throws.
[[nodiscard]] DecodeError decode(LinkType link, std::span<const std::uint8_t> bytes,
                                 std::uint32_t wire_len, std::int64_t ts_ns, Packet& out,
                                 DecodeStats& stats) noexcept;

// The result of decode_inner: whether `outer` carried a packet, through which tunnel, and how the
// inner packet decoded.
struct InnerResult {
  bool decapsulated = false;  // false: the payload is not a valid header of outer.encap
  Tunnel tunnel = Tunnel::kCount;
  DecodeError error = DecodeError::kNone;
};

// Checks the tunnel header in `outer`'s payload (outer.encap says which: GRE incl. ERSPAN and
// enhanced GRE, VXLAN, VXLAN-GPE, Geneve, GTP-U, Teredo, AYIYA, IP-in-IP, MPLS in UDP) and decodes
// the packet it carries into `inner` (reset first), counting it in `stats` as decode() does.
// `inner` gets the outer packet's time, tunnel_depth + 1, wire_len = the inner packet's declared
// length, and spans into outer's payload bytes. Does not set inner.outer.
[[nodiscard]] InnerResult decode_inner(const Packet& outer, Packet& inner,
                                       DecodeStats& stats) noexcept;

// Decodes the L4 header of a reassembled datagram: `out` becomes `head`'s IP layer (addresses,
// protocol, VLAN, tunnel depth; fragment fields cleared; ip_total_len = ip_header_len + l4_len)
// with `l4`, the captured prefix of the reassembled payload, declared `l4_len` bytes long. Counts
// in `stats` as decode() does for the L4 layer only.
[[nodiscard]] DecodeError decode_reassembled(const Packet& head, std::span<const std::uint8_t> l4,
                                             std::uint32_t l4_len, Packet& out,
                                             DecodeStats& stats) noexcept;

// Longest IPv6 extension-header chain we follow before calling the packet malformed; real traffic
// rarely has more than two, and a cap keeps decoding cost bounded on hostile input.
inline constexpr int kMaxIpv6ExtensionHeaders = 8;
// Most stacked 802.1Q/802.1ad tags we follow (real networks use one to three).
inline constexpr int kMaxVlanTags = 8;
// Most nested link-layer encapsulations (LLC/SNAP, PBB, VN-Tag, PPI, ...) in one frame.
inline constexpr int kMaxLinkLayers = 16;

}  // namespace netsentry::net
