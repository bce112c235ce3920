#include "ml/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/error.h"

namespace netsentry::ml {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_sizes(std::size_t labels, std::size_t other, const char* what) {
  if (labels != other) {
    throw core::Error(fmt::format("metrics: {} labels but {} {}", labels, other, what));
  }
}

// Cumulative false/true positives at each distinct score, strictest threshold first (the core of
// scikit-learn's _binary_clf_curve).
struct BinaryCurve {
  std::vector<double> fps;
  std::vector<double> tps;
  std::vector<float> thresholds;
  double positives = 0.0;
  double negatives = 0.0;
};

BinaryCurve binary_curve(std::span<const int> y, std::span<const float> scores) {
  check_sizes(y.size(), scores.size(), "scores");
  BinaryCurve c;
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (y[i] != 0 && y[i] != 1) {
      throw core::Error(fmt::format("metrics: label {} at row {} is not 0 or 1", y[i], i));
    }
    if (std::isnan(scores[i])) throw core::Error(fmt::format("metrics: score at row {} is NaN", i));
    (y[i] == 1 ? c.positives : c.negatives) += 1.0;
  }
  std::vector<std::size_t> order(y.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  double tp = 0.0;
  double fp = 0.0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::size_t i = order[k];
    (y[i] == 1 ? tp : fp) += 1.0;
    if (k + 1 == order.size() || scores[order[k + 1]] != scores[i]) {
      c.fps.push_back(fp);
      c.tps.push_back(tp);
      c.thresholds.push_back(scores[i]);
    }
  }
  return c;
}

std::vector<CurvePoint> thin(std::vector<CurvePoint> points, std::size_t max_points) {
  if (max_points < 2 || points.size() <= max_points) return points;
  std::vector<CurvePoint> out;
  out.reserve(max_points);
  const std::size_t last = points.size() - 1;
  for (std::size_t i = 0; i < max_points; ++i) out.push_back(points[i * last / (max_points - 1)]);
  return out;
}

double ratio(double num, double den) { return den > 0.0 ? num / den : 0.0; }

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

ConfusionMatrix::ConfusionMatrix(std::span<const int> y_true, std::span<const int> y_pred,
                                 int n_classes) {
  check_sizes(y_true.size(), y_pred.size(), "predictions");
  int largest = -1;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    if (y_true[i] < 0 || y_pred[i] < 0) {
      throw core::Error(fmt::format("metrics: negative label at row {}", i));
    }
    largest = std::max({largest, y_true[i], y_pred[i]});
  }
  if (n_classes == 0) n_classes = largest + 1;
  if (largest >= n_classes) {
    throw core::Error(
        fmt::format("metrics: label {} is outside the {} classes expected", largest, n_classes));
  }
  n_ = std::max(n_classes, 0);
  counts_.assign(static_cast<std::size_t>(n_) * static_cast<std::size_t>(n_), 0);
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    ++counts_[static_cast<std::size_t>(y_true[i] * n_ + y_pred[i])];
  }
  total_ = static_cast<std::int64_t>(y_true.size());
}

std::int64_t ConfusionMatrix::support(int truth) const {
  std::int64_t s = 0;
  for (int p = 0; p < n_; ++p) s += at(truth, p);
  return s;
}

std::int64_t ConfusionMatrix::predicted(int label) const {
  std::int64_t s = 0;
  for (int t = 0; t < n_; ++t) s += at(t, label);
  return s;
}

ClassificationMetrics classification_metrics(const ConfusionMatrix& cm) {
  ClassificationMetrics m;
  m.per_class.resize(static_cast<std::size_t>(cm.n_classes()));
  std::int64_t correct = 0;
  for (int c = 0; c < cm.n_classes(); ++c) {
    const auto tp = static_cast<double>(cm.at(c, c));
    const auto support = cm.support(c);
    const auto predicted = cm.predicted(c);
    auto& pc = m.per_class[static_cast<std::size_t>(c)];
    pc.precision = ratio(tp, static_cast<double>(predicted));
    pc.recall = ratio(tp, static_cast<double>(support));
    pc.f1 = ratio(2.0 * tp, static_cast<double>(support + predicted));
    pc.support = support;
    correct += cm.at(c, c);
    if (cm.present(c)) m.labels.push_back(c);
  }
  m.accuracy = ratio(static_cast<double>(correct), static_cast<double>(cm.total()));
  for (const int c : m.labels) {
    const auto& pc = m.per_class[static_cast<std::size_t>(c)];
    const auto n = static_cast<double>(m.labels.size());
    const auto w = ratio(static_cast<double>(pc.support), static_cast<double>(cm.total()));
    m.macro.precision += pc.precision / n;
    m.macro.recall += pc.recall / n;
    m.macro.f1 += pc.f1 / n;
    m.weighted.precision += pc.precision * w;
    m.weighted.recall += pc.recall * w;
    m.weighted.f1 += pc.f1 * w;
  }
  m.macro.support = m.weighted.support = cm.total();
  return m;
}

