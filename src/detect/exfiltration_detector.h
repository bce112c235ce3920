// Provides detect::ExfiltrationDetector: a TCP connection that trickles data out — one side keeps
// sending small amounts for seconds (HostDetectorOptions::exfil_*) while the other side sends no
// payload at all. Judged from progress reports of open flows (at doubling ages: 1, 2, 4, 8, 16 s,
// ...), interim reports and finished flows, so an upload that started 8 s ago is evidence now, not
// when it ends. A capture that began mid-connection may show the sender as the responder: the side
// with the payload is the profile (attacker), the receiving host the peer.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include "detect/detector.h"
#include "detect/detector_support.h"
#include "detect/host_detectors.h"

namespace netsentry::detect {

class ExfiltrationDetector final : public Detector {
 public:
  explicit ExfiltrationDetector(const HostDetectorOptions& options);

  [[nodiscard]] std::string_view name() const override { return "exfiltration"; }
  void on_flow_progress(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void on_flow_finished(const flow::FlowRecord& record, std::vector<Evidence>& out) override;
  void advance(std::int64_t now_ns, std::vector<Evidence>& out) override;
  void flush(std::vector<Evidence>& out) override;
  [[nodiscard]] DetectorStats stats() const override;

 private:
  struct State : Track {
    std::uint64_t bytes = 0;  // the largest payload one connection sent so far
    double seconds = 0;       // its duration then
    std::uint64_t connections = 0;
    std::vector<FlowRef> recent;
  };
  using Table = SubjectTable<State>;
  void observe(const flow::FlowRecord& record, std::vector<Evidence>& out);
  [[nodiscard]] Evidence make(const Table::Entry& e) const;
  [[nodiscard]] auto closer(std::vector<Evidence>& out);

  HostDetectorOptions options_;
  Table table_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
