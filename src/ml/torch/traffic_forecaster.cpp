// The LSTM forecaster of a per-second traffic series (see ForecasterOptions in torch_models.h for
// the transform, the Gaussian head and the band calibration).
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

constexpr std::string_view kName = "traffic_forecaster";
constexpr const char* kFile = "traffic_forecaster.pt";
constexpr int kFormatVersion = 1;
// Fewest validation windows the band is calibrated on, and fewest training windows.
constexpr std::size_t kMinValidation = 20;
constexpr std::size_t kMinTrain = 20;
// A series whose log-values barely move would get a near-zero std and turn tiny wiggles into huge
// residuals; 0.05 in log units is a 5 % change.
constexpr double kMinLogStd = 0.05;
// Highest rate set_false_alarm_rate() accepts; the sidecar keeps enough residuals for it.
constexpr double kMaxRate = 0.05;
constexpr std::int64_t kPredictBatch = 4096;  // windows per forward pass in predict_batch
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

double softplus(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }

void validate(const ForecasterOptions& o) {
  auto fail = [](const char* what, auto value) {
    throw core::Error(fmt::format("traffic forecaster: option {}, got {}", what, value));
  };
  if (o.window < 2) fail("window must be >= 2", o.window);
  if (o.hidden_size < 1) fail("hidden_size must be >= 1", o.hidden_size);
  if (!(o.learning_rate > 0.0f)) fail("learning_rate must be > 0", o.learning_rate);
  if (o.batch_size < 1) fail("batch_size must be >= 1", o.batch_size);
  if (o.epochs < 1) fail("epochs must be >= 1", o.epochs);
  if (o.patience < 1) fail("patience must be >= 1", o.patience);
  if (!(o.validation_fraction >= 0.05f && o.validation_fraction <= 0.5f)) {
    fail("validation_fraction must be in [0.05, 0.5]", o.validation_fraction);
  }
  if (o.max_train_windows < static_cast<int>(kMinTrain)) {
    fail("max_train_windows must be >= 20", o.max_train_windows);
  }
  if (!(o.min_scale > 0.0f)) fail("min_scale must be > 0", o.min_scale);
  if (!(o.false_alarm_rate > 0.0 && o.false_alarm_rate <= kMaxRate)) {
    fail("false_alarm_rate must be in (0, 0.05]", o.false_alarm_rate);
  }
}

// Band quantile q with P(residual > q) = rate, from the largest residuals (descending) of `n`.
// Where the tail holds at least 5 points beyond the quantile it is the empirical quantile; deeper
// in the tail, an exponential tail (peaks over a threshold, GPD with shape 0) fitted to the m
// largest residuals extrapolates: q = u + mean_excess * ln(p_u / rate), u the (m+1)-th largest.
double fitted_tail_quantile(std::span<const double> tail, std::size_t n, double rate);

