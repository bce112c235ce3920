#include "ml/ensemble.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "ml/metrics.h"

namespace netsentry::ml {
namespace {

// sklearn's LogisticRegression default (C = 1): the penalty is 0.5 * ||w||^2.
constexpr double kStackedL2 = 1.0;
// Platt's smoothed targets already keep the fit finite; this only guards a degenerate Hessian.
constexpr double kPlattL2 = 1e-6;

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

constexpr std::size_t kTailQuantiles = 257;

// `sorted` at probabilities k / (kTailQuantiles - 1), by linear interpolation between order
// statistics.
std::vector<float> quantile_table(const std::vector<float>& sorted) {
  std::vector<float> q(kTailQuantiles);
  const double last = static_cast<double>(sorted.size() - 1);
  for (std::size_t k = 0; k < kTailQuantiles; ++k) {
    const double pos = last * static_cast<double>(k) / static_cast<double>(kTailQuantiles - 1);
    const auto lo = static_cast<std::size_t>(pos);
    const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
    const double f = pos - static_cast<double>(lo);
    q[k] = static_cast<float>(sorted[lo] + f * (sorted[hi] - sorted[lo]));
  }
  return q;
}

// P(normal <= s) read from a quantile table: 0 below its minimum, 1 above its maximum, linear in
// between (a run of equal quantiles resolves to its upper end, so ties count as normal).
double tail_position(const std::vector<float>& q, float s) {
  if (s < q.front()) return 0.0;
  if (s >= q.back()) return 1.0;
  const auto it = std::upper_bound(q.begin(), q.end(), s);  // first quantile > s
  const auto hi = static_cast<std::size_t>(it - q.begin());
  const std::size_t lo = hi - 1;
  const double span = static_cast<double>(q[hi]) - q[lo];
  const double f = span > 0.0 ? (s - q[lo]) / span : 1.0;
  return (static_cast<double>(lo) + f) / static_cast<double>(q.size() - 1);
}

// log(1 + e^z) without overflow.
double softplus(double z) { return std::max(z, 0.0) + std::log1p(std::exp(-std::abs(z))); }

struct LogisticFit {
  std::vector<double> w;
  double b = 0.0;
};

// Solves a x = r for a small dense symmetric positive-definite a (Gaussian elimination with partial
// pivoting; a and r are overwritten).
std::vector<double> solve(std::vector<double> a, std::vector<double> r) {
  const std::size_t n = r.size();
  for (std::size_t col = 0; col < n; ++col) {
    std::size_t pivot = col;
    for (std::size_t i = col + 1; i < n; ++i) {
      if (std::abs(a[i * n + col]) > std::abs(a[pivot * n + col])) pivot = i;
    }
    if (pivot != col) {
      for (std::size_t j = 0; j < n; ++j) std::swap(a[col * n + j], a[pivot * n + j]);
      std::swap(r[col], r[pivot]);
    }
    const double d = a[col * n + col];
    if (std::abs(d) < 1e-300) throw core::Error("ensemble: logistic regression is degenerate");
    for (std::size_t i = col + 1; i < n; ++i) {
      const double f = a[i * n + col] / d;
      if (f == 0.0) continue;
      for (std::size_t j = col; j < n; ++j) a[i * n + j] -= f * a[col * n + j];
      r[i] -= f * r[col];
    }
  }
  std::vector<double> x(n);
  for (std::size_t i = n; i-- > 0;) {
    double s = r[i];
    for (std::size_t j = i + 1; j < n; ++j) s -= a[i * n + j] * x[j];
    x[i] = s / a[i * n + i];
  }
  return x;
}

// Minimises sum_i [softplus(z_i) - t_i z_i] + lambda/2 ||w||^2 with z = x_i . w + b (the intercept
// is not penalised) by Newton's method with step halving. `x` is n rows of k columns, row-major;
// targets t may be soft (Platt's smoothed labels).
LogisticFit fit_logistic(const std::vector<double>& x, std::size_t k, const std::vector<double>& t,
                         double lambda) {
  const std::size_t n = t.size();
  const std::size_t p = k + 1;  // weights, then the intercept
  std::vector<double> theta(p, 0.0);
  const auto objective = [&](const std::vector<double>& th) {
    double loss = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      double z = th[k];
      for (std::size_t j = 0; j < k; ++j) z += x[i * k + j] * th[j];
      loss += softplus(z) - t[i] * z;
    }
    for (std::size_t j = 0; j < k; ++j) loss += 0.5 * lambda * th[j] * th[j];
    return loss;
  };
  double current = objective(theta);
  for (int iter = 0; iter < 100; ++iter) {
    std::vector<double> grad(p, 0.0);
    std::vector<double> hess(p * p, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      double z = theta[k];
      for (std::size_t j = 0; j < k; ++j) z += x[i * k + j] * theta[j];
      const double pr = sigmoid(z);
      const double g = pr - t[i];
      const double h = std::max(pr * (1.0 - pr), 1e-12);
      for (std::size_t a = 0; a < p; ++a) {
        const double xa = a < k ? x[i * k + a] : 1.0;
        grad[a] += g * xa;
        for (std::size_t c = 0; c <= a; ++c) {
          const double xc = c < k ? x[i * k + c] : 1.0;
          hess[a * p + c] += h * xa * xc;
        }
      }
    }
    for (std::size_t a = 0; a < p; ++a) {
      for (std::size_t c = a + 1; c < p; ++c) hess[a * p + c] = hess[c * p + a];
    }
    for (std::size_t j = 0; j < k; ++j) {
      grad[j] += lambda * theta[j];
      hess[j * p + j] += lambda;
    }
    const auto step = solve(hess, grad);
    double scale = 1.0;
    std::vector<double> next(p);
    double next_loss = current;
    for (int halving = 0; halving < 40; ++halving, scale /= 2.0) {
      for (std::size_t a = 0; a < p; ++a) next[a] = theta[a] - scale * step[a];
      next_loss = objective(next);
      if (next_loss <= current) break;
    }
    if (next_loss > current) break;  // no descent left: at the optimum to rounding
    double moved = 0.0;
    for (std::size_t a = 0; a < p; ++a) moved = std::max(moved, std::abs(next[a] - theta[a]));
    theta = next;
    current = next_loss;
    if (moved < 1e-10) break;
  }
  return {std::vector<double>(theta.begin(), theta.begin() + static_cast<std::ptrdiff_t>(k)),
          theta[k]};
}

struct Moments {
  double mean = 0.0;
  double scale = 1.0;
};

Moments moments(const std::vector<float>& v) {
  Moments m;
  if (v.empty()) return m;
  double sum = 0.0;
  for (const float s : v) sum += s;
  m.mean = sum / static_cast<double>(v.size());
  double var = 0.0;
  for (const float s : v) var += (s - m.mean) * (s - m.mean);
  var /= static_cast<double>(v.size());
  // A constant score carries no information; scale 1 keeps it harmless instead of dividing by 0.
  m.scale = var > 1e-24 ? std::sqrt(var) : 1.0;
  return m;
}

double f1_at(std::span<const int> y, const std::vector<double>& scores, float threshold) {
  std::int64_t tp = 0, fp = 0, fn = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const bool flagged = scores[i] > threshold;
    if (y[i] == 1) {
      ++(flagged ? tp : fn);
    } else if (flagged) {
      ++fp;
    }
  }
  const auto den = static_cast<double>(2 * tp + fp + fn);
  return den > 0.0 ? 2.0 * static_cast<double>(tp) / den : 0.0;
}

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

