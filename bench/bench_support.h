// Helpers the Google Benchmark programs share.
#pragma once

#include <cstdint>

#include "net/packet.h"

namespace netsentry::bench {

// The IPv4 address whose 32 bits are `n` (10.0.0.1 = 0x0A000001).
inline net::IpAddress ipv4(std::uint32_t n) {
  net::IpAddress ip;
  ip.family = 4;
  ip.bytes = {static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
              static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
  return ip;
}

}  // namespace netsentry::bench
