#include "capture/packet_ring.h"

#include <gtest/gtest.h>

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

TEST(PacketRing, WithASpillAreaLongPacketsTravelWholeBesideTheirSlot) {
  PacketRing ring(8, 64 << 10);
  auto small = pattern(60, 1), big = pattern(1500, 7), jumbo = pattern(9000, 9);
  ASSERT_TRUE(ring.try_push(make(1, small)));
  ASSERT_TRUE(ring.try_push(make(2, big)));
  ASSERT_TRUE(ring.try_push(make(3, jumbo)));
  const auto* a = ring.peek(0);
  const auto* b = ring.peek(1);
  const auto* c = ring.peek(2);
  ASSERT_TRUE(a && b && c);
  // The meter's view is unchanged (the first kSlotBytes); packet() has every captured byte.
  EXPECT_EQ(b->stored_len, PacketRing::kSlotBytes);
  const auto whole_a = ring.packet(*a);
  const auto whole_b = ring.packet(*b);
  const auto whole_c = ring.packet(*c);
  EXPECT_EQ(std::vector<std::uint8_t>(whole_a.begin(), whole_a.end()), small);
  EXPECT_EQ(std::vector<std::uint8_t>(whole_b.begin(), whole_b.end()), big);
  EXPECT_EQ(std::vector<std::uint8_t>(whole_c.begin(), whole_c.end()), jumbo);
  EXPECT_EQ(ring.spill_missed(), 0u);
  ring.pop(3);
}

TEST(PacketRing, AFullSpillAreaPassesThePacketWithItsSlotOnlyAndCounts) {
  PacketRing ring(64, 8 << 10);
  auto big = pattern(3000, 3);
  ASSERT_TRUE(ring.has_room(big.size()));
  ASSERT_TRUE(ring.try_push(make(1, big)));
  ASSERT_TRUE(ring.try_push(make(2, big)));
  EXPECT_FALSE(ring.has_room(big.size()));   // 6000 of 8192 bytes held, the next would not fit
  ASSERT_TRUE(ring.try_push(make(3, big)));  // the flow meter still gets it
  EXPECT_EQ(ring.spill_missed(), 1u);
  EXPECT_EQ(ring.packet(*ring.peek(2)).size(), PacketRing::kSlotBytes);
  EXPECT_EQ(ring.packet(*ring.peek(1)).size(), big.size());
  // Popping releases the bytes; a packet that would cross the end starts at the beginning.
  ring.pop(2);
  EXPECT_TRUE(ring.has_room(big.size()));
  ASSERT_TRUE(ring.try_push(make(4, big)));
  ring.pop(1);
  const auto whole = ring.packet(*ring.front());
  EXPECT_EQ(std::vector<std::uint8_t>(whole.begin(), whole.end()), big);
}

TEST(PacketRing, SpilledPacketsCrossThreadsIntactThroughManyWraps) {
  PacketRing ring(64, 32 << 10);
  constexpr std::int64_t kPackets = 50000;
  std::jthread producer([&] {
    for (std::int64_t i = 0; i < kPackets;) {
      auto bytes = pattern(400 + static_cast<std::size_t>(i % 1200), static_cast<std::uint8_t>(i));
      // A lossless producer: waits for room in the slots and the spill area.
      if (ring.size() >= ring.capacity() || !ring.has_room(bytes.size())) continue;
      ASSERT_TRUE(ring.try_push(make(i, bytes)));
      ++i;
    }
  });
  for (std::int64_t expected = 0; expected < kPackets;) {
    const auto* s = ring.front();
    if (s == nullptr) continue;
    ASSERT_EQ(s->ts_ns, expected);
    const auto whole = ring.packet(*s);
    ASSERT_EQ(whole.size(), 400 + static_cast<std::size_t>(expected % 1200));
    ASSERT_EQ(whole.back(),
              static_cast<std::uint8_t>(static_cast<std::uint8_t>(expected) + whole.size() - 1));
    ring.pop();
    ++expected;
  }
  EXPECT_EQ(ring.spill_missed(), 0u);
}

}  // namespace
}  // namespace netsentry::capture
