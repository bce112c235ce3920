// Provides classification metrics with scikit-learn's definitions: confusion matrices (binary and
// multi-class), per-class precision/recall/F1, accuracy, macro/weighted averages, the
// `classification_report` text, ROC-AUC (exact, tie-aware), PR-AUC as average precision, FPR at a
// recall level, ROC/PR curve points for plots, and a JSON summary of a binary evaluation.
// Labels are non-negative ints; for binary metrics 1 = attack (positive), 0 = normal.
// Undefined values (ROC-AUC with one class present) are NaN, written to JSON as null.
// Thread rules: free functions over spans; no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <vector>

namespace netsentry::ml {

class ConfusionMatrix {
 public:
  // n_classes = 0: one more than the largest label seen. Throws core::Error on negative labels,
  // labels >= n_classes, or spans of different length.
  ConfusionMatrix(std::span<const int> y_true, std::span<const int> y_pred, int n_classes = 0);

  [[nodiscard]] int n_classes() const { return n_; }
  // Rows = true class, columns = predicted class (scikit-learn's layout).
  [[nodiscard]] std::int64_t at(int truth, int predicted) const {
    return counts_[static_cast<std::size_t>(truth * n_ + predicted)];
  }
  [[nodiscard]] std::int64_t total() const { return total_; }
  [[nodiscard]] std::int64_t support(int truth) const;    // rows with this true class
  [[nodiscard]] std::int64_t predicted(int label) const;  // rows predicted as this class
  [[nodiscard]] bool present(int label) const { return support(label) + predicted(label) > 0; }

 private:
  int n_ = 0;
  std::int64_t total_ = 0;
  std::vector<std::int64_t> counts_;
};

struct ClassMetrics {
  double precision = 0.0;  // 0 when nothing was predicted as the class (sklearn's zero_division)
  double recall = 0.0;
  double f1 = 0.0;
  std::int64_t support = 0;
};

struct ClassificationMetrics {
  std::vector<ClassMetrics> per_class;  // indexed by label; absent labels are all zero
  std::vector<int> labels;              // labels present in y_true or y_pred, ascending
  double accuracy = 0.0;
  ClassMetrics macro;     // unweighted mean over `labels`
  ClassMetrics weighted;  // mean weighted by support
};

[[nodiscard]] ClassificationMetrics classification_metrics(const ConfusionMatrix& cm);

// scikit-learn's classification_report text, byte for byte. `class_names[label]` names a class
// (default: the label number).
[[nodiscard]] std::string classification_report(std::span<const int> y_true,
                                                std::span<const int> y_pred,
                                                std::span<const std::string> class_names = {},
                                                int digits = 2);

// Area under the ROC curve; ties count half (trapezoids between distinct thresholds).
[[nodiscard]] double roc_auc(std::span<const int> y_true, std::span<const float> scores);
// Average precision: sum over thresholds of (R_k - R_{k-1}) * P_k, as average_precision_score.
[[nodiscard]] double average_precision(std::span<const int> y_true, std::span<const float> scores);
// The lowest false-positive rate of any threshold that reaches `recall` on the positives.
[[nodiscard]] double fpr_at_recall(std::span<const int> y_true, std::span<const float> scores,
                                   double recall = 0.95);

struct CurvePoint {
  double x = 0.0;          // ROC: false-positive rate; PR: recall
  double y = 0.0;          // ROC: true-positive rate; PR: precision
  double threshold = 0.0;  // rows with score >= threshold are positive (+inf for the first point)
};

// Points from the strictest threshold to the loosest, thinned evenly (keeping both ends) to at
// most `max_points`.
[[nodiscard]] std::vector<CurvePoint> roc_curve(std::span<const int> y_true,
                                                std::span<const float> scores,
                                                std::size_t max_points = 500);
[[nodiscard]] std::vector<CurvePoint> pr_curve(std::span<const int> y_true,
                                               std::span<const float> scores,
                                               std::size_t max_points = 500);
[[nodiscard]] nlohmann::json to_json(const std::vector<CurvePoint>& curve);

struct ThresholdChoice {
  float threshold = 0.5f;  // predict positive when score > threshold
  double f1 = 0.0;
};
// The threshold with the best F1 on (y_true, scores), halfway between neighbouring scores.
[[nodiscard]] ThresholdChoice best_f1_threshold(std::span<const int> y_true,
                                                std::span<const float> scores);

struct BinaryEvaluation {
  float threshold = 0.5f;
  double accuracy = 0.0;
  double precision = 0.0;  // of the attack class
  double recall = 0.0;
  double f1 = 0.0;
  double roc_auc = 0.0;
  double pr_auc = 0.0;
  double fpr_at_95_recall = 0.0;
  // What an operator sees: false positives per 10,000 benign rows, and the precision the same
  // detection and false-positive rates would have if only 1 row in 10,000 were an attack
  // (kRealisticBaseRate; a test set's class balance flatters precision by orders of magnitude).
  double fp_per_10k = 0.0;
  double precision_at_base_rate = 0.0;
  std::int64_t tn = 0, fp = 0, fn = 0, tp = 0;
};

inline constexpr double kRealisticBaseRate = 1e-4;
// TPR * b / (TPR * b + FPR * (1 - b)); NaN when both rates are 0.
[[nodiscard]] double precision_at_base_rate(double tpr, double fpr,
                                            double base_rate = kRealisticBaseRate);

// Predicted = score > threshold.
[[nodiscard]] BinaryEvaluation evaluate_binary(std::span<const int> y_true,
                                               std::span<const float> scores, float threshold);
// {threshold, accuracy, precision, recall, f1, roc_auc, pr_auc, confusion_matrix: [[tn, fp],
// [fn, tp]], fpr_at_95_recall, fp_per_10k, precision_at_base_rate, base_rate, support: {normal,
// attack, total}}
[[nodiscard]] nlohmann::json to_json(const BinaryEvaluation& e);

}  // namespace netsentry::ml
