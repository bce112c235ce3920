// Provides detect::TcpFloodDetector: a host flooded with TCP packets outside any connection (ACK,
// FIN, RST, data or SYN-ACK segments that belong to no flow: hping3 -A --flood --rand-source, an
// "ACK flood"; a RST flood; SYN-ACKs reflected at it), which open no connection, so the SYN flood
// detector never sees them. The flow table's flood
// guard finds such a flood (flow/flood_guard.h: at least --flood-summary-rate of these strays a
// second to one host, from no leading source, under a tenth of them carried on by the host) and
// hands its counts over as summaries; this detector gives evidence about the victim from them:
// packets per second, HIGH from tcp_flood_packets_per_second and CRITICAL from critical_factor
// times it. The source is named when one address sent 80 % of them. A flood below the guard's rate
// is not judged.
// Strays spread over a network (an ACK flood carpet-bombing a /24: the guard's summaries with a
// prefix) are the network's: its profile is named by the prefix ("10.9.0.0/24"). Neighbouring
// networks flooded together are one block's (FloodedBlocks, an IPv4 /16 or IPv6 /48): the block
// is a subject too, counted from its networks' summaries, that speaks when no network got 80 % of
// them and claims the block; a network that reaches a level joins it (the first one keeps its
// own profile unless the block claimed it first, or the flow table found it flooded together
// with another network of the block: one batch of summaries). While a network or block is engaged,
// a host of it flooded from many sources is part of its flood, not an alert of its own. Thread
// rules: not thread-safe; one owner thread.
#pragma once

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

class TcpFloodDetector final : public Detector {
 public:
  explicit TcpFloodDetector(const HostDetectorOptions& options);

  [[nodiscard]] std::string_view name() const override { return "tcp_flood"; }
  void on_flood_summary(const flow::FloodSummary& summary, std::vector<Evidence>& out) override;
  void before_network_floods(std::span<const flow::FloodSummary> networks) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  struct State : Track {
    std::uint64_t packets = 0;  // strays to the host
    std::uint64_t replies = 0;  // its replies that matched no flow (its RSTs) and resets to it
    net::IpAddress source;      // the strays' leading source (a vote weighted by packets)
    std::uint64_t source_lead = 0;
    bool spread = false;  // a summary found no leading source
    // The block subject: a majority vote over its networks (weighted by packets).
    net::IpAddress network;
    std::uint64_t network_lead = 0;
    // A network: part of its block's profile; the block subject: it claimed the block.
    bool joined = false;
  };
  using Table = SubjectTable<State>;
  // Subjects: a host (`port` 0), a network (`port` its prefix length) or a block.
  [[nodiscard]] static SubjectKey block_key(const net::IpAddress& address) {
    return {{}, FloodedBlocks::block_of(address), FloodedBlocks::block_prefix_of(address), kTcp};
  }
  [[nodiscard]] static bool block_subject(const SubjectKey& key) {
    return key.port == FloodedBlocks::block_prefix_of(key.dst);
  }
  // Counts a summary in the subject `key` and gives evidence when it reaches a higher level.
  void count(const SubjectKey& key, const flow::FloodSummary& f, std::vector<Evidence>& out);
  // Whether the network or the block of `host` is flooded with strays.
  [[nodiscard]] bool engaged(const net::IpAddress& host);
  [[nodiscard]] static double rate(const State& s) {
    return double(s.packets) / std::max(s.elapsed_seconds(), 1.0);
  }
  [[nodiscard]] bool many_sources(const State& s) const {
    return s.spread || flow::no_majority(s.source_lead, s.packets);
  }
  [[nodiscard]] Evidence make(const Table::Entry& e, int level) const;
  [[nodiscard]] auto closer(std::vector<Evidence>& out);

  HostDetectorOptions options_;
  Table table_;
  FloodedBlocks blocks_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
