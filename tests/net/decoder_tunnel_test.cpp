// PPPoE, MPLS and TSO-length frames: encapsulations and capture artefacts seen on real links.
#include <gtest/gtest.h>

#include <utility>

#include "net/decoder.h"
#include "net/packet_builder.h"

namespace netsentry::net {
namespace {

using testing::PacketBuilder;
using Frame = std::vector<std::uint8_t>;

Frame ip_tcp() {
  return PacketBuilder()
      .ipv4({.src = {10, 1, 1, 1}, .dst = {10, 2, 2, 2}})
      .tcp({.src_port = 5555, .dst_port = 80})
      .payload(12)
      .build();
}

Frame ethernet_header(std::uint16_t ether_type) {
  Frame f(12, 0x02);
  f.push_back(static_cast<std::uint8_t>(ether_type >> 8));
  f.push_back(static_cast<std::uint8_t>(ether_type));
  return f;
}

Frame concat(Frame a, const Frame& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

DecodeError run(const Frame& frame, Packet& p, DecodeStats& stats, std::uint32_t wire = 0) {
  return decode(LinkType::kEthernet, frame, wire ? wire : static_cast<std::uint32_t>(frame.size()),
                1, p, stats);
}

TEST(DecoderTunnels, DecodesIpv4InsidePppoeSession) {
  const Frame ip = ip_tcp();
  Frame pppoe = {0x11, 0x00, 0x3B, 0x1A, 0x00, static_cast<std::uint8_t>(ip.size() + 2),
                 0x00, 0x21};
  const Frame frame = concat(concat(ethernet_header(0x8864), pppoe), ip);
  Packet p;
  DecodeStats s;
  ASSERT_EQ(run(frame, p, s), DecodeError::kNone);
  EXPECT_EQ(p.l3, L3::kIpv4);
  EXPECT_EQ(p.src_port, 5555);
  EXPECT_EQ(p.dst_port, 80);
  EXPECT_EQ(p.payload_len, 12u);
}

TEST(DecoderTunnels, PppoeControlProtocolsAreOtherTrafficNotMalformed) {
  Frame lcp = {0x11, 0x00, 0x3B, 0x1A, 0x00, 0x06, 0xC0, 0x21, 1, 2, 3, 4};
  Packet p;
  DecodeStats s;
  EXPECT_EQ(run(concat(ethernet_header(0x8864), lcp), p, s), DecodeError::kNone);
  EXPECT_EQ(p.l3, L3::kOther);
  EXPECT_EQ(s.other_l3, 1u);
}

TEST(DecoderTunnels, TruncatedPppoeHeaderIsCounted) {
  Packet p;
  DecodeStats s;
  EXPECT_EQ(run(concat(ethernet_header(0x8864), Frame{0x11, 0x00, 0x3B}), p, s),
            DecodeError::kTruncatedPppoe);
  EXPECT_EQ(s.by_reason[static_cast<std::size_t>(DecodeError::kTruncatedPppoe)], 1u);
}

TEST(DecoderTunnels, DecodesIpUnderTwoMplsLabels) {
  // label 100 (not bottom), label 200 (bottom of stack), TTL 64
  Frame labels = {0x00, 0x06, 0x40, 0x40, 0x00, 0x0C, 0x81, 0x40};
  Packet p;
  DecodeStats s;
  ASSERT_EQ(run(concat(concat(ethernet_header(0x8847), labels), ip_tcp()), p, s),
            DecodeError::kNone);
  EXPECT_EQ(p.l3, L3::kIpv4);
  EXPECT_EQ(p.dst_port, 80);
}

TEST(DecoderTunnels, MplsStackWithoutBottomIsMalformed) {
  Frame labels(4 * 9, 0x00);  // nine labels, none with the bottom-of-stack bit
  Packet p;
  DecodeStats s;
  EXPECT_EQ(run(concat(ethernet_header(0x8847), labels), p, s), DecodeError::kBadMplsStack);
  Frame cut = {0x00, 0x06, 0x40};
  EXPECT_EQ(run(concat(ethernet_header(0x8847), cut), p, s), DecodeError::kBadMplsStack);
}

TEST(DecoderTunnels, ZeroIpv4TotalLengthFromTsoUsesTheWireLength) {
  // A 4,000-byte segment captured before segmentation offload, snapped at 100 bytes.
  Frame frame = PacketBuilder()
                    .ethernet()
                    .ipv4({.total_length = 0})
                    .tcp({.src_port = 25, .dst_port = 50593})
                    .payload(46)
                    .build();
  ASSERT_EQ(frame.size(), 100u);
  Packet p;
  DecodeStats s;
  ASSERT_EQ(run(frame, p, s, /*wire=*/4014), DecodeError::kNone);
  EXPECT_EQ(p.ip_total_len, 4000u);
  EXPECT_EQ(p.payload_len, 4000u - 40u);
  EXPECT_EQ(p.payload.size(), 46u);
  EXPECT_EQ(s.tso_length, 1u);
  EXPECT_EQ(s.malformed, 0u);
}

}  // namespace
}  // namespace netsentry::net

// --- tunnels: decode() marks the candidate, decode_inner() checks the header and decodes --------

namespace netsentry::net {
namespace {

Frame be16(std::uint16_t v) {
  return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}
Frame cat(std::initializer_list<Frame> parts) {
  Frame out;
  for (const Frame& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Frame inner_ethernet() {
  return PacketBuilder()
      .ethernet()
      .ipv4({.src = {172, 16, 0, 1}, .dst = {172, 16, 0, 2}})
      .tcp({.src_port = 33000, .dst_port = 22})
      .payload(7)
      .build();
}
Frame inner_ip() {
  return PacketBuilder()
      .ipv4({.src = {172, 16, 0, 1}, .dst = {172, 16, 0, 2}})
      .tcp({.src_port = 33000, .dst_port = 22})
      .payload(7)
      .build();
}
Frame inner_ip6() {
  return PacketBuilder().ipv6().udp({.src_port = 5000, .dst_port = 53}).payload(20).build();
}
Frame outer_ip(std::uint8_t proto, const Frame& payload) {
  return PacketBuilder()
      .ethernet()
      .ipv4({.src = {10, 0, 0, 1}, .dst = {10, 0, 0, 2}, .protocol = proto})
      .payload(payload)
      .build();
}
Frame outer_udp(std::uint16_t port, const Frame& payload) {
  return PacketBuilder()
      .ethernet()
      .ipv4({.src = {10, 0, 0, 1}, .dst = {10, 0, 0, 2}})
      .udp({.src_port = 49152, .dst_port = port})
      .payload(payload)
      .build();
}

// Owns the frame: the decoded packets are views into its bytes (a moved vector keeps its buffer,
// so returning Opened by value keeps them valid).
struct Opened {
  Frame frame;
  Packet outer;
  Packet inner;
  InnerResult result;
  DecodeStats inner_stats;
};

Opened open(Frame frame) {
  Opened o;
  o.frame = std::move(frame);
  DecodeStats stats;
  EXPECT_EQ(decode(LinkType::kEthernet, o.frame, static_cast<std::uint32_t>(o.frame.size()), 7,
                   o.outer, stats),
            DecodeError::kNone);
  o.result = decode_inner(o.outer, o.inner, o.inner_stats);
  return o;
}

void expect_inner_tcp_22(const Opened& o, Tunnel tunnel) {
  ASSERT_TRUE(o.result.decapsulated);
  EXPECT_EQ(o.result.tunnel, tunnel) << tunnel_name(o.result.tunnel);
  EXPECT_EQ(o.result.error, DecodeError::kNone);
  EXPECT_EQ(o.inner.l3, L3::kIpv4);
  EXPECT_EQ(o.inner.src.bytes[0], 172);
  EXPECT_EQ(o.inner.dst_port, 22);
  EXPECT_EQ(o.inner.payload_len, 7u);
  EXPECT_EQ(o.inner.tunnel_depth, 1);
  EXPECT_EQ(o.inner.ts_ns, 7);
  EXPECT_EQ(o.inner_stats.packets, 1u);
  EXPECT_EQ(o.inner_stats.tcp, 1u);
}

TEST(DecoderTunnels, GreCarryingIpWithKeyAndSequence) {
  const Frame gre = cat({{0x30, 0x00}, be16(0x0800), {0, 0, 0, 9}, {0, 0, 0, 1}});
  const Opened o = open(outer_ip(47, cat({gre, inner_ip()})));
  EXPECT_EQ(o.outer.encap, Encap::kGre);
  expect_inner_tcp_22(o, Tunnel::kGre);
}

TEST(DecoderTunnels, GreTransparentEthernetBridging) {
  expect_inner_tcp_22(open(outer_ip(47, cat({{0x00, 0x00}, be16(0x6558), inner_ethernet()}))),
                      Tunnel::kGre);
}

TEST(DecoderTunnels, ErspanTypesOneTwoAndThree) {
  // Type I: GRE 0x88BE without a sequence number, the mirrored frame right after.
  expect_inner_tcp_22(open(outer_ip(47, cat({{0x00, 0x00}, be16(0x88BE), inner_ethernet()}))),
                      Tunnel::kErspan1);
  // Type II: sequence number, then an 8-byte header whose version is 1.
  const Frame erspan2 = {0x10, 0x64, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
  expect_inner_tcp_22(
      open(
          outer_ip(47, cat({{0x10, 0x00}, be16(0x88BE), {0, 0, 0, 5}, erspan2, inner_ethernet()}))),
      Tunnel::kErspan2);
  // Type III with the platform-specific subheader (O bit).
  Frame erspan3 = {0x20, 0x64, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x01};
  erspan3.resize(20, 0);
  expect_inner_tcp_22(
      open(
          outer_ip(47, cat({{0x10, 0x00}, be16(0x22EB), {0, 0, 0, 5}, erspan3, inner_ethernet()}))),
      Tunnel::kErspan3);
}

TEST(DecoderTunnels, EnhancedGreOfPptpCarryingPpp) {
  const Frame ip = inner_ip();
  // Version 1, K + S + A: payload length and call id, sequence, acknowledgment.
  const Frame gre = cat({{0x30, 0x81},
                         be16(0x880B),
                         be16(static_cast<std::uint16_t>(ip.size() + 4)),
                         {0x00, 0x2A},
                         {0, 0, 0, 3},
                         {0, 0, 0, 2}});
  expect_inner_tcp_22(open(outer_ip(47, cat({gre, {0xFF, 0x03, 0x00, 0x21}, ip}))),
                      Tunnel::kGrePptp);
}

TEST(DecoderTunnels, VxlanGeneveAndGtpU) {
  const Frame vxlan = {0x08, 0, 0, 0, 0x00, 0x01, 0x2C, 0};
  const Opened v = open(outer_udp(4789, cat({vxlan, inner_ethernet()})));
  EXPECT_EQ(v.outer.encap, Encap::kVxlan);
  expect_inner_tcp_22(v, Tunnel::kVxlan);

  // Geneve with 8 bytes of options (length field 2).
  const Frame geneve = cat({{0x02, 0x00}, be16(0x6558), {0, 0, 1, 0}, Frame(8, 0x11)});
  expect_inner_tcp_22(open(outer_udp(6081, cat({geneve, inner_ethernet()}))), Tunnel::kGeneve);

  // GTP-U G-PDU with the E flag and one 4-byte extension header.
  const Frame ip = inner_ip();
  const Frame gtp = cat({{0x34, 0xFF},
                         be16(static_cast<std::uint16_t>(ip.size() + 8)),
                         {0, 0, 0, 1},
                         {0, 0, 0, 0x85},
                         {0x01, 0x10, 0x01, 0x00}});
  expect_inner_tcp_22(open(outer_udp(2152, cat({gtp, ip}))), Tunnel::kGtpU);
}

TEST(DecoderTunnels, TeredoAyiyaAndMplsOverUdp) {
  const Frame ip6 = inner_ip6();
  // Teredo with an origin indication before the IPv6 packet.
  const Opened t = open(outer_udp(3544, cat({{0x00, 0x00, 0x12, 0x34, 1, 2, 3, 4}, ip6})));
  ASSERT_TRUE(t.result.decapsulated);
  EXPECT_EQ(t.result.tunnel, Tunnel::kTeredo);
  EXPECT_EQ(t.inner.l3, L3::kIpv6);
  EXPECT_EQ(t.inner.dst_port, 53);
  // AYIYA: identity 2^4 = 16 bytes, 20-byte signature (5 words), opcode 1, next header 4.
  Frame ayiya = {0x41, 0x52, 0x11, 0x04, 0, 0, 0, 0};
  ayiya.resize(8 + 16 + 20, 0);
  expect_inner_tcp_22(open(outer_udp(5072, cat({ayiya, inner_ip()}))), Tunnel::kAyiya);
  expect_inner_tcp_22(open(outer_udp(6635, cat({{0x00, 0x06, 0x41, 0x40}, inner_ip()}))),
                      Tunnel::kMplsUdp);
}

TEST(DecoderTunnels, IpInIpSixInFourAndFourInSix) {
  expect_inner_tcp_22(open(outer_ip(4, inner_ip())), Tunnel::kIpInIp);
  const Opened six = open(outer_ip(41, inner_ip6()));
  ASSERT_TRUE(six.result.decapsulated);
  EXPECT_EQ(six.result.tunnel, Tunnel::k6in4);
  EXPECT_EQ(six.inner.l3, L3::kIpv6);
  const Frame four_in_six =
      PacketBuilder().ethernet().ipv6({.next_header = 4}).payload(inner_ip()).build();
  expect_inner_tcp_22(open(four_in_six), Tunnel::k4in6);
}

TEST(DecoderTunnels, PortsWithoutTheirTunnelHeaderAreNotDecapsulated) {
  // VXLAN port without the I flag, Teredo port carrying something that is not IPv6, GTP-U
  // signalling, GRE with an unknown protocol, GRE version 2.
  EXPECT_FALSE(open(outer_udp(4789, cat({Frame(8, 0), inner_ethernet()}))).result.decapsulated);
  EXPECT_FALSE(open(outer_udp(3544, Frame(60, 0x45))).result.decapsulated);
  EXPECT_FALSE(open(outer_udp(2152, cat({{0x32, 0x01, 0, 4}, Frame(8, 0)}))).result.decapsulated);
  EXPECT_FALSE(
      open(outer_ip(47, cat({{0x00, 0x00}, be16(0x1234), inner_ip()}))).result.decapsulated);
  EXPECT_FALSE(
      open(outer_ip(47, cat({{0x00, 0x02}, be16(0x0800), inner_ip()}))).result.decapsulated);
  // An inner packet cut short is decapsulated and counted malformed in the inner counters.
  Frame cut = inner_ip();
  cut.resize(30);
  const Opened o = open(outer_ip(4, cut));
  ASSERT_TRUE(o.result.decapsulated);
  EXPECT_NE(o.result.error, DecodeError::kNone);
  EXPECT_EQ(o.inner_stats.malformed, 1u);
}

TEST(DecoderTunnels, NestedTunnelsIncreaseTheDepth) {
  const Frame vxlan = {0x08, 0, 0, 0, 0x00, 0x01, 0x2C, 0};
  const Frame gre_in_vxlan = PacketBuilder()
                                 .ethernet()
                                 .ipv4({.src = {10, 9, 0, 1}, .dst = {10, 9, 0, 2}, .protocol = 47})
                                 .payload(cat({{0x00, 0x00}, be16(0x0800), inner_ip()}))
                                 .build();
  const Opened first = open(outer_udp(4789, cat({vxlan, gre_in_vxlan})));
  ASSERT_TRUE(first.result.decapsulated);
  EXPECT_EQ(first.inner.encap, Encap::kGre);
  Packet second;
  DecodeStats stats;
  const InnerResult r = decode_inner(first.inner, second, stats);
  ASSERT_TRUE(r.decapsulated);
  EXPECT_EQ(second.tunnel_depth, 2);
  EXPECT_EQ(second.dst_port, 22);
}

}  // namespace
}  // namespace netsentry::net
