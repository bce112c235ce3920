#include "net/flow_key.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <unordered_set>
#include <vector>

#include "net/decoder.h"
#include "net/packet_builder.h"

namespace netsentry::net {
namespace {

using testing::ip4;
using testing::ip6;
using testing::PacketBuilder;

Packet decoded(const testing::Frame& frame) {
  Packet p;
  DecodeStats stats;
  EXPECT_EQ(
      decode(LinkType::kEthernet, frame, static_cast<std::uint32_t>(frame.size()), 0, p, stats),
      DecodeError::kNone);
  return p;
}

Packet tcp4(testing::Ipv4Bytes src, std::uint16_t sport, testing::Ipv4Bytes dst,
            std::uint16_t dport, std::uint16_t vlan = 0) {
  PacketBuilder b;
  b.ethernet();
  if (vlan != 0) b.vlan({.id = vlan});
  return decoded(
      b.ipv4({.src = src, .dst = dst}).tcp({.src_port = sport, .dst_port = dport}).build());
}

TEST(FlowKey, IsTheSameForBothDirections) {
  const Packet out = tcp4(ip4(10, 0, 0, 1), 40000, ip4(10, 0, 0, 2), 443);
  const Packet back = tcp4(ip4(10, 0, 0, 2), 443, ip4(10, 0, 0, 1), 40000);
  EXPECT_EQ(flow_key_of(out), flow_key_of(back));
  EXPECT_EQ(hash_of(flow_key_of(out)), hash_of(flow_key_of(back)));
}

TEST(FlowKey, TellsWhichDirectionAPacketTravels) {
  const Packet out = tcp4(ip4(10, 0, 0, 1), 40000, ip4(10, 0, 0, 2), 443);
  const Packet back = tcp4(ip4(10, 0, 0, 2), 443, ip4(10, 0, 0, 1), 40000);
  bool out_forward = false;
  bool back_forward = true;
  const FlowKey key = flow_key_of(out, out_forward);
  (void)flow_key_of(back, back_forward);
  EXPECT_TRUE(out_forward);  // 10.0.0.1 sorts first, so it is endpoint a
  EXPECT_FALSE(back_forward);
  EXPECT_TRUE(is_forward(key, out));
  EXPECT_FALSE(is_forward(key, back));
  EXPECT_EQ(key.address_a().to_string(), "10.0.0.1");
  EXPECT_EQ(key.port_a, 40000);
  EXPECT_EQ(key.address_b().to_string(), "10.0.0.2");
  EXPECT_EQ(key.port_b, 443);
}

TEST(FlowKey, OrdersEndpointsWithEqualAddressesByPort) {
  const Packet p = tcp4(ip4(127, 0, 0, 1), 9000, ip4(127, 0, 0, 1), 80);
  bool forward = true;
  const FlowKey key = flow_key_of(p, forward);
  EXPECT_FALSE(forward);
  EXPECT_EQ(key.port_a, 80);
  EXPECT_EQ(key.port_b, 9000);
  EXPECT_FALSE(is_forward(key, p));
  // Identical endpoints: both orientations are the same, call it forward.
  const Packet self = tcp4(ip4(127, 0, 0, 1), 80, ip4(127, 0, 0, 1), 80);
  EXPECT_TRUE(is_forward(flow_key_of(self), self));
}

TEST(FlowKey, SeparatesVlansAndProtocols) {
  const Packet plain = tcp4(ip4(10, 0, 0, 1), 1000, ip4(10, 0, 0, 2), 53);
  const Packet tagged = tcp4(ip4(10, 0, 0, 1), 1000, ip4(10, 0, 0, 2), 53, 7);
  const Packet udp = decoded(PacketBuilder()
                                 .ethernet()
                                 .ipv4({.src = ip4(10, 0, 0, 1), .dst = ip4(10, 0, 0, 2)})
                                 .udp({.src_port = 1000, .dst_port = 53})
                                 .build());
  EXPECT_NE(flow_key_of(plain), flow_key_of(tagged));
  EXPECT_NE(flow_key_of(plain), flow_key_of(udp));
  EXPECT_EQ(flow_key_of(tagged).vlan, 7);
  EXPECT_EQ(flow_key_of(udp).ip_proto, 17);
}

TEST(FlowKey, KeysIcmpByTypePairsAndLaterFragmentsByPortZero) {
  const auto a = ip4(10, 0, 0, 1);
  const auto b = ip4(10, 0, 0, 2);
  const Packet icmp =
      decoded(PacketBuilder().ethernet().ipv4({.src = a, .dst = b}).icmp({.type = 8}).build());
  bool forward = false;
  const FlowKey icmp_key = flow_key_of(icmp, forward);
  EXPECT_TRUE(forward);
  EXPECT_EQ(icmp_key.port_a, 8);  // Zeek's pseudo-ports: echo request 8 <-> reply 0
  EXPECT_EQ(icmp_key.port_b, 0);
  EXPECT_EQ(icmp_key.ip_proto, 1);
  EXPECT_EQ(icmp.icmp_type, 8);
  // The reply shares the request's flow, in the backward direction.
  const Packet reply =
      decoded(PacketBuilder().ethernet().ipv4({.src = b, .dst = a}).icmp({.type = 0}).build());
  EXPECT_EQ(flow_key_of(reply), icmp_key);
  EXPECT_FALSE(is_forward(icmp_key, reply));
  EXPECT_TRUE(is_forward(icmp_key, icmp));
  // A port-unreachable error between the same hosts is another flow (type 3, code 3).
  const Packet error = decoded(
      PacketBuilder().ethernet().ipv4({.src = b, .dst = a}).icmp({.type = 3, .code = 3}).build());
  const FlowKey error_key = flow_key_of(error);
  EXPECT_NE(error_key, icmp_key);
  EXPECT_EQ(error_key.port_a, 3);
  EXPECT_EQ(error_key.port_b, 3);

  const Packet later = decoded(PacketBuilder()
                                   .ethernet()
                                   .ipv4({.fragment_offset = 100, .protocol = 17})
                                   .payload(64, 0x11)
                                   .build());
  const FlowKey later_key = flow_key_of(later);
  EXPECT_EQ(later_key.port_a, 0);
  EXPECT_EQ(later_key.port_b, 0);
  EXPECT_EQ(later_key.ip_proto, 17);
}

TEST(FlowKey, KeepsAllSixteenBytesOfIpv6Addresses) {
  const auto a = ip6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 1});
  const auto b = ip6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 2});
  const auto c = ip6({0x2001, 0xdb9, 0, 0, 0, 0, 0, 2});
  const Packet ab = decoded(PacketBuilder().ethernet().ipv6({.src = a, .dst = b}).udp().build());
  const Packet ac = decoded(PacketBuilder().ethernet().ipv6({.src = a, .dst = c}).udp().build());
  EXPECT_NE(flow_key_of(ab), flow_key_of(ac));
  EXPECT_EQ(flow_key_of(ab).family, 6);
  EXPECT_EQ(flow_key_of(ab).address_b().to_string(), "2001:db8::2");
}

