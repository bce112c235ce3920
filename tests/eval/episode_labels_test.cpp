#include "eval/episode_labels.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace netsentry::eval {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kT0 = 1'767'225'600LL * kSecond;  // 2026-01-01T00:00:00Z

const char* const kLabels =
    "kind,src,dst,start,end,tool,description\n"
    "port_scan,10.77.0.66,10.77.0.1,1767225660.000000,1767225661.004779,nmap,SYN scan (nmap -sS)\n"
    "host_scan,10.77.0.66,,1767225700.000000,1767225701.159024,nmap,\"ping sweep, 10.77.1.0/24\"\n"
    "syn_flood,198.18.0.0/15,10.77.0.1,1767225750.000000,1767225760.000425,hping3,spoofed\n";

net::IpAddress ip(const char* text) {
  net::IpAddress out;
  EXPECT_TRUE(net::IpAddress::parse(text, out)) << text;
  return out;
}

flow::FlowRecord flow_between(const char* a, const char* b, double start_s, double end_s) {
  flow::FlowRecord f;
  f.src_ip = ip(a);
  f.dst_ip = ip(b);
  f.start_ns = kT0 + static_cast<std::int64_t>(start_s * 1e9);
  f.end_ns = kT0 + static_cast<std::int64_t>(end_s * 1e9);
  return f;
}

detect::Alert alert(const char* kind, const char* src, const char* dst, double time_s) {
  detect::Alert a;
  a.kind = kind;
  if (*src) a.src_ip = ip(src);
  if (*dst) a.dst_ip = ip(dst);
  a.time_ns = a.last_ns = kT0 + static_cast<std::int64_t>(time_s * 1e9);
  return a;
}

std::string error_of(const std::string& text) {
  try {
    (void)EpisodeLabels::parse(text, "labels.csv");
  } catch (const core::Error& e) {
    return e.what();
  }
  return "no error";
}

const std::string kHeader = "kind,src,dst,start,end,tool,description\n";

TEST(EpisodeLabels, ParsesTheLabsFileWithQuotedFieldsAndAPrefixSource) {
  const auto labels = EpisodeLabels::parse(kLabels, "labels.csv");
  ASSERT_EQ(labels.size(), 3u);
  const Episode& scan = labels.episodes()[0];
  EXPECT_EQ(scan.kind, "port_scan");
  EXPECT_EQ(scan.start_ns, kT0 + 60 * kSecond);
  EXPECT_EQ(scan.end_ns, kT0 + 61 * kSecond + 4'779'000);
  EXPECT_FALSE(scan.src_is_prefix());
  EXPECT_EQ(labels.episodes()[1].description, "ping sweep, 10.77.1.0/24");
  EXPECT_FALSE(labels.episodes()[1].dst.has_value());
  EXPECT_TRUE(labels.episodes()[2].src_is_prefix());
  EXPECT_EQ(labels.episodes()[2].line, 4u);
}

TEST(EpisodeLabels, SortsEpisodesByStartAndAcceptsCrlfAndBlankLines) {
  const auto labels = EpisodeLabels::parse(
      "kind,src,dst,start,end\r\nudp_flood,10.0.0.2,10.0.0.1,200,210\r\n\r\n"
      "port_scan,10.0.0.3,10.0.0.1,100,110\r\n",
      "l.csv");
  ASSERT_EQ(labels.size(), 2u);
  EXPECT_EQ(labels.episodes()[0].kind, "port_scan");
  EXPECT_EQ(labels.episodes()[1].kind, "udp_flood");
  EXPECT_TRUE(labels.episodes()[0].tool.empty());
}

TEST(EpisodeLabels, FlowFromInsideThePrefixToTheVictimBelongsToTheEpisode) {
  const auto labels = EpisodeLabels::parse(kLabels, "labels.csv");
  EXPECT_EQ(labels.flow_label(flow_between("198.19.200.7", "10.77.0.1", 152, 152.5)), "syn_flood");
  // The reply direction (victim first) is the same flow.
  EXPECT_EQ(labels.flow_label(flow_between("10.77.0.1", "198.18.0.9", 152, 152.5)), "syn_flood");
  // Outside the /15, or to another host: benign.
  EXPECT_EQ(labels.flow_label(flow_between("198.20.0.1", "10.77.0.1", 152, 152.5)), "BENIGN");
  EXPECT_EQ(labels.flow_label(flow_between("198.18.0.1", "10.77.0.2", 152, 152.5)), "BENIGN");
}

