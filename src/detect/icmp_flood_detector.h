// Provides detect::IcmpFloodDetector: ICMP (or ICMPv6) echo requests per second from one source
// to one host, over at least icmp_flood_min_packets requests (ping sends 1/s, ping -f ~100/s).
// An echo conversation is one flow (flow keys pair requests with replies), so requests are counted
// as they arrive: its first from the flow event, later ones from its progress reports (at packet
// milestones) and its finished record. The source is the profile.
// A flood from spoofed or many sources (hping3 --icmp --flood --rand-source: every request from a
// new address, so no source reaches the rate) is judged at the victim: echo requests per second to
// one host from all sources, when no source sent 80 % of them (a majority vote; a flood from one
// host is that host's own subject above). The victim is then the profile. A host the flow table
// found flooded gets its further echo requests as summaries (flow/flood_guard.h), counted the
// same way. A victim subject's host is part of a flood at its whole network, with no evidence of
// its own, while the network flood detector (`networks`) has found an echo flood there.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

class NetworkFloodDetector;

class IcmpFloodDetector final : public Detector {
 public:
  explicit IcmpFloodDetector(const HostDetectorOptions& options,
                             NetworkFloodDetector* networks = nullptr);

  [[nodiscard]] std::string_view name() const override { return "icmp_flood"; }
  void on_flow_event(const flow::FlowEvent& event, std::vector<Evidence>& out) override;
  // A flooded host's echo requests that started no flow (flow/flood_guard.h).
  void on_flood_summary(const flow::FloodSummary& summary, std::vector<Evidence>& out) override;
  void on_flow_progress(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void on_flow_finished(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  struct State : Track {
    std::uint64_t requests = 0;
    std::vector<FlowRef> recent;
    // The victim subject's vote over its requests' sources (Boyer-Moore, weighted by requests).
    net::IpAddress source;
    std::uint64_t source_lead = 0;
    bool spread = false;  // a flood summary found no leading source
  };
  using Table = SubjectTable<State>;
  // Counts `requests` echo requests from `src` to `dst` (seen from_ns..to_ns) in both subjects
  // (`ref`: their flow, null for a flood summary's).
  void count(const net::IpAddress& src, const net::IpAddress& dst, std::uint8_t proto,
             std::uint64_t requests, std::int64_t from_ns, std::int64_t to_ns, const FlowRef* ref,
             std::vector<Evidence>& out);
  // ... in the victim subject alone (`spread`: they came from no leading source).
  void count_victim(const net::IpAddress& src, const net::IpAddress& dst, std::uint8_t proto,
                    std::uint64_t requests, std::int64_t from_ns, std::int64_t to_ns,
                    const FlowRef* ref, bool spread, std::vector<Evidence>& out);
  // The victim subject of `dst` (no source in its key).
  [[nodiscard]] static bool victim_subject(const SubjectKey& key) { return key.src.family == 0; }
  // No source sent 80 % of the victim subject's requests.
  [[nodiscard]] static bool many_sources(const State& s) {
    return s.spread || flow::no_majority(s.source_lead, s.requests);
  }
  void record(const flow::FlowRecord& record, bool finished, std::vector<Evidence>& out);
  void check(Table::Entry& e, std::vector<Evidence>& out);
  [[nodiscard]] Evidence make(const Table::Entry& e, int level) const;
  [[nodiscard]] auto closer(std::vector<Evidence>& out);

  HostDetectorOptions options_;
  NetworkFloodDetector* networks_;  // may be null
  Table table_;
  PacketLedger ledger_;
  bool events_ = false;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
