#include "host/connection_reader.h"

#include <gtest/gtest.h>

#include <chrono>

#include "core/error.h"
#include "host/fake_proc.h"

namespace netsentry::host {
namespace {

using Clock = std::chrono::system_clock;

ConnectionReaderOptions options_for(const testing::FakeProc& proc, bool resolve_processes = true) {
  ConnectionReaderOptions options;
  options.proc_root = proc.root();
  options.resolve_processes = resolve_processes;
  return options;
}

constexpr std::string_view kHeader =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n";

TEST(ConnectionReader, ReadsAllTablesAndAttachesOwners) {
  testing::FakeProc proc;
  proc.write("net/tcp", std::string(kHeader) +
                            "   0: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 "
                            "00000000     0        0 21547 1 0000000000000000 100 0 0 10 0\n");
  proc.write("net/tcp6", std::string(kHeader) +
                             "   0: 00000000000000000000000001000000:0277 "
                             "00000000000000000000000000000000:0000 0A 00000000:00000000 "
                             "00:00000000 00000000     0        0 21548 1 0000000000000000\n");
  proc.write("net/udp", std::string(kHeader) +
                            "  512: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 "
                            "00000000   101        0 17001 2 0000000000000000 0\n");
  // udp6 is absent, as on a kernel booted with ipv6.disable=1.
  proc.add_fd(640, "cupsd", 9, "socket:[21547]");
  proc.add_fd(640, "cupsd", 10, "socket:[21548]");

  ConnectionReader reader(options_for(proc));
  const auto connections = reader.read(Clock::now());
  ASSERT_EQ(connections.size(), 3u);
  EXPECT_EQ(connections[0].socket.local.ip.to_string(), "127.0.0.1");
  EXPECT_EQ(connections[0].pid, 640);
  EXPECT_EQ(connections[0].process, "cupsd");
  EXPECT_EQ(connections[1].socket.local.ip.to_string(), "::1");
  EXPECT_EQ(connections[1].pid, 640);
  EXPECT_EQ(connections[2].socket.transport, Transport::kUdp);
  EXPECT_EQ(connections[2].pid, kUnknownPid);
  EXPECT_TRUE(connections[2].process.empty());
  EXPECT_EQ(reader.malformed_lines(), 0u);
}

TEST(ConnectionReader, SkipsOwnerLookupWhenDisabled) {
  testing::FakeProc proc;
  proc.write("net/tcp", std::string(kHeader) +
                            "   0: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 "
                            "00000000     0        0 21547 1 0000000000000000 100 0 0 10 0\n");
  proc.add_fd(640, "cupsd", 9, "socket:[21547]");
  ConnectionReader reader(options_for(proc, false));
  const auto connections = reader.read(Clock::now());
  ASSERT_EQ(connections.size(), 1u);
  EXPECT_EQ(connections[0].pid, kUnknownPid);
  EXPECT_EQ(reader.resolver().scans(), 0u);
}

TEST(ConnectionReader, ThrowsNamingTheDirectoryWhenNoTableExists) {
  testing::FakeProc proc;
  ConnectionReader reader(options_for(proc));
  try {
    (void)reader.read(Clock::now());
    FAIL() << "expected core::Error";
  } catch (const core::Error& error) {
    EXPECT_NE(std::string(error.what()).find((proc.root() / "net").string()), std::string::npos)
        << error.what();
  }
}

TEST(ConnectionReader, ReadsThisMachinesSocketTables) {
  ConnectionReader reader;
  EXPECT_NO_THROW((void)reader.read(Clock::now()));
  EXPECT_EQ(reader.malformed_lines(), 0u);
}

}  // namespace
}  // namespace netsentry::host
