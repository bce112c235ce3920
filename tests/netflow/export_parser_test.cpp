#include "netflow/export_parser.h"

#include <gtest/gtest.h>

#include <random>

#include "netflow/export_builder.h"

namespace netsentry::netflow {
namespace {

using testing::Bytes;
using F = ExportedFlow;

constexpr std::int64_t kMs = 1'000'000;

std::vector<ExportedFlow> parse(ExportParser& p, const Bytes& b, const char* who = "r1:2055") {
  std::vector<ExportedFlow> out;
  p.parse(b.data(), who, out);
  return out;
}

TEST(ExportParser, NetflowV5RecordsWithAbsoluteTimes) {
  ExportParser p;
  // Booted 100 s before 1,700,000,000 s: a record first seen at uptime 90 s began at ...990 s.
  const Bytes packet = testing::v5_packet({testing::v5_record(40000, 80, 6, 10, 1500, 90000, 95000),
                                           testing::v5_record(0, 0x0800, 1, 3, 252, 91000, 92000)},
                                          100000, 1'700'000'000);
  const auto flows = parse(p, packet);
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_EQ(flows[0].format, ExportFormat::kNetflow5);
  EXPECT_EQ(flows[0].src.to_string(), "10.0.0.1");
  EXPECT_EQ(flows[0].dst.to_string(), "10.0.0.2");
  EXPECT_EQ(flows[0].src_port, 40000);
  EXPECT_EQ(flows[0].dst_port, 80);
  EXPECT_EQ(flows[0].packets, 10u);
  EXPECT_EQ(flows[0].octets, 1500u);
  EXPECT_EQ(flows[0].start_ns, 1'699'999'990'000 * kMs);
  EXPECT_EQ(flows[0].end_ns, 1'699'999'995'000 * kMs);
  EXPECT_TRUE(flows[0].has(F::kTcpFlags));
  // ICMP: type and code come from the destination port.
  EXPECT_EQ(flows[1].icmp_type, 8);
  EXPECT_EQ(flows[1].icmp_code, 0);
  EXPECT_EQ(flows[1].dst_port, 0);
  EXPECT_FALSE(flows[1].has(F::kDstPort));
  EXPECT_EQ(p.stats().records, 2u);
  EXPECT_EQ(p.stats().bad_packets, 0u);
}

TEST(ExportParser, NetflowV5CutShortIsCountedAndKeepsWholeRecords) {
  ExportParser p;
  Bytes packet = testing::v5_packet(
      {testing::v5_record(1, 2, 17, 1, 100, 0, 0), testing::v5_record(3, 4, 17, 1, 100, 0, 0)},
      1000, 1'700'000'000);
  packet.data().resize(packet.size() - 10);
  EXPECT_EQ(parse(p, packet).size(), 1u);
  EXPECT_EQ(p.stats().truncated, 1u);
  EXPECT_EQ(p.stats().bad_packets, 1u);
}

Bytes v9_template() {
  return testing::set(
      0, testing::template_record(
             256, {{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {2, 4}, {1, 4}, {22, 4}, {21, 4}}));
}

Bytes v9_data(std::uint16_t sport) {
  Bytes r;
  r.ip4(192, 168, 1, 10).ip4(192, 168, 1, 20).u16(sport).u16(53).u8(17).u32(2).u32(160);
  r.u32(50000).u32(51000);
  return testing::set(256, r);
}

TEST(ExportParser, NetflowV9TemplateThenData) {
  ExportParser p;
  // Data before its template is counted, not guessed at.
  EXPECT_TRUE(parse(p, testing::v9_packet({v9_data(1)}, 60000, 1'700'000'000)).empty());
  EXPECT_EQ(p.stats().no_template, 1u);
  const auto flows =
      parse(p, testing::v9_packet({v9_template(), v9_data(5353)}, 60000, 1'700'000'000));
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].format, ExportFormat::kNetflow9);
  EXPECT_EQ(flows[0].src.to_string(), "192.168.1.10");
  EXPECT_EQ(flows[0].src_port, 5353);
  EXPECT_EQ(flows[0].dst_port, 53);
  EXPECT_EQ(flows[0].protocol, 17);
  EXPECT_EQ(flows[0].octets, 160u);
  // Booted at 1,699,999,940 s: uptime 50 s and 51 s.
  EXPECT_EQ(flows[0].start_ns, 1'699'999'990'000 * kMs);
  EXPECT_EQ(flows[0].end_ns, 1'699'999'991'000 * kMs);
  EXPECT_FALSE(flows[0].has(F::kTcpFlags));  // not in the template: not invented
  // The template is remembered for later packets of the same exporter and source id only.
  EXPECT_EQ(parse(p, testing::v9_packet({v9_data(7)}, 61000, 1'700'000'001)).size(), 1u);
  EXPECT_TRUE(parse(p, testing::v9_packet({v9_data(7)}, 61000, 1'700'000'001, 9)).empty());
  EXPECT_TRUE(parse(p, testing::v9_packet({v9_data(7)}, 61000, 1'700'000'001), "r2:2055").empty());
}

Bytes ipfix_template(bool biflow) {
  if (biflow) {
    return testing::set(2, testing::template_record(300,
                                                    {{27, 16},
                                                     {28, 16},
                                                     {7, 2},
                                                     {11, 2},
                                                     {4, 1},
                                                     {6, 1},
                                                     {152, 8},
                                                     {153, 8},
                                                     {1, 8},
                                                     {2, 8},
                                                     {0x8001, 8},
                                                     {0x8002, 8},
                                                     {136, 1}},
                                                    {29305, 29305}));
  }
  return testing::set(
      2, testing::template_record(
             301, {{8, 4}, {12, 4}, {4, 1}, {32, 2}, {150, 4}, {151, 4}, {2, 4}, {1, 4}}));
}

TEST(ExportParser, IpfixBiflowWithReverseCountersAndIpv6) {
  ExportParser p;
  Bytes r;
  for (int i = 0; i < 15; ++i) r.u8(0);
  r.u8(1);  // ::1
  for (int i = 0; i < 15; ++i) r.u8(i == 0 ? 0x20 : 0);
  r.u8(2);  // 2000::2
  r.u16(51000).u16(443).u8(6).u8(0x1b);
  r.u64(1'700'000'000'000).u64(1'700'000'002'500).u64(5000).u64(10);
  r.u64(90000).u64(70).u8(3);
  const auto flows =
      parse(p, testing::ipfix_packet({ipfix_template(true), testing::set(300, r)}, 1'700'000'003));
  ASSERT_EQ(flows.size(), 1u);
  const ExportedFlow& f = flows[0];
  EXPECT_EQ(f.format, ExportFormat::kIpfix);
  EXPECT_EQ(f.src.family, 6);
  EXPECT_EQ(f.src.to_string(), "::1");
  EXPECT_EQ(f.packets, 10u);
  EXPECT_EQ(f.reverse_packets, 70u);
  EXPECT_EQ(f.reverse_octets, 90000u);
  EXPECT_EQ(f.tcp_flags, 0x1b);
  EXPECT_EQ(f.end_reason, 3);
  EXPECT_EQ(f.start_ns, 1'700'000'000'000 * kMs);
  EXPECT_EQ(f.end_ns, 1'700'000'002'500 * kMs);
  const flow::FlowRecord record = to_flow_record(f);
  EXPECT_EQ(record.packet_count, 80u);
  EXPECT_EQ(record.byte_count, 95000u);
  EXPECT_EQ(record[flow::CicFeature::kTotalFwdPacket], 10);
  EXPECT_EQ(record[flow::CicFeature::kTotalBwdPackets], 70);
  EXPECT_EQ(record.end_reason, flow::EndReason::kFin);
  EXPECT_DOUBLE_EQ(record.duration_s, 2.5);
  EXPECT_EQ(record[flow::CicFeature::kIcmpType], -1);
}

TEST(ExportParser, IpfixIcmpTypeCodeAndSecondsAndReducedSizeCounters) {
  ExportParser p;
  Bytes r;
  r.ip4(10, 9, 9, 9).ip4(10, 0, 0, 5).u8(1).u8(8).u8(0).u32(1'700'000'000).u32(1'700'000'010);
  r.u32(600).u32(50400);
  const auto flows =
      parse(p, testing::ipfix_packet({ipfix_template(false), testing::set(301, r)}, 1'700'000'011));
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].icmp_type, 8);
  EXPECT_EQ(flows[0].packets, 600u);
  EXPECT_EQ(flows[0].octets, 50400u);
  EXPECT_EQ(flows[0].end_ns - flows[0].start_ns, 10'000 * kMs);
  EXPECT_FALSE(flows[0].has(F::kReversePackets));
  const flow::FlowRecord record = to_flow_record(flows[0]);
  EXPECT_EQ(record[flow::CicFeature::kIcmpType], 8);
  EXPECT_EQ(record[flow::CicFeature::kTotalBwdPackets], 0);
}

TEST(ExportParser, IpfixSysUpTimesUseSystemInitTimeFromAnOptionsRecord) {
  ExportParser p;
  // Options template 400: scope = observation domain (149), then systemInitTimeMilliseconds.
  Bytes opt;
  opt.u16(400).u16(2).u16(1).u16(149).u16(4).u16(160).u16(8);
  Bytes optdata;
  optdata.u32(0).u64(1'600'000'000'000);
  Bytes data;
  data.ip4(1, 1, 1, 1).ip4(2, 2, 2, 2).u16(1).u16(2).u8(17).u32(1000).u32(3000).u32(1).u32(28);
  const Bytes tmpl = testing::set(
      2, testing::template_record(
             500, {{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {22, 4}, {21, 4}, {2, 4}, {1, 4}}));
  const auto flows = parse(
      p, testing::ipfix_packet(
             {testing::set(3, opt), testing::set(400, optdata), tmpl, testing::set(500, data)},
             1'600'000'100));
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].start_ns, (1'600'000'000'000 + 1000) * kMs);
  EXPECT_EQ(flows[0].end_ns, (1'600'000'000'000 + 3000) * kMs);
  EXPECT_EQ(p.stats().not_a_flow, 1u);  // the options record itself
}

TEST(ExportParser, IpfixVariableLengthFieldsAreSkipped) {
  ExportParser p;
  Bytes data;
  data.ip4(1, 1, 1, 1).u8(3).u8('a').u8('b').u8('c').ip4(2, 2, 2, 2);
  data.u8(255).u16(2).u8('x').u8('y');  // the long form of a variable length
  const Bytes tmpl = testing::set(
      2, testing::template_record(600, {{8, 4}, {0x8000 | 96, 65535}, {12, 4}, {82, 65535}}, {9}));
  const auto flows = parse(p, testing::ipfix_packet({tmpl, testing::set(600, data)}, 1));
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].dst.to_string(), "2.2.2.2");
}

TEST(ExportParser, MalformedTemplatesAndSetsAreCountedNotFollowed) {
  ExportParser p;
  // A template whose fields are all zero bytes long would never advance through its data.
  const Bytes zero = testing::set(2, testing::template_record(700, {{8, 0}, {12, 0}}));
  EXPECT_TRUE(
      parse(p, testing::ipfix_packet({zero, testing::set(700, Bytes().u32(1))}, 1)).empty());
  EXPECT_EQ(p.stats().bad_template, 1u);
  // A set whose length is shorter than its header.
  Bytes bad = testing::ipfix_packet({}, 1);
  bad.u16(256).u16(2);
  bad.put16(2, static_cast<std::uint32_t>(bad.size()));
  (void)parse(p, bad);
  // A message length past the datagram.
  Bytes longer = testing::ipfix_packet({}, 1);
  longer.put16(2, 400);
  (void)parse(p, longer);
  EXPECT_EQ(p.stats().truncated, 2u);
  // An unknown version.
  (void)parse(p, Bytes().u16(7).u16(0));
  EXPECT_EQ(p.stats().unknown_version, 1u);
  EXPECT_EQ(p.stats().bad_packets, 4u);
  EXPECT_EQ(p.stats().packets, 4u);
}

TEST(ExportParser, TemplatesAreBounded) {
  ExportParser p(ParserOptions{4});
  for (int i = 0; i < 20; ++i) {
    // (append, not "r" + ...: GCC 12 warns -Wrestrict on that falsely)
    std::string who = "r";
    who.append(std::to_string(i)).append(":1");
    (void)parse(p, testing::v9_packet({v9_template()}, 1, 1), who.c_str());
  }
  EXPECT_EQ(p.templates(), 4u);
  EXPECT_EQ(p.stats().template_evictions, 16u);
  // The newest exporter's template is still there.
  EXPECT_EQ(parse(p, testing::v9_packet({v9_data(1)}, 1, 1), "r19:1").size(), 1u);
}

TEST(ExportParser, RandomBytesNeverCrash) {
  std::mt19937 rng(11);
  ExportParser p;
  std::vector<ExportedFlow> out;
  const Bytes seeds[] = {testing::v9_packet({v9_template(), v9_data(1)}, 1, 1),
                         testing::ipfix_packet({ipfix_template(false)}, 1),
                         testing::v5_packet({testing::v5_record(1, 2, 6, 1, 1, 1, 1)}, 1, 1)};
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> d = seeds[i % 3].data();
    for (int flips = rng() % 8; flips > 0; --flips)
      d[rng() % d.size()] = static_cast<std::uint8_t>(rng());
    d.resize(rng() % (d.size() + 1));
    p.parse(d, "fuzz:1", out);
  }
  EXPECT_EQ(p.stats().packets, 20000u);
}

}  // namespace
}  // namespace netsentry::netflow
