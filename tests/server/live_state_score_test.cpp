// Proposed for tests/server/live_state_test.cpp (owned elsewhere): LiveState::add_score merges
// repeated reports of one second.
#include <gtest/gtest.h>

#include "server/live_state.h"

namespace netsentry::server {
namespace {

TEST(LiveState, KeepsOneScorePointPerSecondWithItsPeakAndOneEvent) {
  LiveState live;
  live.add_score({1000, 0.2F, 0.5F, 0});
  live.add_score({1000, 0.7F, 0.5F, 0});
  live.add_score({1000, 0.4F, 0.5F, 0});
  live.add_score({2000, 0.1F, 0.5F, 0});
  const auto points = live.timeline(0, 100);
  ASSERT_EQ(points.size(), 2U);
  EXPECT_EQ(points[0].time_ms, 1000);
  EXPECT_FLOAT_EQ(points[0].score, 0.7F);
  const EventBatch batch = live.events_since(0, 100);
  ASSERT_EQ(batch.events.size(), 2U);  // one per second
  EXPECT_EQ(batch.events[0].type, "score");
}

TEST(LiveState, PublishesAnAlertMarkerAddedToAnAlreadyReportedSecond) {
  LiveState live;
  live.add_score({1000, 0.9F, 0.5F, 0});
  live.add_score({1000, 0.9F, 0.5F, 17});
  EXPECT_EQ(live.timeline(0, 100).at(0).alert_id, 17);
  EXPECT_EQ(live.events_since(0, 100).events.size(), 2U);
}

}  // namespace
}  // namespace netsentry::server
