// Our pcapng reader on files libpcap 1.10 cannot read: interfaces of different link types,
// snapshot lengths and timestamp resolutions, sections of both byte orders; and damaged blocks.
#include "capture/pcapng_file_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "capture/packet_source.h"
#include "core/error.h"

namespace netsentry::capture {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

// Builds pcapng blocks in either byte order.
class Pcapng {
 public:
  explicit Pcapng(bool big_endian = false) : big_(big_endian) {}

  Pcapng& section() {
    Bytes body;
    put32(body, 0x1A2B3C4D);
    put16(body, 1);
    put16(body, 0);
    put32(body, 0xFFFFFFFF);
    put32(body, 0xFFFFFFFF);
    return block(0x0A0D0D0A, body);
  }
  // tsresol: the if_tsresol byte (0 = leave the default, microseconds).
  Pcapng& interface(std::uint16_t link, std::uint32_t snaplen, std::uint8_t tsresol = 0) {
    Bytes body;
    put16(body, link);
    put16(body, 0);
    put32(body, snaplen);
    if (tsresol != 0) {
      put16(body, 9);
      put16(body, 1);
      body.push_back(tsresol);
      body.resize(body.size() + 3, 0);
      put16(body, 0);
      put16(body, 0);
    }
    return block(1, body);
  }
  Pcapng& packet(std::uint32_t iface, std::uint64_t ts, const Bytes& data, std::uint32_t wire) {
    Bytes body;
    put32(body, iface);
    put32(body, static_cast<std::uint32_t>(ts >> 32));
    put32(body, static_cast<std::uint32_t>(ts));
    put32(body, static_cast<std::uint32_t>(data.size()));
    put32(body, wire);
    body.insert(body.end(), data.begin(), data.end());
    while (body.size() % 4) body.push_back(0);
    return block(6, body);
  }
  Pcapng& statistics() {
    Bytes body(12, 0);
    return block(5, body);
  }
  Pcapng& raw(const Bytes& bytes) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  [[nodiscard]] const Bytes& bytes() const { return out_; }

 private:
  Pcapng& block(std::uint32_t type, const Bytes& body) {
    const auto len = static_cast<std::uint32_t>(12 + body.size());
    put32(out_, type);
    put32(out_, len);
    out_.insert(out_.end(), body.begin(), body.end());
    put32(out_, len);
    return *this;
  }
  void put16(Bytes& b, std::uint16_t v) const {
    if (big_) {
      b.push_back(static_cast<std::uint8_t>(v >> 8));
      b.push_back(static_cast<std::uint8_t>(v));
    } else {
      b.push_back(static_cast<std::uint8_t>(v));
      b.push_back(static_cast<std::uint8_t>(v >> 8));
    }
  }
  void put32(Bytes& b, std::uint32_t v) const {
    if (big_) {
      put16(b, static_cast<std::uint16_t>(v >> 16));
      put16(b, static_cast<std::uint16_t>(v));
    } else {
      put16(b, static_cast<std::uint16_t>(v));
      put16(b, static_cast<std::uint16_t>(v >> 16));
    }
  }

  bool big_;
  Bytes out_;
};

class PcapngTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ns-pcapng-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const Bytes& bytes) {
    const std::string p = (dir_ / "c.pcapng").string();
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  fs::path dir_;
};

