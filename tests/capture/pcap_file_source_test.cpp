// The fast classic-pcap reader (open_file) must yield exactly what libpcap's reader
// (open_file_via_libpcap) yields for the same file: packets, timestamps, lengths, filter results
// and error messages.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "capture/packet_source.h"
#include "support/pcap_file.h"

namespace netsentry::capture {
namespace {

namespace fs = std::filesystem;
using netsentry::testing::CapturedFrame;
using netsentry::testing::CaptureFormat;
using netsentry::testing::write_capture;

struct ReadPacket {
  std::int64_t ts_ns = 0;
  std::uint32_t wire_len = 0;
  std::uint32_t cap_len = 0;
  std::vector<std::uint8_t> bytes;
  const std::uint8_t* where = nullptr;  // address of the bytes as handed out

  friend bool operator==(const ReadPacket& a, const ReadPacket& b) {
    return a.ts_ns == b.ts_ns && a.wire_len == b.wire_len && a.cap_len == b.cap_len &&
           a.bytes == b.bytes;
  }
};

struct ReadResult {
  std::vector<ReadPacket> packets;
  std::string error;
  std::uint64_t received = 0;
  net::LinkType link{};
};

ReadResult read_all(std::unique_ptr<PacketSource> source) {
  ReadResult r;
  r.link = source->link_type();
  RawPacket p;
  while (source->next(p) == ReadStatus::kPacket) {
    r.packets.push_back(
        {p.ts_ns, p.wire_len, p.cap_len, {p.bytes.begin(), p.bytes.end()}, p.bytes.data()});
  }
  r.error = source->error();
  r.received = source->stats().received;
  return r;
}

// An Ethernet frame: IPv4/UDP when `udp`, else an ARP-typed frame of junk; `size` bytes in all.
std::vector<std::uint8_t> frame(std::mt19937& rng, std::size_t size, bool udp) {
  std::vector<std::uint8_t> f(size);
  for (auto& b : f) b = static_cast<std::uint8_t>(rng());
  if (size >= 14) {
    f[12] = 0x08;
    f[13] = udp ? 0x00 : 0x06;  // IPv4 or ARP
  }
  if (udp && size >= 42) {
    f[14] = 0x45;
    f[15] = 0;
    const auto total = static_cast<std::uint16_t>(size - 14);
    f[16] = static_cast<std::uint8_t>(total >> 8);
    f[17] = static_cast<std::uint8_t>(total);
    f[20] = 0;  // no fragmentation
    f[21] = 0;
    f[23] = 17;
  }
  return f;
}

// Several megabytes of frames of every size class, so records straddle the reader's buffer
// refills; timestamps include ones past 2038 (a negative int32 in the record header).
std::vector<CapturedFrame> random_frames(unsigned seed, std::size_t count = 6000) {
  std::mt19937 rng(seed);
  std::vector<CapturedFrame> frames;
  std::int64_t ts = 1'700'000'000'000'000'000LL;
  for (std::size_t i = 0; i < count; ++i) {
    CapturedFrame c;
    const unsigned kind = rng() % 10;
    const std::size_t size = kind == 0 ? rng() % 14 : kind < 8 ? 42 + rng() % 1500 : rng() % 9000;
    c.bytes = frame(rng, size, rng() % 2 == 0);
    c.wire_len = rng() % 4 == 0 ? static_cast<std::uint32_t>(size + rng() % 100) : 0;
    ts += static_cast<std::int64_t>(rng() % 5'000'000'000ULL);
    if (i == count / 2) ts = 2'200'000'000'123'456'789LL;  // tv_sec above INT32_MAX
    c.ts_ns = ts;
    frames.push_back(std::move(c));
  }
  // One record of the largest size libpcap accepts.
  CapturedFrame big;
  big.ts_ns = ts + 1;
  big.bytes.assign(262144, 0x5a);
  frames.insert(frames.begin() + static_cast<std::ptrdiff_t>(count / 3), big);
  return frames;
}

std::vector<std::uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void swap_bytes(std::vector<std::uint8_t>& b, std::size_t at, std::size_t width) {
  for (std::size_t i = 0; i < width / 2; ++i) std::swap(b[at + i], b[at + width - 1 - i]);
}

// Rewrites a little-endian classic pcap file as the same capture written on a big-endian host.
void make_big_endian(const std::string& path) {
  auto b = slurp(path);
  swap_bytes(b, 0, 4);
  swap_bytes(b, 4, 2);
  swap_bytes(b, 6, 2);
  for (std::size_t at = 8; at < 24; at += 4) swap_bytes(b, at, 4);
  std::size_t pos = 24;
  while (pos + 16 <= b.size()) {
    const std::uint32_t caplen = b[pos + 8] | b[pos + 9] << 8 | b[pos + 10] << 16 |
                                 static_cast<std::uint32_t>(b[pos + 11]) << 24;
    for (std::size_t at = pos; at < pos + 16; at += 4) swap_bytes(b, at, 4);
    pos += 16 + caplen;
  }
  spit(path, b);
}

// The byte offset of record `index`'s header in a little-endian classic pcap file.
std::size_t record_offset(const std::vector<std::uint8_t>& b, std::size_t index) {
  std::size_t pos = 24;
  for (std::size_t i = 0; i < index; ++i) {
    const std::uint32_t caplen = b[pos + 8] | b[pos + 9] << 8 | b[pos + 10] << 16 |
                                 static_cast<std::uint32_t>(b[pos + 11]) << 24;
    pos += 16 + caplen;
  }
  return pos;
}

class PcapFileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ns-pcapfile-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Reads `file` both ways and checks that the results agree; returns the fast reader's.
  static ReadResult expect_same_as_libpcap(const std::string& file,
                                           const std::string& filter = "") {
    ReadResult fast = read_all(open_file(file, filter));
    const ReadResult reference = read_all(open_file_via_libpcap(file, filter));
    EXPECT_EQ(fast.link, reference.link);
    EXPECT_EQ(fast.packets.size(), reference.packets.size());
    for (std::size_t i = 0; i < std::min(fast.packets.size(), reference.packets.size()); ++i) {
      if (!(fast.packets[i] == reference.packets[i])) {
        ADD_FAILURE() << file << ": packet " << i << " differs: ts " << fast.packets[i].ts_ns
                      << " vs " << reference.packets[i].ts_ns << ", caplen "
                      << fast.packets[i].cap_len << " vs " << reference.packets[i].cap_len
                      << ", len " << fast.packets[i].wire_len << " vs "
                      << reference.packets[i].wire_len;
        break;
      }
    }
    EXPECT_EQ(fast.error, reference.error);
    EXPECT_EQ(fast.received, reference.received);
    return fast;
  }

  fs::path dir_;
};

// The fast reader hands out packets in place, one record header apart; libpcap's reader copies
// each into the same buffer.
bool served_in_place(const ReadResult& r) {
  for (std::size_t i = 1; i < r.packets.size(); ++i) {
    const ReadPacket& a = r.packets[i - 1];
    const ReadPacket& b = r.packets[i];
    if (a.cap_len > 0 && a.cap_len < 1000 && b.where == a.where + a.cap_len + 16) return true;
  }
  return false;
}

TEST_F(PcapFileSourceTest, MicrosecondPcapGivesLibpcapsPacketsInPlace) {
  write_capture(path("u.pcap"), random_frames(1), CaptureFormat::kPcapMicro);
  const ReadResult r = expect_same_as_libpcap(path("u.pcap"));
  EXPECT_EQ(r.packets.size(), 6001u);
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(served_in_place(r));
  EXPECT_FALSE(served_in_place(read_all(open_file_via_libpcap(path("u.pcap")))));
}

TEST_F(PcapFileSourceTest, ReadBackGivesEveryPacketAgainUntilTheFileChanges) {
  write_capture(path("r.pcap"), random_frames(3), CaptureFormat::kPcapNano);
  auto source = open_file(path("r.pcap"));
  const std::shared_ptr<const PacketReadBack> read_back = source->read_back();
  ASSERT_NE(read_back, nullptr);
  struct Kept {
    ReadPacket packet;
    std::int64_t offset;
  };
  std::vector<Kept> kept;
  RawPacket p;
  while (source->next(p) == ReadStatus::kPacket) {
    ASSERT_GE(p.file_offset, 24);
    kept.push_back({{p.ts_ns, p.wire_len, p.cap_len, {p.bytes.begin(), p.bytes.end()}, nullptr},
                    p.file_offset});
  }
  ASSERT_GT(kept.size(), 1000u);
  source.reset();  // the read-back outlives its source
  // In file order (mostly from the window) and backwards (a read per packet): the same bytes.
  ReadBackWindow window;
  std::size_t checked = 0;
  for (std::size_t i = 0; i < kept.size(); i += 7) {
    const Kept& k = kept[i];
    const auto bytes =
        read_back->read(k.offset, k.packet.ts_ns, k.packet.wire_len, k.packet.cap_len, window);
    ASSERT_EQ(std::vector<std::uint8_t>(bytes.begin(), bytes.end()), k.packet.bytes) << i;
    ++checked;
  }
  for (std::size_t i = kept.size(); i-- > 0; i -= std::min<std::size_t>(i, 11)) {
    const Kept& k = kept[i];
    const auto bytes =
        read_back->read(k.offset, k.packet.ts_ns, k.packet.wire_len, k.packet.cap_len, window);
    ASSERT_EQ(std::vector<std::uint8_t>(bytes.begin(), bytes.end()), k.packet.bytes) << i;
  }
  EXPECT_GT(checked, 100u);
  // Another record's timestamp or lengths at that place: not this packet.
  const Kept& some = kept[kept.size() / 2];
  EXPECT_TRUE(read_back
                  ->read(some.offset, some.packet.ts_ns + 1, some.packet.wire_len,
                         some.packet.cap_len, window)
                  .empty());
  EXPECT_TRUE(read_back
                  ->read(some.offset, some.packet.ts_ns, some.packet.wire_len + 1,
                         some.packet.cap_len, window)
                  .empty());
  // The file cut in half since: the packets past the cut are gone, the others still there.
  fs::resize_file(path("r.pcap"), static_cast<std::uintmax_t>(some.offset));
  ReadBackWindow fresh;
  EXPECT_TRUE(
      read_back
          ->read(some.offset, some.packet.ts_ns, some.packet.wire_len, some.packet.cap_len, fresh)
          .empty());
  const Kept& first = kept[1];
  const auto again = read_back->read(first.offset, first.packet.ts_ns, first.packet.wire_len,
                                     first.packet.cap_len, fresh);
  EXPECT_EQ(std::vector<std::uint8_t>(again.begin(), again.end()), first.packet.bytes);
  // libpcap's reader (pipes, stdin) cannot read back.
  auto via_libpcap = open_file_via_libpcap(path("r.pcap"));
  EXPECT_EQ(via_libpcap->read_back(), nullptr);
  ASSERT_EQ(via_libpcap->next(p), ReadStatus::kPacket);
  EXPECT_EQ(p.file_offset, -1);
}

TEST_F(PcapFileSourceTest, NanosecondPcapGivesLibpcapsPackets) {
  write_capture(path("n.pcap"), random_frames(2), CaptureFormat::kPcapNano);
  const ReadResult r = expect_same_as_libpcap(path("n.pcap"));
  ASSERT_EQ(r.packets.size(), 6001u);
  EXPECT_EQ(r.packets[0].ts_ns % 1000 != 0 || r.packets[1].ts_ns % 1000 != 0, true);
  EXPECT_TRUE(served_in_place(r));
}

TEST_F(PcapFileSourceTest, BigEndianPcapsGiveLibpcapsPackets) {
  for (const auto format : {CaptureFormat::kPcapMicro, CaptureFormat::kPcapNano}) {
    write_capture(path("b.pcap"), random_frames(3, 2000), format);
    const ReadResult little = read_all(open_file(path("b.pcap")));
    make_big_endian(path("b.pcap"));
    const ReadResult r = expect_same_as_libpcap(path("b.pcap"));
    EXPECT_TRUE(served_in_place(r));
    ASSERT_EQ(r.packets.size(), little.packets.size());
    // Equal but for the timestamps past 2038, which libpcap itself reads differently by byte
    // order (unsigned when it swaps, sign-extended when it does not).
    constexpr std::int64_t k2038 = std::int64_t{2'147'483'648} * 1'000'000'000;
    std::size_t late = 0;
    for (std::size_t i = 0; i < r.packets.size(); ++i) {
      if (r.packets[i].ts_ns < k2038) {
        EXPECT_TRUE(r.packets[i] == little.packets[i]) << i;
      } else {
        ++late;
        EXPECT_LT(little.packets[i].ts_ns, 0) << i;
        EXPECT_EQ(r.packets[i].bytes, little.packets[i].bytes) << i;
      }
    }
    EXPECT_GT(late, 0u);
  }
}

TEST_F(PcapFileSourceTest, TimestampsPast2038FollowLibpcap) {
  std::vector<CapturedFrame> frames(1);
  frames[0].ts_ns = 3'000'000'000'000'001'000LL;
  frames[0].bytes.assign(60, 1);
  write_capture(path("y.pcap"), frames, CaptureFormat::kPcapMicro);
  const ReadResult r = expect_same_as_libpcap(path("y.pcap"));
  ASSERT_EQ(r.packets.size(), 1u);
}

TEST_F(PcapFileSourceTest, FilterKeepsTheSamePacketsAsLibpcap) {
  write_capture(path("f.pcap"), random_frames(4), CaptureFormat::kPcapMicro);
  const ReadResult all = read_all(open_file(path("f.pcap")));
  for (const char* filter : {"udp", "ip and len > 1000", "not ip", "greater 5000"}) {
    const ReadResult r = expect_same_as_libpcap(path("f.pcap"), filter);
    EXPECT_GT(r.packets.size(), 0u) << filter;
    EXPECT_LT(r.packets.size(), all.packets.size()) << filter;
    EXPECT_EQ(r.received, r.packets.size()) << filter;
  }
}

TEST_F(PcapFileSourceTest, RecordsLongerThanTheSnapshotLengthAreCutToIt) {
  write_capture(path("s.pcap"), random_frames(5, 500), CaptureFormat::kPcapMicro, 1,
                /*snaplen=*/200);
  const ReadResult r = expect_same_as_libpcap(path("s.pcap"));
  ASSERT_EQ(r.packets.size(), 501u);
  for (const ReadPacket& p : r.packets) EXPECT_LE(p.cap_len, 200u);
}

TEST_F(PcapFileSourceTest, TruncatedDataEndsWithLibpcapsErrorNamingTheFile) {
  write_capture(path("t.pcap"), random_frames(6, 300), CaptureFormat::kPcapMicro);
  fs::resize_file(path("t.pcap"), fs::file_size(path("t.pcap")) - 1);
  const ReadResult r = expect_same_as_libpcap(path("t.pcap"));
  EXPECT_EQ(r.packets.size(), 300u);
  EXPECT_NE(r.error.find("t.pcap"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("after 300 packets"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("truncated dump file"), std::string::npos) << r.error;
}

TEST_F(PcapFileSourceTest, TruncatedRecordHeaderEndsWithLibpcapsError) {
  write_capture(path("h.pcap"), random_frames(7, 300), CaptureFormat::kPcapMicro);
  const auto bytes = slurp(path("h.pcap"));
  fs::resize_file(path("h.pcap"), record_offset(bytes, 300) + 7);
  const ReadResult r = expect_same_as_libpcap(path("h.pcap"));
  EXPECT_EQ(r.packets.size(), 300u);
  EXPECT_NE(r.error.find("header bytes, only got 7"), std::string::npos) << r.error;
}

TEST_F(PcapFileSourceTest, TruncatedRecordPastTheSnapshotLengthEndsWithLibpcapsError) {
  std::vector<CapturedFrame> frames(2);
  for (auto& f : frames) f.bytes.assign(300, 7);
  write_capture(path("p.pcap"), frames, CaptureFormat::kPcapMicro, 1, /*snaplen=*/100);
  const auto size = fs::file_size(path("p.pcap"));
  fs::resize_file(path("p.pcap"), size - 250);  // 50 of the last record's 300 bytes remain
  EXPECT_NE(
      expect_same_as_libpcap(path("p.pcap")).error.find("read 100 captured bytes, only got 50"),
      std::string::npos);
  write_capture(path("p.pcap"), frames, CaptureFormat::kPcapMicro, 1, /*snaplen=*/100);
  fs::resize_file(path("p.pcap"), size - 10);  // the snapshot is there, the rest is not
  EXPECT_NE(
      expect_same_as_libpcap(path("p.pcap")).error.find("read 300 captured bytes, only got 290"),
      std::string::npos);
}

TEST_F(PcapFileSourceTest, ImpossibleCaptureLengthEndsWithLibpcapsError) {
  write_capture(path("c.pcap"), random_frames(8, 50), CaptureFormat::kPcapMicro);
  auto bytes = slurp(path("c.pcap"));
  const std::size_t at = record_offset(bytes, 20) + 8;
  bytes[at] = 0x01;  // caplen 0x00300001, above libpcap's 262144
  bytes[at + 1] = 0x00;
  bytes[at + 2] = 0x30;
  bytes[at + 3] = 0x00;
  spit(path("c.pcap"), bytes);
  const ReadResult r = expect_same_as_libpcap(path("c.pcap"));
  EXPECT_EQ(r.packets.size(), 20u);
  EXPECT_NE(r.error.find("invalid packet capture length 3145729"), std::string::npos) << r.error;
}

TEST_F(PcapFileSourceTest, EveryAcceptedLinkTypeMatchesLibpcap) {
  for (int dlt : {0, 1, 101, 108, 113, 228, 229, 276, 9, 105, 127, 239, 195}) {
    write_capture(path("l.pcap"), random_frames(9, 100), CaptureFormat::kPcapMicro, dlt);
    const ReadResult r = expect_same_as_libpcap(path("l.pcap"));
    EXPECT_EQ(static_cast<int>(r.link), dlt) << "DLT " << dlt;
    EXPECT_EQ(r.packets.size(), 101u) << "DLT " << dlt;
  }
}

TEST_F(PcapFileSourceTest, LinkTypesTheDecoderDoesNotKnowAreReadByBothReaders) {
  // 802.15.4: read like any other (the decoder counts its packets as an unsupported link type).
  write_capture(path("w.pcap"), random_frames(10, 10), CaptureFormat::kPcapNano, 195);
  const ReadResult r = expect_same_as_libpcap(path("w.pcap"));
  EXPECT_EQ(static_cast<int>(r.link), 195);
  EXPECT_EQ(r.packets.size(), 11u);
}

TEST_F(PcapFileSourceTest, HeaderOnlyFileHasNoPacketsAndNoError) {
  write_capture(path("e.pcap"), {}, CaptureFormat::kPcapMicro);
  const ReadResult r = expect_same_as_libpcap(path("e.pcap"));
  EXPECT_TRUE(r.packets.empty());
  EXPECT_TRUE(r.error.empty());
}

TEST_F(PcapFileSourceTest, BreakLoopEndsTheInput) {
  write_capture(path("k.pcap"), random_frames(11, 100), CaptureFormat::kPcapMicro);
  auto source = open_file(path("k.pcap"));
  RawPacket p;
  ASSERT_EQ(source->next(p), ReadStatus::kPacket);
  source->break_loop();
  EXPECT_EQ(source->next(p), ReadStatus::kEnd);
  EXPECT_TRUE(source->error().empty());
}

}  // namespace
}  // namespace netsentry::capture
