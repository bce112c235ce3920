#include "bus/spool.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace netsentry::bus {
namespace {

namespace fs = std::filesystem;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ns-spool-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static SpoolRecord record(int i, std::size_t payload = 100) {
    return {"netsentry.s1.flows", "s1-1-" + std::to_string(i), 0,
            std::string(payload, static_cast<char>('a' + i % 26))};
  }
  // Everything the spool holds, in order, committing as it goes.
  static std::vector<SpoolRecord> drain(Spool& spool, std::size_t batch = 7) {
    std::vector<SpoolRecord> out;
    for (;;) {
      Spool::Batch b = spool.peek(batch, 1 << 20);
      if (b.records.empty()) break;
      for (auto& r : b.records) out.push_back(r);
      spool.commit(b);
    }
    return out;
  }

  fs::path dir_;
};

TEST_F(SpoolTest, ReturnsRecordsInOrderAndForgetsCommittedOnes) {
  Spool spool({dir_, 1 << 20, 4096});
  std::vector<SpoolRecord> in;
  for (int i = 0; i < 200; ++i) in.push_back(record(i));
  spool.append(in);
  EXPECT_EQ(spool.stats().messages, 200u);
  EXPECT_EQ(drain(spool), in);
  EXPECT_TRUE(spool.empty());
  EXPECT_EQ(spool.stats().committed, 200u);
  EXPECT_EQ(spool.stats().bytes, 0u);
  // Only the segment being written is left on disk.
  std::size_t segments = 0;
  for (const auto& e : fs::directory_iterator(dir_)) segments += e.path().extension() == ".seg";
  EXPECT_EQ(segments, 1u);
}

TEST_F(SpoolTest, AnUncommittedPeekIsReturnedAgain) {
  Spool spool({dir_, 1 << 20, 4096});
  spool.append(std::vector<SpoolRecord>{record(1), record(2), record(3)});
  const Spool::Batch first = spool.peek(2, 1 << 20);
  ASSERT_EQ(first.records.size(), 2u);
  const Spool::Batch again = spool.peek(2, 1 << 20);  // the send failed: nothing committed
  EXPECT_EQ(again.records, first.records);
  spool.commit(again);
  const Spool::Batch rest = spool.peek(10, 1 << 20);
  ASSERT_EQ(rest.records.size(), 1u);
  EXPECT_EQ(rest.records[0], record(3));
}

TEST_F(SpoolTest, SurvivesAReopenWithUnsentRecordsInOrder) {
  std::vector<SpoolRecord> in;
  for (int i = 0; i < 100; ++i) in.push_back(record(i, 300));
  {
    Spool spool({dir_, 1 << 20, 4096});
    spool.append(in);
    Spool::Batch b = spool.peek(30, 1 << 20);
    spool.commit(b);  // 30 sent before the "crash"
  }
  Spool reopened({dir_, 1 << 20, 4096});
  EXPECT_EQ(reopened.stats().recovered, 70u);
  EXPECT_EQ(drain(reopened), std::vector<SpoolRecord>(in.begin() + 30, in.end()));
}

TEST_F(SpoolTest, CutsOffATornLastRecordAtOpen) {
  {
    Spool spool({dir_, 1 << 20, 1 << 16});
    spool.append(std::vector<SpoolRecord>{record(1), record(2), record(3)});
  }
  fs::path segment;
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (e.path().extension() == ".seg") segment = e.path();
  }
  ASSERT_FALSE(segment.empty());
  fs::resize_file(segment, fs::file_size(segment) - 10);  // a crash mid-write
  Spool reopened({dir_, 1 << 20, 1 << 16});
  EXPECT_GT(reopened.stats().damaged_bytes, 0u);
  EXPECT_EQ(drain(reopened), (std::vector<SpoolRecord>{record(1), record(2)}));
  // And it appends after the cut.
  reopened.append(std::vector<SpoolRecord>{record(4)});
  EXPECT_EQ(drain(reopened), std::vector<SpoolRecord>{record(4)});
}

