// Provides the learned volume detector on the per-second traffic series: ForecastDetector keeps
// each series' last values (the total and each interface, capped) and gives evidence when a value
// rises above the band of a trained ml::torch::TrafficForecaster (an LSTM forecast with a
// calibrated upper edge). Until a series has a full window of history, or while no model is set, it
// defers to a RobustBaseline (median/MAD) it owns. Also: load_traffic_series(), which reads a
// stored series (the monitor's network_traffic.csv or a NAB csv) for training and evaluation, and
// detect_forecast_anomalies(), the detector run over a stored series (the NAB evaluation).
// The model is reached through ml/torch_module.h's interface; this header does not include torch.
// No online training: the model is fixed until set_model() swaps in another one.
// Thread rules: not thread-safe; one owner thread calls observe*() and set_model(). The model
// itself is shared read-only (its predict() is const and concurrent-safe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "detect/alert.h"
#include "detect/volume_detector.h"
#include "host/monitor.h"
#include "ml/torch/torch_models.h"

namespace netsentry::detect {

struct ForecastDetectorOptions {
  // The fallback before a full window (and without a model); its max_series and per_interface
  // apply to this detector as well.
  BaselineOptions baseline;
  // The band's upper edge is at least forecast + min_band, so an idle link's noise (a few hundred
  // bytes over a forecast of almost nothing) does not alert. 0 for series that are not bytes/s.
  double min_band = 50'000;
  Severity severity = Severity::kLow;
  double escalate_ratio = 0;  // one level up at value >= escalate_ratio * forecast (0 = never)
};

struct ForecastDetectorStats {
  std::size_t series = 0;
  std::uint64_t samples = 0;
  std::uint64_t forecasts = 0;          // values judged by the model
  std::uint64_t deferred = 0;           // values judged by the baseline (no model, short history)
  std::uint64_t untracked_samples = 0;  // values of series beyond max_series
  std::uint64_t alerts = 0;             // model alerts (the baseline counts its own)
};

class ForecastDetector final {
 public:
  // Throws core::Error on invalid options. `model` may be null (baseline only until set_model).
  explicit ForecastDetector(ForecastDetectorOptions options = {},
                            std::shared_ptr<const ml::torch::TrafficForecaster> model = nullptr);

  // Swaps the model (null = baseline only). History is kept, so a series that already holds a
  // full window of the new model is forecast from the next value on.
  void set_model(std::shared_ptr<const ml::torch::TrafficForecaster> model);
  [[nodiscard]] bool has_model() const { return model_ != nullptr; }

  // Updates the sample's series (volume_series() with baseline.per_interface and
  // baseline.loopback) and appends kVolumeForecast evidence.
  void observe(const host::TrafficSample& sample, std::vector<Evidence>& out);
  void observe_value(std::string_view series, double bytes_per_second, std::int64_t time_ns,
                     std::vector<Evidence>& out);

  [[nodiscard]] ForecastDetectorStats stats() const;
  [[nodiscard]] BaselineStats baseline_stats() const { return baseline_.stats(); }

 private:
  // The last `capacity` values of one series, oldest overwritten first.
  struct Series {
    std::string name;
    std::vector<double> ring;
    std::size_t next = 0;
    std::size_t count = 0;
    void push(double value);
    // The last n values, oldest first, into out (n <= count).
    void last(std::size_t n, std::vector<double>& out) const;
  };

  [[nodiscard]] std::size_t history() const;

  ForecastDetectorOptions options_;
  std::shared_ptr<const ml::torch::TrafficForecaster> model_;
  RobustBaseline baseline_;
  std::vector<Series> series_;
  std::vector<double> window_;  // scratch for the model's input
  ForecastDetectorStats stats_;
};

// Loads a forecaster saved by `train --traffic` through the LibTorch module: `dir` is the
// forecaster's folder or a model bundle holding it in traffic/. Throws core::Error when the module
// is unavailable or the files do not match.
[[nodiscard]] std::shared_ptr<const ml::torch::TrafficForecaster> load_traffic_model(
    const std::filesystem::path& dir);

// The detector (one series) run over stored values: indices that alerted, ascending, and their
// residuals (model alerts) or z-scores (baseline alerts while deferring).
[[nodiscard]] SeriesFlags detect_forecast_anomalies(
    std::span<const double> values, std::shared_ptr<const ml::torch::TrafficForecaster> model,
    const ForecastDetectorOptions& options);

// A traffic series read from a CSV file.
struct TrafficSeries {
  std::string format;             // "network_traffic" or "nab"
  std::string column;             // what the values are ("bytes_sent+bytes_recv", "value", ...)
  std::vector<double> values;     // one per data row, in file order
  std::vector<int> label_window;  // NAB's labels when present (1 = inside an anomaly window)
};

// Reads the monitor's network_traffic.csv (timestamp,bytes_sent,bytes_recv,...; values are
// bytes_sent + bytes_recv) or a NAB file (timestamp,value[,label_window,...]), detected from the
// header. `column` names another numeric column to read instead. A malformed row is a core::Error
// "file:line:column NAME: ..." (no skipping: a forecaster must see the series as it was).
[[nodiscard]] TrafficSeries load_traffic_series(const std::filesystem::path& path,
                                                std::string_view column = {});

}  // namespace netsentry::detect
