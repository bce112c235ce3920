#include "net/decoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <random>
#include <vector>

#include "net/packet_builder.h"

namespace netsentry::net {
namespace {

using testing::Frame;
using testing::ip4;
using testing::ip6;
using testing::PacketBuilder;

struct Decoded {
  DecodeError error = DecodeError::kNone;
  Packet packet;
  DecodeStats stats;
};

Decoded run(LinkType link, const Frame& frame) {
  Decoded d;
  d.error = decode(link, frame, static_cast<std::uint32_t>(frame.size()), 42, d.packet, d.stats);
  return d;
}

// Decodes the first `n` bytes from a heap buffer of exactly `n` bytes, so AddressSanitizer reports
// any read past the capture.
DecodeError run_prefix(LinkType link, const Frame& frame, std::size_t n, Packet& out,
                       DecodeStats& stats) {
  auto copy = std::make_unique<std::uint8_t[]>(n == 0 ? 1 : n);
  std::copy_n(frame.begin(), n, copy.get());
  return decode(link, std::span<const std::uint8_t>(copy.get(), n),
                static_cast<std::uint32_t>(frame.size()), 0, out, stats);
}

IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  IpAddress out;
  out.family = 4;
  out.bytes[0] = a;
  out.bytes[1] = b;
  out.bytes[2] = c;
  out.bytes[3] = d;
  return out;
}

IpAddress v6(const testing::Ipv6Bytes& bytes) {
  IpAddress out;
  out.family = 6;
  out.bytes = bytes;
  return out;
}

std::uint64_t reason_count(const DecodeStats& stats, DecodeError error) {
  return stats.by_reason[static_cast<std::size_t>(error)];
}

// Expects `frame` to fail with exactly `error`, counted once as malformed.
void expect_malformed(LinkType link, const Frame& frame, DecodeError error) {
  const Decoded d = run(link, frame);
  EXPECT_EQ(d.error, error) << decode_error_name(d.error);
  EXPECT_EQ(d.stats.malformed, 1u);
  EXPECT_EQ(reason_count(d.stats, error), 1u);
}

Frame tcp_v4_frame() {
  return PacketBuilder()
      .ethernet()
      .ipv4({.src = ip4(10, 0, 0, 1), .dst = ip4(10, 0, 0, 2), .ttl = 57})
      .tcp({.src_port = 40000,
            .dst_port = 443,
            .seq = 0x01020304,
            .ack = 0x0A0B0C0D,
            .flags = testing::kPsh | testing::kAck,
            .window = 1234})
      .payload(10, 0x30)
      .build();
}

TEST(Decoder, DecodesTcpOverIpv4Ethernet) {
  const Frame frame = tcp_v4_frame();
  const Decoded d = run(LinkType::kEthernet, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  const Packet& p = d.packet;
  EXPECT_EQ(p.ts_ns, 42);
  EXPECT_EQ(p.wire_len, frame.size());
  EXPECT_EQ(p.cap_len, frame.size());
  EXPECT_EQ(p.l3, L3::kIpv4);
  EXPECT_EQ(p.vlan_depth, 0);
  EXPECT_EQ(p.src, v4(10, 0, 0, 1));
  EXPECT_EQ(p.dst, v4(10, 0, 0, 2));
  EXPECT_EQ(p.ip_proto, 6);
  EXPECT_EQ(p.ttl, 57);
  EXPECT_EQ(p.ip_header_len, 20);
  EXPECT_EQ(p.ip_total_len, 50u);
  EXPECT_FALSE(p.fragment);
  EXPECT_TRUE(p.has_l4);
  EXPECT_EQ(p.src_port, 40000);
  EXPECT_EQ(p.dst_port, 443);
  EXPECT_EQ(p.tcp_seq, 0x01020304u);
  EXPECT_EQ(p.tcp_ack, 0x0A0B0C0Du);
  EXPECT_EQ(p.tcp_flags, tcp_flag::kPsh | tcp_flag::kAck);
  EXPECT_EQ(p.tcp_window, 1234);
  EXPECT_EQ(p.l4_header_len, 20);
  EXPECT_EQ(p.payload_len, 10u);
  ASSERT_EQ(p.payload.size(), 10u);
  EXPECT_EQ(p.payload[0], 0x30);
  EXPECT_EQ(p.payload[9], 0x39);
  EXPECT_EQ(p.payload.data(), frame.data() + 54);
  EXPECT_EQ(d.stats.packets, 1u);
  EXPECT_EQ(d.stats.bytes, frame.size());
  EXPECT_EQ(d.stats.ipv4, 1u);
  EXPECT_EQ(d.stats.tcp, 1u);
  EXPECT_EQ(d.stats.malformed, 0u);
}

TEST(Decoder, ReportsEachOfTheEightTcpFlags) {
  for (int bit = 0; bit < 8; ++bit) {
    const auto flag = static_cast<std::uint8_t>(1u << bit);
    const Frame frame = PacketBuilder().ipv4().tcp({.flags = flag}).build();
    const Decoded d = run(LinkType::kRaw, frame);
    ASSERT_EQ(d.error, DecodeError::kNone);
    EXPECT_EQ(d.packet.tcp_flags, flag) << "bit " << bit;
  }
  const Decoded all = run(LinkType::kRaw, PacketBuilder().ipv4().tcp({.flags = 0xFF}).build());
  EXPECT_EQ(all.packet.tcp_flags, 0xFF);
}

TEST(Decoder, SkipsTcpOptionsUsingDataOffset) {
  const Frame frame = PacketBuilder()
                          .ipv4()
                          .tcp({.options = {2, 4, 0x05, 0xB4, 1, 3, 3, 7, 4, 2, 0, 0}})
                          .payload(5, 0x70)
                          .build();
  const Decoded d = run(LinkType::kRaw, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.l4_header_len, 32);
  EXPECT_EQ(d.packet.payload_len, 5u);
  ASSERT_EQ(d.packet.payload.size(), 5u);
  EXPECT_EQ(d.packet.payload[0], 0x70);
}

TEST(Decoder, SkipsIpv4OptionsUsingIhl) {
  const Frame frame = PacketBuilder()
                          .ipv4({.options = {0x94, 0x04, 0, 0, 1, 1, 1, 0}})
                          .udp({.src_port = 1111, .dst_port = 2222})
                          .payload(3)
                          .build();
  const Decoded d = run(LinkType::kRaw, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.ip_header_len, 28);
  EXPECT_EQ(d.packet.src_port, 1111);
  EXPECT_EQ(d.packet.dst_port, 2222);
  EXPECT_EQ(d.packet.payload_len, 3u);
}

TEST(Decoder, IgnoresEthernetPaddingAfterIpTotalLength) {
  // A bare SYN is 54 bytes; Ethernet pads it to the 60-byte minimum.
  const Frame frame = PacketBuilder().ethernet().ipv4().tcp().trailer(6, 0xEE).build();
  ASSERT_EQ(frame.size(), 60u);
  const Decoded d = run(LinkType::kEthernet, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.payload_len, 0u);
  EXPECT_TRUE(d.packet.payload.empty());

  const Frame udp = PacketBuilder().ethernet().ipv4().udp().payload(2).trailer(16).build();
  const Decoded u = run(LinkType::kEthernet, udp);
  ASSERT_EQ(u.error, DecodeError::kNone);
  EXPECT_EQ(u.packet.payload_len, 2u);
  EXPECT_EQ(u.packet.payload.size(), 2u);
}

TEST(Decoder, AcceptsDatagramLongerThanSnaplenAndClipsPayload) {
  Frame frame = PacketBuilder().ethernet().ipv4().tcp().payload(1000).build();
  frame.resize(96);  // snaplen 96
  Packet p;
  DecodeStats stats;
  ASSERT_EQ(decode(LinkType::kEthernet, frame, 1054, 0, p, stats), DecodeError::kNone);
  EXPECT_EQ(p.wire_len, 1054u);
  EXPECT_EQ(p.cap_len, 96u);
  EXPECT_EQ(p.ip_total_len, 1040u);
  EXPECT_EQ(p.payload_len, 1000u);
  EXPECT_EQ(p.payload.size(), 96u - 54u);
  EXPECT_EQ(stats.bytes, 1054u);
}

TEST(Decoder, DecodesUdpOverIpv4) {
  const Frame frame = PacketBuilder()
                          .ethernet()
                          .ipv4({.src = ip4(192, 168, 1, 10), .dst = ip4(8, 8, 8, 8)})
                          .udp({.src_port = 5353, .dst_port = 53})
                          .payload(33, 1)
                          .build();
  const Decoded d = run(LinkType::kEthernet, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.ip_proto, 17);
  EXPECT_TRUE(d.packet.has_l4);
  EXPECT_EQ(d.packet.src_port, 5353);
  EXPECT_EQ(d.packet.dst_port, 53);
  EXPECT_EQ(d.packet.l4_header_len, 8);
  EXPECT_EQ(d.packet.payload_len, 33u);
  ASSERT_EQ(d.packet.payload.size(), 33u);
  EXPECT_EQ(d.packet.payload[32], 33);
  EXPECT_EQ(d.stats.udp, 1u);
}

TEST(Decoder, TakesUdpPayloadLengthFromUdpLengthField) {
  // The UDP length (8 + 4) is shorter than the IP payload (8 + 10): trust UDP, clip the view.
  const Frame frame = PacketBuilder().ipv4().udp({.length = 12}).payload(10).build();
  const Decoded d = run(LinkType::kRaw, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.payload_len, 4u);
  EXPECT_EQ(d.packet.payload.size(), 4u);
}

TEST(Decoder, DecodesIcmpTypeAndCodeWithoutPorts) {
  const Frame frame =
      PacketBuilder().ethernet().ipv4().icmp({.type = 3, .code = 3}).payload(28).build();
  const Decoded d = run(LinkType::kEthernet, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.ip_proto, 1);
  EXPECT_TRUE(d.packet.has_l4);
  EXPECT_EQ(d.packet.icmp_type, 3);
  EXPECT_EQ(d.packet.icmp_code, 3);
  EXPECT_EQ(d.packet.src_port, 0);
  EXPECT_EQ(d.packet.dst_port, 0);
  EXPECT_EQ(d.packet.l4_header_len, 8);
  EXPECT_EQ(d.packet.payload_len, 28u);
  EXPECT_EQ(d.stats.icmp, 1u);
}

TEST(Decoder, DecodesIcmpv6OverIpv6) {
  const Frame frame =
      PacketBuilder().ethernet().ipv6().icmp({.type = 128, .code = 0}).payload(16).build();
  const Decoded d = run(LinkType::kEthernet, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.ip_proto, 58);
  EXPECT_EQ(d.packet.icmp_type, 128);
  EXPECT_EQ(d.packet.payload_len, 16u);
  EXPECT_EQ(d.stats.icmp, 1u);
  EXPECT_EQ(d.stats.ipv6, 1u);
}

TEST(Decoder, DecodesTcpOverIpv6) {
  const auto src = ip6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10});
  const auto dst = ip6({0xfe80, 0, 0, 0, 0, 0, 0, 0x20});
  const Frame frame = PacketBuilder()
                          .ethernet()
                          .ipv6({.src = src, .dst = dst, .hop_limit = 3})
                          .tcp({.src_port = 22, .dst_port = 50000, .flags = testing::kSynAck})
                          .payload(7)
                          .build();
  const Decoded d = run(LinkType::kEthernet, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.l3, L3::kIpv6);
  EXPECT_EQ(d.packet.src, v6(src));
  EXPECT_EQ(d.packet.dst, v6(dst));
  EXPECT_EQ(d.packet.ttl, 3);
  EXPECT_EQ(d.packet.ip_proto, 6);
  EXPECT_EQ(d.packet.ip_header_len, 40);
  EXPECT_EQ(d.packet.ip_total_len, 40u + 20u + 7u);
  EXPECT_EQ(d.packet.src_port, 22);
  EXPECT_EQ(d.packet.tcp_flags, tcp_flag::kSyn | tcp_flag::kAck);
  EXPECT_EQ(d.packet.payload_len, 7u);
  EXPECT_EQ(d.stats.ipv6, 1u);
  EXPECT_EQ(d.stats.tcp, 1u);
}

