// Provides detect::Alert, what detect::Profiles raises when a host's evidence adds up, and what
// every sink (alerts.csv, SQLite, the dashboard, syslog, webhook, the bus) consumes.
//
// Lifecycle (the contract sinks map; see detect/sinks.h for AlertChange):
//  * raised: a host's risk score crossed the threshold, or decisive evidence arrived. The alert
//  gets
//    an id (assigned by the detection stage, strictly increasing) and state kEngaged;
//  * while engaged, every new piece of evidence about the host folds into the same alert: count,
//    last_ns, score, severity and the evidence list change, the id stays. Sinks receive the alert
//    again (kUpdated, or kEscalated when the severity rose) and replace what they hold for that id;
//    `revision` grows by one with each delivery;
//  * past: the host gave no evidence for the profile's quiet time: a last delivery with state
//    kPast (kPast change). Later evidence about the host raises a new alert with a new id.
// Subject fields (src/dst/port/protocol/interface) name who did what to whom for the alert's first
// strongest evidence: the host is src_ip for an attacker, dst_ip for a victim.
// Plain value type; no thread rules beyond those of a struct.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/evidence.h"
#include "net/packet.h"

namespace netsentry::detect {

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
inline constexpr std::string_view kTcpFlood = "tcp_flood";    // TCP packets outside connections
inline constexpr std::string_view kSlowHttp = "slow_http";    // slowloris-style held connections
inline constexpr std::string_view kExfiltration = "exfiltration";  // a one-way trickle upload
inline constexpr std::string_view kArpSpoof = "arp_spoof";         // an IPv4 address's MAC claimed
inline constexpr std::string_view kNdSpoof = "nd_spoof";           // the same for IPv6 (ND)
inline constexpr std::string_view kDnsTunnel = "dns_tunnel";       // data encoded in DNS names
inline constexpr std::string_view kBeacon = "beacon";              // regular callbacks to a server
inline constexpr std::string_view kSystem = "system";  // the monitor itself (disk full, drops)
// Every kind above, for the lists that must know them all (suppression rules, EVE signatures).
inline constexpr std::array<std::string_view, 17> kAll = {
    kFlowAnomaly, kVolume,   kVolumeForecast, kPortScan, kHostScan, kSynFlood,
    kBruteForce,  kUdpFlood, kIcmpFlood,      kTcpFlood, kSlowHttp, kExfiltration,
    kArpSpoof,    kNdSpoof,  kDnsTunnel,      kBeacon,   kSystem};
}  // namespace kind

enum class AlertState : std::uint8_t { kEngaged = 0, kPast = 1 };
[[nodiscard]] std::string_view alert_state_name(AlertState state);  // "engaged", "past"

// Why an alert is delivered (again): first raised, more evidence folded in, its severity rose, or
// its host went quiet (the last delivery of that id).
enum class AlertChange : std::uint8_t { kRaised = 0, kUpdated = 1, kEscalated = 2, kPast = 3 };
[[nodiscard]] std::string_view alert_change_name(AlertChange change);  // "raised", "updated", ...

struct Alert {
  std::int64_t id = 0;       // assigned when raised; the same for every delivery
  std::int64_t time_ns = 0;  // packet time (or wall time for host counters) of the first evidence
  std::int64_t last_ns = 0;  // time of the latest evidence folded in
  Severity severity = Severity::kLow;
  std::string kind;  // the kind of its strongest evidence (one of detect::kind)
  // Subject. Unknown parts stay empty (family 0) / 0; volume and system alerts name an interface.
  net::IpAddress src_ip;
  std::uint16_t src_port = 0;
  net::IpAddress dst_ip;
  std::uint16_t dst_port = 0;
  std::string protocol;   // "TCP", "UDP", "ICMP", ... or empty
  std::string interface;  // for volume and system alerts ("total", an interface, "sqlite")
  float score = 0;        // the host's risk score (the alert threshold is at 1)
  int votes = 0;          // models that voted anomalous on the strongest ML evidence
  int voters = 0;
  std::uint64_t count = 1;        // pieces of evidence folded into this alert (their counts summed)
  std::string reason;             // one readable sentence: who, what, how much
  std::vector<ModelVote> models;  // of the strongest ML evidence, if any
  std::vector<FeatureDeviation> features;  // of the strongest evidence, most deviating first
  // Lifecycle.
  AlertState state = AlertState::kEngaged;
  net::IpAddress host;  // the profile that raised it (family 0 for interface alerts)
  Role role = Role::kAttacker;
  std::uint32_t revision = 0;  // 0 when raised, +1 per later delivery
  // The "why": the evidence that built it, one entry per detector and subject (repeats summed in
  // `count`, the newest description kept), strongest first, at most Profiles' why_entries.
  std::vector<Evidence> evidence;
  bool acknowledged = false;
  // The sensors that saw it, on a hub (netsentry hub); empty on a sensor.
  std::vector<std::string> sensors;
};

}  // namespace netsentry::detect
