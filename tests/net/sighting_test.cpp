// net::sight() and net::dns_question() on frames built byte by byte: ARP on Ethernet (with VLAN
// tags) and Linux cooked captures, neighbour solicitations and advertisements with and without
// link-layer address options, DNS questions (well-formed, compressed, overlong, responses) and
// servers' failed-login replies; damaged messages give no sighting.
#include "net/sighting.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/decoder.h"
#include "packet_builder.h"

namespace netsentry::net {
namespace {

using namespace testing;  // NOLINT

constexpr MacAddress kAttacker{0x02, 0x4e, 0x0a, 0x4d, 0x00, 0x4b};

struct Sighted {
  bool found = false;
  Sighting sighting;
};

Sighted sight_frame(const Frame& frame, LinkType link = LinkType::kEthernet) {
  Packet p;
  DecodeStats stats;
  (void)decode(link, frame, static_cast<std::uint32_t>(frame.size()), 1'000, p, stats);
  Sighted out;
  out.found = sight(link, frame, p, out.sighting);
  return out;
}

std::vector<std::uint8_t> dns_query(std::initializer_list<std::string> labels,
                                    std::uint8_t flags = 0x01, std::uint16_t type = 1) {
  std::vector<std::uint8_t> m = {0x12, 0x34, flags, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  for (const auto& l : labels) {
    m.push_back(static_cast<std::uint8_t>(l.size()));
    m.insert(m.end(), l.begin(), l.end());
  }
  m.push_back(0);
  m.push_back(static_cast<std::uint8_t>(type >> 8));
  m.push_back(static_cast<std::uint8_t>(type));
  m.push_back(0);
  m.push_back(1);
  return m;
}

TEST(Sighting, ArpReplyOnEthernetGivesTheSendersBinding) {
  const Frame f = PacketBuilder()
                      .ethernet({.src = kAttacker})
                      .arp({.operation = 2,
                            .sender_mac = kAttacker,
                            .sender_ip = ip4(10, 77, 0, 10),
                            .target_ip = ip4(10, 77, 0, 1)})
                      .build();
  const auto s = sight_frame(f);
  ASSERT_TRUE(s.found);
  EXPECT_EQ(s.sighting.kind, SightingKind::kArpReply);
  EXPECT_EQ(s.sighting.ip.to_string(), "10.77.0.10");
  EXPECT_EQ(s.sighting.peer.to_string(), "10.77.0.1");
  EXPECT_EQ(format_mac(s.sighting.mac), "02:4e:0a:4d:00:4b");
  EXPECT_TRUE(s.sighting.has_frame_src);
  EXPECT_EQ(s.sighting.frame_src, kAttacker);
}

TEST(Sighting, ArpBehindVlanTagsAndInLinuxCookedCaptures) {
  const Frame tagged = PacketBuilder()
                           .ethernet()
                           .vlan({.id = 7, .tpid = 0x88A8})
                           .vlan({.id = 9})
                           .arp({.operation = 1, .sender_ip = ip4(192, 0, 2, 7)})
                           .build();
  const auto a = sight_frame(tagged);
  ASSERT_TRUE(a.found);
  EXPECT_EQ(a.sighting.kind, SightingKind::kArpRequest);
  EXPECT_EQ(a.sighting.ip.to_string(), "192.0.2.7");

  const Frame cooked = PacketBuilder()
                           .sll({.address = kAttacker})
                           .arp({.operation = 2, .sender_mac = kAttacker})
                           .build();
  const auto b = sight_frame(cooked, LinkType::kLinuxSll);
  ASSERT_TRUE(b.found);
  EXPECT_EQ(b.sighting.frame_src, kAttacker);
}

TEST(Sighting, TruncatedOrForeignArpGivesNothing) {
  Frame f = PacketBuilder().ethernet().arp({.operation = 2}).build();
  f.resize(f.size() - 3);
  EXPECT_FALSE(sight_frame(f).found);
  Frame op = PacketBuilder().ethernet().arp({.operation = 9}).build();
  EXPECT_FALSE(sight_frame(op).found);
}

TEST(Sighting, NeighbourAdvertisementWithTargetLinkLayerOption) {
  const Ipv6Bytes target = ip6({0xfd77, 0, 0, 0, 0, 0, 0, 1});
  std::vector<std::uint8_t> body(target.begin(), target.end());
  body.insert(body.end(), {2, 1});
  body.insert(body.end(), kAttacker.begin(), kAttacker.end());
  const Frame f = PacketBuilder()
                      .ethernet({.src = kAttacker})
                      .ipv6({.src = ip6({0xfd77, 0, 0, 0, 0, 0, 0, 0x76}),
                             .dst = ip6({0xff02, 0, 0, 0, 0, 0, 0, 1}),
                             .hop_limit = 255})
                      .icmp({.type = 136, .code = 0, .rest = 0x20000000})
                      .payload(body)
                      .build();
  const auto s = sight_frame(f);
  ASSERT_TRUE(s.found);
  EXPECT_EQ(s.sighting.kind, SightingKind::kNeighbourAdvert);
  EXPECT_EQ(s.sighting.ip.to_string(), "fd77::1");
  EXPECT_EQ(s.sighting.sender.to_string(), "fd77::76");
  EXPECT_EQ(s.sighting.mac, kAttacker);
  EXPECT_TRUE(s.sighting.override_flag);
  EXPECT_FALSE(s.sighting.solicited);
}

TEST(Sighting, NeighbourSolicitationFromTheUnspecifiedAddressClaimsNothing) {
  std::vector<std::uint8_t> body(16, 0);
  body.insert(body.end(), {1, 1});
  body.insert(body.end(), kAttacker.begin(), kAttacker.end());
  const auto solicit = [&](Ipv6Bytes src) {
    return PacketBuilder()
        .ethernet()
        .ipv6({.src = src, .hop_limit = 255})
        .icmp({.type = 135, .code = 0, .rest = 0})
        .payload(body)
        .build();
  };
  const auto dad = sight_frame(solicit(Ipv6Bytes{}));
  EXPECT_FALSE(dad.found);
  const auto s = sight_frame(solicit(ip6({0xfe80, 0, 0, 0, 0, 0, 0, 5})));
  ASSERT_TRUE(s.found);
  EXPECT_EQ(s.sighting.kind, SightingKind::kNeighbourSolicit);
  EXPECT_EQ(s.sighting.ip.to_string(), "fe80::5");
  EXPECT_EQ(s.sighting.mac, kAttacker);
  // An option whose length is zero is malformed (RFC 4861 4.6): nothing is read from it.
  std::vector<std::uint8_t> bad(16, 0);
  bad.insert(bad.end(), {1, 0, 0, 0, 0, 0, 0, 0});
  const Frame broken = PacketBuilder()
                           .ethernet()
                           .ipv6({.src = ip6({0xfe80, 0, 0, 0, 0, 0, 0, 5})})
                           .icmp({.type = 135, .code = 0, .rest = 0})
                           .payload(bad)
                           .build();
  EXPECT_FALSE(sight_frame(broken).found);
}

TEST(Sighting, DnsQuestionNameLowerCasedWithType) {
  const Frame f = PacketBuilder()
                      .ethernet()
                      .ipv4({.src = ip4(10, 77, 0, 72), .dst = ip4(10, 77, 0, 3)})
                      .udp({.src_port = 33030, .dst_port = 53})
                      .payload(dns_query({"X42U35II", "t", "Cdn-Sync", "net"}, 0x01, 16))
                      .build();
  const auto s = sight_frame(f);
  ASSERT_TRUE(s.found);
  EXPECT_EQ(s.sighting.kind, SightingKind::kDnsQuery);
  EXPECT_EQ(s.sighting.name, "x42u35ii.t.cdn-sync.net");
  EXPECT_EQ(s.sighting.dns_type, 16);
  EXPECT_EQ(s.sighting.ip.to_string(), "10.77.0.72");
  EXPECT_EQ(s.sighting.peer.to_string(), "10.77.0.3");
  EXPECT_EQ(s.sighting.src_port, 33030);
}

TEST(DnsQuestion, RefusesResponsesPointersTruncationAndOverlongNames) {
  std::string name;
  std::uint16_t type = 0;
  EXPECT_TRUE(dns_question(dns_query({"a", "example", "com"}), name, type));
  EXPECT_EQ(name, "a.example.com");
  EXPECT_FALSE(dns_question(dns_query({"a", "example", "com"}, 0x81), name, type));  // a response
  auto pointer = dns_query({"a"});
  pointer[12] = 0xC0;  // a compression pointer in place of the first label
  EXPECT_FALSE(dns_question(pointer, name, type));
  auto cut = dns_query({"abcdef", "com"});
  cut.resize(16);
  EXPECT_FALSE(dns_question(cut, name, type));
  const std::string label(63, 'a');
  EXPECT_TRUE(dns_question(dns_query({label, label, label, "b"}), name, type));  // 253 bytes
  EXPECT_FALSE(dns_question(dns_query({label, label, label, label}), name, type));
  std::vector<std::uint8_t> header_only(12, 0);
  EXPECT_FALSE(dns_question(header_only, name, type));
}

TEST(Sighting, ServersFailedLoginRepliesNameTheClient) {
  const auto reply = [](std::uint16_t port, std::string text) {
    return PacketBuilder()
        .ethernet()
        .ipv4({.src = ip4(10, 77, 0, 1), .dst = ip4(10, 77, 0, 69)})
        .tcp({.src_port = port, .dst_port = 48348, .flags = kAck | kPsh})
        .payload(std::vector<std::uint8_t>(text.begin(), text.end()))
        .build();
  };
  const auto ftp = sight_frame(reply(21, "530 Login incorrect.\r\n"));
  ASSERT_TRUE(ftp.found);
  EXPECT_EQ(ftp.sighting.kind, SightingKind::kLoginFailure);
  EXPECT_EQ(ftp.sighting.ip.to_string(), "10.77.0.69");
  EXPECT_EQ(ftp.sighting.peer.to_string(), "10.77.0.1");
  EXPECT_EQ(ftp.sighting.dst_port, 21);
  EXPECT_TRUE(
      sight_frame(reply(143, "a001 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")).found);
  EXPECT_TRUE(sight_frame(reply(110, "-ERR [AUTH] Authentication failed.\r\n")).found);
  EXPECT_TRUE(sight_frame(reply(587, "535 5.7.8 Error: authentication failed\r\n")).found);
  EXPECT_FALSE(sight_frame(reply(21, "230 Login successful.\r\n")).found);
  EXPECT_FALSE(sight_frame(reply(143, "* NO something\r\n")).found);
  EXPECT_FALSE(sight_frame(reply(8021, "530 Login incorrect.\r\n")).found);
}

}  // namespace
}  // namespace netsentry::net
