#include "store/traffic_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace netsentry::store {
namespace {

namespace fs = std::filesystem;
using std::chrono::microseconds;
using std::chrono::seconds;
using Clock = std::chrono::system_clock;

// 2026-11-23 23:45:01 UTC.
const Clock::time_point kTime = Clock::time_point(seconds(1795477501));

// Sets TZ for one test and restores it, so other tests in this binary see the usual zone.
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const char* zone) {
    if (const char* old = ::getenv("TZ")) old_ = old;
    ::setenv("TZ", zone, 1);
    ::tzset();
  }
  ~ScopedTimeZone() {
    if (old_) {
      ::setenv("TZ", old_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

 private:
  std::optional<std::string> old_;
};

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class TrafficLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "netsentry-log-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  TrafficLogOptions options() const {
    TrafficLogOptions result;
    result.directory = dir_;
    return result;
  }

  fs::path dir_;
  ScopedTimeZone utc_{"UTC"};
};

host::Connection connection(std::string_view process, std::int32_t pid) {
  host::Connection c;
  c.socket.transport = host::Transport::kTcp;
  c.socket.local.ip.bytes = {192, 168, 1, 10};
  c.socket.local.port = 51234;
  c.socket.remote.ip.bytes = {93, 184, 216, 34};
  c.socket.remote.port = 443;
  c.socket.state = host::SocketState::kEstablished;
  c.pid = pid;
  c.process = process;
  return c;
}

TEST_F(TrafficLogTest, WritesTrafficRowsUnderTheSeedHeader) {
  host::TrafficSample sample;
  sample.timestamp = kTime + microseconds(250000);
  sample.total.bytes_sent = 1200.4;
  sample.total.bytes_recv = 3400.6;
  sample.total.packets_sent = 12;
  sample.total.packets_recv = 34;
  sample.total.errin = 1;
  sample.total.errout = 2;
  sample.total.dropin = 3;
  sample.total.dropout = 4;
  {
    TrafficLog log(options());
    log.write(sample);
    log.flush();
  }
  const auto lines = read_lines(dir_ / "network_traffic.csv");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "timestamp,bytes_sent,bytes_recv,packets_sent,packets_recv,total_bytes,errin,errout,"
            "dropin,dropout");
  EXPECT_EQ(lines[1], "2026-11-23 23:45:01.250000,1200,3401,12,34,4601,1,2,3,4");
}

TEST_F(TrafficLogTest, WritesConnectionEventsUnderTheSeedHeader) {
  host::Connection listener;
  listener.socket.transport = host::Transport::kTcp;
  listener.socket.local.ip.family = host::AddressFamily::kIpv6;
  listener.socket.local.ip.bytes[15] = 1;  // ::1
  listener.socket.local.port = 631;
  listener.socket.remote.ip.family = host::AddressFamily::kIpv6;
  listener.socket.state = host::SocketState::kListen;
  host::Connection dns;
  dns.socket.transport = host::Transport::kUdp;
  dns.socket.local.ip.bytes = {127, 0, 0, 53};
  dns.socket.local.port = 53;

  const std::vector<host::ConnectionEvent> events = {
      {host::ConnectionEventKind::kSnapshot, listener},
      {host::ConnectionEventKind::kOpened, connection("firefox", 4242)},
      {host::ConnectionEventKind::kClosed, dns},
  };
  {
    TrafficLog log(options());
    log.write(kTime, events);
  }
  const auto lines = read_lines(dir_ / "network_connections.csv");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0],
            "timestamp,local_ip,local_port,remote_ip,remote_port,status,type,pid,process,event");
  EXPECT_EQ(lines[1], "2026-11-23 23:45:01,::1,631,,,LISTEN,SOCK_STREAM,,,snapshot");
  EXPECT_EQ(lines[2],
            "2026-11-23 23:45:01,192.168.1.10,51234,93.184.216.34,443,ESTABLISHED,SOCK_STREAM,4242,"
            "firefox,opened");
  EXPECT_EQ(lines[3], "2026-11-23 23:45:01,127.0.0.53,53,,,NONE,SOCK_DGRAM,,,closed");
}

TEST_F(TrafficLogTest, QuotesProcessNamesThatNeedIt) {
  const std::vector<host::ConnectionEvent> events = {
      {host::ConnectionEventKind::kOpened, connection("evil,\"name\"", 7)}};
  {
    TrafficLog log(options());
    log.write(kTime, events);
  }
  const auto lines = read_lines(dir_ / "network_connections.csv");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find(",7,\"evil,\"\"name\"\"\",opened"), std::string::npos) << lines[1];
}

TEST_F(TrafficLogTest, AppendsToFilesFromAnEarlierRun) {
  host::TrafficSample sample;
  sample.timestamp = kTime;
  for (int run = 0; run < 2; ++run) {
    TrafficLog log(options());
    log.write(sample);
  }
  EXPECT_EQ(read_lines(dir_ / "network_traffic.csv").size(), 3u);
}

TEST_F(TrafficLogTest, RefusesAnOldSeedFileWithFewerColumns) {
  std::ofstream(dir_ / "network_traffic.csv")
      << "timestamp,bytes_sent,bytes_recv,packets_sent,packets_recv,total_bytes\n";
  EXPECT_THROW(TrafficLog log(options()), core::Error);
}

TEST_F(TrafficLogTest, CreatesTheDirectory) {
  TrafficLogOptions nested = options();
  nested.directory = dir_ / "a" / "b";
  { TrafficLog log(nested); }
  EXPECT_TRUE(fs::exists(dir_ / "a" / "b" / "network_traffic.csv"));
  EXPECT_TRUE(fs::exists(dir_ / "a" / "b" / "network_connections.csv"));
}

}  // namespace
}  // namespace netsentry::store
