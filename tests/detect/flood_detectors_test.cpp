// The flood and scan detectors fed the way the detection stage feeds them in monitor: flow events
// as packets arrive, attempts as the AttemptTracker judges them. Flood evidence must come within
// a second or two of packet time, long before any flow times out.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "detect/alert.h"
#include "detect/attempt_tracker.h"
#include "detect/detect_test_support.h"
#include "detect/exfiltration_detector.h"
#include "detect/icmp_flood_detector.h"
#include "detect/network_flood_detector.h"
#include "detect/port_scan_detector.h"
#include "detect/syn_flood_detector.h"
#include "detect/tcp_flood_detector.h"
#include "detect/udp_flood_detector.h"

namespace netsentry::detect {
namespace {

using namespace testing;  // NOLINT
using flow::FlowMoment;

// A detector behind an AttemptTracker, driven by events.
template <class D>
class Driven {
 public:
  explicit Driven(const HostDetectorOptions& o = {}) : detector_(o) {}
  void event(const flow::FlowEvent& e) {
    attempts_.clear();
    tracker_.on_flow_event(e, attempts_);
    tracker_.advance(e.ts_ns, attempts_);
    for (const Attempt& a : attempts_) detector_.on_attempt(a, out);
    detector_.on_flow_event(e, out);
  }
  void advance(std::int64_t now) {
    attempts_.clear();
    tracker_.advance(now, attempts_);
    for (const Attempt& a : attempts_) detector_.on_attempt(a, out);
    detector_.advance(now, out);
  }
  D& detector() { return detector_; }
  std::vector<Evidence> out;

