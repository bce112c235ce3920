#include "flow/flow_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <span>
#include <vector>

#include "core/error.h"
#include "flow_test_support.h"

namespace netsentry::flow {
namespace {

using namespace netsentry::flow::testing;
using std::chrono::seconds;
namespace tf = net::tcp_flag;

FlowConfig config_with(seconds idle, seconds active, std::size_t max_flows = 1024) {
  FlowConfig config;
  config.idle_timeout = idle;
  config.active_timeout = active;
  config.max_flows = max_flows;
  return config;
}

TEST(FlowTable, ExpiresIdleFlowsAfterTimeout) {
  CollectingSink sink;
  FlowTable table(config_with(seconds(10), seconds(3600)), sink);
  table.add(udp(kT0, kClient, kServer, 10));
  table.advance(kT0 + 10 * kSec);  // exactly the timeout: not yet idle for *more* than 10 s
  EXPECT_TRUE(sink.records.empty());
  EXPECT_EQ(table.size(), 1u);
  table.advance(kT0 + 10 * kSec + 1);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].end_reason, EndReason::kIdle);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.stats().emitted_by(EndReason::kIdle), 1u);
}

TEST(FlowTable, PacketTimeOfAnotherFlowExpiresIdleFlows) {
  CollectingSink sink;
  FlowTable table(config_with(seconds(10), seconds(3600)), sink);
  table.add(udp(kT0, kClient, kServer, 10));
  table.add(udp(kT0 + 11 * kSec, Endpoint{ipv4(10, 9, 9, 9), 53}, kServer, 10));
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].src_ip, kClient.ip);
  EXPECT_EQ(table.size(), 1u);
}

TEST(FlowTable, PacketAfterIdleGapStartsANewFlow) {
  CollectingSink sink;
  FlowTable table(config_with(seconds(10), seconds(3600)), sink);
  table.add(udp(kT0, kClient, kServer, 10));
  table.add(udp(kT0 + 1 * kSec, kServer, kClient, 10));
  table.add(udp(kT0 + 20 * kSec, kServer, kClient, 10));
  table.flush();
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[0].packet_count, 2u);
  EXPECT_EQ(sink.records[0].end_reason, EndReason::kIdle);
  // The new flow starts with the server's packet from port 443 (a likely server port, as Zeek
  // decides): the client is its initiator.
  EXPECT_EQ(sink.records[1].src_ip, kClient.ip);
  EXPECT_EQ(sink.records[1].dst_port, kServer.port);
  EXPECT_EQ(sink.records[1].end_reason, EndReason::kEndOfInput);
  EXPECT_EQ(table.stats().flows_created, 2u);
}

TEST(FlowTable, InitiatorIsTheSourceOfTheFirstPacket) {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  // The server's address sorts first in the canonical key; direction must not depend on that.
  table.add(udp(kT0, kClient, kServer, 100));
  table.add(udp(kT0 + kMs, kServer, kClient, 300));
  table.add(udp(kT0 + 2 * kMs, kServer, kClient, 300));
  table.flush();
  ASSERT_EQ(sink.records.size(), 1u);
  const FlowRecord& r = sink.records[0];
  EXPECT_EQ(r.src_ip, kClient.ip);
  EXPECT_EQ(r.dst_ip, kServer.ip);
  EXPECT_EQ(r.src_port, kClient.port);
  EXPECT_EQ(r.dst_port, kServer.port);
  EXPECT_EQ(r[CicFeature::kTotalFwdPacket], 1);
  EXPECT_EQ(r[CicFeature::kTotalBwdPackets], 2);
  EXPECT_EQ(r[CicFeature::kTotalLengthBwd], 600);
}

