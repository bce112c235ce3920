#include "store/alert_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "support/sample_alert.h"

namespace netsentry::store {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Sets TZ for one test so timestamps are predictable, and restores it.
class ScopedUtc {
 public:
  ScopedUtc() {
    if (const char* old = ::getenv("TZ")) old_ = old;
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
  ~ScopedUtc() {
    if (old_.empty()) {
      ::unsetenv("TZ");
    } else {
      ::setenv("TZ", old_.c_str(), 1);
    }
    ::tzset();
  }

 private:
  std::string old_;
};

detect::Alert scan_alert() { return testing::sample_scan_alert(); }

class AlertLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "netsentry-alertlog-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(AlertLogTest, StartsWithTheContractColumnsInOrder) {
  {
    AlertLog log({.directory = dir_});
    log.flush();
  }
  const std::vector<std::string> lines = lines_of(read_file(dir_ / "alerts.csv"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].starts_with(
      "timestamp,severity,kind,src_ip,src_port,dst_ip,dst_port,protocol,score,votes,count,reason,"))
      << lines[0];
}

TEST_F(AlertLogTest, WritesOneRowPerAlertWithQuotedReasonAndEmptyUnknowns) {
  ScopedUtc utc;
  {
    AlertLog log({.directory = dir_ / "out"});  // created on demand
    log.write(scan_alert());
    detect::Alert volume;
    volume.time_ns = 1795477501'000000000;
    volume.severity = detect::Severity::kCritical;
    volume.kind = std::string(detect::kind::kVolume);
    volume.interface = "eth0";
    volume.score = 9.3f;
    volume.reason = "Traffic 9.3 MB/s, 14x the forecast";
    log.write(volume);
    log.flush();
  }
  const std::vector<std::string> lines = lines_of(read_file(dir_ / "out" / "alerts.csv"));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1],
            "2026-11-23T23:45:01.250Z,HIGH,port_scan,10.0.0.66,,10.0.0.5,22,TCP,0.9100,3,12,"
            "\"Port scan suspected: 2,998 ports on 10.0.0.5 probed from 10.0.0.66 in 0.6 s\",7,,"
            "2026-11-23T23:45:02.000Z,4,isolation_forest=0.8000/0.6000 yes; lstm=0.1000/0.5000 no,"
            "\"distinct_ports=2998 (expected 3, deviation 41.5)\",raised,engaged,10.0.0.66,"
            "attacker,0,port_scan HIGH 0.95 x2998: Port scan suspected");
  EXPECT_EQ(lines[2],
            "2026-11-23T23:45:01.000Z,CRITICAL,volume,,,,,,9.3000,0,1,"
            "\"Traffic 9.3 MB/s, 14x the forecast\",,eth0,,0,,,raised,engaged,,,0,");
}

TEST_F(AlertLogTest, AppendsAcrossRestartsWithOneHeader) {
  for (int run = 0; run < 2; ++run) {
    AlertLog log({.directory = dir_});
    log.write(scan_alert());
    log.flush();
  }
  const std::vector<std::string> lines = lines_of(read_file(dir_ / "alerts.csv"));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(lines[0].starts_with("timestamp,"));
  EXPECT_EQ(lines[1], lines[2]);
}

TEST_F(AlertLogTest, RotatesBySize) {
  AlertLog log({.directory = dir_, .max_bytes = 600, .keep = 2});
  for (int i = 0; i < 6; ++i) log.write(scan_alert());
  log.flush();
  EXPECT_TRUE(fs::exists(dir_ / "alerts.csv.1"));
  EXPECT_LE(fs::file_size(dir_ / "alerts.csv"), 600u);
}

TEST_F(AlertLogTest, KeepsAnOlderFileAsideAndStartsANewOne) {
  std::ofstream(dir_ / "alerts.csv") << "time,what\n1,2\n";
  {
    AlertLog log({.directory = dir_});
    log.write(scan_alert());
    log.flush();
  }
  EXPECT_EQ(read_file(dir_ / "alerts.csv.old"), "time,what\n1,2\n");
  const std::vector<std::string> lines = lines_of(read_file(dir_ / "alerts.csv"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].starts_with("timestamp,"));
}

TEST_F(AlertLogTest, WritesTheLifecycleOfAnAlertWithUpdatesAtMostOncePerInterval) {
  detect::Alert a = scan_alert();
  {
    AlertLog log({.directory = dir_, .update_interval_ns = 60'000'000'000});
    log.on_alert(a, detect::AlertChange::kRaised);
    for (int i = 1; i <= 100; ++i) {  // an update a second for 100 s
      a.last_ns = scan_alert().last_ns + i * 1'000'000'000LL;
      a.count = 12 + static_cast<std::uint64_t>(i);
      log.on_alert(a, detect::AlertChange::kUpdated);
    }
    a.severity = detect::Severity::kCritical;
    log.on_alert(a, detect::AlertChange::kEscalated);
    a.state = detect::AlertState::kPast;
    log.on_alert(a, detect::AlertChange::kPast);
    log.flush();
  }
  const std::vector<std::string> lines = lines_of(read_file(dir_ / "alerts.csv"));
  // Header, raised, the update 60 s after it, escalated, past.
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_NE(lines[1].find(",raised,engaged,"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find(",updated,engaged,"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find(",TCP,0.9100,3,72,"), std::string::npos) << lines[2];  // count 72
  EXPECT_NE(lines[3].find(",escalated,engaged,"), std::string::npos) << lines[3];
  EXPECT_NE(lines[4].find(",past,past,"), std::string::npos) << lines[4];
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_NE(lines[i].find(",7,"), std::string::npos) << "one id in every row: " << lines[i];
  }
}

TEST_F(AlertLogTest, NewRowsReachTheFileWithinTheFlushInterval) {
  AlertLog log({.directory = dir_, .flush_interval = std::chrono::milliseconds(50)});
  log.on_alert(scan_alert(), detect::AlertChange::kRaised);  // the first row flushes at once
  EXPECT_EQ(lines_of(read_file(dir_ / "alerts.csv")).size(), 2u);
  detect::Alert second = scan_alert();
  second.id = 8;
  log.on_alert(second, detect::AlertChange::kRaised);
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  log.tick();
  EXPECT_EQ(lines_of(read_file(dir_ / "alerts.csv")).size(), 3u);
}

}  // namespace
}  // namespace netsentry::store
