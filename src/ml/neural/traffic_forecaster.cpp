#include "ml/neural/traffic_forecaster.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <numbers>

#include "core/error.h"
#include "ml/neural/weights_file.h"

namespace netsentry::ml::neural {
namespace {

using torch::Forecast;
using torch::ForecasterOptions;

double softplus(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }

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

[[noreturn]] void bad_field(const std::filesystem::path& where, const char* field,
                            const char* expected) {
  throw core::Error(fmt::format("{}: field \"{}\" is missing or invalid, expected {}",
                                where.string(), field, expected));
}
const nlohmann::json& object_field(const nlohmann::json& o, const char* key,
                                   const std::filesystem::path& where) {
  const auto it = o.find(key);
  if (it == o.end() || !it->is_object()) bad_field(where, key, "an object");
  return *it;
}
double number_field(const nlohmann::json& o, const char* key, const char* field,
                    const std::filesystem::path& where) {
  const auto it = o.find(key);
  if (it == o.end() || !it->is_number() || !std::isfinite(it->get<double>())) {
    bad_field(where, field, "a finite number");
  }
  return it->get<double>();
}

// Forecaster loaded from its plain weights: predicts, cannot train or save.
class PlainForecaster final : public ForecasterBase {
 public:
  PlainForecaster() : ForecasterBase({}) {}

  torch::ForecasterSummary fit(std::span<const double>, const TrainContext&) override {
    throw core::Error(
        "traffic forecaster: this is the forecaster loaded without LibTorch; training needs it");
  }
  void save(const std::filesystem::path&) const override {
    throw core::Error(
        "traffic forecaster: loaded from its plain weights; saving writes the LibTorch model");
  }
  void load(const std::filesystem::path& dir) override {
    Stored stored = read_stored(dir);
    const std::filesystem::path where = stored.sidecar.path;
    const auto file = stored.sidecar.options.is_object() ? weights_file_of(where) : std::string();
    const auto h = static_cast<std::size_t>(stored.options.hidden_size);
    const TensorSpec expected[] = {
        {"lstm.weight_ih_l0", {4 * h, 1}}, {"lstm.weight_hh_l0", {4 * h, h}},
        {"lstm.bias_ih_l0", {4 * h}},      {"lstm.bias_hh_l0", {4 * h}},
        {"head.weight", {2, h}},           {"head.bias", {2}}};
    const std::vector<Tensor> t = read_weights(dir / file, expected, where);
    adopt(std::move(stored));
    set_step_weights(t[0].values, t[1].values, t[2].values, t[3].values, t[4].values, t[5].values);
    set_false_alarm_rate(rate_);
  }