TEST(FlowKey, FormatsAsReadableText) {
  const Packet p = tcp4(ip4(10, 0, 0, 2), 443, ip4(10, 0, 0, 1), 40000, 7);
  EXPECT_EQ(flow_key_of(p).to_string(), "tcp 10.0.0.1:40000 <-> 10.0.0.2:443 vlan 7");
  const Packet v6 =
      decoded(PacketBuilder().ethernet().ipv6().udp({.src_port = 5353, .dst_port = 5353}).build());
  EXPECT_EQ(flow_key_of(v6).to_string(), "udp [2001:db8::1]:5353 <-> [2001:db8::2]:5353");
  FlowKey gre;
  gre.ip_proto = 47;
  gre.family = 4;
  EXPECT_EQ(gre.to_string(), "proto 47 0.0.0.0:0 <-> 0.0.0.0:0");
}

FlowKey sample_key(std::uint32_t n) {
  FlowKey key;
  key.family = 4;
  key.ip_proto = 6;
  key.addr_a = {10, 0, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
  key.addr_b = {192, 168, 1, 1};
  key.port_a = static_cast<std::uint16_t>(30000 + (n >> 16));
  key.port_b = 80;
  return key;
}

// Open addressing indexes by the low bits (and some tables by the high bits): sequential keys,
// the common case for scans, must spread evenly across both.
TEST(FlowKey, HashSpreadsSequentialKeysAcrossLowAndHighBits) {
  constexpr int kKeys = 1 << 16;
  constexpr int kBuckets = 1 << 10;
  std::vector<int> low(kBuckets), high(kBuckets);
  std::unordered_set<std::uint64_t> distinct;
  for (int n = 0; n < kKeys; ++n) {
    const std::uint64_t h = hash_of(sample_key(static_cast<std::uint32_t>(n)));
    ++low[h & (kBuckets - 1)];
    ++high[h >> 54];
    distinct.insert(h);
  }
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kKeys));
  const auto chi_square = [&](const std::vector<int>& counts) {
    const double expected = static_cast<double>(kKeys) / kBuckets;
    double sum = 0;
    for (int c : counts) sum += (c - expected) * (c - expected) / expected;
    return sum;
  };
  // 1023 degrees of freedom: mean 1023, standard deviation ~45; 1300 is about six sigma.
  EXPECT_LT(chi_square(low), 1300.0);
  EXPECT_LT(chi_square(high), 1300.0);
}

TEST(FlowKey, HashChangesManyBitsWhenAnyKeyBitFlips) {
  const FlowKey base = sample_key(12345);
  const std::uint64_t h0 = hash_of(base);
  unsigned min_changed = 64;
  for (std::size_t bit = 0; bit < sizeof(FlowKey) * 8; ++bit) {
    FlowKey k = base;
    auto* raw = reinterpret_cast<unsigned char*>(&k);
    raw[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
    const auto changed = static_cast<unsigned>(std::popcount(h0 ^ hash_of(k)));
    min_changed = std::min(min_changed, changed);
  }
  EXPECT_GE(min_changed, 12u);
}

TEST(FlowKey, HashDependsOnSeed) {
  const FlowKey key = sample_key(1);
  EXPECT_NE(hash_of(key, 1), hash_of(key, 2));
  EXPECT_EQ(FlowKeyHash{}(key), hash_of(key));
  EXPECT_EQ((FlowKeyHash{99})(key), hash_of(key, 99));
}

}  // namespace
}  // namespace netsentry::net
