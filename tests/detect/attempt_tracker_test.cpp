#include "detect/attempt_tracker.h"

#include <gtest/gtest.h>

#include <vector>

#include "detect/detect_test_support.h"

namespace netsentry::detect {
namespace {

using namespace testing;  // NOLINT
using flow::FlowMoment;

constexpr std::uint8_t kSynAck = kSyn | kAck;
constexpr std::uint8_t kRstAck = kRst | kAck;

class AttemptTrackerTest : public ::testing::Test {
 protected:
  void start(std::uint16_t sport, std::uint16_t dport, std::int64_t t, std::uint8_t proto = 6,
             std::uint8_t flags = kSyn) {
    tracker_.on_flow_event(event(FlowMoment::kStart, a_, sport, b_, dport, proto, t, t, flags),
                           out_);
  }
  void reply(std::uint16_t sport, std::uint16_t dport, std::int64_t start, std::int64_t t,
             std::uint8_t flags, std::uint8_t proto = 6) {
    tracker_.on_flow_event(event(FlowMoment::kReply, a_, sport, b_, dport, proto, start, t, flags),
                           out_);
  }
  void confirm(std::uint16_t sport, std::uint16_t dport, std::int64_t start, std::int64_t t,
               std::uint8_t flags) {
    tracker_.on_flow_event(event(FlowMoment::kConfirm, a_, sport, b_, dport, 6, start, t, flags),
                           out_);
  }

  net::IpAddress a_ = ip("10.0.0.66");
  net::IpAddress b_ = ip("10.0.0.5");
  AttemptTracker tracker_;
  std::vector<Attempt> out_;
};

TEST_F(AttemptTrackerTest, ARefusedSynIsAProbeAtOnce) {
  start(40000, 22, kT0);
  reply(40000, 22, kT0, kT0 + kMs, kRstAck);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].outcome, AttemptOutcome::kRefused);
  EXPECT_TRUE(out_[0].probe());
  EXPECT_EQ(out_[0].time_ns, kT0 + kMs);
  EXPECT_EQ(out_[0].start_ns, kT0);
  EXPECT_EQ(out_[0].dst_port, 22);
}

TEST_F(AttemptTrackerTest, AHandshakeIsCompletedAndNoProbe) {
  start(40000, 80, kT0);
  reply(40000, 80, kT0, kT0 + kMs, kSynAck);
  EXPECT_TRUE(out_.empty());
  confirm(40000, 80, kT0, kT0 + 2 * kMs, kAck);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].outcome, AttemptOutcome::kCompleted);
  EXPECT_FALSE(out_[0].probe());
  tracker_.advance(kT0 + 10 * kSec, out_);
  EXPECT_EQ(out_.size(), 1u);
}

TEST_F(AttemptTrackerTest, SilenceAfterASecondIsUnansweredOrHalfOpen) {
  start(40000, 80, kT0);        // nothing comes back
  start(40001, 80, kT0 + kMs);  // SYN-ACK, never completed
  reply(40001, 80, kT0 + kMs, kT0 + 2 * kMs, kSynAck);
  start(40002, 53, kT0 + kMs, 17, 0);  // a datagram without answer
  start(40003, 53, kT0 + kMs, 17, 0);  // an answered one
  reply(40003, 53, kT0 + kMs, kT0 + 3 * kMs, 0, 17);
  tracker_.advance(kT0 + 500 * kMs, out_);
  EXPECT_TRUE(out_.empty());
  tracker_.advance(kT0 + 1002 * kMs, out_);
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_EQ(out_[0].outcome, AttemptOutcome::kUnanswered);
  EXPECT_EQ(out_[0].src_port, 40000);
  EXPECT_EQ(out_[0].time_ns, kT0 + kSec);  // judged at its deadline
  EXPECT_EQ(out_[1].outcome, AttemptOutcome::kHalfOpen);
  EXPECT_EQ(out_[2].outcome, AttemptOutcome::kUnanswered);
  EXPECT_EQ(out_[2].ip_proto, 17);
  EXPECT_EQ(tracker_.stats().pending, 0u);
}

TEST_F(AttemptTrackerTest, AScannersResetAfterSynAckIsAProbe) {
  start(40000, 443, kT0);
  reply(40000, 443, kT0, kT0 + kMs, kSynAck);
  confirm(40000, 443, kT0, kT0 + 2 * kMs, kRst);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].outcome, AttemptOutcome::kReset);
}

TEST_F(AttemptTrackerTest, AFlowEndingBeforeItsDeadlineIsJudgedFromItsRecord) {
  start(40000, 80, kT0);
  tracker_.on_flow_finished(half_open(a_, 40000, b_, 80, kT0), out_);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].outcome, AttemptOutcome::kHalfOpen);
  tracker_.advance(kT0 + 5 * kSec, out_);
  EXPECT_EQ(out_.size(), 1u);  // not judged twice
}