TEST(Decoder, IgnoresBytesBeyondIpv6PayloadLength) {
  const Frame frame = PacketBuilder().ethernet().ipv6().udp().payload(4).trailer(8).build();
  const Decoded d = run(LinkType::kEthernet, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.payload_len, 4u);
  EXPECT_EQ(d.packet.payload.size(), 4u);
}

TEST(Decoder, WalksIpv6ExtensionHeaderChainToTcp) {
  const Frame frame = PacketBuilder()
                          .ethernet()
                          .ipv6()
                          .ipv6_extension({.type = 0, .length = 8})
                          .ipv6_extension({.type = 43, .length = 24})
                          .ipv6_extension({.type = 60, .length = 16})
                          .ipv6_extension({.type = 51, .length = 16})
                          .tcp({.src_port = 1, .dst_port = 2})
                          .payload(9)
                          .build();
  const Decoded d = run(LinkType::kEthernet, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.ip_header_len, 40 + 8 + 24 + 16 + 16);
  EXPECT_EQ(d.packet.ip_proto, 6);
  EXPECT_EQ(d.packet.src_port, 1);
  EXPECT_EQ(d.packet.dst_port, 2);
  EXPECT_EQ(d.packet.payload_len, 9u);
  EXPECT_EQ(d.stats.tcp, 1u);
}

