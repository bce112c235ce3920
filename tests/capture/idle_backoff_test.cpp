#include "capture/idle_backoff.h"

#include <gtest/gtest.h>

namespace netsentry::capture {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(IdleBackoff, DoublesOnEmptyPollsUpToTheBound) {
  IdleBackoff backoff(milliseconds(1), milliseconds(8));
  EXPECT_EQ(backoff.idle(), milliseconds(1));
  EXPECT_EQ(backoff.idle(), milliseconds(2));
  EXPECT_EQ(backoff.idle(), milliseconds(4));
  EXPECT_EQ(backoff.idle(), milliseconds(8));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(backoff.idle(), milliseconds(8));
}

TEST(IdleBackoff, FirstPacketResetsToTheShortWait) {
  IdleBackoff backoff(microseconds(500), milliseconds(4));
  for (int i = 0; i < 10; ++i) (void)backoff.idle();
  backoff.busy();
  EXPECT_EQ(backoff.idle(), microseconds(500));
  EXPECT_EQ(backoff.idle(), milliseconds(1));
}

TEST(IdleBackoff, ABoundBelowTheFirstWaitIsTheFirstWait) {
  IdleBackoff backoff(milliseconds(2), milliseconds(1));
  EXPECT_EQ(backoff.most(), milliseconds(2));
  EXPECT_EQ(backoff.idle(), milliseconds(2));
  EXPECT_EQ(backoff.idle(), milliseconds(2));
}

// The flow thread's per-second work (live ticks, flushing finished flows) runs when a wait ends:
// the default bound keeps it within 1 s (and far below) however long the link stays quiet.
TEST(IdleBackoff, DefaultBoundIsAFewMilliseconds) {
  IdleBackoff backoff;
  EXPECT_EQ(backoff.first(), milliseconds(1));
  EXPECT_LE(backoff.most(), milliseconds(10));
  microseconds total{0};
  for (int i = 0; i < 1000; ++i) {
    const auto wait = backoff.idle();
    EXPECT_LE(wait, backoff.most());
    total += wait;
  }
  EXPECT_GT(total, milliseconds(7000));  // 1000 empty polls sleep ~8 s, not ~1 s
}

}  // namespace
}  // namespace netsentry::capture
