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
// Thread rules: not thread-safe; one owner thread.
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
  };
  using Table = SubjectTable<State>;
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
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
