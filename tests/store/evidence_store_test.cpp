// An alert's evidence file holds its host's packets from the recorder (and only those), grows
// while the alert is updated, keeps to its per-alert and folder budgets, and reads back as a
// capture file.
#include "store/evidence_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "capture/packet_source.h"

namespace netsentry::store {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t kSecond = 1'000'000'000;

net::IpAddress v4(std::uint8_t d) {
  net::IpAddress ip;
  ip.family = 4;
  ip.bytes = {10, 0, 0, d};
  return ip;
}

class EvidenceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("netsentry-evidence-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    capture::RecorderOptions r;
    r.memory_bytes = 4 << 20;
    r.segment_bytes = 64 << 10;
    recorder_ = std::make_unique<capture::PacketRecorder>(r);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // One packet a 100 ms from `host` to 10.0.0.100, its bytes naming its time.
  void traffic(std::uint8_t host, std::int64_t from_s, std::int64_t to_s, std::size_t size = 100) {
    const net::IpAddress pair[2] = {v4(host), v4(100)};
    for (std::int64_t t = from_s * kSecond; t < to_s * kSecond; t += kSecond / 10) {
      std::vector<std::uint8_t> bytes(size, host);
      std::memcpy(bytes.data(), &t, sizeof t);
      recorder_->record(t, static_cast<std::uint32_t>(size), 1, bytes, pair);
    }
  }

  EvidenceOptions options() const {
    EvidenceOptions o;
    o.dir = dir_;
    o.before_ns = 5 * kSecond;
    return o;
  }

  // The packets of a capture file: (time, first byte after the timestamp = host).
  static std::vector<std::pair<std::int64_t, int>> read(const fs::path& path) {
    std::vector<std::pair<std::int64_t, int>> out;
    auto source = capture::open_file(path.string());
    capture::RawPacket raw;
    while (source->next(raw) == capture::ReadStatus::kPacket) {
      std::int64_t t = 0;
      std::memcpy(&t, raw.bytes.data(), sizeof t);
      EXPECT_EQ(t, raw.ts_ns);
      out.emplace_back(raw.ts_ns, raw.bytes[8]);
    }
    EXPECT_EQ(source->error(), "");
    return out;
  }

  fs::path dir_;
  std::unique_ptr<capture::PacketRecorder> recorder_;
};

TEST_F(EvidenceStoreTest, WritesTheHostsPacketsFromBeforeTheAlertAndAppendsWhileEngaged) {
  EvidenceStore store(*recorder_, options());
  traffic(1, 0, 30);
  traffic(2, 0, 30);
  store.request({7, v4(1), std::nullopt, 20 * kSecond, 25 * kSecond});
  store.drain();
  const auto path = store.file_for(7);
  ASSERT_TRUE(path.has_value());
  auto packets = read(*path);
  ASSERT_FALSE(packets.empty());
  EXPECT_EQ(packets.front().first, 15 * kSecond) << "from before_ns ahead of the first evidence";
  EXPECT_LE(packets.back().first, 26 * kSecond);
  for (const auto& [t, host] : packets) EXPECT_EQ(host, 1) << "only the alert's host";
  const std::size_t first_count = packets.size();

  // The alert is updated later: only newer packets are added, none twice.
  traffic(1, 30, 40);
  store.request({7, v4(1), std::nullopt, 20 * kSecond, 38 * kSecond});
  store.drain();
  packets = read(*path);
  EXPECT_GT(packets.size(), first_count);
  for (std::size_t i = 1; i < packets.size(); ++i) {
    ASSERT_GT(packets[i].first, packets[i - 1].first) << "no packet twice, in time order";
  }
  EXPECT_EQ(store.stats().files_written, 1u);
  EXPECT_EQ(store.stats().packets_written, packets.size());
  EXPECT_FALSE(store.file_for(8).has_value());
}

TEST_F(EvidenceStoreTest, ThousandsOfAlertsAtOnceAreWrittenInFewPassesOverTheRing) {
  // A flood at many hosts: an engaged alert about each, all asking at once. Each file holds
  // its host's packets only, as one alert alone would; the worker reads the ring once per batch
  // of waiting requests, not once per alert.
  capture::RecorderOptions r;
  r.memory_bytes = 64 << 20;
  r.segment_bytes = 1 << 20;
  recorder_ = std::make_unique<capture::PacketRecorder>(r);
  constexpr int kHosts = 1000;
  auto host = [](int i) {
    net::IpAddress ip;
    ip.family = 4;
    ip.bytes = {10, 1, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i & 0xFF)};
    return ip;
  };
  // 200,000 packets, each to one of the hosts in turn: a pass over the ring takes a while, so
  // requests made meanwhile wait for the next one.
  for (std::int64_t n = 0; n < 200'000; ++n) {
    const std::int64_t t = 10 * kSecond + n * 50'000;
    const int h = static_cast<int>(n % kHosts);
    const net::IpAddress pair[2] = {v4(200), host(h)};
    std::vector<std::uint8_t> bytes(60, static_cast<std::uint8_t>(h & 0xFF));
    std::memcpy(bytes.data(), &t, sizeof t);
    recorder_->record(t, 60, 1, bytes, pair);
  }
  EvidenceOptions o = options();
  EvidenceStore store(*recorder_, o);
  const std::uint64_t passes_before = recorder_->stats().queries;
  for (int h = 0; h < kHosts; ++h) {
    store.request({h + 1, host(h), std::nullopt, 12 * kSecond, 18 * kSecond});
  }
  store.drain();
  const std::uint64_t passes = recorder_->stats().queries - passes_before;
  EXPECT_LT(passes, static_cast<std::uint64_t>(kHosts) / 2) << "batched, not one pass per alert";
  EXPECT_EQ(store.stats().files_written, static_cast<std::uint64_t>(kHosts));
  EXPECT_EQ(store.stats().write_errors, 0u);
  for (int h : {0, 1, 517, kHosts - 1}) {
    const auto path = store.file_for(h + 1);
    ASSERT_TRUE(path.has_value()) << h;
    const auto packets = read(*path);
    // The host's packets from 7 s (before_ns ahead of 12 s) to 19 s: every 1000th of the
    // 20,000 a second from 10 s on.
    std::size_t expected = 0;
    for (std::int64_t n = h; n < 200'000; n += kHosts) {
      const std::int64_t t = 10 * kSecond + n * 50'000;
      if (t >= 7 * kSecond && t <= 19 * kSecond) ++expected;
    }
    EXPECT_EQ(packets.size(), expected) << h;
    for (const auto& [t, b] : packets) ASSERT_EQ(b, h & 0xFF) << "only host " << h;
  }
}

