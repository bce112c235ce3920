// Provides detect::SlowHttpDetector (slowloris, slow POST): connections to a web port held open
// while sending almost nothing, counted per source and server. A connection counts when it has
// been open at least slow_http_min_seconds having sent at most slow_http_max_bytes, or — seen
// early, from its progress report — when it has been open slow_http_early_seconds with an
// unfinished request: some bytes sent (under the limit), nothing answered, no FIN. Judged from
// progress reports of open flows and from finished flows; each connection counts once. The source
// is the profile. Thread rules: not thread-safe; one owner thread.
#pragma once

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

class SlowHttpDetector final : public Detector {
 public:
  explicit SlowHttpDetector(const HostDetectorOptions& options);

  [[nodiscard]] std::string_view name() const override { return "slow_http"; }
  void on_flow_progress(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void on_flow_finished(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  // Distinct connections by source port, kept up to the threshold's critical level.
  struct State : Track {
    std::vector<std::uint16_t> ports;
    std::uint64_t connections = 0;
    std::vector<FlowRef> recent;
  };
  using Table = SubjectTable<State>;
  void observe(const flow::FlowRecord& record, std::vector<Evidence>& out);
  [[nodiscard]] Evidence make(const Table::Entry& e, int level) const;
  [[nodiscard]] auto closer(std::vector<Evidence>& out);

  HostDetectorOptions options_;
  Table table_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
