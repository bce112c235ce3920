// The detectors fed by packet sightings and flow starts: ARP/ND spoofing, DNS tunnelling,
// beaconing, and brute force counted from servers' failed-login replies.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "detect/alert.h"
#include "detect/beacon_detector.h"
#include "detect/brute_force_detector.h"
#include "detect/dns_tunnel_detector.h"
#include "detect/neighbour_spoof_detector.h"
#include "detect/profiles.h"
#include "detect_test_support.h"

namespace netsentry::detect {
namespace {

using namespace testing;  // NOLINT

constexpr net::MacAddress kVictimMac{0x02, 0, 0, 0, 0, 0x0a};
constexpr net::MacAddress kGatewayMac{0x02, 0, 0, 0, 0, 0x01};
constexpr net::MacAddress kAttackerMac{0x02, 0, 0, 0, 0, 0x4b};

net::Sighting binding(net::SightingKind kind, const char* address, net::MacAddress mac,
                      std::int64_t ts) {
  net::Sighting s;
  s.kind = kind;
  s.ts_ns = ts;
  s.ip = ip(address);
  s.sender = s.ip;
  s.mac = mac;
  return s;
}

double weight(const Evidence& e) {
  const double threat[] = {0.25, 0.5, 0.8, 1.0};
  return e.confidence * threat[static_cast<int>(e.threat)];
}

TEST(NeighbourSpoof, AnAttackerClaimingAnotherHostsAddressIsNamedAtOnce) {
  NeighbourSpoofDetector d({});
  std::vector<Evidence> out;
  using K = net::SightingKind;
  d.on_sighting(binding(K::kArpRequest, "10.77.0.10", kVictimMac, kT0), out);
  d.on_sighting(binding(K::kArpReply, "10.77.0.1", kGatewayMac, kT0 + kSec), out);
  d.on_sighting(binding(K::kArpRequest, "10.77.0.75", kAttackerMac, kT0 + 2 * kSec), out);
  // The same bindings again: nothing.
  d.on_sighting(binding(K::kArpReply, "10.77.0.10", kVictimMac, kT0 + 3 * kSec), out);
  EXPECT_TRUE(out.empty());
  d.on_sighting(binding(K::kArpReply, "10.77.0.10", kAttackerMac, kT0 + 4 * kSec), out);
  ASSERT_EQ(out.size(), 1U);
  const Evidence& e = out[0];
  EXPECT_EQ(e.kind, kind::kArpSpoof);
  EXPECT_EQ(e.host.to_string(), "10.77.0.75");
  EXPECT_EQ(e.role, Role::kAttacker);
  EXPECT_EQ(e.peer.to_string(), "10.77.0.10");
  EXPECT_EQ(e.threat, Severity::kHigh);
  EXPECT_GE(weight(e), 0.6) << "an owner claiming another address alerts on its own";
  EXPECT_NE(e.description.find("02:00:00:00:00:4b (10.77.0.75) claims 10.77.0.10"),
            std::string::npos)
      << e.description;
  EXPECT_NE(e.description.find("which is at 02:00:00:00:00:0a"), std::string::npos);
}

TEST(NeighbourSpoof, AnUnknownClaimerAlertsOnlyWhenItsClaimsRepeat) {
  NeighbourSpoofDetector d({});
  std::vector<Evidence> out;
  using K = net::SightingKind;
  d.on_sighting(binding(K::kArpReply, "10.0.0.1", kGatewayMac, kT0), out);
  for (int i = 1; i <= 3; ++i) {
    d.on_sighting(binding(K::kArpReply, "10.0.0.1", kGatewayMac, kT0 + i * kSec), out);
  }
  d.on_sighting(binding(K::kArpReply, "10.0.0.1", kAttackerMac, kT0 + 4 * kSec), out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_LT(weight(out[0]), 0.6) << "one claim by an unknown MAC could be a misconfiguration";
  EXPECT_EQ(out[0].role, Role::kVictim);
  EXPECT_EQ(out[0].host.to_string(), "10.0.0.1");
  d.on_sighting(binding(K::kArpReply, "10.0.0.1", kGatewayMac, kT0 + 5 * kSec), out);
  d.on_sighting(binding(K::kArpReply, "10.0.0.1", kAttackerMac, kT0 + 6 * kSec), out);
  d.on_sighting(binding(K::kArpReply, "10.0.0.1", kAttackerMac, kT0 + 8 * kSec), out);
  ASSERT_EQ(out.size(), 2U);
  EXPECT_GE(weight(out[1]), 0.6);
  EXPECT_EQ(out[1].count, 3U);
}

TEST(NeighbourSpoof, AnAddressWhoseDeviceWentQuietMovesWithoutAnAlert) {
  HostDetectorOptions o;
  NeighbourSpoofDetector d(o);
  std::vector<Evidence> out;
  using K = net::SightingKind;
  d.on_sighting(binding(K::kArpReply, "10.0.0.9", kVictimMac, kT0), out);
  const std::int64_t later = kT0 + o.window_ns + 10 * kSec;
  d.on_sighting(binding(K::kArpReply, "10.0.0.9", kAttackerMac, later), out);
  d.on_sighting(binding(K::kArpReply, "10.0.0.9", kAttackerMac, later + kSec), out);
  d.on_sighting(binding(K::kArpReply, "10.0.0.9", kAttackerMac, later + 2 * kSec), out);
  ASSERT_EQ(out.size(), 1U) << "the address moved: later claims of its new MAC are no conflict";
  EXPECT_LT(weight(out[0]), 0.6);
}

TEST(NeighbourSpoof, TheOwnerTakingItsAddressBackNamesTheMacThatTookIt) {
  HostDetectorOptions o;
  NeighbourSpoofDetector d(o);
  std::vector<Evidence> out;
  using K = net::SightingKind;
  d.on_sighting(binding(K::kArpRequest, "10.77.0.75", kAttackerMac, kT0), out);
  d.on_sighting(binding(K::kArpReply, "10.77.0.1", kGatewayMac, kT0), out);
  // The gateway is quiet for longer than a window; the attacker claims its address, which moves.
  const std::int64_t t = kT0 + o.window_ns + kSec;
  d.on_sighting(binding(K::kArpReply, "10.77.0.1", kAttackerMac, t), out);
  // The gateway answers again: it is the owner, the attacker the suspect.
  d.on_sighting(binding(K::kArpReply, "10.77.0.1", kGatewayMac, t + kSec), out);
  d.on_sighting(binding(K::kArpReply, "10.77.0.1", kAttackerMac, t + 2 * kSec), out);
  ASSERT_FALSE(out.empty());
  for (const Evidence& e : out) {
    EXPECT_EQ(e.host.to_string(), "10.77.0.75") << e.description;
    EXPECT_EQ(e.role, Role::kAttacker);
    EXPECT_NE(e.description.find("02:00:00:00:00:4b (10.77.0.75) claims 10.77.0.1"),
              std::string::npos)
        << e.description;
  }
  EXPECT_EQ(out.back().count, 3U);
}

TEST(NeighbourSpoof, AnAdvertisementForAnotherAddressNamesItsSender) {
  NeighbourSpoofDetector d({});
  std::vector<Evidence> out;
  using K = net::SightingKind;
  d.on_sighting(binding(K::kNeighbourAdvert, "fd77::1", kGatewayMac, kT0), out);
  auto spoof = binding(K::kNeighbourAdvert, "fd77::1", kAttackerMac, kT0 + kSec);
  spoof.sender = ip("fd77::76");
  spoof.override_flag = true;
  d.on_sighting(spoof, out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].kind, kind::kNdSpoof);
  EXPECT_EQ(out[0].host.to_string(), "fd77::76");
  EXPECT_EQ(out[0].role, Role::kAttacker);
  EXPECT_GE(weight(out[0]), 0.6);
  EXPECT_NE(out[0].description.find("sent from fd77::76"), std::string::npos);
}

TEST(NeighbourSpoof, BindingsStayWithinTheirBound) {
  HostDetectorOptions o;
  o.max_tracked = 64;
  NeighbourSpoofDetector d(o);
  std::vector<Evidence> out;
  for (int i = 0; i < 10'000; ++i) {
    net::MacAddress mac{
        0x02, 0, 0, 0, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)};
    d.on_sighting(
        binding(net::SightingKind::kArpReply,
                ("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)).c_str(),
                mac, kT0 + i * kMs),
        out);
  }
  EXPECT_LE(d.stats().tracked, 64U);
  EXPECT_GT(d.stats().evictions, 0U);
  EXPECT_TRUE(out.empty());
}

net::Sighting question(const char* client, const char* server, std::string name, std::int64_t ts) {
  net::Sighting s;
  s.kind = net::SightingKind::kDnsQuery;
  s.ts_ns = ts;
  s.ip = ip(client);
  s.sender = s.ip;
  s.peer = ip(server);
  s.name = std::move(name);
  return s;
}

std::string encoded(int i) {
  static const char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::mt19937 rng(static_cast<unsigned>(i));
  std::string label;
  for (int k = 0; k < 32; ++k) label.push_back(kBase32[rng() % 32]);
  return label + "." + std::to_string(i) + ".t.cdn-sync.net";
}

TEST(DnsTunnel, SplitsNamesIntoDomainAndSubdomain) {
  EXPECT_EQ(split_dns_domain("a.b.example.com").domain, "example.com");
  EXPECT_EQ(split_dns_domain("a.b.example.com").subdomain, "a.b");
  EXPECT_EQ(split_dns_domain("www.example.co.uk").domain, "example.co.uk");
  EXPECT_EQ(split_dns_domain("www.example.co.uk").subdomain, "www");
  EXPECT_EQ(split_dns_domain("example.com").subdomain, "");
  EXPECT_EQ(split_dns_domain("localhost").domain, "localhost");
}

TEST(DnsTunnel, TellsEncodedLabelsFromLongHostNames) {
  // Random base32 labels of 32 characters: the vowel rule misses a few (their letters can look
  // like words by chance; those still count toward the full rule).
  int found = 0;
  for (int i = 0; i < 1000; ++i) found += looks_encoded(encoded(i), 16) ? 1 : 0;
  EXPECT_GE(found, 900);
  // The lab's tunnel (base32 data, a sequence number, a session id) and hex digests.
  EXPECT_TRUE(looks_encoded("x42u35ii7beoqprs54r5gjq4hys3kcyg.0.5fa4.t", 16));
  EXPECT_TRUE(looks_encoded("3f2a9c1e8b7d4f60a1b2c3d4e5f60718", 16));
  EXPECT_TRUE(looks_encoded("Zm9vYmFyMTIzNDU2Nzg5MGFiY2RlZg", 16));  // base64url
  // Host names made of words, with hyphens, without digits, or short labels.
  EXPECT_FALSE(looks_encoded("windowsupdate2019server.eu", 16));
  EXPECT_FALSE(looks_encoded("customer-portal-frontend-eu1.svc", 16));
  EXPECT_FALSE(looks_encoded("internationalbusinessmachines", 16));
  EXPECT_FALSE(looks_encoded("r4---sn-4g5e6nzl", 16));
  EXPECT_FALSE(looks_encoded("00000000000000ab", 16));  // hex letters, but little entropy
  EXPECT_FALSE(looks_encoded("a1b2.c3d4.e5f6", 16));    // no label long enough
  EXPECT_FALSE(looks_encoded("", 16));
}

TEST(DnsTunnel, FourEncodedNamesUnderOneDomainNameTheClient) {
  DnsTunnelDetector d({});
  std::vector<Evidence> out;
  for (int i = 0; i < 3; ++i) {
    d.on_sighting(question("10.77.0.72", "10.77.0.3", encoded(i), kT0 + i * 2 * kSec), out);
  }
  EXPECT_TRUE(out.empty());
  d.on_sighting(question("10.77.0.72", "10.77.0.3", encoded(3), kT0 + 6 * kSec), out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].kind, kind::kDnsTunnel);
  EXPECT_EQ(out[0].host.to_string(), "10.77.0.72");
  EXPECT_EQ(out[0].peer.to_string(), "10.77.0.3");
  EXPECT_GE(weight(out[0]), 0.6);
  EXPECT_NE(out[0].description.find("4 distinct long names under cdn-sync.net in 6 s, 4 of them "
                                    "encoded data"),
            std::string::npos)
      << out[0].description;
  // The resolver forwarding the same questions upstream is not a tunnel of its own.
  std::vector<Evidence> forwarded;
  for (int i = 0; i < 40; ++i) {
    d.on_sighting(question("10.77.0.3", "10.77.0.200", encoded(i), kT0 + 20 * kSec + i * kSec),
                  forwarded);
  }
  EXPECT_TRUE(forwarded.empty());
}

// A tunnel that goes on for minutes is one engaged alert with its final numbers, not one alert
// at the threshold and another when its window closes.
TEST(DnsTunnel, ALongTunnelIsOneAlertWithItsFinalNumbers) {
  DnsTunnelDetector d({});
  Profiles profiles(ProfileOptions{});
  std::vector<Evidence> out;
  std::vector<AlertDelivery> deliveries;
  std::int64_t t = kT0;
  for (int i = 0; i < 40; ++i, t += 2500 * kMs) {  // one name every 2.5 s for 100 s
    d.advance(t, out);
    d.on_sighting(question("10.77.0.72", "10.77.0.3", encoded(i), t), out);
    for (const Evidence& e : out) profiles.add(e, deliveries);
    out.clear();
    profiles.advance(t, deliveries);
  }
  for (; t < kT0 + 900 * kSec; t += kSec) {  // quiet: the window closes, the alert goes past
    d.advance(t, out);
    for (const Evidence& e : out) profiles.add(e, deliveries);
    out.clear();
    profiles.advance(t, deliveries);
  }
  const auto raised = std::count_if(deliveries.begin(), deliveries.end(),
                                    [](const auto& a) { return a.change == AlertChange::kRaised; });
  EXPECT_EQ(raised, 1);
  ASSERT_FALSE(deliveries.empty());
  EXPECT_EQ(deliveries.back().change, AlertChange::kPast);
  EXPECT_NE(deliveries.back().alert.reason.find("40 distinct long names"), std::string::npos)
      << deliveries.back().alert.reason;
}

TEST(DnsTunnel, LongReadableNamesNeedTheFullCount) {
  DnsTunnelDetector d({});
  std::vector<Evidence> out;
  const auto name = [](int i) {
    return "customer-portal-frontend-eu" + std::to_string(i) + ".svc.example.com";
  };
  for (int i = 0; i < 9; ++i) {
    d.on_sighting(question("10.0.0.5", "10.0.0.53", name(i), kT0 + i * kSec), out);
  }
  EXPECT_TRUE(out.empty()) << out.front().description;
  d.on_sighting(question("10.0.0.5", "10.0.0.53", name(9), kT0 + 9 * kSec), out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_NE(out[0].description.find("10 distinct long names under example.com"), std::string::npos)
      << out[0].description;
}

TEST(DnsTunnel, OrdinaryNamesReverseLookupsAndRepeatsNeverCount) {
  DnsTunnelDetector d({});
  std::vector<Evidence> out;
  for (int i = 0; i < 200; ++i) {
    const std::int64_t t = kT0 + i * kSec;
    d.on_sighting(question("10.0.0.5", "10.0.0.53", "www" + std::to_string(i) + ".example.com", t),
                  out);
    d.on_sighting(
        question("10.0.0.5", "10.0.0.53", std::to_string(i % 250) + ".2.0.192.in-addr.arpa", t),
        out);
    d.on_sighting(question("10.0.0.5", "10.0.0.53", encoded(1), t), out);  // one name, asked again
    d.on_sighting(question("10.0.0.5", "10.0.0.53", "r4---sn-4g5e6nzl.googlevideo.com", t), out);
  }
  EXPECT_TRUE(out.empty());
}

flow::FlowEvent start(const char* src, const char* dst, std::uint16_t port, std::int64_t ts,
                      std::uint8_t proto = kTcp) {
  flow::FlowEvent e;
  e.ts_ns = ts;
  e.start_ns = ts;
  e.src = ip(src);
  e.dst = ip(dst);
  e.src_port = static_cast<std::uint16_t>(40000 + (ts / kSec) % 20000);
  e.dst_port = port;
  e.ip_proto = proto;
  e.moment = flow::FlowMoment::kStart;
  e.tcp_flags = proto == kTcp ? kSyn : 0;
  return e;
}

TEST(Beacon, IntervalStatsOfRegularAndJitteredSeries) {
  std::vector<std::int64_t> regular;
  for (int i = 0; i < 10; ++i) regular.push_back(kT0 + i * 15 * kSec);
  const IntervalStats r = interval_stats(regular);
  EXPECT_DOUBLE_EQ(r.median_s, 15);
  EXPECT_DOUBLE_EQ(r.dispersion, 0);
  EXPECT_DOUBLE_EQ(r.spread, 1);
  const std::vector<std::int64_t> irregular = {0,         5 * kSec,   40 * kSec,
                                               47 * kSec, 130 * kSec, 300 * kSec};
  const IntervalStats i = interval_stats(irregular);
  EXPECT_DOUBLE_EQ(i.median_s, 35);
  EXPECT_NEAR(i.dispersion, 30.0 / 35, 1e-9);
  EXPECT_DOUBLE_EQ(i.spread, 170.0 / 5);
}

TEST(Beacon, JitteredCallbacksToARareServerAreEvidenceAfterSixConnections) {
  BeaconDetector d({});
  std::vector<Evidence> out;
  std::mt19937 rng(22);
  std::uniform_real_distribution<double> jitter(0.6, 1.4);  // 15 s +-40 %
  std::int64_t t = kT0;
  for (int i = 0; i < 5; ++i) {
    d.on_flow_event(start("10.77.0.74", "10.77.0.200", 443, t), out);
    t += static_cast<std::int64_t>(15 * jitter(rng) * 1e9);
  }
  EXPECT_TRUE(out.empty());
  d.on_flow_event(start("10.77.0.74", "10.77.0.200", 443, t), out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].kind, kind::kBeacon);
  EXPECT_EQ(out[0].host.to_string(), "10.77.0.74");
  EXPECT_EQ(out[0].peer.to_string(), "10.77.0.200");
  EXPECT_EQ(out[0].threat, Severity::kHigh);
  EXPECT_GE(weight(out[0]), 0.6);
}

TEST(Beacon, HumanPacedVisitsBurstsAndIgnoredPortsAreNotBeacons) {
  BeaconDetector d({});
  std::vector<Evidence> out;
  std::mt19937 rng(7);
  std::exponential_distribution<double> think(1.0 / 20);  // a person: ~20 s, very irregular
  std::int64_t t = kT0;
  for (int i = 0; i < 60; ++i) {
    d.on_flow_event(start("10.0.0.5", "10.0.0.80", 443, t), out);
    // A page opens several connections at once: one burst.
    d.on_flow_event(start("10.0.0.5", "10.0.0.80", 443, t + 50 * kMs), out);
    t += static_cast<std::int64_t>((2.5 + think(rng)) * 1e9);
  }
  for (int i = 0; i < 60; ++i) {
    d.on_flow_event(start("10.0.0.5", "10.0.0.123", 123, kT0 + i * 64 * kSec, kUdp), out);
  }
  EXPECT_TRUE(out.empty()) << out.front().description;
}

TEST(Beacon, AnApplicationPollingItsDatabaseOnATimerIsNoBeacon) {
  // What a benign lab run's app client did: PostgreSQL every 42 s +-12 s. The same schedule to a
  // web port stays evidence.
  for (const std::uint16_t port : {5432, 3306, 6379, 443}) {
    BeaconDetector d({});
    std::vector<Evidence> out;
    std::mt19937 rng(24);
    std::uniform_real_distribution<double> jitter(30, 54);
    std::int64_t t = kT0;
    for (int i = 0; i < 12; ++i) {
      d.on_flow_event(start("10.77.0.16", "10.77.0.2", port, t), out);
      t += static_cast<std::int64_t>(jitter(rng) * 1e9);
    }
    EXPECT_EQ(out.empty(), port != 443) << port;
  }
}

TEST(Beacon, AScriptedDownloadOnScheduleIsNoBeacon) {
  BeaconDetector d({});
  std::vector<Evidence> out;
  for (int i = 0; i < 10; ++i) {
    const std::int64_t t = kT0 + i * 46 * kSec;
    d.on_flow_event(start("192.0.2.2", "203.0.113.80", 80, t), out);
    auto r = flow_of(ip("192.0.2.2"), static_cast<std::uint16_t>(40000 + (t / kSec) % 20000),
                     ip("203.0.113.80"), 80, kTcp, t, 5 * kSec, {{+1, kSyn, 0}});
    r.byte_count = 80'000'000;  // an 80 MB package each time
    d.on_flow_finished(r, out);
  }
  EXPECT_TRUE(out.empty()) << out.front().description;
}

TEST(Beacon, APopularServerPolledOnScheduleIsNoEvidence) {
  BeaconDetector d({});
  std::vector<Evidence> out;
  for (int i = 0; i < 8; ++i) {
    for (int c = 0; c < 5; ++c) {
      const std::string client = "10.0.0." + std::to_string(10 + c);
      d.on_flow_event(start(client.c_str(), "10.0.0.80", 8443, kT0 + i * 30 * kSec + c * kSec),
                      out);
    }
  }
  EXPECT_TRUE(out.empty()) << out.front().description;
  // The same schedule from one host to a server nobody else uses is.
  for (int i = 0; i < 8; ++i) {
    d.on_flow_event(start("10.0.0.10", "10.0.0.99", 8443, kT0 + i * 30 * kSec), out);
  }
  ASSERT_EQ(out.size(), 3U);  // from the 6th callback on, one per callback
  EXPECT_EQ(out[0].host.to_string(), "10.0.0.10");
}

// A beacon whose interval is longer than the profiles' quiet time stays one engaged alert while
// its schedule goes on (each callback expects the next), and goes past once it stops.
TEST(Beacon, AScheduleLongerThanTheQuietTimeIsOneEngagedAlert) {
  BeaconDetector d({});
  Profiles profiles(ProfileOptions{});
  std::vector<Evidence> out;
  std::vector<AlertDelivery> deliveries;
  constexpr std::int64_t kInterval = 150 * kSec;  // longer than the 120 s quiet time
  constexpr int kCallbacks = 20;
  for (int i = 0; i < kCallbacks; ++i) {
    const std::int64_t t = kT0 + i * kInterval;
    for (std::int64_t s = t - kInterval + 10 * kSec; i > 0 && s < t; s += 10 * kSec) {
      profiles.advance(s, deliveries);
    }
    out.clear();
    d.on_flow_event(start("10.77.0.74", "10.77.0.200", 8080, t), out);
    for (const Evidence& e : out) profiles.add(e, deliveries);
  }
  const auto count = [&](AlertChange change) {
    return std::count_if(deliveries.begin(), deliveries.end(),
                         [&](const AlertDelivery& a) { return a.change == change; });
  };
  const std::int64_t last = kT0 + (kCallbacks - 1) * kInterval;
  profiles.advance(last + 2 * kSec, deliveries);  // the last callback's update is due
  EXPECT_EQ(count(AlertChange::kRaised), 1);
  EXPECT_EQ(count(AlertChange::kPast), 0);
  ASSERT_FALSE(deliveries.empty());
  // Its "why" follows the schedule: the newest callback's description.
  EXPECT_NE(deliveries.back().alert.reason.find("20 times"), std::string::npos)
      << deliveries.back().alert.reason;
  // The schedule stops: past once the expected next callback does not come.
  profiles.advance(last + 2 * kInterval - kSec, deliveries);
  EXPECT_EQ(count(AlertChange::kPast), 0);
  profiles.advance(last + 2 * kInterval + kSec, deliveries);
  EXPECT_EQ(count(AlertChange::kPast), 1);
}

net::Sighting failed_login(std::int64_t ts) {
  net::Sighting s;
  s.kind = net::SightingKind::kLoginFailure;
  s.ts_ns = ts;
  s.ip = ip("10.77.0.69");
  s.peer = ip("10.77.0.1");
  s.sender = s.peer;
  s.dst_port = 21;
  s.src_port = 48348;
  return s;
}

TEST(BruteForceFailures, FailedLoginsOnOneConnectionCountLikeSessions) {
  BruteForceDetector d({});
  std::vector<Evidence> out;
  for (int i = 0; i < 9; ++i) d.on_sighting(failed_login(kT0 + i * 300 * kMs), out);
  EXPECT_TRUE(out.empty());
  d.on_sighting(failed_login(kT0 + 3 * kSec), out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].kind, kind::kBruteForce);
  EXPECT_EQ(out[0].host.to_string(), "10.77.0.69");
  EXPECT_EQ(out[0].port, 21);
  EXPECT_NE(out[0].description.find("10 failed logins from 10.77.0.69 to 10.77.0.1:21 (FTP)"),
            std::string::npos)
      << out[0].description;
}

}  // namespace
}  // namespace netsentry::detect
