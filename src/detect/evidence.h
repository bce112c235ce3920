// Provides detect::Evidence, what every detector emits: one observation about one host (or, for
// volume and system evidence, one interface or output) with how sure the detector is, how bad it
// would be, a sentence with the numbers and the flows behind it. Evidence accumulates per host in
// detect::Profiles; an alert is raised from a profile, never from one piece of evidence (unless
// the evidence is `decisive`: the original's volume rule, a failing output).
// Also the small values evidence and alerts carry: FlowRef (a flow named by its 5-tuple and start),
// FeatureDeviation (a feature and how far it is from normal) and ModelVote (one model's score).
// Thread rules: plain value types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "flow/flow_record.h"
#include "net/packet.h"

namespace netsentry::detect {

enum class Severity : std::uint8_t { kLow = 0, kMedium = 1, kHigh = 2, kCritical = 3 };

// "LOW", "MEDIUM", "HIGH", "CRITICAL".
[[nodiscard]] std::string_view severity_name(Severity severity);

// Whether the profile's host did it or suffered it.
enum class Role : std::uint8_t { kAttacker = 0, kVictim = 1 };
[[nodiscard]] std::string_view role_name(Role role);  // "attacker", "victim"
// The role as outputs write it for a profile: "" for an interface's (address family 0), where
// neither word means anything (a download over the volume limit attacks nothing).
[[nodiscard]] std::string_view role_name(Role role, const net::IpAddress& profile);

// A flow named by what identifies it on the wire: 5-tuple (initiator first) and first packet time.
struct FlowRef {
  std::int64_t start_ns = 0;
  net::IpAddress src;
  net::IpAddress dst;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t ip_proto = 0;

  friend bool operator==(const FlowRef&, const FlowRef&) = default;
  [[nodiscard]] static FlowRef of(const flow::FlowRecord& record);
  // "TCP 10.0.0.66:40000 -> 10.0.0.5:22" (ports left out for other protocols).
  [[nodiscard]] std::string to_string() const;
  // A stable 64-bit identity (the same flow, its progress reports and its final record agree).
  [[nodiscard]] std::uint64_t hash() const;
};

// One feature of one flow (or one measure of a detector) and how far it is from normal.
struct FeatureDeviation {
  std::string feature;   // e.g. "Flow Packets/s", "distinct_ports", "bytes_per_second"
  double value = 0;      // observed value (raw units)
  double expected = 0;   // the baseline / training mean / forecast / threshold
  double deviation = 0;  // z-score, the autoencoder's per-feature error, or value / threshold
};

// One model's opinion of a flow.
struct ModelVote {
  std::string model;  // "isolation_forest", "random_forest", "lstm", "autoencoder", "site"
  float score = 0;    // the model's own score (higher = more suspicious)
  float threshold = 0;
  bool vote = false;  // score > threshold
};

struct Evidence {
  static constexpr std::size_t kMaxFlows = 5;

  std::int64_t time_ns = 0;   // packet time the detector concluded (e.g. crossed its threshold)
  std::int64_t first_ns = 0;  // packet time of the first event behind it (0: same as time_ns)
  // The profile: a host, or (address family 0) the interface or output named in `interface`.
  net::IpAddress host;
  std::string interface;
  Role role = Role::kAttacker;
  std::string kind;                  // a detect::kind key
  std::string detector;              // the detector's name
  double confidence = 0;             // 0..1: how sure the detector is that this is what `kind` says
  Severity threat = Severity::kLow;  // how bad it would be
  std::string description;           // one readable sentence with the numbers
  // What the evidence is about besides the host: the other party (empty when many or unknown),
  // the service port and protocol.
  net::IpAddress peer;
  std::uint16_t port = 0;
  std::uint8_t ip_proto = 0;
  std::vector<FlowRef> flows;  // some flows behind it, at most kMaxFlows, newest last
  std::uint64_t count = 1;     // events it stands for (flows, probes, seconds)
  // Identifies what the evidence is about within its detector (a subject, a flow): a newer piece
  // with the same detector and subject replaces the older one's contribution instead of adding to
  // it (a detector's summary of a window, an early and a final verdict on one flow).
  std::uint64_t subject = 0;
  bool decisive = false;  // alerts on its own (the volume rule, a failing output)
  // The detector expects more of this within hold_ns of time_ns (a beacon's next callback): an
  // engaged alert stays engaged at least that long, even past the profiles' quiet time (capped at
  // their window). 0: the quiet time alone decides.
  std::int64_t hold_ns = 0;
  // Details shown with an alert.
  float score = 0;  // the detector's measure relative to its threshold, or the ensemble score
  int votes = 0;    // models with a vote that found it anomalous (ML evidence; weight 0: none)
  int voters = 0;
  std::vector<ModelVote> models;
  std::vector<FeatureDeviation> deviations;
};

}  // namespace netsentry::detect
