// Provides detect::Alert, what every detector produces and every sink (alerts.csv, SQLite, the
// dashboard, syslog, webhook) consumes: when, how bad, what kind, the subject (who talked to whom),
// a readable reason, each model's vote and score, the evidence (the features that deviate most) and
// how many repeats were folded into it. Plain value type; no thread rules beyond those of a struct.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/packet.h"

namespace netsentry::detect {

enum class Severity : std::uint8_t { kLow = 0, kMedium = 1, kHigh = 2, kCritical = 3 };

// "LOW", "MEDIUM", "HIGH", "CRITICAL".
[[nodiscard]] std::string_view severity_name(Severity severity);
// Case-insensitive inverse of severity_name; nullopt for anything else.
[[nodiscard]] std::optional<Severity> parse_severity(std::string_view text);

// Stable kind keys (the `kind` column of alerts.csv, suppression rules, the API).
namespace kind {
inline constexpr std::string_view kFlowAnomaly = "flow_anomaly";        // the ML ensemble on a flow
inline constexpr std::string_view kVolume = "volume";                   // bytes/s threshold rule
inline constexpr std::string_view kVolumeForecast = "volume_forecast";  // outside forecast band
inline constexpr std::string_view kPortScan = "port_scan";              // many ports on one host
inline constexpr std::string_view kHostScan = "host_scan";              // one port on many hosts
inline constexpr std::string_view kSynFlood = "syn_flood";              // half-open connections
inline constexpr std::string_view kBruteForce = "brute_force";  // many short failed sessions
inline constexpr std::string_view kUdpFlood = "udp_flood";
inline constexpr std::string_view kIcmpFlood = "icmp_flood";  // echo requests per second
inline constexpr std::string_view kSlowHttp = "slow_http";    // slowloris-style held connections
inline constexpr std::string_view kSystem = "system";  // the monitor itself (disk full, drops)
}  // namespace kind

// One model's opinion of the subject.
struct ModelVote {
  std::string model;  // "isolation_forest", "random_forest", "lstm", "autoencoder"
  float score = 0;    // the model's own score (higher = more suspicious)
  float threshold = 0;
  bool vote = false;  // score > threshold
};

// One piece of evidence: a feature and how far it is from normal.
struct Evidence {
  std::string feature;   // e.g. "Flow Packets/s", "distinct_ports", "bytes_per_second"
  double value = 0;      // observed value (raw units)
  double expected = 0;   // the baseline / training mean / forecast
  double deviation = 0;  // z-score, or the autoencoder's per-feature squared error
};

struct Alert {
  std::int64_t id = 0;       // assigned by the store (0 = not stored yet)
  std::int64_t time_ns = 0;  // packet time (or wall time for host counters) of the first event
  std::int64_t last_ns = 0;  // time of the latest repeat folded in
  Severity severity = Severity::kLow;
  std::string kind;  // one of detect::kind
  // Subject. Unknown parts stay empty (family 0) / 0; volume alerts name an interface instead.
  net::IpAddress src_ip;
  std::uint16_t src_port = 0;
  net::IpAddress dst_ip;
  std::uint16_t dst_port = 0;
  std::string protocol;     // "TCP", "UDP", "ICMP", ... or empty
  std::string interface;    // for volume alerts ("total" or an interface name)
  float score = 0;          // the detector's score (ensemble score for flow anomalies)
  int votes = 0;            // models that voted anomalous (0 for rule detectors)
  int voters = 0;           // models that voted at all
  std::uint64_t count = 1;  // repeats aggregated into this alert
  std::string reason;       // one readable sentence with the numbers
  std::vector<ModelVote> models;
  std::vector<Evidence> evidence;  // most deviating first, at most a handful
  bool acknowledged = false;
  // The sensors that saw it, on a hub (netsentry hub); empty on a sensor.
  std::vector<std::string> sensors;
};

}  // namespace netsentry::detect