 private:
  D detector_;
  AttemptTracker tracker_;
  std::vector<Attempt> attempts_;
};

TEST(SynFloodDetector, ASpoofedFloodIsEvidenceAboutTheVictimWithinTwoSeconds) {
  Driven<SynFloodDetector> d;
  const auto victim = ip("10.0.0.5");
  // 2,000 SYNs a second from spoofed sources, never answered (the victim drops them).
  std::int64_t crossed = 0;
  for (int i = 0; i < 10'000 && d.out.empty(); ++i) {
    const std::int64_t t = kT0 + i * 500'000;
    const auto src =
        ipv4(172, 16, static_cast<std::uint8_t>(i / 256), static_cast<std::uint8_t>(i));
    d.event(event(FlowMoment::kStart, src, 1024, victim, 80, 6, t, t, kSyn));
    crossed = t;
  }
  ASSERT_FALSE(d.out.empty());
  const Evidence& e = d.out.front();
  EXPECT_EQ(e.kind, kind::kSynFlood);
  EXPECT_EQ(e.host, victim);
  EXPECT_EQ(e.role, Role::kVictim);
  EXPECT_EQ(e.port, 80);
  EXPECT_EQ(e.peer.family, 0);  // spoofed: no single source
  EXPECT_EQ(e.threat, Severity::kHigh);
  // The 100th unanswered SYN is judged a second after it was sent.
  EXPECT_LE(crossed - kT0, 1'100 * kMs);
  EXPECT_LE(e.time_ns - kT0, 1'100 * kMs);
}

TEST(SynFloodDetector, AFloodFromOneHostNamesItAsTheAttackerToo) {
  Driven<SynFloodDetector> d;
  for (int i = 0; i < 300; ++i) {
    const std::int64_t t = kT0 + i * kMs;
    const auto sport = static_cast<std::uint16_t>(1024 + i);
    d.event(event(FlowMoment::kStart, ip("10.77.0.67"), sport, ip("10.77.0.1"), 80, 6, t, t, kSyn));
    d.event(event(FlowMoment::kReply, ip("10.77.0.67"), sport, ip("10.77.0.1"), 80, 6, t, t + 100,
                  kSyn | kAck));
    // The flooder's kernel resets the SYN-ACK of a connection it never opened.
    d.event(event(FlowMoment::kConfirm, ip("10.77.0.67"), sport, ip("10.77.0.1"), 80, 6, t, t + 200,
                  kRst));
  }
  d.advance(kT0 + 2 * kSec);
  std::vector<Evidence> attacker;
  for (const Evidence& e : d.out) {
    if (e.role == Role::kAttacker) attacker.push_back(e);
  }
  ASSERT_FALSE(attacker.empty());
  EXPECT_EQ(attacker.front().host, ip("10.77.0.67"));
  EXPECT_EQ(attacker.front().peer, ip("10.77.0.1"));
}

TEST(SynFloodDetector, ABusyServerThatCompletesItsHandshakesIsNoFlood) {
  Driven<SynFloodDetector> d;
  for (int i = 0; i < 5'000; ++i) {
    const std::int64_t t = kT0 + i * kMs;
    const auto src =
        ipv4(172, 16, static_cast<std::uint8_t>(i / 256), static_cast<std::uint8_t>(i));
    d.event(event(FlowMoment::kStart, src, 1024, ip("10.0.0.5"), 443, 6, t, t, kSyn));
    d.event(event(FlowMoment::kReply, src, 1024, ip("10.0.0.5"), 443, 6, t, t + 50, kSyn | kAck));
    d.event(event(FlowMoment::kConfirm, src, 1024, ip("10.0.0.5"), 443, 6, t, t + 80, kAck));
  }
  d.advance(kT0 + 10 * kSec);
  EXPECT_TRUE(d.out.empty()) << d.out.front().description;
}

// Source number i of a spoofed flood: 172.16.0.0 onwards.
net::IpAddress spoofed_v4(int i) {
  return ipv4(172, static_cast<std::uint8_t>(16 + i / 65536), static_cast<std::uint8_t>(i / 256),
              static_cast<std::uint8_t>(i));
}

// `count` spoofed SYNs at `per_second` to port 80 of host_of(i), then the windows' end.
template <class Host>
void syns_at(Driven<SynFloodDetector>& d, int count, int per_second, Host host_of) {
  for (int i = 0; i < count; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * kSec / per_second;
    d.event(event(FlowMoment::kStart, spoofed_v4(i), 1024, host_of(i), 80, 6, t, t, kSyn));
  }
  d.advance(kT0 + 600 * kSec);
}

// SYNs a second from spoofed sources at `victim`, none answered; `port(i)` is the i-th one's
// destination port. Stops at the first evidence; returns the packet time of the last SYN sent.
template <class Port>
std::int64_t spoofed_syns(Driven<SynFloodDetector>& d, const net::IpAddress& victim, int count,
                          int per_second, Port port) {
  std::int64_t last = kT0;
  for (int i = 0; i < count && d.out.empty(); ++i) {
    last = kT0 + std::int64_t{i} * kSec / per_second;
    const auto src = spoofed_v4(i);
    d.event(event(FlowMoment::kStart, src, 1024, victim, port(i), 6, last, last, kSyn));
  }
  return last;
}

TEST(SynFloodDetector, ASpoofedFloodAtManyPortsIsEvidenceAboutTheVictimWithinTwoSeconds) {
  // hping3 -S --flood --rand-source -p ++1: no one ip:port gets enough SYNs to be a flood.
  Driven<SynFloodDetector> d;
  const auto victim = ip("10.0.0.5");
  const std::int64_t crossed = spoofed_syns(d, victim, 20'000, 2'000, [](int i) {
    return static_cast<std::uint16_t>(1 + (i * 7919) % 65535);
  });
  ASSERT_FALSE(d.out.empty());
  const Evidence& e = d.out.front();
  EXPECT_EQ(e.kind, kind::kSynFlood);
  EXPECT_EQ(e.host, victim);
  EXPECT_EQ(e.role, Role::kVictim);
  EXPECT_EQ(e.port, 0);
  EXPECT_EQ(e.peer.family, 0);
  EXPECT_EQ(e.threat, Severity::kHigh);
  EXPECT_NE(e.description.find("to many ports of 10.0.0.5 left half-open or refused"),
            std::string::npos)
      << e.description;
  EXPECT_NE(e.description.find("from many sources"), std::string::npos) << e.description;
  EXPECT_LE(crossed - kT0, 1'100 * kMs);
  EXPECT_EQ(d.out.size(), 1u);  // no culprit: the sources are spoofed
}

TEST(SynFloodDetector, AOnePortFloodIsOnlyThatPortsEvidence) {
  Driven<SynFloodDetector> d;
  spoofed_syns(d, ip("10.0.0.5"), 20'000, 2'000, [](int) { return std::uint16_t{80}; });
  // Past its first evidence: the flood goes on for 5 s, then its window closes.
  for (int i = 0; i < 10'000; ++i) {
    const std::int64_t t = kT0 + kSec + std::int64_t{i} * kSec / 2'000;
    d.event(event(FlowMoment::kStart,
                  ipv4(11, 0, static_cast<std::uint8_t>(i / 256), static_cast<std::uint8_t>(i)),
                  2048, ip("10.0.0.5"), 80, 6, t, t, kSyn));
  }
  d.advance(kT0 + 600 * kSec);
  ASSERT_FALSE(d.out.empty());
  for (const Evidence& e : d.out) EXPECT_EQ(e.port, 80) << e.description;
}

TEST(SynFloodDetector, OneHostSprayingPortsIsAScanNotAFlood) {
  Driven<SynFloodDetector> d;
  for (int i = 0; i < 5'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * kSec / 5'000;
    d.event(event(FlowMoment::kStart, ip("10.77.0.66"), 40000, ip("10.0.0.5"),
                  static_cast<std::uint16_t>(1 + i), 6, t, t, kSyn));
  }
  d.advance(kT0 + 600 * kSec);
  EXPECT_TRUE(d.out.empty()) << d.out.front().description;
}

// SYNs at port 80 of the 256 hosts of 10.9.0.0/24 in a scattered order, `per_second`, each from
// its own source (from_one: all from 10.77.0.66), `count` in all; then the windows close.
void syns_at_network(Driven<SynFloodDetector>& d, int count, int per_second, bool from_one) {
  for (int i = 0; i < count; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * kSec / per_second;
    const auto src = from_one ? ip("10.77.0.66") : spoofed_v4(i);
    const auto port = static_cast<std::uint16_t>(from_one ? 20'000 + i % 40'000 : 1024);
    const auto host = ipv4(10, 9, 0, static_cast<std::uint8_t>((i * 37) % 256));
    d.event(event(FlowMoment::kStart, src, port, host, 80, 6, t, t, kSyn));
  }
  d.advance(kT0 + 600 * kSec);
}

TEST(SynFloodDetector, AFloodSpreadOverANetworkIsOneAlertAboutTheNetworkNotOneAHost) {
  // hping3 -S --flood --rand-source --rand-dest 10.9.0.x: 100,000 SYNs/s for 2 s, ~390/s per
  // host, so each host's own subject reaches its count of 100 within half a second.
  Driven<SynFloodDetector> d;
  syns_at_network(d, 200'000, 100'000, false);
  ASSERT_FALSE(d.out.empty());
  std::size_t about_network = 0;
  for (const Evidence& e : d.out) {
    if (e.interface == "10.9.0.0/24") {
      ++about_network;
      EXPECT_EQ(e.host.family, 0);
      EXPECT_EQ(e.role, Role::kVictim);
      EXPECT_NE(e.description.find("to many hosts of 10.9.0.0/24"), std::string::npos)
          << e.description;
      EXPECT_NE(e.description.find("from many sources"), std::string::npos) << e.description;
    } else {
      // Neither a host of the network nor the network-wide spray ("many destinations"): every
      // SYN went to this network, whose subject is engaged.
      ADD_FAILURE() << e.description;
    }
  }
  EXPECT_GE(about_network, 1u);
}

TEST(SynFloodDetector, AFloodOverNeighbouringNetworksIsOneAlertAboutTheirBlock) {
  // hping3 -S --flood --rand-source --rand-dest 10.9.x.x over the 16 /24s of 10.9.0.0/20:
  // 100,000 SYNs/s for 2 s, ~6,250/s per /24. The spray over them reaches the rate first, all
  // in one block (10.9.0.0/16): it is the block's flood, and every network that reaches the
  // rate later is part of it. One alert, not 17.
  Driven<SynFloodDetector> d;
  syns_at(d, 200'000, 100'000, [](int i) {
    return ipv4(10, 9, static_cast<std::uint8_t>((i * 7) % 16),
                static_cast<std::uint8_t>((i * 37) % 256));
  });
  ASSERT_FALSE(d.out.empty());
  std::size_t networks = 0;
  for (const Evidence& e : d.out) {
    EXPECT_EQ(e.host.family, 0) << e.description;
    EXPECT_EQ(e.interface, "10.9.0.0/16") << e.description;
    networks += e.description.find("; one of ") != std::string::npos;
  }
  EXPECT_NE(d.out.front().description.find("to many hosts of neighbouring networks of 10.9.0.0/16"),
            std::string::npos)
      << d.out.front().description;
  EXPECT_GE(networks, 1u) << "the networks' own evidence is the block's too";
  // The spray's last word (at the window's end) names the networks flooded.
  const Evidence* spray = nullptr;
  for (const Evidence& e : d.out) {
    if (e.description.find("neighbouring networks of") != std::string::npos) spray = &e;
  }
  ASSERT_NE(spray, nullptr);
  EXPECT_NE(spray->description.find(
                "; flooded so far: 16 networks of 10.9.0.0/16 (10.9.0.0/24 to 10.9.15.0/24)"),
            std::string::npos)
      << spray->description;
}

TEST(SynFloodDetector, ANetworkThatPassesTheRuleBeforeItsBlockIsPartOfTheBlocksFlood) {
  // 100,000 spoofed SYNs/s for 2 s over the 16 /24s of 10.9.0.0/20: the hosts of its lower
  // eight refuse them (closed ports), those of its upper eight do not answer. The block's share
  // of half-open SYNs stays near 50 %, below the rule's 80 %; each upper /24 passes it alone.
  // One alert about the block, none about a /24.
  Driven<SynFloodDetector> d;
  for (int i = 0; i < 200'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * kSec / 100'000;
    const auto network = static_cast<std::uint8_t>((i * 7) % 16);
    const auto host = ipv4(10, 9, network, static_cast<std::uint8_t>((i * 37) % 256));
    d.event(event(FlowMoment::kStart, spoofed_v4(i), 1024, host, 80, 6, t, t, kSyn));
    if (network < 8) {
      d.event(event(FlowMoment::kReply, spoofed_v4(i), 1024, host, 80, 6, t, t + 100, kRst | kAck));
    }
  }
  d.advance(kT0 + 600 * kSec);
  ASSERT_FALSE(d.out.empty());
  for (const Evidence& e : d.out) EXPECT_EQ(e.interface, "10.9.0.0/16") << e.description;
}

TEST(SynFloodDetector, NetworksFloodedInTwoBlocksAreTwoBlocksAlerts) {
  // The same spray over 10.9.0.0/23 and 10.10.0.0/23: each /16 is a block of its own, whose
  // subject speaks before any of its /24s, and the spray over both (half its SYNs in each) is
  // its own evidence.
  Driven<SynFloodDetector> d;
  syns_at(d, 200'000, 100'000, [](int i) {
    return ipv4(10, static_cast<std::uint8_t>(9 + i % 2), static_cast<std::uint8_t>((i / 2) % 2),
                static_cast<std::uint8_t>((i * 37) % 256));
  });
  std::set<std::string> profiles;
  for (const Evidence& e : d.out) profiles.insert(e.interface);
  EXPECT_EQ(profiles.count("10.9.0.0/16") + profiles.count("10.10.0.0/16"), 2u)
      << ::testing::PrintToString(profiles);
  EXPECT_EQ(profiles.count("network"), 1u) << ::testing::PrintToString(profiles);
  EXPECT_EQ(profiles.size(), 3u) << ::testing::PrintToString(profiles);  // no /24's own
}

TEST(SynFloodDetector, AHostThatPassesTheRuleBeforeItsNetworkIsPartOfTheNetworksFlood) {
  // 100,000 spoofed SYNs/s for 2 s at 10.9.0.0/24: its upper half refuses them (closed ports),
  // its lower half does not answer. The network's share of half-open SYNs stays near 50 %, below
  // the rule's 80 %; each lower host passes it alone, from many sources. One alert about the
  // network, none about a host.
  Driven<SynFloodDetector> d;
  for (int i = 0; i < 200'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * kSec / 100'000;
    const auto src = spoofed_v4(i);
    const auto octet = static_cast<std::uint8_t>((i * 37) % 256);
    const auto host = ipv4(10, 9, 0, octet);
    d.event(event(FlowMoment::kStart, src, 1024, host, 80, 6, t, t, kSyn));
    if (octet >= 128) {
      d.event(event(FlowMoment::kReply, src, 1024, host, 80, 6, t, t + 100, kRst | kAck));
    }
  }
  d.advance(kT0 + 600 * kSec);
  std::size_t about_network = 0;
  for (const Evidence& e : d.out) {
    EXPECT_EQ(e.host.family, 0) << e.description;
    if (e.interface == "10.9.0.0/24") ++about_network;
  }
  EXPECT_GE(about_network, 1u);
}

TEST(SynFloodDetector, ASweepOfANetworkFromOneHostIsNoNetworkFlood) {
  // nmap -sS -T5 of port 80 on a /24 from one host, repeatedly: its own subjects (a host scan is
  // the host scan detector's); never the network's.
  Driven<SynFloodDetector> d;
  syns_at_network(d, 20'000, 10'000, true);
  for (const Evidence& e : d.out) EXPECT_NE(e.interface, "10.9.0.0/24") << e.description;
}

TEST(SynFloodDetector, AOneHostFloodInsideANetworkIsThatHostsOwn) {
  Driven<SynFloodDetector> d;
  spoofed_syns(d, ip("10.9.0.5"), 20'000, 10'000, [](int) { return std::uint16_t{80}; });
  d.advance(kT0 + 600 * kSec);
  ASSERT_FALSE(d.out.empty());
  EXPECT_EQ(d.out.front().host, ip("10.9.0.5"));
  for (const Evidence& e : d.out) EXPECT_NE(e.interface, "10.9.0.0/24") << e.description;
}

TEST(SynFloodDetector, ManyClientsOfManyServicesOnOneHostAreNoFlood) {
  // 3,000 clients a second at 500 ports of one host, handshakes completed.
  Driven<SynFloodDetector> d;
  for (int i = 0; i < 9'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * kSec / 3'000;
    const auto src =
        ipv4(172, 16, static_cast<std::uint8_t>(i / 256), static_cast<std::uint8_t>(i));
    const auto port = static_cast<std::uint16_t>(8000 + i % 500);
    d.event(event(FlowMoment::kStart, src, 1024, ip("10.0.0.5"), port, 6, t, t, kSyn));
    d.event(event(FlowMoment::kReply, src, 1024, ip("10.0.0.5"), port, 6, t, t + 50, kSyn | kAck));
    d.event(event(FlowMoment::kConfirm, src, 1024, ip("10.0.0.5"), port, 6, t, t + 80, kAck));
  }
  d.advance(kT0 + 600 * kSec);
  EXPECT_TRUE(d.out.empty()) << d.out.front().description;
}

flow::FloodSummary flood_summary(const net::IpAddress& victim, std::int64_t first,
                                 std::int64_t last, std::uint64_t attempts,
                                 const net::IpAddress& source, bool many) {
  flow::FloodSummary s;
  s.dst = victim;
  s.dst_port = 80;
  s.first_ns = first;
  s.last_ns = last;
  s.attempts = attempts;
  s.total_attempts = attempts;
  s.attempt_bytes = attempts * 54;
  s.source = source;
  s.source_lead = many ? 0 : attempts;  // a lead of every attempt: one source
  return s;
}

TEST(SynFloodDetector, CountsAFloodedDestinationsSummariesAsHalfOpenAttempts) {
  Driven<SynFloodDetector> d;
  const auto victim = ip("10.0.0.5");
  // The flow table summarised the SYNs (no flow, no event for each): 40,000 in one second.
  d.detector().on_flood_summary(
      flood_summary(victim, kT0, kT0 + kSec, 40'000, ip("11.0.0.1"), true), d.out);
  ASSERT_EQ(d.out.size(), 1u);
  EXPECT_EQ(d.out[0].kind, kind::kSynFlood);
  EXPECT_EQ(d.out[0].host, victim);
  EXPECT_EQ(d.out[0].role, Role::kVictim);
  EXPECT_EQ(d.out[0].count, 40'000u);
  EXPECT_EQ(d.out[0].peer.family, 0);  // many sources
  EXPECT_EQ(d.out[0].threat, Severity::kCritical);
  // The next summaries add to it; the window's close reports the total.
  d.detector().on_flood_summary(
      flood_summary(victim, kT0 + kSec, kT0 + 2 * kSec, 60'000, ip("11.0.0.9"), true), d.out);
  flow::FloodSummary ended = flood_summary(victim, 0, 0, 0, {}, false);
  ended.ended = true;  // the last summary may count nothing
  d.detector().on_flood_summary(ended, d.out);
  d.advance(kT0 + 600 * kSec);
  ASSERT_GE(d.out.size(), 2u);
  EXPECT_EQ(d.out.back().count, 100'000u);
  EXPECT_NE(d.out.back().description.find("100,000 half-open"), std::string::npos)
      << d.out.back().description;
}

TEST(SynFloodDetector, CountsASummaryOfEveryPortOfAHostAtTheVictimOnly) {
  Driven<SynFloodDetector> d;
  flow::FloodSummary s = flood_summary(ip("10.0.0.9"), kT0, kT0 + kSec, 20'000, {}, true);
  s.all_ports = true;
  s.dst_port = 0;
  d.detector().on_flood_summary(s, d.out);
  ASSERT_EQ(d.out.size(), 1u);
  EXPECT_EQ(d.out[0].host, ip("10.0.0.9"));
  EXPECT_EQ(d.out[0].role, Role::kVictim);
  EXPECT_EQ(d.out[0].port, 0);
  EXPECT_EQ(d.out[0].count, 20'000u);
  EXPECT_EQ(d.out[0].threat, Severity::kCritical);
  EXPECT_NE(d.out[0].description.find("many ports of 10.0.0.9"), std::string::npos)
      << d.out[0].description;
  EXPECT_EQ(d.detector().stats().tracked, 1u);  // no subject for a port 0
}

TEST(SynFloodDetector, ASummaryFromOneSourceNamesIt) {
  Driven<SynFloodDetector> d;
  d.detector().on_flood_summary(
      flood_summary(ip("10.0.0.5"), kT0, kT0 + kSec, 5'000, ip("10.77.0.67"), false), d.out);
  ASSERT_FALSE(d.out.empty());
  EXPECT_EQ(d.out[0].peer, ip("10.77.0.67"));
}

flow::FloodSummary stray_summary(const net::IpAddress& victim, std::int64_t first,
                                 std::int64_t last, std::uint64_t packets,
                                 const net::IpAddress& source, bool many) {
  flow::FloodSummary s = flood_summary(victim, first, last, packets, source, many);
  s.dst_port = 0;
  s.all_ports = true;
  s.strays = true;
  s.resets = packets / 2;
  return s;
}

TEST(TcpFloodDetector, AnAckFloodsSummariesAreEvidenceAboutTheVictim) {
  TcpFloodDetector d({});
  std::vector<Evidence> out;
  const auto victim = ip("10.0.0.9");
  // The flow table found the flood half a second in: its first summary, then a second's.
  d.on_flood_summary(stray_summary(victim, kT0, kT0 + 500 * kMs, 1'500, {}, true), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, kind::kTcpFlood);
  EXPECT_EQ(out[0].host, victim);
  EXPECT_EQ(out[0].role, Role::kVictim);
  EXPECT_EQ(out[0].peer.family, 0);
  EXPECT_EQ(out[0].threat, Severity::kHigh);
  EXPECT_NE(out[0].description.find("1,500 packets/s to 10.0.0.9 outside any connection"),
            std::string::npos)
      << out[0].description;
  d.on_flood_summary(stray_summary(victim, kT0 + 500 * kMs, kT0 + 1500 * kMs, 20'000, {}, true),
                     out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].threat, Severity::kCritical);  // 21,500 over 1.5 s: over 10,000/s
  EXPECT_EQ(out[1].count, 21'500u);
}

TEST(TcpFloodDetector, NamesOneSourceAndLeavesSynSummariesToTheSynFloodDetector) {
  TcpFloodDetector d({});
  SynFloodDetector syn({});
  std::vector<Evidence> out;
  const auto from_one =
      stray_summary(ip("10.0.0.9"), kT0, kT0 + kSec, 5'000, ip("10.77.0.67"), false);
  syn.on_flood_summary(from_one, out);
  EXPECT_TRUE(out.empty());  // strays are no connection attempts
  d.on_flood_summary(from_one, out);
  ASSERT_EQ(out.size(), 2u);  // the victim's evidence and its culprit's
  EXPECT_EQ(out[0].peer, ip("10.77.0.67"));
  EXPECT_EQ(out[1].host, ip("10.77.0.67"));
  EXPECT_EQ(out[1].role, Role::kAttacker);
  out.clear();
  d.on_flood_summary(flood_summary(ip("10.0.0.5"), kT0, kT0 + kSec, 40'000, {}, true), out);
  EXPECT_TRUE(out.empty());  // a SYN flood's summary
}

flow::FloodSummary network_summary(std::uint8_t proto, std::int64_t first, std::int64_t last,
                                   std::uint64_t attempts, const net::IpAddress& source,
                                   bool many) {
  flow::FloodSummary s = flood_summary(ip("10.9.0.0"), first, last, attempts, source, many);
  s.ip_proto = proto;
  s.dst_port = 0;
  s.all_ports = true;
  s.prefix = 24;
  return s;
}

// The flow table's summary of strays spread over `network` (a /24).
flow::FloodSummary network_strays(const char* network, std::int64_t first, std::int64_t last,
                                  std::uint64_t packets) {
  flow::FloodSummary s = network_summary(6, first, last, packets, {}, true);
  s.dst = ip(network);
  s.strays = true;
  return s;
}

TEST(TcpFloodDetector, AnAckFloodSpreadOverANetworkIsEvidenceAboutTheNetworkAndCoversItsHosts) {
  TcpFloodDetector d({});
  SynFloodDetector syn({});
  NetworkFloodDetector networks({});
  std::vector<Evidence> out;
  const auto summary = network_strays("10.9.0.0", kT0, kT0 + 500 * kMs, 20'000);
  syn.on_flood_summary(summary, out);
  networks.on_flood_summary(summary, out);
  EXPECT_TRUE(out.empty()) << "strays are neither connection attempts nor datagrams";
  d.on_flood_summary(summary, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, kind::kTcpFlood);
  EXPECT_EQ(out[0].interface, "10.9.0.0/24");
  EXPECT_EQ(out[0].host.family, 0);
  EXPECT_EQ(out[0].role, Role::kVictim);
  EXPECT_EQ(out[0].threat, Severity::kCritical);  // 20,000 over 1 s (the rate's floor)
  EXPECT_NE(out[0].description.find("20,000 packets/s to every host of 10.9.0.0/24 (a flood spread "
                                    "over the network) outside any connection"),
            std::string::npos)
      << out[0].description;
  // A host of it that got more than its share, from many sources: part of the network's flood.
  d.on_flood_summary(stray_summary(ip("10.9.0.7"), kT0 + kSec, kT0 + 2 * kSec, 5'000, {}, true),
                     out);
  EXPECT_EQ(out.size(), 1u) << out.back().description;
  // Outside it, or from one source, a host's own.
  d.on_flood_summary(stray_summary(ip("10.9.1.7"), kT0 + kSec, kT0 + 2 * kSec, 5'000, {}, true),
                     out);
  d.on_flood_summary(
      stray_summary(ip("10.9.0.8"), kT0 + kSec, kT0 + 2 * kSec, 5'000, ip("10.77.0.67"), false),
      out);
  ASSERT_EQ(out.size(), 4u);  // 10.9.1.7's, 10.9.0.8's and its culprit's
  EXPECT_EQ(out[1].host, ip("10.9.1.7"));
  EXPECT_EQ(out[2].host, ip("10.9.0.8"));
}

TEST(TcpFloodDetector, AnAckFloodOverNeighbouringNetworksIsTheFirstOnesAndTheBlocks) {
  TcpFloodDetector d({});
  std::vector<Evidence> out;
  for (int n = 0; n < 16; ++n) {
    const std::string network = fmt::format("10.9.{}.0", (n * 5) % 16);
    d.on_flood_summary(network_strays(network.c_str(), kT0 + n * kMs, kT0 + kSec, 5'000), out);
  }
  std::map<std::string, int> profiles;
  for (const Evidence& e : out) ++profiles[e.interface];
  ASSERT_EQ(profiles.size(), 2u) << ::testing::PrintToString(profiles);
  EXPECT_EQ(profiles["10.9.0.0/24"], 1);
  EXPECT_GE(profiles["10.9.0.0/16"], 16);  // 15 networks' evidence and the block's
  std::string last_network;
  for (const Evidence& e : out) {
    if (e.description.find("; one of ") != std::string::npos) last_network = e.description;
  }
  EXPECT_NE(last_network.find("one of 16 networks of 10.9.0.0/16 (10.9.0.0/24 to 10.9.15.0/24) "
                              "flooded together"),
            std::string::npos)
      << last_network;
}

TEST(NetworkFloodDetector, AFloodSpreadOverANetworkIsEvidenceAboutTheNetworkOfItsKind) {
  NetworkFloodDetector d({});
  for (const std::uint8_t proto : {std::uint8_t{17}, std::uint8_t{1}}) {
    SCOPED_TRACE(int(proto));
    std::vector<Evidence> out;
    // The flow table found it half a second in: a first summary, then a second's.
    d.on_flood_summary(network_summary(proto, kT0, kT0 + 500 * kMs, 1'200, {}, true), out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].kind, proto == 17 ? kind::kUdpFlood : kind::kIcmpFlood);
    EXPECT_EQ(out[0].detector, "network_flood");
    EXPECT_EQ(out[0].host.family, 0) << "no one host is the victim";
    EXPECT_EQ(out[0].interface, "10.9.0.0/24") << "the network's profile";
    EXPECT_EQ(out[0].role, Role::kVictim);
    EXPECT_EQ(out[0].peer.family, 0);
    EXPECT_EQ(out[0].ip_proto, proto);
    EXPECT_EQ(out[0].threat, Severity::kHigh);
    EXPECT_NE(out[0].description.find("every host of 10.9.0.0/24"), std::string::npos)
        << out[0].description;
    d.on_flood_summary(network_summary(proto, kT0 + 500 * kMs, kT0 + 1500 * kMs, 20'000, {}, true),
                       out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1].threat, Severity::kCritical);  // 21,200 over 1.5 s: over 10 times the rate
    EXPECT_EQ(out[1].count, 21'200u);
    EXPECT_EQ(out[1].subject, out[0].subject);
  }
}

TEST(NetworkFloodDetector, NeighbouringNetworksFloodedOneAfterAnotherAreTheFirstOnesAndTheBlocks) {
  for (const std::uint8_t proto : {std::uint8_t{17}, std::uint8_t{1}}) {
    SCOPED_TRACE(int(proto));
    NetworkFloodDetector d({});
    std::vector<Evidence> out;
    // The flow table's summaries of the 16 /24s of 10.9.0.0/20, each flooded at 5,000/s, one
    // after another; then one of 10.10.0.0/24 (another /16).
    auto at = [&](const std::string& network, std::int64_t first) {
      flow::FloodSummary f = network_summary(proto, first, first + kSec, 5'000, {}, true);
      f.dst = ip(network.c_str());
      d.on_flood_summary(f, out);
    };
    for (int n = 0; n < 16; ++n) at(fmt::format("10.9.{}.0", (n * 5) % 16), kT0 + n * 10 * kMs);
    at("10.10.0.0", kT0 + 200 * kMs);
    // The first network keeps its own profile; the others, and the block once they are spread
    // over more than one, are the block's.
    std::map<std::string, int> profiles;
    for (const Evidence& e : out) ++profiles[e.interface];
    ASSERT_EQ(profiles.size(), 3u) << ::testing::PrintToString(profiles);
    EXPECT_EQ(profiles["10.9.0.0/24"], 1);
    EXPECT_EQ(profiles["10.10.0.0/24"], 1);
    EXPECT_GE(profiles["10.9.0.0/16"], 16);  // 15 networks' evidence and the block's
    const Evidence* last = nullptr;
    for (const Evidence& e : out) {
      if (e.interface == "10.9.0.0/16" && e.description.find("one of") != std::string::npos)
        last = &e;
    }
    ASSERT_NE(last, nullptr);
    EXPECT_NE(last->description.find(fmt::format("every host of 10.9.{}.0/24 (a flood spread over "
                                                 "the network)",
                                                 (15 * 5) % 16)),
              std::string::npos)
        << last->description;
    EXPECT_NE(last->description.find("; one of 16 networks of 10.9.0.0/16 (10.9.0.0/24 to "
                                     "10.9.15.0/24) flooded together"),
              std::string::npos)
        << last->description;
    // Once the block has been quiet for two windows, its next network is a first again.
    const std::size_t before = out.size();
    at("10.9.3.0", kT0 + 200 * kSec);
    ASSERT_GT(out.size(), before);
    EXPECT_EQ(out[before].interface, "10.9.3.0/24");
  }
}

TEST(FloodedBlocks, NetworksOfABlockFoundFloodedTogetherAllJoinIt) {
  // The flow table reports every flooded network of a second in one batch: the detection stage
  // hands the batch's network summaries over at once first (before_network_floods), so the
  // networks of one block found together all give evidence about the block, none about itself.
  // Without it (one by one, as the test above) the first network keeps its own profile.
  auto batch = [](std::uint8_t proto, bool strays) {
    std::vector<flow::FloodSummary> b;
    for (const char* network : {"10.9.0.0", "10.9.1.0", "10.9.2.0", "10.10.5.0"}) {
      flow::FloodSummary f = network_summary(proto, kT0, kT0 + kSec, 20'000, {}, true);
      f.dst = ip(network);
      f.strays = strays;
      b.push_back(f);
    }
    return b;
  };
  // The batch at once, then one by one: the profiles of the evidence.
  auto profiles_of = [](Detector& d, const std::vector<flow::FloodSummary>& networks) {
    std::vector<Evidence> out;
    d.before_network_floods(networks);
    for (const flow::FloodSummary& f : networks) d.on_flood_summary(f, out);
    std::set<std::string> p;
    for (const Evidence& e : out) p.insert(e.interface);
    return p;
  };
  const std::set<std::string> expected{"10.9.0.0/16", "10.10.5.0/24"};
  for (const std::uint8_t proto : {std::uint8_t{17}, std::uint8_t{1}}) {
    NetworkFloodDetector d({});
    EXPECT_EQ(profiles_of(d, batch(proto, false)), expected) << int(proto);
  }
  SynFloodDetector syn({});
  EXPECT_EQ(profiles_of(syn, batch(6, false)), expected) << "SYNs";
  TcpFloodDetector strays({});
  EXPECT_EQ(profiles_of(strays, batch(6, true)), expected) << "strays";
}

TEST(FloodedBlocks, NamesIpv6BlocksAndStaysWithinItsBounds) {
  FloodedBlocks blocks(kSec, 2);
  EXPECT_FALSE(blocks.join(ip("2001:db8:1:5::"), 17, kT0));
  EXPECT_TRUE(blocks.join(ip("2001:db8:1:9::"), 17, kT0 + kMs));
  EXPECT_FALSE(blocks.join(ip("2001:db8:1:9::"), 1, kT0 + kMs)) << "another protocol's block";
  EXPECT_EQ(FloodedBlocks::name_of(ip("2001:db8:1:9::")), "2001:db8:1::/48");
  const FloodedBlocks::Block* b = blocks.find(ip("2001:db8:1:ffff::"), 17);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(FloodedBlocks::describe(*b, 64),
            "2 networks of 2001:db8:1::/48 (2001:db8:1:5::/64 to 2001:db8:1:9::/64)");
  EXPECT_EQ(block_suffix(*b, 64, true),
            "; one of 2 networks of 2001:db8:1::/48 (2001:db8:1:5::/64 to 2001:db8:1:9::/64) "
            "flooded together");
  // Stale (more than keep_ns since its last network): made anew, with this network its first.
  EXPECT_FALSE(blocks.join(ip("2001:db8:1:9::"), 17, kT0 + 3 * kSec));
  EXPECT_EQ(blocks.find(ip("2001:db8:1::"), 17)->seen.size(), 1u);
  EXPECT_EQ(FloodedBlocks::describe(*blocks.find(ip("2001:db8:1::"), 17), 64),
            "1 network of 2001:db8:1::/48 (2001:db8:1:9::/64)");
  // A network that joined a block its flood claimed, before any other network: not "one of 1".
  EXPECT_EQ(block_suffix(*blocks.find(ip("2001:db8:1::"), 17), 64, true),
            "; part of a flood over neighbouring networks of 2001:db8:1::/48");
  // A third block: the stalest goes.
  EXPECT_FALSE(blocks.join(ip("10.1.2.0"), 17, kT0 + 2 * kMs));
  EXPECT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks.find(ip("2001:db8:1::"), 1), nullptr);
  // A network counted twice is one network.
  EXPECT_TRUE(blocks.join(ip("10.1.7.0"), 17, kT0 + 3 * kMs));
  EXPECT_TRUE(blocks.join(ip("10.1.7.0"), 17, kT0 + 4 * kMs));
  EXPECT_EQ(blocks.find(ip("10.1.0.0"), 17)->seen.size(), 2u);
}

TEST(NetworkFloodDetector, NamesOneSourceAndLeavesOtherSummariesToTheirDetectors) {
  NetworkFloodDetector d({});
  std::vector<Evidence> out;
  d.on_flood_summary(network_summary(17, kT0, kT0 + kSec, 5'000, ip("10.77.0.67"), false), out);
  ASSERT_EQ(out.size(), 2u);  // the network's evidence and its culprit's
  EXPECT_EQ(out[0].peer, ip("10.77.0.67"));
  EXPECT_EQ(out[1].host, ip("10.77.0.67"));
  EXPECT_EQ(out[1].role, Role::kAttacker);
  out.clear();
  // A host's or a port's summary, strays, and SYNs spread over a network (the SYN flood
  // detector's) are not this detector's.
  d.on_flood_summary(flood_summary(ip("10.0.0.5"), kT0, kT0 + kSec, 40'000, {}, true), out);
  d.on_flood_summary(stray_summary(ip("10.0.0.9"), kT0, kT0 + kSec, 40'000, {}, true), out);
  d.on_flood_summary(network_summary(6, kT0, kT0 + kSec, 40'000, {}, true), out);
  EXPECT_TRUE(out.empty());
  // The per-host UDP and ICMP flood detectors leave a network's summary alone.
  UdpFloodDetector udp({});
  IcmpFloodDetector icmp({});
  udp.on_flood_summary(network_summary(17, kT0, kT0 + kSec, 40'000, {}, true), out);
  icmp.on_flood_summary(network_summary(1, kT0, kT0 + kSec, 40'000, {}, true), out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(udp.stats().tracked + icmp.stats().tracked, 0u);
}

// A host summary of `proto` (UDP: a port's; ICMP: the host's) at `victim`.
flow::FloodSummary host_summary(std::uint8_t proto, const net::IpAddress& victim,
                                std::int64_t first, std::int64_t last, std::uint64_t attempts,
                                const net::IpAddress& source, bool many) {
  flow::FloodSummary f = flood_summary(victim, first, last, attempts, source, many);
  f.ip_proto = proto;
  f.dst_port = proto == 17 ? 9999 : 0;
  return f;
}

TEST(NetworkFloodDetector, WhileANetworkIsFloodedItsHostsFloodedFromManySourcesArePartOfIt) {
  for (const std::uint8_t proto : {std::uint8_t{17}, std::uint8_t{1}}) {
    SCOPED_TRACE(int(proto));
    NetworkFloodDetector networks({});
    UdpFloodDetector udp({}, &networks);
    IcmpFloodDetector icmp({}, &networks);
    Detector& host = proto == 17 ? static_cast<Detector&>(udp) : static_cast<Detector&>(icmp);
    std::vector<Evidence> out;
    // Before the network is found flooded, a host's flood is its own.
    host.on_flood_summary(host_summary(proto, ip("10.9.0.5"), kT0, kT0 + kSec, 5'000, {}, true),
                          out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].host, ip("10.9.0.5"));
    EXPECT_FALSE(networks.engaged(ip("10.9.0.77"), proto));
    networks.on_flood_summary(network_summary(proto, kT0, kT0 + kSec, 40'000, {}, true), out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1].interface, "10.9.0.0/24");
    EXPECT_TRUE(networks.engaged(ip("10.9.0.77"), proto));
    EXPECT_FALSE(networks.engaged(ip("10.9.1.77"), proto));
    EXPECT_FALSE(networks.engaged(ip("10.9.0.77"), proto == 17 ? 1 : 17));
    // Then a host of it that got more than its share from many sources is part of it.
    host.on_flood_summary(
        host_summary(proto, ip("10.9.0.77"), kT0 + kSec, kT0 + 2 * kSec, 5'000, {}, true), out);
    EXPECT_EQ(out.size(), 2u) << out.back().description;
    // Outside the network, or flooded by one source, a host's flood is its own.
    host.on_flood_summary(
        host_summary(proto, ip("10.9.1.77"), kT0 + kSec, kT0 + 2 * kSec, 5'000, {}, true), out);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[2].host, ip("10.9.1.77"));
    host.on_flood_summary(host_summary(proto, ip("10.9.0.78"), kT0 + kSec, kT0 + 2 * kSec, 5'000,
                                       ip("10.77.0.67"), false),
                          out);
    ASSERT_GE(out.size(), 4u);
    EXPECT_EQ(proto == 17 ? out[3].host : out[3].peer, ip("10.9.0.78")) << out[3].description;
    // When the network's flood has ended (its window closed), its hosts are their own again.
    networks.advance(kT0 + 600 * kSec, out);
    EXPECT_FALSE(networks.engaged(ip("10.9.0.77"), proto));
  }
}

// Detectors behind one AttemptTracker in the stage's order: each gets an event's attempts, then
// the event.
struct Stage {
  std::vector<Detector*> detectors;
  AttemptTracker tracker;
  std::vector<Attempt> attempts;
  std::vector<Evidence> out;
  void event(const flow::FlowEvent& e) {
    attempts.clear();
    tracker.on_flow_event(e, attempts);
    tracker.advance(e.ts_ns, attempts);
    for (Detector* d : detectors) {
      for (const Attempt& a : attempts) d->on_attempt(a, out);
      d->on_flow_event(e, out);
    }
  }
};

// Spoofed UDP datagrams at 10.9.0.0/24, `per_second` for `seconds`, `hot` of them at 10.9.0.7
// and the rest spread over the network's hosts, each from a new source and port; or all from
// 10.77.0.66 (`one_source`).
void udp_at_network(Stage& stage, int per_second, int seconds, double hot, bool one_source) {
  const int count = per_second * seconds;
  for (int i = 0; i < count; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * kSec / per_second;
    const auto src = one_source ? ip("10.77.0.66") : spoofed_v4(i);
    const bool to_hot = (i % 100) < static_cast<int>(hot * 100);
    const auto host = to_hot ? ip("10.9.0.7") : ipv4(10, 9, 0, static_cast<std::uint8_t>(i * 37));
    stage.event(event(FlowMoment::kStart, src, static_cast<std::uint16_t>(1024 + i % 60000), host,
                      9999, 17, t, t));
  }
}

TEST(NetworkFloodDetector, UnansweredDatagramsAtManyHostsOfANetworkAreItsFloodBeforeAnyHosts) {
  // 20,000 datagrams/s for 2 s: 30 % at one host (6,000/s, six times a host's own limit), the rest
  // spread over the /24. The network speaks from the flows alone (no flow table summary here), and
  // the hot host is part of it.
  NetworkFloodDetector networks({});
  UdpFloodDetector udp({}, &networks);
  Stage stage;
  stage.detectors = {&networks, &udp};
  udp_at_network(stage, 20'000, 2, 0.3, false);
  ASSERT_FALSE(stage.out.empty());
  for (const Evidence& e : stage.out) {
    EXPECT_EQ(e.interface, "10.9.0.0/24") << e.description;
    EXPECT_EQ(e.host.family, 0) << e.description;
    EXPECT_EQ(e.kind, kind::kUdpFlood);
  }
  EXPECT_NE(stage.out.front().description.find("from many sources"), std::string::npos)
      << stage.out.front().description;
  // Judged within a second of the first datagrams' second running out.
  EXPECT_LE(stage.out.front().time_ns - kT0, 2 * kSec);
}

TEST(NetworkFloodDetector, OneSourcesUdpSweepOrAOneHostFloodIsNoNetworkFlood) {
  for (const bool one_source : {true, false}) {
    SCOPED_TRACE(one_source);
    NetworkFloodDetector networks({});
    UdpFloodDetector udp({}, &networks);
    Stage stage;
    stage.detectors = {&networks, &udp};
    // One scanner's sweep of the /24 (nmap -sU at 5,000 probes/s); or spoofed datagrams of which
    // 90 % went to one host (that host's flood).
    udp_at_network(stage, 5'000, 2, one_source ? 0.0 : 0.9, one_source);
    for (const Evidence& e : stage.out) EXPECT_NE(e.interface, "10.9.0.0/24") << e.description;
    if (!one_source) {
      ASSERT_FALSE(stage.out.empty());
      EXPECT_EQ(stage.out.front().host, ip("10.9.0.7"));
    }
  }
}

TEST(FloodDetectors, ABlocksOwnSummaryIsOneAlertAboutTheBlock) {
  // The flow table summarised a thin carpet over 10.9.0.0/16 for the block itself (each of its
  // /24s got too few for its own count): 20,000 attempts in a second from many sources. Each
  // flood detector makes it evidence about the block (its profile "10.9.0.0/16"), never about
  // the /24 the block's first address is in.
  struct Case {
    const char* what;
    std::uint8_t proto;
    bool strays;
  };
  for (const Case c : {Case{"UDP", 17, false}, Case{"echo", 1, false}, Case{"SYN", 6, false},
                       Case{"ACK", 6, true}}) {
    SCOPED_TRACE(c.what);
    NetworkFloodDetector networks({});
    SynFloodDetector syn({});
    TcpFloodDetector tcp({});
    flow::FloodSummary f = network_summary(c.proto, kT0, kT0 + kSec, 20'000, {}, true);
    f.prefix = 16;
    f.strays = c.strays;
    ASSERT_TRUE(f.block());
    std::vector<Evidence> out;
    for (Detector* d : std::initializer_list<Detector*>{&networks, &syn, &tcp}) {
      d->before_network_floods(std::span<const flow::FloodSummary>(&f, 1));
      d->on_flood_summary(f, out);
    }
    // A second summary of the flood, half as many: at the end the block's count is the two's.
    f.first_ns = kT0 + kSec;
    f.last_ns = kT0 + 2 * kSec;
    f.attempts = 10'000;
    for (Detector* d : std::initializer_list<Detector*>{&networks, &syn, &tcp}) {
      d->on_flood_summary(f, out);
      d->flush(out);
    }
    ASSERT_GE(out.size(), 1u);
    for (const Evidence& e : out) {
      EXPECT_EQ(e.interface, "10.9.0.0/16") << e.description;
      EXPECT_LE(e.count, 30'000u) << "counted once: " << e.description;
    }
    EXPECT_EQ(out.back().count, 30'000u) << out.back().description;
    EXPECT_EQ(out[0].interface, "10.9.0.0/16") << out[0].description;
    EXPECT_EQ(out[0].host.family, 0);
    EXPECT_EQ(out[0].role, Role::kVictim);
    EXPECT_EQ(out[0].threat, Severity::kCritical) << out[0].description;
    EXPECT_NE(out[0].description.find("10.9.0.0/16"), std::string::npos) << out[0].description;
    EXPECT_EQ(out[0].description.find("/24"), std::string::npos) << out[0].description;
  }
}

TEST(NetworkFloodDetector, AFloodSpreadOverNeighbouringNetworksIsOneAlertAboutTheirBlock) {
  // 40,000 spoofed datagrams/s for 2 s at random hosts of the 16 /24s of 10.9.0.0/20 (2,500/s a
  // network, 10/s a host), judged from the flows: the block reaches the rate before any network
  // alone, and every network that reaches it later is part of the block's alert, as is every
  // host the UDP flood detector would have judged alone.
  NetworkFloodDetector networks({});
  UdpFloodDetector udp({}, &networks);
  Stage stage;
  stage.detectors = {&networks, &udp};
  for (int i = 0; i < 80'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * kSec / 40'000;
    const auto src = spoofed_v4(i);
    const auto host = ipv4(10, 9, static_cast<std::uint8_t>((i * 7) % 16),
                           static_cast<std::uint8_t>((i * 37) % 256));
    stage.event(event(FlowMoment::kStart, src, static_cast<std::uint16_t>(1024 + i % 60000), host,
                      9999, 17, t, t));
  }
  ASSERT_FALSE(stage.out.empty());
  for (const Evidence& e : stage.out) {
    EXPECT_EQ(e.interface, "10.9.0.0/16") << e.description;
    EXPECT_EQ(e.host.family, 0) << e.description;
  }
  EXPECT_NE(stage.out.front().description.find(
                "every host of 10.9.0.0/16 (a flood spread over neighbouring networks)"),
            std::string::npos)
      << stage.out.front().description;
  EXPECT_LE(stage.out.front().time_ns - kT0, 2 * kSec);
  // The networks spoke too (in the block's profile), and the block's last word names them.
  std::size_t networks_spoke = 0;
  for (const Evidence& e : stage.out)
    networks_spoke += e.description.find("one of") != std::string::npos;
  EXPECT_GE(networks_spoke, 1u);
}

TEST(SynFloodDetector, ABlocksRateIsNotDilutedByASummaryThatComesBeforeItsAttempts) {
  // 4,000 spoofed SYNs/s at random hosts of 10.9.0.0/23. The flow table's first summary of
  // 10.9.1.0/24 (40 SYNs at 0.45-0.5 s, found flooded a quarter second before) comes before the
  // attempts of the first quarter second (both /24s) are judged, a second late: counted together,
  // the block's half-open SYNs span half a second while a few of them have arrived. Its rate must
  // still be the flood's, so the block speaks before either /24 reaches its count alone.
  Driven<SynFloodDetector> d;
  for (int i = 0; i < 1'000; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * kSec / 4'000;
    const auto host =
        ipv4(10, 9, static_cast<std::uint8_t>(i % 2), static_cast<std::uint8_t>((i * 37) % 256));
    d.event(event(FlowMoment::kStart, spoofed_v4(i), 1024, host, 80, 6, t, t, kSyn));
  }
  flow::FloodSummary f = network_summary(6, kT0 + 450 * kMs, kT0 + 500 * kMs, 40, {}, true);
  f.dst = ip("10.9.1.0");
  d.detector().on_flood_summary(f, d.out);
  d.advance(kT0 + 2 * kSec);
  ASSERT_FALSE(d.out.empty());
  for (const Evidence& e : d.out) EXPECT_EQ(e.interface, "10.9.0.0/16") << e.description;
}

TEST(SynFloodDetector, ANetworksSummaryIsItsNetworkSubjectAndCoversItsHostsLaterSummaries) {
  Driven<SynFloodDetector> d;
  // The flow table found SYNs spread over 10.9.0.0/24, then one of its hosts' port flooded too
  // (a host that got more than its share): the network's evidence, not the host's.
  d.detector().on_flood_summary(network_summary(6, kT0, kT0 + kSec, 40'000, {}, true), d.out);
  ASSERT_EQ(d.out.size(), 1u);
  EXPECT_EQ(d.out[0].kind, kind::kSynFlood);
  EXPECT_EQ(d.out[0].interface, "10.9.0.0/24");
  EXPECT_EQ(d.out[0].host.family, 0);
  EXPECT_EQ(d.out[0].threat, Severity::kCritical);  // 40,000/s
  EXPECT_NE(d.out[0].description.find("to many hosts of 10.9.0.0/24"), std::string::npos)
      << d.out[0].description;
  d.detector().on_flood_summary(
      flood_summary(ip("10.9.0.77"), kT0 + kSec, kT0 + 2 * kSec, 5'000, {}, true), d.out);
  EXPECT_EQ(d.out.size(), 1u) << d.out.back().description;
  // Outside the network, a host's port summary is its own.
  d.detector().on_flood_summary(
      flood_summary(ip("10.9.1.77"), kT0 + kSec, kT0 + 2 * kSec, 5'000, {}, true), d.out);
  ASSERT_EQ(d.out.size(), 2u);
  EXPECT_EQ(d.out[1].host, ip("10.9.1.77"));
}

TEST(UdpFloodDetector, AnUnansweredFloodIsEvidenceWithinTwoSecondsDespiteDnsToTheSameHost) {
  Driven<UdpFloodDetector> d;
  const auto server = ip("10.77.0.1");
  // Half a minute of answered DNS first (it must neither hide the flood nor dilute its rate).
  for (int i = 0; i < 30; ++i) {
    const std::int64_t t = kT0 + i * kSec;
    const auto sport = static_cast<std::uint16_t>(30000 + i);
    d.event(event(FlowMoment::kStart, ip("10.77.0.16"), sport, server, 53, 17, t, t));
    d.event(event(FlowMoment::kReply, ip("10.77.0.16"), sport, server, 53, 17, t, t + kMs));
  }
  const std::int64_t flood = kT0 + 30 * kSec;
  for (int i = 0; i < 20'000 && d.out.empty(); ++i) {
    const std::int64_t t = flood + i * 400'000;  // 2,500 datagrams a second, new ports
    d.event(event(FlowMoment::kStart, ip("10.77.0.67"), static_cast<std::uint16_t>(1024 + i),
                  server, 9999, 17, t, t));
  }
  ASSERT_FALSE(d.out.empty());
  const Evidence& victim = d.out.front();
  EXPECT_EQ(victim.kind, kind::kUdpFlood);
  EXPECT_EQ(victim.host, server);
  EXPECT_EQ(victim.peer, ip("10.77.0.67"));
  EXPECT_LE(victim.time_ns - flood, 2 * kSec);
  ASSERT_GE(d.out.size(), 2u);
  EXPECT_EQ(d.out[1].host, ip("10.77.0.67"));  // the flooder's own evidence
  EXPECT_EQ(d.out[1].role, Role::kAttacker);
}

TEST(UdpFloodDetector, CountsAFloodedDestinationsSummariesAsUnansweredFlows) {
  Driven<UdpFloodDetector> d;
  auto f = flood_summary(ip("10.0.0.5"), kT0, kT0 + kSec, 5'000, ip("11.0.0.1"), true);
  f.ip_proto = 17;
  f.dst_port = 9999;
  d.detector().on_flood_summary(f, d.out);
  ASSERT_EQ(d.out.size(), 1u);
  EXPECT_EQ(d.out[0].kind, kind::kUdpFlood);
  EXPECT_EQ(d.out[0].host, ip("10.0.0.5"));
  EXPECT_EQ(d.out[0].role, Role::kVictim);
  EXPECT_EQ(d.out[0].peer.family, 0);  // many sources
  EXPECT_NE(d.out[0].description.find("5,000 unanswered"), std::string::npos)
      << d.out[0].description;
  // A SYN flood's summary is not a UDP flood.
  Driven<UdpFloodDetector> tcp;
  tcp.detector().on_flood_summary(
      flood_summary(ip("10.0.0.5"), kT0, kT0 + kSec, 5'000, ip("11.0.0.1"), true), tcp.out);
  EXPECT_TRUE(tcp.out.empty());
}

TEST(IcmpFloodDetector, CountsAFloodedHostsSummariesAtTheVictimOrTheFlooder) {
  for (const bool many : {true, false}) {
    IcmpFloodDetector d(HostDetectorOptions{});
    std::vector<Evidence> out;
    auto f = flood_summary(ip("10.0.0.9"), kT0, kT0 + kSec, 5'000, ip("10.77.0.67"), many);
    f.ip_proto = 1;
    f.dst_port = 0;
    d.on_flood_summary(f, out);
    ASSERT_EQ(out.size(), 1u) << many;
    EXPECT_EQ(out[0].kind, kind::kIcmpFlood);
    EXPECT_EQ(out[0].host, many ? ip("10.0.0.9") : ip("10.77.0.67"));
    EXPECT_EQ(out[0].role, many ? Role::kVictim : Role::kAttacker);
    EXPECT_EQ(out[0].count, 5'000u);
  }
}

TEST(IcmpFloodDetector, CountsEchoRequestsOfOneFlowFromItsProgressReports) {
  HostDetectorOptions o;
  IcmpFloodDetector d(o);
  std::vector<Evidence> out;
  const auto a = ip("10.77.0.67");
  const auto b = ip("10.77.0.1");
  d.on_flow_event(event(FlowMoment::kStart, a, 8, b, 0, 1, kT0, kT0, 0, 8), out);
  // Progress at 8, 64, 512 and 4,096 packets of a 10,000 requests/s flood (requests and replies).
  for (const std::uint64_t packets : {8u, 64u, 512u, 4096u}) {
    auto r = flow_of(a, 8, b, 0, 1, kT0, static_cast<std::int64_t>(packets) * 50'000, {});
    r.cic[static_cast<std::size_t>(flow::CicFeature::kIcmpType)] = 8;
    r.cic[static_cast<std::size_t>(flow::CicFeature::kTotalFwdPacket)] = double(packets / 2);
    r.packet_count = packets;
    r.end_reason = flow::EndReason::kOngoing;
    d.on_flow_progress(r, out);
  }
  ASSERT_EQ(out.size(), 1u);  // at 4,096 packets: 2,048 requests in 0.2 s
  EXPECT_EQ(out[0].kind, kind::kIcmpFlood);
  EXPECT_EQ(out[0].host, a);
  EXPECT_EQ(out[0].count, 2'048u);
}

// Echo requests to `victim` at `per_second`, each from a new address of 11.0.0.0/8 (hping3 --icmp
// --flood --rand-source), `count` of them from `start`, until `d` has evidence.
void spoofed_pings(IcmpFloodDetector& d, std::vector<Evidence>& out, const net::IpAddress& victim,
                   std::int64_t start, int count, int per_second) {
  for (int i = 0; i < count && out.empty(); ++i) {
    const std::int64_t t = start + std::int64_t{i} * kSec / per_second;
    const auto src = ipv4(11, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8),
                          static_cast<std::uint8_t>(i));
    d.on_flow_event(event(FlowMoment::kStart, src, 8, victim, 0, 1, t, t, 0, 8), out);
  }
}

TEST(IcmpFloodDetector, ASpoofedFloodIsEvidenceAboutTheVictimWithinTwoSeconds) {
  IcmpFloodDetector d(HostDetectorOptions{});
  std::vector<Evidence> out;
  const auto victim = ip("10.77.0.1");
  spoofed_pings(d, out, victim, kT0, 100'000, 5'000);
  ASSERT_EQ(out.size(), 1u);  // no single source sent enough to be its own subject
  EXPECT_EQ(out[0].kind, kind::kIcmpFlood);
  EXPECT_EQ(out[0].host, victim);
  EXPECT_EQ(out[0].role, Role::kVictim);
  EXPECT_EQ(out[0].peer.family, 0);
  EXPECT_LE(out[0].time_ns - kT0, 2 * kSec);
  EXPECT_NE(out[0].description.find("to 10.77.0.1 from many sources"), std::string::npos)
      << out[0].description;
}

TEST(IcmpFloodDetector, AFloodFromOneHostIsThatHostsEvidenceNotAlsoTheVictims) {
  IcmpFloodDetector d(HostDetectorOptions{});
  std::vector<Evidence> out;
  const auto flooder = ip("10.77.0.67");
  const auto victim = ip("10.77.0.1");
  d.on_flow_event(event(FlowMoment::kStart, flooder, 8, victim, 0, 1, kT0, kT0, 0, 8), out);
  // 5,000 requests/s from the flooder for 4 s, and 50 other hosts pinging the victim once a second.
  for (int s = 0; s < 4; ++s) {
    for (int h = 0; h < 50; ++h) {
      const std::int64_t t = kT0 + s * kSec + h * 10 * kMs;
      const auto src = ipv4(10, 77, 1, static_cast<std::uint8_t>(h));
      d.on_flow_event(event(FlowMoment::kStart, src, 8, victim, 0, 1, t, t, 0, 8), out);
    }
    auto r = flow_of(flooder, 8, victim, 0, 1, kT0, (s + 1) * kSec, {});
    r.cic[static_cast<std::size_t>(flow::CicFeature::kIcmpType)] = 8;
    r.cic[static_cast<std::size_t>(flow::CicFeature::kTotalFwdPacket)] = 5'000.0 * (s + 1);
    r.packet_count = 10'000 * static_cast<std::uint64_t>(s + 1);
    r.end_reason = flow::EndReason::kOngoing;
    d.on_flow_progress(r, out);
  }
  d.flush(out);
  ASSERT_FALSE(out.empty());
  for (const Evidence& e : out) {
    EXPECT_EQ(e.host, flooder) << e.description;
    EXPECT_EQ(e.role, Role::kAttacker);
  }
}

TEST(IcmpFloodDetector, ManyHostsPingingOneServerAreNoFlood) {
  IcmpFloodDetector d(HostDetectorOptions{});
  std::vector<Evidence> out;
  // 300 monitoring hosts, each once a second for a minute: 300 requests/s from many sources.
  for (int s = 0; s < 60; ++s) {
    for (int h = 0; h < 300; ++h) {
      const std::int64_t t = kT0 + s * kSec + h * 3 * kMs;
      const auto src =
          ipv4(10, 78, static_cast<std::uint8_t>(h >> 8), static_cast<std::uint8_t>(h));
      d.on_flow_event(event(FlowMoment::kStart, src, 8, ip("10.77.0.1"), 0, 1, t, t, 0, 8), out);
    }
  }
  d.flush(out);
  EXPECT_TRUE(out.empty()) << out.front().description;
}

TEST(PortScanDetector, RefusedConnectionsMakeAScanAtOnce) {
  Driven<PortScanDetector> d;
  for (int port = 1; port <= 100; ++port) {
    const std::int64_t t = kT0 + port * kMs;
    d.event(event(FlowMoment::kStart, ip("10.0.0.66"), 45000, ip("10.0.0.5"),
                  static_cast<std::uint16_t>(port), 6, t, t, kSyn));
    d.event(event(FlowMoment::kReply, ip("10.0.0.66"), 45000, ip("10.0.0.5"),
                  static_cast<std::uint16_t>(port), 6, t, t + 100, kRst | kAck));
  }
  ASSERT_EQ(d.out.size(), 1u);
  EXPECT_EQ(d.out[0].host, ip("10.0.0.66"));
  EXPECT_EQ(d.out[0].time_ns, kT0 + 100 * kMs + 100);  // the 100th refusal
}

flow::FlowRecord trickle(double seconds, std::uint32_t per_second, bool answered) {
  auto r = flow_of(ip("10.77.0.70"), 50000, ip("10.77.0.1"), 4444, 6, kT0,
                   static_cast<std::int64_t>(seconds * 1e9),
                   {{+1, kSyn}, {-1, static_cast<std::uint8_t>(kSyn | kAck)}, {+1, kAck}});
  const auto n = static_cast<std::uint32_t>(seconds);
  auto at = [&r](flow::CicFeature f) -> double& { return r.cic[static_cast<std::size_t>(f)]; };
  at(flow::CicFeature::kTotalLengthFwd) = double(n) * per_second;
  at(flow::CicFeature::kFwdActDataPkts) = n;
  at(flow::CicFeature::kTotalFwdPacket) = n + 2;
  at(flow::CicFeature::kTotalBwdPackets) = n + 1;
  if (answered) at(flow::CicFeature::kTotalLengthBwd) = 100;
  r.end_reason = flow::EndReason::kOngoing;
  return r;
}

TEST(ExfiltrationDetector, AOneWayTrickleIsEvidenceAfterEightSeconds) {
  ExfiltrationDetector d{HostDetectorOptions{}};
  std::vector<Evidence> out;
  d.on_flow_progress(trickle(4, 400, false), out);
  EXPECT_TRUE(out.empty());
  d.on_flow_progress(trickle(8.2, 400, false), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, kind::kExfiltration);
  EXPECT_EQ(out[0].host, ip("10.77.0.70"));
  EXPECT_EQ(out[0].peer, ip("10.77.0.1"));
  EXPECT_EQ(out[0].port, 4444);
  EXPECT_EQ(out[0].threat, Severity::kHigh);
  EXPECT_NE(out[0].description.find("sent 3,200 bytes to 10.77.0.1:4444"), std::string::npos)
      << out[0].description;
  d.on_flow_progress(trickle(16.5, 400, false), out);
  EXPECT_EQ(out.size(), 1u);  // the same connection: once, summarised when its window closes
}

TEST(ExfiltrationDetector, LeavesAnsweredFastAndOneWayServicesAlone) {
  ExfiltrationDetector d{HostDetectorOptions{}};
  std::vector<Evidence> out;
  d.on_flow_progress(trickle(20, 400, true), out);         // the server answers: a session
  d.on_flow_progress(trickle(20, 1'000'000, false), out);  // a bulk upload
  auto syslog = trickle(20, 400, false);
  syslog.dst_port = 6514;
  d.on_flow_progress(syslog, out);
  EXPECT_TRUE(out.empty()) << out.front().description;
}

}  // namespace
}  // namespace netsentry::detect
