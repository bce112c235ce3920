// Provides the evaluation report written by `netsentry evaluate --report DIR`: one SVG per plot
// (confusion_<model>.svg, scores_<model>.svg, roc.svg, pr.svg) and a self-contained report.html
// (SVGs and CSS inlined, no scripts, no external links, light and dark colour schemes).
// write_report is a pure function of its input plus file I/O: call it from one thread per DIR.
#pragma once

#include <cstddef>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace netsentry::eval {

// One model's results on the evaluation set. Metrics that are undefined (e.g. ROC-AUC with a
// single class present) are NaN and shown as "n/a".
struct ModelEvaluation {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

  std::string name;  // "isolation_forest", "random_forest", "lstm", "autoencoder", "ensemble"
  double accuracy = kNaN;
  double precision = kNaN;
  double recall = kNaN;
  double f1 = kNaN;
  double roc_auc = kNaN;
  double pr_auc = kNaN;
  double fpr_at_95_recall = kNaN;
  std::vector<std::vector<long long>> confusion;  // [true][predicted]
  std::vector<std::string> confusion_labels;      // e.g. {"normal", "attack"} or class names
  std::vector<std::pair<double, double>> roc;     // (false positive rate, true positive rate)
  std::vector<std::pair<double, double>> pr;      // (recall, precision)
  std::vector<float> scores_normal;               // anomaly scores of normal rows
  std::vector<float> scores_attack;               // anomaly scores of attack rows
  double threshold = kNaN;                        // decision threshold on the score
  std::string classification_report;              // preformatted text, shown as is
};

struct EvaluationReport {
  std::string title = "netsentry evaluation";
  std::string command;       // the command line that produced the report
  std::string generated_at;  // empty = now, UTC
  std::vector<std::string> data_files;
  std::size_t rows = 0;
  std::vector<std::pair<std::string, std::size_t>> class_counts;  // (label, rows)
  std::vector<ModelEvaluation> models;
};

// Writes the SVGs and report.html into `dir`, creating it if needed and overwriting earlier
// files. Throws core::Error naming the path when the directory or a file cannot be written.
void write_report(const std::filesystem::path& dir, const EvaluationReport& report);

// The file-name stem used for a model's plots: letters, digits, '-' and '_' kept, anything else
// becomes '_' ("<script>" -> "_script_"); an empty name becomes "model".
[[nodiscard]] std::string file_stem(std::string_view model_name);

}  // namespace netsentry::eval
