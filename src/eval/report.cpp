#include "eval/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <system_error>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/time_format.h"
#include "eval/svg_plot.h"

namespace netsentry::eval {
namespace {

void write_file(const std::filesystem::path& path, std::string_view content) {
  // Each report file is complete or absent (a full disk never leaves half an SVG).
  core::write_file_atomically(path, content);
}

std::string metric(double v) { return std::isfinite(v) ? fmt::format("{:.4f}", v) : "n/a"; }

// Class imbalance (thousands of normal rows, dozens of attacks) hides the minority on a linear
// axis; switch to log counts when the tallest bin dwarfs the smallest non-empty one.
bool wants_log_counts(const ModelEvaluation& m, int bins) {
  const svg::Bins b = svg::bin_values(m.scores_normal, m.scores_attack, bins);
  long long peak = 0, smallest = 0;
  for (const auto* counts : {&b.a, &b.b}) {
    for (long long n : *counts) {
      if (n == 0) continue;
      peak = std::max(peak, n);
      smallest = smallest == 0 ? n : std::min(smallest, n);
    }
  }
  return smallest > 0 && peak > 50 * smallest;
}

std::string roc_svg(const EvaluationReport& r) {
  svg::LineChart chart{.title = "ROC curve",
                       .x_title = "false positive rate",
                       .y_title = "true positive rate",
                       .unit_axes = true,
                       .diagonal = true,
                       .legend = svg::Corner::kBottomRight};
  for (const auto& m : r.models) {
    chart.series.push_back({fmt::format("{} (AUC {})", m.name, metric(m.roc_auc)), m.roc});
  }
  return svg::line_chart(chart);
}

std::string pr_svg(const EvaluationReport& r) {
  svg::LineChart chart{.title = "Precision-recall curve",
                       .x_title = "recall",
                       .y_title = "precision",
                       .unit_axes = true,
                       .legend = svg::Corner::kBottomLeft};
  for (const auto& m : r.models) {
    chart.series.push_back({fmt::format("{} (AUC {})", m.name, metric(m.pr_auc)), m.pr});
  }
  return svg::line_chart(chart);
}

std::string scores_svg(const ModelEvaluation& m) {
  constexpr int kBins = 40;
  svg::Histogram chart{.title = fmt::format("{}: score distribution", m.name),
                       .x_title = "anomaly score",
                       .values_a = m.scores_normal,
                       .values_b = m.scores_attack,
                       .bins = kBins,
                       .log_y = wants_log_counts(m, kBins)};
  if (std::isfinite(m.threshold)) chart.threshold = m.threshold;
  return svg::histogram(chart);
}

std::string confusion_svg(const ModelEvaluation& m) {
  return svg::heatmap(svg::Heatmap{.title = fmt::format("{}: confusion matrix", m.name),
                                   .labels = m.confusion_labels,
                                   .counts = m.confusion});
}

constexpr std::string_view kStyle = R"(
:root{color-scheme:light dark;--bg:#f6f8fa;--card:#ffffff;--fg:#1f2328;--muted:#59636e;
--border:#d1d9e0;--accent:#0969da;--bar:#0072b2}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--fg:#e6edf3;--muted:#9198a1;
--border:#3d444d;--accent:#4493f8;--bar:#56b4e9}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.5 system-ui,-apple-system,"Segoe UI","DejaVu Sans",Helvetica,Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:0 0 12px}h3{font-size:15px;margin:16px 0 6px}
.meta{color:var(--muted);margin:0}.meta code{overflow-wrap:anywhere}
section{background:var(--card);border:1px solid var(--border);border-radius:8px;padding:18px 20px;
margin:18px 0}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;border-bottom:1px solid var(--border);text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
thead th{color:var(--muted);font-weight:600;font-size:13px}
td.best{font-weight:700;color:var(--accent)}
.scroll{overflow-x:auto}
.share{display:inline-block;height:9px;background:var(--bar);border-radius:2px;vertical-align:middle}
.plots{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure{margin:0;flex:1 1 440px;min-width:0;text-align:center}
figure svg{max-width:100%;height:auto;color:var(--fg)}
svg .ns-bg{fill:var(--card)}svg .ns-cell{stroke:var(--card)}
pre{background:var(--bg);border:1px solid var(--border);border-radius:6px;padding:12px;
overflow-x:auto;font:13px/1.45 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
ul.files{margin:0 0 10px;padding-left:20px}ul.files code{overflow-wrap:anywhere}
.note{color:var(--muted)}
)";

void metrics_table(std::string& out, const EvaluationReport& r) {
  struct Column {
    std::string_view title;
    double ModelEvaluation::*field;
    bool lower_is_better;
  };
  static constexpr Column kColumns[] = {
      {"accuracy", &ModelEvaluation::accuracy, false},
      {"precision", &ModelEvaluation::precision, false},
      {"recall", &ModelEvaluation::recall, false},
      {"F1", &ModelEvaluation::f1, false},
      {"ROC-AUC", &ModelEvaluation::roc_auc, false},
      {"PR-AUC", &ModelEvaluation::pr_auc, false},
      {"FPR @ 95% recall", &ModelEvaluation::fpr_at_95_recall, true},
  };
  auto o = std::back_inserter(out);
  fmt::format_to(o, "<div class=\"scroll\"><table><thead><tr><th>model</th>");
  for (const auto& c : kColumns) fmt::format_to(o, "<th>{}</th>", svg::xml_escape(c.title));
  fmt::format_to(o, "<th>threshold</th></tr></thead><tbody>");
  for (const auto& m : r.models) {
    fmt::format_to(o, "<tr><td>{}</td>", svg::xml_escape(m.name));
    for (const auto& c : kColumns) {
      const double v = m.*c.field;
      // Highlighting only means something when there is more than one model to compare.
      bool best = r.models.size() > 1 && std::isfinite(v);
      for (const auto& other : r.models) {
        const double w = other.*c.field;
        if (std::isfinite(w) && (c.lower_is_better ? w < v : w > v)) best = false;
      }
      fmt::format_to(o, "<td{}>{}</td>", best ? " class=\"best\"" : "", metric(v));
    }
    fmt::format_to(o, "<td>{}</td></tr>",
                   std::isfinite(m.threshold) ? fmt::format("{:.4g}", m.threshold) : "n/a");
  }
  fmt::format_to(o, "</tbody></table></div>");
}

void dataset_section(std::string& out, const EvaluationReport& r) {
  auto o = std::back_inserter(out);
  fmt::format_to(o, "<section><h2>Dataset</h2><p>{} rows from {} file{}:</p><ul class=\"files\">",
                 r.rows, r.data_files.size(), r.data_files.size() == 1 ? "" : "s");
  for (const auto& f : r.data_files)
    fmt::format_to(o, "<li><code>{}</code></li>", svg::xml_escape(f));
  fmt::format_to(o, "</ul>");
  if (!r.class_counts.empty()) {
    std::size_t total = 0;
    for (const auto& [label, n] : r.class_counts) total += n;
    fmt::format_to(o,
                   "<div class=\"scroll\"><table><thead><tr><th>class</th><th>rows</th>"
                   "<th>share</th><th></th></tr></thead><tbody>");
    for (const auto& [label, n] : r.class_counts) {
      const double share =
          total > 0 ? 100.0 * static_cast<double>(n) / static_cast<double>(total) : 0;
      fmt::format_to(o,
                     "<tr><td>{}</td><td>{}</td><td>{:.2f}%</td><td style=\"width:40%;text-align:"
                     "left\"><span class=\"share\" style=\"width:{:.1f}%\"></span></td></tr>",
                     svg::xml_escape(label), n, share, std::max(share, 0.5));
    }
    fmt::format_to(o, "</tbody></table></div>");
  }
  fmt::format_to(o, "</section>");
}

}  // namespace

std::string file_stem(std::string_view model_name) {
  std::string stem;
  for (char ch : model_name) {
    const bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
    stem += keep ? ch : '_';
  }
  return stem.empty() ? "model" : stem;
}

void write_report(const std::filesystem::path& dir, const EvaluationReport& r) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir, ec)) {
    throw core::Error(fmt::format("cannot create report directory {}: {}", dir.string(),
                                  ec ? ec.message() : "not a directory"));
  }

