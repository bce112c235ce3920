#include "host/connection_tracker.h"

#include <gtest/gtest.h>

#include <vector>

namespace netsentry::host {
namespace {

Connection tcp(std::uint8_t last_octet, std::uint16_t local_port, std::uint16_t remote_port,
               SocketState state, std::uint64_t inode = 1) {
  Connection connection;
  connection.socket.transport = Transport::kTcp;
  connection.socket.local.ip.bytes = {10, 0, 0, last_octet};
  connection.socket.local.port = local_port;
  connection.socket.remote.ip.bytes = {93, 184, 216, 34};
  connection.socket.remote.port = remote_port;
  connection.socket.state = state;
  connection.socket.inode = inode;
  return connection;
}

TEST(ConnectionTracker, ReportsEverySocketAsSnapshotOnFirstCall) {
  ConnectionTracker tracker;
  const std::vector<Connection> now = {tcp(1, 40000, 443, SocketState::kEstablished),
                                       tcp(1, 22, 0, SocketState::kListen)};
  const auto events = tracker.update(now);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, ConnectionEventKind::kSnapshot);
  EXPECT_EQ(events[1].kind, ConnectionEventKind::kSnapshot);
  EXPECT_EQ(events[1].connection.socket.local.port, 22);
  EXPECT_EQ(tracker.tracked(), 2u);
}

TEST(ConnectionTracker, ReportsNothingWhenNothingChanged) {
  ConnectionTracker tracker;
  const std::vector<Connection> now = {tcp(1, 40000, 443, SocketState::kEstablished)};
  (void)tracker.update(now);
  EXPECT_TRUE(tracker.update(now).empty());
}

TEST(ConnectionTracker, ReportsOpenedStateChangedAndClosed) {
  ConnectionTracker tracker;
  (void)tracker.update(std::vector<Connection>{tcp(1, 40000, 443, SocketState::kEstablished),
                                               tcp(1, 40001, 443, SocketState::kEstablished)});
  // 40000 goes to TIME_WAIT (the kernel drops its inode), 40001 disappears, 40002 appears.
  const auto events = tracker.update(std::vector<Connection>{
      tcp(1, 40000, 443, SocketState::kTimeWait, 0), tcp(1, 40002, 443, SocketState::kSynSent)});
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, ConnectionEventKind::kStateChanged);
  EXPECT_EQ(events[0].connection.socket.local.port, 40000);
  EXPECT_EQ(events[0].connection.socket.state, SocketState::kTimeWait);
  EXPECT_EQ(events[1].kind, ConnectionEventKind::kOpened);
  EXPECT_EQ(events[1].connection.socket.local.port, 40002);
  EXPECT_EQ(events[2].kind, ConnectionEventKind::kClosed);
  EXPECT_EQ(events[2].connection.socket.local.port, 40001);
  EXPECT_EQ(events[2].connection.socket.state, SocketState::kEstablished);  // as last seen
}

TEST(ConnectionTracker, DistinguishesTcpFromUdpOnTheSameEndpoints) {
  ConnectionTracker tracker;
  Connection udp = tcp(1, 53, 53, SocketState::kNone);
  udp.socket.transport = Transport::kUdp;
  const auto events =
      tracker.update(std::vector<Connection>{tcp(1, 53, 53, SocketState::kEstablished), udp});
  EXPECT_EQ(events.size(), 2u);
}

TEST(ConnectionTracker, ReportsDuplicateIdentitiesOnce) {
  ConnectionTracker tracker;
  // Two SO_REUSEPORT listeners on one port.
  const std::vector<Connection> now = {tcp(1, 80, 0, SocketState::kListen, 11),
                                       tcp(1, 80, 0, SocketState::kListen, 12)};
  EXPECT_EQ(tracker.update(now).size(), 1u);
  EXPECT_TRUE(tracker.update(now).empty());
  EXPECT_EQ(tracker.tracked(), 1u);
}

TEST(ConnectionTracker, CapsTrackedSocketsAndCountsTheRest) {
  ConnectionTracker tracker(2);
  const auto first = tracker.update(std::vector<Connection>{
      tcp(1, 1, 443, SocketState::kEstablished), tcp(1, 2, 443, SocketState::kEstablished),
      tcp(1, 3, 443, SocketState::kEstablished)});
  EXPECT_EQ(first.size(), 2u);
  EXPECT_EQ(tracker.tracked(), 2u);
  EXPECT_EQ(tracker.untracked_total(), 1u);
}

TEST(ConnectionTracker, KeepsTrackedSocketsWhenNewOnesArriveAtTheCap) {
  ConnectionTracker tracker(2);
  (void)tracker.update(std::vector<Connection>{tcp(1, 1, 443, SocketState::kEstablished),
                                               tcp(1, 2, 443, SocketState::kEstablished)});
  // A new socket listed first must not push out a tracked one (that would fake a close).
  const auto events = tracker.update(std::vector<Connection>{
      tcp(1, 9, 443, SocketState::kEstablished), tcp(1, 1, 443, SocketState::kEstablished),
      tcp(1, 2, 443, SocketState::kEstablished)});
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(tracker.untracked_total(), 1u);
  // Once a tracked socket closes, the new one gets its place.
  const auto later = tracker.update(std::vector<Connection>{
      tcp(1, 9, 443, SocketState::kEstablished), tcp(1, 2, 443, SocketState::kEstablished)});
  ASSERT_EQ(later.size(), 2u);
  EXPECT_EQ(later[0].kind, ConnectionEventKind::kOpened);
  EXPECT_EQ(later[0].connection.socket.local.port, 9);
  EXPECT_EQ(later[1].kind, ConnectionEventKind::kClosed);
  EXPECT_EQ(later[1].connection.socket.local.port, 1);
}

TEST(ConnectionTracker, ReportsEverythingClosedWhenTheListEmpties) {
  ConnectionTracker tracker;
  (void)tracker.update(std::vector<Connection>{tcp(1, 1, 443, SocketState::kEstablished)});
  const auto events = tracker.update({});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, ConnectionEventKind::kClosed);
  EXPECT_EQ(tracker.tracked(), 0u);
}

TEST(ConnectionTracker, NamesEventsForTheCsvColumn) {
  EXPECT_EQ(event_name(ConnectionEventKind::kSnapshot), "snapshot");
  EXPECT_EQ(event_name(ConnectionEventKind::kOpened), "opened");
  EXPECT_EQ(event_name(ConnectionEventKind::kStateChanged), "state_changed");
  EXPECT_EQ(event_name(ConnectionEventKind::kClosed), "closed");
}

}  // namespace
}  // namespace netsentry::host
