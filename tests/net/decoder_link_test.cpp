// Link types and Ethernet encapsulations beyond plain Ethernet: PPP (plain, in HDLC framing,
// PPPoE without Ethernet), Cisco HDLC, Frame Relay, 802.11 (bare, radiotap, Prism), NFLOG, 802.2
// LLC/SNAP, 802.1ah PBB, VN-Tag, FabricPath, stacked VLANs, switch tags; and what stays without IP
// is counted by reason.
#include <gtest/gtest.h>

#include "net/decoder.h"
#include "net/packet_builder.h"

namespace netsentry::net {
namespace {

using testing::Frame;
using testing::PacketBuilder;

Frame ip_tcp() {
  return PacketBuilder()
      .ipv4({.src = {10, 1, 1, 1}, .dst = {10, 2, 2, 2}})
      .tcp({.src_port = 5555, .dst_port = 80})
      .payload(12)
      .build();
}

Frame cat(std::initializer_list<Frame> parts) {
  Frame out;
  for (const Frame& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Frame macs() { return Frame(12, 0x02); }
Frame be16(std::uint16_t v) {
  return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}
Frame le16(std::uint16_t v) {
  return {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8)};
}

struct Decoded {
  DecodeError error;
  Packet packet;
  DecodeStats stats;
};

Decoded run(LinkType link, const Frame& frame) {
  Decoded d{};
  d.error = decode(link, frame, static_cast<std::uint32_t>(frame.size()), 1, d.packet, d.stats);
  return d;
}

void expect_tcp_80(const Decoded& d) {
  ASSERT_EQ(d.error, DecodeError::kNone) << decode_error_name(d.error);
  EXPECT_EQ(d.packet.l3, L3::kIpv4);
  EXPECT_EQ(d.packet.src_port, 5555);
  EXPECT_EQ(d.packet.dst_port, 80);
  EXPECT_EQ(d.packet.payload_len, 12u);
  EXPECT_EQ(d.stats.not_in_flows(), 0u);
}

void expect_not_ip(const Decoded& d, NotIp reason) {
  ASSERT_EQ(d.error, DecodeError::kNone) << decode_error_name(d.error);
  EXPECT_EQ(d.packet.not_ip, reason) << not_ip_name(d.packet.not_ip);
  EXPECT_EQ(d.stats.not_ip[static_cast<std::size_t>(reason)], 1u);
  EXPECT_EQ(d.stats.not_in_flows(), 1u);
}

TEST(DecoderLinks, PppWithAndWithoutAddressAndControl) {
  expect_tcp_80(run(LinkType::kPpp, cat({{0xFF, 0x03, 0x00, 0x21}, ip_tcp()})));
  expect_tcp_80(run(LinkType::kPpp, cat({{0x00, 0x21}, ip_tcp()})));
  expect_tcp_80(run(LinkType::kPpp, cat({{0x21}, ip_tcp()})));  // compressed protocol field
  expect_tcp_80(run(LinkType::kPppHdlc, cat({{0xFF, 0x03, 0x00, 0x21}, ip_tcp()})));
  expect_not_ip(run(LinkType::kPpp, {0xFF, 0x03, 0xC0, 0x21, 1, 1, 0, 4}), NotIp::kPppControl);
  expect_not_ip(run(LinkType::kPpp, {0x00, 0x2D, 1, 2, 3}), NotIp::kVjCompressed);
}

TEST(DecoderLinks, CiscoHdlcAndPppoeWithoutEthernet) {
  expect_tcp_80(run(LinkType::kCiscoHdlc, cat({{0x0F, 0x00}, be16(0x0800), ip_tcp()})));
  expect_tcp_80(run(LinkType::kPppHdlc, cat({{0x8F, 0x00}, be16(0x0800), ip_tcp()})));
  expect_not_ip(run(LinkType::kCiscoHdlc, cat({{0x8F, 0x00}, be16(0x8035), Frame(20, 0)})),
                NotIp::kLinkControl);
  const Frame ip = ip_tcp();
  expect_tcp_80(run(LinkType::kPppEther, cat({{0x11, 0x00, 0x12, 0x34},
                                              be16(static_cast<std::uint16_t>(ip.size() + 2)),
                                              be16(0x0021),
                                              ip})));
}

TEST(DecoderLinks, FrameRelayNlpidAndSnap) {
  // Q.922 address (DLCI 100), UI control, NLPID IPv4.
  expect_tcp_80(run(LinkType::kFrameRelay, cat({{0x18, 0x41, 0x03, 0xCC}, ip_tcp()})));
  // SNAP: pad, NLPID 0x80, OUI 0, EtherType IPv4.
  expect_tcp_80(run(LinkType::kFrameRelay,
                    cat({{0x18, 0x41, 0x03, 0x00, 0x80, 0, 0, 0}, be16(0x0800), ip_tcp()})));
  // Cisco encapsulation: an EtherType right after the address.
  expect_tcp_80(run(LinkType::kFrameRelay, cat({{0x18, 0x41}, be16(0x0800), ip_tcp()})));
  expect_not_ip(run(LinkType::kFrameRelay, {0x00, 0x01, 0x03, 0x08, 0x00, 0x75}),
                NotIp::kLinkControl);
}

Frame wifi_data(std::uint8_t subtype_bits, std::uint8_t flags, const Frame& body) {
  // Frame control: type 2 (data) = 0x08, plus subtype bits; then duration, three addresses,
  // sequence control.
  Frame header = {static_cast<std::uint8_t>(0x08 | subtype_bits), flags, 0, 0};
  header.resize(24, 0x02);
  return cat({header, body});
}

Frame rfc1042(std::uint16_t ether_type) {
  return cat({{0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00}, be16(ether_type)});
}

TEST(DecoderLinks, Ieee80211DataFramesThroughLlcSnap) {
  expect_tcp_80(run(LinkType::kIeee80211, wifi_data(0x00, 0x01, cat({rfc1042(0x0800), ip_tcp()}))));
  // QoS data (subtype 8): two more header bytes.
  expect_tcp_80(run(LinkType::kIeee80211,
                    wifi_data(0x80, 0x02, cat({{0x00, 0x00}, rfc1042(0x0800), ip_tcp()}))));
  // Four addresses (to and from DS).
  Frame four = wifi_data(0x00, 0x03, cat({Frame(6, 0x02), rfc1042(0x0800), ip_tcp()}));
  expect_tcp_80(run(LinkType::kIeee80211, four));
}

TEST(DecoderLinks, Ieee80211FramesWithoutIpAreCountedByKind) {
  expect_not_ip(run(LinkType::kIeee80211, Frame{0x80, 0x00, 0, 0}), NotIp::kWifiManagement);
  expect_not_ip(run(LinkType::kIeee80211, Frame{0xD4, 0x00, 0, 0}), NotIp::kWifiControl);
  expect_not_ip(run(LinkType::kIeee80211, wifi_data(0x40, 0x01, {})), NotIp::kWifiNoData);
  expect_not_ip(run(LinkType::kIeee80211, wifi_data(0x00, 0x41, Frame(40, 0x55))),
                NotIp::kWifiProtected);
}

TEST(DecoderLinks, RadiotapAndPrismHeadersAreSkipped) {
  const Frame wifi = wifi_data(0x00, 0x01, cat({rfc1042(0x0800), ip_tcp()}));
  const Frame radiotap =
      cat({{0x00, 0x00}, le16(12), {0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00}});
  expect_tcp_80(run(LinkType::kRadiotap, cat({radiotap, wifi})));
  Frame prism = {0x44, 0, 0, 0, 144, 0, 0, 0};
  prism.resize(144, 0);
  expect_tcp_80(run(LinkType::kPrism, cat({prism, wifi})));
  // A radiotap length past the frame is a damaged header.
  const Decoded bad = run(LinkType::kRadiotap, cat({{0x00, 0x00}, le16(400), Frame(8, 0)}));
  EXPECT_EQ(bad.error, DecodeError::kBadLinkHeader);
  EXPECT_EQ(bad.stats.malformed_before_ip, 1u);
}

TEST(DecoderLinks, NflogPayloadTlv) {
  const Frame ip = ip_tcp();
  // family AF_INET, version 0, resource id; a prefix TLV (type 10, "x\0\0\0" padded), then the
  // payload TLV (type 9). Lengths little-endian (written by an x86 host).
  const Frame prefix = cat({le16(6), le16(10), {'x', 0, 0, 0}});
  const Frame payload = cat({le16(static_cast<std::uint16_t>(4 + ip.size())), le16(9), ip});
  expect_tcp_80(run(LinkType::kNflog, cat({{2, 0, 0, 1}, prefix, payload})));
  expect_not_ip(run(LinkType::kNflog, cat({{2, 0, 0, 1}, prefix})), NotIp::kNflogNoPayload);
}

TEST(DecoderLinks, LlcSnapAndOtherLlcOnEthernet) {
  const Frame ip = ip_tcp();
  const Frame snap = cat({rfc1042(0x0800), ip});
  expect_tcp_80(
      run(LinkType::kEthernet, cat({macs(), be16(static_cast<std::uint16_t>(snap.size())), snap})));
  expect_not_ip(run(LinkType::kEthernet, cat({macs(), be16(38), {0x42, 0x42, 0x03}, Frame(35, 0)})),
                NotIp::kStp);
  expect_not_ip(run(LinkType::kEthernet, cat({macs(),
                                              be16(30),
                                              {0xAA, 0xAA, 0x03, 0x00, 0x00, 0x0C},
                                              be16(0x2000),
                                              Frame(22, 0)})),
                NotIp::kSnapOther);
}

TEST(DecoderLinks, ProviderBackboneBridgingVnTagAndFabricPath) {
  // 802.1ah: I-TAG (4), customer addresses (12), then the customer EtherType.
  expect_tcp_80(run(LinkType::kEthernet,
                    cat({macs(), be16(0x88E7), {0, 0, 0, 100}, macs(), be16(0x0800), ip_tcp()})));
  // VN-Tag: 4-byte tag, then the EtherType.
  expect_tcp_80(run(LinkType::kEthernet,
                    cat({macs(), be16(0x8926), {0x80, 0x01, 0x00, 0x02}, be16(0x0800), ip_tcp()})));
  // FabricPath: FTag/TTL, then the original frame's addresses and EtherType.
  expect_tcp_80(run(LinkType::kEthernet,
                    cat({macs(), be16(0x8903), {0x00, 0x3F}, macs(), be16(0x0800), ip_tcp()})));
  // A customer VLAN inside PBB still counts as a tag.
  const Decoded d = run(LinkType::kEthernet, cat({macs(),
                                                  be16(0x88E7),
                                                  {0, 0, 0, 100},
                                                  macs(),
                                                  be16(0x8100),
                                                  {0x00, 0x07},
                                                  be16(0x0800),
                                                  ip_tcp()}));
  expect_tcp_80(d);
  EXPECT_EQ(d.packet.vlan, 7);
}

TEST(DecoderLinks, StackedVlanTagsUpToTheBound) {
  Frame frame = macs();
  for (int i = 0; i < kMaxVlanTags; ++i) {
    const Frame tag =
        cat({be16(i == 0 ? 0x88A8 : 0x8100), be16(static_cast<std::uint16_t>(i + 1))});
    frame = cat({frame, tag});
  }
  const Decoded ok = run(LinkType::kEthernet, cat({frame, be16(0x0800), ip_tcp()}));
  expect_tcp_80(ok);
  EXPECT_EQ(ok.packet.vlan, 1);
  EXPECT_EQ(ok.packet.vlan_depth, kMaxVlanTags);
  const Decoded over =
      run(LinkType::kEthernet, cat({frame, be16(0x8100), be16(99), be16(0x0800), ip_tcp()}));
  EXPECT_EQ(over.error, DecodeError::kTooManyVlanTags);
  EXPECT_EQ(over.stats.malformed_before_ip, 1u);
}

TEST(DecoderLinks, SwitchTags) {
  expect_tcp_80(run(LinkType::kDsa, cat({macs(), {0xC0, 0, 0, 0}, be16(0x0800), ip_tcp()})));
  expect_tcp_80(run(LinkType::kEdsa,
                    cat({macs(), be16(0xDADA), {0, 0}, {0xC0, 0, 0, 0}, be16(0x0800), ip_tcp()})));
  expect_tcp_80(
      run(LinkType::kDsaBrcmPrepend, cat({{0x20, 0, 0, 0}, macs(), be16(0x0800), ip_tcp()})));
}

TEST(DecoderLinks, UnsupportedLinkTypesAndEtherTypesAreCountedAndNamed) {
  const Decoded wpan = run(static_cast<LinkType>(195), Frame(20, 0x41));
  expect_not_ip(wpan, NotIp::kUnsupportedLinkType);
  ASSERT_EQ(wpan.stats.unsupported_links.size, 1u);
  EXPECT_EQ(wpan.stats.unsupported_links.value[0], 195u);
  EXPECT_EQ(link_type_name(static_cast<LinkType>(195)), "ieee802_15_4_withfcs");
  EXPECT_FALSE(is_supported(static_cast<LinkType>(195)));
  EXPECT_TRUE(is_supported(LinkType::kRadiotap));

  const Decoded other = run(LinkType::kEthernet, cat({macs(), be16(0x88B5), Frame(46, 0)}));
  expect_not_ip(other, NotIp::kOtherEtherType);
  EXPECT_EQ(other.stats.other_ether_types.value[0], 0x88B5u);
  expect_not_ip(run(LinkType::kEthernet, cat({macs(), be16(0x88CC), Frame(46, 0)})), NotIp::kLldp);
  expect_not_ip(run(LinkType::kEthernet, cat({macs(), be16(0x88E5), Frame(46, 0)})),
                NotIp::kMacsec);
}

TEST(DecoderLinks, NestedLlcIsBounded) {
  // A frame that nests SNAP inside bridged 802.3 many times cannot make the decoder recurse
  // without bound.
  Frame inner = cat({be16(0x0800), ip_tcp()});
  for (int i = 0; i < 40; ++i) {
    const Frame bridged = cat({{0xAA, 0xAA, 0x03, 0x00, 0x80, 0xC2}, be16(0x0007), {0, 0}, macs()});
    inner = cat({bridged, be16(static_cast<std::uint16_t>(inner.size() + 100)), inner});
  }
  const Decoded d = run(LinkType::kAtmRfc1483, inner);
  EXPECT_EQ(d.error, DecodeError::kTooManyLayers);
}

}  // namespace
}  // namespace netsentry::net

namespace netsentry::net {
namespace {

TEST(DecoderBigPackets, Ipv6JumbogramTakesItsLengthFromTheJumboOption) {
  // IPv6 with payload length 0, a hop-by-hop header with a Jumbo Payload option (C2, 4 bytes),
  // then TCP: Linux BIG TCP over 64 KiB.
  Frame ip = PacketBuilder().ipv6({.payload_length = 0}).build();
  ip[6] = 0;  // next header: hop-by-hop
  const std::uint32_t jumbo = 8 + 20 + 70000;
  const Frame hbh = {6,
                     0,
                     0xC2,
                     4,
                     static_cast<std::uint8_t>(jumbo >> 24),
                     static_cast<std::uint8_t>(jumbo >> 16),
                     static_cast<std::uint8_t>(jumbo >> 8),
                     static_cast<std::uint8_t>(jumbo)};
  Frame tcp = PacketBuilder().tcp({.src_port = 1, .dst_port = 2, .flags = 0x10}).build();
  tcp.resize(20 + 200, 0);  // captured: 200 of the 70,000 payload bytes
  const Frame frame = cat({ip, hbh, tcp});
  Packet p;
  DecodeStats stats;
  ASSERT_EQ(decode(LinkType::kRaw, frame, 40 + jumbo, 1, p, stats), DecodeError::kNone);
  EXPECT_EQ(p.ip_total_len, 40u + jumbo);
  EXPECT_EQ(p.payload_len, 70000u);
  EXPECT_EQ(p.dst_port, 2);
}

TEST(DecoderBigPackets, Ipv4BigTcpWithTotalLengthZeroTakesTheWireLength) {
  Frame frame = PacketBuilder().ipv4({.total_length = 0}).udp({.length = 0}).payload(100).build();
  Packet p;
  DecodeStats stats;
  // On the wire: 20 + 8 + 90,000 bytes (captured: the first 128).
  ASSERT_EQ(decode(LinkType::kRaw, frame, 20 + 8 + 90000, 1, p, stats), DecodeError::kNone);
  EXPECT_EQ(p.ip_total_len, 90028u);
  EXPECT_EQ(p.payload_len, 90000u);  // UDP length 0 in a datagram over 64 KiB: the IP payload
  EXPECT_EQ(stats.tso_length, 1u);
}

}  // namespace
}  // namespace netsentry::net
