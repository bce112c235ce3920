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
