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

TEST(OrdinaryTraffic, TcpWithoutPayloadIsLeftToTheHostDetectors) {
  OrdinaryTraffic ordinary;
  const auto a = ip("10.0.0.5");
  const auto b = ip("10.0.0.7");
  // A closed port's SYN / RST-ACK, a half-open attempt, a lone RST: nothing for a model to judge.
  EXPECT_NE(ordinary.reason(syn_probe(a, b, 8080, kT0)), "");
  EXPECT_NE(ordinary.reason(half_open(a, 40001, b, 443, kT0)), "");
  EXPECT_NE(ordinary.reason(flow_of(a, 55739, b, 8080, 6, kT0, 0, {{+1, kRst}})), "");
  // A session that carried data is judged, however short.
  EXPECT_EQ(ordinary.reason(session(a, 40002, b, 22, kT0)), "");
  EXPECT_EQ(ordinary.reason(session(a, 40003, b, 22, kT0, 1)), "");
  // Longer than the limit: judged even without payload (an ACK storm, a keep-alive flood).
  const flow::FlowRecord acks = flow_of(a, 40004, b, 80, 6, kT0, kSec,
                                        {{+1, kAck},
                                         {+1, kAck},
                                         {+1, kAck},
                                         {+1, kAck},
                                         {+1, kAck},
                                         {+1, kAck},
                                         {+1, kAck},
                                         {+1, kAck},
                                         {+1, kAck},
                                         {+1, kAck},
                                         {+1, kAck}});
  ASSERT_EQ(acks.packet_count, 11u);
  EXPECT_EQ(ordinary.reason(acks), "");
  // Not TCP: a payload-less UDP flow is not this rule's.
  EXPECT_EQ(ordinary.reason(flow_of(a, 5000, b, 5001, 17, kT0, 0, {{+1, 0, 0}, {-1, 0, 0}})), "");
  // Off when the limit is 0.
  OrdinaryTrafficOptions options;
  options.bare_tcp_max_packets = 0;
  EXPECT_EQ(OrdinaryTraffic(options).reason(syn_probe(a, b, 8080, kT0)), "");
}

// The tail of an HTTPS connection open before the monitor started, as seen live: the client's
// FIN, the server's last data and FIN, two resets (history "FdfR").
flow::FlowRecord joined(const net::IpAddress& a, const net::IpAddress& b, std::int64_t t,
                        std::string_view history) {
  auto r = flow_of(a, 58516, b, 443, 6, t, kMs,
                   {{+1, static_cast<std::uint8_t>(kFin | kAck)},
                    {-1, static_cast<std::uint8_t>(kPsh | kAck), 1161},
                    {-1, static_cast<std::uint8_t>(kFin | kAck)},
                    {+1, kRst},
                    {+1, kRst}});
  r.history = {};
  for (const char c : history) r.history.push(c);
  return r;
}

TEST(OrdinaryTraffic, AConnectionOpenBeforeTheCaptureBeganIsNotJudged) {
  OrdinaryTraffic ordinary;
  const auto a = ip("192.0.2.2");
  const auto b = ip("203.0.113.80");
  ordinary.on_flow_started(a, kT0);  // the first flow the monitor saw
  EXPECT_NE(ordinary.reason(joined(a, b, kT0 + 3 * kSec, "FdfR")).find("mid-connection"),
            std::string_view::npos);
  EXPECT_NE(ordinary.reason(joined(a, b, kT0 + 119 * kSec, "DdA")), "");
  // With its handshake it is judged, however it ends...
  EXPECT_EQ(ordinary.reason(joined(a, b, kT0 + 3 * kSec, "ShADdfFR")), "");
  EXPECT_EQ(ordinary.reason(joined(a, b, kT0 + 3 * kSec, "hADdfR")), "");
  // ... and so is a flow picked up mid-connection two minutes into the capture.
  EXPECT_EQ(ordinary.reason(joined(a, b, kT0 + 121 * kSec, "FdfR")), "");
  // Off with a zero window; and nothing is "before the capture" until a flow was seen.
  OrdinaryTrafficOptions options;
  options.joined_window_ns = 0;
  OrdinaryTraffic off(options);
  off.on_flow_started(a, kT0);
  EXPECT_EQ(off.reason(joined(a, b, kT0 + 3 * kSec, "FdfR")), "");
  EXPECT_EQ(OrdinaryTraffic().reason(joined(a, b, kT0 + 3 * kSec, "FdfR")), "");
}