TEST(FlowTable, SplitsLongFlowsAtActiveTimeoutKeepingInitiatorAndConnectionStart) {
  CollectingSink sink;
  FlowTable table(config_with(seconds(120), seconds(60)), sink);
  // A packet every 10 s from 0 to 100 s; the one at 70 s is more than 60 s after the start.
  for (int i = 0; i <= 10; ++i) {
    const bool from_client = i % 2 == 0;
    table.add(tcp(kT0 + i * 10 * kSec, from_client ? kClient : kServer,
                  from_client ? kServer : kClient, tf::kAck));
  }
  table.flush();
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[0].end_reason, EndReason::kActive);
  EXPECT_EQ(sink.records[0].packet_count, 7u);  // 0..60 s
  EXPECT_EQ(sink.records[0][CicFeature::kFlowDuration], 60e6);
  EXPECT_EQ(sink.records[1].packet_count, 4u);  // 70..100 s, first one from the server
  EXPECT_EQ(sink.records[1].src_ip, kClient.ip);
  EXPECT_EQ(sink.records[1][CicFeature::kTotalFwdPacket], 2);
  EXPECT_EQ(sink.records[1][CicFeature::kFlowDuration], 30e6);
  EXPECT_EQ(sink.records[1][CicFeature::kTotalTcpFlowTime], 100e6);
  EXPECT_EQ(table.stats().emitted_by(EndReason::kActive), 1u);
}

TEST(FlowTable, CicModeEndsFlowsAt120SecondsAndDropsSinglePacketFlows) {
  CollectingSink sink;
  FlowTable table(FlowConfig::cic(), sink);
  for (int i = 0; i <= 5; ++i) table.add(udp(kT0 + i * 30 * kSec, kClient, kServer, 10));
  table.flush();
  // 0..120 s is one flow (120 s is not *after* the limit); the packet at 150 s is alone.
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].end_reason, EndReason::kActive);
  EXPECT_EQ(sink.records[0].packet_count, 5u);
  EXPECT_EQ(table.stats().single_packet_suppressed, 1u);
}

TEST(FlowTable, CicModeEndsTcpOnTheFirstFin) {
  CollectingSink sink;
  FlowTable table(FlowConfig::cic(), sink);
  table.add(tcp(kT0, kClient, kServer, tf::kSyn));
  table.add(tcp(kT0 + kMs, kServer, kClient, tf::kSyn | tf::kAck));
  table.add(tcp(kT0 + 2 * kMs, kClient, kServer, tf::kFin | tf::kAck));
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].end_reason, EndReason::kFin);
  EXPECT_EQ(sink.records[0].packet_count, 3u);
  EXPECT_EQ(table.size(), 0u);
}

TEST(FlowTable, TcpTeardownLingersForRemnantsThenEndsAsFin) {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  table.add(tcp(kT0, kClient, kServer, tf::kSyn));
  table.add(tcp(kT0 + 1 * kMs, kServer, kClient, tf::kSyn | tf::kAck));
  table.add(tcp(kT0 + 2 * kMs, kClient, kServer, tf::kAck));
  table.add(tcp(kT0 + 3 * kMs, kClient, kServer, tf::kFin | tf::kAck));
  table.add(tcp(kT0 + 4 * kMs, kServer, kClient, tf::kAck));
  table.add(tcp(kT0 + 5 * kMs, kServer, kClient, tf::kFin | tf::kAck));
  table.add(tcp(kT0 + 6 * kMs, kClient, kServer, tf::kAck));
  // Remnants within the linger time: a retransmitted FIN and its ACK.
  table.add(tcp(kT0 + 2 * kSec, kServer, kClient, tf::kFin | tf::kAck));
  table.add(tcp(kT0 + 2 * kSec + kMs, kClient, kServer, tf::kAck));
  EXPECT_TRUE(sink.records.empty());
  EXPECT_EQ(table.stats().remnants, 3u);
  table.advance(kT0 + 6 * kMs + 5 * kSec + 1);
  ASSERT_EQ(sink.records.size(), 1u);
  const FlowRecord& r = sink.records[0];
  EXPECT_EQ(r.end_reason, EndReason::kFin);
  EXPECT_EQ(r.packet_count, 9u);
  EXPECT_EQ(r.src_ip, kClient.ip);
  EXPECT_EQ(r.conn_state, ConnState::kSF);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.stats().flows_created, 1u);
}

