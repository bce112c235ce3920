#include "bus/message.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace netsentry::bus {
namespace {

net::IpAddress ip(const char* text) {
  net::IpAddress a;
  EXPECT_TRUE(net::IpAddress::parse(text, a));
  return a;
}

Origin origin() { return {"edge-1", 1700000000000000000ULL, 42, 1700000001000000000LL, "0.1.0"}; }

FlowMessage sample_flow(std::int64_t id) {
  FlowMessage f;
  f.row.id = id;
  f.row.start_ns = 1'700'000'000'000'000'000 + id;
  f.row.end_ns = f.row.start_ns + 1'500'000'000;
  f.row.src_ip = ip("10.0.0.1");
  f.row.dst_ip = ip("2001:db8::7");
  f.row.src_port = 40000;
  f.row.dst_port = 443;
  f.row.ip_proto = 6;
  f.row.packets = 12;
  f.row.bytes = 4000;
  f.row.duration_s = 1.5;
  f.row.score = 0.25F;
  f.row.verdict = "benign";
  f.row.votes = 1;
  f.row.voters = 3;
  f.scored = true;
  f.end_reason = flow::EndReason::kFin;
  f.vlan = 7;
  f.fwd_packets = 7;
  f.bwd_packets = 5;
  f.row.community_id = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
  f.row.orig_ip_bytes = 1600;
  f.row.resp_ip_bytes = 2400;
  f.row.conn_state = "SF";
  f.row.history = "ShADadFf";
  f.row.tunnel_parent = id == 2 ? "1:outer" : "";
  return f;
}

void expect_same_flow(const FlowMessage& a, const FlowMessage& b) {
  EXPECT_EQ(a.row.id, b.row.id);
  EXPECT_EQ(a.row.start_ns, b.row.start_ns);
  EXPECT_EQ(a.row.end_ns, b.row.end_ns);
  EXPECT_EQ(a.row.src_ip, b.row.src_ip);
  EXPECT_EQ(a.row.dst_ip, b.row.dst_ip);
  EXPECT_EQ(a.row.src_port, b.row.src_port);
  EXPECT_EQ(a.row.dst_port, b.row.dst_port);
  EXPECT_EQ(a.row.ip_proto, b.row.ip_proto);
  EXPECT_EQ(a.row.packets, b.row.packets);
  EXPECT_EQ(a.row.bytes, b.row.bytes);
  EXPECT_DOUBLE_EQ(a.row.duration_s, b.row.duration_s);
  EXPECT_FLOAT_EQ(a.row.score, b.row.score);
  EXPECT_EQ(a.row.verdict, b.row.verdict);
  EXPECT_EQ(a.row.votes, b.row.votes);
  EXPECT_EQ(a.row.voters, b.row.voters);
  EXPECT_EQ(a.scored, b.scored);
  EXPECT_EQ(a.end_reason, b.end_reason);
  EXPECT_EQ(a.vlan, b.vlan);
  EXPECT_EQ(a.fwd_packets, b.fwd_packets);
  EXPECT_EQ(a.bwd_packets, b.bwd_packets);
  EXPECT_EQ(a.row.community_id, b.row.community_id);
  EXPECT_EQ(a.row.orig_ip_bytes, b.row.orig_ip_bytes);
  EXPECT_EQ(a.row.resp_ip_bytes, b.row.resp_ip_bytes);
  EXPECT_EQ(a.row.conn_state, b.row.conn_state);
  EXPECT_EQ(a.row.history, b.row.history);
  EXPECT_EQ(a.row.tunnel_parent, b.row.tunnel_parent);
}

class MessageRoundTrip : public ::testing::TestWithParam<Encoding> {};

TEST_P(MessageRoundTrip, FlowBatchKeepsEveryField) {
  Message m{origin(), std::vector<FlowMessage>{sample_flow(1), sample_flow(2)}};
  std::get<std::vector<FlowMessage>>(m.body)[1].scored = false;
  std::get<std::vector<FlowMessage>>(m.body)[1].row.score = 0;
  const Message back = decode(Topic::kFlows, encode(m, GetParam()), GetParam());
  EXPECT_EQ(back.origin.message_id(), "edge-1-1700000000000000000-42");
  EXPECT_EQ(back.origin.sent_ns, m.origin.sent_ns);
  EXPECT_EQ(back.origin.version, "0.1.0");
  const auto& in = std::get<std::vector<FlowMessage>>(m.body);
  const auto& out = std::get<std::vector<FlowMessage>>(back.body);
  ASSERT_EQ(out.size(), 2u);
  expect_same_flow(in[0], out[0]);
  expect_same_flow(in[1], out[1]);
}

TEST_P(MessageRoundTrip, AlertKeepsEveryField) {
  detect::Alert a;
  a.id = 17;
  a.time_ns = 100;
  a.last_ns = 200;
  a.severity = detect::Severity::kCritical;
  a.kind = "port_scan";
  a.src_ip = ip("10.66.0.10");
  a.dst_ip = ip("192.168.1.20");
  a.dst_port = 22;
  a.protocol = "TCP";
  a.score = 0.9F;
  a.votes = 2;
  a.voters = 3;
  a.count = 5;
  a.reason = "512 ports probed";
  a.models = {{"random_forest", 0.97F, 0.5F, true}};
  a.features = {{"distinct_ports", 512, 4, 38.2}};
  a.acknowledged = true;
  const Message m{origin(), AlertMessage{a, true}};
  const Message back = decode(Topic::kAlerts, encode(m, GetParam()), GetParam());
  const auto& out = std::get<AlertMessage>(back.body);
  EXPECT_TRUE(out.update);
  EXPECT_EQ(out.alert.id, 17);
  EXPECT_EQ(out.alert.time_ns, 100);
  EXPECT_EQ(out.alert.last_ns, 200);
  EXPECT_EQ(out.alert.severity, detect::Severity::kCritical);
  EXPECT_EQ(out.alert.kind, "port_scan");
  EXPECT_EQ(out.alert.src_ip, a.src_ip);
  EXPECT_EQ(out.alert.dst_ip, a.dst_ip);
  EXPECT_EQ(out.alert.dst_port, 22);
  EXPECT_EQ(out.alert.count, 5u);
  EXPECT_EQ(out.alert.reason, a.reason);
  ASSERT_EQ(out.alert.models.size(), 1u);
  EXPECT_EQ(out.alert.models[0].model, "random_forest");
  ASSERT_EQ(out.alert.features.size(), 1u);
  EXPECT_DOUBLE_EQ(out.alert.features[0].deviation, 38.2);
  EXPECT_TRUE(out.alert.acknowledged);
}

TEST_P(MessageRoundTrip, TrafficConnectionsAndHealth) {
  host::TrafficSample s;
  s.timestamp = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  s.interval_seconds = 1;
  s.total = {"total", 100, 200, 3, 4};
  s.interfaces = {{"eth0", 100, 200, 3, 4}};
  const Message traffic = decode(Topic::kTraffic, encode({origin(), s}, GetParam()), GetParam());
  const auto& t = std::get<host::TrafficSample>(traffic.body);
  EXPECT_EQ(t.timestamp, s.timestamp);
  EXPECT_EQ(t.total.name, "total");
  ASSERT_EQ(t.interfaces.size(), 1u);
  EXPECT_EQ(t.interfaces[0].name, "eth0");
  EXPECT_DOUBLE_EQ(t.interfaces[0].bytes_recv, 200);

  ConnectionsMessage c;
  c.time_ns = 5;
  store::ConnectionRow row;
  row.event = "opened";
  row.transport = "TCP";
  row.local_ip = "10.0.0.1";
  row.local_port = 22;
  row.remote_ip = "10.0.0.2";
  row.remote_port = 50000;
  row.status = "ESTABLISHED";
  row.pid = -1;
  row.process = "sshd";
  c.events = {row};
  const Message conns = decode(Topic::kConnections, encode({origin(), c}, GetParam()), GetParam());
  const auto& cb = std::get<ConnectionsMessage>(conns.body);
  ASSERT_EQ(cb.events.size(), 1u);
  EXPECT_EQ(cb.events[0].process, "sshd");
  EXPECT_EQ(cb.events[0].pid, -1);
  EXPECT_EQ(cb.events[0].remote_port, 50000);

  HealthMessage h;
  h.mode = "capture";
  h.packets = 1234;
  h.queues = {{"packet ring", 3, 65536, 1}};
  h.spool_dropped = 9;
  h.connected = true;
  const Message health = decode(Topic::kHealth, encode({origin(), h}, GetParam()), GetParam());
  const auto& hb = std::get<HealthMessage>(health.body);
  EXPECT_EQ(hb.mode, "capture");
  EXPECT_EQ(hb.packets, 1234u);
  ASSERT_EQ(hb.queues.size(), 1u);
  EXPECT_EQ(hb.queues[0].dropped, 1u);
  EXPECT_EQ(hb.spool_dropped, 9u);
  EXPECT_TRUE(hb.connected);
}

INSTANTIATE_TEST_SUITE_P(BothEncodings, MessageRoundTrip,
                         ::testing::Values(Encoding::kProtobuf, Encoding::kJson));

TEST(Message, JsonFormUsesTheSchemasFieldNames) {
  const std::string json =
      encode({origin(), std::vector<FlowMessage>{sample_flow(3)}}, Encoding::kJson);
  EXPECT_NE(json.find("\"src_ip\":\"10.0.0.1\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"sensor\":\"edge-1\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"end_reason\":\"fin\""), std::string::npos) << json;
}

TEST(Message, AnExportedFlowCarriesNoInteroperableFieldsItLacks) {
  FlowMessage f = sample_flow(4);
  f.source = "ipfix";
  f.row.community_id.clear();
  f.row.orig_ip_bytes = 0;
  f.row.resp_ip_bytes = 0;
  f.row.conn_state.clear();
  f.row.history.clear();
  const std::string json = encode({origin(), std::vector<FlowMessage>{f}}, Encoding::kJson);
  EXPECT_EQ(json.find("community_id"), std::string::npos) << json;
  EXPECT_EQ(json.find("orig_ip_bytes"), std::string::npos) << json;
  EXPECT_EQ(json.find("conn_state"), std::string::npos) << json;
  const std::string captured =
      encode({origin(), std::vector<FlowMessage>{sample_flow(5)}}, Encoding::kJson);
  EXPECT_NE(captured.find("\"conn_state\":\"SF\""), std::string::npos) << captured;
}

TEST(Message, GarbageIsAnErrorNotACrash) {
  EXPECT_THROW((void)decode(Topic::kFlows, "\xff\xff\xff\xff\x0f", Encoding::kProtobuf),
               core::Error);
  EXPECT_THROW((void)decode(Topic::kAlerts, "{not json", Encoding::kJson), core::Error);
}

TEST(Message, TopicsAndContentTypes) {
  for (std::size_t i = 0; i < kTopicCount; ++i) {
    const auto t = static_cast<Topic>(i);
    EXPECT_EQ(parse_topic(topic_name(t)), t);
  }
  EXPECT_FALSE(parse_topic("nope"));
  EXPECT_EQ(encoding_of("application/json"), Encoding::kJson);
  EXPECT_EQ(encoding_of(""), Encoding::kProtobuf);
  EXPECT_EQ(schema_name(Topic::kFlows), "netsentry.bus.v1.FlowBatch");
}

}  // namespace
}  // namespace netsentry::bus
