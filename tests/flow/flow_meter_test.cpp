// The packet path end to end on built frames: tunnels become flows of their own with the outer
// flow as tunnel_parent, fragments are reassembled while every wire packet is counted, and every
// frame is either in a flow or counted under a reason.
#include "flow/flow_meter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "flow_test_support.h"
#include "net/packet_builder.h"

namespace netsentry::flow {
namespace {

using net::testing::Frame;
using net::testing::PacketBuilder;
using namespace netsentry::flow::testing;

Frame cat(std::initializer_list<Frame> parts) {
  Frame out;
  for (const Frame& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Frame inner_tcp_frame() {
  return PacketBuilder()
      .ethernet()
      .ipv4({.src = {172, 16, 0, 1}, .dst = {172, 16, 0, 2}})
      .tcp({.src_port = 33000, .dst_port = 22, .flags = net::testing::kSyn})
      .build();
}

Frame vxlan_frame(const Frame& inner, std::uint8_t outer_src = 1) {
  const Frame vxlan = {0x08, 0, 0, 0, 0x00, 0x01, 0x2C, 0};
  return PacketBuilder()
      .ethernet()
      .ipv4({.src = {10, 0, 0, outer_src}, .dst = {10, 0, 0, 2}})
      .udp({.src_port = 49152, .dst_port = 4789})
      .payload(cat({vxlan, inner}))
      .build();
}

struct Metered {
  std::vector<FlowRecord> records;
  net::DecodeStats decode;
  TunnelStats tunnels;
  net::ReassemblyStats reassembly;
};

Metered meter(const std::vector<Frame>& frames, MeterConfig config = {}) {
  CollectingSink sink;
  FlowMeter m(FlowConfig{}, config, sink);
  std::int64_t ts = kT0;
  for (const Frame& f : frames) {
    m.add_frame(net::LinkType::kEthernet, f, static_cast<std::uint32_t>(f.size()), ts);
    ts += kMs;
  }
  m.flush();
  Metered r{std::move(sink.records), m.decode_stats(), m.tunnel_stats(), m.reassembly_stats()};
  std::uint64_t outer = 0;
  for (const FlowRecord& rec : r.records) {
    if (!rec.tunnel_parent.valid) outer += rec.packet_count;
  }
  // Every frame is in exactly one outermost flow, or counted as not in a flow.
  EXPECT_EQ(r.decode.packets, frames.size());
  EXPECT_EQ(r.decode.packets - r.decode.not_in_flows(), outer);
  return r;
}

const FlowRecord* find(const std::vector<FlowRecord>& records, std::uint8_t proto) {
  const auto it = std::find_if(records.begin(), records.end(),
                               [proto](const FlowRecord& r) { return r.ip_proto == proto; });
  return it == records.end() ? nullptr : &*it;
}

TEST(FlowMeter, VxlanInnerConnectionIsItsOwnFlowWithTheOuterAsParent) {
  const Frame f = vxlan_frame(inner_tcp_frame());
  const Metered r = meter({f});
  ASSERT_EQ(r.records.size(), 2u);
  const FlowRecord* outer = find(r.records, 17);
  const FlowRecord* inner = find(r.records, 6);
  ASSERT_TRUE(outer && inner);
  EXPECT_EQ(outer->dst_port, 4789);
  EXPECT_FALSE(outer->tunnel_parent.valid);
  EXPECT_EQ(inner->tunnel_parent, outer->community_id);
  EXPECT_EQ(inner->dst_port, 22);
  EXPECT_EQ(inner->byte_count, f.size());  // the wire frame, as tshark's conversations count it
  EXPECT_EQ(inner->orig_ip_bytes, 40u);    // its own IP datagram
  EXPECT_EQ(inner->conn_state, ConnState::kS0);
  EXPECT_EQ(r.tunnels.decapsulated[static_cast<std::size_t>(net::Tunnel::kVxlan)], 1u);
}

TEST(FlowMeter, NoTunnelsKeepsOnlyTheOuterFlow) {
  MeterConfig config;
  config.decapsulate = false;
  const Metered r = meter({vxlan_frame(inner_tcp_frame())}, config);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].ip_proto, 17);
}

TEST(FlowMeter, NestingDeeperThanTheLimitIsCounted) {
  MeterConfig config;
  config.max_tunnel_depth = 1;
  const Metered r = meter({vxlan_frame(vxlan_frame(inner_tcp_frame(), 9))}, config);
  EXPECT_EQ(r.records.size(), 2u);  // the outer UDP and the first inner UDP
  EXPECT_EQ(r.tunnels.depth_limit, 1u);
}

std::vector<Frame> udp_fragments(std::size_t payload, std::size_t cut) {
  Frame body(8 + payload, 0x11);
  body[0] = 0x9C;
  body[1] = 0x40;
  body[2] = 0x00;
  body[3] = 53;
  body[4] = static_cast<std::uint8_t>((8 + payload) >> 8);
  body[5] = static_cast<std::uint8_t>(8 + payload);
  const Frame a(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(cut));
  const Frame b(body.begin() + static_cast<std::ptrdiff_t>(cut), body.end());
  return {
      PacketBuilder()
          .ethernet()
          .ipv4({.id = 3, .more_fragments = true, .protocol = 17})
          .payload(a)
          .build(),
      PacketBuilder()
          .ethernet()
          .ipv4({.id = 3, .fragment_offset = static_cast<std::uint16_t>(cut / 8), .protocol = 17})
          .payload(b)
          .build()};
}

TEST(FlowMeter, FragmentsAreOneFlowWithTheDatagramsPortsAndEveryWirePacket) {
  const auto frames = udp_fragments(2000, 1480);
  const Metered r = meter({frames[1], frames[0]});  // the later fragment first
  ASSERT_EQ(r.records.size(), 1u);
  const FlowRecord& f = r.records[0];
  EXPECT_EQ(f.src_port, 40000);
  EXPECT_EQ(f.dst_port, 53);
  EXPECT_EQ(f.packet_count, 2u);
  EXPECT_EQ(f.byte_count, frames[0].size() + frames[1].size());
  EXPECT_EQ(f.orig_ip_bytes, 20u + 1480u + 20u + 528u);
  EXPECT_EQ(f[CicFeature::kTotalLengthFwd], 2000);
  EXPECT_EQ(r.reassembly.reassembled, 1u);
}

TEST(FlowMeter, WithoutReassemblyLaterFragmentsHaveNoPorts) {
  MeterConfig config;
  config.reassemble = false;
  const Metered r = meter(udp_fragments(2000, 1480), config);
  ASSERT_EQ(r.records.size(), 2u);
}

TEST(FlowMeter, AFragmentedTunnelPacketIsReassembledThenDecapsulated) {
  const Frame vxlan = {0x08, 0, 0, 0, 0x00, 0x01, 0x2C, 0};
  Frame inner = inner_tcp_frame();
  const Frame udp_payload = cat({vxlan, inner, Frame(1500, 0)});  // padding makes it fragment
  Frame udp = {0xC0, 0x00, 0x12, 0xB5};                           // 49152 -> 4789
  const std::size_t udp_len = 8 + udp_payload.size();
  udp.push_back(static_cast<std::uint8_t>(udp_len >> 8));
  udp.push_back(static_cast<std::uint8_t>(udp_len));
  udp.push_back(0);
  udp.push_back(0);
  const Frame body = cat({udp, udp_payload});
  const Frame a(body.begin(), body.begin() + 1480);
  const Frame b(body.begin() + 1480, body.end());
  const Frame f1 = PacketBuilder()
                       .ethernet()
                       .ipv4({.id = 77, .more_fragments = true, .protocol = 17})
                       .payload(a)
                       .build();
  const Frame f2 = PacketBuilder()
                       .ethernet()
                       .ipv4({.id = 77, .fragment_offset = 185, .protocol = 17})
                       .payload(b)
                       .build();
  const Metered r = meter({f1, f2});
  const FlowRecord* outer = find(r.records, 17);
  const FlowRecord* in = find(r.records, 6);
  ASSERT_TRUE(outer && in);
  EXPECT_EQ(outer->packet_count, 2u);
  EXPECT_EQ(outer->dst_port, 4789);
  EXPECT_EQ(in->tunnel_parent, outer->community_id);
  EXPECT_EQ(in->byte_count, f1.size() + f2.size());
}

TEST(FlowMeter, FramesWithoutIpAreCountedNotMetered) {
  const Frame arp = PacketBuilder().ethernet().arp().build();
  Frame cut = inner_tcp_frame();
  cut.resize(20);  // Ethernet header and 6 bytes of IP: malformed before the IP addresses
  const Frame lldp = cat({Frame(12, 2), {0x88, 0xCC}, Frame(40, 0)});
  const Metered r = meter({arp, cut, lldp, inner_tcp_frame()});
  EXPECT_EQ(r.decode.not_in_flows(), 3u);
  EXPECT_EQ(r.decode.malformed_before_ip, 1u);
  EXPECT_EQ(r.records.size(), 1u);
}

}  // namespace
}  // namespace netsentry::flow
