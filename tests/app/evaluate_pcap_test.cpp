#include "app/evaluate_pcap.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "eval/lab_labels_fixture.h"

namespace netsentry::app {
namespace {

namespace fs = std::filesystem;
using eval::PcapEvaluation;
using eval::test_support::ip;
using eval::test_support::kLabels;
using eval::test_support::kSecond;
using eval::test_support::kT0;

// --- evaluate_pcap on a capture written here: a SYN scan of 150 ports plus answered DNS.

void put16(std::string& out, unsigned v) {
  out += static_cast<char>((v >> 8) & 0xFF);
  out += static_cast<char>(v & 0xFF);
}

std::string frame(const char* src, const char* dst, std::uint8_t proto, std::uint16_t sport,
                  std::uint16_t dport, std::uint8_t tcp_flags) {
  std::string l4;
  if (proto == 6) {
    put16(l4, sport);
    put16(l4, dport);
    l4 += std::string("\0\0\0\1\0\0\0\0", 8);  // seq 1, ack 0
    l4 += static_cast<char>(5 << 4);
    l4 += static_cast<char>(tcp_flags);
    put16(l4, 29200);
    put16(l4, 0);
    put16(l4, 0);
  } else {
    const std::string payload(30, 'q');
    put16(l4, sport);
    put16(l4, dport);
    put16(l4, 8 + static_cast<unsigned>(payload.size()));
    put16(l4, 0);
    l4 += payload;
  }
  std::string ip4;
  ip4 += static_cast<char>(0x45);
  ip4 += '\0';
  put16(ip4, 20 + static_cast<unsigned>(l4.size()));
  put16(ip4, 1);
  put16(ip4, 0);
  ip4 += static_cast<char>(64);
  ip4 += static_cast<char>(proto);
  put16(ip4, 0);
  const auto s = ip(src), d = ip(dst);
  ip4.append(reinterpret_cast<const char*>(s.bytes.data()), 4);
  ip4.append(reinterpret_cast<const char*>(d.bytes.data()), 4);
  return std::string("\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", 14) + ip4 + l4;
}

void write_pcap(const fs::path& path,
                std::vector<std::pair<double, std::string>> packets) {  // (seconds from T0, frame)
  std::sort(packets.begin(), packets.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::ofstream out(path, std::ios::binary);
  const auto u32 = [&out](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  const auto u16 = [&out](std::uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
  u32(0xA1B2C3D4);
  u16(2);
  u16(4);
  u32(0);
  u32(0);
  u32(65535);
  u32(1);
  for (const auto& [t, bytes] : packets) {
    const auto us = static_cast<std::int64_t>(t * 1e6 + 0.5);
    u32(static_cast<std::uint32_t>(kT0 / kSecond + us / 1'000'000));
    u32(static_cast<std::uint32_t>(us % 1'000'000));
    u32(static_cast<std::uint32_t>(bytes.size()));
    u32(static_cast<std::uint32_t>(bytes.size()));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
}

struct Lab {
  fs::path dir, pcap, labels;
};

Lab write_lab(const std::string& name) {
  Lab lab;
  lab.dir = fs::path(::testing::TempDir()) / ("ns_pcap_eval_" + name);
  fs::remove_all(lab.dir);
  fs::create_directories(lab.dir);
  lab.pcap = lab.dir / "capture.pcap";
  lab.labels = lab.dir / "labels.csv";
  std::vector<std::pair<double, std::string>> packets;
  for (int port = 1; port <= 150; ++port) {
    // Closed ports answer RST-ACK, so each probe's flow ends at once (as in the lab).
    const auto dport = static_cast<std::uint16_t>(port);
    packets.emplace_back(10.0 + port * 0.001,
                         frame("10.0.0.66", "10.0.0.1", 6, 40000, dport, 0x02));
    packets.emplace_back(10.0005 + port * 0.001,
                         frame("10.0.0.1", "10.0.0.66", 6, dport, 40000, 0x14));
  }
  for (int i = 0; i < 20; ++i) {
    const double t = i * 5.0;
    const auto sport = static_cast<std::uint16_t>(30000 + i);
    packets.emplace_back(t, frame("10.0.0.10", "10.0.0.1", 17, sport, 53, 0));
    packets.emplace_back(t + 0.002, frame("10.0.0.1", "10.0.0.10", 17, 53, sport, 0));
  }
  write_pcap(lab.pcap, std::move(packets));
  std::ofstream(lab.labels) << kLabels;
  return lab;
}

PcapEvaluationOptions rules_only(const Lab& lab) {
  PcapEvaluationOptions o;
  o.pcap = lab.pcap;
  o.labels = lab.labels;
  o.detection.no_model = true;
  o.out_dir = lab.dir / "out";
  return o;
}

TEST(EvaluatePcap, ReplaysTheCaptureThroughTheEngineAndFindsThePortScan) {
  const Lab lab = write_lab("scan");
  const PcapEvaluation r = evaluate_pcap(rules_only(lab));
  EXPECT_EQ(r.packets, 340u);
  EXPECT_TRUE(r.model.empty());
  ASSERT_EQ(r.episodes.size(), 3u);
  EXPECT_EQ(r.outcomes[0].flows, 150u);
  EXPECT_EQ(r.outcomes[0].packets, 300u);
  EXPECT_TRUE(r.outcomes[0].detected());
  EXPECT_EQ(r.outcomes[0].alert_kinds.count("port_scan"), 1u);
  ASSERT_TRUE(r.outcomes[0].first_alert_ns.has_value());
  const std::int64_t delay = *r.outcomes[0].first_alert_ns - r.episodes[0].start_ns;
  // Raised within a couple of packet-time seconds of the scan (flow batches leave each second).
  EXPECT_GE(delay, 0);
  EXPECT_LE(delay, 3 * kSecond);
  EXPECT_FALSE(r.outcomes[1].detected());  // nothing of the flood is in the capture
  EXPECT_FALSE(r.outcomes[2].detected());
  EXPECT_EQ(r.flows.by_label.at("BENIGN"), 20u);
  EXPECT_EQ(r.false_alerts_by_kind.count("port_scan"), 0u);
  // --out keeps the replay's files.
  EXPECT_TRUE(fs::exists(lab.dir / "out" / "flows.csv"));
  EXPECT_TRUE(fs::exists(lab.dir / "out" / "alerts.csv"));
}

TEST(EvaluatePcap, AsksForAModelOrNoModel) {
  const Lab lab = write_lab("nomodel");
  PcapEvaluationOptions o = rules_only(lab);
  o.detection.no_model = false;
  try {
    (void)evaluate_pcap(o);
    FAIL() << "no error";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--no-model"), std::string::npos) << e.what();
  }
}

TEST(EvaluatePcap, ABadLabelsFileStopsItBeforeTheReplay) {
  const Lab lab = write_lab("badlabels");
  std::ofstream(lab.labels) << "kind,src,dst,start,end\nport_scan,10.0.0.66,10.0.0.1,ten,20\n";
  try {
    (void)evaluate_pcap(rules_only(lab));
    FAIL() << "no error";
  } catch (const core::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              lab.labels.string() + ":2:30: start \"ten\" is not a time in epoch seconds");
  }
  EXPECT_FALSE(fs::exists(lab.dir / "out"));
}

}  // namespace
}  // namespace netsentry::app
