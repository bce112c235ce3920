#include "net/packet.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>

namespace netsentry::net {
namespace {

TEST(LinkType, MapsSupportedDltNumbersIncludingRawAliases) {
  const struct {
    int dlt;
    LinkType type;
  } cases[] = {{0, LinkType::kNull},       {1, LinkType::kEthernet}, {12, LinkType::kRaw},
               {14, LinkType::kRaw},       {101, LinkType::kRaw},    {108, LinkType::kLoop},
               {113, LinkType::kLinuxSll}, {228, LinkType::kIpv4},   {229, LinkType::kIpv6},
               {276, LinkType::kLinuxSll2}};
  for (const auto& c : cases) {
    LinkType out = LinkType::kEthernet;
    if (c.type == LinkType::kEthernet) out = LinkType::kNull;
    EXPECT_TRUE(link_type_from_dlt(c.dlt, out)) << c.dlt;
    EXPECT_EQ(out, c.type) << c.dlt;
  }
}

TEST(LinkType, UnsupportedDltsKeepTheirNumberAndAreNamed) {
  for (int dlt : {-1, 2, 147, 195, 275, 1000}) {
    LinkType out = LinkType::kLoop;
    EXPECT_FALSE(link_type_from_dlt(dlt, out)) << dlt;
    EXPECT_EQ(static_cast<int>(out), dlt);
    EXPECT_FALSE(link_type_name(out).empty());
  }
  EXPECT_EQ(link_type_name(static_cast<LinkType>(147)), "user0");
  EXPECT_EQ(link_type_name(static_cast<LinkType>(1000)), "dlt_1000");
  for (int dlt : {9, 50, 105, 119, 127, 239}) {
    LinkType out{};
    EXPECT_TRUE(link_type_from_dlt(dlt, out)) << dlt;
  }
}

TEST(LinkType, HasADistinctNameForEveryType) {
  std::set<std::string> names;
  const LinkType types[] = {
      LinkType::kNull,     LinkType::kEthernet,   LinkType::kRaw,       LinkType::kLoop,
      LinkType::kLinuxSll, LinkType::kIpv4,       LinkType::kIpv6,      LinkType::kLinuxSll2,
      LinkType::kPpp,      LinkType::kPppHdlc,    LinkType::kIeee80211, LinkType::kRadiotap,
      LinkType::kNflog,    LinkType::kFrameRelay, LinkType::kCiscoHdlc, LinkType::kPrism};
  for (LinkType t : types) {
    const std::string name = link_type_name(t);
    EXPECT_EQ(name.find("dlt_"), std::string::npos) << name;
    EXPECT_TRUE(is_supported(t)) << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), std::size(types));
  EXPECT_EQ(link_type_name(LinkType::kLinuxSll2), "linux_sll2");
}

TEST(DecodeErrorName, IsDistinctForEveryReason) {
  std::set<std::string_view> names;
  for (int k = 0; k < static_cast<int>(DecodeError::kCount); ++k) {
    const std::string_view name = decode_error_name(static_cast<DecodeError>(k));
    EXPECT_NE(name, "unknown") << k;
    EXPECT_FALSE(name.empty()) << k;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(DecodeError::kCount));
  EXPECT_EQ(decode_error_name(DecodeError::kBadTcpHeaderLength), "bad_tcp_header_length");
  EXPECT_EQ(decode_error_name(DecodeError::kCount), "unknown");
}

std::string round_trip(std::string_view text) {
  IpAddress a;
  if (!IpAddress::parse(text, a)) return "<invalid>";
  return a.to_string();
}

TEST(IpAddress, FormatsAndParsesDottedIpv4) {
  IpAddress a;
  ASSERT_TRUE(IpAddress::parse("192.168.0.255", a));
  EXPECT_EQ(a.family, 4);
  EXPECT_EQ(a.bytes[0], 192);
  EXPECT_EQ(a.bytes[3], 255);
  EXPECT_EQ(a.bytes[4], 0);
  EXPECT_EQ(a.to_string(), "192.168.0.255");
  EXPECT_EQ(round_trip("0.0.0.0"), "0.0.0.0");
  EXPECT_EQ(round_trip("255.255.255.255"), "255.255.255.255");
}

TEST(IpAddress, RejectsMalformedIpv4) {
  for (std::string_view bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.1000", "01.2.3.4",
                               "1..3.4", "a.b.c.d", "1.2.3.4 ", " 1.2.3.4", "1.2.3.", "-1.2.3.4"}) {
    IpAddress a;
    a.family = 9;
    EXPECT_FALSE(IpAddress::parse(bad, a)) << bad;
    EXPECT_EQ(a.family, 9) << "output must be untouched on failure: " << bad;
  }
}

TEST(IpAddress, FormatsIpv6InRfc5952CanonicalForm) {
  EXPECT_EQ(round_trip("2001:0db8:0000:0000:0000:0000:0000:0001"), "2001:db8::1");
  EXPECT_EQ(round_trip("::"), "::");
  EXPECT_EQ(round_trip("::1"), "::1");
  EXPECT_EQ(round_trip("fe80::"), "fe80::");
  EXPECT_EQ(round_trip("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");     // first of equal runs
  EXPECT_EQ(round_trip("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");           // longest run
  EXPECT_EQ(round_trip("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");  // one zero: no ::
  EXPECT_EQ(round_trip("2001:DB8::ABCD"), "2001:db8::abcd");
  EXPECT_EQ(round_trip("1:2:3:4:5:6:7:8"), "1:2:3:4:5:6:7:8");
  EXPECT_EQ(round_trip("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
  EXPECT_EQ(round_trip("64:ff9b::192.0.2.33"), "64:ff9b::c000:221");
}

TEST(IpAddress, ParsesIpv6BytesInNetworkOrder) {
  IpAddress a;
  ASSERT_TRUE(IpAddress::parse("2001:db8::102:304", a));
  EXPECT_EQ(a.family, 6);
  const std::uint8_t expected[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  for (int k = 0; k < 16; ++k) EXPECT_EQ(a.bytes[k], expected[k]) << k;
  IpAddress mapped;
  ASSERT_TRUE(IpAddress::parse("::1.2.3.4", mapped));
  EXPECT_EQ(mapped.bytes[12], 1);
  EXPECT_EQ(mapped.bytes[15], 4);
}

TEST(IpAddress, RejectsMalformedIpv6) {
  for (std::string_view bad : {":", ":::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3",
                               "12345::", "g::", ":1::2", "1::2:", "1:2:3:4:5:6:7:8::", "::1.2.3",
                               "::1.2.3.4:5", "1:2:3:4:5:6:7:1.2.3.4", "fe80::1%eth0", "[::1]"}) {
    IpAddress a;
    EXPECT_FALSE(IpAddress::parse(bad, a)) << bad;
    EXPECT_EQ(a.family, 0) << bad;
  }
}

TEST(IpAddress, PrintsNothingWithoutFamily) { EXPECT_EQ(IpAddress{}.to_string(), ""); }

TEST(IpAddress, OrdersIpv4BeforeLargerAddresses) {
  IpAddress a;
  IpAddress b;
  ASSERT_TRUE(IpAddress::parse("10.0.0.1", a));
  ASSERT_TRUE(IpAddress::parse("10.0.0.2", b));
  EXPECT_LT(a, b);
  EXPECT_NE(a, b);
  IpAddress a2;
  ASSERT_TRUE(IpAddress::parse("10.0.0.1", a2));
  EXPECT_EQ(a, a2);
}

}  // namespace
}  // namespace netsentry::net
