// Provides the evaluation shared by `train` (on its test split) and `evaluate` (on given data):
// per-model and ensemble metrics from scores, the text report (scikit-learn-style classification
// report, confusion matrix, ROC-AUC, PR-AUC, FPR at 95 % recall, per-attack-class detection), the
// JSON object {"models": {...}}, and the input of the HTML/SVG report.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "eval/report.h"
#include "ml/bundle.h"
#include "ml/metrics.h"

namespace netsentry::eval {

struct ScoredModel {
  std::string name;
  ml::BinaryEvaluation result;
  std::vector<float> scores;
  std::vector<int> predicted;
};

// Evaluates every entry of `scores` (models then "ensemble") against `y` with the bundle's
// thresholds.
[[nodiscard]] std::vector<ScoredModel> evaluate_all(const ml::Bundle& bundle,
                                                    const ml::ModelScores& scores,
                                                    std::span<const int> y);

// Human-readable report; `data` supplies multi-class names for per-class detection rates.
[[nodiscard]] std::string format_evaluation(const std::vector<ScoredModel>& models,
                                            const data::Dataset& data,
                                            std::span<const std::size_t> rows);
[[nodiscard]] nlohmann::json evaluation_json(const std::vector<ScoredModel>& models);
[[nodiscard]] EvaluationReport make_report(const std::vector<ScoredModel>& models,
                                           const data::Dataset& data,
                                           std::span<const std::size_t> rows,
                                           const std::string& command);

}  // namespace netsentry::eval
