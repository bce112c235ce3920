#include "flow/flow_features.h"

#include <gtest/gtest.h>

#include <cmath>
#include <initializer_list>
#include <tuple>
#include <vector>

#include "flow/flow_table.h"
#include "flow_test_support.h"

namespace netsentry::flow {
namespace {

using namespace netsentry::flow::testing;
namespace tf = net::tcp_flag;

// The hand-computed flow. Times in seconds after kT0; F = client->server, B = server->client.
//   #  t     dir payload hdr flags            window
//   1  0.0   F   0       40  SYN ECE CWR      1000
//   2  0.1   B   0       40  SYN ACK ECE      2000
//   3  0.2   F   100     32  ACK PSH
//   4  0.5   F   200     32  ACK
//   5  0.9   F   300     32  ACK
//   6  1.2   F   400     32  ACK URG
//   7  7.2   B   50      32  ACK PSH
//   8  9.2   F   0       20  FIN ACK
FlowRecord hand_computed_flow() {
  CollectingSink sink;
  FlowTable table(FlowConfig{}, sink);
  const auto at = [](double s) { return kT0 + static_cast<std::int64_t>(std::llround(s * 1e9)); };
  table.add(tcp(at(0.0), kClient, kServer, tf::kSyn | tf::kEce | tf::kCwr, 0, 40, 1000));
  table.add(tcp(at(0.1), kServer, kClient, tf::kSyn | tf::kAck | tf::kEce, 0, 40, 2000));
  table.add(tcp(at(0.2), kClient, kServer, tf::kAck | tf::kPsh, 100, 32, 1100));
  table.add(tcp(at(0.5), kClient, kServer, tf::kAck, 200, 32, 1100));
  table.add(tcp(at(0.9), kClient, kServer, tf::kAck, 300, 32, 1100));
  table.add(tcp(at(1.2), kClient, kServer, tf::kAck | tf::kUrg, 400, 32, 1100));
  table.add(tcp(at(7.2), kServer, kClient, tf::kAck | tf::kPsh, 50, 32, 2100));
  table.add(tcp(at(9.2), kClient, kServer, tf::kFin | tf::kAck, 0, 20, 1100));
  table.flush();
  EXPECT_EQ(sink.records.size(), 1u);
  return sink.records.empty() ? FlowRecord{} : sink.records.front();
}

TEST(FlowFeatures, HandComputedFlowMatchesEveryCicFeature) {
  const FlowRecord r = hand_computed_flow();
  using F = CicFeature;
  constexpr double kTol = 1e-6;
  // Duration 9.2 s = 9,200,000 us.
  EXPECT_DOUBLE_EQ(r[F::kFlowDuration], 9'200'000);
  EXPECT_EQ(r[F::kTotalFwdPacket], 6);
  EXPECT_EQ(r[F::kTotalBwdPackets], 2);
  // Fwd payloads 0,100,200,300,400,0: sum 1000, mean 1000/6, sample var = (300000 - 6*mean^2)/5.
  EXPECT_EQ(r[F::kTotalLengthFwd], 1000);
  EXPECT_EQ(r[F::kTotalLengthBwd], 50);
  EXPECT_EQ(r[F::kFwdPacketLengthMax], 400);
  EXPECT_EQ(r[F::kFwdPacketLengthMin], 0);
  EXPECT_NEAR(r[F::kFwdPacketLengthMean], 166.666666667, kTol);
  EXPECT_NEAR(r[F::kFwdPacketLengthStd], 163.299316186, kTol);
  // Bwd payloads 0,50: mean 25, sample var 1250.
  EXPECT_EQ(r[F::kBwdPacketLengthMax], 50);
  EXPECT_EQ(r[F::kBwdPacketLengthMin], 0);
  EXPECT_EQ(r[F::kBwdPacketLengthMean], 25);
  EXPECT_NEAR(r[F::kBwdPacketLengthStd], 35.355339059, kTol);
  // 1050 bytes and 8 packets over 9.2 s.
  EXPECT_NEAR(r[F::kFlowBytesPerSec], 114.130434783, kTol);
  EXPECT_NEAR(r[F::kFlowPacketsPerSec], 0.869565217, kTol);
  // Flow IATs (us): 1e5,1e5,3e5,4e5,3e5,6e6,2e6: mean 9.2e6/7, sample std 2,170,582.54.
  EXPECT_NEAR(r[F::kFlowIatMean], 1'314'285.714285714, kTol);
  EXPECT_NEAR(r[F::kFlowIatStd], 2'170'582.541952407, 1e-3);
  EXPECT_EQ(r[F::kFlowIatMax], 6'000'000);
  EXPECT_EQ(r[F::kFlowIatMin], 100'000);
  // Fwd IATs (us): 2e5,3e5,4e5,3e5,8e6: total 9.2e6, mean 1.84e6, sample std 3,444,270.60.
  EXPECT_EQ(r[F::kFwdIatTotal], 9'200'000);
  EXPECT_NEAR(r[F::kFwdIatMean], 1'840'000, kTol);
  EXPECT_NEAR(r[F::kFwdIatStd], 3'444'270.604932197, 1e-3);
  EXPECT_EQ(r[F::kFwdIatMax], 8'000'000);
  EXPECT_EQ(r[F::kFwdIatMin], 200'000);
  // One bwd IAT: 7.2 - 0.1 = 7.1 s.
  EXPECT_EQ(r[F::kBwdIatTotal], 7'100'000);
  EXPECT_EQ(r[F::kBwdIatMean], 7'100'000);
  EXPECT_EQ(r[F::kBwdIatStd], 0);
  EXPECT_EQ(r[F::kBwdIatMax], 7'100'000);
  EXPECT_EQ(r[F::kBwdIatMin], 7'100'000);
  // PSH: #3 fwd, #7 bwd. URG: #6 fwd. No RST.
  EXPECT_EQ(r[F::kFwdPshFlags], 1);
  EXPECT_EQ(r[F::kBwdPshFlags], 1);
  EXPECT_EQ(r[F::kFwdUrgFlags], 1);
  EXPECT_EQ(r[F::kBwdUrgFlags], 0);
  EXPECT_EQ(r[F::kFwdRstFlags], 0);
  EXPECT_EQ(r[F::kBwdRstFlags], 0);
  // Headers: fwd 40+4*32+20 = 188, bwd 40+32 = 72.
  EXPECT_EQ(r[F::kFwdHeaderLength], 188);
  EXPECT_EQ(r[F::kBwdHeaderLength], 72);
  EXPECT_NEAR(r[F::kFwdPacketsPerSec], 6 / 9.2, kTol);
  EXPECT_NEAR(r[F::kBwdPacketsPerSec], 2 / 9.2, kTol);
  // All payloads 0,0,100,200,300,400,50,0: mean 131.25, SS 164687.5, var SS/7.
  EXPECT_EQ(r[F::kPacketLengthMin], 0);
  EXPECT_EQ(r[F::kPacketLengthMax], 400);
  EXPECT_DOUBLE_EQ(r[F::kPacketLengthMean], 131.25);
  EXPECT_NEAR(r[F::kPacketLengthStd], 153.384437654, kTol);
  EXPECT_NEAR(r[F::kPacketLengthVariance], 23'526.785714286, kTol);
  // Flags once per packet: FIN #8; SYN #1,#2; PSH #3,#7; ACK #2-#8; URG #6; CWR #1; ECE #1,#2.
  EXPECT_EQ(r[F::kFinFlagCount], 1);
  EXPECT_EQ(r[F::kSynFlagCount], 2);
  EXPECT_EQ(r[F::kRstFlagCount], 0);
  EXPECT_EQ(r[F::kPshFlagCount], 2);
  EXPECT_EQ(r[F::kAckFlagCount], 7);
  EXPECT_EQ(r[F::kUrgFlagCount], 1);
  EXPECT_EQ(r[F::kCwrFlagCount], 1);
  EXPECT_EQ(r[F::kEceFlagCount], 2);
  EXPECT_NEAR(r[F::kDownUpRatio], 2.0 / 6.0, kTol);
  EXPECT_DOUBLE_EQ(r[F::kAveragePacketSize], 131.25);
  EXPECT_NEAR(r[F::kFwdSegmentSizeAvg], 1000.0 / 6.0, kTol);
  EXPECT_EQ(r[F::kBwdSegmentSizeAvg], 25);
  // Fwd bulk: #3-#6 (4 data packets, gaps 0.3/0.4/0.3 s): 1000 bytes over 1.0 s.
  EXPECT_EQ(r[F::kFwdBytesPerBulkAvg], 1000);
  EXPECT_EQ(r[F::kFwdPacketPerBulkAvg], 4);
  EXPECT_NEAR(r[F::kFwdBulkRateAvg], 1000, kTol);
  EXPECT_EQ(r[F::kBwdBytesPerBulkAvg], 0);
  EXPECT_EQ(r[F::kBwdPacketPerBulkAvg], 0);
  EXPECT_EQ(r[F::kBwdBulkRateAvg], 0);
  // Gaps > 1 s: 6 s and 2 s -> 3 subflows.
  EXPECT_NEAR(r[F::kSubflowFwdPackets], 2, kTol);
  EXPECT_NEAR(r[F::kSubflowFwdBytes], 1000.0 / 3.0, kTol);
  EXPECT_NEAR(r[F::kSubflowBwdPackets], 2.0 / 3.0, kTol);
  EXPECT_NEAR(r[F::kSubflowBwdBytes], 50.0 / 3.0, kTol);
  EXPECT_EQ(r[F::kFwdInitWinBytes], 1000);
  EXPECT_EQ(r[F::kBwdInitWinBytes], 2000);
  EXPECT_EQ(r[F::kFwdActDataPkts], 4);
  EXPECT_EQ(r[F::kFwdSegSizeMin], 20);
  // The 6 s gap (> 5 s) closes the active period 0..1.2 s; the last period 7.2..9.2 s stays open.
  EXPECT_EQ(r[F::kActiveMean], 1'200'000);
  EXPECT_EQ(r[F::kActiveStd], 0);
  EXPECT_EQ(r[F::kActiveMax], 1'200'000);
  EXPECT_EQ(r[F::kActiveMin], 1'200'000);
  EXPECT_EQ(r[F::kIdleMean], 6'000'000);
  EXPECT_EQ(r[F::kIdleStd], 0);
  EXPECT_EQ(r[F::kIdleMax], 6'000'000);
  EXPECT_EQ(r[F::kIdleMin], 6'000'000);
  EXPECT_EQ(r[F::kIcmpCode], -1);
  EXPECT_EQ(r[F::kIcmpType], -1);
  EXPECT_EQ(r[F::kTotalTcpFlowTime], 9'200'000);
}

TEST(FlowFeatures, HandComputedFlowHasSeedColumnsAndFirstPackets) {
  const FlowRecord r = hand_computed_flow();
  EXPECT_EQ(r.src_ip, kClient.ip);
  EXPECT_EQ(r.src_port, kClient.port);
  EXPECT_EQ(r.dst_ip, kServer.ip);
  EXPECT_EQ(r.dst_port, kServer.port);
  EXPECT_EQ(r.start_ns, kT0);
  EXPECT_EQ(r.end_ns, kT0 + 9'200 * kMs);
  EXPECT_EQ(r.end_reason, EndReason::kEndOfInput);
  EXPECT_DOUBLE_EQ(r.duration_s, 9.2);
  EXPECT_EQ(r.packet_count, 8u);
  // Wire bytes: 8 * (14 Ethernet + 20 IP) + headers 188 + 72 + payload 1050.
  EXPECT_EQ(r.byte_count, 8u * 34 + 188 + 72 + 1050);
  EXPECT_EQ(r.protocol(), "TCP");
  ASSERT_EQ(r.first_packets.size(), 8u);
  EXPECT_EQ(r.first_packets[0], (PacketSummary{0, 0, 1, tf::kSyn | tf::kEce | tf::kCwr}));
  EXPECT_EQ(r.first_packets[1], (PacketSummary{0, 100'000, -1, tf::kSyn | tf::kAck | tf::kEce}));
  EXPECT_EQ(r.first_packets[6], (PacketSummary{50, 6'000'000, -1, tf::kAck | tf::kPsh}));
  EXPECT_EQ(r.first_packets[7], (PacketSummary{0, 2'000'000, 1, tf::kFin | tf::kAck}));
}

// Feeds the accumulator directly: (seconds, forward, payload).
FlowRecord accumulate(std::initializer_list<std::tuple<double, bool, std::uint32_t>> packets,
                      std::size_t keep = 0) {
  FlowAccumulator acc;
  std::vector<PacketSummary> sequence(keep);
  for (const auto& [s, forward, payload] : packets) {
    const auto ts = kT0 + static_cast<std::int64_t>(std::llround(s * 1e9));
    acc.add(forward ? udp(ts, kClient, kServer, payload) : udp(ts, kServer, kClient, payload),
            forward, sequence);
  }
  FlowRecord record;
  acc.finish(record, sequence);
  return record;
}

TEST(FlowFeatures, DataPacketInOtherDirectionBreaksABulk) {
  // fwd, fwd, bwd, fwd, fwd: never 4 fwd data packets in a row.
  const FlowRecord r = accumulate(
      {{0.0, true, 10}, {0.1, true, 10}, {0.2, false, 10}, {0.3, true, 10}, {0.4, true, 10}});
  EXPECT_EQ(r[CicFeature::kFwdBytesPerBulkAvg], 0);
  EXPECT_EQ(r[CicFeature::kFwdPacketPerBulkAvg], 0);
}

TEST(FlowFeatures, BulkContinuesPastFourPacketsAndRestartsAfterOneSecond) {
  // Bulk A: 5 packets of 10 bytes at 0..0.4 s (0.4 s). Gap 1.5 s. Bulk B: 4 packets of 20 bytes
  // at 1.9..2.2 s (0.3 s). Two bulks: (50 + 80) / 2 = 65 bytes, (5 + 4) / 2 = 4.5 packets,
  // rate 130 bytes / 0.7 s.
  const FlowRecord r = accumulate({{0.0, true, 10},
                                   {0.1, true, 10},
                                   {0.2, true, 10},
                                   {0.3, true, 10},
                                   {0.4, true, 10},
                                   {1.9, true, 20},
                                   {2.0, true, 20},
                                   {2.1, true, 20},
                                   {2.2, true, 20}});
  EXPECT_DOUBLE_EQ(r[CicFeature::kFwdBytesPerBulkAvg], 65);
  EXPECT_DOUBLE_EQ(r[CicFeature::kFwdPacketPerBulkAvg], 4.5);
  EXPECT_NEAR(r[CicFeature::kFwdBulkRateAvg], 130 / 0.7, 1e-6);
  // One gap > 1 s -> 2 subflows of 4.5 packets / 65 bytes on average.
  EXPECT_DOUBLE_EQ(r[CicFeature::kSubflowFwdPackets], 4.5);
  EXPECT_DOUBLE_EQ(r[CicFeature::kSubflowFwdBytes], 65);
}

TEST(FlowFeatures, SinglePacketFlowHasZeroRatesAndMinusOneForMissingDirection) {
  const FlowRecord r = accumulate({{0.0, true, 35}});
  EXPECT_EQ(r[CicFeature::kFlowDuration], 0);
  EXPECT_EQ(r[CicFeature::kFlowBytesPerSec], 0);
  EXPECT_EQ(r[CicFeature::kFlowPacketsPerSec], 0);
  EXPECT_EQ(r[CicFeature::kFwdPacketLengthStd], 0);
  EXPECT_EQ(r[CicFeature::kFwdInitWinBytes], 0);  // UDP has no window
  EXPECT_EQ(r[CicFeature::kBwdInitWinBytes], -1);
  EXPECT_EQ(r[CicFeature::kTotalTcpFlowTime], 0);
  for (double v : r.cic) EXPECT_TRUE(std::isfinite(v));
}

TEST(FlowFeatures, IcmpFlowReportsTypeAndCodeOfFirstPacket) {
  FlowAccumulator acc;
  net::Packet p = udp(kT0, kClient, kServer, 56);
  p.ip_proto = 1;
  p.icmp_type = 8;
  p.icmp_code = 0;
  acc.add(p, true, {});
  FlowRecord r;
  acc.finish(r, {});
  EXPECT_EQ(r[CicFeature::kIcmpType], 8);
  EXPECT_EQ(r[CicFeature::kIcmpCode], 0);
}

TEST(FlowFeatures, TimestampGoingBackwardsCountsAsSimultaneous) {
  const FlowRecord r = accumulate({{1.0, true, 1}, {0.5, false, 1}, {2.0, true, 1}}, 3);
  EXPECT_EQ(r[CicFeature::kFlowIatMin], 0);
  EXPECT_EQ(r[CicFeature::kFlowIatMax], 1'000'000);
  EXPECT_EQ(r[CicFeature::kFlowDuration], 1'000'000);
  ASSERT_EQ(r.first_packets.size(), 3u);
  EXPECT_EQ(r.first_packets[1].iat_us, 0u);
}

TEST(FlowFeatures, FirstPacketsKeepsOnlyTheConfiguredCount) {
  const FlowRecord r = accumulate({{0.0, true, 1}, {0.1, false, 2}, {0.2, true, 3}}, 2);
  ASSERT_EQ(r.first_packets.size(), 2u);
  EXPECT_EQ(r.first_packets[1], (PacketSummary{2, 100'000, -1, 0}));
}

}  // namespace
}  // namespace netsentry::flow
