#include "ml/neural/feature_transform.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace netsentry::ml::neural {
namespace {

// Knot probabilities are clamped to [kEdge, 1 - kEdge] before the normal quantile: +/-3.09, the
// resolution 101 knots can claim.
constexpr double kEdge = 1e-3;
// A column whose benign values barely spread still needs a finite slope beyond them; in the
// preprocessor's standardized units this is a tenth of a training standard deviation.
constexpr float kMinScale = 0.1f;

// Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9).
double normal_quantile(double p) {
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  p = std::clamp(p, kEdge, 1.0 - kEdge);
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log(1 - p));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const double q = p - 0.5;
  const double r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

double knot_probability(std::size_t k) {
  return static_cast<double>(k) / static_cast<double>(QuantileNormalizer::kKnots - 1);
}

// The normal score of x within [q.front(), q.back()]: the empirical CDF interpolated between
// knots; a value equal to a run of equal knots takes the middle of their probabilities (so a
// binary feature maps its two values symmetrically around their benign frequencies).
double inside(const std::vector<float>& q, float x) {
  const auto lo = static_cast<std::size_t>(std::lower_bound(q.begin(), q.end(), x) - q.begin());
  const auto past = static_cast<std::size_t>(std::upper_bound(q.begin(), q.end(), x) - q.begin());
  if (past > lo) {  // x equals knots lo .. past-1
    return normal_quantile(0.5 * (knot_probability(lo) + knot_probability(past - 1)));
  }
  // q[lo - 1] < x < q[lo]
  const double f = (static_cast<double>(x) - q[lo - 1]) / (static_cast<double>(q[lo]) - q[lo - 1]);
  return normal_quantile(knot_probability(lo - 1) +
                         f * (knot_probability(lo) - knot_probability(lo - 1)));
}

// Index of the first knot >= x (std::lower_bound), without data-dependent branches: one
// comparison per halving, whatever the values.
std::size_t first_not_below(const std::vector<float>& q, float x) {
  const float* base = q.data();
  std::size_t n = q.size();
  while (n > 1) {
    const std::size_t half = n / 2;
    base = base[half - 1] < x ? base + half : base;
    n -= half;
  }
  return static_cast<std::size_t>(base - q.data()) + (*base < x ? 1 : 0);
}

}  // namespace

void QuantileNormalizer::index_knots() {
  knot_scores_.assign(knots_.size(), {});
  for (std::size_t j = 0; j < knots_.size(); ++j) {
    const auto& q = knots_[j];
    auto& z = knot_scores_[j];
    z.resize(q.size());
    for (std::size_t k = 0; k < q.size(); ++k) z[k] = inside(q, q[k]);
  }
}

void QuantileNormalizer::fit(const data::Matrix& x, std::span<const std::size_t> rows) {
  if (rows.empty()) throw core::Error("quantile transform: no rows to fit on");
  features_ = x.cols;
  if (kind_ != Kind::kQuantile) {
    mean_.assign(x.cols, 0.0f);
    scale_.assign(x.cols, kMinScale);
    for (std::size_t j = 0; j < x.cols; ++j) {
      double sum = 0, sq = 0;
      std::size_t n = 0;
      for (const std::size_t r : rows) {
        const double v = x.at(r, j);
        if (!std::isfinite(v)) continue;
        sum += v;
        sq += v * v;
        ++n;
      }
      if (n == 0) continue;
      const double mean = sum / static_cast<double>(n);
      const double var = std::max(0.0, sq / static_cast<double>(n) - mean * mean);
      mean_[j] = static_cast<float>(mean);
      scale_[j] = std::max(static_cast<float>(std::sqrt(var)), kMinScale);
    }
    if (kind_ == Kind::kStandard) return;
  }
  knots_.assign(x.cols, std::vector<float>(kKnots, 0.0f));
  low_scale_.assign(x.cols, kMinScale);
  high_scale_.assign(x.cols, kMinScale);
  std::vector<float> column;
  column.reserve(rows.size());
  for (std::size_t j = 0; j < x.cols; ++j) {
    column.clear();
    for (const std::size_t r : rows) {
      const float v = x.at(r, j);
      if (std::isfinite(v)) column.push_back(v);
    }
    if (column.empty()) continue;
    std::sort(column.begin(), column.end());
    auto& q = knots_[j];
    const double last = static_cast<double>(column.size() - 1);
    for (std::size_t k = 0; k < kKnots; ++k) {
      const double pos = last * knot_probability(k);
      const auto a = static_cast<std::size_t>(pos);
      const std::size_t b = std::min(a + 1, column.size() - 1);
      q[k] =
          static_cast<float>(column[a] + (pos - static_cast<double>(a)) * (column[b] - column[a]));
    }
    // Interpolation rounding must not break the order binary searches rely on.
    for (std::size_t k = 1; k < kKnots; ++k) q[k] = std::max(q[k], q[k - 1]);
    high_scale_[j] = std::max(q[kKnots - 1] - q[(kKnots - 1) * 9 / 10], kMinScale);
    low_scale_[j] = std::max(q[(kKnots - 1) / 10] - q[0], kMinScale);
  }
  index_knots();
}

float QuantileNormalizer::standard_value(std::size_t j, float v) const {
  return std::isfinite(v) ? (v - mean_[j]) / scale_[j] : 0.0f;
}

