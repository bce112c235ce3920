// Provides host::Monitor, the psutil.net_io_counters() loop of the original tool: called once a
// second, it reads <proc_root>/net/dev and returns per-second rates per interface and in total.
// The first call (and the first after the clock steps backwards) only records a baseline. A counter
// that decreases was reset (interface re-created, driver reload): its delta is the new value, never
// negative and never a 2^64 wrap. Deltas are divided by the real elapsed time, so a late tick does
// not inflate the rates. The total includes loopback, as psutil's totals do; interfaces filtered
// out are in neither.
// Thread rules: not thread-safe; one owner thread calls sample()/update().
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "host/net_dev.h"

namespace netsentry::host {

// Per-second rates over the last interval.
struct InterfaceRates {
  std::string name;  // "total" for the sum
  double bytes_sent = 0;
  double bytes_recv = 0;
  double packets_sent = 0;
  double packets_recv = 0;
  double errin = 0;
  double errout = 0;
  double dropin = 0;
  double dropout = 0;

  [[nodiscard]] double total_bytes() const { return bytes_sent + bytes_recv; }
};

struct TrafficSample {
  std::chrono::system_clock::time_point timestamp;
  double interval_seconds = 0;  // the real elapsed time the rates were divided by
  InterfaceRates total;
  std::vector<InterfaceRates> interfaces;  // in /proc/net/dev order
};

struct MonitorOptions {
  std::filesystem::path proc_root = "/proc";
  // Only these interfaces (exact names); empty means all.
  std::vector<std::string> interfaces;
};

class Monitor final {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  explicit Monitor(MonitorOptions options = {});

  // Reads the counters and returns the rates since the previous call; nullopt for a baseline.
  // Throws core::Error when <proc_root>/net/dev cannot be read.
  [[nodiscard]] std::optional<TrafficSample> sample(TimePoint now);

  // The same on counters already read (for tests and replays).
  [[nodiscard]] std::optional<TrafficSample> update(const NetDevTable& counters, TimePoint now);

  // Counter decreases seen so far (each treated as a reset).
  [[nodiscard]] std::uint64_t counter_resets() const { return counter_resets_; }
  [[nodiscard]] std::uint64_t malformed_lines() const { return malformed_lines_; }

 private:
  [[nodiscard]] bool selected(const std::string& name) const;
  double delta(std::uint64_t previous, std::uint64_t current);

  MonitorOptions options_;
  std::string buffer_;
  std::unordered_map<std::string, InterfaceCounters> previous_;
  std::optional<TimePoint> previous_time_;
  std::uint64_t counter_resets_ = 0;
  std::uint64_t malformed_lines_ = 0;
};

}  // namespace netsentry::host
