// Provides eval::EpisodeLabels, the traffic lab's labels.csv (docs/lab.md): one attack episode per
// row (kind, src address or CIDR prefix, dst address or empty, [start, end] in epoch seconds), and
// the rules that tie flows and alerts to episodes:
//  * a flow belongs to an episode when one endpoint is inside the episode's src, the other is its
//    dst (any host when dst is empty), and [flow start, flow end] overlaps
//    [start - kFlowSlackSeconds, end + kFlowSlackSeconds] (the slack absorbs the tool's start-up
//    and the capture's timestamps); the earliest such episode wins; anything else is benign;
//  * an alert is attributed to an episode when its time (the alert's first event, packet time) is
//    in [start - kAlertLeadSeconds, end + kAlertLagSeconds] (detector windows close after the
//    attack) and its src or dst is inside the episode's src; an alert without a source ("from many
//    sources": a spoofed flood) is attributed when the episode's src is a prefix and the alert's
//    dst is the episode's dst. Among several candidates the one of the alert's kind wins, then one
//    whose own window [start - 1 s, end + 1 s] holds the alert, then the latest to start;
//  * an alert with no address at all (the volume rules on interface totals) is never attributed:
//    it "coincides" with every episode whose [start - 1 s, end + 1 s] holds its time.
// Thread rules: immutable after load(); every const method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/alert.h"
#include "detect/suppression.h"
#include "flow/flow_record.h"
#include "net/packet.h"

namespace netsentry::eval {

inline constexpr double kFlowSlackSeconds = 1.0;
inline constexpr double kAlertLeadSeconds = 1.0;
inline constexpr double kAlertLagSeconds = 60.0;
// The label of a flow outside every episode (the flows CSV loader reads it as normal).
inline constexpr std::string_view kBenignLabel = "BENIGN";

struct Episode {
  std::string kind;      // "port_scan", ... (letters, digits, '_', '-', '.')
  std::string src_text;  // as written: "10.77.0.66" or "198.18.0.0/15"
  detect::Subnet src;
  std::string dst_text;  // "" = any host
  std::optional<net::IpAddress> dst;
  double start_s = 0;  // epoch seconds (UTC), packet clock
  double end_s = 0;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::string tool;
  std::string description;
  std::size_t line = 0;  // where it was read (1-based)

  // True when src names several hosts (a prefix shorter than a host's).
  [[nodiscard]] bool src_is_prefix() const;
  // One endpoint inside src, the other dst (or anything when dst is empty), in either order.
  [[nodiscard]] bool matches_endpoints(const net::IpAddress& a, const net::IpAddress& b) const;
};

enum class AlertMatch : std::uint8_t {
  kNone,
  kAttributed,  // by address (or a source-less alert on a prefix episode's victim) and time
  kCoinciding,  // an address-less alert inside the episode's window
};

// How `alert` relates to `episode` (the rules in the header comment, without the tie-break).
[[nodiscard]] AlertMatch match_alert(const Episode& episode, const detect::Alert& alert);

class EpisodeLabels final {
 public:
  // Reads labels.csv. Throws core::Error "FILE:LINE:COLUMN: what" for a malformed file (header
  // without kind/src/dst/start/end, bad address or prefix, bad number, end before start, ...).
  [[nodiscard]] static EpisodeLabels load(const std::filesystem::path& path);
  // The same from text; `name` stands for the file in messages.
  [[nodiscard]] static EpisodeLabels parse(std::string_view text, const std::string& name);

  [[nodiscard]] const std::vector<Episode>& episodes() const { return episodes_; }
  [[nodiscard]] std::size_t size() const { return episodes_.size(); }

  // Index of the episode the flow belongs to, or nullopt for benign traffic.
  [[nodiscard]] std::optional<std::size_t> match_flow(const net::IpAddress& a,
                                                      const net::IpAddress& b,
                                                      std::int64_t start_ns,
                                                      std::int64_t end_ns) const;
  [[nodiscard]] std::optional<std::size_t> match_flow(const flow::FlowRecord& flow) const {
    return match_flow(flow.src_ip, flow.dst_ip, flow.start_ns, flow.end_ns);
  }
  // kBenignLabel or the episode's kind.
  [[nodiscard]] std::string_view flow_label(const flow::FlowRecord& flow) const;

  // The episode an alert is attributed to (one at most, by the tie-break), or nullopt.
  [[nodiscard]] std::optional<std::size_t> attribute_alert(const detect::Alert& alert) const;

 private:
  std::vector<Episode> episodes_;  // sorted by start (stable: file order for equal starts)
};

}  // namespace netsentry::eval