TEST(FlowTable, ClosingFlowWithoutLastAckEndsByIdleTimeoutAsFin) {
  CollectingSink sink;
  FlowTable table(config_with(seconds(5), seconds(3600)), sink);
  table.add(tcp(kT0, kClient, kServer, tf::kFin | tf::kAck));
  table.add(tcp(kT0 + kMs, kServer, kClient, tf::kFin | tf::kAck));
  table.advance(kT0 + 6 * kSec);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].end_reason, EndReason::kFin);
}

TEST(FlowTable, RstClosesTheFlowAndRemnantsNeverStartANewOne) {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  table.add(tcp(kT0, kClient, kServer, tf::kSyn));
  table.add(tcp(kT0 + kMs / 2, kServer, kClient, (tf::kSyn | tf::kAck)));
  table.add(tcp(kT0 + kMs / 2 + 1, kClient, kServer, tf::kAck, 100));
  table.add(tcp(kT0 + kMs, kServer, kClient, tf::kRst | tf::kAck));
  // A late segment and the RST answering it, both after the close: the same connection.
  table.add(tcp(kT0 + 2 * kSec, kServer, kClient, tf::kAck, 100));
  table.add(tcp(kT0 + 2 * kSec + kMs, kClient, kServer, tf::kRst));
  EXPECT_TRUE(sink.records.empty());
  table.advance(kT0 + kMs + 5 * kSec + 1);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].end_reason, EndReason::kRst);
  EXPECT_EQ(sink.records[0].conn_state, ConnState::kRSTR);
  EXPECT_EQ(sink.records[0].packet_count, 6u);
  EXPECT_EQ(sink.records[0][CicFeature::kBwdRstFlags], 1);
  EXPECT_EQ(table.stats().flows_created, 1u);
  EXPECT_EQ(table.stats().remnants, 2u);
}

TEST(FlowTable, APacketAfterTheLingerStartsANewFlow) {
  CollectingSink sink;
  FlowConfig config;
  config.linger = seconds(1);
  FlowTable table(config, sink);
  table.add(tcp(kT0, kClient, kServer, tf::kSyn));
  table.add(tcp(kT0 + kMs, kServer, kClient, (tf::kSyn | tf::kAck)));
  table.add(tcp(kT0 + 2 * kMs, kClient, kServer, tf::kAck));
  table.add(tcp(kT0 + 3 * kMs, kClient, kServer, tf::kRst));
  table.add(tcp(kT0 + 3 * kSec, kServer, kClient, tf::kAck));
  table.flush();
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[0].conn_state, ConnState::kRSTO);
  EXPECT_EQ(sink.records[1].packet_count, 1u);
  EXPECT_EQ(sink.records[1].conn_state, ConnState::kOTH);
}

TEST(FlowTable, ARejectedAttemptEndsAtOnce) {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  table.add(tcp(kT0, kClient, kServer, tf::kSyn));
  table.add(tcp(kT0 + kMs, kServer, kClient, tf::kRst | tf::kAck));
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].conn_state, ConnState::kREJ);
  EXPECT_EQ(sink.records[0].end_reason, EndReason::kRst);
  EXPECT_EQ(table.size(), 0u);
}

TEST(FlowTable, ASynOnAClosedConnectionStartsANewOneAtOnce) {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  table.add(tcp(kT0, kClient, kServer, tf::kSyn));
  table.add(tcp(kT0 + kMs, kServer, kClient, (tf::kSyn | tf::kAck)));
  table.add(tcp(kT0 + 2 * kMs, kClient, kServer, tf::kAck));
  table.add(tcp(kT0 + 3 * kMs, kServer, kClient, tf::kRst | tf::kAck));
  table.add(tcp(kT0 + 4 * kMs, kClient, kServer, tf::kSyn));
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].end_reason, EndReason::kRst);
  EXPECT_EQ(sink.records[0].conn_state, ConnState::kRSTR);
  EXPECT_EQ(table.size(), 1u);
}