TEST(Decoder, StopsAtEspAndNoNextHeaderWithoutL4) {
  for (std::uint8_t next : {std::uint8_t{50}, std::uint8_t{59}}) {
    const Frame frame =
        PacketBuilder().ipv6().ipv6_extension({.type = 0, .next_header = next}).payload(24).build();
    const Decoded d = run(LinkType::kRaw, frame);
    ASSERT_EQ(d.error, DecodeError::kNone);
    EXPECT_EQ(d.packet.ip_proto, next);
    EXPECT_EQ(d.packet.ip_header_len, 48);
    EXPECT_FALSE(d.packet.has_l4);
    EXPECT_EQ(d.packet.payload_len, 24u);
    EXPECT_EQ(d.stats.other_l4, 1u);
  }
}

TEST(Decoder, AcceptsExtensionChainUpToLimitAndRejectsLonger) {
  const auto chain = [](int headers) {
    PacketBuilder b;
    b.ipv6();
    for (int k = 0; k < headers; ++k) b.ipv6_extension({.type = 60});
    return b.udp().build();
  };
  const Decoded at_limit = run(LinkType::kRaw, chain(kMaxIpv6ExtensionHeaders));
  EXPECT_EQ(at_limit.error, DecodeError::kNone);
  EXPECT_EQ(at_limit.packet.ip_proto, 17);
  expect_malformed(LinkType::kRaw, chain(kMaxIpv6ExtensionHeaders + 1),
                   DecodeError::kBadIpv6ExtensionHeader);
}

TEST(Decoder, RejectsExtensionHeaderCutShortByCaptureOrPayloadLength) {
  Frame frame = PacketBuilder().ipv6().ipv6_extension({.type = 43, .length = 16}).udp().build();
  Frame cut = frame;
  cut.resize(40 + 12);
  expect_malformed(LinkType::kRaw, cut, DecodeError::kBadIpv6ExtensionHeader);
  cut.resize(40 + 1);
  expect_malformed(LinkType::kRaw, cut, DecodeError::kBadIpv6ExtensionHeader);
  // Fully captured, but the IPv6 payload length says the datagram ends inside the header.
  const Frame short_payload = PacketBuilder()
                                  .ipv6({.payload_length = 8})
                                  .ipv6_extension({.type = 43, .length = 16})
                                  .udp()
                                  .build();
  expect_malformed(LinkType::kRaw, short_payload, DecodeError::kBadIpv6ExtensionHeader);
}

