#include "detect/ordinary_traffic.h"

#include <gtest/gtest.h>

#include "detect/detect_test_support.h"

namespace netsentry::detect {
namespace {

using namespace testing;  // NOLINT
using flow::CicFeature;

flow::FlowRecord icmp(std::uint8_t proto, int type, const char* src, const char* dst,
                      std::int64_t t) {
  auto r =
      flow_of(ip(src), static_cast<std::uint16_t>(type), ip(dst), 0, proto, t, 0, {{+1, 0, 32}});
  r.cic[static_cast<std::size_t>(CicFeature::kIcmpType)] = type;
  return r;
}

TEST(OrdinaryTraffic, NamesNeighbourRouterAndMulticastListenerDiscovery) {
  const OrdinaryTraffic ordinary;
  for (const int type : {133, 134, 135, 136, 137}) {
    EXPECT_EQ(ordinary.reason(icmp(58, type, "fe80::1", "ff02::1", kT0)),
              "IPv6 neighbour/router discovery")
        << type;
  }
  for (const int type : {130, 131, 132, 143}) {
    EXPECT_EQ(ordinary.reason(icmp(58, type, "fe80::1", "ff02::16", kT0)),
              "IPv6 multicast listener discovery")
        << type;
  }
  auto igmp = flow_of(ip("10.0.0.7"), 0, ip("224.0.0.22"), 0, 2, kT0, 0, {{+1, 0, 8}});
  EXPECT_EQ(ordinary.reason(igmp), "IGMP");
  EXPECT_EQ(ordinary.reason(icmp(58, 128, "fe80::1", "fe80::2", kT0)), "");  // an echo request
}

TEST(OrdinaryTraffic, NamesDhcpAndLocalNameAndServiceDiscovery) {
  const OrdinaryTraffic ordinary;
  EXPECT_EQ(ordinary.reason(udp_flow(ip("0.0.0.0"), 68, ip("255.255.255.255"), 67, kT0, 0, 1)),
            "DHCP");
  EXPECT_EQ(ordinary.reason(udp_flow(ip("fe80::1"), 546, ip("ff02::1:2"), 547, kT0, 0, 1)),
            "DHCPv6");
  EXPECT_EQ(ordinary.reason(udp_flow(ip("10.0.0.7"), 5353, ip("224.0.0.251"), 5353, kT0, 0, 1)),
            "mDNS");
  EXPECT_EQ(ordinary.reason(udp_flow(ip("10.0.0.7"), 50000, ip("224.0.0.252"), 5355, kT0, 0, 1)),
            "LLMNR");
  EXPECT_EQ(
      ordinary.reason(udp_flow(ip("10.0.0.7"), 50000, ip("239.255.255.250"), 1900, kT0, 0, 1)),
      "SSDP");
  EXPECT_EQ(ordinary.reason(udp_flow(ip("10.0.0.7"), 137, ip("10.0.0.255"), 137, kT0, 0, 1)),
            "NetBIOS name/datagram service");
  EXPECT_EQ(ordinary.reason(udp_flow(ip("10.0.0.7"), 50000, ip("10.0.0.53"), 53, kT0, 0, 1)), "");
  EXPECT_EQ(ordinary.reason(session(ip("10.0.0.7"), 1, ip("10.0.0.5"), 22, kT0)), "");
}

TEST(OrdinaryTraffic, NamesTheNetworksOwnControlPlane) {
  const OrdinaryTraffic ordinary;
  const auto proto = [](std::uint8_t p) {
    return flow_of(ip("10.0.0.1"), 0, ip("224.0.0.5"), 0, p, kT0, kSec, {{+1, 0, 44}, {+1, 0, 44}});
  };
  EXPECT_EQ(ordinary.reason(proto(89)), "routing protocol");   // OSPF
  EXPECT_EQ(ordinary.reason(proto(103)), "routing protocol");  // PIM
  EXPECT_EQ(ordinary.reason(proto(112)), "router redundancy protocol (VRRP/CARP)");
  EXPECT_EQ(ordinary.reason(proto(47)), "");  // GRE carries hosts' traffic: judged
  EXPECT_EQ(ordinary.reason(udp_flow(ip("10.0.0.2"), 1985, ip("224.0.0.2"), 1985, kT0, 0, 3)),
            "router redundancy protocol (HSRP)");
  EXPECT_EQ(ordinary.reason(udp_flow(ip("10.0.0.2"), 520, ip("224.0.0.9"), 520, kT0, 0, 3)),
            "routing protocol");
  auto bgp = flow_of(ip("10.0.0.2"), 50000, ip("10.0.0.3"), 179, 6, kT0, kSec,
                     {{+1, kSyn, 0}, {-1, kSyn | kAck, 0}, {+1, kAck, 0}});
  EXPECT_EQ(ordinary.reason(bgp), "routing protocol");
  EXPECT_EQ(ordinary.reason(udp_flow(ip("10.0.0.2"), 40000, ip("10.0.0.3"), 6343, kT0, 0, 3)),
            "flow export (sFlow/NetFlow/IPFIX)");
  EXPECT_EQ(ordinary.reason(udp_flow(ip("10.0.0.2"), 40000, ip("10.0.0.3"), 8080, kT0, 0, 3)), "");
}

TEST(OrdinaryTraffic, AnIcmpErrorIsOrdinaryOnlyAboutAHostThatStartedAFlow) {
  OrdinaryTraffic ordinary;
  // A router's "time exceeded" to a host that traced a route, a closed port's "unreachable".
  const auto ttl = icmp(1, 11, "192.0.2.1", "10.0.0.7", kT0 + kSec);
  const auto unreachable = icmp(1, 3, "10.0.0.5", "10.0.0.7", kT0 + kSec);
  const auto too_big = icmp(58, 2, "2001:db8::1", "2001:db8::7", kT0 + kSec);
  EXPECT_EQ(ordinary.reason(ttl), "");  // nobody started anything: not ordinary
  ordinary.on_flow_started(ip("10.0.0.7"), kT0);
  ordinary.on_flow_started(ip("2001:db8::7"), kT0);
  EXPECT_EQ(ordinary.reason(ttl), "ICMP error about an existing flow");
  EXPECT_EQ(ordinary.reason(unreachable), "ICMP error about an existing flow");
  EXPECT_EQ(ordinary.reason(too_big), "ICMPv6 error about an existing flow");
  // Long after: an error out of the blue.
  EXPECT_EQ(ordinary.reason(icmp(1, 3, "10.0.0.5", "10.0.0.7", kT0 + 600 * kSec)), "");
}

TEST(OrdinaryTraffic, RemembersABoundedNumberOfHosts) {
  OrdinaryTrafficOptions options;
  options.max_hosts = 1;
  OrdinaryTraffic ordinary(options);
  for (std::uint8_t i = 0; i < 20; ++i) ordinary.on_flow_started(ipv4(10, 0, 1, i), kT0);
  EXPECT_EQ(ordinary.reason(icmp(1, 3, "10.0.0.5", "10.0.1.0", kT0)), "");   // its slot is taken
  EXPECT_NE(ordinary.reason(icmp(1, 3, "10.0.0.5", "10.0.1.19", kT0)), "");  // the newest
}

}  // namespace
}  // namespace netsentry::detect
