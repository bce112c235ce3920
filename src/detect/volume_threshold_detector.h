// Provides detect::VolumeThresholdDetector, the original tool's rule as a detector: more than a
// fixed number of bytes in one second on the total (or, configured, on each interface) is decisive
// evidence about that interface: an alert on its own, LOW by default (a download is not an attack).
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include "detect/detector.h"
#include "detect/volume_detector.h"

namespace netsentry::detect {

class VolumeThresholdDetector final : public Detector {
 public:
  // Throws core::Error when bytes_per_second is not a positive number.
  explicit VolumeThresholdDetector(ThresholdRuleOptions options) : rule_(options) {}

  [[nodiscard]] std::string_view name() const override { return "volume"; }
  void on_traffic(const host::TrafficSample& sample, std::vector<Evidence>& out) override {
    const std::size_t before = out.size();
    rule_.observe(sample, out);
    evidence_ += out.size() - before;
  }
  [[nodiscard]] DetectorStats stats() const override { return {evidence_, 0, 0}; }

 private:
  ThresholdRule rule_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
