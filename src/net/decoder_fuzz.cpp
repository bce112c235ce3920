// libFuzzer entry point for net::decode. The first input byte picks the link type, the rest is the
// captured frame; the bytes are copied into an exactly-sized buffer so the sanitizer sees any read
// past the capture. Built only by the `fuzz` preset.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>

#include "net/decoder.h"

namespace {

constexpr netsentry::net::LinkType kLinks[] = {
    netsentry::net::LinkType::kNull,     netsentry::net::LinkType::kEthernet,
    netsentry::net::LinkType::kRaw,      netsentry::net::LinkType::kLoop,
    netsentry::net::LinkType::kLinuxSll, netsentry::net::LinkType::kIpv4,
    netsentry::net::LinkType::kIpv6,     netsentry::net::LinkType::kLinuxSll2,
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const netsentry::net::LinkType link = kLinks[data[0] % std::size(kLinks)];
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
  const bool payload_inside = packet.payload.empty() ||
                              (packet.payload.data() >= frame.get() &&
                               packet.payload.data() + packet.payload.size() <= frame.get() + len);
  const bool ports_need_l4 = packet.has_l4 || (packet.src_port == 0 && packet.dst_port == 0);
  if (!counted_once || !payload_inside || !ports_need_l4) std::abort();
  return 0;
}
