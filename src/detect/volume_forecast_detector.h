// Provides detect::VolumeForecastDetector, learned volume evidence as a detector: each series of
// the traffic samples (the total, and each interface, loopback left out unless configured) is
// judged by an LSTM forecast band once a forecaster is set (ForecastDetector), by a median/MAD
// baseline before. A value above the band is LOW evidence about that interface by default; a
// sustained rise adds up to an alert, a single second does not.
// Thread rules: not thread-safe; one owner thread (set_model() included).
#pragma once

#include <memory>

#include "detect/detector.h"
#include "detect/forecast_detector.h"

namespace netsentry::detect {

class VolumeForecastDetector final : public Detector {
 public:
  // Throws core::Error on invalid options.
  explicit VolumeForecastDetector(ForecastDetectorOptions options) : detector_(options) {}

  [[nodiscard]] std::string_view name() const override { return "volume_forecast"; }
  void on_traffic(const host::TrafficSample& sample, std::vector<Evidence>& out) override {
    const std::size_t before = out.size();
    detector_.observe(sample, out);
    evidence_ += out.size() - before;
  }
  void set_model(std::shared_ptr<const ml::torch::TrafficForecaster> model) {
    detector_.set_model(std::move(model));
  }
  [[nodiscard]] DetectorStats stats() const override {
    return {evidence_, 0, detector_.stats().series};
  }

 private:
  ForecastDetector detector_;
  std::uint64_t evidence_ = 0;
};

}  // namespace netsentry::detect
