#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "capture/packet_source.h"
#include "support/pcap_file.h"

namespace netsentry::capture {
namespace {

namespace fs = std::filesystem;
using netsentry::testing::CapturedFrame;
using netsentry::testing::CaptureFormat;
using netsentry::testing::write_capture;

class PcapSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ns-capture-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::vector<CapturedFrame> frames() const {
    std::vector<CapturedFrame> f;
    for (int i = 0; i < 3; ++i) {
      CapturedFrame c;
      c.ts_ns = 1'700'000'000'123'456'789LL + i * 1'000'000'007LL;
      c.bytes.assign(60 + i, static_cast<std::uint8_t>(i));
      c.wire_len = 1514;
      f.push_back(c);
    }
    return f;
  }

  fs::path dir_;
};

std::vector<RawPacket> read_all(PacketSource& src, std::vector<std::vector<std::uint8_t>>& keep) {
  std::vector<RawPacket> out;
  RawPacket p;
  while (src.next(p) == ReadStatus::kPacket) {
    keep.emplace_back(p.bytes.begin(), p.bytes.end());
    out.push_back(p);
  }
  return out;
}

TEST_F(PcapSourceTest, ReadsMicrosecondPcapWithMicrosecondTimestamps) {
  write_capture(path("a.pcap"), frames(), CaptureFormat::kPcapMicro);
  auto src = open_file(path("a.pcap"));
  EXPECT_EQ(src->link_type(), net::LinkType::kEthernet);
  std::vector<std::vector<std::uint8_t>> keep;
  auto pk = read_all(*src, keep);
  ASSERT_EQ(pk.size(), 3u);
  EXPECT_EQ(pk[0].ts_ns, 1'700'000'000'123'456'000LL);  // truncated to microseconds by the format
  EXPECT_EQ(pk[1].cap_len, 61u);
  EXPECT_EQ(pk[1].wire_len, 1514u);
  EXPECT_EQ(keep[2][0], 2);
  EXPECT_TRUE(src->error().empty());
  EXPECT_EQ(src->stats().received, 3u);
}

TEST_F(PcapSourceTest, ReadsNanosecondPcapKeepingNanoseconds) {
  write_capture(path("n.pcap"), frames(), CaptureFormat::kPcapNano);
  auto src = open_file(path("n.pcap"));
  std::vector<std::vector<std::uint8_t>> keep;
  auto pk = read_all(*src, keep);
  ASSERT_EQ(pk.size(), 3u);
  EXPECT_EQ(pk[0].ts_ns, 1'700'000'000'123'456'789LL);
  EXPECT_EQ(pk[2].ts_ns, 1'700'000'000'123'456'789LL + 2'000'000'014LL);
}

TEST_F(PcapSourceTest, ReadsPcapngWithNanosecondResolution) {
  write_capture(path("g.pcapng"), frames(), CaptureFormat::kPcapng);
  auto src = open_file(path("g.pcapng"));
  std::vector<std::vector<std::uint8_t>> keep;
  auto pk = read_all(*src, keep);
  ASSERT_EQ(pk.size(), 3u);
  EXPECT_EQ(pk[1].ts_ns, 1'700'000'000'123'456'789LL + 1'000'000'007LL);
  EXPECT_EQ(keep[1].size(), 61u);
}

TEST_F(PcapSourceTest, AppliesBpfFilter) {
  write_capture(path("f.pcap"), frames(), CaptureFormat::kPcapMicro);
  // The frames hold no IP packets, so "ip" keeps nothing.
  auto src = open_file(path("f.pcap"), "ip");
  std::vector<std::vector<std::uint8_t>> keep;
  EXPECT_TRUE(read_all(*src, keep).empty());
}

TEST_F(PcapSourceTest, BadFilterIsAClearError) {
  write_capture(path("b.pcap"), frames());
  try {
    open_file(path("b.pcap"), "tcp port banana");
    FAIL() << "expected an error";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad filter"), std::string::npos) << e.what();
  }
}

TEST_F(PcapSourceTest, LinkTypesNetsentryDoesNotDecodeAreReadNotRefused) {
  // 802.15.4: its packets are read (and counted by the decoder as an unsupported link type).
  write_capture(path("w.pcap"), frames(), CaptureFormat::kPcapMicro, /*IEEE802_15_4=*/195);
  auto src = open_file(path("w.pcap"));
  EXPECT_EQ(static_cast<int>(src->link_type()), 195);
  std::vector<std::vector<std::uint8_t>> keep;
  const auto pk = read_all(*src, keep);
  ASSERT_EQ(pk.size(), 3u);
  EXPECT_EQ(static_cast<int>(pk[0].link), 195);
}

TEST_F(PcapSourceTest, AcceptsLinuxCookedRawAndNullLinkTypes) {
  for (int dlt : {113, 276, 101, 0, 108, 228, 229, 9, 105, 127, 239}) {
    write_capture(path("l.pcap"), frames(), CaptureFormat::kPcapMicro, dlt);
    EXPECT_NO_THROW(open_file(path("l.pcap"))) << "DLT " << dlt;
  }
}

TEST_F(PcapSourceTest, MissingFileNamesThePath) {
  try {
    open_file(path("nope.pcap"));
    FAIL() << "expected an error";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.pcap"), std::string::npos);
  }
}

TEST_F(PcapSourceTest, TruncatedFileEndsWithAnErrorAfterTheGoodPackets) {
  write_capture(path("t.pcap"), frames());
  const auto size = fs::file_size(path("t.pcap"));
  fs::resize_file(path("t.pcap"), size - 10);  // cut into the last packet
  auto src = open_file(path("t.pcap"));
  std::vector<std::vector<std::uint8_t>> keep;
  auto pk = read_all(*src, keep);
  EXPECT_EQ(pk.size(), 2u);
  EXPECT_NE(src->error().find("t.pcap"), std::string::npos) << src->error();
}

TEST_F(PcapSourceTest, NotACaptureFileIsAClearError) {
  std::ofstream(path("x.pcap")) << "this is not a capture file at all";
  EXPECT_THROW(open_file(path("x.pcap")), core::Error);
}

TEST(DefaultInterface, ReadsTheDefaultRouteFromProcNetRoute) {
  const fs::path root = fs::temp_directory_path() / ("ns-proc-" + std::to_string(::getpid()));
  fs::create_directories(root / "net");
  std::ofstream(root / "net/route")
      << "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
      << "eth7\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
      << "wlan3\t00000000\t0102A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n";
  EXPECT_EQ(default_interface(root.string()), "wlan3");
  fs::remove_all(root);
}

}  // namespace
}  // namespace netsentry::capture
