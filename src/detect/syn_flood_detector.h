// Provides detect::SynFloodDetector: TCP connection attempts to one ip:port that never completed
// the handshake (half-open or unanswered), counted and as a share of all attempts, within a window.
// Sources may be spoofed, so the victim is the profile; the source is named when one host sent
// nearly all of them. Also a network-wide subject for SYNs sprayed at random destinations from many
// sources (hping3 --rand-source --rand-dest), which needs a rate besides the count and ratio.
// Attempts come from the stage's AttemptTracker (detect::Attempt), so a flood is judged within a
// second of its SYNs, not when its flows time out. A destination the flow table found flooded
// gets its further SYNs as summaries (flow/flood_guard.h), counted the same way.
// Thread rules: not thread-safe; one owner thread.
#pragma once

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
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  struct State : Track {
    std::uint64_t attempts = 0;
    std::uint64_t half_open = 0;
    SourceTracker sources;       // of the half-open attempts
    SourceTracker destinations;  // the network-wide subject only
    std::vector<FlowRef> recent;
  };
  using Table = SubjectTable<State>;
  [[nodiscard]] Evidence make(const Table::Entry& e, int level) const;
  [[nodiscard]] auto closer(std::vector<Evidence>& out);
  // Raises the entry's level (and gives evidence) when its counts now reach a higher one.
  void rise(Table::Entry& e, std::vector<Evidence>& out);

  HostDetectorOptions options_;
  Table table_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
