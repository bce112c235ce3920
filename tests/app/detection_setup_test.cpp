#include "app/detection_setup.h"

#include <gtest/gtest.h>

namespace netsentry::app {
namespace {

// A replayed file must lose no row: its store waits for room (a rule-only replay once dropped
// flow rows in about half the runs); live capture keeps a store that drops and counts.
TEST(OutputSettings, AReplayedFileGetsALosslessStoreAndLiveCaptureDoesNot) {
  MonitorOptions replay;
  replay.pcap = "flood.pcap";
  EXPECT_TRUE(output_settings(replay).lossless);
  MonitorOptions live;
  live.interface = "eth0";
  EXPECT_FALSE(output_settings(live).lossless);
}

}  // namespace
}  // namespace netsentry::app
