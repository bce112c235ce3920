// Provides detect::SynFloodDetector: TCP connection attempts to one ip:port that never completed
// the handshake (half-open or unanswered), counted and as a share of all attempts, within a window.
// Sources may be spoofed, so the victim is the profile; the source is named when one host sent
// nearly all of them. Two more subjects need a rate besides the count and ratio:
//  * victim-wide: SYNs sprayed from many sources at many ports of one host (hping3 --rand-source
//    with a random or counting destination port), where no one ip:port gets enough; refused SYNs
//    (closed ports) count as well as half-open ones; it speaks only when no source sent 80 % of
//    them (one host's spray is a port scan) and no port got 80 % (a one-port flood is that port's
//    own subject);
//  * network-wide: SYNs sprayed at random destinations from many sources (hping3 --rand-source
//    --rand-dest); when 80 % of them went to one network whose own subject (below) is engaged,
//    the spray is that network's flood and gives no evidence of its own;
//  * network: half-open SYNs at many hosts of one IPv4 /24 or IPv6 /64 from many sources (a flood
//    spread over a network, "carpet bombing"), judged like the network-wide subject when no host
//    got 80 % and no source sent 80 % of them. Its profile is the network ("10.9.0.0/24", as the
//    network flood detector's from the flow table's summaries). While it is engaged, a host of
//    that network whose own ip:port subject reaches the count from many sources is part of it,
//    not an alert of its own: a flood at 256 hosts is one alert, not 256. Neighbouring networks
//    flooded together (a /20) are one block's (FloodedBlocks): the first network to reach a level
//    keeps its own profile, every later one of its IPv4 /16 or IPv6 /48 gives evidence about the
//    block's ("10.9.0.0/16"). The block is a network subject too ("many hosts of neighbouring
//    networks of 10.9.0.0/16"), judged when no network of it got 80 % of its half-open SYNs: it
//    reaches its count before any one network of a flood spread over several and claims the
//    block, so every network that reaches a level later joins it; so do networks of one block
//    that the flow table found flooded together (one batch of summaries). A spray whose SYNs
//    went to one block (80 %) whose subject is engaged is that block's flood.
// Attempts come from the stage's AttemptTracker (detect::Attempt), so a flood is judged within a
// second of its SYNs, not when its flows time out. A destination the flow table found flooded
// gets its further SYNs as summaries (flow/flood_guard.h), counted the same way.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include <algorithm>
#include <limits>

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

class SynFloodDetector final : public Detector {
 public:
  explicit SynFloodDetector(const HostDetectorOptions& options);