std::string classification_report(std::span<const int> y_true, std::span<const int> y_pred,
                                  std::span<const std::string> class_names, int digits) {
  const ConfusionMatrix cm(y_true, y_pred,
                           class_names.empty() ? 0 : static_cast<int>(class_names.size()));
  const auto m = classification_metrics(cm);
  const auto name = [&](int label) {
    return class_names.empty() ? std::to_string(label)
                               : class_names[static_cast<std::size_t>(label)];
  };
  std::size_t width = std::string_view("weighted avg").size();
  for (const int c : m.labels) width = std::max(width, name(c).size());
  width = std::max(width, static_cast<std::size_t>(digits));

  std::string out = fmt::format("{:>{}} ", "", width);
  for (const char* h : {"precision", "recall", "f1-score", "support"}) {
    out += fmt::format(" {:>9}", h);
  }
  out += "\n\n";
  const auto row = [&](const std::string& heading, const ClassMetrics& cmx) {
    return fmt::format("{:>{}}  {:>9.{}f} {:>9.{}f} {:>9.{}f} {:>9}\n", heading, width,
                       cmx.precision, digits, cmx.recall, digits, cmx.f1, digits, cmx.support);
  };
  for (const int c : m.labels) out += row(name(c), m.per_class[static_cast<std::size_t>(c)]);
  out += "\n";
  out += fmt::format("{:>{}}  {:>9} {:>9} {:>9.{}f} {:>9}\n", "accuracy", width, "", "", m.accuracy,
                     digits, cm.total());
  out += row("macro avg", m.macro);
  out += row("weighted avg", m.weighted);
  return out;
}

double roc_auc(std::span<const int> y_true, std::span<const float> scores) {
  const auto c = binary_curve(y_true, scores);
  if (c.positives == 0.0 || c.negatives == 0.0) return kNaN;
  double area = 0.0;
  double prev_fp = 0.0;
  double prev_tp = 0.0;
  for (std::size_t k = 0; k < c.fps.size(); ++k) {
    area += (c.fps[k] - prev_fp) * (c.tps[k] + prev_tp) / 2.0;
    prev_fp = c.fps[k];
    prev_tp = c.tps[k];
  }
  return area / (c.positives * c.negatives);
}

double average_precision(std::span<const int> y_true, std::span<const float> scores) {
  const auto c = binary_curve(y_true, scores);
  if (c.positives == 0.0) return kNaN;
  double ap = 0.0;
  double prev_recall = 0.0;
  for (std::size_t k = 0; k < c.fps.size(); ++k) {
    const double recall = c.tps[k] / c.positives;
    ap += (recall - prev_recall) * c.tps[k] / (c.tps[k] + c.fps[k]);
    prev_recall = recall;
  }
  return ap;
}

double fpr_at_recall(std::span<const int> y_true, std::span<const float> scores, double recall) {
  const auto c = binary_curve(y_true, scores);
  if (c.positives == 0.0 || c.negatives == 0.0) return kNaN;
  // False positives only grow as the threshold loosens, so the first threshold reaching the
  // recall has the lowest FPR. The epsilon absorbs rounding in recall * positives.
  for (std::size_t k = 0; k < c.fps.size(); ++k) {
    if (c.tps[k] >= recall * c.positives - 1e-9) return c.fps[k] / c.negatives;
  }
  return 1.0;
}

std::vector<CurvePoint> roc_curve(std::span<const int> y_true, std::span<const float> scores,
                                  std::size_t max_points) {
  const auto c = binary_curve(y_true, scores);
  std::vector<CurvePoint> points;
  points.reserve(c.fps.size() + 1);
  points.push_back({0.0, 0.0, std::numeric_limits<double>::infinity()});
  for (std::size_t k = 0; k < c.fps.size(); ++k) {
    points.push_back({ratio(c.fps[k], c.negatives), ratio(c.tps[k], c.positives),
                      static_cast<double>(c.thresholds[k])});
  }
  return thin(std::move(points), max_points);
}