Bytes udp_ipv4() {
  return {0x45, 0, 0,  28, 0, 1, 0,    0,    64, 17, 0, 0, 10, 0,
          0,    1, 10, 0,  0, 2, 0x13, 0x88, 0,  53, 0, 8, 0,  0};
}
Bytes ethernet_udp() {
  Bytes f(12, 2);
  f.push_back(0x08);
  f.push_back(0x00);
  const Bytes ip = udp_ipv4();
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

struct Read {
  std::vector<RawPacket> packets;
  std::vector<Bytes> data;
  std::string error;
};

Read read_all(const std::string& path, const std::string& filter = "") {
  Read r;
  auto src = open_file(path, filter);
  RawPacket p;
  while (src->next(p) == ReadStatus::kPacket) {
    r.data.emplace_back(p.bytes.begin(), p.bytes.end());
    r.packets.push_back(p);
  }
  r.error = src->error();
  return r;
}

TEST_F(PcapngTest, InterfacesOfDifferentLinkTypesSnaplensAndResolutions) {
  Pcapng f;
  f.section()
      .interface(1, 65535)           // Ethernet, microseconds
      .interface(101, 40, 9)         // raw IP, nanoseconds, snapshot 40
      .interface(105, 262144, 0x8A)  // 802.11, 2^-10 s units
      .packet(0, 1'700'000'000'000'001ULL, ethernet_udp(), 42)
      .statistics()
      .packet(1, 1'700'000'000'000'000'123ULL, udp_ipv4(), 28)
      .packet(2, 3ULL << 10, Bytes(24, 0x80), 24);
  const Read r = read_all(write(f.bytes()));
  EXPECT_TRUE(r.error.empty()) << r.error;
  ASSERT_EQ(r.packets.size(), 3u);
  EXPECT_EQ(r.packets[0].link, net::LinkType::kEthernet);
  EXPECT_EQ(r.packets[0].ts_ns, 1'700'000'000'000'001'000LL);
  EXPECT_EQ(r.packets[1].link, net::LinkType::kRaw);
  EXPECT_EQ(r.packets[1].ts_ns, 1'700'000'000'000'000'123LL);
  EXPECT_EQ(r.packets[1].cap_len, 28u);
  EXPECT_EQ(r.packets[2].link, net::LinkType::kIeee80211);
  EXPECT_EQ(r.packets[2].ts_ns, 3'000'000'000LL);
  EXPECT_EQ(r.data[1], udp_ipv4());
}

TEST_F(PcapngTest, SectionsOfBothByteOrdersRestartTheInterfaces) {
  Pcapng little;
  little.section().interface(1, 65535).packet(0, 5, ethernet_udp(), 42);
  Pcapng big(true);
  big.section().interface(113, 65535, 6).packet(0, 7, Bytes(16, 0), 16);
  Bytes both = little.bytes();
  both.insert(both.end(), big.bytes().begin(), big.bytes().end());
  const Read r = read_all(write(both));
  EXPECT_TRUE(r.error.empty()) << r.error;
  ASSERT_EQ(r.packets.size(), 2u);
  EXPECT_EQ(r.packets[0].link, net::LinkType::kEthernet);
  EXPECT_EQ(r.packets[1].link, net::LinkType::kLinuxSll);
  EXPECT_EQ(r.packets[1].ts_ns, 7'000LL);
}

TEST_F(PcapngTest, FilterIsCompiledForEachLinkType) {
  Pcapng f;
  f.section()
      .interface(1, 65535)
      .interface(101, 65535)
      .packet(0, 1, ethernet_udp(), 42)
      .packet(1, 2, udp_ipv4(), 28)
      .packet(1, 3, Bytes(20, 0x45), 20);
  const Read r = read_all(write(f.bytes()), "udp port 53");
  ASSERT_EQ(r.packets.size(), 2u);
  EXPECT_EQ(r.packets[0].link, net::LinkType::kEthernet);
  EXPECT_EQ(r.packets[1].link, net::LinkType::kRaw);
}

TEST_F(PcapngTest, DamagedFilesEndWithAnErrorAfterTheGoodPackets) {
  {
    Pcapng f;
    f.section().interface(1, 65535).packet(0, 1, ethernet_udp(), 42);
    Bytes cut = f.bytes();
    Pcapng more;
    more.packet(0, 2, ethernet_udp(), 42);
    cut.insert(cut.end(), more.bytes().begin(), more.bytes().begin() + 30);
    const Read r = read_all(write(cut));
    EXPECT_EQ(r.packets.size(), 1u);
    EXPECT_NE(r.error.find("read error after 1 packets"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("truncated"), std::string::npos) << r.error;
  }
  {
    Pcapng f;
    f.section().interface(1, 65535).packet(3, 1, ethernet_udp(), 42);
    const Read r = read_all(write(f.bytes()));
    EXPECT_TRUE(r.packets.empty());
    EXPECT_NE(r.error.find("interface 3"), std::string::npos) << r.error;
  }
  {
    Pcapng f;
    f.section().interface(1, 65535).raw({6, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    const Read r = read_all(write(f.bytes()));
    EXPECT_NE(r.error.find("invalid length 13"), std::string::npos) << r.error;
  }
}

TEST_F(PcapngTest, APacketBeforeAnyInterfaceIsRefusedAtOpen) {
  Pcapng f;
  f.section().packet(0, 1, ethernet_udp(), 42);
  try {
    (void)open_file(write(f.bytes()));
    FAIL() << "expected an error";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("before any interface"), std::string::npos) << e.what();
  }
}

TEST_F(PcapngTest, ASectionWithoutPacketsReadsAsEmpty) {
  Pcapng f;
  f.section();
  const Read r = read_all(write(f.bytes()));
  EXPECT_TRUE(r.packets.empty());
  EXPECT_TRUE(r.error.empty()) << r.error;
}

}  // namespace
}  // namespace netsentry::capture
