// The rule detectors of make_host_detectors(), fed finished flows the way the detection stage
// does without flow events (records only): through an AttemptTracker, then the detectors.
#include "detect/host_detectors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "core/error.h"
#include "detect/alert.h"
#include "detect/attempt_tracker.h"
#include "detect/detect_test_support.h"
#include "detect/detector_support.h"

namespace netsentry::detect {
namespace {

using namespace testing;  // NOLINT

class Rules {
 public:
  explicit Rules(const HostDetectorOptions& options = {})
      : detectors_(make_host_detectors(options)) {}
  void observe(const flow::FlowRecord& r, std::vector<Evidence>& out) {
    attempts_.clear();
    tracker_.on_flow_finished(r, attempts_);
    for (auto& d : detectors_) {
      for (const Attempt& a : attempts_) d->on_attempt(a, out);
      d->on_flow_finished(r, out);
    }
  }
  void observe_ongoing(const flow::FlowRecord& r, std::vector<Evidence>& out) {
    for (auto& d : detectors_) d->on_flow_interim(r, out);
  }
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) {
    for (auto& d : detectors_) d->advance(now_ns, out);
  }
  void flush(std::vector<Evidence>& out) {
    for (auto& d : detectors_) d->flush(out);
  }
  [[nodiscard]] DetectorStats stats() const {
    DetectorStats s;
    for (const auto& d : detectors_) {
      s.evidence += d->stats().evidence;
      s.evictions += d->stats().evictions;
      s.tracked += d->stats().tracked;
    }
    return s;
  }

 private:
  std::vector<std::unique_ptr<Detector>> detectors_;
  AttemptTracker tracker_;
  std::vector<Attempt> attempts_;
};

// Evidence of one kind; floods also give their source's copy (role attacker): `victim` keeps the
// victim's only.
std::vector<Evidence> of_kind(const std::vector<Evidence>& all, std::string_view k,
                              bool victim = false) {
  std::vector<Evidence> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out), [&](const Evidence& e) {
    return e.kind == k && (!victim || e.role == Role::kVictim);
  });
  return out;
}

// Who did it to whom, as an alert's subject reads.
net::IpAddress src_of(const Evidence& e) { return e.role == Role::kVictim ? e.peer : e.host; }
net::IpAddress dst_of(const Evidence& e) { return e.role == Role::kVictim ? e.host : e.peer; }
std::string proto_of(const Evidence& e) { return std::string(flow::protocol_name(e.ip_proto)); }

TEST(TcpHandshake, RecognisesCompletedAndHalfOpenConnections) {
  const auto a = ip("10.0.0.66");
  const auto b = ip("10.0.0.5");
  EXPECT_TRUE(tcp_handshake(session(a, 1, b, 22, kT0)).completed);
  EXPECT_TRUE(tcp_handshake(session(a, 1, b, 22, kT0)).attempt);
  const TcpHandshake half = tcp_handshake(half_open(a, 1, b, 80, kT0));
  EXPECT_TRUE(half.attempt);
  EXPECT_FALSE(half.completed);
  // Mid-stream flow (capture started late): no attempt.
  EXPECT_FALSE(tcp_handshake(flow_of(a, 1, b, 80, 6, kT0, kMs, {{+1, kAck, 10}})).attempt);
}

TEST(TcpHandshake, FallsBackOnFlagCountsWithoutPacketSummaries) {
  auto full = session(ip("10.0.0.66"), 1, ip("10.0.0.5"), 22, kT0);
  full.first_packets.clear();
  EXPECT_TRUE(tcp_handshake(full).completed);
  auto half = half_open(ip("10.0.0.66"), 1, ip("10.0.0.5"), 80, kT0);
  half.first_packets.clear();
  EXPECT_TRUE(tcp_handshake(half).attempt);
  EXPECT_FALSE(tcp_handshake(half).completed);
}

