// Provides parse_net_dev: turns the text of /proc/net/dev into per-interface counters. A pure
// function on text so it is tested on fixtures; malformed lines are counted and skipped, never
// thrown, because the monitor must keep running on whatever a kernel prints.
// Thread rules: free functions and plain values; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace netsentry::host {

// Cumulative counters since the interface came up, as the kernel reports them.
struct InterfaceCounters {
  std::string name;
  std::uint64_t rx_bytes = 0;
  std::uint64_t rx_packets = 0;
  std::uint64_t rx_errs = 0;
  std::uint64_t rx_drop = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t tx_packets = 0;
  std::uint64_t tx_errs = 0;
  std::uint64_t tx_drop = 0;
};

struct NetDevTable {
  std::vector<InterfaceCounters> interfaces;  // in file order
  std::size_t malformed_lines = 0;
};

// Parses the whole file text including its two header lines.
[[nodiscard]] NetDevTable parse_net_dev(std::string_view text);

}  // namespace netsentry::host