TEST_F(EvidenceStoreTest, AFileOfManyWriteChunksHoldsEveryPacketOnceInOrder) {
  EvidenceStore store(*recorder_, options());
  traffic(3, 0, 60, 1500);  // 600 packets, ~0.9 MB: several of the writer's 256 KiB chunks
  store.request({9, v4(3), std::nullopt, 5 * kSecond, 59 * kSecond});
  store.drain();
  const auto path = store.file_for(9);
  ASSERT_TRUE(path.has_value());
  auto packets = read(*path);
  ASSERT_EQ(packets.size(), 600u);
  for (std::size_t i = 0; i < packets.size(); ++i) {
    ASSERT_EQ(packets[i].first, static_cast<std::int64_t>(i) * kSecond / 10);
  }
  EXPECT_EQ(fs::file_size(*path), 24u + 600u * (16 + 1500));

  traffic(3, 60, 90, 1500);
  store.request({9, v4(3), std::nullopt, 5 * kSecond, 89 * kSecond});
  store.drain();
  packets = read(*path);
  ASSERT_EQ(packets.size(), 900u);
  for (std::size_t i = 1; i < packets.size(); ++i) {
    ASSERT_EQ(packets[i].first, packets[i - 1].first + kSecond / 10);
  }
  const EvidenceStats s = store.stats();
  EXPECT_EQ(s.packets_written, 900u);
  EXPECT_EQ(s.files_written, 1u);
  EXPECT_EQ(s.bytes, fs::file_size(*path));
  EXPECT_EQ(s.bytes, 24u + 900u * (16 + 1500));
}