TEST(FlowTable, InitiatorFollowsZeeksRulesWhenTheCaptureStartsMidConnection) {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  // The first packet is the server's data from port 443.
  table.add(tcp(kT0, kServer, kClient, tf::kPsh | tf::kAck, 500, 20, 512));
  table.add(tcp(kT0 + kMs, kClient, kServer, tf::kAck, 0, 20, 512));
  // A SYN-ACK seen first, then the SYN it answers (reordered capture).
  const Endpoint c2{ipv4(192, 168, 10, 6), 40001};
  const Endpoint s2{ipv4(10, 0, 0, 81), 40002};  // not a likely server port
  net::Packet synack = tcp(kT0 + 2 * kMs, s2, c2, tf::kSyn | tf::kAck);
  synack.tcp_seq = 9000;
  net::Packet syn = tcp(kT0 + 3 * kMs, c2, s2, tf::kSyn);
  syn.tcp_seq = 100;
  table.add(synack);
  table.add(syn);
  table.flush();
  ASSERT_EQ(sink.records.size(), 2u);
  const FlowRecord& mid =
      sink.records[0].src_port == kClient.port ? sink.records[0] : sink.records[1];
  const FlowRecord& rev = &mid == &sink.records[0] ? sink.records[1] : sink.records[0];
  EXPECT_EQ(mid.src_ip, kClient.ip);
  EXPECT_EQ(mid.dst_port, 443);
  EXPECT_EQ(mid[CicFeature::kTotalBwdPackets], 1);
  EXPECT_EQ(mid.history.view(), "^dA");
  EXPECT_EQ(rev.src_ip, c2.ip);
  EXPECT_EQ(rev.src_port, c2.port);
  EXPECT_EQ(rev[CicFeature::kTotalFwdPacket], 1);
  EXPECT_EQ(rev[CicFeature::kTotalBwdPackets], 1);
  EXPECT_EQ(table.stats().flipped, 1u);
  EXPECT_EQ(table.stats().reversed, 1u);
}

TEST(FlowTable, RecordsCarryCommunityIdIpBytesAndTunnelParent) {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  net::Packet outer =
      udp(kT0, Endpoint{ipv4(10, 9, 0, 1), 49152}, Endpoint{ipv4(10, 9, 0, 2), 4789}, 200);
  net::Packet inner = tcp(kT0, kClient, kServer, tf::kSyn);
  inner.outer = &outer;
  table.add(outer);
  table.add(inner);
  table.add(tcp(kT0 + kMs, kServer, kClient, tf::kSyn | tf::kAck, 0, 20));
  table.flush();
  ASSERT_EQ(sink.records.size(), 2u);
  const FlowRecord& o = sink.records[0].ip_proto == 17 ? sink.records[0] : sink.records[1];
  const FlowRecord& i = &o == &sink.records[0] ? sink.records[1] : sink.records[0];
  EXPECT_TRUE(o.community_id.valid);
  EXPECT_FALSE(o.tunnel_parent.valid);
  EXPECT_EQ(i.tunnel_parent, o.community_id);
  EXPECT_EQ(i.community_id,
            net::community_id(kClient.ip, kServer.ip, 6, kClient.port, kServer.port));
  EXPECT_EQ(i.orig_ip_bytes, 40u);
  EXPECT_EQ(i.resp_ip_bytes, 40u);
  EXPECT_EQ(o.orig_ip_bytes, 228u);
  EXPECT_EQ(table.stats().tunnelled, 1u);
}

TEST(FlowTable, NewSynAfterFinStartsANewFlow) {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  table.add(tcp(kT0, kClient, kServer, tf::kSyn));
  table.add(tcp(kT0 + 1 * kMs, kServer, kClient, tf::kSyn | tf::kAck));
  table.add(tcp(kT0 + 2 * kMs, kClient, kServer, tf::kFin | tf::kAck));
  table.add(tcp(kT0 + 3 * kMs, kClient, kServer, tf::kSyn));  // port reused at once
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].end_reason, EndReason::kFin);
  EXPECT_EQ(sink.records[0].packet_count, 3u);
  EXPECT_EQ(table.size(), 1u);
  table.flush();
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].packet_count, 1u);
  EXPECT_EQ(sink.records[1].start_ns, kT0 + 3 * kMs);
}

