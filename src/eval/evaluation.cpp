#include "eval/evaluation.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

namespace netsentry::eval {

std::vector<ScoredModel> evaluate_all(const ml::Bundle& bundle, const ml::ModelScores& scores,
                                      std::span<const int> y) {
  std::vector<ScoredModel> out;
  auto add = [&](const std::string& name) {
    auto it = scores.find(name);
    if (it == scores.end()) return;
    ScoredModel m;
    m.name = name;
    m.scores = it->second;
    const float threshold = bundle.threshold(name);
    m.result = ml::evaluate_binary(y, m.scores, threshold);
    m.predicted.resize(m.scores.size());
    for (std::size_t i = 0; i < m.scores.size(); ++i)
      m.predicted[i] = m.scores[i] > threshold ? 1 : 0;
    out.push_back(std::move(m));
  };
  for (const auto& name : bundle.model_names()) add(name);
  add("ensemble");
  return out;
}

namespace {

std::string number(double v, int digits = 4) {
  return std::isnan(v) ? std::string("n/a") : fmt::format("{:.{}f}", v, digits);
}

}  // namespace

std::string format_evaluation(const std::vector<ScoredModel>& models, const data::Dataset& data,
                              std::span<const std::size_t> rows) {
  std::string out;
  auto it = std::back_inserter(out);
  std::vector<int> y(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) y[i] = data.y[rows[i]];
  const std::vector<std::string> names = {"normal", "attack"};
  for (const auto& m : models) {
    const auto& e = m.result;
    fmt::format_to(it, "\n=== {} (threshold {:.4g})\n", m.name, e.threshold);
    out += ml::classification_report(y, m.predicted, names, 4);
    fmt::format_to(it, "\nconfusion matrix (rows = true, columns = predicted)\n");
    fmt::format_to(it, "{:>10} {:>10} {:>10}\n", "", "normal", "attack");
    fmt::format_to(it, "{:>10} {:>10} {:>10}\n", "normal", e.tn, e.fp);
    fmt::format_to(it, "{:>10} {:>10} {:>10}\n", "attack", e.fn, e.tp);
    fmt::format_to(it, "ROC-AUC {}   PR-AUC {}   FPR at 95% recall {}\n", number(e.roc_auc),
                   number(e.pr_auc), number(e.fpr_at_95_recall));
    fmt::format_to(it,
                   "false positives per 10,000 benign rows {}   precision at 1 attack row in "
                   "10,000 {}\n",
                   number(e.fp_per_10k, 1), number(e.precision_at_base_rate));
  }
  // Detection per attack class for the ensemble: which kinds of attack it misses.
  if (!models.empty() && !data.class_code.empty()) {
    const auto& ens = models.back();
    std::map<std::string, std::pair<std::size_t, std::size_t>> per_class;  // name -> (flagged, n)
    for (std::size_t i = 0; i < rows.size(); ++i) {
      auto& c = per_class[std::string(data.class_name(rows[i]))];
      c.first += static_cast<std::size_t>(ens.predicted[i]);
      ++c.second;
    }
    fmt::format_to(it, "\n{} flags, per class (share of rows flagged as attack):\n", ens.name);
    for (const auto& [name, c] : per_class) {
      fmt::format_to(it, "  {:<28} {:>7.2f}%  ({} of {})\n", name,
                     100.0 * static_cast<double>(c.first) / static_cast<double>(c.second), c.first,
                     c.second);
    }
  }
  // One summary table.
  fmt::format_to(it, "\n{:<18} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}\n", "model",
                 "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "fpr@95", "FP/10k",
                 "prec@1e-4");
  for (const auto& m : models) {
    const auto& e = m.result;
    fmt::format_to(it, "{:<18} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}\n", m.name,
                   number(e.accuracy), number(e.precision), number(e.recall), number(e.f1),
                   number(e.roc_auc), number(e.pr_auc), number(e.fpr_at_95_recall),
                   number(e.fp_per_10k, 1), number(e.precision_at_base_rate));
  }
  return out;
}

nlohmann::json evaluation_json(const std::vector<ScoredModel>& models) {
  nlohmann::json j;
  j["models"] = nlohmann::json::object();
  for (const auto& m : models) j["models"][m.name] = ml::to_json(m.result);
  return j;
}

EvaluationReport make_report(const std::vector<ScoredModel>& models, const data::Dataset& data,
                             std::span<const std::size_t> rows, const std::string& command) {
  EvaluationReport r;
  r.command = command;
  r.data_files = data.files;
  r.rows = rows.size();
  std::vector<int> y(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) y[i] = data.y[rows[i]];
  if (!data.class_code.empty()) {
    std::map<std::string, std::size_t> counts;
    for (auto row : rows) ++counts[std::string(data.class_name(row))];
    for (const auto& [name, n] : counts) r.class_counts.emplace_back(name, n);
  }
  const std::vector<std::string> names = {"normal", "attack"};
  for (const auto& m : models) {
    ModelEvaluation e;
    e.name = m.name;
    e.accuracy = m.result.accuracy;
    e.precision = m.result.precision;
    e.recall = m.result.recall;
    e.f1 = m.result.f1;
    e.roc_auc = m.result.roc_auc;
    e.pr_auc = m.result.pr_auc;
    e.fpr_at_95_recall = m.result.fpr_at_95_recall;
    e.threshold = m.result.threshold;
    e.confusion = {{m.result.tn, m.result.fp}, {m.result.fn, m.result.tp}};
    e.confusion_labels = names;
    for (const auto& p : ml::roc_curve(y, m.scores)) e.roc.emplace_back(p.x, p.y);
    for (const auto& p : ml::pr_curve(y, m.scores)) e.pr.emplace_back(p.x, p.y);
    for (std::size_t i = 0; i < y.size(); ++i) {
      (y[i] ? e.scores_attack : e.scores_normal).push_back(m.scores[i]);
    }
    e.classification_report = ml::classification_report(y, m.predicted, names, 4);
    r.models.push_back(std::move(e));
  }
  return r;
}

}  // namespace netsentry::eval
