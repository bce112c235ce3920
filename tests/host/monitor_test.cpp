#include "host/monitor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "core/error.h"
#include "host/fake_proc.h"

namespace netsentry::host {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::system_clock;

const Clock::time_point kT0 = Clock::time_point(std::chrono::seconds(1'700'000'000));

InterfaceCounters counters(std::string name, std::uint64_t rx_bytes, std::uint64_t tx_bytes,
                           std::uint64_t rx_packets = 0, std::uint64_t tx_packets = 0) {
  InterfaceCounters c;
  c.name = std::move(name);
  c.rx_bytes = rx_bytes;
  c.tx_bytes = tx_bytes;
  c.rx_packets = rx_packets;
  c.tx_packets = tx_packets;
  return c;
}

MonitorOptions options_for(const testing::FakeProc& proc) {
  MonitorOptions options;
  options.proc_root = proc.root();
  return options;
}

NetDevTable table(std::initializer_list<InterfaceCounters> interfaces) {
  NetDevTable result;
  result.interfaces = interfaces;
  return result;
}

TEST(Monitor, FirstCallOnlyRecordsABaseline) {
  Monitor monitor;
  EXPECT_FALSE(monitor.update(table({counters("eth0", 100, 50)}), kT0).has_value());
}

TEST(Monitor, ReportsPerSecondDeltasPerInterfaceAndInTotal) {
  Monitor monitor;
  (void)monitor.update(table({counters("lo", 0, 0), counters("eth0", 1000, 500, 10, 5)}), kT0);
  const auto sample =
      monitor.update(table({counters("lo", 300, 300), counters("eth0", 3000, 900, 30, 9)}),
                     kT0 + milliseconds(1000));
  ASSERT_TRUE(sample.has_value());
  EXPECT_EQ(sample->timestamp, kT0 + milliseconds(1000));
  EXPECT_DOUBLE_EQ(sample->interval_seconds, 1.0);
  ASSERT_EQ(sample->interfaces.size(), 2u);
  const InterfaceRates& eth0 = sample->interfaces[1];
  EXPECT_EQ(eth0.name, "eth0");
  EXPECT_DOUBLE_EQ(eth0.bytes_recv, 2000);
  EXPECT_DOUBLE_EQ(eth0.bytes_sent, 400);
  EXPECT_DOUBLE_EQ(eth0.packets_recv, 20);
  EXPECT_DOUBLE_EQ(eth0.packets_sent, 4);
  EXPECT_DOUBLE_EQ(eth0.total_bytes(), 2400);
  // Loopback counts in the total, as in psutil's totals.
  EXPECT_DOUBLE_EQ(sample->total.bytes_recv, 2300);
  EXPECT_DOUBLE_EQ(sample->total.bytes_sent, 700);
  EXPECT_DOUBLE_EQ(sample->total.total_bytes(), 3000);
}

TEST(Monitor, ScalesDeltasByTheRealElapsedTime) {
  Monitor monitor;
  (void)monitor.update(table({counters("eth0", 0, 0)}), kT0);
  const auto sample =
      monitor.update(table({counters("eth0", 5000, 1000)}), kT0 + milliseconds(2500));
  ASSERT_TRUE(sample.has_value());
  EXPECT_DOUBLE_EQ(sample->interval_seconds, 2.5);
  EXPECT_DOUBLE_EQ(sample->total.bytes_recv, 2000);
  EXPECT_DOUBLE_EQ(sample->total.bytes_sent, 400);
}

TEST(Monitor, TreatsACounterDecreaseAsAResetNotANegativeDelta) {
  Monitor monitor;
  (void)monitor.update(table({counters("eth0", 4'000'000'000, 900)}), kT0);
  const auto sample =
      monitor.update(table({counters("eth0", 700, 1000)}), kT0 + milliseconds(1000));
  ASSERT_TRUE(sample.has_value());
  EXPECT_DOUBLE_EQ(sample->total.bytes_recv, 700);
  EXPECT_DOUBLE_EQ(sample->total.bytes_sent, 100);
  EXPECT_EQ(monitor.counter_resets(), 1u);
}

TEST(Monitor, TreatsA32BitWrapAsAReset) {
  Monitor monitor;
  (void)monitor.update(table({counters("eth0", 0xFFFFFF00u, 0)}), kT0);
  const auto sample = monitor.update(table({counters("eth0", 0x10, 0)}), kT0 + milliseconds(1000));
  ASSERT_TRUE(sample.has_value());
  EXPECT_GE(sample->total.bytes_recv, 0);
  EXPECT_LT(sample->total.bytes_recv, 1e6);
}

TEST(Monitor, FiltersInterfacesOutOfRatesAndTotal) {
  MonitorOptions options;
  options.interfaces = {"eth0"};
  Monitor monitor(options);
  (void)monitor.update(table({counters("lo", 0, 0), counters("eth0", 0, 0)}), kT0);
  const auto sample = monitor.update(table({counters("lo", 999, 999), counters("eth0", 10, 20)}),
                                     kT0 + milliseconds(1000));
  ASSERT_TRUE(sample.has_value());
  ASSERT_EQ(sample->interfaces.size(), 1u);
  EXPECT_EQ(sample->interfaces[0].name, "eth0");
  EXPECT_DOUBLE_EQ(sample->total.total_bytes(), 30);
}

TEST(Monitor, NewInterfaceJoinsFromTheNextSample) {
  Monitor monitor;
  (void)monitor.update(table({counters("eth0", 0, 0)}), kT0);
  const auto first = monitor.update(table({counters("eth0", 10, 0), counters("tun0", 5000, 5000)}),
                                    kT0 + milliseconds(1000));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->interfaces.size(), 1u);
  EXPECT_DOUBLE_EQ(first->total.bytes_recv, 10);
  const auto second = monitor.update(table({counters("eth0", 10, 0), counters("tun0", 5100, 5000)}),
                                     kT0 + milliseconds(2000));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->interfaces.size(), 2u);
  EXPECT_DOUBLE_EQ(second->total.bytes_recv, 100);
}

TEST(Monitor, RebaselinesWhenTheClockDoesNotAdvance) {
  Monitor monitor;
  (void)monitor.update(table({counters("eth0", 0, 0)}), kT0);
  EXPECT_FALSE(monitor.update(table({counters("eth0", 10, 0)}), kT0).has_value());
  EXPECT_FALSE(
      monitor.update(table({counters("eth0", 20, 0)}), kT0 - milliseconds(500)).has_value());
  const auto sample = monitor.update(table({counters("eth0", 120, 0)}), kT0 + milliseconds(500));
  ASSERT_TRUE(sample.has_value());
  EXPECT_DOUBLE_EQ(sample->total.bytes_recv, 100);
}

TEST(Monitor, SamplesAProcNetDevFile) {
  testing::FakeProc proc;
  const std::string header =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
      "drop fifo colls carrier compressed\n";
  proc.write("net/dev", header + "  eth0: 100 1 0 0 0 0 0 0 200 2 0 0 0 0 0 0\n");
  Monitor monitor(options_for(proc));
  EXPECT_FALSE(monitor.sample(kT0).has_value());
  proc.write("net/dev", header + "  eth0: 1100 11 1 2 0 0 0 0 700 7 3 4 0 0 0 0\n");
  const auto sample = monitor.sample(kT0 + milliseconds(1000));
  ASSERT_TRUE(sample.has_value());
  EXPECT_DOUBLE_EQ(sample->total.bytes_recv, 1000);
  EXPECT_DOUBLE_EQ(sample->total.bytes_sent, 500);
  EXPECT_DOUBLE_EQ(sample->total.packets_recv, 10);
  EXPECT_DOUBLE_EQ(sample->total.packets_sent, 5);
  EXPECT_DOUBLE_EQ(sample->total.errin, 1);
  EXPECT_DOUBLE_EQ(sample->total.dropin, 2);
  EXPECT_DOUBLE_EQ(sample->total.errout, 3);
  EXPECT_DOUBLE_EQ(sample->total.dropout, 4);
}

TEST(Monitor, ThrowsNamingTheFileWhenCountersAreMissing) {
  testing::FakeProc proc;
  Monitor monitor(options_for(proc));
  try {
    (void)monitor.sample(kT0);
    FAIL() << "expected core::Error";
  } catch (const core::Error& error) {
    EXPECT_NE(std::string(error.what()).find("net/dev"), std::string::npos) << error.what();
  }
}

TEST(Monitor, SamplesThisMachineIncludingLoopback) {
  Monitor monitor;
  const auto start = Clock::now();
  EXPECT_FALSE(monitor.sample(start).has_value());
  const auto sample = monitor.sample(start + milliseconds(100));
  ASSERT_TRUE(sample.has_value());
  bool has_lo = false;
  for (const InterfaceRates& rates : sample->interfaces) has_lo |= rates.name == "lo";
  EXPECT_TRUE(has_lo);
  EXPECT_GE(sample->total.total_bytes(), 0);
}

}  // namespace
}  // namespace netsentry::host