// alert_rate_cut over the normal rows (y = 0) of `scores`.
float normal_rows_cut(const std::vector<double>& scores, std::span<const int> y, double rate) {
  std::vector<double> normal;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (y[i] == 0) normal.push_back(scores[i]);
  }
  return static_cast<float>(alert_rate_cut(std::move(normal), rate));
}

[[noreturn]] void bad_field(const std::string& field, const std::string& why) {
  throw core::Error("ensemble: field \"" + field + "\" " + why);
}

}  // namespace

double alert_rate_cut(std::vector<double> values, double rate) {
  if (values.empty()) throw core::Error("ensemble: no normal validation rows for an alert rate");
  const auto k =
      static_cast<std::size_t>(std::floor((1.0 - rate) * static_cast<double>(values.size() - 1)));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

std::string_view to_string(EnsembleMode mode) {
  switch (mode) {
    case EnsembleMode::kVote:
      return "vote";
    case EnsembleMode::kSoft:
      return "soft";
    case EnsembleMode::kStacked:
      return "stacked";
    case EnsembleMode::kTail:
      return "tail";
    case EnsembleMode::kMax:
      return "max";
  }
  return "vote";
}

EnsembleMode ensemble_mode_from_string(std::string_view text) {
  if (text == "vote") return EnsembleMode::kVote;
  if (text == "soft") return EnsembleMode::kSoft;
  if (text == "stacked") return EnsembleMode::kStacked;
  if (text == "tail") return EnsembleMode::kTail;
  if (text == "max") return EnsembleMode::kMax;
  throw core::Error("ensemble: unknown mode \"" + std::string(text) +
                    "\" (expected vote, soft, stacked, tail or max)");
}

void Ensemble::set_tail_alert_rate(double rate) {
  if (!(rate > 0.0 && rate <= 0.5)) {
    throw core::Error(fmt::format("ensemble: tail alert rate {} is outside (0, 0.5]", rate));
  }
  tail_alert_rate_ = rate;
}

void Ensemble::set_model_threshold(const std::string& model, float threshold) {
  model_thresholds_[model] = threshold;
}

void Ensemble::set_weight(const std::string& model, double weight) {
  if (!(weight >= 0.0) || !std::isfinite(weight)) {
    throw core::Error(
        fmt::format("ensemble: weight of {} must be a number >= 0, got {}", model, weight));
  }
  weights_[model] = weight;
}

void Ensemble::set_mode(EnsembleMode mode) { mode_ = mode; }

void Ensemble::set_vote_quorum(double quorum) {
  if (!(quorum >= 0.5 && quorum < 1.0)) {
    throw core::Error(fmt::format("ensemble: vote quorum {} is outside [0.5, 1)", quorum));
  }
  vote_quorum_ = quorum;
}

double Ensemble::weight(const std::string& model) const {
  const auto it = weights_.find(model);
  return it == weights_.end() ? 1.0 : it->second;
}

std::vector<std::string> Ensemble::models() const {
  if (fitted_) return fitted_models_;
  std::vector<std::string> out;
  for (const auto& [name, t] : model_thresholds_) out.push_back(name);
  return out;
}

float Ensemble::threshold() const {
  switch (mode_) {
    case EnsembleMode::kVote:
      return static_cast<float>(vote_quorum_);
    case EnsembleMode::kSoft:
      return soft_threshold_;
    case EnsembleMode::kStacked:
      return stacked_threshold_;
    case EnsembleMode::kTail:
      return tail_threshold_;
    case EnsembleMode::kMax:
      if (!max_threshold_) {
        throw core::Error(
            "ensemble: this bundle has no max-mode threshold (it was trained before "
            "the max mode existed); train it again");
      }
      return *max_threshold_;
  }
  return static_cast<float>(vote_quorum_);
}

void Ensemble::fit(const ModelScores& validation, std::span<const int> y_val) {
  if (validation.empty()) throw core::Error("ensemble: fit() needs at least one model's scores");
  std::size_t positives = 0;
  for (std::size_t i = 0; i < y_val.size(); ++i) {
    if (y_val[i] != 0 && y_val[i] != 1) {
      throw core::Error(
          fmt::format("ensemble: validation label {} at row {} is not 0 or 1", y_val[i], i));
    }
    positives += static_cast<std::size_t>(y_val[i]);
  }
  if (positives == 0 || positives == y_val.size()) {
    throw core::Error("ensemble: the validation split needs both normal and attack rows");
  }
  std::vector<std::string> names;
  for (const auto& [name, s] : validation) {
    if (s.size() != y_val.size()) {
      throw core::Error(fmt::format("ensemble: {} has {} validation scores for {} labels", name,
                                    s.size(), y_val.size()));
    }
    if (!model_thresholds_.contains(name)) {
      throw core::Error("ensemble: no threshold set for model " + name);
    }
    names.push_back(name);
  }
  const std::size_t n = y_val.size();
  const std::size_t k = names.size();

  // Soft: Platt scaling per model (smoothed targets as in Platt 1999), on standardized scores.
  std::vector<double> targets(n);
  const double t_pos =
      (static_cast<double>(positives) + 1.0) / (static_cast<double>(positives) + 2.0);
  const double t_neg = 1.0 / (static_cast<double>(n - positives) + 2.0);
  for (std::size_t i = 0; i < n; ++i) targets[i] = y_val[i] == 1 ? t_pos : t_neg;
  std::map<std::string, Calibration, std::less<>> calibration;
  std::map<std::string, StackedTerm, std::less<>> stacked;
  std::vector<double> z(n * k);
  for (std::size_t j = 0; j < k; ++j) {
    const auto& s = validation.find(names[j])->second;
    const auto m = moments(s);
    std::vector<double> col(n);
    for (std::size_t i = 0; i < n; ++i) {
      col[i] = (s[i] - m.mean) / m.scale;
      z[i * k + j] = col[i];
    }
    const auto platt = fit_logistic(col, 1, targets, kPlattL2);
    calibration[names[j]] = {platt.w[0] / m.scale, platt.b - platt.w[0] * m.mean / m.scale};
    stacked[names[j]] = {m.mean, m.scale, 0.0};
  }

  // Stacked: one regression on all standardized scores with hard labels.
  std::vector<double> hard(n);
  for (std::size_t i = 0; i < n; ++i) hard[i] = y_val[i];
  const auto lr = fit_logistic(z, k, hard, kStackedL2);
  for (std::size_t j = 0; j < k; ++j) stacked[names[j]].coef = lr.w[j];

  // Tail: quantile tables of each model's scores on the normal validation rows.
  std::map<std::string, std::vector<float>, std::less<>> tail_quantiles;
  for (const auto& name : names) {
    const auto& s = validation.find(name)->second;
    std::vector<float> normal;
    normal.reserve(n - positives);
    for (std::size_t i = 0; i < n; ++i) {
      if (y_val[i] == 0) normal.push_back(s[i]);
    }
    std::sort(normal.begin(), normal.end());
    tail_quantiles[name] = quantile_table(normal);
  }

  fitted_models_ = names;
  tail_quantiles_ = std::move(tail_quantiles);
  tail_epsilon_ = 1.0 / (static_cast<double>(n - positives) + 1.0);
  calibration_ = std::move(calibration);
  stacked_ = std::move(stacked);
  stacked_intercept_ = lr.b;
  fitted_ = true;

  results_.clear();
  const auto vote = score_mode(EnsembleMode::kVote, validation, n);
  const auto quorum = static_cast<float>(vote_quorum_);
  results_.push_back({EnsembleMode::kVote, f1_at(y_val, vote, quorum), quorum});
  const auto soft = to_float(score_mode(EnsembleMode::kSoft, validation, n));
  const auto soft_choice = best_f1_threshold(y_val, soft);
  soft_threshold_ = soft_choice.threshold;
  results_.push_back({EnsembleMode::kSoft, soft_choice.f1, soft_threshold_});
  const auto st = to_float(score_mode(EnsembleMode::kStacked, validation, n));
  const auto st_choice = best_f1_threshold(y_val, st);
  stacked_threshold_ = st_choice.threshold;
  results_.push_back({EnsembleMode::kStacked, st_choice.f1, stacked_threshold_});
  const auto tail = score_mode(EnsembleMode::kTail, validation, n);
  tail_threshold_ = normal_rows_cut(tail, y_val, tail_alert_rate_);
  results_.push_back({EnsembleMode::kTail, f1_at(y_val, tail, tail_threshold_), tail_threshold_});
  const auto largest = score_mode(EnsembleMode::kMax, validation, n);
  max_threshold_ = normal_rows_cut(largest, y_val, tail_alert_rate_);
  results_.push_back({EnsembleMode::kMax, f1_at(y_val, largest, *max_threshold_), *max_threshold_});
}

EnsembleMode Ensemble::choose_best() {
  if (results_.empty()) throw core::Error("ensemble: choose_best() needs fit() first");
  const EnsembleModeResult* best = &results_.front();
  for (const auto& r : results_) {
    if (r.f1 > best->f1) best = &r;
  }
  mode_ = best->mode;
  return mode_;
}

std::size_t Ensemble::check_scores(const ModelScores& scores, EnsembleMode mode) const {
  if (mode != EnsembleMode::kVote && !fitted_) {
    throw core::Error(
        fmt::format("ensemble: mode {} needs fit() on validation scores first", to_string(mode)));
  }
  const auto names = models();
  if (names.empty()) throw core::Error("ensemble: no models configured");
  std::size_t rows = 0;
  bool first = true;
  for (const auto& name : names) {
    const auto it = scores.find(name);
    if (it == scores.end()) throw core::Error("ensemble: no scores given for model " + name);
    if (first) {
      rows = it->second.size();
      first = false;
    } else if (it->second.size() != rows) {
      throw core::Error(fmt::format("ensemble: {} has {} scores but other models have {}", name,
                                    it->second.size(), rows));
    }
  }
  return rows;
}

std::vector<double> Ensemble::score_mode(EnsembleMode mode, const ModelScores& scores,
                                         std::size_t rows) const {
  const auto names = models();
  std::vector<double> out(rows, 0.0);
  if (mode == EnsembleMode::kStacked) {
    std::fill(out.begin(), out.end(), stacked_intercept_);
    for (const auto& name : names) {
      const auto& term = stacked_.find(name)->second;
      const auto& s = scores.find(name)->second;
      for (std::size_t i = 0; i < rows; ++i) out[i] += term.coef * (s[i] - term.mean) / term.scale;
    }
    for (auto& v : out) v = sigmoid(v);
    return out;
  }
  double total_weight = 0.0;
  for (const auto& name : names) total_weight += weight(name);
  if (!(total_weight > 0.0)) throw core::Error("ensemble: the model weights sum to 0");
  if (mode == EnsembleMode::kTail || mode == EnsembleMode::kMax) {
    // tail: accumulate sum_m w_m * log(1 - u_m + eps); max: the smallest log(1 - u_m + eps) of the
    // models with a weight; then map to 1 - exp(.) in [0, 1).
    const bool largest = mode == EnsembleMode::kMax;
    if (largest) std::fill(out.begin(), out.end(), std::numeric_limits<double>::infinity());
    for (const auto& name : names) {
      const double w = weight(name) / total_weight;
      if (w == 0.0) continue;
      const auto& q = tail_quantiles_.find(name)->second;
      const auto& s = scores.find(name)->second;
      for (std::size_t i = 0; i < rows; ++i) {
        const double term = std::log(1.0 - tail_position(q, s[i]) + tail_epsilon_);
        out[i] = largest ? std::min(out[i], term) : out[i] + w * term;
      }
    }
    const double floor = std::log(tail_epsilon_);
    for (auto& v : out) v = 1.0 - std::exp(std::max(v, floor));
    return out;
  }
  for (const auto& name : names) {
    const double w = weight(name) / total_weight;
    if (w == 0.0) continue;
    const auto& s = scores.find(name)->second;
    if (mode == EnsembleMode::kVote) {
      const float t = model_thresholds_.find(name)->second;
      for (std::size_t i = 0; i < rows; ++i) out[i] += s[i] > t ? w : 0.0;
    } else {
      const auto& c = calibration_.find(name)->second;
      for (std::size_t i = 0; i < rows; ++i) out[i] += w * sigmoid(c.a * s[i] + c.b);
    }
  }
  return out;
}

std::vector<float> Ensemble::score(const ModelScores& scores) const {
  const auto rows = check_scores(scores, mode_);
  if (mode_ == EnsembleMode::kVote) {
    for (const auto& name : models()) {
      if (!model_thresholds_.contains(name)) {
        throw core::Error("ensemble: no threshold set for model " + name);
      }
    }
  }
  return to_float(score_mode(mode_, scores, rows));
}

std::vector<double> Ensemble::model_terms(EnsembleMode mode, const std::string& model,
                                          std::span<const float> scores) const {
  std::vector<double> out(scores.size());
  switch (mode) {
    case EnsembleMode::kVote: {
      const auto t = model_thresholds_.find(model);
      if (t == model_thresholds_.end())
        throw core::Error("ensemble: no threshold set for " + model);
      for (std::size_t i = 0; i < scores.size(); ++i) out[i] = scores[i] > t->second ? 1.0 : 0.0;
      return out;
    }
    case EnsembleMode::kSoft: {
      const auto c = calibration_.find(model);
      if (c == calibration_.end()) throw core::Error("ensemble: " + model + " is not fitted");
      for (std::size_t i = 0; i < scores.size(); ++i) {
        out[i] = sigmoid(c->second.a * scores[i] + c->second.b);
      }
      return out;
    }
    case EnsembleMode::kTail:
    case EnsembleMode::kMax: {
      const auto q = tail_quantiles_.find(model);
      if (q == tail_quantiles_.end()) throw core::Error("ensemble: " + model + " is not fitted");
      for (std::size_t i = 0; i < scores.size(); ++i) {
        out[i] = std::log(1.0 - tail_position(q->second, scores[i]) + tail_epsilon_);
      }
      return out;
    }
    case EnsembleMode::kStacked:
      break;
  }
  throw core::Error("ensemble: the stacked mode has no per-model terms");
}

std::vector<float> Ensemble::score_as(EnsembleMode mode, const ModelScores& scores) const {
  const auto rows = check_scores(scores, mode);
  return to_float(score_mode(mode, scores, rows));
}

void Ensemble::set_threshold_at_alert_rate(const ModelScores& validation,
                                           std::span<const int> y_val, double rate) {
  if (!(rate > 0.0 && rate <= 0.5)) {
    throw core::Error(fmt::format("ensemble: alert rate {} is outside (0, 0.5]", rate));
  }
  if (mode_ == EnsembleMode::kVote) return;
  const auto scores = score_mode(mode_, validation, check_scores(validation, mode_));
  if (scores.size() != y_val.size()) {
    throw core::Error("ensemble: validation scores and labels differ in length");
  }
  const float threshold = normal_rows_cut(scores, y_val, rate);
  if (mode_ == EnsembleMode::kSoft) soft_threshold_ = threshold;
  if (mode_ == EnsembleMode::kStacked) stacked_threshold_ = threshold;
  if (mode_ == EnsembleMode::kSoft || mode_ == EnsembleMode::kStacked) alert_rate_mode_ = mode_;
  if (mode_ == EnsembleMode::kTail) tail_threshold_ = threshold;
  if (mode_ == EnsembleMode::kMax) max_threshold_ = threshold;
  if (mode_ == EnsembleMode::kTail || mode_ == EnsembleMode::kMax) tail_alert_rate_ = rate;
}

std::vector<int> Ensemble::predict(const ModelScores& scores) const {
  const auto s = score(scores);
  const float t = threshold();
  std::vector<int> out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = s[i] > t ? 1 : 0;
  return out;
}

nlohmann::json Ensemble::to_json() const {
  nlohmann::json j;
  j["mode"] = std::string(to_string(mode_));
  j["fitted"] = fitted_;
  j["threshold_rule"] = threshold_from_alert_rate() ? "alert_rate" : "best_f1";
  j["models"] = models();
  j["weights"] = nlohmann::json::object();
  for (const auto& name : models()) j["weights"][name] = weight(name);
  j["vote_quorum"] = vote_quorum_;
  j["thresholds"] = nlohmann::json::object();
  for (const auto& [name, t] : model_thresholds_) j["thresholds"][name] = t;
  if (fitted_) {
    nlohmann::json cal = nlohmann::json::object();
    for (const auto& [name, c] : calibration_) cal[name] = {{"a", c.a}, {"b", c.b}};
    j["soft"] = {{"calibration", cal}, {"threshold", soft_threshold_}};
    nlohmann::json terms = nlohmann::json::object();
    for (const auto& [name, t] : stacked_) {
      terms[name] = {{"mean", t.mean}, {"scale", t.scale}, {"coef", t.coef}};
    }
    j["stacked"] = {
        {"terms", terms}, {"intercept", stacked_intercept_}, {"threshold", stacked_threshold_}};
    nlohmann::json quantiles = nlohmann::json::object();
    for (const auto& [name, q] : tail_quantiles_) quantiles[name] = q;
    j["tail"] = {{"quantiles", quantiles},
                 {"alert_rate", tail_alert_rate_},
                 {"epsilon", tail_epsilon_},
                 {"threshold", tail_threshold_}};
    if (max_threshold_) j["tail"]["max_threshold"] = *max_threshold_;
  }
  j["validation"] = nlohmann::json::array();
  for (const auto& r : results_) {
    j["validation"].push_back(
        {{"mode", std::string(to_string(r.mode))}, {"f1", r.f1}, {"threshold", r.threshold}});
  }
  return j;
}

Ensemble Ensemble::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw core::Error("ensemble: expected a JSON object");
  Ensemble e;
  std::string field;
  const auto need = [&](const nlohmann::json& parent, const std::string& key,
                        const std::string& path) -> const nlohmann::json& {
    field = path;
    if (!parent.is_object() || !parent.contains(key)) bad_field(path, "is missing");
    return parent.at(key);
  };
  try {
    e.mode_ = ensemble_mode_from_string(need(j, "mode", "mode").get<std::string>());
    e.fitted_ = need(j, "fitted", "fitted").get<bool>();
    if (j.contains("threshold_rule")) {
      field = "threshold_rule";
      const auto rule = j.at("threshold_rule").get<std::string>();
      if (rule != "alert_rate" && rule != "best_f1") {
        bad_field("threshold_rule", "must be \"alert_rate\" or \"best_f1\"");
      }
      if (rule == "alert_rate" &&
          (e.mode_ == EnsembleMode::kSoft || e.mode_ == EnsembleMode::kStacked)) {
        e.alert_rate_mode_ = e.mode_;
      }
    }
    const auto names = need(j, "models", "models").get<std::vector<std::string>>();
    for (const auto& [name, t] : need(j, "thresholds", "thresholds").items()) {
      field = "thresholds." + name;
      e.model_thresholds_[name] = t.get<float>();
    }
    for (const auto& [name, w] : need(j, "weights", "weights").items()) {
      field = "weights." + name;
      e.set_weight(name, w.get<double>());
    }
    // Bundles from before the quorum was kept vote by the original strict majority.
    if (j.contains("vote_quorum")) {
      field = "vote_quorum";
      const double quorum = j.at("vote_quorum").get<double>();
      if (!(quorum >= 0.5 && quorum < 1.0)) bad_field("vote_quorum", "must be in [0.5, 1)");
      e.vote_quorum_ = quorum;
    }
    if (e.fitted_) {
      e.fitted_models_ = names;
      const auto& soft = need(j, "soft", "soft");
      const auto& cal = need(soft, "calibration", "soft.calibration");
      e.soft_threshold_ = need(soft, "threshold", "soft.threshold").get<float>();
      const auto& st = need(j, "stacked", "stacked");
      const auto& terms = need(st, "terms", "stacked.terms");
      e.stacked_intercept_ = need(st, "intercept", "stacked.intercept").get<double>();
      e.stacked_threshold_ = need(st, "threshold", "stacked.threshold").get<float>();
      const auto& tail = need(j, "tail", "tail");
      const auto& quantiles = need(tail, "quantiles", "tail.quantiles");
      e.tail_alert_rate_ = need(tail, "alert_rate", "tail.alert_rate").get<double>();
      e.tail_epsilon_ = need(tail, "epsilon", "tail.epsilon").get<double>();
      e.tail_threshold_ = need(tail, "threshold", "tail.threshold").get<float>();
      // Bundles from before the max mode have none: they cannot be switched to it.
      if (tail.contains("max_threshold") || e.mode_ == EnsembleMode::kMax) {
        e.max_threshold_ = need(tail, "max_threshold", "tail.max_threshold").get<float>();
      }
      if (!(e.tail_epsilon_ > 0.0 && e.tail_epsilon_ < 1.0)) {
        bad_field("tail.epsilon", "must be in (0, 1)");
      }
      for (const auto& name : names) {
        const auto qpath = "tail.quantiles." + name;
        auto q = need(quantiles, name, qpath).get<std::vector<float>>();
        if (q.size() < 2 || !std::is_sorted(q.begin(), q.end())) {
          bad_field(qpath, "must be at least 2 ascending numbers");
        }
        e.tail_quantiles_[name] = std::move(q);
        const auto& c = need(cal, name, "soft.calibration." + name);
        e.calibration_[name] = {need(c, "a", "soft.calibration." + name + ".a").get<double>(),
                                need(c, "b", "soft.calibration." + name + ".b").get<double>()};
        const auto& t = need(terms, name, "stacked.terms." + name);
        const auto base = "stacked.terms." + name;
        StackedTerm term{need(t, "mean", base + ".mean").get<double>(),
                         need(t, "scale", base + ".scale").get<double>(),
                         need(t, "coef", base + ".coef").get<double>()};
        if (!(term.scale > 0.0)) bad_field(base + ".scale", "must be > 0");
        e.stacked_[name] = term;
      }
    } else if (e.mode_ != EnsembleMode::kVote) {
      bad_field("mode",
                "is " + std::string(to_string(e.mode_)) + " but the ensemble is not fitted");
    }
    for (const auto& name : names) {
      if (!e.model_thresholds_.contains(name)) bad_field("thresholds." + name, "is missing");
    }
    // What score() would otherwise find out on the first batch, refused at load instead.
    const auto used = e.models();
    if (used.empty()) bad_field("models", "lists no model: the ensemble cannot score");
    double total = 0.0;
    for (const auto& name : used) total += e.weight(name);
    if (!(total > 0.0) || !std::isfinite(total)) {
      bad_field("weights", "are all 0 for the models it uses: the ensemble cannot score");
    }
    const auto finite = [](const std::string& path, double v) {
      if (!std::isfinite(v)) bad_field(path, "is not a finite number");
    };
    for (const auto& [name, t] : e.model_thresholds_) finite("thresholds." + name, t);
    if (e.fitted_) {
      finite("soft.threshold", e.soft_threshold_);
      finite("stacked.intercept", e.stacked_intercept_);
      finite("stacked.threshold", e.stacked_threshold_);
      finite("tail.threshold", e.tail_threshold_);
      if (e.max_threshold_) finite("tail.max_threshold", *e.max_threshold_);
      if (!(e.tail_alert_rate_ > 0.0 && e.tail_alert_rate_ <= 0.5)) {
        bad_field("tail.alert_rate", "must be in (0, 0.5]");
      }
      for (const auto& [name, c] : e.calibration_) {
        finite("soft.calibration." + name + ".a", c.a);
        finite("soft.calibration." + name + ".b", c.b);
      }
      for (const auto& [name, t] : e.stacked_) {
        finite("stacked.terms." + name + ".mean", t.mean);
        finite("stacked.terms." + name + ".scale", t.scale);
        finite("stacked.terms." + name + ".coef", t.coef);
      }
      for (const auto& [name, q] : e.tail_quantiles_) {
        for (const float v : q) finite("tail.quantiles." + name, v);
      }
    }
    if (j.contains("validation")) {
      for (const auto& r : j.at("validation")) {
        field = "validation";
        e.results_.push_back({ensemble_mode_from_string(r.at("mode").get<std::string>()),
                              r.at("f1").get<double>(), r.at("threshold").get<float>()});
      }
    }
  } catch (const nlohmann::json::exception& ex) {
    bad_field(field, std::string("has the wrong type (") + ex.what() + ")");
  }
  return e;
}

}  // namespace netsentry::ml
