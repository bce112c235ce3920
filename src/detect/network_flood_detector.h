// Provides detect::NetworkFloodDetector: a UDP or echo-request flood spread over every host of one
// network ("carpet bombing": spoofed datagrams or echo requests at random addresses of a /24, so
// no one host gets enough for the UDP or ICMP flood detectors' own subjects). The flow table's
// flood guard finds such a flood (flow/flood_guard.h: at least --flood-summary-rate attempts a
// second to the hosts of one IPv4 /24 or IPv6 /64, no host getting 80 % and no source sending
// 80 % of them, under a tenth answered) and hands its counts over as summaries with a prefix;
// this detector gives evidence about the network from them, of the protocol's flood kind:
// attempts per second, HIGH from the protocol's threshold (datagrams:
// udp_flood_unanswered_packets_per_second; echo requests: icmp_flood_packets_per_second) and
// CRITICAL from critical_factor times it. The evidence's profile is the network ("10.9.0.0/24");
// the source is named (and gets its own attacker evidence) when one address sent 80 % of the
// attempts. SYNs spread over a network are the SYN flood detector's network subject. A flood
// below the guard's rate is not judged from summaries.
// Unanswered UDP datagrams (the AttemptTracker's attempts, a second after each new flow) count
// too, with majority votes over their destination hosts and sources: the network's evidence
// speaks at the same rate when no host got 80 % and no source sent 80 % of them, often before
// the flow table's first summary (which needs a judged quarter second) and before any host that
// got more than its share passes its own limit.
// While a network's flood of one protocol is engaged, the UDP and ICMP flood detectors leave out a
// host of it whose own flood comes from many sources (engaged()): hosts that got more than their
// share of a flood at 256 hosts are part of the network's alert, not 256 alerts of their own.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

class NetworkFloodDetector final : public Detector {
 public:
  explicit NetworkFloodDetector(const HostDetectorOptions& options);

  [[nodiscard]] std::string_view name() const override { return "network_flood"; }
  void on_flood_summary(const flow::FloodSummary& summary, std::vector<Evidence>& out) override;
  void on_attempt(const Attempt& attempt, std::vector<Evidence>& out) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;
  // Whether this detector has found a flood of `ip_proto` (UDP, ICMP or ICMPv6) at the network of
  // `host` (its /24 or /64) in the current window.
  [[nodiscard]] bool engaged(const net::IpAddress& host, std::uint8_t ip_proto);

 private:
  struct State : Track {
    std::uint64_t attempts = 0;  // to the network's hosts
    std::uint64_t replies = 0;   // its hosts' replies that matched no flow, and resets to them
    net::IpAddress source;       // the attempts' leading source (a vote weighted by attempts)
    std::uint64_t source_lead = 0;
    bool spread = false;  // a summary found no leading source
    // Attempts that were flows (unanswered datagrams): a vote over their destination hosts (a
    // 16-bit hash of the address). Summaries come from the flow table, which judged the hosts.
    std::uint64_t flow_attempts = 0;
    std::uint16_t host = 0;
    std::uint64_t host_lead = 0;
  };
  using Table = SubjectTable<State>;
  // The subject of `ip_proto` at the network of `host` (its first address and prefix length).
  [[nodiscard]] static SubjectKey network_key(const net::IpAddress& host, std::uint8_t ip_proto) {
    return {{}, flow::flood_network_of(host), flow::flood_prefix_of(host), ip_proto};
  }
  [[nodiscard]] static double rate(const State& s) {
    return double(s.attempts) / std::max(s.elapsed_seconds(), 1.0);
  }
  [[nodiscard]] bool many_sources(const State& s) const {
    return s.spread || flow::no_majority(s.source_lead, s.attempts);
  }
  // The protocol's threshold in attempts per second (0: not judged).
  [[nodiscard]] double threshold(std::uint8_t proto) const;
  [[nodiscard]] Evidence make(const Table::Entry& e, int level) const;
  // Raises the entry's level when its rate now reaches a higher one. With attempts from flows,
  // only when no host got 80 % of those and no source sent 80 % of all (or a summary found no
  // leading source).
  void judge(Table::Entry& e, double limit, std::vector<Evidence>& out);
  [[nodiscard]] auto closer(std::vector<Evidence>& out);

  HostDetectorOptions options_;
  Table table_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