TEST(Decoder, DecodesPortsOfFirstIpv4FragmentOnly) {
  const Frame first =
      PacketBuilder().ipv4({.more_fragments = true}).udp({.length = 3000}).payload(1472).build();
  const Decoded f = run(LinkType::kRaw, first);
  ASSERT_EQ(f.error, DecodeError::kNone);
  EXPECT_TRUE(f.packet.fragment);
  EXPECT_TRUE(f.packet.first_fragment);
  EXPECT_TRUE(f.packet.has_l4);
  EXPECT_EQ(f.packet.dst_port, 53);
  EXPECT_EQ(f.packet.payload_len, 3000u - 8u);  // from the UDP length: the whole datagram
  EXPECT_EQ(f.packet.payload.size(), 1472u);
  EXPECT_EQ(f.stats.fragments, 1u);
  EXPECT_EQ(f.stats.udp, 1u);

  // A later fragment starts with data that merely looks like a UDP header.
  const Frame later = PacketBuilder()
                          .ipv4({.more_fragments = true, .fragment_offset = 185, .protocol = 17})
                          .payload(1480, 7)
                          .build();
  const Decoded l = run(LinkType::kRaw, later);
  ASSERT_EQ(l.error, DecodeError::kNone);
  EXPECT_TRUE(l.packet.fragment);
  EXPECT_FALSE(l.packet.first_fragment);
  EXPECT_FALSE(l.packet.has_l4);
  EXPECT_EQ(l.packet.ip_proto, 17);
  EXPECT_EQ(l.packet.src_port, 0);
  EXPECT_EQ(l.packet.dst_port, 0);
  EXPECT_EQ(l.packet.payload_len, 1480u);
  EXPECT_EQ(l.packet.payload.size(), 1480u);
  EXPECT_EQ(l.stats.fragments, 1u);
  EXPECT_EQ(l.stats.udp, 0u);

  const Frame last =
      PacketBuilder().ipv4({.fragment_offset = 370, .protocol = 17}).payload(40).build();
  const Decoded z = run(LinkType::kRaw, last);
  EXPECT_TRUE(z.packet.fragment);
  EXPECT_FALSE(z.packet.has_l4);
}

TEST(Decoder, TreatsDontFragmentAsWholeDatagram) {
  const Decoded d =
      run(LinkType::kRaw, PacketBuilder().ipv4({.dont_fragment = true}).tcp().build());
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_FALSE(d.packet.fragment);
  EXPECT_TRUE(d.packet.has_l4);
  EXPECT_EQ(d.stats.fragments, 0u);
}

TEST(Decoder, HandlesIpv6FragmentHeaderLikeIpv4Fragments) {
  const Frame first = PacketBuilder()
                          .ipv6()
                          .ipv6_extension({.type = 0})
                          .ipv6_fragment({.offset = 0, .more = true})
                          .tcp({.dst_port = 8080})
                          .payload(100)
                          .build();
  const Decoded f = run(LinkType::kRaw, first);
  ASSERT_EQ(f.error, DecodeError::kNone);
  EXPECT_TRUE(f.packet.fragment);
  EXPECT_TRUE(f.packet.first_fragment);
  EXPECT_TRUE(f.packet.has_l4);
  EXPECT_EQ(f.packet.dst_port, 8080);
  EXPECT_EQ(f.packet.ip_header_len, 40 + 8 + 8);
  EXPECT_EQ(f.stats.fragments, 1u);

  // Data of a later fragment must not be parsed as headers, even if it looks like some.
  const Frame later = PacketBuilder()
                          .ipv6()
                          .ipv6_fragment({.offset = 16, .more = false, .next_header = 0})
                          .payload(64, 0)
                          .build();
  const Decoded l = run(LinkType::kRaw, later);
  ASSERT_EQ(l.error, DecodeError::kNone);
  EXPECT_TRUE(l.packet.fragment);
  EXPECT_FALSE(l.packet.first_fragment);
  EXPECT_FALSE(l.packet.has_l4);
  EXPECT_EQ(l.packet.ip_proto, 0);
  EXPECT_EQ(l.packet.ip_header_len, 48);
  EXPECT_EQ(l.packet.payload_len, 64u);
  EXPECT_EQ(l.stats.other_l4, 0u);

  // RFC 6946 atomic fragment: offset 0 and no more fragments is a whole datagram.
  const Frame atomic =
      PacketBuilder().ipv6().ipv6_fragment({.offset = 0, .more = false}).udp().build();
  const Decoded a = run(LinkType::kRaw, atomic);
  ASSERT_EQ(a.error, DecodeError::kNone);
  EXPECT_FALSE(a.packet.fragment);
  EXPECT_TRUE(a.packet.has_l4);
}

TEST(Decoder, ReadsSingleVlanTag) {
  const Frame frame =
      PacketBuilder().ethernet().vlan({.id = 100, .priority = 5}).ipv4().udp().build();
  const Decoded d = run(LinkType::kEthernet, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.vlan, 100);
  EXPECT_EQ(d.packet.vlan_depth, 1);
  EXPECT_EQ(d.packet.l3, L3::kIpv4);
  EXPECT_EQ(d.stats.udp, 1u);
}

