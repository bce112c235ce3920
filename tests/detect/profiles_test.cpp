#include "detect/profiles.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "detect/alert.h"
#include "detect/detect_test_support.h"

namespace netsentry::detect {
namespace {

using namespace testing;  // NOLINT

// One anomalous flow of `host`: ML evidence (threat MEDIUM) with its own subject.
Evidence ml(const char* host, std::int64_t t, double confidence, std::uint64_t flow) {
  Evidence e;
  e.time_ns = t;
  e.host = ip(host);
  e.peer = ip("10.0.0.5");
  e.port = 443;
  e.ip_proto = 6;
  e.kind = std::string(kind::kFlowAnomaly);
  e.detector = "flow_scorer";
  e.confidence = confidence;
  e.threat = Severity::kMedium;
  e.subject = flow;
  e.description = "Unusual TCP flow";
  return e;
}

// A rule detector crossing its threshold (confidence 0.8, HIGH) about `host`.
Evidence scan(const char* host, std::int64_t t, Severity threat = Severity::kHigh,
              double confidence = 0.8) {
  Evidence e;
  e.time_ns = t;
  e.first_ns = t - kSec;
  e.host = ip(host);
  e.peer = ip("10.0.0.5");
  e.ip_proto = 6;
  e.kind = std::string(kind::kPortScan);
  e.detector = "port_scan";
  e.confidence = confidence;
  e.threat = threat;
  e.subject = 42;
  e.count = 100;
  e.description = "Port scan suspected: 100 ports";
  return e;
}

// The original's volume rule about `interface` (LOW, decisive: an alert on its own).
Evidence volume(const char* interface, std::int64_t t) {
  Evidence e;
  e.time_ns = t;
  e.interface = interface;
  e.kind = std::string(kind::kVolume);
  e.detector = "volume";
  e.threat = Severity::kLow;
  e.confidence = 1;
  e.decisive = true;
  e.subject = 9;
  e.description = std::string("Traffic 9.3 MB/s on ") + interface + " exceeds the 100 kB/s limit";
  return e;
}

TEST(Profiles, OneMildlyUnusualFlowNeverAlertsAlone) {
  Profiles profiles;
  std::vector<AlertDelivery> out;
  profiles.add(ml("10.0.0.7", kT0, 0.3, 1), out);
  profiles.advance(kT0 + 10 * kSec, out);
  EXPECT_TRUE(out.empty());
  // Not even the strongest single flow: ML evidence weighs at most 0.5.
  profiles.add(ml("10.0.0.8", kT0, 1.0, 2), out);
  EXPECT_TRUE(out.empty());
  const auto risks = profiles.riskiest(10);
  ASSERT_EQ(risks.size(), 2u);
  EXPECT_EQ(risks[0].host, ip("10.0.0.8"));
  EXPECT_LT(risks[0].score, 1.0);
}

TEST(Profiles, AHostWhoseFlowsAreConsistentlyAnomalousAlerts) {
  Profiles profiles;
  std::vector<AlertDelivery> out;
  int n = 0;
  while (out.empty() && n < 100) {
    profiles.add(ml("10.0.0.7", kT0 + n * kSec, 0.4, 100 + n), out);
    ++n;
  }
  ASSERT_EQ(out.size(), 1u);
  EXPECT_GT(n, 2);  // not one flow, but a handful
  EXPECT_LT(n, 10);
  const Alert& a = out[0].alert;
  EXPECT_EQ(out[0].change, AlertChange::kRaised);
  EXPECT_EQ(a.kind, kind::kFlowAnomaly);
  EXPECT_EQ(a.severity, Severity::kMedium);
  EXPECT_EQ(a.host, ip("10.0.0.7"));
  EXPECT_EQ(a.src_ip, ip("10.0.0.7"));
  EXPECT_EQ(a.state, AlertState::kEngaged);
  EXPECT_GE(a.score, 1.0f);
  EXPECT_EQ(a.count, static_cast<std::uint64_t>(n));
  EXPECT_EQ(a.evidence.size(), static_cast<std::size_t>(n));
}

TEST(Profiles, ARuleDetectorCrossingItsThresholdAlertsAtOnce) {
  Profiles profiles(ProfileOptions{}, 7);
  std::vector<AlertDelivery> out;
  profiles.add(scan("10.0.0.66", kT0), out);
  ASSERT_EQ(out.size(), 1u);
  const Alert& a = out[0].alert;
  EXPECT_EQ(a.id, 7);
  EXPECT_EQ(a.severity, Severity::kHigh);
  EXPECT_EQ(a.kind, kind::kPortScan);
  EXPECT_EQ(a.time_ns, kT0 - kSec);  // the evidence's first event
  EXPECT_EQ(a.last_ns, kT0);
  EXPECT_EQ(a.reason, "Port scan suspected: 100 ports");
  EXPECT_EQ(a.dst_ip, ip("10.0.0.5"));
  EXPECT_EQ(a.revision, 0u);
  EXPECT_EQ(profiles.next_alert_id(), 8);
  EXPECT_TRUE(profiles.engaged(ip("10.0.0.66")));
}

TEST(Profiles, AVictimsAlertNamesItAsDestination) {
  Profiles profiles;
  std::vector<AlertDelivery> out;
  Evidence e = scan("10.0.0.5", kT0);
  e.kind = std::string(kind::kSynFlood);
  e.role = Role::kVictim;
  e.peer = {};
  e.port = 80;
  profiles.add(e, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert.dst_ip, ip("10.0.0.5"));
  EXPECT_EQ(out[0].alert.src_ip.family, 0);
  EXPECT_EQ(out[0].alert.dst_port, 80);
  EXPECT_EQ(out[0].alert.role, Role::kVictim);
}

TEST(Profiles, EngagedAlertKeepsItsIdUpdatesAtMostOncePerIntervalAndEscalatesAtOnce) {
  Profiles profiles;
  std::vector<AlertDelivery> out;
  profiles.add(scan("10.0.0.66", kT0), out);
  ASSERT_EQ(out.size(), 1u);
  const std::int64_t id = out[0].alert.id;
  out.clear();
  for (int i = 1; i <= 20; ++i) {
    profiles.add(ml("10.0.0.66", kT0 + i * 100 * kMs, 0.5, 1000 + i), out);
  }
  EXPECT_TRUE(out.empty());  // updates wait for advance()
  profiles.advance(kT0 + 2 * kSec, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].change, AlertChange::kUpdated);
  EXPECT_EQ(out[0].alert.id, id);
  EXPECT_EQ(out[0].alert.count, 21u);
  EXPECT_EQ(out[0].alert.revision, 1u);
  out.clear();
  profiles.advance(kT0 + 2500 * kMs, out);
  EXPECT_TRUE(out.empty());  // nothing new
  profiles.add(scan("10.0.0.66", kT0 + 3 * kSec, Severity::kCritical, 1.0), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].change, AlertChange::kEscalated);
  EXPECT_EQ(out[0].alert.severity, Severity::kCritical);
  EXPECT_EQ(out[0].alert.id, id);
  // The scan's later summary replaced its earlier piece (same detector and subject).
  std::size_t scans = 0;
  for (const Evidence& e : out[0].alert.evidence) scans += e.kind == kind::kPortScan ? 1 : 0;
  EXPECT_EQ(scans, 1u);
  EXPECT_EQ(out[0].alert.kind, kind::kPortScan);  // the most severe evidence leads
}

