// The top lists kept per hour give exactly what adding up the store's flows gives, while flows
// arrive (late ones too), the window moves on or back, and housekeeping removes old flows; after
// the first request only new flows are counted.
#include "server/top_window.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

namespace netsentry::server {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kHour = 3600 * kSecond;
constexpr std::int64_t kT0 = 1'795'477'501 * kSecond;

class TopWindowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("netsentry-top-window-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store::SqliteStoreOptions o;
    o.path = dir_ / "netsentry.db";
    o.retention = std::chrono::nanoseconds(0);
    store_ = std::make_unique<store::SqliteStore>(o);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  // `n` flows ending in [from_ns, to_ns): a few busy sources and ports among many rare ones,
  // TCP/UDP/ICMP and no-port flows, so ties and every key rule occur.
  void add_flows(int n, std::int64_t from_ns, std::int64_t to_ns) {
    std::uniform_int_distribution<std::int64_t> when(from_ns, to_ns - 1);
    for (int i = 0; i < n; ++i) {
      store::FlowRow row;
      row.end_ns = when(rng_);
      row.start_ns = row.end_ns - kSecond;
      const auto host = static_cast<std::uint8_t>(rng_() % 4 == 0 ? rng_() % 250 : rng_() % 5);
      net::IpAddress::parse("10.0.0." + std::to_string(host), row.src_ip);
      net::IpAddress::parse("192.0.2.7", row.dst_ip);
      const auto kind = rng_() % 10;
      row.ip_proto = kind < 6 ? 6 : kind < 9 ? 17 : 1;
      row.dst_port = row.ip_proto == 1 ? 0
                     : rng_() % 3 == 0 ? static_cast<std::uint16_t>(1024 + rng_() % 3000)
                                       : static_cast<std::uint16_t>(rng_() % 2 == 0   ? 443
                                                                    : rng_() % 8 == 0 ? 0
                                                                                      : 53);
      row.src_port = 40000;
      row.bytes = 60 + rng_() % 5000;
      row.packets = 1 + rng_() % 20;
      row.verdict = "benign";
      row.voters = 1;
      store_->add_flow(row);
    }
    store_->flush();
  }

  static void expect_same(const store::StoreReader::TopAll& got,
                          const store::StoreReader::TopAll& want, const std::string& where) {
    const auto same = [&](const std::vector<store::TopCount>& a,
                          const std::vector<store::TopCount>& b, const char* list) {
      ASSERT_EQ(a.size(), b.size()) << where << " " << list;
      for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].key, b[i].key) << where << " " << list << " #" << i;
        EXPECT_EQ(a[i].bytes, b[i].bytes) << where << " " << list << " " << a[i].key;
        EXPECT_EQ(a[i].packets, b[i].packets) << where << " " << list << " " << a[i].key;
        EXPECT_EQ(a[i].flows, b[i].flows) << where << " " << list << " " << a[i].key;
      }
    };
    same(got.sources, want.sources, "sources");
    same(got.ports, want.ports, "ports");
    same(got.protocols, want.protocols, "protocols");
  }

  void delete_flows_before(std::int64_t cutoff_ns) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "netsentry.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    const std::string sql = "DELETE FROM flows WHERE end_ns < " + std::to_string(cutoff_ns);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }

  fs::path dir_;
  std::unique_ptr<store::SqliteStore> store_;
  std::mt19937_64 rng_{16};
};

TEST_F(TopWindowTest, EqualsAddingUpTheFlowsWhileFlowsArriveAndTheWindowMoves) {
  add_flows(3000, kT0, kT0 + 30 * kHour);
  store::StoreReader reader(dir_ / "netsentry.db");
  store::StoreReader reference(dir_ / "netsentry.db");
  TopWindow window(reader);
  std::int64_t since = kT0 + 5 * kHour + 1234 * kSecond;
  for (int step = 0; step < 12; ++step) {
    for (const std::size_t limit : {std::size_t{3}, std::size_t{50}}) {
      expect_same(window.lists(since, limit), reference.top_all(since, limit),
                  "step " + std::to_string(step) + " limit " + std::to_string(limit));
    }
    // New flows, some of them late (ending in hours the window already counted), and a window
    // that moves on by a few minutes to two hours; once it reaches back.
    add_flows(200, kT0 + 28 * kHour, kT0 + 32 * kHour);
    add_flows(20, since, since + 3 * kHour);
    since += step == 6 ? -3 * kHour : static_cast<std::int64_t>(rng_() % (2 * kHour));
  }
}

TEST_F(TopWindowTest, CountsOnlyTheNewFlowsAfterTheFirstRequest) {
  add_flows(1000, kT0, kT0 + 10 * kHour);
  store::StoreReader reader(dir_ / "netsentry.db");
  TopWindow window(reader);
  (void)window.lists(kT0, 10);
  EXPECT_EQ(window.flows_counted(), 1000u);
  add_flows(37, kT0 + 9 * kHour, kT0 + 11 * kHour);
  (void)window.lists(kT0 + kHour, 10);
  (void)window.lists(kT0 + kHour, 10);
  EXPECT_EQ(window.flows_counted(), 1037u);
}

TEST_F(TopWindowTest, FollowsHousekeepingThatRemovedFlowsInsideTheWindow) {
  add_flows(2000, kT0, kT0 + 10 * kHour);
  store::StoreReader reader(dir_ / "netsentry.db");
  store::StoreReader reference(dir_ / "netsentry.db");
  TopWindow window(reader);
  expect_same(window.lists(kT0, 20), reference.top_all(kT0, 20), "before");
  // The size cap removes the oldest flows, up to the middle of an hour in the window.
  delete_flows_before(kT0 + 4 * kHour + 1800 * kSecond);
  add_flows(50, kT0 + 9 * kHour, kT0 + 10 * kHour);
  expect_same(window.lists(kT0, 20), reference.top_all(kT0, 20), "after");
}

}  // namespace
}  // namespace netsentry::server