TEST_F(EvidenceStoreTest, APeerNarrowsTheFileToOneConversation) {
  EvidenceStore store(*recorder_, options());
  traffic(1, 0, 10);
  traffic(2, 0, 10);
  // Host 10.0.0.100 talks to both; the alert names the conversation with .2.
  store.request({3, v4(100), v4(2), 1 * kSecond, 9 * kSecond});
  store.drain();
  const auto packets = read(*store.file_for(3));
  ASSERT_FALSE(packets.empty());
  for (const auto& [t, host] : packets) EXPECT_EQ(host, 2);
}

TEST_F(EvidenceStoreTest, KeepsToThePerAlertAndFolderBudgets) {
  EvidenceOptions o = options();
  o.max_alert_bytes = 10'000;  // ~80 packets of 100 bytes (+16 each, +24 header)
  o.max_total_bytes = 25'000;  // two full files
  EvidenceStore store(*recorder_, o);
  traffic(1, 0, 30);
  traffic(2, 0, 30);
  traffic(3, 0, 30);
  for (std::uint8_t h = 1; h <= 3; ++h) {
    store.request({h, v4(h), std::nullopt, 10 * kSecond, 29 * kSecond});
    store.drain();
  }
  const EvidenceStats s = store.stats();
  EXPECT_GT(s.truncated_packets, 0u);
  EXPECT_LE(s.bytes, 25'000u);
  EXPECT_EQ(s.files_evicted, 1u);
  EXPECT_FALSE(store.file_for(1).has_value()) << "the least recently written file went first";
  ASSERT_TRUE(store.file_for(3).has_value());
  EXPECT_LE(fs::file_size(*store.file_for(3)), 10'000u);
  std::uint64_t on_disk = 0;
  for (const auto& e : fs::directory_iterator(dir_)) on_disk += e.file_size();
  EXPECT_EQ(on_disk, s.bytes);
}

TEST_F(EvidenceStoreTest, AFullFileCountsEachLaterPacketOnceHoweverOftenTheAlertIsUpdated) {
  EvidenceOptions o = options();
  o.max_alert_bytes = 10'000;  // 86 packets of 100 bytes (+16 each, after the 24-byte header)
  EvidenceStore store(*recorder_, o);
  traffic(1, 0, 20);  // 200 packets
  store.request({4, v4(1), std::nullopt, 0, 19 * kSecond});
  store.drain();
  const EvidenceStats first = store.stats();
  EXPECT_EQ(first.packets_written, 86u);
  EXPECT_EQ(first.truncated_packets, 200u - 86u);
  // The alert stays engaged: each update looks at the packets since the last one, once.
  traffic(1, 20, 25);  // 50 more
  store.request({4, v4(1), std::nullopt, 0, 24 * kSecond});
  store.drain();
  store.request({4, v4(1), std::nullopt, 0, 24 * kSecond});
  store.drain();
  traffic(1, 25, 27);  // 20 more
  store.request({4, v4(1), std::nullopt, 0, 26 * kSecond});
  store.drain();
  const EvidenceStats s = store.stats();
  EXPECT_EQ(s.packets_written, 86u);
  EXPECT_EQ(s.truncated_packets, 270u - 86u) << "every packet past the cap counted once";
  EXPECT_EQ(fs::file_size(*store.file_for(4)), 24u + 86u * 116u);
}

TEST_F(EvidenceStoreTest, CountsFilesOfAnEarlierRunAndIgnoresStrangers) {
  {
    EvidenceStore store(*recorder_, options());
    traffic(1, 0, 5);
    store.request({11, v4(1), std::nullopt, 1 * kSecond, 4 * kSecond});
  }  // the destructor writes what is pending
  std::ofstream(dir_ / "notes.txt") << "not evidence";
  EvidenceStore again(*recorder_, options());
  EXPECT_EQ(again.stats().files, 1u);
  EXPECT_TRUE(again.file_for(11).has_value());
  EXPECT_GT(again.stats().bytes, 24u);
}

TEST_F(EvidenceStoreTest, DoesNothingWhenTheRecorderIsOff) {
  capture::RecorderOptions off;
  off.memory_bytes = 0;
  capture::PacketRecorder recorder(off);
  EvidenceStore store(recorder, options());
  store.request({1, v4(1), std::nullopt, 0, kSecond});
  store.drain();
  EXPECT_EQ(store.stats().requests, 0u);
  EXPECT_FALSE(store.file_for(1).has_value());
}

TEST_F(EvidenceStoreTest, TheSinkAsksForEveryDeliveryOfAnAlertAboutAHostOrANetwork) {
  EvidenceStore store(*recorder_, options());
  EvidenceSink sink(store);
  traffic(1, 0, 10);
  traffic(2, 0, 10);
  traffic(9, 0, 10);
  detect::Alert alert;
  alert.id = 5;
  alert.host = v4(1);
  alert.time_ns = 6 * kSecond;
  alert.last_ns = 7 * kSecond;
  sink.on_alert(alert, detect::AlertChange::kRaised);
  detect::Alert volume = alert;  // an interface alert: no host, no packets to keep
  volume.id = 6;
  volume.host = net::IpAddress{};
  volume.interface = "eth0";
  sink.on_alert(volume, detect::AlertChange::kRaised);
  // A network's alert (a flood spread over the hosts of 10.0.0.0/30): the packets of any of them.
  detect::Alert network = volume;
  network.id = 7;
  network.interface = "10.0.0.0/30";
  sink.on_alert(network, detect::AlertChange::kRaised);
  sink.flush();
  ASSERT_TRUE(store.file_for(5).has_value());
  EXPECT_FALSE(store.file_for(6).has_value());
  ASSERT_TRUE(store.file_for(7).has_value());
  std::map<int, int> by_host;
  for (const auto& [t, host] : read(*store.file_for(7))) ++by_host[host];
  // From 5 s before its first time (6 s) to a second after its last (7 s): 1 s to 8 s.
  EXPECT_EQ(by_host, (std::map<int, int>{{1, 71}, {2, 71}}));
  auto first = read(*store.file_for(5));
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first.front().first, 1 * kSecond);  // 5 s before the alert's first time
  EXPECT_LE(first.back().first, 8 * kSecond);
  for (const auto& [t, host] : first) EXPECT_EQ(host, 1);
  // An update extends the file with the newer packets.
  traffic(1, 10, 12);
  alert.last_ns = 11 * kSecond;
  sink.on_alert(alert, detect::AlertChange::kUpdated);
  sink.flush();
  const auto grown = read(*store.file_for(5));
  EXPECT_GT(grown.size(), first.size());
  EXPECT_GT(grown.back().first, 10 * kSecond);
}

TEST(EvidenceSink, ANetworkProfileIsAPrefixAndNothingElse) {
  const auto block = network_profile("10.9.0.0/16");
  ASSERT_TRUE(block.has_value());
  EXPECT_EQ(block->network.to_string(), "10.9.0.0");
  EXPECT_EQ(block->prefix, 16);
  const auto v6 = network_profile("2001:db8:1::/48");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->prefix, 48);
  for (const char* other :
       {"eth0", "capture", "total", "10.0.0.5", "10.0.0.0/0", "10.0.0.0/33", "junk/8", "", "/24"}) {
    EXPECT_FALSE(network_profile(other).has_value()) << other;
  }
}