float QuantileNormalizer::transform_value(std::size_t j, float v) const {
  if (!std::isfinite(v)) return 0.0f;
  if (kind_ == Kind::kStandard) return (v - mean_[j]) / scale_[j];
  const auto& q = knots_[j];
  const auto& z = knot_scores_[j];
  if (v > q.back()) {
    return static_cast<float>(z.back() + std::log1p((v - q.back()) / high_scale_[j]));
  }
  if (v < q.front()) {
    return static_cast<float>(z.front() - std::log1p((q.front() - v) / low_scale_[j]));
  }
  // The same score as inside(q, v), with one search.
  const std::size_t lo = first_not_below(q, v);
  if (q[lo] == v) return static_cast<float>(z[lo]);
  const double f = (static_cast<double>(v) - q[lo - 1]) / (static_cast<double>(q[lo]) - q[lo - 1]);
  return static_cast<float>(normal_quantile(knot_probability(lo - 1) +
                                            f * (knot_probability(lo) - knot_probability(lo - 1))));
}

data::Matrix QuantileNormalizer::transform(const data::Matrix& x,
                                           std::span<const std::size_t> rows) const {
  if (x.cols != features_) {
    throw core::Error(
        fmt::format("quantile transform: {} features, fitted on {}", x.cols, features_));
  }
  const std::size_t n = rows.empty() ? x.rows : rows.size();
  data::Matrix out(n, output_width());
  for (std::size_t i = 0; i < n; ++i) {
    transform_row(x, rows.empty() ? i : rows[i], out.data() + i * out.cols);
  }
  return out;
}

void QuantileNormalizer::transform_row(const data::Matrix& x, std::size_t r, float* out) const {
  const float* row = x.data() + r * x.cols;
  for (std::size_t j = 0; j < features_; ++j) out[j] = transform_value(j, row[j]);
  if (kind_ == Kind::kBoth) {
    for (std::size_t j = 0; j < features_; ++j) out[features_ + j] = standard_value(j, row[j]);
  }
}

nlohmann::json QuantileNormalizer::to_json() const {
  if (kind_ == Kind::kStandard) {
    return {{"kind", "benign_standard"}, {"mean", mean_}, {"scale", scale_}};
  }
  nlohmann::json j = {{"kind", kind_ == Kind::kBoth ? "quantile_and_standard" : "quantile_normal"},
                      {"knots", knots_},
                      {"low_scale", low_scale_},
                      {"high_scale", high_scale_}};
  if (kind_ == Kind::kBoth) {
    j["mean"] = mean_;
    j["scale"] = scale_;
  }
  return j;
}

QuantileNormalizer QuantileNormalizer::from_json(const nlohmann::json& j, const std::string& where,
                                                 std::size_t expected_features) {
  const auto bad = [&](const std::string& field, const std::string& why) {
    throw core::Error(fmt::format("{}: transform.{} {}", where, field, why));
  };
  if (!j.is_object()) bad("", "must be an object");
  const std::string kind = j.value("kind", std::string());
  if (kind != "quantile_normal" && kind != "benign_standard" && kind != "quantile_and_standard") {
    bad("kind", "must be \"quantile_normal\", \"benign_standard\" or \"quantile_and_standard\"");
  }
  QuantileNormalizer t(kind == "benign_standard"         ? Kind::kStandard
                       : kind == "quantile_and_standard" ? Kind::kBoth
                                                         : Kind::kQuantile);
  t.features_ = expected_features;
  const auto numbers = [&](const nlohmann::json& a, const std::string& field) {
    if (!a.is_array()) bad(field, "must be an array of numbers");
    std::vector<float> out;
    out.reserve(a.size());
    for (const auto& v : a) {
      if (!v.is_number() || !std::isfinite(v.get<double>())) bad(field, "holds a non-number");
      out.push_back(v.get<float>());
    }
    return out;
  };
  if (t.kind_ != Kind::kQuantile) {
    for (const char* key : {"mean", "scale"}) {
      if (!j.contains(key) || !j.at(key).is_array() || j.at(key).size() != expected_features) {
        bad(key, fmt::format("must list {} entries (one per feature)", expected_features));
      }
    }
    t.mean_ = numbers(j.at("mean"), "mean");
    t.scale_ = numbers(j.at("scale"), "scale");
    for (std::size_t f = 0; f < expected_features; ++f) {
      if (!(t.scale_[f] > 0)) bad(fmt::format("scale[{}]", f), "must be > 0");
    }
    if (t.kind_ == Kind::kStandard) return t;
  }
  for (const char* key : {"knots", "low_scale", "high_scale"}) {
    if (!j.contains(key) || !j.at(key).is_array() || j.at(key).size() != expected_features) {
      bad(key, fmt::format("must list {} entries (one per feature)", expected_features));
    }
  }
  for (std::size_t f = 0; f < expected_features; ++f) {
    const std::string field = fmt::format("knots[{}]", f);
    auto q = numbers(j.at("knots")[f], field);
    if (q.size() != kKnots) bad(field, fmt::format("must hold {} numbers", kKnots));
    if (!std::is_sorted(q.begin(), q.end())) bad(field, "must be ascending");
    t.knots_.push_back(std::move(q));
  }
  t.index_knots();
  t.low_scale_ = numbers(j.at("low_scale"), "low_scale");
  t.high_scale_ = numbers(j.at("high_scale"), "high_scale");
  for (std::size_t f = 0; f < expected_features; ++f) {
    if (!(t.low_scale_[f] > 0) || !(t.high_scale_[f] > 0)) {
      bad(fmt::format("low_scale/high_scale[{}]", f), "must be > 0");
    }
  }
  return t;
}

}  // namespace netsentry::ml::neural
