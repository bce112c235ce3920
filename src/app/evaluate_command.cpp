// `netsentry evaluate`: score labelled data with a model bundle and report each model and the
// ensemble (text, --json, and --report DIR with plots and an HTML page).
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <numeric>

#include "app/commands.h"
#include "app/evaluation.h"
#include "app/learning.h"
#include "app/report.h"
#include "ml/bundle.h"
#ifdef NETSENTRY_HAVE_TORCH
#include "ml/torch/torch_models.h"
#endif

namespace netsentry::app {

int run_evaluate(const EvaluateOptions& o, const std::string& command_line) {
#ifdef NETSENTRY_HAVE_TORCH
  ml::torch::set_torch_threads(o.threads);
#endif
  const ml::Bundle bundle = ml::Bundle::load(o.model, o.threads);
  data::Dataset loaded = load_data(o.data, "evaluation data");
  const data::Dataset ds = loaded.select_rows(loaded.time_order());
  loaded = {};
  const auto t0 = std::chrono::steady_clock::now();
  const data::Matrix x = bundle.preprocessor.transform(ds);
  const auto scores = bundle.score(x, ds.group);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("scored {} rows with {} models and the ensemble in {:.2f} s ({:.0f} rows/s)",
               ds.rows(), bundle.models.size(), seconds,
               static_cast<double>(ds.rows()) / std::max(seconds, 1e-9));
  const auto results = evaluate_all(bundle, scores, ds.y);
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
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("evaluation of %s on %zu rows\n", o.model.string().c_str(), ds.rows());
    std::fputs(format_evaluation(results, ds, rows).c_str(), stdout);
  }
  return 0;
}

}  // namespace netsentry::app
