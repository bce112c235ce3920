// `netsentry evaluate`: score labelled data with a model bundle and report each model and the
// ensemble (text, --json, and --report DIR with plots and an HTML page).
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <map>
#include <cstdio>
#include <numeric>

#include "app/commands.h"
#include "app/evaluation.h"
#include "app/learning.h"
#include "app/report.h"
#include "core/error.h"
#include "store/csv_writer.h"
#include "ml/bundle.h"
#include "ml/torch_module.h"

namespace netsentry::app {
namespace {

// One row per record: label, class, then each model's score and the ensemble's, for analysis
// outside netsentry (threshold studies, joining with the input).
void write_scores(const std::filesystem::path& path, const data::Dataset& ds,
                  const std::vector<ScoredModel>& results) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw core::Error(fmt::format("--scores {}: cannot create the file", path.string()));
  out << "row,label,class";
  for (const auto& m : results) out << ',' << m.name;
  out << '\n';
  for (std::size_t r = 0; r < ds.rows(); ++r) {
    out << r << ',' << (ds.y.empty() ? -1 : ds.y[r]) << ',';
    if (!ds.class_code.empty()) {
      std::string field;
      store::append_csv_field(field, ds.class_name(r));
      out << field;
    }
    for (const auto& m : results) out << ',' << fmt::format("{:.6g}", m.scores[r]);
    out << '\n';
  }
  out.flush();
  if (!out) throw core::Error(fmt::format("--scores {}: write failed", path.string()));
}

}  // namespace

int run_evaluate(const EvaluateOptions& o, const std::string& command_line) {
  ml::Bundle bundle = ml::Bundle::load(o.model, o.threads);
  if (!o.ensemble.empty()) {
    bundle.ensemble.set_mode(ml::ensemble_mode_from_string(o.ensemble));
    spdlog::info("ensemble: scoring with mode {} (threshold {:.4f}) instead of the bundle's",
                 o.ensemble, bundle.ensemble.threshold());
  }
  data::Dataset loaded = load_data(o.data, "evaluation data");
  const data::Dataset ds = loaded.select_rows(loaded.time_order());
  loaded = {};
  const auto t0 = std::chrono::steady_clock::now();
  const data::Matrix x = bundle.preprocessor.transform(ds);
  const double prep_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::map<std::string, double> model_seconds;
  const auto scores = bundle.score(x, ds.group, &model_seconds);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string split = fmt::format("preprocessing {:.3f} s", prep_seconds);
  for (const auto& [name, s] : model_seconds) split += fmt::format(", {} {:.3f} s", name, s);
  spdlog::info("scoring time: {}", split);
  spdlog::info("scored {} rows with {} models and the ensemble in {:.2f} s ({:.0f} rows/s)",
               ds.rows(), bundle.models.size(), seconds,
               static_cast<double>(ds.rows()) / std::max(seconds, 1e-9));
  const auto results = evaluate_all(bundle, scores, ds.y);
  if (!o.scores_csv.empty()) write_scores(o.scores_csv, ds, results);
  std::vector<std::size_t> rows(ds.rows());
  std::iota(rows.begin(), rows.end(), 0);
  if (!o.report_dir.empty()) {
    write_report(o.report_dir, make_report(results, ds, rows, command_line));
    spdlog::info("report written to {}", (o.report_dir / "report.html").string());
  }
  if (o.json) {
    auto j = evaluation_json(results);
    j["rows"] = ds.rows();
    j["score_seconds"] = seconds;
    j["score_seconds_by_stage"] = model_seconds;
    j["score_seconds_by_stage"]["preprocessing"] = prep_seconds;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("evaluation of %s on %zu rows\n", o.model.string().c_str(), ds.rows());
    std::fputs(format_evaluation(results, ds, rows).c_str(), stdout);
  }
  return 0;
}

}  // namespace netsentry::app
