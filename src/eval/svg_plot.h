// Provides a small, dependency-free SVG chart writer for the evaluation report: line charts (ROC,
// PR, time series), overlaid two-group histograms (score distributions) and confusion-matrix
// heatmaps. Output is self-contained SVG (no scripts, fonts or external CSS) whose text and axes
// use `currentColor`, so an inlined chart follows the page's light/dark colour. Pure functions:
// safe to call from any thread.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace netsentry::eval::svg {

// Okabe-Ito colours, distinguishable with the common colour-vision deficiencies.
inline constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                           "#E69F00", "#56B4E9", "#F0E442", "#7F7F7F"};

enum class Corner { kTopLeft, kTopRight, kBottomLeft, kBottomRight };

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y); non-finite points are skipped
};

struct LineChart {
  std::string title{};
  std::string x_title{};
  std::string y_title{};
  std::vector<Series> series{};
  bool unit_axes = false;  // both axes fixed to [0, 1] (ROC, PR)
  bool diagonal = false;   // dashed y = x reference line (chance level of a ROC curve)
  Corner legend = Corner::kBottomRight;
  int width = 560;
  int height = 420;
};

// Two groups binned over one shared range so their bars line up; the spans must outlive the call.
struct Histogram {
  std::string title{};
  std::string x_title = "score";
  std::string y_title = "count";
  std::string name_a = "normal";
  std::string name_b = "attack";
  std::span<const float> values_a{};  // non-finite values are not counted
  std::span<const float> values_b{};
  int bins = 40;
  std::optional<double> threshold{};  // dashed vertical line, labelled with its value
  bool log_y = false;
  int width = 560;
  int height = 380;
};

// Square matrix counts[true][predicted]; colour is the row share so that rare classes stay visible.
struct Heatmap {
  std::string title{};
  std::string x_title = "predicted";
  std::string y_title = "true";
  std::vector<std::string> labels{};  // one per row and column
  std::vector<std::vector<long long>> counts{};
};

// Throws core::Error when the chart's data is inconsistent (e.g. a non-square heatmap).
[[nodiscard]] std::string line_chart(const LineChart& chart);
[[nodiscard]] std::string histogram(const Histogram& chart);
[[nodiscard]] std::string heatmap(const Heatmap& chart);

// ---- building blocks, exposed for the report and for tests ----

[[nodiscard]] std::string xml_escape(std::string_view text);

// An axis whose ends and ticks are round numbers (1, 2, 2.5 or 5 times a power of ten).
struct Axis {
  double lo = 0;
  double hi = 1;
  double step = 0.2;
  std::vector<double> ticks;  // lo, lo + step, ..., hi
};
// Covers [lo, hi] with about `target_ticks` ticks; a degenerate or non-finite range is widened.
[[nodiscard]] Axis nice_axis(double lo, double hi, int target_ticks = 6);
// Tick label with just enough decimals for `step`; large values use k/M suffixes ("1.5M").
[[nodiscard]] std::string tick_label(double value, double step);

struct Bins {
  double lo = 0;
  double width = 1;
  std::vector<long long> a;  // counts of group a per bin
  std::vector<long long> b;
};
// Equal-width bins over the finite values of both groups (and `include`, e.g. a threshold);
// the maximum lands in the last bin.
[[nodiscard]] Bins bin_values(std::span<const float> a, std::span<const float> b, int bins,
                              std::optional<double> include = std::nullopt);

}  // namespace netsentry::eval::svg