TEST_F(EvidenceStoreTest, ADownloadReadsWholeRecordsOnly) {
  EvidenceStore store(*recorder_, options());
  traffic(1, 0, 2);
  store.request({3, v4(1), std::nullopt, 0, kSecond});
  store.drain();
  const auto path = *store.file_for(3);
  const auto whole = read_evidence_file(path, kMaxEvidenceFileBytes);
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(whole->size(), fs::file_size(path));
  // A record being appended (half written) is left out; a file over the limit or not a pcap is
  // not served.
  std::ofstream(path, std::ios::binary | std::ios::app) << std::string(20, 'x');
  const auto cut = read_evidence_file(path, kMaxEvidenceFileBytes);
  ASSERT_TRUE(cut.has_value());
  EXPECT_EQ(*cut, *whole);
  EXPECT_FALSE(read_evidence_file(path, 100).has_value());
  std::ofstream(dir_ / "alert-4.pcap", std::ios::binary) << std::string(64, 'y');
  EXPECT_FALSE(read_evidence_file(dir_ / "alert-4.pcap", kMaxEvidenceFileBytes).has_value());
  EXPECT_FALSE(read_evidence_file(dir_ / "alert-9.pcap", kMaxEvidenceFileBytes).has_value());
}

}  // namespace
}  // namespace netsentry::store