TEST(Profiles, AQuietHostsAlertGoesPastAndNewEvidenceRaisesANewOne) {
  ProfileOptions options;
  options.quiet_ns = 30 * kSec;
  Profiles profiles(options);
  std::vector<AlertDelivery> out;
  profiles.add(scan("10.0.0.66", kT0), out);
  const std::int64_t first = out[0].alert.id;
  out.clear();
  profiles.advance(kT0 + 29 * kSec, out);
  EXPECT_TRUE(out.empty());
  profiles.advance(kT0 + 30 * kSec, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].change, AlertChange::kPast);
  EXPECT_EQ(out[0].alert.state, AlertState::kPast);
  EXPECT_EQ(out[0].alert.id, first);
  EXPECT_FALSE(profiles.engaged(ip("10.0.0.66")));
  // The host's row still leads to the alert it had.
  auto risks = profiles.riskiest(1);
  ASSERT_EQ(risks.size(), 1u);
  EXPECT_EQ(risks[0].alert_id, 0);
  EXPECT_EQ(risks[0].past_alert_id, first);
  out.clear();
  // A late verdict about what happened before the alert went past folds in quietly.
  profiles.add(ml("10.0.0.66", kT0 - kSec, 1.0, 77), out);
  EXPECT_TRUE(out.empty());
  Evidence again = scan("10.0.0.66", kT0 + 40 * kSec);
  again.subject = 43;
  profiles.add(again, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].change, AlertChange::kRaised);
  EXPECT_EQ(out[0].alert.id, first + 1);
  risks = profiles.riskiest(1);
  EXPECT_EQ(risks[0].alert_id, first + 1);
  EXPECT_EQ(risks[0].past_alert_id, 0);  // the engaged one is the one to show
  // The new alert begins with its own evidence (a second before it), not with the past one's.
  EXPECT_EQ(out[0].alert.time_ns, kT0 + 39 * kSec);
}