  const std::string roc = roc_svg(r);
  const std::string pr = pr_svg(r);
  write_file(dir / "roc.svg", roc);
  write_file(dir / "pr.svg", pr);

  std::string body;
  auto o = std::back_inserter(body);
  std::set<std::string> used_stems;
  for (const auto& m : r.models) {
    // Two models whose names map to one stem must not overwrite each other's plots.
    std::string stem = file_stem(m.name);
    for (int i = 2; used_stems.contains(stem); ++i)
      stem = fmt::format("{}-{}", file_stem(m.name), i);
    used_stems.insert(stem);

    const std::string confusion = confusion_svg(m);
    const std::string scores = scores_svg(m);
    write_file(dir / fmt::format("confusion_{}.svg", stem), confusion);
    write_file(dir / fmt::format("scores_{}.svg", stem), scores);

    fmt::format_to(o,
                   "<section><h2>{}</h2><div class=\"plots\"><figure>{}</figure><figure>{}"
                   "</figure></div>",
                   svg::xml_escape(m.name), confusion, scores);
    if (!m.classification_report.empty()) {
      fmt::format_to(o, "<h3>Classification report</h3><pre>{}</pre>",
                     svg::xml_escape(m.classification_report));
    }
    fmt::format_to(o, "</section>");
  }

  std::string html;
  auto h = std::back_inserter(html);
  const std::string title = svg::xml_escape(r.title);
  fmt::format_to(h,
                 "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>"
                 "<meta name=\"color-scheme\" content=\"light dark\"/>"
                 "<title>{}</title><style>{}</style></head><body><main>",
                 title, kStyle);
  fmt::format_to(h, "<header><h1>{}</h1><p class=\"meta\">Generated {}", title,
                 svg::xml_escape(r.generated_at.empty() ? core::format_utc_now() : r.generated_at));
  if (!r.command.empty()) fmt::format_to(h, " by <code>{}</code>", svg::xml_escape(r.command));
  fmt::format_to(h, "</p></header>");

  fmt::format_to(h, "<section><h2>Metrics</h2>");
  if (r.models.empty()) {
    fmt::format_to(h, "<p class=\"note\">No models were evaluated.</p>");
  } else {
    metrics_table(html, r);
    fmt::format_to(h,
                   "<p class=\"note\">Best value per column in bold. FPR @ 95% recall is the "
                   "share of normal rows flagged when the threshold catches 95% of attacks.</p>");
  }
  fmt::format_to(h, "</section>");
  dataset_section(html, r);
  fmt::format_to(h,
                 "<section><h2>ROC and precision-recall</h2><div class=\"plots\"><figure>{}"
                 "</figure><figure>{}</figure></div></section>",
                 roc, pr);
  html += body;
  fmt::format_to(h, "</main></body></html>\n");
  write_file(dir / "report.html", html);
}

}  // namespace netsentry::eval
