// Provides detect::HostScanDetector: distinct hosts probed on one port/protocol (or with ICMP echo)
// by one source within a window, from probes (detect::Attempt). The scanner is the profile.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

class HostScanDetector final : public Detector {
 public:
  explicit HostScanDetector(const HostDetectorOptions& options);

  [[nodiscard]] std::string_view name() const override { return "host_scan"; }
  void on_attempt(const Attempt& attempt, std::vector<Evidence>& out) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  struct State : Track {
    DistinctCounter distinct;
    std::uint64_t probes = 0;
    std::vector<FlowRef> recent;
  };
  using Table = SubjectTable<State>;
  [[nodiscard]] Evidence make(const Table::Entry& e, int level) const;
  [[nodiscard]] auto closer(std::vector<Evidence>& out);
  void count(Table::Entry& e, const Attempt& probe, std::vector<Evidence>& out);

  HostDetectorOptions options_;
  SketchBudget budget_;
  Table table_;
  // A source's first probe (the key holds its source, port and protocol).
  struct FirstProbe {
    std::int64_t start_ns = 0;
    std::int64_t time_ns = 0;
    net::IpAddress dst;
    std::uint16_t src_port = 0;
  };
  SecondSight<FirstProbe> waiting_;  // sources with one probe so far
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