TEST(FlowTable, RetransmittedSynStaysInTheSameFlow) {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  table.add(tcp(kT0, kClient, kServer, tf::kSyn));
  table.add(tcp(kT0 + kSec, kClient, kServer, tf::kSyn));
  table.flush();
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].packet_count, 2u);
}

TEST(FlowTable, EvictsTheFlowIdleLongestWhenFull) {
  CollectingSink sink;
  FlowTable table(config_with(seconds(120), seconds(3600), 3), sink);
  const Endpoint a{ipv4(10, 1, 0, 1), 1000};
  const Endpoint b{ipv4(10, 1, 0, 2), 1000};
  const Endpoint c{ipv4(10, 1, 0, 3), 1000};
  const Endpoint d{ipv4(10, 1, 0, 4), 1000};
  table.add(udp(kT0, a, kServer, 1));
  table.add(udp(kT0 + 1 * kMs, b, kServer, 1));
  table.add(udp(kT0 + 2 * kMs, c, kServer, 1));
  table.add(udp(kT0 + 3 * kMs, a, kServer, 1));  // a is fresh again; b is now idle longest
  table.add(udp(kT0 + 4 * kMs, d, kServer, 1));
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].src_ip, b.ip);
  EXPECT_EQ(sink.records[0].end_reason, EndReason::kEvicted);
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.stats().evicted, 1u);
  EXPECT_EQ(table.stats().peak, 3u);
}