TEST_F(SpoolTest, DropsAndCountsTheOldestPastItsCap) {
  const std::uint64_t cap = 64 * 1024;  // segments of cap/4
  Spool spool({dir_, cap, cap / 4});
  std::vector<SpoolRecord> in;
  for (int i = 0; i < 1000; ++i) in.push_back(record(i, 200));  // ~230 KB
  for (const auto& r : in) spool.append(std::span(&r, 1));
  const SpoolStats s = spool.stats();
  EXPECT_GT(s.dropped, 0u);
  EXPECT_LE(s.bytes, cap);
  EXPECT_EQ(s.dropped + s.messages, 1000u);
  // What is left is the newest part, in order and without gaps.
  const auto left = drain(spool);
  ASSERT_EQ(left.size(), s.messages);
  EXPECT_EQ(left.back(), in.back());
  EXPECT_EQ(left.front(), in[in.size() - left.size()]);
}

TEST_F(SpoolTest, ACommitAfterItsSegmentWasDroppedLosesNothingNewer) {
  const std::uint64_t cap = 64 * 1024;
  Spool spool({dir_, cap, cap / 4});
  for (int i = 0; i < 50; ++i) spool.append(std::vector<SpoolRecord>{record(i, 300)});
  const Spool::Batch sending = spool.peek(10, 1 << 20);
  // Meanwhile the broker is away and the spool overflows: the batch's segment goes.
  for (int i = 50; i < 400; ++i) spool.append(std::vector<SpoolRecord>{record(i, 300)});
  const SpoolStats before = spool.stats();
  ASSERT_GT(before.dropped, 0u);
  spool.commit(sending);
  const auto left = drain(spool);
  EXPECT_EQ(left.size(), before.messages);
  EXPECT_EQ(left.back(), record(399, 300));
}

TEST_F(SpoolTest, RandomAppendsAndCommitsKeepEveryRecordOnce) {
  std::mt19937 rng(7);
  Spool spool({dir_, 1 << 22, 8192});
  std::vector<SpoolRecord> sent;
  int next = 0;
  for (int round = 0; round < 300; ++round) {
    std::vector<SpoolRecord> in;
    for (int i = rng() % 20; i > 0; --i) in.push_back(record(next++, rng() % 500));
    spool.append(in);
    if (rng() % 2) {
      Spool::Batch b = spool.peek(rng() % 30 + 1, 1 << 20);
      for (auto& r : b.records) sent.push_back(r);
      spool.commit(b);
    }
  }
  for (auto& r : drain(spool)) sent.push_back(r);
  ASSERT_EQ(sent.size(), static_cast<std::size_t>(next));
  for (int i = 0; i < next; ++i) EXPECT_EQ(sent[i].id, "s1-1-" + std::to_string(i));
}

TEST_F(SpoolTest, ReadsALargeSegmentInWindowsWithRecordsLargerThanTheWindow) {
  // One 16 MB segment; peek reads only what a batch may take (its byte budget plus 64 KiB), and
  // a record larger than that is read whole.
  Spool spool({dir_, 1 << 26, 16 << 20});
  std::mt19937 rng(11);
  std::vector<SpoolRecord> in;
  for (int i = 0; i < 300; ++i) {
    const std::size_t size = i % 10 == 0 ? 100000 + rng() % 200000 : rng() % 3000;
    in.push_back(record(i, size));
  }
  spool.append(in);
  std::vector<SpoolRecord> out;
  for (std::uint64_t budget : {1000ull, 70000ull}) {
    for (int k = 0; k < 30; ++k) {
      Spool::Batch b = spool.peek(1000, budget);
      ASSERT_FALSE(b.records.empty());
      for (auto& r : b.records) out.push_back(r);
      spool.commit(b);
    }
  }
  for (auto& r : drain(spool, 1000)) out.push_back(r);
  EXPECT_EQ(out, in);
  EXPECT_TRUE(spool.empty());
}

}  // namespace
}  // namespace netsentry::bus
