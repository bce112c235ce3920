#include "capture/packet_ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

namespace netsentry::capture {
namespace {

RawPacket make(std::int64_t ts, std::vector<std::uint8_t>& bytes) {
  RawPacket p;
  p.ts_ns = ts;
  p.wire_len = static_cast<std::uint32_t>(bytes.size() + 100);
  p.cap_len = static_cast<std::uint32_t>(bytes.size());
  p.bytes = bytes;
  return p;
}

TEST(PacketRing, KeepsOrderAndCopiesAtMostSlotBytes) {
  PacketRing ring(4);
  std::vector<std::uint8_t> small(10, 0xAB), big(1000, 0xCD);
  ASSERT_TRUE(ring.try_push(make(1, small)));
  ASSERT_TRUE(ring.try_push(make(2, big)));
  const auto* a = ring.front();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->ts_ns, 1);
  EXPECT_EQ(a->stored_len, 10u);
  EXPECT_EQ(a->data[9], 0xAB);
  ring.pop();
  const auto* b = ring.front();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->ts_ns, 2);
  EXPECT_EQ(b->cap_len, 1000u);
  EXPECT_EQ(b->wire_len, 1100u);
  EXPECT_EQ(b->stored_len, PacketRing::kSlotBytes);
  ring.pop();
  EXPECT_EQ(ring.front(), nullptr);
}

TEST(PacketRing, FullRingDropsAndCountsInsteadOfBlocking) {
  PacketRing ring(4);
  std::vector<std::uint8_t> bytes(20, 1);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ring.try_push(make(i, bytes)));
  EXPECT_FALSE(ring.try_push(make(9, bytes)));
  EXPECT_FALSE(ring.try_push(make(10, bytes)));
  EXPECT_EQ(ring.dropped(), 2u);
  EXPECT_EQ(ring.size(), 4u);
}

TEST(PacketRing, TransfersEveryPacketBetweenTwoThreadsInOrder) {
  PacketRing ring(64);
  constexpr std::int64_t kPackets = 200000;
  std::jthread producer([&] {
    std::vector<std::uint8_t> bytes(64, 0);
    for (std::int64_t i = 0; i < kPackets;) {
      if (ring.try_push(make(i, bytes))) ++i;
    }
  });
  std::int64_t expected = 0;
  while (expected < kPackets) {
    if (const auto* s = ring.front()) {
      ASSERT_EQ(s->ts_ns, expected);
      ring.pop();
      ++expected;
    }
  }
  EXPECT_EQ(expected, kPackets);
}

}  // namespace
}  // namespace netsentry::capture

namespace netsentry::capture {
namespace {

TEST(PacketRing, PeekSeesQueuedPacketsAndPopReleasesSeveral) {
  PacketRing ring(8);
  std::vector<std::uint8_t> bytes(8, 0);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(ring.try_push(make(i, bytes)));
  ASSERT_NE(ring.peek(4), nullptr);
  EXPECT_EQ(ring.peek(4)->ts_ns, 4);
  EXPECT_EQ(ring.peek(5), nullptr);
  ring.pop(3);
  EXPECT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.front()->ts_ns, 3);
}

}  // namespace
}  // namespace netsentry::capture

namespace netsentry::capture {
namespace {

std::vector<std::uint8_t> pattern(std::size_t size, std::uint8_t seed) {
  std::vector<std::uint8_t> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(seed + i);
  return bytes;
}

RecorderOptions recorder_options(std::size_t memory) {
  RecorderOptions o;
  o.memory_bytes = memory;
  o.segment_bytes = 64 << 10;
  return o;
}

net::IpAddress v4(std::uint8_t last) {
  net::IpAddress ip;
  ip.family = 4;
  ip.bytes = {10, 0, 0, last};
  return ip;
}

TEST(PacketRing, WithARecorderPacketsTravelWholeInItAndTheMeterSeesTheirFirstBytes) {
  PacketRecorder recorder(recorder_options(1 << 20));
  PacketRing ring(8, &recorder);
  auto small = pattern(60, 1), big = pattern(1500, 7), jumbo = pattern(9000, 9);
  ASSERT_TRUE(ring.try_push(make(1, small)));
  ASSERT_TRUE(ring.try_push(make(2, big)));
  ASSERT_TRUE(ring.try_push(make(3, jumbo)));
  const PacketRing::Slot* slots[3] = {ring.peek(0), ring.peek(1), ring.peek(2)};
  ASSERT_TRUE(slots[0] && slots[1] && slots[2]);
  const std::vector<std::uint8_t>* inputs[3] = {&small, &big, &jumbo};
  for (int i = 0; i < 3; ++i) {
    // The meter's view is unchanged (the first kSlotBytes); packet() has every captured byte.
    const auto frame = PacketRing::frame(*slots[i]);
    const auto whole = PacketRing::packet(*slots[i]);
    EXPECT_EQ(frame.size(), std::min(inputs[i]->size(), PacketRing::kSlotBytes));
    EXPECT_TRUE(std::equal(frame.begin(), frame.end(), inputs[i]->begin()));
    EXPECT_EQ(std::vector<std::uint8_t>(whole.begin(), whole.end()), *inputs[i]);
  }
  // Readers see a packet once the flow thread committed it with its addresses.
  RecorderQuery q;
  q.host = v4(1);
  EXPECT_EQ(recorder.for_each(q, [](const RecordedPacket&) { return true; }), 0u);
  const net::IpAddress pair[2] = {v4(1), v4(2)};
  for (const auto* slot : slots) recorder.commit(slot->recorded, pair);
  ring.pop(3);
  std::vector<std::vector<std::uint8_t>> found;
  recorder.for_each(q, [&](const RecordedPacket& p) {
    found.emplace_back(p.bytes().begin(), p.bytes().end());
    return true;
  });
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0], small);
  EXPECT_EQ(found[1], big);
  EXPECT_EQ(found[2], jumbo);
  EXPECT_EQ(recorder.stats().no_room, 0u);
}

