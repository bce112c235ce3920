#include "host/proc_sockets.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace netsentry::host {
namespace {

constexpr std::string_view kTcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode                                                     \n"
    "   0: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "21547 1 0000000000000000 100 0 0 10 0                     \n"
    "   1: 0A01A8C0:C822 2EE5D08E:01BB 01 00000000:00000000 02:000A1B2C 00000000  1000        0 "
    "88231 2 0000000000000000 20 4 30 10 -1                    \n"
    "   2: 0A01A8C0:C830 2EE5D08E:01BB 06 00000000:00000000 03:00001770 00000000     0        0 "
    "0 3 0000000000000000\n";

constexpr std::string_view kTcp6 =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 21548 1 0000000000000000 100 0 0 10 0\n"
    "   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:D431 01 "
    "00000000:00000000 00:00000000 00000000   33        0 99001 1 0000000000000000 20 4 1 10 -1\n"
    "   2: 000080FE0000000078563412F0DEBC9A:0016 B80D0120000000000000000001000000:E2F4 08 "
    "00000000:00000000 00:00000000 00000000     0        0 99002 1 0000000000000000 20 4 1 10 -1\n";

constexpr std::string_view kUdp =
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode ref pointer drops            \n"
    "  512: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 "
    "17001 2 0000000000000000 0         \n"
    "  977: 0A01A8C0:A1B2 08080808:0035 01 00000000:00000000 00:00000000 00000000  1000        0 "
    "17002 2 0000000000000000 0         \n";

std::vector<SocketEntry> parse(std::string_view text, Transport transport) {
  std::vector<SocketEntry> out;
  EXPECT_EQ(parse_proc_sockets(text, transport, out), 0u);
  return out;
}

TEST(ProcSockets, DecodesIpv4AsOneLittleEndianWord) {
  const auto sockets = parse(kTcp, Transport::kTcp);
  ASSERT_EQ(sockets.size(), 3u);
  EXPECT_EQ(sockets[0].local.ip.to_string(), "127.0.0.1");
  EXPECT_EQ(sockets[0].local.port, 631);
  EXPECT_EQ(sockets[1].local.ip.to_string(), "192.168.1.10");
  EXPECT_EQ(sockets[1].local.port, 51234);
  EXPECT_EQ(sockets[1].remote.ip.to_string(), "142.208.229.46");
  EXPECT_EQ(sockets[1].remote.port, 443);
  EXPECT_EQ(sockets[1].local.ip.family, AddressFamily::kIpv4);
}

TEST(ProcSockets, ReadsStateUidAndInode) {
  const auto sockets = parse(kTcp, Transport::kTcp);
  ASSERT_EQ(sockets.size(), 3u);
  EXPECT_EQ(sockets[0].state, SocketState::kListen);
  EXPECT_EQ(sockets[1].state, SocketState::kEstablished);
  EXPECT_EQ(sockets[1].uid, 1000u);
  EXPECT_EQ(sockets[1].inode, 88231u);
  EXPECT_EQ(sockets[2].state, SocketState::kTimeWait);
  EXPECT_EQ(sockets[2].inode, 0u);
  EXPECT_EQ(sockets[0].transport, Transport::kTcp);
}

TEST(ProcSockets, ListeningSocketHasEmptyRemoteEndpoint) {
  const auto sockets = parse(kTcp, Transport::kTcp);
  ASSERT_FALSE(sockets.empty());
  EXPECT_TRUE(sockets[0].remote.empty());
  EXPECT_FALSE(sockets[0].local.empty());
}

TEST(ProcSockets, DecodesIpv6LoopbackKeepingWordOrder) {
  const auto sockets = parse(kTcp6, Transport::kTcp);
  ASSERT_EQ(sockets.size(), 3u);
  EXPECT_EQ(sockets[0].local.ip.family, AddressFamily::kIpv6);
  EXPECT_EQ(sockets[0].local.ip.to_string(), "::1");
  EXPECT_EQ(sockets[0].local.port, 631);
  EXPECT_EQ(sockets[0].remote.ip.to_string(), "::");
}

TEST(ProcSockets, DecodesIpv4MappedIpv6Address) {
  const auto sockets = parse(kTcp6, Transport::kTcp);
  ASSERT_EQ(sockets.size(), 3u);
  EXPECT_EQ(sockets[1].local.ip.to_string(), "::ffff:127.0.0.1");
  EXPECT_EQ(sockets[1].local.port, 8080);
  EXPECT_EQ(sockets[1].remote.port, 54321);
  EXPECT_EQ(sockets[1].uid, 33u);
}

TEST(ProcSockets, DecodesEveryIpv6WordByteReversedInPlace) {
  const auto sockets = parse(kTcp6, Transport::kTcp);
  ASSERT_EQ(sockets.size(), 3u);
  EXPECT_EQ(sockets[2].local.ip.to_string(), "fe80::1234:5678:9abc:def0");
  EXPECT_EQ(sockets[2].remote.ip.to_string(), "2001:db8::1");
  EXPECT_EQ(sockets[2].state, SocketState::kCloseWait);
}

TEST(ProcSockets, UdpSocketsHaveStateNoneWhateverTheKernelSays) {
  const auto sockets = parse(kUdp, Transport::kUdp);
  ASSERT_EQ(sockets.size(), 2u);
  EXPECT_EQ(sockets[0].state, SocketState::kNone);
  EXPECT_EQ(sockets[1].state, SocketState::kNone);
  EXPECT_EQ(sockets[0].local.ip.to_string(), "127.0.0.53");
  EXPECT_EQ(sockets[0].local.port, 53);
  EXPECT_EQ(sockets[1].remote.ip.to_string(), "8.8.8.8");
  EXPECT_EQ(sockets[0].transport, Transport::kUdp);
}

TEST(ProcSockets, AppendsToExistingEntries) {
  std::vector<SocketEntry> out;
  EXPECT_EQ(parse_proc_sockets(kTcp, Transport::kTcp, out), 0u);
  EXPECT_EQ(parse_proc_sockets(kUdp, Transport::kUdp, out), 0u);
  EXPECT_EQ(out.size(), 5u);
}

TEST(ProcSockets, CountsAndSkipsMalformedLines) {
  const std::string text = std::string(kTcp) +
                           "   3: 0100007F 00000000:0000 0A 0:0 0:0 0 0 0 1 1\n"   // no port
                           "   4: 0100007F:0277 00000000:0000 0A 0:0 0:0 0 0 0\n"  // no inode
                           "   5: 01007F:0277 00000000:0000 0A 0:0 0:0 0 0 0 7\n"  // short address
                           "   6: 0100007F:0277 00000000000000000000000000000000:0000 0A 0:0 0:0 "
                           "0 0 0 7\n"  // mixed families
                           "   7: 0100007F:0277 00000000:0000 0A 0:0 0:0 0 x 0 7\n";  // bad uid
  std::vector<SocketEntry> out;
  EXPECT_EQ(parse_proc_sockets(text, Transport::kTcp, out), 5u);
  EXPECT_EQ(out.size(), 3u);
}

TEST(ProcSockets, NamesStatesAsPsutilDoes) {
  EXPECT_EQ(state_name(SocketState::kEstablished), "ESTABLISHED");
  EXPECT_EQ(state_name(SocketState::kSynSent), "SYN_SENT");
  EXPECT_EQ(state_name(SocketState::kSynRecv), "SYN_RECV");
  EXPECT_EQ(state_name(SocketState::kFinWait1), "FIN_WAIT1");
  EXPECT_EQ(state_name(SocketState::kFinWait2), "FIN_WAIT2");
  EXPECT_EQ(state_name(SocketState::kTimeWait), "TIME_WAIT");
  EXPECT_EQ(state_name(SocketState::kClose), "CLOSE");
  EXPECT_EQ(state_name(SocketState::kCloseWait), "CLOSE_WAIT");
  EXPECT_EQ(state_name(SocketState::kLastAck), "LAST_ACK");
  EXPECT_EQ(state_name(SocketState::kListen), "LISTEN");
  EXPECT_EQ(state_name(SocketState::kClosing), "CLOSING");
  EXPECT_EQ(state_name(SocketState::kNone), "NONE");
  EXPECT_EQ(socket_type_name(Transport::kTcp), "SOCK_STREAM");
  EXPECT_EQ(socket_type_name(Transport::kUdp), "SOCK_DGRAM");
}

}  // namespace
}  // namespace netsentry::host
