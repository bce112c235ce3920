// The LSTM forecaster of a per-second traffic series (see ForecasterOptions in torch_models.h for
// the transform, the Gaussian head and the band calibration).
#include "ml/neural/traffic_forecaster.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>

#include "core/error.h"
#include "ml/torch/torch_common.h"
#include "ml/torch/torch_models.h"

namespace netsentry::ml::torch {
namespace {

using ::torch::Tensor;

constexpr std::string_view kName = neural::kForecasterName;
constexpr const char* kFile = neural::kForecasterFile;
constexpr int kFormatVersion = neural::kForecasterFormatVersion;
// Fewest validation windows the band is calibrated on, and fewest training windows.
constexpr std::size_t kMinValidation = neural::kForecasterMinValidation;
constexpr std::size_t kMinTrain = 20;
// A series whose log-values barely move would get a near-zero std and turn tiny wiggles into huge
// residuals; 0.05 in log units is a 5 % change.
constexpr double kMinLogStd = 0.05;
constexpr double kMaxRate = neural::kForecasterMaxRate;
constexpr std::int64_t kPredictBatch = 4096;  // windows per forward pass when calibrating
const double kHalfLog2Pi = 0.5 * std::log(2.0 * std::numbers::pi);

struct ForecastNetImpl : ::torch::nn::Module {
  explicit ForecastNetImpl(std::int64_t hidden) {
    lstm = register_module("lstm", ::torch::nn::LSTM(::torch::nn::LSTMOptions(1, hidden)));
    head = register_module("head", ::torch::nn::Linear(hidden, 2));
  }

  // Time-major [window, batch, 1] -> [batch, 2]: location and the raw scale (before softplus).
  Tensor forward(const Tensor& steps) {
    Tensor out = std::get<0>(lstm->forward(steps));
    return head->forward(out[out.size(0) - 1]);
  }

  ::torch::nn::LSTM lstm{nullptr};
  ::torch::nn::Linear head{nullptr};
};
// A plain shared_ptr, not TORCH_MODULE (see lstm_model.cpp).
using ForecastNet = std::shared_ptr<ForecastNetImpl>;

class TrafficForecasterImpl final : public neural::ForecasterBase {
 public:
  explicit TrafficForecasterImpl(const ForecasterOptions& options) : ForecasterBase(options) {}

  ForecasterSummary fit(std::span<const double> series, const TrainContext& ctx) override {
    try {
      return train_on(series, ctx);
    } catch (...) {
      // Half-updated state (new transform, old weights) must not forecast.
      net_.reset();
      reset();
      throw;
    }
  }