TEST(FlowTable, SynFloodOfAMillionSourcesStaysWithinMaxFlows) {
  CountingSink sink;
  // Without the flood guard (flood_guard_test.cpp), which would start no flow for most of them.
  FlowConfig config = config_with(seconds(120), seconds(3600), 10'000);
  config.flood_summary_rate = 0;
  FlowTable table(config, sink);
  constexpr std::uint32_t kSources = 1'000'000;
  for (std::uint32_t i = 0; i < kSources; ++i) {
    const Endpoint spoofed{ipv4(100, static_cast<std::uint8_t>(i >> 16),
                                static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)),
                           static_cast<std::uint16_t>(1024 + i % 60000)};
    table.add(tcp(kT0 + i * kUs, spoofed, kServer, tf::kSyn, 0, 40, 1024));
    ASSERT_LE(table.size(), 10'000u);
  }
  EXPECT_EQ(table.size(), 10'000u);
  EXPECT_EQ(table.stats().peak, 10'000u);
  EXPECT_EQ(table.stats().evicted, kSources - 10'000);
  EXPECT_EQ(table.stats().emitted_by(EndReason::kEvicted), kSources - 10'000);
  EXPECT_EQ(sink.count, kSources - 10'000);
  table.flush();
  EXPECT_EQ(sink.count, kSources);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.stats().flows_created, kSources);
}

TEST(FlowTable, VlanSeparatesFlows) {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  net::Packet p = udp(kT0, kClient, kServer, 1);
  table.add(p);
  p.vlan = 7;
  table.add(p);
  EXPECT_EQ(table.size(), 2u);
  table.flush();
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[0].vlan + sink.records[1].vlan, 7);
}

TEST(FlowTable, NonIpPacketsAreCountedAndIgnored) {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  net::Packet arp;
  arp.ts_ns = kT0;
  arp.l3 = net::L3::kArp;
  table.add(arp);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.stats().packets, 1u);
  EXPECT_EQ(table.stats().non_ip, 1u);
}

TEST(FlowTable, FlushEmptiesTheTableAndTheTableIsReusable) {
  CollectingSink sink;
  FlowTable table(config_with(seconds(120), seconds(3600), 8), sink);
  for (int round = 0; round < 3; ++round) {
    for (std::uint8_t i = 0; i < 8; ++i) {
      table.add(udp(kT0 + round * kSec + i, Endpoint{ipv4(10, 2, 0, i), 5000}, kServer, 1));
    }
    table.flush();
    EXPECT_EQ(table.size(), 0u);
  }
  EXPECT_EQ(sink.records.size(), 24u);
  EXPECT_EQ(table.stats().emitted_by(EndReason::kEndOfInput), 24u);
  EXPECT_EQ(table.stats().evicted, 0u);
}

TEST(FlowTable, ManyFlowsWithChurnAreAllFoundAgain) {
  // Exercises probing and backward-shift deletion: every flow gets exactly its own packets.
  CollectingSink sink;
  FlowConfig config = config_with(seconds(120), seconds(3600), 5001);
  config.linger = std::chrono::nanoseconds(0);  // a reset flow ends at the next packet
  FlowTable table(config, sink);
  for (int pass = 0; pass < 3; ++pass) {
    for (std::uint32_t i = 0; i < 5000; ++i) {
      const Endpoint src{
          ipv4(172, 16, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)), 40000};
      table.add(udp(kT0 + pass * kSec + i, src, kServer, i % 7 == 0 ? 0 : 1));
    }
    // Short-lived flows in between: a lone RST creates a flow and ends it at once.
    for (std::uint32_t i = 0; i < 5000; i += 7) {
      const Endpoint src{
          ipv4(172, 17, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)), 40000};
      table.add(tcp(kT0 + pass * kSec + 5000 + i, src, kServer, tf::kRst));
    }
  }
  table.flush();
  std::size_t udp_flows = 0;
  for (const FlowRecord& r : sink.records) {
    if (r.ip_proto != 17) continue;
    ++udp_flows;
    EXPECT_EQ(r.packet_count, 3u);
  }
  EXPECT_EQ(udp_flows, 5000u);
  EXPECT_EQ(table.stats().evicted, 0u);
}

TEST(FlowTable, AddBatchGivesTheSameFlowsAsAddOneByOne) {
  // A mixed stream: 300 flows (some TCP with teardown), non-IP packets, evictions at 64 flows.
  std::vector<net::Packet> stream;
  for (std::uint32_t i = 0; i < 3000; ++i) {
    const std::uint32_t flow = (i * 7919u) % 300;
    const Endpoint src{
        ipv4(10, 3, static_cast<std::uint8_t>(flow >> 8), static_cast<std::uint8_t>(flow)),
        static_cast<std::uint16_t>(2000 + flow)};
    const std::int64_t ts = kT0 + i * 3 * kMs;
    if (i % 97 == 0) {
      net::Packet arp;
      arp.ts_ns = ts;
      arp.l3 = net::L3::kArp;
      stream.push_back(arp);
    } else if (flow % 3 == 0) {
      const std::uint8_t flags = i % 11 == 0 ? (tf::kFin | tf::kAck) : tf::kAck;
      stream.push_back(i % 2 ? tcp(ts, src, kServer, flags, i % 500)
                             : tcp(ts, kServer, src, flags, i % 300));
    } else {
      stream.push_back(i % 2 ? udp(ts, src, kServer, i % 200) : udp(ts, kServer, src, 64));
    }
  }
  const FlowConfig config = config_with(seconds(2), seconds(5), 64);
  CollectingSink one_by_one;
  CollectingSink batched;
  FlowTable a(config, one_by_one);
  FlowTable b(config, batched);
  for (const net::Packet& p : stream) a.add(p);
  for (std::size_t i = 0; i < stream.size(); i += 100) {
    b.add_batch(std::span(stream).subspan(i, std::min<std::size_t>(100, stream.size() - i)));
  }
  a.flush();
  b.flush();
  ASSERT_EQ(one_by_one.records.size(), batched.records.size());
  ASSERT_GT(a.stats().evicted, 0u);
  EXPECT_EQ(a.stats().evicted, b.stats().evicted);
  EXPECT_EQ(a.stats().non_ip, b.stats().non_ip);
  EXPECT_EQ(a.stats().packets, b.stats().packets);
  for (std::size_t i = 0; i < one_by_one.records.size(); ++i) {
    const FlowRecord& x = one_by_one.records[i];
    const FlowRecord& y = batched.records[i];
    EXPECT_EQ(x.src_ip, y.src_ip);
    EXPECT_EQ(x.src_port, y.src_port);
    EXPECT_EQ(x.end_reason, y.end_reason);
    EXPECT_EQ(x.cic, y.cic);
    EXPECT_EQ(x.first_packets, y.first_packets);
  }
}

TEST(FlowTable, Ipv6FlowsKeepTheirAddresses) {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  net::Packet p = udp(kT0, kClient, kServer, 10);
  p.l3 = net::L3::kIpv6;
  p.src = net::IpAddress{};
  p.src.family = 6;
  p.src.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  p.dst = p.src;
  p.dst.bytes[15] = 1;
  table.add(p);
  table.flush();
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].src_ip, p.src);
  EXPECT_EQ(sink.records[0].dst_ip, p.dst);
}