TEST(IsProbe, SeparatesProbesFromServedConnections) {
  const auto a = ip("10.0.0.66");
  const auto b = ip("10.0.0.5");
  EXPECT_TRUE(is_probe(syn_probe(a, b, 22, kT0)));
  EXPECT_TRUE(is_probe(half_open(a, 1, b, 80, kT0)));
  EXPECT_FALSE(is_probe(session(a, 1, b, 22, kT0)));
  EXPECT_TRUE(is_probe(udp_flow(a, 1, b, 161, kT0, kMs, 1)));
  EXPECT_FALSE(is_probe(udp_flow(a, 1, b, 53, kT0, kMs, 1, /*reply=*/true)));
  auto ping = flow_of(a, 0, b, 0, 1, kT0, kMs, {{+1, 0, 56}});
  ping.cic[static_cast<std::size_t>(flow::CicFeature::kIcmpType)] = 8;
  EXPECT_TRUE(is_probe(ping));
}

TEST(HostDetectorRules, ReportsPortScanWithCountsAndElapsedTime) {
  Rules detectors;
  std::vector<Evidence> out;
  const auto scanner = ip("10.0.0.66");
  const auto target = ip("10.0.0.5");
  // 2,998 ports in 0.6 s.
  for (int i = 0; i < 2998; ++i) {
    const std::int64_t t = kT0 + std::int64_t{i} * 600 * kMs / 2997;
    auto probe = syn_probe(scanner, target, static_cast<std::uint16_t>(1 + i), t);
    probe.end_ns = t;
    detectors.observe(probe, out);
  }
  auto scans = of_kind(out, kind::kPortScan);
  ASSERT_EQ(scans.size(), 2u);  // HIGH at 100 ports, CRITICAL at 1,000
  EXPECT_EQ(scans[0].threat, Severity::kHigh);
  EXPECT_NE(scans[0].description.find("100 ports"), std::string::npos) << scans[0].description;
  EXPECT_EQ(scans[1].threat, Severity::kCritical);
  EXPECT_EQ(src_of(scans[0]), scanner);
  EXPECT_EQ(dst_of(scans[0]), target);
  EXPECT_EQ(proto_of(scans[0]), "TCP");

  out.clear();
  detectors.flush(out);
  scans = of_kind(out, kind::kPortScan);
  ASSERT_EQ(scans.size(), 1u);
  EXPECT_EQ(scans[0].description,
            "Port scan suspected: 2,998 ports on 10.0.0.5 probed from 10.0.0.66 in 0.6 s (TCP)");
  EXPECT_EQ(scans[0].threat, Severity::kCritical);
  EXPECT_EQ(scans[0].first_ns, kT0);
}

TEST(HostDetectorRules, DoesNotCallServedConnectionsToManyPortsAScan) {
  Rules detectors;
  std::vector<Evidence> out;
  // An FTP client's passive data connections: 500 served sessions on distinct server ports.
  for (int i = 0; i < 500; ++i) {
    detectors.observe(
        session(ip("10.0.0.7"), static_cast<std::uint16_t>(30000 + i), ip("10.0.0.21"),
                static_cast<std::uint16_t>(50000 + i), kT0 + i * 10 * kMs),
        out);
  }
  detectors.flush(out);
  EXPECT_TRUE(of_kind(out, kind::kPortScan).empty());
}

TEST(HostDetectorRules, CountsPortsOnlyWithinTheWindow) {
  HostDetectorOptions options;
  options.window_ns = 10 * kSec;
  Rules detectors(options);
  std::vector<Evidence> out;
  // 60 ports per window, in 5 windows: never 100 within one.
  for (int w = 0; w < 5; ++w) {
    for (int i = 0; i < 60; ++i) {
      detectors.observe(
          syn_probe(ip("10.0.0.66"), ip("10.0.0.5"), static_cast<std::uint16_t>(1 + w * 60 + i),
                    kT0 + w * 11 * kSec + i * kMs),
          out);
    }
    detectors.advance(kT0 + w * 11 * kSec + 10 * kSec + 100 * kMs, out);
  }
  EXPECT_TRUE(of_kind(out, kind::kPortScan).empty());
  EXPECT_EQ(detectors.stats().tracked, 0u);
}