 private:
  ForecasterSummary train_on(std::span<const double> series, const TrainContext& ctx) {
    const auto w = static_cast<std::size_t>(options_.window);
    if (series.size() < w + kMinTrain + kMinValidation) {
      throw core::Error(fmt::format(
          "traffic forecaster: the series has {} points; a window of {} needs at least {}",
          series.size(), w, w + kMinTrain + kMinValidation));
    }
    for (std::size_t i = 0; i < series.size(); ++i) {
      if (!std::isfinite(series[i]) || series[i] < 0) {
        throw core::Error(fmt::format(
            "traffic forecaster: point {} of the series is {}, expected a non-negative number", i,
            series[i]));
      }
    }
    const auto t0 = std::chrono::steady_clock::now();

    // Transform statistics of the whole series (a fixed rescaling, not a learned parameter).
    std::vector<double> logs(series.size());
    for (std::size_t i = 0; i < series.size(); ++i) logs[i] = std::log1p(series[i]);
    const double mean = std::accumulate(logs.begin(), logs.end(), 0.0) / double(logs.size());
    double var = 0;
    for (double v : logs) var += (v - mean) * (v - mean);
    mean_ = mean;
    std_ = std::max(std::sqrt(var / double(logs.size())), kMinLogStd);
    auto z = std::make_shared<std::vector<float>>(series.size());
    for (std::size_t i = 0; i < series.size(); ++i) {
      (*z)[i] = static_cast<float>((logs[i] - mean_) / std_);
    }

    // Window i reads z[i, i + w) and predicts z[i + w]; the last windows (in time) validate.
    const std::size_t windows = series.size() - w;
    const std::size_t n_val = std::max(
        kMinValidation, static_cast<std::size_t>(double(windows) * options_.validation_fraction));
    const std::size_t n_train_all = windows - n_val;
    Split train_split;
    Split val_split;
    const auto cap = static_cast<std::size_t>(options_.max_train_windows);
    train_split.rows = spread(0, n_train_all, cap);
    // Early stopping needs a representative validation loss, not every window.
    val_split.rows = spread(n_train_all, windows, std::max<std::size_t>(cap / 2, kMinValidation));

    ::torch::manual_seed(ctx.seed);
    auto net = std::make_shared<ForecastNetImpl>(options_.hidden_size);
    const float min_scale = options_.min_scale;
    const auto loss = [&net, z, w, min_scale](std::span<const std::size_t> ids) {
      Tensor input = window_tensor(*z, w, ids);
      Tensor target = ::torch::empty({static_cast<std::int64_t>(ids.size())});
      float* t = target.data_ptr<float>();
      for (std::size_t b = 0; b < ids.size(); ++b) t[b] = (*z)[ids[b] + w];
      Tensor out = net->forward(input);
      Tensor mu = out.select(1, 0);
      Tensor sigma = ::torch::nn::functional::softplus(out.select(1, 1)) + min_scale;
      Tensor r = (target - mu) / sigma;
      return (::torch::log(sigma) + 0.5 * r * r).mean();
    };
    train_split.loss = loss;
    val_split.loss = loss;

    LoopSettings settings;
    settings.model_name = kName;
    settings.epochs = ctx.epochs > 0 ? ctx.epochs : options_.epochs;
    settings.batch_size = options_.batch_size;
    settings.patience = options_.patience;
    settings.learning_rate = options_.learning_rate;
    settings.lr_factor = 0.5f;
    settings.lr_patience = 1;
    const TrainSummary trained = run_training(*net, settings, train_split, val_split, ctx);
    net_ = net;
    copy_weights();

    // Calibrate on every validation window, through the same code predict_batch uses.
    std::vector<double> val_windows;
    val_windows.reserve(n_val * w);
    for (std::size_t i = n_train_all; i < windows; ++i) {
      val_windows.insert(val_windows.end(), series.begin() + static_cast<std::ptrdiff_t>(i),
                         series.begin() + static_cast<std::ptrdiff_t>(i + w));
    }
    const std::vector<std::pair<double, double>> heads = forward_batch(val_windows);
    check_step_matches_batch(val_windows, heads);

    std::vector<double> train_values(series.begin(),
                                     series.begin() + static_cast<std::ptrdiff_t>(n_train_all + w));
    std::nth_element(train_values.begin(),
                     train_values.begin() + static_cast<std::ptrdiff_t>(train_values.size() / 2),
                     train_values.end());
    const double median = train_values[train_values.size() / 2];

    std::vector<double> residuals(n_val);
    double nll = 0, mae = 0, constant_mae = 0;
    for (std::size_t k = 0; k < n_val; ++k) {
      const std::size_t target = n_train_all + k + w;
      const auto [mu, sigma] = heads[k];
      const double r = ((*z)[target] - mu) / sigma;
      residuals[k] = r;
      nll += std::log(sigma) + 0.5 * r * r + kHalfLog2Pi;
      mae += std::fabs(inverse(mu) - series[target]);
      constant_mae += std::fabs(median - series[target]);
    }
    std::sort(residuals.begin(), residuals.end(), std::greater<>());
    validation_points_ = n_val;
    const std::size_t keep = std::min(
        n_val, std::max<std::size_t>(
                   201, static_cast<std::size_t>(std::ceil(kMaxRate * double(n_val))) + 2));
    tail_.assign(residuals.begin(), residuals.begin() + static_cast<std::ptrdiff_t>(keep));
    set_false_alarm_rate(options_.false_alarm_rate);

    const std::size_t above = static_cast<std::size_t>(
        std::count_if(residuals.begin(), residuals.end(), [this](double r) { return r > q_hi_; }));
    summary_ = {};
    summary_.points = series.size();
    summary_.train_windows = train_split.rows.size();
    summary_.validation_windows = n_val;
    summary_.epochs_run = trained.epochs_run;
    summary_.train_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    summary_.validation_nll = nll / double(n_val);
    summary_.validation_mae = mae / double(n_val);
    summary_.constant_mae = constant_mae / double(n_val);
    summary_.band_quantile = q_hi_;
    summary_.validation_alarm_rate = double(above) / double(n_val);
    summary_.false_alarm_rate = rate_;
    return summary_;
  }

 public:
  void save(const std::filesystem::path& dir) const override {
    check_ready();
    (void)save_bundle(dir, kName, *net_, 1, static_cast<float>(q_hi_), stored_options(),
                      kFormatVersion);
  }

