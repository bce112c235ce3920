// libFuzzer entry point for net::decode, net::decode_inner and net::sight. The first input byte
// picks the link type, the rest is the captured frame; the bytes are copied into an exactly-sized
// buffer so the sanitizer sees any read past the capture. Every tunnel the frame carries is opened,
// as the flow meter does, down to the meter's depth limit. Built only by the `fuzz` preset. Seeds:
// scripts/fuzz-seeds writes one file per frame of the shared tunnel captures.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>

#include "net/decoder.h"
#include "net/sighting.h"

namespace {

using netsentry::net::LinkType;

// Index = first input byte modulo the count (scripts/fuzz-seeds writes the same indices).
constexpr LinkType kLinks[] = {
    LinkType::kNull,
    LinkType::kEthernet,
    LinkType::kRaw,
    LinkType::kLoop,
    LinkType::kLinuxSll,
    LinkType::kIpv4,
    LinkType::kIpv6,
    LinkType::kLinuxSll2,
    LinkType::kPpp,
    LinkType::kPppHdlc,
    LinkType::kPppEther,
    LinkType::kCiscoHdlc,
    LinkType::kIeee80211,
    LinkType::kRadiotap,
    LinkType::kPrism,
    LinkType::kAvs,
    LinkType::kPpi,
    LinkType::kNflog,
    LinkType::kFrameRelay,
    LinkType::kSlip,
    LinkType::kFddi,
    LinkType::kAtmRfc1483,
    LinkType::kIpnet,
    LinkType::kPktap,
    LinkType::kDsaBrcm,
    LinkType::kDsaBrcmPrepend,
    LinkType::kDsa,
    LinkType::kEdsa,
    static_cast<LinkType>(195),  // unsupported: counted
};

bool inside(std::span<const std::uint8_t> s, const std::uint8_t* begin, std::size_t len) {
  return s.empty() || (s.data() >= begin && s.data() + s.size() <= begin + len);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const LinkType link = kLinks[data[0] % std::size(kLinks)];
  const std::size_t len = size - 1;
  auto frame = std::make_unique<std::uint8_t[]>(len);
  if (len > 0) std::memcpy(frame.get(), data + 1, len);

  netsentry::net::Packet packet;
  netsentry::net::DecodeStats stats;
  const auto error = netsentry::net::decode(link, {frame.get(), len},
                                            static_cast<std::uint32_t>(len), 0, packet, stats);

  // Invariants that must hold for any input; abort() makes libFuzzer save the input.
  const bool counted_once =
      stats.packets == 1 && stats.malformed == (error == decltype(error)::kNone ? 0u : 1u);
  const bool payload_inside =
      inside(packet.payload, frame.get(), len) && inside(packet.ip_bytes, frame.get(), len);
  const bool ports_need_l4 = packet.has_l4 || (packet.src_port == 0 && packet.dst_port == 0);
  const bool accounted = stats.not_in_flows() <= 1 &&
                         (stats.not_in_flows() == 1) != (packet.l3 == netsentry::net::L3::kIpv4 ||
                                                         packet.l3 == netsentry::net::L3::kIpv6);
  if (!counted_once || !payload_inside || !ports_need_l4 || !accounted) std::abort();

  // What detectors read from single packets (ARP/ND bindings, DNS names, failed logins): bounded.
  netsentry::net::Sighting sighting;
  if (netsentry::net::sight(link, {frame.get(), len}, packet, sighting) &&
      sighting.name.size() > netsentry::net::Sighting::kMaxName) {
    std::abort();
  }

  // Open nested tunnels as the flow meter does (bounded by its depth limit).
  netsentry::net::Packet layers[5];
  layers[0] = packet;
  netsentry::net::DecodeStats inner_stats;
  for (int depth = 0; depth < 4 && layers[depth].encap != netsentry::net::Encap::kNone; ++depth) {
    const auto result = netsentry::net::decode_inner(layers[depth], layers[depth + 1], inner_stats);
    if (!result.decapsulated) break;
    const auto& in = layers[depth + 1];
    if (!inside(in.payload, frame.get(), len) || !inside(in.ip_bytes, frame.get(), len) ||
        in.tunnel_depth != depth + 1) {
      std::abort();
    }
  }
  return 0;
}