TEST(Decoder, ReportsOuterVlanOfQinQForBothOuterTagTypes) {
  for (std::uint16_t outer : {std::uint16_t{0x88A8}, std::uint16_t{0x9100}}) {
    const Frame frame = PacketBuilder()
                            .ethernet()
                            .vlan({.id = 300, .tpid = outer})
                            .vlan({.id = 42})
                            .ipv6()
                            .tcp()
                            .build();
    const Decoded d = run(LinkType::kEthernet, frame);
    ASSERT_EQ(d.error, DecodeError::kNone) << std::hex << outer;
    EXPECT_EQ(d.packet.vlan, 300);
    EXPECT_EQ(d.packet.vlan_depth, 2);
    EXPECT_EQ(d.packet.l3, L3::kIpv6);
    EXPECT_TRUE(d.packet.has_l4);
  }
}

TEST(Decoder, FollowsThreeStackedVlanTags) {
  // Three tags (seen on carrier links) are followed; the bound is kMaxVlanTags.
  const Frame frame = PacketBuilder()
                          .ethernet()
                          .vlan({.id = 1, .tpid = 0x88A8})
                          .vlan({.id = 2})
                          .vlan({.id = 3})
                          .ipv4()
                          .tcp()
                          .build();
  const Decoded d = run(LinkType::kEthernet, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.vlan, 1);
  EXPECT_EQ(d.packet.vlan_depth, 3);
  EXPECT_TRUE(d.packet.has_l4);
}

TEST(Decoder, RejectsVlanTagCutShort) {
  Frame frame = PacketBuilder().ethernet().vlan({.id = 9}).ipv4().tcp().build();
  frame.resize(14 + 3);
  expect_malformed(LinkType::kEthernet, frame, DecodeError::kTruncatedVlan);
}

TEST(Decoder, CountsArpAndExposesProtocolAddresses) {
  const Frame frame = PacketBuilder()
                          .ethernet({.dst = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}})
                          .arp({.sender_ip = ip4(10, 1, 1, 1), .target_ip = ip4(10, 1, 1, 254)})
                          .trailer(18)
                          .build();
  const Decoded d = run(LinkType::kEthernet, frame);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.l3, L3::kArp);
  EXPECT_EQ(d.packet.src, v4(10, 1, 1, 1));
  EXPECT_EQ(d.packet.dst, v4(10, 1, 1, 254));
  EXPECT_FALSE(d.packet.has_l4);
  EXPECT_EQ(d.stats.arp, 1u);
}

TEST(Decoder, RejectsArpShorterThan28Bytes) {
  Frame frame = PacketBuilder().ethernet().arp().build();
  frame.resize(14 + 27);
  expect_malformed(LinkType::kEthernet, frame, DecodeError::kTruncatedArp);
}

TEST(Decoder, CountsUnknownEtherTypeAsOtherL3NotMalformed) {
  const Frame lldp = PacketBuilder().ethernet({.ether_type = 0x88CC}).payload(40).build();
  const Decoded d = run(LinkType::kEthernet, lldp);
  EXPECT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.l3, L3::kOther);
  EXPECT_EQ(d.stats.other_l3, 1u);
  EXPECT_EQ(d.stats.malformed, 0u);
}

TEST(Decoder, DecodesLinuxCookedV1AndV2) {
  const Frame sll = PacketBuilder().sll().ipv4().tcp({.dst_port = 25}).build();
  const Decoded a = run(LinkType::kLinuxSll, sll);
  ASSERT_EQ(a.error, DecodeError::kNone);
  EXPECT_EQ(a.packet.l3, L3::kIpv4);
  EXPECT_EQ(a.packet.dst_port, 25);

  const Frame sll2 = PacketBuilder().sll2().ipv6().udp({.dst_port = 123}).build();
  const Decoded b = run(LinkType::kLinuxSll2, sll2);
  ASSERT_EQ(b.error, DecodeError::kNone);
  EXPECT_EQ(b.packet.l3, L3::kIpv6);
  EXPECT_EQ(b.packet.dst_port, 123);

  const Frame sll_vlan = PacketBuilder().sll().vlan({.id = 12}).ipv4().udp().build();
  const Decoded c = run(LinkType::kLinuxSll, sll_vlan);
  ASSERT_EQ(c.error, DecodeError::kNone);
  EXPECT_EQ(c.packet.vlan, 12);
}

TEST(Decoder, DecodesRawIpByVersionNibble) {
  const Decoded a = run(LinkType::kRaw, PacketBuilder().ipv4().udp().build());
  EXPECT_EQ(a.error, DecodeError::kNone);
  EXPECT_EQ(a.packet.l3, L3::kIpv4);
  const Decoded b = run(LinkType::kRaw, PacketBuilder().ipv6().udp().build());
  EXPECT_EQ(b.error, DecodeError::kNone);
  EXPECT_EQ(b.packet.l3, L3::kIpv6);
  expect_malformed(LinkType::kRaw, PacketBuilder().ipv4({.version = 5}).udp().build(),
                   DecodeError::kBadIpv4Version);
  expect_malformed(LinkType::kRaw, Frame{}, DecodeError::kTruncatedIpv4);
}

