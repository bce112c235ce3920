#include "host/net_dev.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "host/proc_file.h"

namespace netsentry::host {
namespace {

// Layout copied from a Debian 12 kernel; eth0's receive bytes touch the colon as they do once the
// count needs more than 8 digits.
constexpr std::string_view kNetDev =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop "
    "fifo colls carrier compressed\n"
    "    lo:    3267      29    0    0    0     0          0         0     3267      29    0    0 "
    "   0     0       0          0\n"
    "  eth0:196030333    4824    1    2    0     0          0         0   169137    2390    3    "
    "4    0     0       0          0\n"
    "wlp3s0: 18446744073709551615 7 0 0 0 0 0 0 5 6 0 0 0 0 0 0\n";

TEST(NetDev, ParsesEveryInterfaceInFileOrder) {
  const NetDevTable table = parse_net_dev(kNetDev);
  ASSERT_EQ(table.interfaces.size(), 3u);
  EXPECT_EQ(table.malformed_lines, 0u);
  EXPECT_EQ(table.interfaces[0].name, "lo");
  EXPECT_EQ(table.interfaces[1].name, "eth0");
  EXPECT_EQ(table.interfaces[2].name, "wlp3s0");
}

TEST(NetDev, MapsReceiveAndTransmitColumns) {
  const InterfaceCounters eth0 = parse_net_dev(kNetDev).interfaces[1];
  EXPECT_EQ(eth0.rx_bytes, 196030333u);
  EXPECT_EQ(eth0.rx_packets, 4824u);
  EXPECT_EQ(eth0.rx_errs, 1u);
  EXPECT_EQ(eth0.rx_drop, 2u);
  EXPECT_EQ(eth0.tx_bytes, 169137u);
  EXPECT_EQ(eth0.tx_packets, 2390u);
  EXPECT_EQ(eth0.tx_errs, 3u);
  EXPECT_EQ(eth0.tx_drop, 4u);
}

TEST(NetDev, ReadsFullSixtyFourBitCounters) {
  const InterfaceCounters wifi = parse_net_dev(kNetDev).interfaces[2];
  EXPECT_EQ(wifi.rx_bytes, 18446744073709551615u);
  EXPECT_EQ(wifi.tx_bytes, 5u);
  EXPECT_EQ(wifi.tx_packets, 6u);
}

TEST(NetDev, CountsAndSkipsMalformedLines) {
  const std::string text = std::string(kNetDev) +
                           "  bad0: 1 2 3\n"                                   // too few columns
                           "  bad1: 1 2 x 4 5 6 7 8 9 10 11 12 13 14 15 16\n"  // not a number
                           "no colon here 1 2 3\n"
                           "\n"
                           "   ok0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\r\n";
  const NetDevTable table = parse_net_dev(text);
  EXPECT_EQ(table.malformed_lines, 3u);
  ASSERT_EQ(table.interfaces.size(), 4u);
  EXPECT_EQ(table.interfaces[3].name, "ok0");
  EXPECT_EQ(table.interfaces[3].tx_drop, 12u);
}

TEST(NetDev, EmptyTextGivesNoInterfaces) {
  const NetDevTable table = parse_net_dev("");
  EXPECT_TRUE(table.interfaces.empty());
  EXPECT_EQ(table.malformed_lines, 0u);
}

TEST(NetDev, ParsesThisMachinesProcNetDevWhichHasLoopback) {
  std::string text;
  ASSERT_FALSE(read_proc_file("/proc/net/dev", text));
  const NetDevTable table = parse_net_dev(text);
  EXPECT_EQ(table.malformed_lines, 0u);
  const auto lo = std::find_if(table.interfaces.begin(), table.interfaces.end(),
                               [](const InterfaceCounters& c) { return c.name == "lo"; });
  EXPECT_NE(lo, table.interfaces.end());
  // Every line after the two headers is an interface.
  EXPECT_EQ(table.interfaces.size() + 2,
            static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')));
}

}  // namespace
}  // namespace netsentry::host