TEST_F(AttemptTrackerTest, AConnectScansEmptyResetIsToldAgainAsARepeatProbe) {
  start(40000, 22, kT0);
  reply(40000, 22, kT0, kT0 + kMs, kSynAck);
  confirm(40000, 22, kT0, kT0 + 2 * kMs, kAck);
  auto record = flow_of(a_, 40000, b_, 22, 6, kT0, 3 * kMs,
                        {{+1, kSyn}, {-1, kSynAck}, {+1, kAck}, {+1, kRstAck}});
  tracker_.on_flow_finished(record, out_);
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_EQ(out_[1].outcome, AttemptOutcome::kReset);
  EXPECT_TRUE(out_[1].repeat);
}

TEST(AttemptTracker, WithoutEventsEveryFinishedFlowIsJudgedFromItsRecord) {
  AttemptTracker tracker;
  std::vector<Attempt> out;
  const auto a = ip("10.0.0.66");
  const auto b = ip("10.0.0.5");
  tracker.on_flow_finished(syn_probe(a, b, 22, kT0), out);
  tracker.on_flow_finished(session(a, 1, b, 80, kT0), out);
  tracker.on_flow_finished(udp_flow(a, 2, b, 161, kT0, kMs, 1), out);
  tracker.on_flow_finished(udp_flow(a, 3, b, 53, kT0, kMs, 1, /*reply=*/true), out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].outcome, AttemptOutcome::kRefused);
  EXPECT_EQ(out[1].outcome, AttemptOutcome::kCompleted);
  EXPECT_EQ(out[2].outcome, AttemptOutcome::kUnanswered);
}

TEST(AttemptTracker, StaysBoundedUnderAFloodJudgingTheOldestEarly) {
  AttemptTrackerOptions options;
  options.max_pending = 1000;
  AttemptTracker tracker(options);
  std::vector<Attempt> out;
  for (std::uint32_t i = 0; i < 100'000; ++i) {
    const auto src = ipv4(static_cast<std::uint8_t>(1 + (i >> 16)),
                          static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i), 1);
    tracker.on_flow_event(event(flow::FlowMoment::kStart, src, 1024, ip("10.0.0.5"), 80, 6,
                                kT0 + i * 1000, kT0 + i * 1000, kSyn),
                          out);
  }
  EXPECT_LE(tracker.stats().pending, 1000u);
  EXPECT_EQ(tracker.stats().judged_early, 99'000u);
  EXPECT_EQ(out.size(), 99'000u);
  EXPECT_EQ(out.front().outcome, AttemptOutcome::kUnanswered);
}

// The ring starts small and grows: every waiting attempt is still found after it grew (replies
// resolve them), and past max_pending the oldest are judged early, as with a full-size ring.
TEST(AttemptTracker, GrowsUpToItsBoundAndStillFindsEveryWaitingAttempt) {
  AttemptTrackerOptions options;
  options.max_pending = 5000;  // several doublings past the first ring
  AttemptTracker tracker(options);
  std::vector<Attempt> out;
  auto src_of = [](std::uint32_t i) {
    return ipv4(10, 1, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i));
  };
  auto at = [](std::uint32_t i) { return kT0 + static_cast<std::int64_t>(i) * 1000; };
  for (std::uint32_t i = 0; i < 6000; ++i) {
    tracker.on_flow_event(
        event(flow::FlowMoment::kStart, src_of(i), 1024, ip("10.0.0.5"), 80, 6, at(i), at(i), kSyn),
        out);
  }
  EXPECT_EQ(tracker.stats().pending, 5000u);
  EXPECT_EQ(tracker.stats().judged_early, 1000u);
  ASSERT_EQ(out.size(), 1000u);
  for (std::uint32_t i = 0; i < 1000; ++i) {
    ASSERT_EQ(out[i].src, src_of(i)) << "the oldest are judged early, oldest first";
    ASSERT_EQ(out[i].outcome, AttemptOutcome::kUnanswered);
  }
  out.clear();
  for (std::uint32_t i = 6000; i-- > 1000;) {
    tracker.on_flow_event(event(flow::FlowMoment::kReply, src_of(i), 1024, ip("10.0.0.5"), 80, 6,
                                at(i), at(i) + kMs, kRst | kAck),
                          out);
    ASSERT_EQ(out.size(), 6000u - i) << "attempt " << i << " was not found";
    ASSERT_EQ(out.back().outcome, AttemptOutcome::kRefused);
    ASSERT_EQ(out.back().src, src_of(i));
  }
  EXPECT_EQ(tracker.stats().pending, 0u);
}

}  // namespace
}  // namespace netsentry::detect