TEST(Decoder, DecodesLinktypeIpv4AndIpv6WithoutSniffing) {
  const Decoded a = run(LinkType::kIpv4, PacketBuilder().ipv4().tcp().build());
  EXPECT_EQ(a.error, DecodeError::kNone);
  EXPECT_EQ(a.packet.l3, L3::kIpv4);
  const Decoded b = run(LinkType::kIpv6, PacketBuilder().ipv6().tcp().build());
  EXPECT_EQ(b.error, DecodeError::kNone);
  EXPECT_EQ(b.packet.l3, L3::kIpv6);
  // LINKTYPE_IPV6 promises IPv6: an IPv4 header there has the wrong version.
  expect_malformed(LinkType::kIpv6, PacketBuilder().ipv4().tcp().payload(20).build(),
                   DecodeError::kBadIpv6Version);
}

TEST(Decoder, AcceptsBsdNullFamiliesInEitherByteOrder) {
  for (bool network_order : {false, true}) {
    const Decoded a =
        run(LinkType::kNull, PacketBuilder().null_header({2, network_order}).ipv4().tcp().build());
    EXPECT_EQ(a.error, DecodeError::kNone);
    EXPECT_EQ(a.packet.l3, L3::kIpv4);
    for (std::uint32_t family : {24u, 28u, 30u}) {
      const Decoded b =
          run(LinkType::kNull,
              PacketBuilder().null_header({family, network_order}).ipv6().udp().build());
      EXPECT_EQ(b.error, DecodeError::kNone) << family;
      EXPECT_EQ(b.packet.l3, L3::kIpv6) << family;
    }
  }
  const Decoded other = run(LinkType::kNull, PacketBuilder().null_header({7}).payload(20).build());
  EXPECT_EQ(other.error, DecodeError::kNone);
  EXPECT_EQ(other.packet.l3, L3::kOther);
  EXPECT_EQ(other.stats.other_l3, 1u);
}

TEST(Decoder, ReadsLoopFamilyInNetworkOrderOnly) {
  const Decoded a =
      run(LinkType::kLoop, PacketBuilder().null_header({2, true}).ipv4().tcp().build());
  EXPECT_EQ(a.packet.l3, L3::kIpv4);
  const Decoded b =
      run(LinkType::kLoop, PacketBuilder().null_header({24, true}).ipv6().tcp().build());
  EXPECT_EQ(b.packet.l3, L3::kIpv6);
  const Decoded host_order =
      run(LinkType::kLoop, PacketBuilder().null_header({2, false}).ipv4().tcp().build());
  EXPECT_EQ(host_order.error, DecodeError::kNone);
  EXPECT_EQ(host_order.packet.l3, L3::kOther);
}

TEST(Decoder, RejectsFramesShorterThanTheirLinkHeader) {
  const struct {
    LinkType link;
    std::size_t header;
  } cases[] = {{LinkType::kEthernet, 14},
               {LinkType::kLinuxSll, 16},
               {LinkType::kLinuxSll2, 20},
               {LinkType::kNull, 4},
               {LinkType::kLoop, 4}};
  for (const auto& c : cases) {
    expect_malformed(c.link, Frame(c.header - 1, 0), DecodeError::kTruncatedLinkHeader);
    expect_malformed(c.link, Frame{}, DecodeError::kTruncatedLinkHeader);
  }
}

TEST(Decoder, RejectsMalformedIpv4Headers) {
  expect_malformed(LinkType::kEthernet, PacketBuilder().ethernet().ipv4({.version = 6}).build(),
                   DecodeError::kBadIpv4Version);
  expect_malformed(LinkType::kEthernet, PacketBuilder().ethernet().ipv4({.ihl = 4}).tcp().build(),
                   DecodeError::kBadIpv4HeaderLength);
  expect_malformed(LinkType::kEthernet,
                   PacketBuilder().ethernet().ipv4({.total_length = 19}).tcp().build(),
                   DecodeError::kBadIpv4TotalLength);
  expect_malformed(
      LinkType::kEthernet,
      PacketBuilder().ethernet().ipv4({.options = {1, 1, 1, 1}, .total_length = 20}).build(),
      DecodeError::kBadIpv4TotalLength);
  Frame short_header = PacketBuilder().ethernet().ipv4().tcp().build();
  short_header.resize(14 + 19);
  expect_malformed(LinkType::kEthernet, short_header, DecodeError::kTruncatedIpv4);
  // IHL 15 announces 60 header bytes; only 40 were captured.
  expect_malformed(LinkType::kRaw, PacketBuilder().ipv4({.ihl = 15}).tcp().build(),
                   DecodeError::kTruncatedIpv4);
}

TEST(Decoder, RejectsMalformedIpv6Headers) {
  Frame short_header = PacketBuilder().ethernet().ipv6().build();
  short_header.resize(14 + 39);
  expect_malformed(LinkType::kEthernet, short_header, DecodeError::kTruncatedIpv6);
  expect_malformed(LinkType::kEthernet,
                   PacketBuilder().ethernet().ipv6({.version = 4}).udp().build(),
                   DecodeError::kBadIpv6Version);
}