  void load(const std::filesystem::path& dir) override {
    Stored stored = read_stored(dir);
    const std::filesystem::path where = stored.sidecar.path;
    const ForecasterOptions& opt = stored.options;
    {
      // One-input LSTM (two bias vectors per gate) and a 2-output head.
      const double h = opt.hidden_size;
      check_parameter_budget(dir, kFile, where, 4 * h * (1 + h) + 8 * h + 2 * h + 2);
    }
    std::shared_ptr<ForecastNetImpl> net;
    try {
      net = std::make_shared<ForecastNetImpl>(opt.hidden_size);
      load_parameters(dir, kFile, *net);
    } catch (const core::Error& e) {
      throw core::Error(fmt::format("{} (the sidecar says hidden_size {}, window {})", e.what(),
                                    opt.hidden_size, opt.window));
    } catch (const std::exception& e) {
      throw core::Error(
          fmt::format("{}: cannot build the forecaster: {}", where.string(), torch_error_line(e)));
    }
    net->eval();
    net_ = net;
    adopt(std::move(stored));
    copy_weights();
    set_false_alarm_rate(rate_);
  }

 private:
  // `count` indices evenly spread over [first, last) (all of them when there are fewer).
  static std::vector<std::size_t> spread(std::size_t first, std::size_t last, std::size_t count) {
    const std::size_t n = last - first;
    std::vector<std::size_t> out;
    if (n <= count) {
      out.resize(n);
      std::iota(out.begin(), out.end(), first);
      return out;
    }
    out.reserve(count);
    for (std::size_t k = 0; k < count; ++k) out.push_back(first + k * n / count);
    return out;
  }

  // Time-major [w, ids.size(), 1] of the windows starting at ids.
  static Tensor window_tensor(const std::vector<float>& z, std::size_t w,
                              std::span<const std::size_t> ids) {
    const auto n = static_cast<std::int64_t>(ids.size());
    Tensor t = ::torch::empty({static_cast<std::int64_t>(w), n, 1});
    float* dst = t.data_ptr<float>();
    for (std::size_t s = 0; s < w; ++s) {
      for (std::int64_t b = 0; b < n; ++b) {
        dst[static_cast<std::int64_t>(s) * n + b] = z[ids[static_cast<std::size_t>(b)] + s];
      }
    }
    return t;
  }

  // (mu, sigma) of every window in `windows` through LibTorch, in batches.
  [[nodiscard]] std::vector<std::pair<double, double>> forward_batch(
      std::span<const double> windows) const {
    const std::size_t w = window();
    const std::size_t count = windows.size() / w;
    std::vector<std::pair<double, double>> out;
    out.reserve(count);
    ::torch::NoGradGuard no_grad;
    for (std::size_t first = 0; first < count;) {
      const auto n = static_cast<std::int64_t>(std::min<std::size_t>(count - first, kPredictBatch));
      Tensor input = ::torch::empty({static_cast<std::int64_t>(w), n, 1});
      float* dst = input.data_ptr<float>();
      for (std::int64_t b = 0; b < n; ++b) {
        const double* src = windows.data() + (first + static_cast<std::size_t>(b)) * w;
        for (std::size_t s = 0; s < w; ++s) {
          dst[static_cast<std::int64_t>(s) * n + b] = static_cast<float>(transform(src[s]));
        }
      }
      const Tensor head = net_->forward(input).contiguous();
      const float* h = head.data_ptr<float>();
      for (std::int64_t b = 0; b < n; ++b) {
        out.emplace_back(h[2 * b], scale(h[2 * b + 1]));
      }
      first += static_cast<std::size_t>(n);
    }
    return out;
  }

  // The hand-written step must agree with LibTorch's LSTM; a LibTorch upgrade that changed the
  // gate layout would otherwise silently give wrong forecasts.
  void check_step_matches_batch(std::span<const double> windows,
                                const std::vector<std::pair<double, double>>& heads) const {
    const std::size_t w = window();
    for (std::size_t k = 0; k < std::min<std::size_t>(heads.size(), 8); ++k) {
      const auto [mu, sigma] = step_forward(windows.subspan(k * w, w));
      if (std::fabs(mu - heads[k].first) > 1e-3 ||
          std::fabs(sigma - heads[k].second) > 1e-3 * std::max(1.0, heads[k].second)) {
        throw core::Error(fmt::format(
            "traffic forecaster: internal check failed: the single-window forecast ({}, {}) "
            "differs from LibTorch's ({}, {})",
            mu, sigma, heads[k].first, heads[k].second));
      }
    }
  }

  void copy_weights() {
    ::torch::NoGradGuard no_grad;
    const auto flat = [](const Tensor& t) {
      const Tensor c = t.detach().to(::torch::kFloat32).contiguous();
      return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    };
    auto params = net_->lstm->named_parameters();
    set_step_weights(flat(params["weight_ih_l0"]), flat(params["weight_hh_l0"]),
                     flat(params["bias_ih_l0"]), flat(params["bias_hh_l0"]),
                     flat(net_->head->weight), flat(net_->head->bias));
  }

  ForecastNet net_;
};

}  // namespace

std::unique_ptr<TrafficForecaster> make_traffic_forecaster(const ForecasterOptions& options) {
  return std::make_unique<TrafficForecasterImpl>(options);
}

}  // namespace netsentry::ml::torch
