#include "core/bounded_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace netsentry::core {
namespace {

TEST(BoundedQueue, TryPushDropsAndCountsWhenFull) {
  BoundedQueue<int> q(2);
  EXPECT_TRUE(q.try_push(1));
  EXPECT_TRUE(q.try_push(2));
  EXPECT_FALSE(q.try_push(3));
  EXPECT_EQ(q.dropped(), 1u);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(*q.pop(), 1);
  EXPECT_TRUE(q.try_push(4));
  EXPECT_EQ(*q.pop(), 2);
  EXPECT_EQ(*q.pop(), 4);
}

TEST(BoundedQueue, PopReturnsNulloptOnceClosedAndDrained) {
  BoundedQueue<int> q(4);
  ASSERT_TRUE(q.try_push(7));
  q.close();
  EXPECT_FALSE(q.try_push(8));
  EXPECT_EQ(*q.pop(), 7);
  EXPECT_FALSE(q.pop().has_value());
}

TEST(BoundedQueue, PopForGivesUpAfterItsTimeAndTellsATimeoutFromTheEnd) {
  BoundedQueue<int> q(4);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(q.pop_for(std::chrono::milliseconds(30)).has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(30));
  EXPECT_FALSE(q.done());  // nothing came in time; the queue is still open
  // An item pushed while it waits is taken at once.
  std::jthread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(q.try_push(5));
  });
  EXPECT_EQ(q.pop_for(std::chrono::seconds(30)), std::optional<int>(5));
  producer.join();
  ASSERT_TRUE(q.try_push(6));
  q.close();
  EXPECT_FALSE(q.done());  // closed, but 6 is still there
  EXPECT_EQ(q.pop_for(std::chrono::seconds(30)), std::optional<int>(6));
  EXPECT_TRUE(q.done());
  EXPECT_FALSE(q.pop_for(std::chrono::seconds(30)).has_value());  // closed: no wait
}

TEST(BoundedQueue, BlockingPushWaitsForRoomAndLosesNothing) {
  BoundedQueue<int> q(3);
  constexpr int kItems = 10000;
  std::jthread producer([&] {
    for (int i = 0; i < kItems; ++i) ASSERT_TRUE(q.push(i));
    q.close();
  });
  long long sum = 0;
  int count = 0;
  while (auto v = q.pop()) {
    sum += *v;
    ++count;
  }
  EXPECT_EQ(count, kItems);
  EXPECT_EQ(sum, static_cast<long long>(kItems) * (kItems - 1) / 2);
  EXPECT_EQ(q.dropped(), 0u);
}

TEST(BoundedQueue, PushWithinWaitsBelowItsLimitAndLeavesTheRestForTryPush) {
  BoundedQueue<int> q(4);
  ASSERT_TRUE(q.push_within(1, 2));
  ASSERT_TRUE(q.push_within(2, 2));
  std::atomic<bool> pushed{false};
  std::jthread producer([&] {
    EXPECT_TRUE(q.push_within(3, 2));
    pushed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(pushed) << "two items wait: at the limit";
  EXPECT_TRUE(q.try_push(9)) << "the room above the limit is left to try_push";
  EXPECT_EQ(*q.pop(), 1);
  EXPECT_FALSE(pushed) << "two still wait (2 and 9)";
  EXPECT_EQ(*q.pop(), 2);
  producer.join();
  EXPECT_TRUE(pushed);
  EXPECT_EQ(*q.pop(), 9);
  EXPECT_EQ(*q.pop(), 3);
  EXPECT_EQ(q.dropped(), 0u);
}

TEST(BoundedQueue, PushWithinGivesUpWhenClosed) {
  BoundedQueue<int> q(2);
  ASSERT_TRUE(q.push_within(1, 1));
  std::jthread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    q.close();
  });
  EXPECT_FALSE(q.push_within(2, 1));
}

TEST(BoundedQueue, PushAllAndPopAllMoveEveryItemInOrderAndWaitForRoom) {
  BoundedQueue<int> q(4);
  std::vector<int> parcel{1, 2, 3, 4, 5, 6};
  // Room for one more: the whole parcel goes in at once (past the capacity by up to its size).
  ASSERT_TRUE(q.push_all(parcel));
  EXPECT_TRUE(parcel.empty());
  EXPECT_EQ(q.size(), 6u);
  EXPECT_EQ(q.pushed(), 6u);
  // Full: the next parcel waits until the consumer has taken what waits.
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    std::vector<int> next{7, 8};
    EXPECT_TRUE(q.push_all(next));
    pushed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(pushed.load());
  std::vector<int> taken;
  ASSERT_TRUE(q.pop_all(taken));
  producer.join();
  EXPECT_TRUE(pushed.load());
  ASSERT_TRUE(q.pop_all(taken));
  EXPECT_EQ(taken, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
  // Closed and drained: pop_all says so; a closed queue takes no parcel and leaves it whole.
  q.close();
  EXPECT_FALSE(q.pop_all(taken));
  std::vector<int> late{9};
  EXPECT_FALSE(q.push_all(late));
  EXPECT_EQ(late, std::vector<int>{9});
  std::vector<int> none;
  EXPECT_TRUE(BoundedQueue<int>(1).push_all(none));
}

TEST(BoundedQueue, PopWakesUpWhenStopRequested) {
  BoundedQueue<int> q(1);
  std::stop_source stop;
  std::jthread consumer([&] { EXPECT_FALSE(q.pop(stop.get_token()).has_value()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop.request_stop();
}

}  // namespace
}  // namespace netsentry::core