TEST(Profiles, AnAlertRaisedAgainByTheSameEvidenceBeginsWithIt) {
  // The original's volume rule on one interface: 43 MB/s for a few seconds (an alert that goes
  // past), then 4 minutes later, within the profile's window, 1.7 MB/s (another alert). The
  // second alert's time is the second's, not the first burst's (the live run showed 07:05:34
  // for an alert about 07:09:52).
  ProfileOptions options;
  options.quiet_ns = 30 * kSec;
  Profiles profiles(options);
  std::vector<AlertDelivery> out;
  Evidence e = volume("total", kT0);
  profiles.add(e, out);
  e.time_ns = kT0 + 6 * kSec;
  profiles.add(e, out);
  profiles.advance(kT0 + 40 * kSec, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].change, AlertChange::kPast);
  out.clear();
  e.time_ns = kT0 + 258 * kSec;
  profiles.add(e, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].change, AlertChange::kRaised);
  EXPECT_EQ(out[0].alert.time_ns, kT0 + 258 * kSec);
  EXPECT_EQ(out[0].alert.last_ns, kT0 + 258 * kSec);
}

TEST(Profiles, DecisiveEvidenceAlertsOnItsOwnAboutAnInterface) {
  Profiles profiles;
  std::vector<AlertDelivery> out;
  Evidence e = volume("eth0", kT0);
  profiles.add(e, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].alert.severity, Severity::kLow);
  EXPECT_EQ(out[0].alert.interface, "eth0");
  EXPECT_EQ(out[0].alert.host.family, 0);
  out.clear();
  e.time_ns += kSec;
  profiles.add(e, out);  // the next second above the limit: the same alert
  EXPECT_TRUE(out.empty());
}

TEST(Profiles, EvidenceLeavesTheScoreAfterTheWindow) {
  ProfileOptions options;
  options.window_ns = 60 * kSec;
  Profiles profiles(options);
  std::vector<AlertDelivery> out;
  profiles.add(ml("10.0.0.7", kT0, 1.0, 1), out);
  profiles.add(ml("10.0.0.7", kT0 + 61 * kSec, 1.0, 2), out);
  EXPECT_TRUE(out.empty());  // two strong flows, but not within one window
  profiles.add(ml("10.0.0.7", kT0 + 62 * kSec, 1.0, 3), out);
  EXPECT_EQ(out.size(), 1u);
}

