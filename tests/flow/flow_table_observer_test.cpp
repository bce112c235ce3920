// FlowTable's observer (flow_observer.h): moments and progress reports of open flows.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "flow/flow_observer.h"
#include "flow/flow_table.h"
#include "flow_test_support.h"

namespace netsentry::flow {
namespace {

using namespace netsentry::flow::testing;
namespace tf = net::tcp_flag;

class RecordingObserver final : public FlowObserver {
 public:
  void on_flow_event(const FlowEvent& event) override { events.push_back(event); }
  void on_flow_progress(FlowRecord&& record) override { progress.push_back(std::move(record)); }
  std::vector<FlowEvent> events;
  std::vector<FlowRecord> progress;
};

TEST(FlowTableObserver, TellsStartReplyAndConfirmOfAHandshakeOnceEach) {
  CollectingSink sink;
  RecordingObserver observer;
  FlowTable table(FlowConfig{}, sink);
  table.set_observer(&observer);
  table.add(tcp(kT0, kClient, kServer, tf::kSyn));
  table.add(tcp(kT0 + 1 * kMs, kServer, kClient, tf::kSyn | tf::kAck));
  table.add(tcp(kT0 + 2 * kMs, kClient, kServer, tf::kAck));
  table.add(tcp(kT0 + 3 * kMs, kClient, kServer, tf::kPsh | tf::kAck, 100));
  table.add(tcp(kT0 + 4 * kMs, kServer, kClient, tf::kPsh | tf::kAck, 900));
  ASSERT_EQ(observer.events.size(), 3u);
  const FlowEvent& start = observer.events[0];
  EXPECT_EQ(start.moment, FlowMoment::kStart);
  EXPECT_EQ(start.ts_ns, kT0);
  EXPECT_EQ(start.start_ns, kT0);
  EXPECT_EQ(start.src, kClient.ip);
  EXPECT_EQ(start.dst, kServer.ip);
  EXPECT_EQ(start.src_port, kClient.port);
  EXPECT_EQ(start.dst_port, kServer.port);
  EXPECT_EQ(start.ip_proto, 6);
  EXPECT_EQ(start.tcp_flags, tf::kSyn);
  const FlowEvent& reply = observer.events[1];
  EXPECT_EQ(reply.moment, FlowMoment::kReply);
  EXPECT_EQ(reply.tcp_flags, tf::kSyn | tf::kAck);
  // Oriented like the flow (initiator first), whoever sent the packet.
  EXPECT_EQ(reply.src, kClient.ip);
  EXPECT_EQ(reply.start_ns, kT0);
  EXPECT_EQ(reply.ts_ns, kT0 + kMs);
  EXPECT_EQ(observer.events[2].moment, FlowMoment::kConfirm);
  EXPECT_EQ(observer.events[2].tcp_flags, tf::kAck);
  EXPECT_TRUE(observer.progress.empty());
  EXPECT_TRUE(sink.records.empty());  // the flow goes on
}

TEST(FlowTableObserver, ARefusedConnectionIsAStartAndAnRstReply) {
  CollectingSink sink;
  RecordingObserver observer;
  FlowTable table(FlowConfig{}, sink);
  table.set_observer(&observer);
  table.add(tcp(kT0, kClient, kServer, tf::kSyn));
  table.add(tcp(kT0 + kMs, kServer, kClient, tf::kRst | tf::kAck));
  ASSERT_EQ(observer.events.size(), 2u);
  EXPECT_EQ(observer.events[1].moment, FlowMoment::kReply);
  EXPECT_EQ(observer.events[1].tcp_flags, tf::kRst | tf::kAck);
  ASSERT_EQ(sink.records.size(), 1u);
}

TEST(FlowTableObserver, ReportsProgressAtNPacketsAndEveryEightTimesAsMany) {
  CollectingSink sink;
  RecordingObserver observer;
  FlowConfig config;
  config.progress_packets = 4;
  config.progress_after = std::chrono::nanoseconds(0);
  FlowTable table(config, sink);
  table.set_observer(&observer);
  for (int i = 0; i < 300; ++i) table.add(udp(kT0 + i * kMs, kClient, kServer, 50));
  // At 4, 32 and 256 packets.
  ASSERT_EQ(observer.progress.size(), 3u);
  EXPECT_EQ(observer.progress[0].packet_count, 4u);
  EXPECT_EQ(observer.progress[1].packet_count, 32u);
  EXPECT_EQ(observer.progress[2].packet_count, 256u);
  EXPECT_EQ(observer.progress[0].end_reason, EndReason::kOngoing);
  EXPECT_EQ(observer.progress[0].src_ip, kClient.ip);
  EXPECT_EQ(observer.events.size(), 1u);  // the start; no reply
  EXPECT_TRUE(sink.records.empty());
  table.flush();
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].packet_count, 300u);
}

TEST(FlowTableObserver, ReportsProgressAtTheFirstPacketPastEachDoublingOfTheTime) {
  CollectingSink sink;
  RecordingObserver observer;
  FlowConfig config;
  config.progress_packets = 0;
  config.progress_after = std::chrono::seconds(1);
  FlowTable table(config, sink);
  table.set_observer(&observer);
  table.add(udp(kT0, kClient, kServer, 50));
  table.add(udp(kT0 + 500 * kMs, kServer, kClient, 50));
  EXPECT_TRUE(observer.progress.empty());
  table.add(udp(kT0 + 1500 * kMs, kClient, kServer, 50));  // past 1 s
  table.add(udp(kT0 + 1900 * kMs, kClient, kServer, 50));
  table.add(udp(kT0 + 2500 * kMs, kClient, kServer, 50));  // past 2 s
  table.add(udp(kT0 + 9 * kSec, kClient, kServer, 50));    // past 4 s and 8 s: one report
  table.add(udp(kT0 + 10 * kSec, kClient, kServer, 50));
  ASSERT_EQ(observer.progress.size(), 3u);
  EXPECT_EQ(observer.progress[0].packet_count, 3u);
  EXPECT_EQ(observer.progress[1].packet_count, 5u);
  EXPECT_EQ(observer.progress[2].packet_count, 6u);
}

TEST(FlowTableObserver, WithoutAnObserverTheFlowsAreTheSame) {
  CollectingSink plain_sink;
  CollectingSink observed_sink;
  RecordingObserver observer;
  FlowTable plain(FlowConfig{}, plain_sink);
  FlowTable observed(FlowConfig{}, observed_sink);
  observed.set_observer(&observer);
  for (int i = 0; i < 50; ++i) {
    const Endpoint client{kClient.ip, static_cast<std::uint16_t>(40000 + i % 7)};
    for (auto* t : {&plain, &observed}) {
      t->add(tcp(kT0 + i * kMs, client, kServer, i % 7 == 0 ? tf::kSyn : tf::kAck, i % 3));
      t->add(tcp(kT0 + i * kMs + 10, kServer, client, tf::kAck, 200));
    }
  }
  plain.flush();
  observed.flush();
  ASSERT_EQ(plain_sink.records.size(), observed_sink.records.size());
  for (std::size_t i = 0; i < plain_sink.records.size(); ++i) {
    EXPECT_EQ(plain_sink.records[i].packet_count, observed_sink.records[i].packet_count);
    EXPECT_EQ(plain_sink.records[i].cic, observed_sink.records[i].cic);
  }
  EXPECT_EQ(observer.events.size(), 7u * 3u);  // start, reply, confirm per flow
}

}  // namespace
}  // namespace netsentry::flow