TEST(Decoder, RejectsTcpHeaderShorterThan20Bytes) {
  Frame frame = PacketBuilder().ipv4().tcp().build();
  frame.resize(20 + 19);
  expect_malformed(LinkType::kRaw, frame, DecodeError::kTruncatedTcp);
  // Fully captured, but the IP total length ends the datagram inside the TCP header.
  expect_malformed(LinkType::kRaw, PacketBuilder().ipv4({.total_length = 30}).tcp().build(),
                   DecodeError::kTruncatedTcp);
}

TEST(Decoder, RejectsBadTcpDataOffset) {
  expect_malformed(LinkType::kRaw, PacketBuilder().ipv4().tcp({.data_offset = 4}).build(),
                   DecodeError::kBadTcpHeaderLength);
  expect_malformed(LinkType::kRaw,
                   PacketBuilder().ipv4().tcp({.data_offset = 15}).payload(20).build(),
                   DecodeError::kBadTcpHeaderLength);
}

TEST(Decoder, RejectsUdpHeaderShorterThan8Bytes) {
  Frame frame = PacketBuilder().ipv6().udp().build();
  frame.resize(40 + 7);
  expect_malformed(LinkType::kRaw, frame, DecodeError::kTruncatedUdp);
}

TEST(Decoder, RejectsUdpLengthBelow8OrBeyondUnfragmentedDatagram) {
  expect_malformed(LinkType::kRaw, PacketBuilder().ipv4().udp({.length = 7}).payload(4).build(),
                   DecodeError::kBadUdpLength);
  expect_malformed(LinkType::kRaw, PacketBuilder().ipv4().udp({.length = 0}).build(),
                   DecodeError::kBadUdpLength);
  expect_malformed(LinkType::kRaw, PacketBuilder().ipv6().udp({.length = 100}).payload(10).build(),
                   DecodeError::kBadUdpLength);
}

TEST(Decoder, RejectsIcmpHeaderShorterThan8Bytes) {
  Frame frame = PacketBuilder().ipv4().icmp().build();
  frame.resize(20 + 7);
  expect_malformed(LinkType::kRaw, frame, DecodeError::kTruncatedIcmp);
  Frame v6 = PacketBuilder().ipv6().icmp().build();
  v6.resize(40 + 4);
  expect_malformed(LinkType::kRaw, v6, DecodeError::kTruncatedIcmp);
}

TEST(Decoder, KeepsAddressesWhenL4HeaderIsMalformed) {
  Frame frame = PacketBuilder().ipv4({.src = ip4(1, 2, 3, 4)}).tcp().build();
  frame.resize(30);
  const Decoded d = run(LinkType::kRaw, frame);
  EXPECT_EQ(d.error, DecodeError::kTruncatedTcp);
  EXPECT_EQ(d.packet.src, v4(1, 2, 3, 4));
  EXPECT_FALSE(d.packet.has_l4);
  EXPECT_EQ(d.stats.ipv4, 1u);
  EXPECT_EQ(d.stats.tcp, 0u);
}

TEST(Decoder, CountsOtherIpProtocolsAsOtherL4) {
  const Frame gre = PacketBuilder().ipv4({.protocol = 47}).payload(24).build();
  const Decoded d = run(LinkType::kRaw, gre);
  ASSERT_EQ(d.error, DecodeError::kNone);
  EXPECT_EQ(d.packet.ip_proto, 47);
  EXPECT_FALSE(d.packet.has_l4);
  EXPECT_EQ(d.packet.payload_len, 24u);
  EXPECT_EQ(d.stats.other_l4, 1u);
}

TEST(Decoder, ResetsPacketBeforeDecoding) {
  Packet p;
  DecodeStats stats;
  const Frame tcp = tcp_v4_frame();
  ASSERT_EQ(decode(LinkType::kEthernet, tcp, 64, 1, p, stats), DecodeError::kNone);
  const Frame arp = PacketBuilder().ethernet().arp().build();
  ASSERT_EQ(decode(LinkType::kEthernet, arp, 42, 2, p, stats), DecodeError::kNone);
  EXPECT_EQ(p.ts_ns, 2);
  EXPECT_FALSE(p.has_l4);
  EXPECT_EQ(p.src_port, 0);
  EXPECT_EQ(p.ip_proto, 0);
  EXPECT_EQ(p.tcp_flags, 0);
  EXPECT_TRUE(p.payload.empty());
}

TEST(Decoder, AccumulatesStatsAcrossPackets) {
  DecodeStats stats;
  Packet p;
  const Frame good = tcp_v4_frame();
  Frame bad = good;
  bad.resize(20);
  const Frame arp = PacketBuilder().ethernet().arp().build();
  for (int k = 0; k < 3; ++k) (void)decode(LinkType::kEthernet, good, 100, 0, p, stats);
  (void)decode(LinkType::kEthernet, bad, 1000, 0, p, stats);
  (void)decode(LinkType::kEthernet, arp, 60, 0, p, stats);
  EXPECT_EQ(stats.packets, 5u);
  EXPECT_EQ(stats.bytes, 3u * 100u + 1000u + 60u);
  EXPECT_EQ(stats.ipv4, 3u);
  EXPECT_EQ(stats.tcp, 3u);
  EXPECT_EQ(stats.arp, 1u);
  EXPECT_EQ(stats.malformed, 1u);
  EXPECT_EQ(reason_count(stats, DecodeError::kTruncatedIpv4), 1u);
}

// Expected outcome of decoding the first n bytes of a frame whose layers end at `bounds`.
struct Boundary {
  std::size_t end;    // prefixes shorter than this fail with...
  DecodeError error;  // ...this reason
};

