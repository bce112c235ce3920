// Provides the traffic forecaster's scoring side without LibTorch (see ForecasterOptions in
// ml/torch/torch_models.h for the model): ForecasterBase, everything a trained forecaster does
// but train (the hand-written LSTM step over its weights, the transform, the band and its
// calibration tail, the sidecar's fields), which the LibTorch forecaster extends with training
// and its .pt file; and make_traffic_forecaster(), a forecaster that loads
// traffic_forecaster.json and traffic_forecaster.weights and cannot train or save.
// Thread rules: as torch::TrafficForecaster (load/set_false_alarm_rate from one thread while
// nothing predicts; predict/predict_batch/residual const and safe to call concurrently).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <utility>
#include <vector>

#include "ml/neural/sidecar.h"
#include "ml/torch/torch_models.h"

namespace netsentry::ml::neural {

inline constexpr const char* kForecasterName = "traffic_forecaster";
inline constexpr const char* kForecasterFile = "traffic_forecaster.pt";
inline constexpr int kForecasterFormatVersion = 1;
// Fewest validation windows the band is calibrated on.
inline constexpr std::size_t kForecasterMinValidation = 20;
// Highest rate set_false_alarm_rate() accepts; the sidecar keeps enough residuals for it.
inline constexpr double kForecasterMaxRate = 0.05;

// True when <dir>/traffic_forecaster.json names its plain weights file ("weights_file"), which
// make_traffic_forecaster() reads; false when the sidecar is missing or names none.
[[nodiscard]] bool forecaster_has_plain_weights(const std::filesystem::path& dir);

class ForecasterBase : public torch::TrafficForecaster {
 public:
  explicit ForecasterBase(const torch::ForecasterOptions& options);

  [[nodiscard]] torch::Forecast predict(std::span<const double> last_window) const override;
  // Window by window through the same step as predict(), so both give identical forecasts.
  [[nodiscard]] std::vector<torch::Forecast> predict_batch(
      std::span<const double> windows) const override;
  [[nodiscard]] double residual(double bytes_per_second,
                                const torch::Forecast& forecast) const override;
  [[nodiscard]] std::size_t window() const override {
    return static_cast<std::size_t>(options_.window);
  }
  [[nodiscard]] double band_quantile() const override { return q_hi_; }
  void set_false_alarm_rate(double rate) override;
  [[nodiscard]] const torch::ForecasterSummary& summary() const override { return summary_; }

 protected:
  // What the sidecar stores besides the weights, checked; adopt() makes it this forecaster's.
  struct Stored {
    Sidecar sidecar;
    torch::ForecasterOptions options;
    double mean = 0, std = 1, rate = 0;
    std::size_t validation_points = 0;
    std::vector<double> tail;
    torch::ForecasterSummary summary;
  };
  // Reads <dir>/traffic_forecaster.json; throws core::Error naming the file and the field that is
  // missing or does not match.
  [[nodiscard]] Stored read_stored(const std::filesystem::path& dir) const;
  void adopt(Stored stored);
  // The sidecar's options (architecture, transform, calibration, summary).
  [[nodiscard]] nlohmann::json stored_options() const;
  // LibTorch's LSTM layout (gates i, f, g, o): w_ih [4H] (one input), w_hh [4H][H], b_ih and
  // b_hh [4H], head [2][H] and its bias [2]. Throws core::Error on a size mismatch.
  void set_step_weights(std::span<const float> w_ih, std::span<const float> w_hh,
                        std::span<const float> b_ih, std::span<const float> b_hh,
                        std::span<const float> head_w, std::span<const float> head_b);
  // (mu, sigma) of one window without LibTorch operators: PyTorch's LSTM cell (c' = f c + i g;
  // h' = o tanh(c')) over the window, then the head.
  [[nodiscard]] std::pair<double, double> step_forward(std::span<const double> window) const;
  [[nodiscard]] double transform(double bytes_per_second) const {
    return (std::log1p(std::max(0.0, bytes_per_second)) - mean_) / std_;
  }
  [[nodiscard]] double inverse(double x) const;
  // The forecast's scale from the network's raw scale output: softplus, floored at min_scale.
  [[nodiscard]] double scale(double raw) const;
  [[nodiscard]] torch::Forecast make_forecast(double mu, double sigma) const;
  [[nodiscard]] bool ready() const { return !bias_.empty(); }
  void check_ready() const;
  // Forgets the weights and the calibration (a failed fit).
  void reset();

  torch::ForecasterOptions options_;
  double mean_ = 0;
  double std_ = 1;
  double rate_ = 0;
  double q_hi_ = 0;
  std::size_t validation_points_ = 0;
  std::vector<double> tail_;  // largest validation residuals, descending
  torch::ForecasterSummary summary_;

 private:
  // w_hh_t_ is LibTorch's weight_hh transposed: [hidden][4 * hidden].
  std::vector<float> w_ih_, w_hh_t_, bias_, head_w_, head_b_;
};

// The torch-free forecaster: load() reads traffic_forecaster.json and the .weights file it names;
// fit() and save() throw (training and the .pt file are the LibTorch forecaster's).
[[nodiscard]] std::unique_ptr<torch::TrafficForecaster> make_traffic_forecaster();

}  // namespace netsentry::ml::neural
