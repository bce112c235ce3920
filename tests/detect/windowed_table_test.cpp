#include "detect/windowed_table.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

namespace netsentry::detect {
namespace {

TEST(DistinctCounter, CountsExactlyUpToTheLimitWithoutABitmap) {
  SketchBudget budget{.limit = 1};
  DistinctCounter counter;
  for (std::uint32_t v : {5u, 7u, 5u, 9u, 7u}) counter.add(v, true, 10, budget);
  EXPECT_EQ(counter.count(true), 3u);
  EXPECT_EQ(budget.in_use, 0u);
}

TEST(DistinctCounter, SwitchesToAnExactBitmapForPorts) {
  SketchBudget budget{.limit = 1};
  {
    DistinctCounter counter;
    for (std::uint32_t port = 0; port < 65'536; ++port) counter.add(port, true, 100, budget);
    counter.add(80, true, 100, budget);
    EXPECT_EQ(counter.count(true), 65'536u);
    EXPECT_EQ(budget.in_use, 1u);
  }
  EXPECT_EQ(budget.in_use, 0u);  // released with the counter
}

TEST(DistinctCounter, EstimatesHashedValuesWithinTwoPercent) {
  SketchBudget budget{.limit = 1};
  DistinctCounter counter;
  for (std::uint32_t i = 0; i < 20'000; ++i) {
    const auto h =
        static_cast<std::uint32_t>(std::hash<std::uint64_t>{}(i * 0x9e3779b97f4a7c15ULL));
    counter.add(h, false, 64, budget);
  }
  EXPECT_NEAR(static_cast<double>(counter.count(false)), 20'000, 400);
}

TEST(DistinctCounter, SaturatesWhenTheBudgetIsSpent) {
  SketchBudget budget{.limit = 1};
  DistinctCounter first;
  DistinctCounter second;
  for (std::uint32_t v = 0; v < 50; ++v) {
    first.add(v, true, 10, budget);
    second.add(v, true, 10, budget);
  }
  EXPECT_EQ(first.count(true), 50u);
  EXPECT_FALSE(first.saturated());
  EXPECT_EQ(second.count(true), 10u);
  EXPECT_TRUE(second.saturated());
  EXPECT_EQ(budget.refused, 1u);
  second = std::move(first);  // the moved-from bitmap keeps its single budget slot
  EXPECT_EQ(budget.in_use, 1u);
  EXPECT_EQ(second.count(true), 50u);
}

struct Counter {
  int events = 0;
};
struct IntHash {
  std::size_t operator()(int v) const { return std::hash<int>{}(v); }
};

TEST(WindowedTable, RestartsAKeysWindowAfterItEnds) {
  WindowedTable<int, Counter, IntHash> table(10, 100);
  std::vector<int> closed;
  const auto close = [&](const auto& entry) { closed.push_back(entry.state.events); };
  ++table.touch(1, 0, close).state.events;
  ++table.touch(1, 9, close).state.events;
  EXPECT_TRUE(closed.empty());
  auto& entry = table.touch(1, 10, close);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0], 2);
  EXPECT_EQ(entry.state.events, 0);
  EXPECT_EQ(entry.window_start, 10);
}

TEST(WindowedTable, EvictsTheLeastRecentlyUsedKeyWhenFull) {
  WindowedTable<int, Counter, IntHash> table(1000, 2);
  std::vector<int> closed_keys;
  const auto close = [&](const auto& entry) { closed_keys.push_back(entry.key); };
  table.touch(1, 0, close);
  table.touch(2, 1, close);
  table.touch(1, 2, close);  // 2 is now the least recently used
  table.touch(3, 3, close);
  ASSERT_EQ(closed_keys.size(), 1u);
  EXPECT_EQ(closed_keys[0], 2);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.evictions(), 1u);
}

TEST(WindowedTable, ExpiresOnlyWindowsThatEnded) {
  WindowedTable<int, Counter, IntHash> table(10, 100);
  std::vector<int> closed_keys;
  const auto close = [&](const auto& entry) { closed_keys.push_back(entry.key); };
  table.touch(1, 0, close);
  table.touch(2, 5, close);
  table.expire(9, close);
  EXPECT_TRUE(closed_keys.empty());
  table.expire(10, close);
  EXPECT_EQ(closed_keys, std::vector<int>{1});
  table.expire(15, close);
  EXPECT_EQ(closed_keys, (std::vector<int>{1, 2}));
  EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace netsentry::detect