TEST(EpisodeLabels, EmptyDstMatchesAnyHostButOnlyFromTheSource) {
  const auto labels = EpisodeLabels::parse(kLabels, "labels.csv");
  EXPECT_EQ(labels.flow_label(flow_between("10.77.0.66", "10.77.1.200", 100.2, 100.3)),
            "host_scan");
  EXPECT_EQ(labels.flow_label(flow_between("10.77.1.3", "10.77.0.66", 100.2, 100.3)), "host_scan");
  EXPECT_EQ(labels.flow_label(flow_between("10.77.0.10", "10.77.1.200", 100.2, 100.3)), "BENIGN");
}

TEST(EpisodeLabels, FlowOverlapsTheWindowWidenedByOneSecondInclusive) {
  const auto labels = EpisodeLabels::parse(
      kHeader + "port_scan,10.0.0.66,10.0.0.1,1767225700,1767225710,nmap,x\n", "l.csv");
  const auto label = [&](double start, double end) {
    return std::string(labels.flow_label(flow_between("10.0.0.66", "10.0.0.1", start, end)));
  };
  EXPECT_EQ(label(90, 99), "port_scan");     // ends exactly at start - 1 s
  EXPECT_EQ(label(90, 98.999), "BENIGN");    // ends just before
  EXPECT_EQ(label(111, 120), "port_scan");   // starts exactly at end + 1 s
  EXPECT_EQ(label(111.001, 120), "BENIGN");  // starts just after
  EXPECT_EQ(label(50, 200), "port_scan");    // spans the whole episode
  EXPECT_EQ(label(105, 105), "port_scan");   // one packet inside
}

TEST(EpisodeLabels, TheEarliestOfTwoMatchingEpisodesWins) {
  const auto labels = EpisodeLabels::parse(kHeader +
                                               "exfiltration,10.0.0.70,10.0.0.1,1767225700,"
                                               "1767226000,py,x\n"
                                               "brute_force,10.0.0.70,10.0.0.1,1767225800,"
                                               "1767225820,hydra,x\n",
                                           "l.csv");
  EXPECT_EQ(labels.flow_label(flow_between("10.0.0.70", "10.0.0.1", 210, 211)), "exfiltration");
  const auto i = labels.match_flow(flow_between("10.0.0.70", "10.0.0.1", 210, 211));
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(*i, 0u);
}

TEST(EpisodeLabels, ErrorsNameFileLineAndColumn) {
  EXPECT_EQ(error_of(kHeader + "port_scan,10.0.0.300,10.0.0.1,1,2,t,d\n"),
            "labels.csv:2:11: src \"10.0.0.300\" is not an address or CIDR prefix");
  EXPECT_EQ(error_of(kHeader + "port_scan,10.0.0.0/33,,1,2,t,d\n"),
            "labels.csv:2:11: src \"10.0.0.0/33\" is not an address or CIDR prefix");
  EXPECT_EQ(error_of(kHeader + "port_scan,10.0.0.1,host,1,2,t,d\n"),
            "labels.csv:2:20: dst \"host\" is not an address (leave it empty when the attack "
            "targets many hosts)");
  EXPECT_EQ(error_of(kHeader + "a,10.0.0.1,,1,2,t,d\nb,10.0.0.1,,abc,2,t,d\n"),
            "labels.csv:3:13: start \"abc\" is not a time in epoch seconds");
  EXPECT_EQ(error_of(kHeader + "a,10.0.0.1,,5,2,t,d\n"),
            "labels.csv:2:15: end 2 is before start 5");
  EXPECT_EQ(error_of(kHeader + "BENIGN,10.0.0.1,,1,2,t,d\n"),
            "labels.csv:2:1: kind \"BENIGN\" names normal traffic, not an attack");
  EXPECT_EQ(error_of(kHeader + "a b,10.0.0.1,,1,2,t,d\n"),
            "labels.csv:2:1: kind \"a b\" is not a name (letters, digits, '_', '-', '.')");
  EXPECT_EQ(error_of("kind,src,start,end\n"),
            "labels.csv:1:1: no \"dst\" column in the header (expected "
            "kind,src,dst,start,end,tool,description)");
  EXPECT_EQ(error_of(""),
            "labels.csv:1:1: empty file; expected the header kind,src,dst,start,end,tool,"
            "description");
  EXPECT_EQ(error_of(kHeader + "a,10.0.0.1,,1,2,t,\"open\n"),
            "labels.csv:2:19: quoted field is not closed");
  EXPECT_EQ(error_of(kHeader + "a,10.0.0.1\n"),
            "labels.csv:2:11: missing the \"dst\" field (2 fields, header has more)");
}