TEST(HostDetectorRules, ReportsHostScanOnOnePort) {
  Rules detectors;
  std::vector<Evidence> out;
  for (int i = 1; i <= 254; ++i) {
    detectors.observe(syn_probe(ip("10.0.0.66"), ipv4(10, 0, 1, static_cast<std::uint8_t>(i)), 22,
                                kT0 + i * 10 * kMs),
                      out);
  }
  detectors.flush(out);
  const auto scans = of_kind(out, kind::kHostScan);
  ASSERT_FALSE(scans.empty());
  EXPECT_EQ(src_of(scans.front()), ip("10.0.0.66"));
  EXPECT_EQ(scans.front().port, 22);
  // Past the exact limit the count is a linear-counting estimate: within 2 of 254.
  const Evidence& last = scans.back();
  EXPECT_NE(last.description.find("hosts probed on port 22/TCP (SSH) from 10.0.0.66"),
            std::string::npos)
      << last.description;
  ASSERT_FALSE(last.deviations.empty());
  EXPECT_NEAR(last.deviations[0].value, 254, 2);
}

TEST(HostDetectorRules, NamesTheDestinationOfASpoofedSynFlood) {
  Rules detectors;
  std::vector<Evidence> out;
  const auto victim = ip("10.0.0.5");
  for (int i = 0; i < 5000; ++i) {
    const auto spoofed =
        ipv4(172, 16, static_cast<std::uint8_t>(i / 256), static_cast<std::uint8_t>(i % 256));
    detectors.observe(
        half_open(spoofed, static_cast<std::uint16_t>(1024 + i), victim, 80, kT0 + i * kMs), out);
  }
  // Benign completed connections to the same service do not hide it (ratio stays > 0.8).
  for (int i = 0; i < 100; ++i) {
    detectors.observe(session(ip("192.168.1.2"), static_cast<std::uint16_t>(2000 + i), victim, 80,
                              kT0 + i * 10 * kMs),
                      out);
  }
  detectors.flush(out);
  const auto floods = of_kind(out, kind::kSynFlood);
  ASSERT_FALSE(floods.empty());
  const Evidence& first = floods.front();
  EXPECT_EQ(first.threat, Severity::kHigh);
  EXPECT_EQ(dst_of(first), victim);
  EXPECT_EQ(first.port, 80);
  EXPECT_EQ(src_of(first).family, 0);  // many sources: no single culprit
  const Evidence& last = floods.back();
  EXPECT_NE(last.description.find("SYN flood suspected: 5,000 half-open connections to 10.0.0.5:80 "
                                  "(98% of 5,100 attempts) from many sources"),
            std::string::npos)
      << last.description;
}