TEST(OrdinaryTraffic, LoopbackFlowsAreNotJudgedUnlessAskedTo) {
  OrdinaryTraffic ordinary;
  // A local Redis benchmark's sessions (tcpdump's resp_1_benchmark.pcap).
  EXPECT_NE(ordinary.reason(session(ip("127.0.0.1"), 35901, ip("127.0.0.1"), 6379, kT0)), "");
  EXPECT_NE(ordinary.reason(session(ip("127.0.1.1"), 35901, ip("127.0.0.53"), 53, kT0)), "");
  EXPECT_NE(ordinary.reason(session(ip("::1"), 35901, ip("::1"), 8050, kT0)), "");
  // One end off the host: network traffic, judged.
  EXPECT_EQ(ordinary.reason(session(ip("127.0.0.1"), 35901, ip("10.0.0.7"), 6379, kT0)), "");
  EXPECT_EQ(ordinary.reason(session(ip("10.0.0.7"), 35901, ip("127.0.0.1"), 6379, kT0)), "");
  OrdinaryTrafficOptions options;
  options.loopback = true;
  EXPECT_EQ(
      OrdinaryTraffic(options).reason(session(ip("127.0.0.1"), 35901, ip("127.0.0.1"), 6379, kT0)),
      "");
}

TEST(OrdinaryTraffic, AFlowFromAnAddressNoHostCanHaveIsNotJudged) {
  const OrdinaryTraffic ordinary;
  // Echo requests from spoofed sources (hping3 --rand-source), answered: multicast, the limited
  // broadcast, 0/8, IPv6 multicast.
  for (const char* src : {"224.18.64.209", "239.255.255.250", "255.255.255.255", "0.1.2.3"}) {
    EXPECT_NE(ordinary.reason(icmp(1, 8, src, "10.9.0.165", kT0)), "") << src;
  }
  EXPECT_NE(ordinary.reason(icmp(58, 128, "ff05::1", "2001:db8::5", kT0)), "");
  EXPECT_NE(ordinary.reason(session(ip("224.1.2.3"), 4000, ip("10.0.0.7"), 80, kT0)), "");
  // Hosts' addresses next to those ranges are judged, and so is traffic *to* a multicast group.
  for (const char* src : {"223.255.255.255", "240.0.0.1", "1.0.0.1", "255.255.255.254"}) {
    EXPECT_EQ(ordinary.reason(icmp(1, 8, src, "10.9.0.165", kT0)), "") << src;
  }
  EXPECT_EQ(ordinary.reason(icmp(58, 128, "2001:db8::5", "ff05::1", kT0)), "");
  EXPECT_EQ(ordinary.reason(udp_flow(ip("10.0.0.7"), 4000, ip("239.1.2.3"), 5004, kT0, 0, 1)), "");
}

TEST(OrdinaryTraffic, KnowsLoopbackAddresses) {
  EXPECT_TRUE(net::is_loopback_address(ip("127.0.0.1")));
  EXPECT_TRUE(net::is_loopback_address(ip("127.255.0.9")));
  EXPECT_FALSE(net::is_loopback_address(ip("128.0.0.1")));
  EXPECT_FALSE(net::is_loopback_address(ip("10.127.0.1")));
  EXPECT_TRUE(net::is_loopback_address(ip("::1")));
  EXPECT_TRUE(net::is_loopback_address(ip("::ffff:127.0.0.1")));
  EXPECT_FALSE(net::is_loopback_address(ip("::ffff:10.0.0.1")));
  EXPECT_FALSE(net::is_loopback_address(ip("::2")));
  EXPECT_FALSE(net::is_loopback_address(ip("::")));
  EXPECT_FALSE(net::is_loopback_address(ip("fe80::1")));
  EXPECT_FALSE(net::is_loopback_address(net::IpAddress{}));
}

}  // namespace
}  // namespace netsentry::detect
