#include "host/process_resolver.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "host/fake_proc.h"

namespace netsentry::host {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::system_clock;

std::vector<SocketEntry> sockets_with_inodes(std::initializer_list<std::uint64_t> inodes) {
  std::vector<SocketEntry> sockets;
  for (const std::uint64_t inode : inodes) sockets.emplace_back().inode = inode;
  return sockets;
}

class ProcessResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    proc_.add_fd(101, "nginx", 3, "socket:[5001]");
    proc_.add_fd(101, "nginx", 4, "/var/log/nginx/access.log");
    proc_.add_fd(101, "nginx", 5, "pipe:[5002]");
    proc_.add_fd(202, "sshd", 7, "socket:[6001]");
    proc_.add_fd(202, "sshd", 8, "socket:[6002]");
    proc_.write("self/comm", "not-a-pid\n");  // non-numeric entries are not processes
    proc_.write("303/comm", "kworker\n");     // a process without an fd directory
  }

  ProcessResolver make(milliseconds interval = milliseconds(1000), std::size_t max_fds = 1 << 18) {
    ProcessResolverOptions options;
    options.proc_root = proc_.root();
    options.min_rescan_interval = interval;
    options.max_fds_per_scan = max_fds;
    return ProcessResolver(options);
  }

  testing::FakeProc proc_;
  Clock::time_point t0_ = Clock::time_point(std::chrono::seconds(1'700'000'000));
};

TEST_F(ProcessResolverTest, MapsSocketInodesToPidAndComm) {
  ProcessResolver resolver = make();
  resolver.update(sockets_with_inodes({5001, 6002}), t0_);
  const ProcessInfo* web = resolver.find(5001);
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->pid, 101);
  EXPECT_EQ(web->name, "nginx");
  const ProcessInfo* ssh = resolver.find(6002);
  ASSERT_NE(ssh, nullptr);
  EXPECT_EQ(ssh->pid, 202);
  EXPECT_EQ(ssh->name, "sshd");
}

TEST_F(ProcessResolverTest, LeavesUnownedAndUnaskedInodesUnknown) {
  ProcessResolver resolver = make();
  resolver.update(sockets_with_inodes({5001, 9999}), t0_);
  EXPECT_EQ(resolver.find(9999), nullptr);
  EXPECT_EQ(resolver.find(5002), nullptr);  // a pipe, not a socket
  EXPECT_EQ(resolver.find(6001), nullptr);  // a socket nobody asked about is not kept
}

TEST_F(ProcessResolverTest, DoesNotRescanWhenEveryInodeIsAlreadyKnown) {
  ProcessResolver resolver = make();
  resolver.update(sockets_with_inodes({5001, 6001}), t0_);
  resolver.update(sockets_with_inodes({5001, 6001}), t0_ + milliseconds(5000));
  resolver.update(sockets_with_inodes({6001}), t0_ + milliseconds(9000));
  EXPECT_EQ(resolver.scans(), 1u);
}

TEST_F(ProcessResolverTest, DoesNotRescanForInodesTheLastScanCouldNotResolve) {
  ProcessResolver resolver = make();
  resolver.update(sockets_with_inodes({5001, 9999}), t0_);
  resolver.update(sockets_with_inodes({5001, 9999}), t0_ + milliseconds(5000));
  EXPECT_EQ(resolver.scans(), 1u);
}

TEST_F(ProcessResolverTest, RescansForANewInodeAtMostOncePerInterval) {
  ProcessResolver resolver = make();
  resolver.update(sockets_with_inodes({5001}), t0_);
  proc_.add_fd(404, "curl", 3, "socket:[7001]");
  resolver.update(sockets_with_inodes({5001, 7001}), t0_ + milliseconds(300));
  EXPECT_EQ(resolver.scans(), 1u);
  EXPECT_EQ(resolver.find(7001), nullptr);
  resolver.update(sockets_with_inodes({5001, 7001}), t0_ + milliseconds(1000));
  EXPECT_EQ(resolver.scans(), 2u);
  const ProcessInfo* curl = resolver.find(7001);
  ASSERT_NE(curl, nullptr);
  EXPECT_EQ(curl->pid, 404);
  EXPECT_EQ(curl->name, "curl");
  ASSERT_NE(resolver.find(5001), nullptr);
}

TEST_F(ProcessResolverTest, RescansWhenTheClockStepsBackwards) {
  ProcessResolver resolver = make();
  resolver.update(sockets_with_inodes({5001}), t0_);
  resolver.update(sockets_with_inodes({5001, 6001}), t0_ - milliseconds(10));
  EXPECT_EQ(resolver.scans(), 2u);
}

TEST_F(ProcessResolverTest, StopsAScanAtTheDescriptorBudget) {
  ProcessResolver resolver = make(milliseconds(1000), 1);
  resolver.update(sockets_with_inodes({5001, 6001, 6002}), t0_);
  EXPECT_EQ(resolver.truncated_scans(), 1u);
  int resolved = 0;
  for (const std::uint64_t inode : {5001u, 6001u, 6002u})
    resolved += resolver.find(inode) != nullptr;
  EXPECT_LE(resolved, 1);
}

TEST_F(ProcessResolverTest, MissingProcRootResolvesNothingWithoutThrowing) {
  ProcessResolverOptions options;
  options.proc_root = proc_.root() / "absent";
  ProcessResolver resolver(options);
  resolver.update(sockets_with_inodes({5001}), t0_);
  EXPECT_EQ(resolver.find(5001), nullptr);
}

}  // namespace
}  // namespace netsentry::host