TEST(Profiles, StaysBoundedUnderAMillionHostsWithEvidence) {
  ProfileOptions options;
  options.max_hosts = 1000;
  Profiles profiles(options);
  std::vector<AlertDelivery> out;
  for (std::uint32_t i = 0; i < 1'000'000; ++i) {
    const auto host = ipv4(static_cast<std::uint8_t>(1 + (i >> 16)),
                           static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i), 1);
    Evidence e = ml("10.0.0.1", kT0 + i * 1000, 0.3, i);
    e.host = host;
    profiles.add(e, out);
  }
  EXPECT_LE(profiles.stats().hosts, 1000u);
  EXPECT_EQ(profiles.stats().evictions, 999'000u);
  EXPECT_TRUE(out.empty());
}

// A flood of spoofed sources, each with a little evidence, fills the profiles: the victim whose
// alert is engaged keeps it (the profiles without an alert make room).
TEST(Profiles, SpoofedSourcesDoNotPushOutAnEngagedAlert) {
  ProfileOptions options;
  options.max_hosts = 100;
  Profiles profiles(options);
  std::vector<AlertDelivery> out;
  profiles.add(scan("10.0.0.1", kT0), out);  // the victim's alert, engaged
  ASSERT_EQ(out.size(), 1u);
  for (std::uint32_t i = 0; i < 10'000; ++i) {
    Evidence e = ml("10.0.0.1", kT0 + i * 1000, 0.3, i);
    e.host = ipv4(172, 16, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i));
    profiles.add(e, out);
  }
  EXPECT_EQ(out.size(), 1u) << "no past delivery for the victim's alert";
  EXPECT_TRUE(profiles.engaged(ip("10.0.0.1")));
  EXPECT_LE(profiles.stats().hosts, 100u);
  EXPECT_EQ(profiles.stats().evictions, 10'000u - 99u);
}

TEST(Profiles, ManyPiecesOfOneHostMergeWithinTheBound) {
  ProfileOptions options;
  options.max_items = 4;
  Profiles profiles(options);
  std::vector<AlertDelivery> out;
  for (int i = 0; i < 100; ++i) profiles.add(ml("10.0.0.7", kT0 + i, 0.05, i + 1), out);
  ASSERT_EQ(out.size(), 1u);  // 100 faint pieces still add up
  const auto risks = profiles.riskiest(1);
  ASSERT_EQ(risks.size(), 1u);
  EXPECT_LE(risks[0].evidence.size(), 4u);
  std::uint64_t counted = 0;
  for (const Evidence& e : risks[0].evidence) counted += e.count;
  EXPECT_EQ(counted, 100u);
}

TEST(Profiles, TheSameEvidenceGivesTheSameDeliveries) {
  const auto run = [] {
    Profiles profiles;
    std::vector<AlertDelivery> out;
    for (int i = 0; i < 200; ++i) {
      const char* host = i % 3 == 0 ? "10.0.0.66" : i % 3 == 1 ? "10.0.0.67" : "10.0.0.68";
      profiles.add(ml(host, kT0 + i * 50 * kMs, 0.2 + 0.004 * i, i + 1), out);
      if (i % 10 == 0) profiles.advance(kT0 + i * 50 * kMs, out);
    }
    profiles.advance(kT0 + 1000 * kSec, out);
    std::vector<std::tuple<std::int64_t, int, std::uint64_t, float>> seen;
    for (const auto& d : out) {
      seen.emplace_back(d.alert.id, static_cast<int>(d.change), d.alert.count, d.alert.score);
    }
    return seen;
  };
  EXPECT_EQ(run(), run());
}

TEST(Profiles, RejectsUnusableOptions) {
  ProfileOptions options;
  options.alert_threshold = 0;
  EXPECT_THROW(Profiles{options}, core::Error);
  options = {};
  options.max_hosts = 0;
  EXPECT_THROW(Profiles{options}, core::Error);
}

}  // namespace
}  // namespace netsentry::detect
