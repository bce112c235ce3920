// Provides net::FlowKey, the canonical bidirectional 5-tuple + VLAN of an IP packet, with a fast
// seeded 64-bit hash for open-addressing tables, and the orientation test for a packet.
// Thread rules: plain values and pure functions; safe from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "net/packet.h"

namespace netsentry::net {

// Both directions of a conversation map to the same key: endpoint "a" is the smaller of
// (address bytes, port) of the two endpoints. ICMP uses Zeek's pseudo-ports: a query or reply
// (echo, timestamp, ...) has (its type, its counterpart's type), so a ping and its replies share
// one key (8 <-> 0), and any other ICMP message has (type, code). Packets without a decoded L4
// header (later fragments, other protocols) have ports 0. The layout has no padding, so keys
// compare and hash as raw bytes.
struct FlowKey {
  std::array<std::uint8_t, 16> addr_a{};
  std::array<std::uint8_t, 16> addr_b{};
  std::uint16_t port_a = 0;
  std::uint16_t port_b = 0;
  // The outer VLAN id in the low 12 bits; the tunnel depth (0 outermost, capped at 15) in the top
  // 4, so a connection seen inside a tunnel and the same 5-tuple outside it are separate flows.
  std::uint16_t vlan = 0;
  std::uint8_t ip_proto = 0;
  std::uint8_t family = 0;  // 4 or 6; 0 when the packet carried no addresses

  friend bool operator==(const FlowKey&, const FlowKey&) = default;

  [[nodiscard]] std::uint16_t vlan_id() const { return vlan & 0x0FFF; }
  [[nodiscard]] std::uint8_t tunnel_depth() const { return static_cast<std::uint8_t>(vlan >> 12); }
  [[nodiscard]] IpAddress address_a() const;
  [[nodiscard]] IpAddress address_b() const;
  // "tcp 10.0.0.1:1234 <-> 10.0.0.2:80 vlan 7 depth 1" (IPv6 addresses in brackets); for logs and
  // tests.
  [[nodiscard]] std::string to_string() const;
};
static_assert(sizeof(FlowKey) == 40 && std::has_unique_object_representations_v<FlowKey>,
              "FlowKey is hashed as raw bytes and must stay free of padding");

// Builds the canonical key of an IP packet and reports whether the packet travels from endpoint a
// to endpoint b (`forward`). A packet whose two endpoints are equal counts as forward.
[[nodiscard]] FlowKey flow_key_of(const Packet& packet, bool& forward) noexcept;
[[nodiscard]] FlowKey flow_key_of(const Packet& packet) noexcept;

// True when `packet`'s source is endpoint a of `key` (the key's forward orientation).
[[nodiscard]] bool is_forward(const FlowKey& key, const Packet& packet) noexcept;

namespace detail {
// 64x64->128 multiply folded to 64 bits (the "mum" mix used by wyhash and Abseil): one multiply
// spreads every input bit over the whole result. Multiplying by a constant avoids the zero-blinding
// weakness of multiplying two input-derived words.
inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) noexcept {
  __extension__ using U128 = unsigned __int128;
  const U128 product = static_cast<U128>(a) * b;
  return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
}
}  // namespace detail

// Default seed for tables not exposed to hostile traffic. A table fed from the network should pass
// a per-process random seed so remote hosts cannot precompute colliding keys.
inline constexpr std::uint64_t kDefaultFlowHashSeed = 0x243F6A8885A308D3ULL;

// Hash suited to open addressing: low and high bits are both well mixed.
[[nodiscard]] inline std::uint64_t hash_of(const FlowKey& key,
                                           std::uint64_t seed = kDefaultFlowHashSeed) noexcept {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  std::uint64_t words[5];
  static_assert(sizeof(words) == sizeof(FlowKey));
  std::memcpy(words, &key, sizeof(words));
  std::uint64_t h = seed;
  for (std::uint64_t word : words) h = detail::mum(h ^ word, kMul);
  return detail::mum(h ^ seed, kMul);
}

struct FlowKeyHash {
  std::uint64_t seed = kDefaultFlowHashSeed;
  std::size_t operator()(const FlowKey& key) const noexcept {
    return static_cast<std::size_t>(hash_of(key, seed));
  }
};

}  // namespace netsentry::net
