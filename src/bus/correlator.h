// Provides bus::SensorCorrelator, the hub's cross-sensor view of attackers: when alerts of two or
// more sensors name the same source address within a window (alert time), the hub raises one
// alert of kind "multi_sensor" naming every sensor and what each saw, and updates that same alert
// (same id) as more alerts and sensors come in. Alerts without an attacker (volume, system) are
// not correlated. Memory is bounded: at most max_attackers are tracked, the longest silent first
// out.
// Thread rules: not thread-safe; the hub's ingest thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "detect/alert.h"

namespace netsentry::bus {

inline constexpr std::string_view kMultiSensorKind = "multi_sensor";

struct CorrelatorOptions {
  std::chrono::nanoseconds window = std::chrono::minutes(10);
  std::size_t max_attackers = 65536;
  std::int64_t first_id = 1;  // ids of the hub's own alerts (unique across hub runs)
};

class SensorCorrelator final {
 public:
  explicit SensorCorrelator(CorrelatorOptions options = {});

  // One sensor's alert (new or an update of the same id). Returns the hub's alert about its
  // source when two or more sensors saw that source within the window: new (update = false) the
  // first time, then newer states of the same id.
  struct Result {
    detect::Alert alert;
    bool update = false;
  };
  [[nodiscard]] std::optional<Result> observe(std::string_view sensor, const detect::Alert& alert);

  [[nodiscard]] std::size_t tracked() const { return attackers_.size(); }

 private:
  struct SensorSeen {
    std::map<std::int64_t, std::pair<std::string, std::uint64_t>> alerts;  // id -> (kind, count)
    detect::Severity worst = detect::Severity::kLow;
  };
  struct Attacker {
    std::int64_t first_ns = 0;
    std::int64_t last_ns = 0;
    std::map<std::string, SensorSeen> sensors;  // by name, so the reason lists them sorted
    std::int64_t hub_id = 0;                    // 0 until two sensors saw it
    std::int64_t updates = 0;
  };

  // Forgets attackers silent for a window, then the longest silent until at most `keep` remain.
  void evict(std::int64_t now_ns, std::size_t keep);

  CorrelatorOptions options_;
  std::int64_t next_id_;
  std::int64_t newest_ns_ = 0;
  std::uint64_t observed_ = 0;
  std::unordered_map<std::string, Attacker> attackers_;  // by source address text
};

}  // namespace netsentry::bus