TEST(PacketRing, ARecorderFullOfUnreleasedPacketsLeavesThePacketInItsSlotAndCounts) {
  PacketRecorder recorder(recorder_options(128 << 10));  // two 64 KiB segments
  PacketRing ring(256, &recorder);
  auto big = pattern(3000, 3);
  const net::IpAddress pair[2] = {v4(1), v4(2)};
  // 42 packets of ~3 KB fill both segments; none is released yet.
  std::size_t pushed = 0;
  while (ring.has_room(big.size())) {
    ASSERT_TRUE(ring.try_push(make(static_cast<std::int64_t>(pushed), big)));
    ++pushed;
  }
  EXPECT_GT(pushed, 30u);
  ASSERT_TRUE(ring.try_push(make(1000, big)));  // the flow meter still gets it
  const auto* cut = ring.peek(pushed);
  ASSERT_NE(cut, nullptr);
  EXPECT_FALSE(cut->recorded);
  EXPECT_EQ(PacketRing::frame(*cut).size(), PacketRing::kSlotBytes);
  EXPECT_EQ(recorder.stats().no_room, 1u);
  // The flow thread commits and releases the first segment's packets and more: room again, and
  // the bytes it may still read were never overwritten.
  for (std::size_t i = 0; i < pushed; ++i) {
    const auto* s = ring.peek(i);
    const auto whole = PacketRing::packet(*s);
    ASSERT_EQ(std::vector<std::uint8_t>(whole.begin(), whole.end()), big) << i;
    recorder.commit(s->recorded, pair);
  }
  ring.pop(pushed + 1);
  EXPECT_TRUE(ring.has_room(big.size()));
  ASSERT_TRUE(ring.try_push(make(2000, big)));
  EXPECT_TRUE(ring.front()->recorded);
  EXPECT_EQ(recorder.stats().packets, pushed);
}

TEST(PacketRing, RecordedPacketsCrossThreadsIntactThroughManyWraps) {
  PacketRecorder recorder(recorder_options(256 << 10));
  PacketRing ring(64, &recorder);
  constexpr std::int64_t kPackets = 50000;
  std::jthread producer([&] {
    for (std::int64_t i = 0; i < kPackets;) {
      auto bytes = pattern(40 + static_cast<std::size_t>(i % 1500), static_cast<std::uint8_t>(i));
      // A lossless producer: waits for room in the slots and in the recorder.
      if (ring.size() >= ring.capacity() || !ring.has_room(bytes.size())) continue;
      ASSERT_TRUE(ring.try_push(make(i, bytes)));
      ++i;
    }
  });
  const net::IpAddress pair[2] = {v4(1), v4(2)};
  for (std::int64_t expected = 0; expected < kPackets;) {
    // Like the flow thread: read a few packets, commit them, then release them together.
    std::size_t taken = 0;
    while (taken < 8) {
      const auto* s = ring.peek(taken);
      if (s == nullptr) break;
      const std::int64_t i = expected + static_cast<std::int64_t>(taken);
      ASSERT_EQ(s->ts_ns, i);
      ASSERT_TRUE(s->recorded);
      const auto whole = PacketRing::packet(*s);
      ASSERT_EQ(whole.size(), 40 + static_cast<std::size_t>(i % 1500));
      ASSERT_EQ(whole.front(), static_cast<std::uint8_t>(i));
      ASSERT_EQ(whole.back(),
                static_cast<std::uint8_t>(static_cast<std::uint8_t>(i) + whole.size() - 1));
      recorder.commit(s->recorded, pair);
      ++taken;
    }
    ring.pop(taken);
    expected += static_cast<std::int64_t>(taken);
  }
  const RecorderStats stats = recorder.stats();
  EXPECT_EQ(stats.no_room, 0u);
  EXPECT_EQ(stats.packets, static_cast<std::uint64_t>(kPackets));
  EXPECT_GT(stats.evicted_packets, 0u);
  EXPECT_LE(stats.memory_bytes, std::size_t{(256 << 10) + 2 * (64 << 10)});
}

}  // namespace
}  // namespace netsentry::capture
