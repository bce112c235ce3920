#include "core/signals.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace netsentry::core {
namespace {

bool wait_for(const std::stop_token& token) {
  for (int i = 0; i < 200 && !token.stop_requested(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return token.stop_requested();
}

TEST(StopSignals, SigtermRequestsStopAndRunsTheCallback) {
  std::atomic<int> calls{0};
  StopSignals signals([&] { ++calls; });
  EXPECT_FALSE(signals.token().stop_requested());
  ASSERT_EQ(::raise(SIGTERM), 0);
  EXPECT_TRUE(wait_for(signals.token()));
  EXPECT_EQ(signals.received(), SIGTERM);
  EXPECT_EQ(calls.load(), 1);
}

TEST(StopSignals, SignalFromAnotherThreadIsHandledNotFatal) {
  StopSignals signals;
  std::thread([] { ::raise(SIGINT); }).join();
  EXPECT_TRUE(wait_for(signals.token()));
  EXPECT_EQ(signals.received(), SIGINT);
}

TEST(StopSignals, SighupIsACleanStopNotAnExit) {
  StopSignals signals;
  ASSERT_EQ(::raise(SIGHUP), 0);
  EXPECT_TRUE(wait_for(signals.token()));
  EXPECT_EQ(signals.received(), SIGHUP);
}

TEST(StopSignals, TheSameSignalTwiceAtOnceIsOneStopNotAnExit) {
  // `timeout -s INT` signals the command, then its process group: the command gets it twice. A
  // second signal meaning "quit now" would end this test binary here (status 130).
  StopSignals signals;
  ASSERT_EQ(::raise(SIGINT), 0);
  ASSERT_TRUE(wait_for(signals.token()));
  ASSERT_EQ(::raise(SIGINT), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the waiter has read it
  EXPECT_EQ(signals.received(), SIGINT);
}

}  // namespace
}  // namespace netsentry::core
