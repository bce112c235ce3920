// Provides detect::UdpFloodDetector: UDP packets per second to one host, counted as they arrive
// (each flow's first datagram from its flow event, later ones from progress reports and the
// finished record), with a lower limit when almost every flow went unanswered (random source
// ports at a closed port: hping3 --udp) than for answered traffic (a busy resolver). Unanswered
// flows are those the AttemptTracker judged so (no reply within a second), timed by their start,
// so answered traffic to the same host (DNS) neither hides a flood nor dilutes its rate. The
// victim is the profile; the source is named when there is one.
// A destination the flow table found flooded gets its further datagrams as summaries, counted
// the same way (each an unanswered flow of one packet).
// Without flow events and attempts (records only, as in tests of finished flows) each finished
// flow counts whole.
// A host whose flood comes from many sources while the network flood detector (`networks`) has
// found a UDP flood at its whole network is part of that flood: no evidence of its own.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

class NetworkFloodDetector;

class UdpFloodDetector final : public Detector {
 public:
  explicit UdpFloodDetector(const HostDetectorOptions& options,
                            NetworkFloodDetector* networks = nullptr);

  [[nodiscard]] std::string_view name() const override { return "udp_flood"; }
  void on_flow_event(const flow::FlowEvent& event, std::vector<Evidence>& out) override;
  void on_attempt(const Attempt& attempt, std::vector<Evidence>& out) override;
  // A flooded ip:port's datagrams that started no flow (flow/flood_guard.h): unanswered flows of
  // one datagram each.
  void on_flood_summary(const flow::FloodSummary& summary, std::vector<Evidence>& out) override;
  void on_flow_progress(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void on_flow_finished(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  struct State : Track {
    std::uint64_t packets = 0;
    std::uint64_t flows = 0;
    std::uint64_t unanswered = 0;  // flows that got no UDP reply (so far)
    std::uint64_t unanswered_packets = 0;
    // The unanswered flows' own span: answered traffic to the host (DNS) may have opened the
    // window long before the flood and would dilute its rate.
    Track unanswered_span;
    SourceTracker sources;
    SourceTracker unanswered_sources;
    std::vector<FlowRef> recent;
  };
  using Table = SubjectTable<State>;
  void record(const flow::FlowRecord& record, bool finished, std::vector<Evidence>& out);
  void check(Table::Entry& e, std::vector<Evidence>& out);
  // The rate that judges a subject against its limit: the unanswered flows' own rate against the
  // lower limit when they look like a flood of their own, else all packets against the general
  // limit; whichever is further past its limit.
  struct Measure {
    double rate = 0;
    double limit = 0;
    bool unanswered = false;
  };
  [[nodiscard]] Measure measure(const State& s) const;
  [[nodiscard]] Evidence make(const Table::Entry& e, int level) const;
  [[nodiscard]] auto closer(std::vector<Evidence>& out);

  HostDetectorOptions options_;
  NetworkFloodDetector* networks_;  // may be null
  Table table_;
  PacketLedger ledger_;
  bool events_ = false;  // flow events arrive (each flow's first datagram is counted by its event)
  bool attempts_ = false;  // unanswered flows arrive as attempts
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