 private:
  // The sidecar's "weights_file": a plain name in the same folder.
  static std::string weights_file_of(const std::filesystem::path& sidecar) {
    std::ifstream in(sidecar);
    const nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
    const auto it = doc.is_object() ? doc.find("weights_file") : doc.end();
    if (!doc.is_object() || it == doc.end() || !it->is_string() ||
        std::filesystem::path(it->get<std::string>()).has_parent_path() ||
        it->get<std::string>().empty()) {
      bad_field(sidecar, "weights_file", "the name of the plain weights file beside it");
    }
    return it->get<std::string>();
  }
};

// Throws core::Error on invalid options.
void validate_forecaster_options(const torch::ForecasterOptions& o) {
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
  if (o.max_train_windows < 20) {
    fail("max_train_windows must be >= 20", o.max_train_windows);
  }
  if (!(o.min_scale > 0.0f)) fail("min_scale must be > 0", o.min_scale);
  if (!(o.false_alarm_rate > 0.0 && o.false_alarm_rate <= kForecasterMaxRate)) {
    fail("false_alarm_rate must be in (0, 0.05]", o.false_alarm_rate);
  }
}

}  // namespace

bool forecaster_has_plain_weights(const std::filesystem::path& dir) {
  std::ifstream in(dir / "traffic_forecaster.json");
  if (!in) return false;
  const nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  return doc.is_object() && doc.contains("weights_file");
}

ForecasterBase::ForecasterBase(const ForecasterOptions& options) : options_(options) {
  validate_forecaster_options(options_);
}

Forecast ForecasterBase::predict(std::span<const double> last_window) const {
  check_ready();
  if (last_window.size() != window()) {
    throw core::Error(fmt::format("traffic forecaster: predict needs the last {} values, got {}",
                                  window(), last_window.size()));
  }
  const auto [mu, sigma] = step_forward(last_window);
  return make_forecast(mu, sigma);
}

std::vector<Forecast> ForecasterBase::predict_batch(std::span<const double> windows) const {
  check_ready();
  const std::size_t w = window();
  if (windows.size() % w != 0) {
    throw core::Error(
        fmt::format("traffic forecaster: predict_batch got {} values, not a multiple of the "
                    "window ({})",
                    windows.size(), w));
  }
  std::vector<Forecast> out;
  out.reserve(windows.size() / w);
  for (std::size_t first = 0; first < windows.size(); first += w) {
    const auto [mu, sigma] = step_forward(windows.subspan(first, w));
    out.push_back(make_forecast(mu, sigma));
  }
  return out;
}

double ForecasterBase::residual(double bytes_per_second, const Forecast& f) const {
  return (transform(bytes_per_second) - f.location) / f.scale;
}

void ForecasterBase::set_false_alarm_rate(double rate) {
  if (!(rate > 0.0 && rate <= kForecasterMaxRate)) {
    throw core::Error(
        fmt::format("traffic forecaster: false-alarm rate must be in (0, 0.05], got {}", rate));
  }
  if (tail_.empty()) throw core::Error("traffic forecaster: the model is not trained or loaded");
  rate_ = rate;
  q_hi_ = tail_quantile(tail_, validation_points_, rate);
  summary_.band_quantile = q_hi_;
  summary_.false_alarm_rate = rate_;
}

ForecasterBase::Stored ForecasterBase::read_stored(const std::filesystem::path& dir) const {
  Stored stored;
  stored.sidecar = read_sidecar(dir, kForecasterFile, kForecasterName, 1, kForecasterFormatVersion);
  const std::filesystem::path& where = stored.sidecar.path;
  const nlohmann::json& o = stored.sidecar.options;
  ForecasterOptions& opt = stored.options;
  opt = options_;
  opt.window = option_int(o, "window", where, 2, 1 << 16);
  opt.hidden_size = option_int(o, "hidden_size", where, 1, 4096);
  opt.min_scale = option_float(o, "min_scale", where);
  if (!(opt.min_scale > 0.0f)) bad_field(where, "min_scale", "a positive number");

  const nlohmann::json& transform = object_field(o, "transform", where);
  if (transform.value("kind", std::string()) != "log1p") {
    bad_field(where, "transform.kind", "\"log1p\"");
  }
  stored.mean = number_field(transform, "mean", "transform.mean", where);
  stored.std = number_field(transform, "std", "transform.std", where);
  if (!(stored.std > 0)) bad_field(where, "transform.std", "a positive number");

  const nlohmann::json& calibration = object_field(o, "calibration", where);
  stored.rate =
      number_field(calibration, "false_alarm_rate", "calibration.false_alarm_rate", where);
  if (!(stored.rate > 0 && stored.rate <= kForecasterMaxRate)) {
    bad_field(where, "calibration.false_alarm_rate", "a number in (0, 0.05]");
  }
  const auto points_it = calibration.find("validation_points");
  if (points_it == calibration.end() || !points_it->is_number_unsigned() ||
      points_it->get<std::size_t>() < kForecasterMinValidation) {
    bad_field(where, "calibration.validation_points", "an integer >= 20");
  }
  stored.validation_points = points_it->get<std::size_t>();
  const auto tail_it = calibration.find("tail_residuals");
  std::vector<double>& tail = stored.tail;
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
      tail.size() > stored.validation_points) {
    bad_field(where, "calibration.tail_residuals",
              "the largest validation residuals, at least 2, in descending order");
  }
  try {
    validate_forecaster_options(opt);
  } catch (const core::Error& e) {
    throw core::Error(fmt::format("{}: {}", where.string(), e.what()));
  }
  if (const auto s = o.find("summary"); s != o.end() && s->is_object()) {
    torch::ForecasterSummary& summary = stored.summary;
    summary.points = s->value("points", std::size_t{0});
    summary.train_windows = s->value("train_windows", std::size_t{0});
    summary.validation_windows = s->value("validation_windows", std::size_t{0});
    summary.epochs_run = s->value("epochs_run", 0);
    summary.train_seconds = s->value("train_seconds", 0.0);
    summary.validation_nll = s->value("validation_nll", 0.0);
    summary.validation_mae = s->value("validation_mae", 0.0);
    summary.constant_mae = s->value("constant_mae", 0.0);
    summary.validation_alarm_rate = s->value("validation_alarm_rate", 0.0);
  }
  return stored;
}