TEST(HostDetectorRules, ReportsAFastSynSprayAtRandomDestinationsNetworkWide) {
  Rules detectors;
  std::vector<Evidence> out;
  // 200 spoofed SYNs, each to another host and port, within 20 ms (hping3 --rand-source/dest:
  // random addresses, so no /16 gets most of them; one that did would be a flood of its own).
  for (int i = 0; i < 200; ++i) {
    const auto src = ipv4(51, static_cast<std::uint8_t>(i), 3, 4);
    const auto dst = ipv4(static_cast<std::uint8_t>(15 + i), 7, static_cast<std::uint8_t>(i), 9);
    detectors.observe(half_open(src, static_cast<std::uint16_t>(2000 + i), dst,
                                static_cast<std::uint16_t>(1000 + i), kT0 + i * 100'000),
                      out);
  }
  detectors.flush(out);
  const auto floods = of_kind(out, kind::kSynFlood);
  ASSERT_FALSE(floods.empty());
  EXPECT_EQ(dst_of(floods.front()).family, 0);
  EXPECT_NE(floods.back().description.find("200 half-open connections to many destinations"),
            std::string::npos)
      << floods.back().description;
}

TEST(HostDetectorRules, LeavesASlowSpreadOfUnansweredSynsAlone) {
  Rules detectors;
  std::vector<Evidence> out;
  // 150 unanswered SYNs to different hosts over 50 s: 3/s, far below the network-wide rate.
  for (int i = 0; i < 150; ++i) {
    detectors.observe(
        half_open(ipv4(51, static_cast<std::uint8_t>(i), 3, 4), 2000,
                  ipv4(15, 7, static_cast<std::uint8_t>(i), 9), 443, kT0 + i * 333 * kMs),
        out);
  }
  detectors.flush(out);
  EXPECT_TRUE(of_kind(out, kind::kSynFlood).empty());
}

TEST(HostDetectorRules, IgnoresAServiceThatCompletesItsHandshakes) {
  Rules detectors;
  std::vector<Evidence> out;
  for (int i = 0; i < 5000; ++i) {
    detectors.observe(
        session(
            ipv4(172, 16, static_cast<std::uint8_t>(i / 256), static_cast<std::uint8_t>(i % 256)),
            static_cast<std::uint16_t>(1024 + i), ip("10.0.0.5"), 80, kT0 + i * kMs),
        out);
  }
  detectors.flush(out);
  EXPECT_TRUE(out.empty()) << out.front().description;
}

TEST(HostDetectorRules, ReportsBruteForceOnALoginService) {
  Rules detectors;
  std::vector<Evidence> out;
  for (int i = 0; i < 150; ++i) {
    detectors.observe(session(ip("10.0.0.66"), static_cast<std::uint16_t>(40000 + i),
                              ip("10.0.0.5"), 22, kT0 + i * 300 * kMs),
                      out);
  }
  detectors.flush(out);
  const auto attacks = of_kind(out, kind::kBruteForce);
  ASSERT_EQ(attacks.size(), 3u);  // at 10 sessions, CRITICAL at 100, then the window's summary
  EXPECT_EQ(src_of(attacks[0]), ip("10.0.0.66"));
  EXPECT_EQ(attacks[0].port, 22);
  EXPECT_EQ(attacks[0].threat, Severity::kHigh);
  EXPECT_EQ(attacks[1].threat, Severity::kCritical);
  // 150 sessions 0.3 s apart: the first 60 s window holds 200, all 150 (~45 s).
  EXPECT_EQ(
      attacks[2].description,
      "Brute force suspected: 150 short sessions from 10.0.0.66 to 10.0.0.5:22 (SSH) in 45 s");
}

TEST(HostDetectorRules, GivesWebPortsTheirOwnHigherBruteForceThreshold) {
  Rules detectors;
  std::vector<Evidence> out;
  for (int i = 0; i < 150; ++i) {
    detectors.observe(session(ip("10.0.0.7"), static_cast<std::uint16_t>(40000 + i),
                              ip("93.184.216.34"), 443, kT0 + i * 100 * kMs),
                      out);
  }
  detectors.flush(out);
  EXPECT_TRUE(of_kind(out, kind::kBruteForce).empty());
}

TEST(HostDetectorRules, ReportsAFewSshSessionsWithSeveralPasswordTriesEach) {
  Rules detectors;
  std::vector<Evidence> out;
  // hydra ssh -t 4: 11 connections in 12 s, each trying a few passwords (~35 packets, 6 KB).
  for (int i = 0; i < 11; ++i) {
    auto s = session(ip("10.77.0.69"), static_cast<std::uint16_t>(42000 + i), ip("10.77.0.1"), 22,
                     kT0 + i * 1100 * kMs, 1500);
    s.packet_count = 35;
    s.byte_count = 6000;
    detectors.observe(s, out);
  }
  const auto attacks = of_kind(out, kind::kBruteForce);
  ASSERT_EQ(attacks.size(), 1u);
  EXPECT_EQ(src_of(attacks[0]), ip("10.77.0.69"));
  EXPECT_EQ(attacks[0].port, 22);
}

TEST(HostDetectorRules, ReportsAFastBurstOfWebLoginsThatGetTheSameReply) {
  Rules detectors;
  std::vector<Evidence> out;
  // hydra http-get on basic auth: 80 short connections in 3 s, each answered by the same 401.
  for (int i = 0; i < 80; ++i) {
    auto s = session(ip("10.77.0.69"), static_cast<std::uint16_t>(50000 + i), ip("10.77.0.1"), 80,
                     kT0 + i * 37 * kMs, 133);
    s.cic[static_cast<std::size_t>(flow::CicFeature::kTotalLengthBwd)] = 209;
    detectors.observe(s, out);
  }
  const auto attacks = of_kind(out, kind::kBruteForce);
  ASSERT_EQ(attacks.size(), 1u);
  EXPECT_EQ(src_of(attacks[0]), ip("10.77.0.69"));
  EXPECT_EQ(attacks[0].port, 80);
  EXPECT_NE(attacks[0].description.find("40 short sessions"), std::string::npos)
      << attacks[0].description;
}

TEST(HostDetectorRules, LeavesAFastBurstOfVariedWebDownloadsAlone) {
  Rules detectors;
  std::vector<Evidence> out;
  // The same burst of connections, but pages of many sizes: a client fetching content.
  for (int i = 0; i < 80; ++i) {
    auto s = session(ip("10.77.0.10"), static_cast<std::uint16_t>(50000 + i), ip("10.77.0.1"), 80,
                     kT0 + i * 37 * kMs, 133);
    s.cic[static_cast<std::size_t>(flow::CicFeature::kTotalLengthBwd)] = 300 + 97 * (i % 40);
    detectors.observe(s, out);
  }
  detectors.flush(out);
  EXPECT_TRUE(of_kind(out, kind::kBruteForce).empty()) << out.front().description;
}

TEST(HostDetectorRules, NamesTheSynFlooderAmongServedClients) {
  Rules detectors;
  std::vector<Evidence> out;
  // Clients served on port 80 (complete handshakes), then one host floods it with SYNs.
  for (int i = 0; i < 20; ++i) {
    detectors.observe(
        session(ipv4(10, 77, 0, static_cast<std::uint8_t>(10 + i % 8)),
                static_cast<std::uint16_t>(30000 + i), ip("10.77.0.1"), 80, kT0 + i * kSec),
        out);
  }
  const std::int64_t flood_start = kT0 + 30 * kSec;
  for (int i = 0; i < 500; ++i) {
    detectors.observe(half_open(ip("10.77.0.67"), static_cast<std::uint16_t>(1024 + i),
                                ip("10.77.0.1"), 80, flood_start + i * kMs),
                      out);
  }
  const auto floods = of_kind(out, kind::kSynFlood);
  ASSERT_FALSE(floods.empty());
  EXPECT_EQ(src_of(floods.front()), ip("10.77.0.67"));
  EXPECT_EQ(floods.front().first_ns, flood_start);
  EXPECT_NE(floods.front().description.find("from 10.77.0.67"), std::string::npos)
      << floods.front().description;
}

TEST(HostDetectorRules, ReportsAnUnansweredUdpFloodBelowTheGeneralLimit) {
  Rules detectors;
  std::vector<Evidence> out;
  // hping3 --udp -i u100 at a closed port: every packet from a new source port, none answered,
  // 2,000 packets/s (the general limit is 10,000).
  for (int i = 0; i < 20'000; ++i) {
    detectors.observe(udp_flow(ip("10.77.0.67"), static_cast<std::uint16_t>(1024 + i % 60000),
                               ip("10.77.0.1"), 9999, kT0 + std::int64_t{i} * 500'000, 0, 1),
                      out);
  }
  detectors.flush(out);
  const auto floods = of_kind(out, kind::kUdpFlood);
  ASSERT_FALSE(floods.empty());
  EXPECT_EQ(src_of(floods.front()), ip("10.77.0.67"));
  EXPECT_EQ(dst_of(floods.front()), ip("10.77.0.1"));
}

TEST(HostDetectorRules, LeavesAnsweredUdpAtTheSameRateAlone) {
  Rules detectors;
  std::vector<Evidence> out;
  // A busy resolver's clients: 2,000 one-query flows a second, each answered.
  for (int i = 0; i < 20'000; ++i) {
    detectors.observe(udp_flow(ipv4(10, 1, static_cast<std::uint8_t>(i % 200), 7),
                               static_cast<std::uint16_t>(1024 + i % 60000), ip("10.77.0.1"), 53,
                               kT0 + std::int64_t{i} * 500'000, kMs, 1, /*reply=*/true),
                      out);
  }
  detectors.flush(out);
  EXPECT_TRUE(of_kind(out, kind::kUdpFlood).empty()) << out.front().description;
}

flow::FlowRecord echo_flow(std::uint8_t type, std::int64_t start_ns, std::int64_t duration_ns,
                           std::uint64_t requests) {
  auto r = flow_of(ip("10.77.0.67"), type, ip("10.77.0.1"), 0, 1, start_ns, duration_ns,
                   {{+1, 0, 56}, {-1, 0, 56}});
  r.cic[static_cast<std::size_t>(flow::CicFeature::kIcmpType)] = type;
  r.cic[static_cast<std::size_t>(flow::CicFeature::kTotalFwdPacket)] = double(requests);
  r.cic[static_cast<std::size_t>(flow::CicFeature::kTotalBwdPackets)] = double(requests);
  r.packet_count = 2 * requests;
  return r;
}

TEST(HostDetectorRules, ReportsAnIcmpEchoFlood) {
  Rules detectors;
  std::vector<Evidence> out;
  // hping3 --icmp -i u100: 22,400 echo requests in 8 s, one flow.
  detectors.observe(echo_flow(8, kT0, 8 * kSec, 22'400), out);
  const auto floods = of_kind(out, kind::kIcmpFlood);
  ASSERT_EQ(floods.size(), 1u);
  EXPECT_EQ(src_of(floods[0]), ip("10.77.0.67"));
  EXPECT_EQ(dst_of(floods[0]), ip("10.77.0.1"));
  EXPECT_EQ(floods[0].threat, Severity::kHigh);
  EXPECT_EQ(proto_of(floods[0]), "ICMP");
  EXPECT_NE(floods[0].description.find("2,800 echo requests/s from 10.77.0.67 to 10.77.0.1"),
            std::string::npos)
      << floods[0].description;
}

TEST(HostDetectorRules, LeavesPingsAndIcmpErrorsAlone) {
  Rules detectors;
  std::vector<Evidence> out;
  detectors.observe(echo_flow(8, kT0, 60 * kSec, 60), out);      // ping: 1/s
  detectors.observe(echo_flow(8, kT0, 10 * kSec, 1'000), out);   // ping -f: 100/s
  detectors.observe(echo_flow(3, kT0, 10 * kSec, 29'000), out);  // port unreachable errors
  detectors.flush(out);
  EXPECT_TRUE(of_kind(out, kind::kIcmpFlood).empty()) << out.front().description;
}

TEST(HostDetectorRules, ReportsUdpFloodFromManyFlows) {
  Rules detectors;
  std::vector<Evidence> out;
  // 100 flows of 2,000 packets in 2 s: 100,000 packets/s to one host.
  for (int i = 0; i < 100; ++i) {
    detectors.observe(udp_flow(ipv4(172, 16, 0, static_cast<std::uint8_t>(i)), 5000, ip("10.0.0.5"),
                               9999, kT0, 2 * kSec, 2000),
                      out);
  }
  detectors.flush(out);
  const auto floods = of_kind(out, kind::kUdpFlood);
  ASSERT_FALSE(floods.empty());
  EXPECT_EQ(dst_of(floods.back()), ip("10.0.0.5"));
  EXPECT_EQ(floods.back().threat, Severity::kCritical);
  EXPECT_NE(floods.back().description.find(
                "100,000 packets/s to 10.0.0.5 in 100 flows from many sources"),
            std::string::npos)
      << floods.back().description;
}

TEST(HostDetectorRules, LeavesOneBusyUdpStreamAlone) {
  Rules detectors;
  std::vector<Evidence> out;
  // One video call: a single flow at 50,000 packets/s.
  detectors.observe(
      udp_flow(ip("10.0.0.7"), 5000, ip("10.0.0.5"), 3478, kT0, 10 * kSec, 500'000, true), out);
  detectors.flush(out);
  EXPECT_TRUE(of_kind(out, kind::kUdpFlood).empty());
}

TEST(HostDetectorRules, StaysBoundedUnderAMillionSpoofedSources) {
  HostDetectorOptions options;
  options.max_tracked = 4096;
  Rules detectors(options);
  std::vector<Evidence> out;
  for (std::uint32_t i = 0; i < 1'000'000; ++i) {
    const auto spoofed = ipv4(static_cast<std::uint8_t>(1 + (i >> 16)),
                              static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i), 1);
    detectors.observe(half_open(spoofed, 1024, ip("10.0.0.5"), 80, kT0 + std::int64_t{i} * 50'000),
                      out);
  }
  const DetectorStats stats = detectors.stats();
  // A spoofed source's single probe never takes a scan detector's table entry.
  EXPECT_LE(stats.tracked, 8 * options.max_tracked);
  EXPECT_LE(stats.tracked, 10u);
  const auto floods = of_kind(out, kind::kSynFlood);
  ASSERT_FALSE(floods.empty());
  EXPECT_EQ(dst_of(floods.front()), ip("10.0.0.5"));
  // Escalation only: one HIGH and one CRITICAL per window, not one per flow.
  EXPECT_LE(out.size(), 10u);
}

TEST(HostDetectorRules, RejectsUnusableOptions) {
  HostDetectorOptions options;
  options.syn_flood_ratio = 1.5;
  EXPECT_THROW((void)make_host_detectors(options), core::Error);
  options = {};
  options.window_ns = 0;
  EXPECT_THROW((void)make_host_detectors(options), core::Error);
}

}  // namespace
}  // namespace netsentry::detect

namespace netsentry::detect {
namespace {

using namespace testing;

// A connection to a web server held open for `seconds`, sending `bytes` of header in dribbles.
flow::FlowRecord held_connection(std::uint16_t sport, double seconds, std::uint32_t bytes) {
  auto r = flow_of(ip("10.0.9.68"), sport, ip("10.0.0.5"), 80, 6, kT0 + sport * kMs,
                   static_cast<std::int64_t>(seconds * 1e9),
                   {{+1, kSyn},
                    {-1, static_cast<std::uint8_t>(kSyn | kAck)},
                    {+1, kAck},
                    {+1, static_cast<std::uint8_t>(kPsh | kAck), bytes}});
  return r;
}

TEST(HostDetectorRules, ReportsSlowlorisConnectionsHeldOpenWhileSendingAlmostNothing) {
  Rules detectors;
  std::vector<Evidence> out;
  for (std::uint16_t p = 0; p < 50; ++p) {
    detectors.observe(held_connection(static_cast<std::uint16_t>(40000 + p), 61, 300), out);
  }
  detectors.flush(out);
  const auto slow = of_kind(out, kind::kSlowHttp);
  ASSERT_FALSE(slow.empty());
  EXPECT_EQ(src_of(slow.front()), ip("10.0.9.68"));
  EXPECT_EQ(slow.front().port, 80);
  EXPECT_NE(slow.back().description.find("50 connections from 10.0.9.68 to 10.0.0.5:80"),
            std::string::npos)
      << slow.back().description;
}

TEST(HostDetectorRules, OngoingReportsOfTheSameConnectionCountOnce) {
  Rules detectors;
  std::vector<Evidence> out;
  // Five connections, each reported ten times while open: five, not fifty.
  for (int round = 0; round < 10; ++round) {
    for (std::uint16_t p = 0; p < 5; ++p) {
      detectors.observe_ongoing(held_connection(static_cast<std::uint16_t>(40000 + p), 30, 200),
                                out);
    }
  }
  detectors.flush(out);
  EXPECT_TRUE(of_kind(out, kind::kSlowHttp).empty());
}

TEST(HostDetectorRules, LeavesLongDownloadsAndShortRequestsAlone) {
  Rules detectors;
  std::vector<Evidence> out;
  for (std::uint16_t p = 0; p < 50; ++p) {
    // Long but busy (a big upload), and short with little data (ordinary requests).
    detectors.observe(held_connection(static_cast<std::uint16_t>(40000 + p), 61, 50'000), out);
    detectors.observe(held_connection(static_cast<std::uint16_t>(41000 + p), 2, 300), out);
  }
  detectors.flush(out);
  EXPECT_TRUE(of_kind(out, kind::kSlowHttp).empty());
}

}  // namespace
}  // namespace netsentry::detect