TEST(FlowTable, RejectsUnusableConfig) {
  CollectingSink sink;
  FlowConfig zero_flows;
  zero_flows.max_flows = 0;
  EXPECT_THROW(FlowTable(zero_flows, sink), core::Error);
  FlowConfig negative_idle;
  negative_idle.idle_timeout = seconds(-1);
  EXPECT_THROW(FlowTable(negative_idle, sink), core::Error);
  FlowConfig too_many_first_packets;
  too_many_first_packets.first_packets = 5000;
  EXPECT_THROW(FlowTable(too_many_first_packets, sink), core::Error);
}

TEST(FlowTable, ZeroFirstPacketsKeepsNoSequence) {
  CollectingSink sink;
  FlowConfig config;
  config.first_packets = 0;
  FlowTable table(config, sink);
  table.add(udp(kT0, kClient, kServer, 10));
  table.add(udp(kT0 + kMs, kServer, kClient, 10));
  table.flush();
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_TRUE(sink.records[0].first_packets.empty());
  EXPECT_EQ(sink.records[0].packet_count, 2u);
}

}  // namespace
}  // namespace netsentry::flow

namespace netsentry::flow {
namespace {
using namespace testing;

TEST(FlowTable, ReportsLongLivedFlowsOncePerIntervalWithoutEndingThem) {
  CollectingSink sink;
  CollectingSink interim;
  FlowTable table(config_with(seconds(120), seconds(3600)), sink);
  const Endpoint other{ipv4(10, 9, 9, 9), 5353};
  // One flow sending a packet every 10 s for 200 s, one short flow starting at 150 s.
  std::int64_t previous = kT0;
  std::vector<std::size_t> reported;
  for (int t = 0; t <= 200; t += 10) {
    const std::int64_t now = kT0 + t * kSec;
    table.add(udp(now, kClient, kServer, 100));
    if (t == 150) table.add(udp(now, other, kServer, 10));
    // A flow that stays quiet after its first packet is old but has nothing new to report.
    if (t == 0) table.add(udp(now, Endpoint{ipv4(10, 8, 8, 8), 123}, kServer, 48));
    reported.push_back(table.report_ongoing(previous, now, 60 * kSec, 60 * kSec, interim));
    previous = now;
  }
  // The long flow is reported when its age crosses 60, 120 and 180 s; the short one never.
  EXPECT_EQ(interim.records.size(), 3u);
  for (const auto& r : interim.records) {
    EXPECT_EQ(r.end_reason, EndReason::kOngoing);
    EXPECT_EQ(r.src_ip, kClient.ip);
  }
  EXPECT_EQ(interim.records[0].packet_count, 7u);  // packets at 0..60 s
  EXPECT_EQ(interim.records[2].packet_count, 19u);
  EXPECT_EQ(table.size(), 2u);  // the quiet flow timed out after 120 s
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].end_reason, EndReason::kIdle);
  EXPECT_EQ(table.stats().emitted_total(), 1u);
  table.flush();
  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[1].packet_count + sink.records[2].packet_count, 22u);
}

}  // namespace
}  // namespace netsentry::flow