std::vector<CurvePoint> pr_curve(std::span<const int> y_true, std::span<const float> scores,
                                 std::size_t max_points) {
  const auto c = binary_curve(y_true, scores);
  std::vector<CurvePoint> points;
  points.reserve(c.fps.size() + 1);
  points.push_back({0.0, 1.0, std::numeric_limits<double>::infinity()});
  for (std::size_t k = 0; k < c.fps.size(); ++k) {
    points.push_back({ratio(c.tps[k], c.positives), c.tps[k] / (c.tps[k] + c.fps[k]),
                      static_cast<double>(c.thresholds[k])});
  }
  return thin(std::move(points), max_points);
}

nlohmann::json to_json(const std::vector<CurvePoint>& curve) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : curve) out.push_back({p.x, p.y, number_or_null(p.threshold)});
  return out;
}

ThresholdChoice best_f1_threshold(std::span<const int> y_true, std::span<const float> scores) {
  const auto c = binary_curve(y_true, scores);
  ThresholdChoice best;
  if (c.thresholds.empty()) return best;
  // Predicting nothing positive: threshold at the top score.
  best.threshold = c.thresholds.front();
  best.f1 = 0.0;
  for (std::size_t k = 0; k < c.thresholds.size(); ++k) {
    const double f1 = ratio(2.0 * c.tps[k], c.tps[k] + c.fps[k] + c.positives);
    if (f1 <= best.f1) continue;
    best.f1 = f1;
    const float here = c.thresholds[k];
    float t = k + 1 < c.thresholds.size()
                  ? static_cast<float>((static_cast<double>(here) + c.thresholds[k + 1]) / 2.0)
                  : here - std::max(1e-6f, std::abs(here) * 1e-6f);
    // Rounding can land the midpoint on `here`, which would exclude it under "score > t".
    if (t >= here) t = std::nextafter(here, -std::numeric_limits<float>::infinity());
    best.threshold = t;
  }
  return best;
}

BinaryEvaluation evaluate_binary(std::span<const int> y_true, std::span<const float> scores,
                                 float threshold) {
  check_sizes(y_true.size(), scores.size(), "scores");
  BinaryEvaluation e;
  e.threshold = threshold;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    const bool attack = y_true[i] == 1;
    const bool flagged = scores[i] > threshold;
    if (attack) {
      ++(flagged ? e.tp : e.fn);
    } else {
      ++(flagged ? e.fp : e.tn);
    }
  }
  const auto tp = static_cast<double>(e.tp);
  e.accuracy = ratio(tp + static_cast<double>(e.tn), static_cast<double>(y_true.size()));
  e.precision = ratio(tp, tp + static_cast<double>(e.fp));
  e.recall = ratio(tp, tp + static_cast<double>(e.fn));
  e.f1 = ratio(2.0 * tp, 2.0 * tp + static_cast<double>(e.fp + e.fn));
  e.roc_auc = roc_auc(y_true, scores);
  e.pr_auc = average_precision(y_true, scores);
  e.fpr_at_95_recall = fpr_at_recall(y_true, scores, 0.95);
  const double fpr = ratio(static_cast<double>(e.fp), static_cast<double>(e.fp + e.tn));
  e.fp_per_10k = 1e4 * fpr;
  e.precision_at_base_rate = precision_at_base_rate(e.recall, fpr);
  return e;
}

double precision_at_base_rate(double tpr, double fpr, double base_rate) {
  const double flagged = tpr * base_rate + fpr * (1.0 - base_rate);
  return flagged > 0.0 ? tpr * base_rate / flagged : std::nan("");
}

nlohmann::json to_json(const BinaryEvaluation& e) {
  return {
      {"threshold", e.threshold},
      {"accuracy", e.accuracy},
      {"precision", e.precision},
      {"recall", e.recall},
      {"f1", e.f1},
      {"roc_auc", number_or_null(e.roc_auc)},
      {"pr_auc", number_or_null(e.pr_auc)},
      {"confusion_matrix", {{e.tn, e.fp}, {e.fn, e.tp}}},
      {"fpr_at_95_recall", number_or_null(e.fpr_at_95_recall)},
      {"fp_per_10k", e.fp_per_10k},
      {"precision_at_base_rate", number_or_null(e.precision_at_base_rate)},
      {"base_rate", kRealisticBaseRate},
      {"support",
       {{"normal", e.tn + e.fp}, {"attack", e.fn + e.tp}, {"total", e.tn + e.fp + e.fn + e.tp}}},
  };
}

}  // namespace netsentry::ml