// Standard normal quantile z with P(Z > z) = rate, by bisection on erfc (called at calibration
// only).
double gaussian_upper_quantile(double rate) {
  double lo = -10, hi = 40;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(mid / std::numbers::sqrt2) > rate ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// The band quantile: what the validation residuals say, but never below the Gaussian quantile
// the NLL-trained scale implies. A hundred validation points cannot resolve a 0.1 % tail, and an
// estimate from so few points errs low far more often than high.
double tail_quantile(std::span<const double> tail, std::size_t n, double rate) {
  return std::max(gaussian_upper_quantile(rate), fitted_tail_quantile(tail, n, rate));
}

double fitted_tail_quantile(std::span<const double> tail, std::size_t n, double rate) {
  const double expected_above = rate * static_cast<double>(n);
  if (expected_above >= 5.0 && expected_above + 1 < static_cast<double>(tail.size())) {
    // Linear interpolation between order statistics, as numpy's default quantile.
    const double rank = rate * static_cast<double>(n - 1);  // 0 = the largest
    const auto lo = static_cast<std::size_t>(std::floor(rank));
    const double frac = rank - static_cast<double>(lo);
    return tail[lo] + (tail[lo + 1] - tail[lo]) * frac;
  }
  const std::size_t m = std::clamp<std::size_t>(n / 10, 10, std::min<std::size_t>(200, n - 1));
  const std::size_t used = std::min(m, tail.size() - 1);
  const double u = tail[used];
  double excess = 0;
  for (std::size_t i = 0; i < used; ++i) excess += tail[i] - u;
  excess /= static_cast<double>(used);
  const double p_u = static_cast<double>(used) / static_cast<double>(n);
  return u + std::max(excess, 1e-6) * std::log(p_u / rate);
}

class TrafficForecasterImpl final : public TrafficForecaster {
 public:
  explicit TrafficForecasterImpl(const ForecasterOptions& options) : options_(options) {
    validate(options_);
  }

  ForecasterSummary fit(std::span<const double> series, const TrainContext& ctx) override {
    try {
      return train_on(series, ctx);
    } catch (...) {
      // Half-updated state (new transform, old weights) must not forecast.
      net_.reset();
      tail_.clear();
      throw;
    }
  }

  [[nodiscard]] Forecast predict(std::span<const double> last_window) const override {
    check_ready();
    if (last_window.size() != window()) {
      throw core::Error(fmt::format("traffic forecaster: predict needs the last {} values, got {}",
                                    window(), last_window.size()));
    }
    const auto [mu, sigma] = step_forward(last_window);
    return make_forecast(mu, sigma);
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
  [[nodiscard]] std::vector<Forecast> predict_batch(
      std::span<const double> windows) const override {
    check_ready();
    if (windows.size() % window() != 0) {
      throw core::Error(
          fmt::format("traffic forecaster: predict_batch got {} values, not a multiple of the "
                      "window ({})",
                      windows.size(), window()));
    }
    const auto heads = forward_batch(windows);
    std::vector<Forecast> out;
    out.reserve(heads.size());
    for (const auto& [mu, sigma] : heads) out.push_back(make_forecast(mu, sigma));
    return out;
  }

  [[nodiscard]] double residual(double bytes_per_second, const Forecast& f) const override {
    return (transform(bytes_per_second) - f.location) / f.scale;
  }

  [[nodiscard]] std::size_t window() const override {
    return static_cast<std::size_t>(options_.window);
  }
  [[nodiscard]] double band_quantile() const override { return q_hi_; }

  void set_false_alarm_rate(double rate) override {
    if (!(rate > 0.0 && rate <= kMaxRate)) {
      throw core::Error(
          fmt::format("traffic forecaster: false-alarm rate must be in (0, 0.05], got {}", rate));
    }
    if (tail_.empty()) throw core::Error("traffic forecaster: the model is not trained or loaded");
    rate_ = rate;
    q_hi_ = tail_quantile(tail_, validation_points_, rate);
    summary_.band_quantile = q_hi_;
    summary_.false_alarm_rate = rate_;
  }

  [[nodiscard]] const ForecasterSummary& summary() const override { return summary_; }

  void save(const std::filesystem::path& dir) const override {
    check_ready();
    const nlohmann::json options = {
        {"window", options_.window},
        {"hidden_size", options_.hidden_size},
        {"min_scale", options_.min_scale},
        {"learning_rate", options_.learning_rate},
        {"batch_size", options_.batch_size},
        {"epochs", options_.epochs},
        {"patience", options_.patience},
        {"validation_fraction", options_.validation_fraction},
        {"max_train_windows", options_.max_train_windows},
        {"transform", {{"kind", "log1p"}, {"mean", mean_}, {"std", std_}}},
        {"calibration",
         {{"false_alarm_rate", rate_},
          {"band_quantile", q_hi_},
          {"validation_points", validation_points_},
          {"tail_residuals", tail_}}},
        {"summary",
         {{"points", summary_.points},
          {"train_windows", summary_.train_windows},
          {"validation_windows", summary_.validation_windows},
          {"epochs_run", summary_.epochs_run},
          {"train_seconds", summary_.train_seconds},
          {"validation_nll", summary_.validation_nll},
          {"validation_mae", summary_.validation_mae},
          {"constant_mae", summary_.constant_mae},
          {"validation_alarm_rate", summary_.validation_alarm_rate}}}};
    (void)save_bundle(dir, kName, *net_, 1, static_cast<float>(q_hi_), options, kFormatVersion);
  }

  void load(const std::filesystem::path& dir) override {
    const Sidecar sidecar = read_sidecar(dir, kFile, kName, 1, kFormatVersion);
    const std::filesystem::path& where = sidecar.path;
    const nlohmann::json& o = sidecar.options;
    ForecasterOptions opt = options_;
    opt.window = option_int(o, "window", where, 2, 1 << 16);
    opt.hidden_size = option_int(o, "hidden_size", where, 1, 4096);
    opt.min_scale = option_float(o, "min_scale", where);
    if (!(opt.min_scale > 0.0f)) bad_field(where, "min_scale", "a positive number");

    const nlohmann::json& transform = object_field(o, "transform", where);
    if (transform.value("kind", std::string()) != "log1p") {
      bad_field(where, "transform.kind", "\"log1p\"");
    }
    const double mean = number_field(transform, "mean", "transform.mean", where);
    const double stdev = number_field(transform, "std", "transform.std", where);
    if (!(stdev > 0)) bad_field(where, "transform.std", "a positive number");

    const nlohmann::json& calibration = object_field(o, "calibration", where);
    const double rate =
        number_field(calibration, "false_alarm_rate", "calibration.false_alarm_rate", where);
    if (!(rate > 0 && rate <= kMaxRate)) {
      bad_field(where, "calibration.false_alarm_rate", "a number in (0, 0.05]");
    }
    const auto points_it = calibration.find("validation_points");
    if (points_it == calibration.end() || !points_it->is_number_unsigned() ||
        points_it->get<std::size_t>() < kMinValidation) {
      bad_field(where, "calibration.validation_points", "an integer >= 20");
    }
    const auto tail_it = calibration.find("tail_residuals");
    std::vector<double> tail;
    if (tail_it != calibration.end() && tail_it->is_array()) {
      for (const auto& v : *tail_it) {
        if (!v.is_number()) {
          tail.clear();
          break;
        }
        tail.push_back(v.get<double>());
      }
    }
    if (tail.size() < 2 || !std::is_sorted(tail.begin(), tail.end(), std::greater<>()) ||
        tail.size() > points_it->get<std::size_t>()) {
      bad_field(where, "calibration.tail_residuals",
                "the largest validation residuals, at least 2, in descending order");
    }
    try {
      validate(opt);
    } catch (const core::Error& e) {
      throw core::Error(fmt::format("{}: {}", where.string(), e.what()));
    }

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
    options_ = opt;
    mean_ = mean;
    std_ = stdev;
    validation_points_ = points_it->get<std::size_t>();
    tail_ = std::move(tail);
    copy_weights();
    summary_ = {};
    if (const auto s = o.find("summary"); s != o.end() && s->is_object()) {
      summary_.points = s->value("points", std::size_t{0});
      summary_.train_windows = s->value("train_windows", std::size_t{0});
      summary_.validation_windows = s->value("validation_windows", std::size_t{0});
      summary_.epochs_run = s->value("epochs_run", 0);
      summary_.train_seconds = s->value("train_seconds", 0.0);
      summary_.validation_nll = s->value("validation_nll", 0.0);
      summary_.validation_mae = s->value("validation_mae", 0.0);
      summary_.constant_mae = s->value("constant_mae", 0.0);
      summary_.validation_alarm_rate = s->value("validation_alarm_rate", 0.0);
    }
    set_false_alarm_rate(rate);
  }

 private:
  [[noreturn]] static void bad_field(const std::filesystem::path& where, const char* field,
                                     const char* expected) {
    throw core::Error(fmt::format("{}: field \"{}\" is missing or invalid, expected {}",
                                  where.string(), field, expected));
  }
  static const nlohmann::json& object_field(const nlohmann::json& o, const char* key,
                                            const std::filesystem::path& where) {
    const auto it = o.find(key);
    if (it == o.end() || !it->is_object()) bad_field(where, key, "an object");
    return *it;
  }
  static double number_field(const nlohmann::json& o, const char* key, const char* field,
                             const std::filesystem::path& where) {
    const auto it = o.find(key);
    if (it == o.end() || !it->is_number() || !std::isfinite(it->get<double>())) {
      bad_field(where, field, "a finite number");
    }
    return it->get<double>();
  }

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

  [[nodiscard]] double transform(double bytes_per_second) const {
    return (std::log1p(std::max(0.0, bytes_per_second)) - mean_) / std_;
  }
  [[nodiscard]] double inverse(double x) const {
    return std::max(0.0, std::expm1(std::min(x * std_ + mean_, 700.0)));
  }

  [[nodiscard]] Forecast make_forecast(double mu, double sigma) const {
    return {inverse(mu), inverse(mu + q_hi_ * sigma), mu, sigma};
  }

  void check_ready() const {
    if (!net_) throw core::Error("traffic forecaster: the model is not trained or loaded");
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
        out.emplace_back(h[2 * b], softplus(h[2 * b + 1]) + options_.min_scale);
      }
      first += static_cast<std::size_t>(n);
    }
    return out;
  }

  // The same network, one window, without LibTorch operators: PyTorch's LSTM cell (gates i, f, g,
  // o; c' = f c + i g; h' = o tanh(c')) over the window, then the head.
  [[nodiscard]] std::pair<double, double> step_forward(std::span<const double> window) const {
    const auto hidden = static_cast<std::size_t>(options_.hidden_size);
    std::vector<float> state(2 * hidden, 0.0f);  // h, then c
    std::vector<float> gates(4 * hidden);
    float* h = state.data();
    float* c = state.data() + hidden;
    const std::size_t width = 4 * hidden;
    for (const double value : window) {
      const auto x = static_cast<float>(transform(value));
      for (std::size_t g = 0; g < width; ++g) gates[g] = bias_[g] + w_ih_[g] * x;
      // Column by column over the transposed weights: the inner loop has no reduction, so the
      // compiler vectorises it without reordering float sums.
      for (std::size_t j = 0; j < hidden; ++j) {
        const float hj = h[j];
        const float* column = w_hh_t_.data() + j * width;
        for (std::size_t g = 0; g < width; ++g) gates[g] += column[g] * hj;
      }
      for (std::size_t j = 0; j < hidden; ++j) {
        const float i = 1.0f / (1.0f + std::exp(-gates[j]));
        const float f = 1.0f / (1.0f + std::exp(-gates[hidden + j]));
        const float g = std::tanh(gates[2 * hidden + j]);
        const float o = 1.0f / (1.0f + std::exp(-gates[3 * hidden + j]));
        c[j] = f * c[j] + i * g;
        h[j] = o * std::tanh(c[j]);
      }
    }
    double mu = head_b_[0];
    double raw = head_b_[1];
    for (std::size_t j = 0; j < hidden; ++j) {
      mu += double(head_w_[j]) * h[j];
      raw += double(head_w_[hidden + j]) * h[j];
    }
    return {mu, softplus(raw) + options_.min_scale};
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
    const auto hidden = static_cast<std::size_t>(options_.hidden_size);
    ::torch::NoGradGuard no_grad;
    const auto flat = [](const Tensor& t) {
      const Tensor c = t.detach().to(::torch::kFloat32).contiguous();
      return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    };
    w_ih_ = flat(net_->lstm->named_parameters()["weight_ih_l0"]);
    const std::vector<float> w_hh = flat(net_->lstm->named_parameters()["weight_hh_l0"]);
    w_hh_t_.resize(w_hh.size());
    for (std::size_t g = 0; g < 4 * hidden; ++g) {
      for (std::size_t j = 0; j < hidden; ++j) w_hh_t_[j * 4 * hidden + g] = w_hh[g * hidden + j];
    }
    const std::vector<float> b_ih = flat(net_->lstm->named_parameters()["bias_ih_l0"]);
    const std::vector<float> b_hh = flat(net_->lstm->named_parameters()["bias_hh_l0"]);
    bias_.resize(4 * hidden);
    for (std::size_t g = 0; g < 4 * hidden; ++g) bias_[g] = b_ih[g] + b_hh[g];
    head_w_ = flat(net_->head->weight);
    head_b_ = flat(net_->head->bias);
  }

  ForecasterOptions options_;
  ForecastNet net_;
  double mean_ = 0;
  double std_ = 1;
  double rate_ = 0;
  double q_hi_ = 0;
  std::size_t validation_points_ = 0;
  std::vector<double> tail_;  // largest validation residuals, descending
  ForecasterSummary summary_;
  // The trained weights as plain arrays for step_forward().
  // w_hh_t_ is LibTorch's weight_hh transposed: [hidden][4 * hidden].
  std::vector<float> w_ih_, w_hh_t_, bias_, head_w_, head_b_;
};

}  // namespace

std::unique_ptr<TrafficForecaster> make_traffic_forecaster(const ForecasterOptions& options) {
  return std::make_unique<TrafficForecasterImpl>(options);
}

}  // namespace netsentry::ml::torch