  [[nodiscard]] std::string_view name() const override { return "syn_flood"; }
  void on_attempt(const Attempt& attempt, std::vector<Evidence>& out) override;
  // A flooded destination's SYNs that started no flow: half-open attempts to it.
  void on_flood_summary(const flow::FloodSummary& summary, std::vector<Evidence>& out) override;
  void before_network_floods(std::span<const flow::FloodSummary> networks) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  struct State : Track {
    std::uint64_t attempts = 0;
    std::uint64_t half_open = 0;  // victim-wide: refused ones too
    SourceTracker sources;        // of the half-open attempts
    SourceTracker destinations;   // the network-wide subject only
    // The victim-wide and network subjects: majority votes over their half-open attempts'
    // sources and ports (the network subject: hosts, a 16-bit hash of the address;
    // flow::majority_vote); `spread`: a flood summary found no leading source.
    net::IpAddress source;
    std::uint64_t source_lead = 0;
    std::uint16_t port = 0;
    std::uint64_t port_lead = 0;
    bool spread = false;
    // The network-wide subject: majority votes over its half-open SYNs' destination networks
    // and their blocks (FloodedBlocks); the block subject: over its networks (`network`).
    net::IpAddress network;
    std::uint64_t network_lead = 0;
    net::IpAddress block;
    std::uint64_t block_lead = 0;
    // A network subject: part of its block's profile (not its first); the block subject: it
    // claimed the block.
    bool joined = false;
    bool all_ports = false;         // a flood summary of every port of the host
    std::int64_t last_sent_ns = 0;  // when the latest half-open SYN was sent (see rate())
    // The block subject: its half-open SYNs from flows alone, and when the first and the latest
    // were sent (see rate()).
    std::uint64_t flow_half_open = 0;
    std::int64_t flow_first_ns = std::numeric_limits<std::int64_t>::max();
    std::int64_t flow_last_sent_ns = 0;
    std::vector<FlowRef> recent;
  };
  using Table = SubjectTable<State>;
  // Every port of `dst`: the victim-wide subject's key (protocol 0 marks it; the table's other
  // keys are TCP's).
  [[nodiscard]] static SubjectKey victim_key(const net::IpAddress& dst) { return {{}, dst, 0, 0}; }
  [[nodiscard]] static bool victim_wide(const SubjectKey& key) { return key.proto == 0; }
  // Many hosts of `dst`'s network: the network subject's key (protocol 1 marks it; `dst` is the
  // network's first address and `port` its prefix length).
  [[nodiscard]] static SubjectKey network_key(const net::IpAddress& dst);
  // The block of `dst`'s network (FloodedBlocks: its IPv4 /16 or IPv6 /48), a network subject
  // too, judged only when no network of it got 80 % of its half-open SYNs.
  [[nodiscard]] static SubjectKey block_key(const net::IpAddress& dst) {
    return {{}, FloodedBlocks::block_of(dst), FloodedBlocks::block_prefix_of(dst), 1};
  }
  [[nodiscard]] static bool network_subject(const SubjectKey& key) { return key.proto == 1; }
  [[nodiscard]] static bool block_subject(const SubjectKey& key) {
    return key.proto == 1 && key.port == FloodedBlocks::block_prefix_of(key.dst);
  }
  // Counts a half-open attempt in `s` (an ip:port's or a network's subject): its time, its
  // source, the time it was sent and its flow.
  static void see_half_open(State& s, const Attempt& a, const FlowRef& ref);
  // Counts a flood summary's SYNs in `s` (an ip:port's or a network's subject) as half-open
  // attempts: their time, their source (many when the summary found no leading one).
  static void see_summary(State& s, const flow::FloodSummary& f);
  // Counts one attempt in the network subject of its destination.
  void count_network(const Attempt& a, bool half_open, const FlowRef& ref,
                     std::vector<Evidence>& out);
  // Whether an ip:port subject of `dst` with these counts is part of a flood spread over dst's
  // network: its own SYNs from many sources, and the network subject engaged, or spread over the
  // network's hosts from many sources fast while this subject reaches a level. The hosts' shares
  // of half-open SYNs vary about the rule's ratio (some hosts refuse, some do not answer), so a
  // host may pass it before the network as a whole does: the network subject then speaks for it
  // (evidence in `out`).
  [[nodiscard]] bool covered(const State& s, const net::IpAddress& dst, std::vector<Evidence>& out);
  // Whether the network-wide subject's half-open SYNs went to one network (80 %) or one block
  // (80 %) whose own subject is engaged: the spray is that network's or block's flood.
  [[nodiscard]] bool within_network(const State& spray);
  // The level a subject's half-open count reaches when its share of the attempts passes the
  // ratio (0: none).
  [[nodiscard]] int level_of(const State& s) const;
  // A network subject's half-open SYNs come from many sources, at many of its hosts, fast (a
  // block's: at more than one of its networks, too).
  [[nodiscard]] bool spread_over_network(const Table::Entry& n) const;
  // Attempts to one ip:port for the victim-wide subject: from one attempt or a flood summary.
  struct VictimCount {
    net::IpAddress src;  // the source (when not `spread`)
    net::IpAddress dst;
    std::uint16_t port = 0;
    std::uint64_t attempts = 0;
    std::uint64_t half_open = 0;
    std::int64_t first_sent_ns = 0;  // when the half-open ones were sent
    std::int64_t last_sent_ns = 0;
    std::int64_t judged_ns = 0;  // when they were known to be half-open
    bool spread = false;         // a flood summary found no leading source
    bool all_ports = false;      // a flood summary of every port of dst (`port` 0)
    const FlowRef* ref = nullptr;
  };
  void count_victim(const VictimCount& c, std::vector<Evidence>& out);
  // A subject's half-open SYNs per second, over the time they were sent in (not the time they
  // were judged, about a second later, which would halve a two-second flood's rate). A block
  // subject's is the higher of that and its flows' alone (the only subject that counts them): the
  // flow table's first summary of one of its networks covers later packets than the attempts
  // judged a second late (both its networks' flows), so the two together understate a young
  // flood's rate: with benign traffic beside a flood over two /24s, a /24 reached its count
  // before its block did.
  [[nodiscard]] static double rate(const State& s) {
    auto per_second = [](std::uint64_t count, std::int64_t first_ns, std::int64_t last_ns) {
      const double span = last_ns > first_ns ? double(last_ns - first_ns) / 1e9 : 0;
      return double(count) / std::max(span, 1e-3);
    };
    const double all = per_second(s.half_open, s.first_ns, s.last_sent_ns);
    if (s.flow_half_open == 0) return all;
    return std::max(all, per_second(s.flow_half_open, s.flow_first_ns, s.flow_last_sent_ns));
  }
  // A block subject's half-open SYNs went to more than one of its networks (no network got
  // 80 %); any other subject's: true.
  [[nodiscard]] static bool many_networks(const Table::Entry& n) {
    return !block_subject(n.key) || flow::no_majority(n.state.network_lead, n.state.half_open);
  }
  [[nodiscard]] Evidence make(const Table::Entry& e, int level) const;
  [[nodiscard]] auto closer(std::vector<Evidence>& out);
  // Raises the entry's level (and gives evidence) when its counts now reach a higher one and it is
  // `eligible` (a victim-wide subject: its SYNs came from many sources, at many ports, fast).
  void rise(Table::Entry& e, std::vector<Evidence>& out, bool eligible = true);
  // Sets the entry's level and gives its evidence.
  void speak(Table::Entry& e, int level, std::vector<Evidence>& out);

  HostDetectorOptions options_;
  Table table_;
  FloodedBlocks blocks_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
