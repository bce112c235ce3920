#include "net/fragment_reassembler.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "net/decoder.h"
#include "net/packet_builder.h"

namespace netsentry::net {
namespace {

using testing::Frame;
using testing::PacketBuilder;

constexpr std::int64_t kSec = 1'000'000'000;

class Collector final : public FragmentSink {
 public:
  void on_fragment(const Packet& p) override { fragments.push_back(p); }
  void on_datagram(const Packet& d) override {
    datagrams.push_back(d);
    payloads.emplace_back(d.payload.begin(), d.payload.end());
  }
  std::vector<Packet> fragments;
  std::vector<Packet> datagrams;
  std::vector<Frame> payloads;
};

// A UDP datagram of `payload` bytes (values 0, 1, 2, ...) from `src`, cut into IPv4 fragments at
// the given byte offsets of the IP payload (multiples of 8).
std::vector<Frame> udp_fragments(std::uint8_t src, std::uint16_t id, std::size_t payload,
                                 std::vector<std::size_t> cuts) {
  Frame body(8 + payload);
  body[0] = 0x9C;  // source port 40000
  body[1] = 0x40;
  body[2] = 0x00;  // destination port 53
  body[3] = 53;
  body[4] = static_cast<std::uint8_t>((8 + payload) >> 8);
  body[5] = static_cast<std::uint8_t>(8 + payload);
  for (std::size_t i = 0; i < payload; ++i) body[8 + i] = static_cast<std::uint8_t>(i);
  cuts.push_back(body.size());
  std::vector<Frame> out;
  std::size_t begin = 0;
  for (std::size_t c : cuts) {
    const Frame part(body.begin() + static_cast<std::ptrdiff_t>(begin),
                     body.begin() + static_cast<std::ptrdiff_t>(c));
    out.push_back(PacketBuilder()
                      .ipv4({.src = {10, 0, 0, src},
                             .dst = {10, 0, 1, 1},
                             .id = id,
                             .more_fragments = c != body.size(),
                             .fragment_offset = static_cast<std::uint16_t>(begin / 8),
                             .protocol = 17})
                      .payload(part)
                      .build());
    begin = c;
  }
  return out;
}

// Decodes a raw IP frame; the spans stay valid while `frame` lives.
Packet decoded(const Frame& frame, std::int64_t ts) {
  Packet p;
  DecodeStats stats;
  (void)decode(LinkType::kRaw, frame, static_cast<std::uint32_t>(frame.size()), ts, p, stats);
  return p;
}

TEST(FragmentReassembler, InOrderFragmentsGetThePortsOfTheDatagram) {
  FragmentReassembler r;
  Collector c;
  const auto frames = udp_fragments(1, 7, 1992, {1000});
  r.add(decoded(frames[0], kSec), c);
  EXPECT_TRUE(c.fragments.empty());
  r.add(decoded(frames[1], kSec + 1000), c);
  ASSERT_EQ(c.fragments.size(), 2u);
  ASSERT_EQ(c.datagrams.size(), 1u);
  for (const Packet& f : c.fragments) {
    EXPECT_TRUE(f.has_l4);
    EXPECT_EQ(f.src_port, 40000);
    EXPECT_EQ(f.dst_port, 53);
    EXPECT_TRUE(f.fragment);
  }
  EXPECT_EQ(c.fragments[0].payload_len + c.fragments[1].payload_len, 1992u);
  EXPECT_EQ(c.fragments[0].l4_header_len, 8);
  EXPECT_EQ(c.fragments[1].l4_header_len, 0);
  EXPECT_EQ(c.fragments[0].ip_total_len, 1020u);
  EXPECT_EQ(c.fragments[1].ip_total_len, 20u + 1000u);
  const Packet& d = c.datagrams[0];
  EXPECT_FALSE(d.fragment);
  EXPECT_EQ(d.payload_len, 1992u);
  EXPECT_EQ(d.ip_total_len, 20u + 2000u);
  EXPECT_EQ(d.wire_len, frames[0].size() + frames[1].size());
  ASSERT_EQ(c.payloads[0].size(), 1992u);
  for (std::size_t i = 0; i < 1992; ++i) ASSERT_EQ(c.payloads[0][i], static_cast<std::uint8_t>(i));
  EXPECT_EQ(r.stats().reassembled, 1u);
  EXPECT_EQ(r.in_progress(), 0u);
  EXPECT_EQ(r.bytes_held(), 0u);
}

TEST(FragmentReassembler, OutOfOrderFragmentsAreHandedOverInArrivalOrder) {
  FragmentReassembler r;
  Collector c;
  const auto frames = udp_fragments(1, 8, 3000, {1000, 2000});
  r.add(decoded(frames[2], 3), c);
  r.add(decoded(frames[0], 1), c);
  EXPECT_TRUE(c.fragments.empty());
  r.add(decoded(frames[1], 2), c);
  ASSERT_EQ(c.fragments.size(), 3u);
  EXPECT_EQ(c.fragments[0].frag_offset, 2000u);
  EXPECT_EQ(c.fragments[0].src_port, 40000);  // ports from the reassembled header
  EXPECT_EQ(c.fragments[1].frag_offset, 0u);
  ASSERT_EQ(c.payloads.size(), 1u);
  for (std::size_t i = 0; i < 3000; ++i) ASSERT_EQ(c.payloads[0][i], static_cast<std::uint8_t>(i));
}

TEST(FragmentReassembler, TimedOutDatagramKeepsItsFirstFragmentsPorts) {
  FragmentReassembler r;
  Collector c;
  const auto frames = udp_fragments(1, 9, 2000, {1000});
  r.add(decoded(frames[0], kSec), c);
  r.advance(kSec + 30 * kSec, c);  // exactly the timeout: still waiting
  EXPECT_TRUE(c.fragments.empty());
  r.advance(kSec + 31 * kSec, c);
  ASSERT_EQ(c.fragments.size(), 1u);
  EXPECT_TRUE(c.datagrams.empty());
  EXPECT_EQ(c.fragments[0].dst_port, 53);
  EXPECT_EQ(r.stats().timed_out, 1u);
  EXPECT_EQ(r.stats().incomplete, 1u);
}

TEST(FragmentReassembler, LaterFragmentsWithoutTheFirstHaveNoPorts) {
  FragmentReassembler r;
  Collector c;
  const auto frames = udp_fragments(1, 10, 3000, {1000, 2000});
  r.add(decoded(frames[1], 1), c);
  r.add(decoded(frames[2], 2), c);
  r.flush(c);
  ASSERT_EQ(c.fragments.size(), 2u);
  EXPECT_FALSE(c.fragments[0].has_l4);
  EXPECT_EQ(c.fragments[0].src_port, 0);
  EXPECT_EQ(r.stats().flushed, 1u);
}

TEST(FragmentReassembler, OverlapsAreCountedAndTheFirstBytesWin) {
  FragmentReassembler r;
  Collector c;
  const auto frames = udp_fragments(1, 11, 2000, {1000});
  // The same first fragment again, with different data in its payload.
  Frame changed = frames[0];
  for (std::size_t i = 40; i < changed.size(); ++i) changed[i] = 0xEE;
  r.add(decoded(frames[0], 1), c);
  r.add(decoded(changed, 2), c);
  r.add(decoded(frames[1], 3), c);
  EXPECT_EQ(r.stats().overlaps, 1u);
  ASSERT_EQ(c.fragments.size(), 3u);  // every wire packet is handed over
  ASSERT_EQ(c.payloads.size(), 1u);
  EXPECT_EQ(c.payloads[0][100], 100);
}

TEST(FragmentReassembler, PerSourceBoundEvictsThatSourcesOldestDatagram) {
  ReassemblyConfig config;
  config.max_per_source = 2;
  FragmentReassembler r(config);
  Collector c;
  std::vector<std::vector<Frame>> all;
  for (std::uint16_t id = 1; id <= 3; ++id) all.push_back(udp_fragments(1, id, 2000, {1000}));
  const auto other = udp_fragments(2, 1, 2000, {1000});
  r.add(decoded(other[0], 0), c);
  for (std::uint16_t i = 0; i < 3; ++i) r.add(decoded(all[i][0], i + 1), c);
  EXPECT_EQ(r.stats().evicted_per_source, 1u);
  ASSERT_EQ(c.fragments.size(), 1u);
  EXPECT_EQ(c.fragments[0].frag_id, 1u);
  EXPECT_EQ(c.fragments[0].src.bytes[3], 1);
  EXPECT_EQ(r.in_progress(), 3u);  // the other source's datagram stays
}

TEST(FragmentReassembler, DatagramAndByteBoundsEvictTheOldest) {
  ReassemblyConfig config;
  config.max_datagrams = 2;
  FragmentReassembler r(config);
  Collector c;
  for (std::uint8_t src = 1; src <= 3; ++src) {
    r.add(decoded(udp_fragments(src, 1, 2000, {1000})[0], src), c);
  }
  EXPECT_EQ(r.stats().evicted, 1u);
  EXPECT_EQ(r.in_progress(), 2u);

  ReassemblyConfig small;
  small.max_bytes = 2048;  // four 512-byte chunks: two 1000-byte fragments
  FragmentReassembler b(small);
  Collector cb;
  for (std::uint8_t src = 1; src <= 3; ++src) {
    b.add(decoded(udp_fragments(src, 1, 2000, {1000})[0], src), cb);
  }
  EXPECT_EQ(b.stats().evicted, 1u);
  EXPECT_LE(b.bytes_held(), 2048u);
}

TEST(FragmentReassembler, TooManyFragmentsAndOversizedFragmentsAreBounded) {
  ReassemblyConfig config;
  config.max_fragments_per_datagram = 4;
  FragmentReassembler r(config);
  Collector c;
  std::vector<std::size_t> cuts;
  for (std::size_t at = 8; at < 80; at += 8) cuts.push_back(at);
  const auto tiny = udp_fragments(1, 5, 100, cuts);
  for (std::size_t i = 0; i < tiny.size(); ++i) r.add(decoded(tiny[i], 1), c);
  r.flush(c);
  EXPECT_GE(r.stats().too_many_fragments, 1u);
  EXPECT_EQ(c.fragments.size(), tiny.size());

  // A fragment reaching past 65,535 bytes is counted at once, never held.
  const Frame huge =
      PacketBuilder()
          .ipv4({.id = 9, .more_fragments = true, .fragment_offset = 8180, .protocol = 17})
          .payload(200)
          .build();
  Collector h;
  r.add(decoded(huge, 2), h);
  EXPECT_EQ(r.stats().oversized, 1u);
  EXPECT_EQ(h.fragments.size(), 1u);
}

TEST(FragmentReassembler, Ipv6Fragments) {
  Frame body(8 + 1600);
  body[0] = 0x13;
  body[1] = 0x88;  // 5000
  body[2] = 0x00;
  body[3] = 0x35;  // 53
  body[4] = static_cast<std::uint8_t>(body.size() >> 8);
  body[5] = static_cast<std::uint8_t>(body.size());
  const Frame a(body.begin(), body.begin() + 1200);
  const Frame b(body.begin() + 1200, body.end());
  const Frame first = PacketBuilder()
                          .ipv6()
                          .ipv6_fragment({.offset = 0, .more = true, .id = 77, .next_header = 17})
                          .payload(a)
                          .build();
  const Frame second =
      PacketBuilder()
          .ipv6()
          .ipv6_fragment({.offset = 150, .more = false, .id = 77, .next_header = 17})
          .payload(b)
          .build();
  FragmentReassembler r;
  Collector c;
  r.add(decoded(second, 1), c);
  r.add(decoded(first, 2), c);
  ASSERT_EQ(c.datagrams.size(), 1u);
  EXPECT_EQ(c.datagrams[0].l3, L3::kIpv6);
  EXPECT_EQ(c.datagrams[0].dst_port, 53);
  EXPECT_EQ(c.datagrams[0].payload_len, 1600u);
  ASSERT_EQ(c.fragments.size(), 2u);
  EXPECT_EQ(c.fragments[0].src_port, 5000);
}

TEST(FragmentReassembler, CaptureShorterThanTheFragmentsEndsTheReassembledView) {
  FragmentReassembler r;
  Collector c;
  const auto frames = udp_fragments(1, 12, 2000, {1000});
  Frame cut = frames[0];
  cut.resize(200);  // snapshot length 200
  r.add(decoded(cut, 1), c);
  r.add(decoded(frames[1], 2), c);
  ASSERT_EQ(c.datagrams.size(), 1u);
  EXPECT_EQ(c.datagrams[0].payload_len, 2000u);
  EXPECT_EQ(c.payloads[0].size(), 200u - 20u - 8u);
}

TEST(FragmentReassembler, HostileFragmentsAreEachHandedOverOnce) {
  ReassemblyConfig config;
  config.max_datagrams = 16;
  config.max_fragments = 64;
  config.max_fragments_per_datagram = 8;
  config.max_bytes = 16 * 1024;
  config.max_per_source = 4;
  FragmentReassembler r(config);
  Collector c;
  std::mt19937 rng(7);
  std::size_t added = 0;
  for (int i = 0; i < 5000; ++i) {
    const auto src = static_cast<std::uint8_t>(rng() % 6);
    const auto id = static_cast<std::uint16_t>(rng() % 5);
    const auto offset = static_cast<std::uint16_t>(rng() % 64);
    const std::size_t len = 8 * (rng() % 40);
    const Frame f = PacketBuilder()
                        .ipv4({.src = {10, 0, 0, src},
                               .id = id,
                               .more_fragments = (rng() % 3) != 0,
                               .fragment_offset = offset,
                               .protocol = static_cast<std::uint8_t>(rng() % 2 ? 17 : 6)})
                        .payload(len, static_cast<std::uint8_t>(rng()))
                        .build();
    const Packet p = decoded(f, static_cast<std::int64_t>(i) * 10'000'000);
    if (!p.fragment) continue;
    r.add(p, c);
    ++added;
  }
  r.flush(c);
  EXPECT_EQ(c.fragments.size(), added);
  EXPECT_EQ(r.in_progress(), 0u);
  EXPECT_EQ(r.bytes_held(), 0u);
  EXPECT_LE(r.stats().peak_bytes, config.max_bytes);
  EXPECT_LE(r.stats().peak_datagrams, config.max_datagrams);
}

}  // namespace
}  // namespace netsentry::net