void expect_every_prefix(LinkType link, const Frame& frame, const std::vector<Boundary>& bounds,
                         std::size_t payload_offset) {
  DecodeStats stats;
  std::uint64_t failures = 0;
  for (std::size_t n = 0; n <= frame.size(); ++n) {
    Packet p;
    const DecodeError error = run_prefix(link, frame, n, p, stats);
    DecodeError expected = DecodeError::kNone;
    for (const Boundary& b : bounds) {
      if (n < b.end) {
        expected = b.error;
        break;
      }
    }
    ASSERT_EQ(error, expected) << "prefix " << n << ": " << decode_error_name(error);
    if (error != DecodeError::kNone) {
      ++failures;
    } else {
      EXPECT_EQ(p.payload.size(), n - payload_offset) << "prefix " << n;
      EXPECT_TRUE(p.has_l4);
    }
  }
  EXPECT_EQ(stats.packets, frame.size() + 1);
  EXPECT_EQ(stats.malformed, failures);
}

TEST(Decoder, FailsCleanlyAtEveryTruncationOfVlanTcpIpv4) {
  const Frame frame = PacketBuilder()
                          .ethernet()
                          .vlan({.id = 5})
                          .ipv4({.options = {1, 1, 1, 1}})
                          .tcp({.options = {1, 1, 1, 1, 1, 1, 1, 1}})
                          .payload(10)
                          .build();
  // Ethernet 14, tag 4, IPv4 24, TCP 28, payload 10.
  expect_every_prefix(LinkType::kEthernet, frame,
                      {{14, DecodeError::kTruncatedLinkHeader},
                       {18, DecodeError::kTruncatedVlan},
                       {18 + 24, DecodeError::kTruncatedIpv4},
                       {42 + 20, DecodeError::kTruncatedTcp},
                       {42 + 28, DecodeError::kBadTcpHeaderLength}},
                      70);
}

TEST(Decoder, FailsCleanlyAtEveryTruncationOfIpv6WithExtensions) {
  const Frame frame = PacketBuilder()
                          .ethernet()
                          .ipv6()
                          .ipv6_extension({.type = 0, .length = 8})
                          .ipv6_fragment({.offset = 0, .more = true})
                          .ipv6_extension({.type = 51, .length = 24})
                          .tcp({.options = {1, 1, 1, 1}})
                          .payload(12)
                          .build();
  // Ethernet 14, IPv6 40, hop-by-hop 8, fragment 8, AH 24, TCP 24, payload 12.
  expect_every_prefix(LinkType::kEthernet, frame,
                      {{14, DecodeError::kTruncatedLinkHeader},
                       {54, DecodeError::kTruncatedIpv6},
                       {54 + 40, DecodeError::kBadIpv6ExtensionHeader},
                       {94 + 20, DecodeError::kTruncatedTcp},
                       {94 + 24, DecodeError::kBadTcpHeaderLength}},
                      118);
}

TEST(Decoder, FailsCleanlyAtEveryTruncationOfSll2Udp) {
  const Frame frame = PacketBuilder().sll2().ipv4().udp().payload(6).build();
  expect_every_prefix(LinkType::kLinuxSll2, frame,
                      {{20, DecodeError::kTruncatedLinkHeader},
                       {40, DecodeError::kTruncatedIpv4},
                       {48, DecodeError::kTruncatedUdp}},
                      48);
}

// Random bytes on every link type: must never crash, and the counters must stay consistent.
TEST(Decoder, KeepsStatsConsistentOnRandomBytes) {
  std::mt19937 rng(12345);
  const LinkType links[] = {LinkType::kNull, LinkType::kEthernet, LinkType::kRaw,
                            LinkType::kLoop, LinkType::kLinuxSll, LinkType::kIpv4,
                            LinkType::kIpv6, LinkType::kLinuxSll2};
  DecodeStats stats;
  Packet p;
  std::uint64_t clean = 0;
  const Frame seed = PacketBuilder().ethernet().vlan().ipv6().ipv6_extension({}).tcp().build();
  for (int k = 0; k < 20000; ++k) {
    Frame frame = seed;
    frame.resize(rng() % (seed.size() + 1));
    // Mutate a few bytes of a valid frame so the decoder gets past the outer layers.
    for (int m = 0; m < 3 && !frame.empty(); ++m) {
      frame[rng() % frame.size()] = static_cast<std::uint8_t>(rng());
    }
    const LinkType link = links[rng() % std::size(links)];
    auto copy = std::make_unique<std::uint8_t[]>(frame.size() + 1);
    std::copy(frame.begin(), frame.end(), copy.get());
    if (decode(link, {copy.get(), frame.size()}, 0, 0, p, stats) == DecodeError::kNone) ++clean;
    ASSERT_LE(p.payload.size(), frame.size());
  }
  std::uint64_t by_reason = 0;
  for (std::uint64_t count : stats.by_reason) by_reason += count;
  EXPECT_EQ(stats.packets, 20000u);
  EXPECT_EQ(stats.malformed, by_reason);
  EXPECT_EQ(stats.malformed + clean, stats.packets);
  EXPECT_EQ(reason_count(stats, DecodeError::kNone), 0u);
}

}  // namespace
}  // namespace netsentry::net
