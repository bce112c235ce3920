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
// Neighbouring networks flooded together (a carpet flood over a /20) are one block's
// (FloodedBlocks, an IPv4 /16 or IPv6 /48): the block is a subject too, counted and judged as a
// network's, that speaks only when no network of it got 80 % of its attempts. It reaches its rate
// before any one network of a flood spread over several, claims the block, and every network of
// it that reaches a level gives evidence about the block's profile ("10.9.0.0/16"): one alert.
// When a network reached a level first, it keeps its own profile; networks of one block that the
// flow table found flooded together (one batch of summaries) all join it.
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
  void before_network_floods(std::span<const flow::FloodSummary> networks) override;
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
    // The block subject: a majority vote over its attempts' networks (weighted by attempts).
    net::IpAddress network;
    std::uint64_t network_lead = 0;
    // A network: part of its block's profile (not its block's first); the block subject: it
    // claimed the block.
    bool joined = false;
  };
  using Table = SubjectTable<State>;
  // The subject of `ip_proto` at the network of `host` (its first address and prefix length).
  [[nodiscard]] static SubjectKey network_key(const net::IpAddress& host, std::uint8_t ip_proto) {
    return {{}, flow::flood_network_of(host), flow::flood_prefix_of(host), ip_proto};
  }
  // The subject of `ip_proto` at the block of `host` (FloodedBlocks: its IPv4 /16 or IPv6 /48).
  [[nodiscard]] static SubjectKey block_key(const net::IpAddress& host, std::uint8_t ip_proto) {
    return {{}, FloodedBlocks::block_of(host), FloodedBlocks::block_prefix_of(host), ip_proto};
  }
  [[nodiscard]] static bool block_subject(const SubjectKey& key) {
    return key.port == FloodedBlocks::block_prefix_of(key.dst);
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
  // Counts a flood summary's attempts and replies in the subject `key` and judges it.
  void count_summary(const SubjectKey& key, const flow::FloodSummary& f, double limit,
                     std::vector<Evidence>& out);
  // Counts an unanswered datagram in the subject `key` and judges it.
  void count_attempt(const SubjectKey& key, const Attempt& a, double limit,
                     std::vector<Evidence>& out);
  // Raises the entry's level when its rate now reaches a higher one. With attempts from flows,
  // only when no host got 80 % of those and no source sent 80 % of all (or a summary found no
  // leading source); a block's, only when no network got 80 % of its attempts.
  void judge(Table::Entry& e, double limit, std::vector<Evidence>& out);
  [[nodiscard]] auto closer(std::vector<Evidence>& out);

  HostDetectorOptions options_;
  Table table_;
  FloodedBlocks blocks_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
