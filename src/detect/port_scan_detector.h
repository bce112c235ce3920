// Provides detect::PortScanDetector: distinct destination ports probed on one host by one source
// (TCP or UDP) within a window, from probes (attempts that got no service: refused,
// unanswered, half-open or reset; see detect::Attempt). The scanner is the profile (attacker), the
// scanned host the peer. Counting probes rather than flows keeps busy clients and FTP data channels
// out. Thread rules: not thread-safe; one owner thread.
#pragma once

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

class PortScanDetector final : public Detector {
 public:
  explicit PortScanDetector(const HostDetectorOptions& options);

  [[nodiscard]] std::string_view name() const override { return "port_scan"; }
  void on_attempt(const Attempt& attempt, std::vector<Evidence>& out) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  struct State : Track {
    DistinctCounter distinct;
    std::uint64_t probes = 0;
    std::vector<FlowRef> recent;  // the last few probes
  };
  using Table = SubjectTable<State>;
  [[nodiscard]] Evidence make(const Table::Entry& e, int level) const;
  [[nodiscard]] auto closer(std::vector<Evidence>& out);
  void count(Table::Entry& e, const Attempt& probe, std::vector<Evidence>& out);

  HostDetectorOptions options_;
  SketchBudget budget_;
  Table table_;
  // A source's first probe (the key holds its addresses and protocol).
  struct FirstProbe {
    std::int64_t start_ns = 0;
    std::int64_t time_ns = 0;
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
  };
  SecondSight<FirstProbe> waiting_;  // sources with one probe so far
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
