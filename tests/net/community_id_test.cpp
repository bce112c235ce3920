#include "net/community_id.h"

#include <gtest/gtest.h>

namespace netsentry::net {
namespace {

IpAddress ip(const char* text) {
  IpAddress a;
  EXPECT_TRUE(IpAddress::parse(text, a)) << text;
  return a;
}

TEST(CommunityId, MatchesTheSpecificationTestVector) {
  // From the Community ID specification: TCP 128.232.110.120:34855 -> 66.35.250.204:80, seed 0.
  const CommunityId id = community_id(ip("128.232.110.120"), ip("66.35.250.204"), 6, 34855, 80);
  EXPECT_EQ(id.to_string(), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
}

TEST(CommunityId, IsTheSameInBothDirections) {
  const CommunityId a = community_id(ip("128.232.110.120"), ip("66.35.250.204"), 6, 34855, 80);
  const CommunityId b = community_id(ip("66.35.250.204"), ip("128.232.110.120"), 6, 80, 34855);
  EXPECT_EQ(a, b);
  const CommunityId u1 = community_id(ip("2001:db8::1"), ip("2001:db8::2"), 17, 5353, 53);
  const CommunityId u2 = community_id(ip("2001:db8::2"), ip("2001:db8::1"), 17, 53, 5353);
  EXPECT_EQ(u1, u2);
  EXPECT_EQ(u1.to_string().size(), CommunityId::kTextLength);
}

TEST(CommunityId, SeedAndProtocolChangeTheHash) {
  const IpAddress a = ip("10.0.0.1");
  const IpAddress b = ip("10.0.0.2");
  EXPECT_NE(community_id(a, b, 6, 1000, 80), community_id(a, b, 6, 1000, 80, /*seed=*/1));
  EXPECT_NE(community_id(a, b, 6, 1000, 80), community_id(a, b, 17, 1000, 80));
}

TEST(CommunityId, IcmpRequestAndReplyShareTheirId) {
  const IpAddress a = ip("192.168.0.1");
  const IpAddress b = ip("192.168.0.2");
  // echo request (8) from a, echo reply (0) from b: the counterpart types make them one flow.
  EXPECT_EQ(community_id(a, b, 1, 8, 0), community_id(b, a, 1, 0, 0));
  EXPECT_EQ(community_id(ip("fe80::1"), ip("fe80::2"), 58, 135, 0),
            community_id(ip("fe80::2"), ip("fe80::1"), 58, 136, 0));
}

TEST(CommunityId, OneWayIcmpKeepsItsDirection) {
  const IpAddress a = ip("192.168.0.1");
  const IpAddress b = ip("192.168.0.2");
  // Destination unreachable (3/3) is one-way: the reverse tuple is another flow.
  EXPECT_NE(community_id(a, b, 1, 3, 3), community_id(b, a, 1, 3, 3));
}

TEST(CommunityId, ProtocolsWithoutPortsHashAddressesOnly) {
  const IpAddress a = ip("10.1.1.1");
  const IpAddress b = ip("10.2.2.2");
  EXPECT_EQ(community_id(a, b, 47, 1, 2), community_id(a, b, 47, 0, 0));
  EXPECT_EQ(community_id(a, b, 47, 0, 0), community_id(b, a, 47, 0, 0));
}

TEST(CommunityId, IsEmptyWithoutAddresses) {
  const CommunityId none = community_id(IpAddress{}, IpAddress{}, 6, 1, 2);
  EXPECT_FALSE(none.valid);
  EXPECT_EQ(none.to_string(), "");
}

}  // namespace
}  // namespace netsentry::net
