// Zeek's conn_state and history for the connection shapes conn.log documents.
#include "flow/connection_state.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "flow_test_support.h"

namespace netsentry::flow {
namespace {

using namespace netsentry::flow::testing;
namespace tf = net::tcp_flag;

struct Step {
  bool from_orig;
  std::uint8_t flags;
  std::uint32_t payload = 0;
  std::uint32_t seq = 0;  // 0: continue the side's own sequence
  std::uint16_t window = 1000;
};

struct Result {
  ConnState state;
  std::string history;
  bool closed;
};

Result run(std::initializer_list<Step> steps, bool flipped = false) {
  Connection c;
  c.start(6, flipped);
  std::uint32_t seq[2] = {1000, 5000};
  std::uint64_t packets[2] = {0, 0};
  for (const Step& s : steps) {
    const int side = s.from_orig ? 0 : 1;
    const Endpoint& from = s.from_orig ? kClient : kServer;
    const Endpoint& to = s.from_orig ? kServer : kClient;
    net::Packet p = tcp(kT0, from, to, s.flags, s.payload, 20, s.window);
    p.tcp_seq = s.seq != 0 ? s.seq : seq[side];
    seq[side] = p.tcp_seq + s.payload + ((s.flags & (tf::kSyn | tf::kFin)) ? 1 : 0);
    ++packets[side];
    EXPECT_FALSE(c.add(p, s.from_orig));
  }
  return {c.state(packets[0], packets[1]), std::string(c.history().view()), c.closed()};
}

constexpr std::uint8_t kSyn = tf::kSyn;
constexpr std::uint8_t kSynAck = tf::kSyn | tf::kAck;
constexpr std::uint8_t kAck = tf::kAck;
constexpr std::uint8_t kPshAck = tf::kPsh | tf::kAck;
constexpr std::uint8_t kFinAck = tf::kFin | tf::kAck;
constexpr std::uint8_t kRst = tf::kRst;
constexpr std::uint8_t kRstAck = tf::kRst | tf::kAck;

TEST(Connection, NormalEstablishmentAndTerminationIsSF) {
  const Result r = run({{true, kSyn},
                        {false, kSynAck},
                        {true, kAck},
                        {true, kPshAck, 100},
                        {false, kPshAck, 300},
                        {true, kFinAck},
                        {false, kFinAck},
                        {true, kAck}});
  EXPECT_EQ(r.state, ConnState::kSF);
  EXPECT_EQ(r.history, "ShADdFf");
  EXPECT_TRUE(r.closed);
}

TEST(Connection, AttemptWithoutReplyIsS0AndRejectionIsREJ) {
  const Result s0 = run({{true, kSyn}, {true, kSyn, 0, 1000}});
  EXPECT_EQ(s0.state, ConnState::kS0);
  EXPECT_EQ(s0.history, "S");  // a retransmitted SYN (same sequence number) adds nothing
  EXPECT_FALSE(s0.closed);

  const Result rej = run({{true, kSyn}, {false, kRstAck}});
  EXPECT_EQ(rej.state, ConnState::kREJ);
  EXPECT_EQ(rej.history, "Sr");
  EXPECT_TRUE(rej.closed);
}

TEST(Connection, EstablishedStates) {
  EXPECT_EQ(run({{true, kSyn}, {false, kSynAck}, {true, kAck}}).state, ConnState::kS1);
  EXPECT_EQ(run({{true, kSyn}, {false, kSynAck}, {true, kAck}, {true, kFinAck}}).state,
            ConnState::kS2);
  EXPECT_EQ(run({{true, kSyn}, {false, kSynAck}, {true, kAck}, {false, kFinAck}}).state,
            ConnState::kS3);
}

TEST(Connection, ResetsByEitherSide) {
  const Result rsto = run({{true, kSyn}, {false, kSynAck}, {true, kAck}, {true, kRst}});
  EXPECT_EQ(rsto.state, ConnState::kRSTO);
  EXPECT_EQ(rsto.history, "ShAR");
  EXPECT_EQ(run({{true, kSyn}, {false, kSynAck}, {true, kAck}, {false, kRst}}).state,
            ConnState::kRSTR);
  const Result rstos0 = run({{true, kSyn}, {true, kRst}});
  EXPECT_EQ(rstos0.state, ConnState::kRSTOS0);
  EXPECT_EQ(rstos0.history, "SR");
  // The responder's SYN-ACK, then its RST, and never the originator's SYN.
  EXPECT_EQ(run({{false, kSynAck}, {false, kRst}}).state, ConnState::kRSTRH);
}

TEST(Connection, HalfOpenCloses) {
  EXPECT_EQ(run({{true, kSyn}, {true, kFinAck}}).state, ConnState::kSH);
  EXPECT_EQ(run({{false, kSynAck}, {false, kFinAck}}).state, ConnState::kSHR);
}

TEST(Connection, MidstreamTrafficIsOTH) {
  const Result r = run({{true, kPshAck, 100, 77777}, {false, kAck}});
  EXPECT_EQ(r.state, ConnState::kOTH);
  EXPECT_EQ(r.history, "Da");
}

TEST(Connection, RetransmissionsAndZeroWindowsAreScaled) {
  // Eleven retransmissions of the same segment: 'T' at the 1st and the 10th.
  Connection c;
  c.start(6, false);
  net::Packet syn = tcp(kT0, kClient, kServer, kSyn, 0, 20, 1000);
  syn.tcp_seq = 1000;
  (void)c.add(syn, true);
  net::Packet data = tcp(kT0, kClient, kServer, kPshAck, 100, 20, 1000);
  data.tcp_seq = 1001;
  for (int i = 0; i < 12; ++i) (void)c.add(data, true);
  EXPECT_EQ(std::string(c.history().view()), "SDTT");
  net::Packet zero = tcp(kT0, kServer, kClient, kAck, 0, 20, 0);
  zero.tcp_seq = 5000;
  (void)c.add(zero, false);
  EXPECT_EQ(std::string(c.history().view()), "SDTTaw");
}

TEST(Connection, MultiFlagPacketsAreQAndI) {
  EXPECT_EQ(run({{true, tf::kSyn | tf::kFin}}).history, "Q");
  EXPECT_EQ(run({{true, tf::kFin | tf::kRst}}).history, "I");
}

TEST(Connection, SynAnsweringAFirstSynAckSwapsTheRoles) {
  // The server's SYN-ACK reached the capture before the client's SYN.
  Connection c;
  c.start(6, false);
  net::Packet synack = tcp(kT0, kServer, kClient, kSynAck, 0, 20, 1000);
  synack.tcp_seq = 5000;
  EXPECT_FALSE(c.add(synack, true));  // the first packet's source is the originator so far
  net::Packet syn = tcp(kT0, kClient, kServer, kSyn, 0, 20, 1000);
  syn.tcp_seq = 1000;
  EXPECT_TRUE(c.add(syn, false));
  c.flip();
  EXPECT_EQ(std::string(c.history().view()), "hS^");
  net::Packet ack = tcp(kT0, kClient, kServer, kAck, 0, 20, 1000);
  ack.tcp_seq = 1001;
  EXPECT_FALSE(c.add(ack, true));
  EXPECT_EQ(c.state(2, 1), ConnState::kS1);
}

TEST(Connection, UdpStates) {
  Connection c;
  c.start(17, false);
  (void)c.add(udp(kT0, kClient, kServer, 10), true);
  EXPECT_EQ(c.state(1, 0), ConnState::kS0);
  (void)c.add(udp(kT0, kServer, kClient, 10), false);
  EXPECT_EQ(c.state(1, 1), ConnState::kSF);
  EXPECT_EQ(std::string(c.history().view()), "Dd");
  EXPECT_EQ(c.state(0, 1), ConnState::kSHR);
  Connection icmp;
  icmp.start(1, false);
  EXPECT_EQ(icmp.state(1, 1), ConnState::kOTH);
}

TEST(InitiatorRules, FollowZeeksLikelyServerPorts) {
  // A SYN: its sender is the client, whatever the ports.
  EXPECT_FALSE(initiator_is_destination(tcp(kT0, kServer, kClient, kSyn)));
  // Mid-connection or SYN-ACK from 443 to an ephemeral port: the destination is the client.
  EXPECT_TRUE(initiator_is_destination(tcp(kT0, kServer, kClient, kAck)));
  EXPECT_TRUE(initiator_is_destination(tcp(kT0, kServer, kClient, kSynAck)));
  EXPECT_FALSE(initiator_is_destination(tcp(kT0, kClient, kServer, kAck)));
  // Both plausible servers: a non-SYN flips only from the lower port.
  const Endpoint smtp{ipv4(10, 0, 0, 25), 25};
  const Endpoint http{ipv4(10, 0, 0, 80), 80};
  EXPECT_TRUE(initiator_is_destination(tcp(kT0, smtp, http, kAck)));
  EXPECT_FALSE(initiator_is_destination(tcp(kT0, http, smtp, kAck)));
  EXPECT_FALSE(initiator_is_destination(tcp(kT0, smtp, http, kSynAck)));
  // UDP: a DNS answer seen first.
  const Endpoint dns{ipv4(10, 0, 0, 53), 53};
  EXPECT_TRUE(initiator_is_destination(udp(kT0, dns, kClient, 40)));
  // ... but not towards a multicast group.
  EXPECT_FALSE(initiator_is_destination(udp(kT0, dns, Endpoint{ipv4(224, 0, 0, 251), 5000}, 40)));
  EXPECT_TRUE(is_likely_server_port(6, 22));
  EXPECT_FALSE(is_likely_server_port(6, 51000));
}

}  // namespace
}  // namespace netsentry::flow
