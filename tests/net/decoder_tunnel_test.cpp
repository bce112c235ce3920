// PPPoE, MPLS and TSO-length frames: encapsulations and capture artefacts seen on real links.
#include <gtest/gtest.h>

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