TEST(EpisodeLabels, LoadReadsAFileAndNamesAMissingOne) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "ns_episode_labels";
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / "labels.csv") << kLabels; }
  EXPECT_EQ(EpisodeLabels::load(dir / "labels.csv").size(), 3u);
  try {
    (void)EpisodeLabels::load(dir / "missing.csv");
    FAIL() << "no error";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.csv"), std::string::npos) << e.what();
  }
}

TEST(EpisodeLabels, AlertIsAttributedByEitherAddressWithinStartMinusOneToEndPlusSixty) {
  const auto labels = EpisodeLabels::parse(
      kHeader + "brute_force,10.0.0.69,10.0.0.1,1767225700,1767225710,hydra,x\n", "l.csv");
  const Episode& e = labels.episodes()[0];
  EXPECT_EQ(match_alert(e, alert("brute_force", "10.0.0.69", "10.0.0.1", 99)),
            AlertMatch::kAttributed);
  EXPECT_EQ(match_alert(e, alert("brute_force", "10.0.0.69", "10.0.0.1", 98.9)), AlertMatch::kNone);
  EXPECT_EQ(match_alert(e, alert("flow_anomaly", "10.0.0.1", "10.0.0.69", 170)),
            AlertMatch::kAttributed);
  EXPECT_EQ(match_alert(e, alert("flow_anomaly", "10.0.0.1", "10.0.0.69", 170.1)),
            AlertMatch::kNone);
  EXPECT_EQ(match_alert(e, alert("brute_force", "10.0.0.10", "10.0.0.1", 105)), AlertMatch::kNone);
  // No source on a single-host episode: not attributed to it.
  EXPECT_EQ(match_alert(e, alert("syn_flood", "", "10.0.0.1", 105)), AlertMatch::kNone);
}

TEST(EpisodeLabels, SourcelessAlertOnTheVictimIsAttributedToAPrefixEpisode) {
  const auto labels = EpisodeLabels::parse(kLabels, "labels.csv");
  const auto i = labels.attribute_alert(alert("syn_flood", "", "10.77.0.1", 150.2));
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(labels.episodes()[*i].kind, "syn_flood");
  EXPECT_FALSE(labels.attribute_alert(alert("syn_flood", "", "10.77.0.2", 150.2)).has_value());
}

TEST(EpisodeLabels, AddressLessAlertOnlyCoincidesInsideTheTightWindow) {
  const auto labels = EpisodeLabels::parse(kLabels, "labels.csv");
  const Episode& flood = labels.episodes()[2];
  EXPECT_EQ(match_alert(flood, alert("volume", "", "", 155)), AlertMatch::kCoinciding);
  EXPECT_EQ(match_alert(flood, alert("volume", "", "", 161.5)), AlertMatch::kNone);
  EXPECT_FALSE(labels.attribute_alert(alert("volume", "", "", 155)).has_value());
}

TEST(EpisodeLabels, AnAlertGoesToTheEpisodeOfItsKindFirstThenTheOneHoldingIt) {
  const auto labels = EpisodeLabels::parse(kLabels, "labels.csv");
  // 100.5 s is inside both the port scan's lag (until 121 s) and the host scan's window.
  const auto host = labels.attribute_alert(alert("host_scan", "10.77.0.66", "", 100.5));
  ASSERT_TRUE(host.has_value());
  EXPECT_EQ(labels.episodes()[*host].kind, "host_scan");
  const auto port = labels.attribute_alert(alert("port_scan", "10.77.0.66", "10.77.0.1", 100.5));
  ASSERT_TRUE(port.has_value());
  EXPECT_EQ(labels.episodes()[*port].kind, "port_scan");
  // Another kind: the episode whose own window holds the alert.
  const auto other = labels.attribute_alert(alert("flow_anomaly", "10.77.0.66", "", 100.5));
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(labels.episodes()[*other].kind, "host_scan");
}

}  // namespace
}  // namespace netsentry::eval
