// `netsentry evaluate`: score labelled data with a model bundle and report each model and the
// ensemble (text, --json, and --report DIR with plots and an HTML page).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>

#include "app/commands.h"
#include "app/evaluate_pcap.h"
#include "app/learning.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/signals.h"
#include "detect/forecast_detector.h"
#include "eval/evaluation.h"
#include "eval/report.h"
#include "ml/bundle.h"
#include "ml/torch_module.h"
#include "store/csv_writer.h"

namespace netsentry::app {
namespace {

// One row per record: its place (row in evaluate's time order, file and line of the input), label,
// class, then each model's score and the ensemble's, for analysis outside netsentry (threshold
// studies, joining with the input). Rows are scored in time order, which is not the order of a
// flows CSV (written as flows end), so a join must go by file and line, not by row.
void write_scores(const std::filesystem::path& path, const data::Dataset& ds,
                  const std::vector<eval::ScoredModel>& results) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw core::Error(fmt::format("--scores {}: cannot create the file", path.string()));
  out << "row,file,line,label,class";
  for (const auto& m : results) out << ',' << m.name;
  out << '\n';
  std::vector<std::string> files;
  files.reserve(ds.files.size());
  for (const auto& f : ds.files) {
    std::string field;
    store::append_csv_field(field, f);
    files.push_back(std::move(field));
  }
  for (std::size_t r = 0; r < ds.rows(); ++r) {
    const auto& o = ds.origin[r];
    out << r << ',' << files.at(o.file) << ',' << o.line << ',' << (ds.y.empty() ? -1 : ds.y[r])
        << ',';
    if (!ds.class_code.empty()) {
      std::string field;
      store::append_csv_field(field, ds.class_name(r));
      out << field;
    }
    // The shortest text that reads back as the same float: a threshold study needs the exact
    // value (six digits merged the Random Forest's benign scores with its lowest tail quantile).
    for (const auto& m : results) out << ',' << fmt::format("{}", m.scores[r]);
    out << '\n';
  }
  out.flush();
  if (!out) throw core::Error(fmt::format("--scores {}: write failed", path.string()));
}

// evaluate --traffic: the forecast detector and the median/MAD baseline on a labelled series.

nlohmann::json window_json(const detect::WindowEvaluation& e) {
  return {{"windows", e.windows},
          {"windows_detected", e.windows_detected},
          {"false_alarm_points", e.false_alarm_points},
          {"false_alarm_events", e.false_alarm_events},
          {"normal_points", e.normal_points},
          {"false_alarm_rate", e.false_alarm_rate}};
}

// Flags at or after `start`, re-based to the scored part.
std::vector<std::size_t> scored_flags(const detect::SeriesFlags& flags, std::size_t start) {
  std::vector<std::size_t> out;
  for (const std::size_t i : flags.indices) {
    if (i >= start) out.push_back(i - start);
  }
  return out;
}

int run_evaluate_traffic(const EvaluateOptions& o) {
  if (o.traffic_model.empty()) {
    throw core::Error("evaluate --traffic: give the forecaster with --traffic-model DIR");
  }
  if (!(o.traffic_probation >= 0 && o.traffic_probation < 1)) {
    throw core::Error(
        fmt::format("--traffic-probation must be in [0, 1), got {}", o.traffic_probation));
  }
  const detect::TrafficSeries series = detect::load_traffic_series(o.traffic, o.traffic_column);
  if (series.label_window.empty()) {
    throw core::Error(fmt::format(
        "{}: no label_window column; evaluate --traffic scores against NAB-style window labels",
        o.traffic.string()));
  }
  const std::shared_ptr<const ml::torch::TrafficForecaster> model =
      detect::load_traffic_model(o.traffic_model);

  detect::ForecastDetectorOptions options;
  if (series.format == "nab") {
    // NAB's values are 5-minute totals, not bytes/s: no absolute band floor, and the baseline
    // tuned for those series (tests/detect/volume_detector_test.cpp): 5-hour window, 2.5 h warm-up.
    options.min_band = 0;
    options.baseline.window = 60;
    options.baseline.warmup = 30;
    options.baseline.tail_factor = 1.2;
    options.baseline.min_band = 0;
  }
  const std::size_t n = series.values.size();
  const auto start = static_cast<std::size_t>(o.traffic_probation * static_cast<double>(n));
  const std::span<const int> labels = std::span<const int>(series.label_window).subspan(start);

  const auto t0 = std::chrono::steady_clock::now();
  const detect::SeriesFlags forecast_flags =
      detect::detect_forecast_anomalies(series.values, model, options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const detect::SeriesFlags baseline_flags =
      detect::detect_anomalies(series.values, options.baseline);
  const detect::WindowEvaluation forecast =
      detect::evaluate_windows(scored_flags(forecast_flags, start), labels);
  const detect::WindowEvaluation baseline =
      detect::evaluate_windows(scored_flags(baseline_flags, start), labels);

  if (o.json) {
    const nlohmann::json j = {{"file", o.traffic.string()},
                              {"format", series.format},
                              {"points", n},
                              {"scored_from", start},
                              {"window", model->window()},
                              {"band_quantile", model->band_quantile()},
                              {"forecast_seconds", seconds},
                              {"forecaster", window_json(forecast)},
                              {"baseline", window_json(baseline)}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("traffic evaluation of %s: %zu points, scored from point %zu\n",
                o.traffic.string().c_str(), n, start);
    std::printf("%-12s %9s %14s %12s %10s\n", "detector", "windows", "false alarms", "(points)",
                "FA rate");
    const std::pair<const char*, detect::WindowEvaluation> rows[] = {{"forecaster", forecast},
                                                                     {"baseline", baseline}};
    for (const auto& [name, e] : rows) {
      std::printf("%-12s %4zu/%-4zu %14zu %12zu %9.3f%%\n", name, e.windows_detected, e.windows,
                  e.false_alarm_events, e.false_alarm_points, 100 * e.false_alarm_rate);
    }
  }
  return 0;
}

// --- evaluate --pcap: a labelled capture replayed through monitor's engine ---

int run_evaluate_pcap(const EvaluateOptions& o) {
  if (o.labels.empty()) {
    throw core::Error("evaluate --pcap: give the capture's episodes with --labels labels.csv");
  }
  PcapEvaluationOptions options;
  options.pcap = o.pcap;
  options.labels = o.labels;
  options.out_dir = o.out_dir;
  options.detection = o.replay;
  options.detection.model = o.model.string();
  options.detection.threads = o.threads;
  core::StopSignals signals;
  const eval::PcapEvaluation result = evaluate_pcap(options, signals.token());
  const nlohmann::json j = eval::pcap_evaluation_json(result);
  if (!o.out_dir.empty()) {
    const auto path = o.out_dir / "evaluation.json";
    // Complete or not at all: never an empty evaluation.json.
    core::write_file_atomically(
        path, j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  }
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::fputs(eval::format_pcap_evaluation(result).c_str(), stdout);
  }
  return 0;
}

// evaluate --ablation: the bundle's fusion refitted on its stored validation scores (exactly as
// train fits it) without each model, and with each model alone, all scored on the data at hand.
struct AblationRow {
  std::string variant;
  std::vector<std::string> models;
  ml::BinaryEvaluation result;
};

std::vector<AblationRow> ablation(const ml::Bundle& bundle, const ml::ModelScores& scores,
                                  std::span<const int> y) {
  if (bundle.validation_scores.empty()) {
    throw core::Error(
        "--ablation: the bundle keeps no validation scores (trained before netsentry stored "
        "them): retrain it");
  }
  const std::vector<std::string> all = bundle.ensemble.models();
  std::vector<std::pair<std::string, std::vector<std::string>>> variants;
  variants.emplace_back("all models", all);
  if (all.size() > 1) {
    for (const auto& m : all) {
      std::vector<std::string> rest;
      for (const auto& n : all) {
        if (n != m) rest.push_back(n);
      }
      variants.emplace_back("without " + m, rest);
    }
    for (const auto& m : all) variants.emplace_back(m + " alone", std::vector<std::string>{m});
  }
  std::vector<AblationRow> out;
  for (const auto& [label, members] : variants) {
    ml::Ensemble e;
    ml::ModelScores validation, test;
    double weight = 0;
    for (const auto& m : members) {
      e.set_model_threshold(m, bundle.threshold(m));
      e.set_weight(m, bundle.ensemble.weight_of(m));
      weight += bundle.ensemble.weight_of(m);
      validation.emplace(m, bundle.validation_scores.at(m));
      test.emplace(m, scores.at(m));
    }
    // A variant whose members all have weight 0 in the bundle keeps them at weight 1: it asks
    // what they would add.
    if (!(weight > 0)) {
      for (const auto& m : members) e.set_weight(m, 1.0);
    }
    e.set_tail_alert_rate(bundle.ensemble.alert_rate());
    e.set_vote_quorum(bundle.ensemble.vote_quorum());
    e.fit(validation, bundle.validation_y);
    e.set_mode(bundle.ensemble.mode());
    if (bundle.ensemble.threshold_from_alert_rate()) {
      e.set_threshold_at_alert_rate(validation, bundle.validation_y, bundle.ensemble.alert_rate());
    }
    out.push_back({label, members, ml::evaluate_binary(y, e.score(test), e.threshold())});
  }
  return out;
}

std::string format_ablation(const std::vector<AblationRow>& rows, const ml::Bundle& bundle) {
  std::string out = fmt::format(
      "\nablation: the {} ensemble refitted on the bundle's validation scores for each set of "
      "models{}\n",
      ml::to_string(bundle.ensemble.mode()),
      bundle.ensemble.threshold_from_alert_rate()
          ? fmt::format(" (threshold at {:.3g} % of benign validation rows)",
                        100 * bundle.ensemble.alert_rate())
          : std::string());
  out += fmt::format("{:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}\n", "models", "accuracy",
                     "recall", "f1", "roc_auc", "FP/10k", "prec@1e-4");
  const auto num = [](double v, int d) {
    return std::isnan(v) ? std::string("n/a") : fmt::format("{:.{}f}", v, d);
  };
  for (const auto& r : rows) {
    const auto& e = r.result;
    out += fmt::format("{:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}\n", r.variant,
                       num(e.accuracy, 4), num(e.recall, 4), num(e.f1, 4), num(e.roc_auc, 4),
                       num(e.fp_per_10k, 1), num(e.precision_at_base_rate, 4));
  }
  return out;
}

}  // namespace

int run_evaluate(const EvaluateOptions& o, const std::string& command_line) {
  if (!o.traffic.empty()) return run_evaluate_traffic(o);
  if (!o.pcap.empty()) return run_evaluate_pcap(o);
  if (o.data.paths.empty() || o.model.empty()) {
    throw core::Error(
        "evaluate: give --data FILE and -m/--model DIR (or --traffic FILE --traffic-model DIR, "
        "or --pcap FILE --labels FILE)");
  }
  if (o.cascade && o.ablation) {
    throw core::Error(
        "evaluate: --cascade and --ablation cannot be combined (the ablation needs every model's "
        "score on every row)");
  }
  ml::Bundle bundle = ml::Bundle::load(o.model, o.threads);
  if (!o.ensemble.empty()) {
    const ml::EnsembleMode mode = ml::ensemble_mode_from_string(o.ensemble);
    bundle.ensemble.set_mode(mode);
    if (mode == ml::EnsembleMode::kMax && !bundle.ensemble.has_max_threshold()) {
      // A bundle from before the max mode: its normal-tail tables are there, only the threshold
      // is not; set it as train does, from the validation scores the bundle keeps.
      ml::ModelScores validation;
      for (const auto& m : bundle.ensemble.models()) {
        const auto it = bundle.validation_scores.find(m);
        if (it == bundle.validation_scores.end()) {
          throw core::Error(
              "evaluate --ensemble max: the bundle was trained before the max mode "
              "and keeps no validation scores of " +
              m + " to set its threshold from: retrain it");
        }
        validation.emplace(m, it->second);
      }
      bundle.ensemble.set_threshold_at_alert_rate(validation, bundle.validation_y,
                                                  bundle.ensemble.alert_rate());
      spdlog::info(
          "ensemble: the bundle was trained before the max mode; its threshold set where {:g} of "
          "the normal rows among the {} validation scores it keeps lie above it",
          bundle.ensemble.alert_rate(), bundle.validation_y.size());
    }
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
  ml::Bundle::CascadeStats cascade;
  ml::ModelScores scores =
      o.cascade ? bundle.score_cascade({x, ds.group, ds.sequences()}, &cascade, &model_seconds)
                : bundle.score({x, ds.group, ds.sequences()}, &model_seconds);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // A model the cascade skipped on some rows has no score there (NaN): no metrics of its own.
  std::vector<std::string> left_out;
  for (auto it = scores.begin(); it != scores.end();) {
    if (it->first != "ensemble" &&
        std::any_of(it->second.begin(), it->second.end(), [](float v) { return std::isnan(v); })) {
      left_out.push_back(it->first);
      it = scores.erase(it);
    } else {
      ++it;
    }
  }
  if (o.cascade) {
    spdlog::info("cascade: {} of {} rows reached the second stage{}{}", cascade.second_stage_rows,
                 cascade.rows, left_out.empty() ? "" : "; no per-model metrics for ",
                 fmt::format("{}", fmt::join(left_out, ", ")));
  }
  std::string split = fmt::format("preprocessing {:.3f} s", prep_seconds);
  for (const auto& [name, s] : model_seconds) split += fmt::format(", {} {:.3f} s", name, s);
  spdlog::info("scoring time: {}", split);
  spdlog::info("scored {} rows with {} models and the ensemble in {:.2f} s ({:.0f} rows/s)",
               ds.rows(), bundle.models.size(), seconds,
               static_cast<double>(ds.rows()) / std::max(seconds, 1e-9));
  const auto results = eval::evaluate_all(bundle, scores, ds.y);
  if (!o.scores_csv.empty()) write_scores(o.scores_csv, ds, results);
  std::vector<std::size_t> rows(ds.rows());
  std::iota(rows.begin(), rows.end(), 0);
  if (!o.report_dir.empty()) {
    eval::write_report(o.report_dir, eval::make_report(results, ds, rows, command_line));
    spdlog::info("report written to {}", (o.report_dir / "report.html").string());
  }
  std::vector<AblationRow> ablated;
  if (o.ablation) ablated = ablation(bundle, scores, ds.y);
  if (o.json) {
    auto j = eval::evaluation_json(results);
    if (o.ablation) {
      j["ablation"] = nlohmann::json::array();
      for (const auto& r : ablated) {
        auto row = ml::to_json(r.result);
        row["variant"] = r.variant;
        row["models"] = r.models;
        j["ablation"].push_back(std::move(row));
      }
    }
    j["rows"] = ds.rows();
    if (o.cascade) {
      j["cascade"] = {{"rows", cascade.rows},
                      {"second_stage_rows", cascade.second_stage_rows},
                      {"models_without_metrics", left_out}};
    }
    j["score_seconds"] = seconds;
    j["score_seconds_by_stage"] = model_seconds;
    j["score_seconds_by_stage"]["preprocessing"] = prep_seconds;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("evaluation of %s on %zu rows\n", o.model.string().c_str(), ds.rows());
    std::fputs(eval::format_evaluation(results, ds, rows).c_str(), stdout);
    if (o.ablation) std::fputs(format_ablation(ablated, bundle).c_str(), stdout);
  }
  return 0;
}

}  // namespace netsentry::app