void ForecasterBase::adopt(Stored stored) {
  options_ = stored.options;
  mean_ = stored.mean;
  std_ = stored.std;
  rate_ = stored.rate;
  validation_points_ = stored.validation_points;
  tail_ = std::move(stored.tail);
  summary_ = stored.summary;
}

nlohmann::json ForecasterBase::stored_options() const {
  return {{"window", options_.window},
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
}

void ForecasterBase::set_step_weights(std::span<const float> w_ih, std::span<const float> w_hh,
                                      std::span<const float> b_ih, std::span<const float> b_hh,
                                      std::span<const float> head_w,
                                      std::span<const float> head_b) {
  const auto hidden = static_cast<std::size_t>(options_.hidden_size);
  const std::size_t gates = 4 * hidden;
  if (w_ih.size() != gates || w_hh.size() != gates * hidden || b_ih.size() != gates ||
      b_hh.size() != gates || head_w.size() != 2 * hidden || head_b.size() != 2) {
    throw core::Error(
        fmt::format("traffic forecaster: weights of the wrong shape for hidden size {}", hidden));
  }
  w_ih_.assign(w_ih.begin(), w_ih.end());
  w_hh_t_.resize(w_hh.size());
  for (std::size_t g = 0; g < gates; ++g) {
    for (std::size_t j = 0; j < hidden; ++j) w_hh_t_[j * gates + g] = w_hh[g * hidden + j];
  }
  bias_.resize(gates);
  for (std::size_t g = 0; g < gates; ++g) bias_[g] = b_ih[g] + b_hh[g];
  head_w_.assign(head_w.begin(), head_w.end());
  head_b_.assign(head_b.begin(), head_b.end());
}

std::pair<double, double> ForecasterBase::step_forward(std::span<const double> window) const {
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
  return {mu, scale(raw)};
}

double ForecasterBase::scale(double raw) const { return softplus(raw) + options_.min_scale; }

double ForecasterBase::inverse(double x) const {
  return std::max(0.0, std::expm1(std::min(x * std_ + mean_, 700.0)));
}

Forecast ForecasterBase::make_forecast(double mu, double sigma) const {
  return {inverse(mu), inverse(mu + q_hi_ * sigma), mu, sigma};
}

void ForecasterBase::check_ready() const {
  if (!ready()) throw core::Error("traffic forecaster: the model is not trained or loaded");
}

void ForecasterBase::reset() {
  w_ih_.clear();
  w_hh_t_.clear();
  bias_.clear();
  head_w_.clear();
  head_b_.clear();
  tail_.clear();
}

std::unique_ptr<torch::TrafficForecaster> make_traffic_forecaster() {
  return std::make_unique<PlainForecaster>();
}

}  // namespace netsentry::ml::neural
