#include "eval/svg_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <limits>

#include "core/error.h"

namespace netsentry::eval::svg {
namespace {

constexpr double kTitleSize = 16;
constexpr double kAxisTitleSize = 13.5;
constexpr double kTickSize = 12;
// DejaVu Sans / system-ui average glyph width per font size; used only to size boxes and margins.
constexpr double kCharWidth = 0.6;

double text_width(std::string_view text, double size) {
  return static_cast<double>(text.size()) * size * kCharWidth;
}

// Appends SVG elements to one string; every piece of caller text goes through xml_escape.
class Canvas {
 public:
  Canvas(int width, int height, std::string_view title) {
    put(R"(<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="{}" height="{}" )"
        R"(font-family="system-ui, 'DejaVu Sans', 'Segoe UI', Helvetica, Arial, sans-serif" )"
        R"(color="#1f2328" role="img" aria-label="{}">)",
        width, height, width, height, xml_escape(title));
    put("<title>{}</title>", xml_escape(title));
    // Class lets an embedding page recolour the background for dark mode; the attribute is the
    // default for a standalone file.
    put(R"(<rect class="ns-bg" width="{}" height="{}" fill="#ffffff"/>)", width, height);
    if (!title.empty()) {
      text(width / 2.0, 24, title, kTitleSize, "middle", R"( font-weight="600")");
    }
  }

  template <typename... Args>
  void put(fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out_), format, std::forward<Args>(args)...);
  }

  void text(double x, double y, std::string_view content, double size, std::string_view anchor,
            std::string_view extra = {}) {
    put(R"(<text x="{:.1f}" y="{:.1f}" font-size="{}" text-anchor="{}" fill="currentColor"{}>{})"
        "</text>",
        x, y, size, anchor, extra, xml_escape(content));
  }

  void line(double x1, double y1, double x2, double y2, std::string_view stroke,
            std::string_view extra = {}) {
    put(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}"{}/>)", x1, y1, x2, y2,
        stroke, extra);
  }

  std::string finish() && {
    out_ += "</svg>\n";
    return std::move(out_);
  }

 private:
  std::string out_;
};

// Maps data coordinates into a plot rectangle (pixels, y down).
struct Frame {
  double left, top, right, bottom;
  Axis x, y;
  double px(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * (right - left); }
  double py(double v) const { return bottom - (v - y.lo) / (y.hi - y.lo) * (bottom - top); }
};

// Grid, frame, tick labels and axis titles. `y_labels` overrides the tick text (log axes).
void draw_axes(Canvas& c, const Frame& f, std::string_view x_title, std::string_view y_title,
               const std::vector<std::string>& y_labels = {}) {
  for (double t : f.x.ticks) {
    const double x = f.px(t);
    c.line(x, f.top, x, f.bottom, "currentColor", R"( stroke-opacity="0.12")");
    c.line(x, f.bottom, x, f.bottom + 4, "currentColor", R"( stroke-opacity="0.6")");
    c.text(x, f.bottom + 18, tick_label(t, f.x.step), kTickSize, "middle");
  }
  for (std::size_t i = 0; i < f.y.ticks.size(); ++i) {
    const double y = f.py(f.y.ticks[i]);
    c.line(f.left, y, f.right, y, "currentColor", R"( stroke-opacity="0.12")");
    c.line(f.left - 4, y, f.left, y, "currentColor", R"( stroke-opacity="0.6")");
    const std::string label =
        i < y_labels.size() ? y_labels[i] : tick_label(f.y.ticks[i], f.y.step);
    c.text(f.left - 7, y + 4, label, kTickSize, "end");
  }
  c.put(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="none" )"
        R"(stroke="currentColor" stroke-opacity="0.6"/>)",
        f.left, f.top, f.right - f.left, f.bottom - f.top);
  c.text((f.left + f.right) / 2, f.bottom + 40, x_title, kAxisTitleSize, "middle");
  const double yx = 16;
  const double yy = (f.top + f.bottom) / 2;
  c.text(yx, yy, y_title, kAxisTitleSize, "middle",
         fmt::format(" transform=\"rotate(-90 {:.1f} {:.1f})\"", yx, yy));
}

struct LegendEntry {
  std::string name;
  std::string colour;
  bool filled = false;  // swatch is a box (histogram) rather than a line
};

void draw_legend(Canvas& c, const Frame& f, const std::vector<LegendEntry>& entries,
                 Corner corner) {
  if (entries.empty()) return;
  constexpr double kRow = 19;
  double widest = 0;
  for (const auto& e : entries) widest = std::max(widest, text_width(e.name, kTickSize));
  const double w = widest + 38;
  const double h = kRow * static_cast<double>(entries.size()) + 8;
  const bool left = corner == Corner::kTopLeft || corner == Corner::kBottomLeft;
  const bool top = corner == Corner::kTopLeft || corner == Corner::kTopRight;
  const double x = left ? f.left + 10 : f.right - 10 - w;
  const double y = top ? f.top + 10 : f.bottom - 10 - h;
  c.put(R"(<g class="legend"><rect class="ns-bg" x="{:.1f}" y="{:.1f}" width="{:.1f}" )"
        R"(height="{:.1f}" rx="4" fill="#ffffff" fill-opacity="0.9" stroke="currentColor" )"
        R"(stroke-opacity="0.25"/>)",
        x, y, w, h);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const double row = y + 4 + kRow * (static_cast<double>(i) + 0.5);
    if (entries[i].filled) {
      c.put(R"(<rect x="{:.1f}" y="{:.1f}" width="18" height="10" fill="{}" fill-opacity="0.6"/>)",
            x + 8, row - 5, entries[i].colour);
    } else {
      c.line(x + 8, row, x + 26, row, entries[i].colour, R"( stroke-width="2.5")");
    }
    c.text(x + 32, row + 4, entries[i].name, kTickSize, "start");
  }
  c.put("</g>");
}

std::string no_data(int width, int height, std::string_view title) {
  Canvas c(width, height, title);
  c.text(width / 2.0, height / 2.0, "no data", kAxisTitleSize, "middle", R"( fill-opacity="0.6")");
  return std::move(c).finish();
}

std::string group_thousands(long long n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

struct Rgb {
  double r, g, b;
};

// ColorBrewer "Blues": sequential, single hue, readable for every colour-vision type.
Rgb sequential_colour(double t) {
  static constexpr std::array<Rgb, 5> kStops = {Rgb{247, 251, 255}, Rgb{198, 219, 239},
                                                Rgb{107, 174, 214}, Rgb{33, 113, 181},
                                                Rgb{8, 48, 107}};
  t = std::clamp(t, 0.0, 1.0) * static_cast<double>(kStops.size() - 1);
  const auto i = std::min(static_cast<std::size_t>(t), kStops.size() - 2);
  const double u = t - static_cast<double>(i);
  const Rgb& a = kStops[i];
  const Rgb& b = kStops[i + 1];
  return {a.r + (b.r - a.r) * u, a.g + (b.g - a.g) * u, a.b + (b.b - a.b) * u};
}

std::string hex(const Rgb& c) {
  return fmt::format("#{:02x}{:02x}{:02x}", static_cast<int>(std::lround(c.r)),
                     static_cast<int>(std::lround(c.g)), static_cast<int>(std::lround(c.b)));
}

bool is_dark(const Rgb& c) { return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b < 140; }

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // Control characters other than tab/newline are not allowed in XML 1.0 at all.
        if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') {
          out += ' ';
        } else {
          out += ch;
        }
    }
  }
  return out;
}

Axis nice_axis(double lo, double hi, int target_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (lo > hi) std::swap(lo, hi);
  if (hi - lo <= 1e-12 * std::max(1.0, std::abs(lo))) {
    const double pad = lo == 0 ? 0.5 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target_ticks - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  constexpr double kEps = 1e-9;
  const double nice = f <= 1 + kEps     ? 1
                      : f <= 2 + kEps   ? 2
                      : f <= 2.5 + kEps ? 2.5
                      : f <= 5 + kEps   ? 5
                                        : 10;
  Axis axis;
  axis.step = nice * magnitude;
  axis.lo = std::floor(lo / axis.step + kEps) * axis.step;
  axis.hi = std::ceil(hi / axis.step - kEps) * axis.step;
  const auto n = static_cast<int>(std::lround((axis.hi - axis.lo) / axis.step));
  for (int i = 0; i <= n; ++i) {
    double t = axis.lo + i * axis.step;
    if (std::abs(t) < axis.step * 1e-9) t = 0;  // avoid "-0" and 1e-17 from rounding
    axis.ticks.push_back(t);
  }
  return axis;
}

std::string tick_label(double value, double step) {
  step = std::abs(step);
  if (!(step > 0) || !std::isfinite(step)) return fmt::format("{:g}", value);
  if (std::abs(value) < step * 1e-6) value = 0;  // no "-0.0" from accumulated rounding
  std::string_view suffix;
  if (step >= 1e5) {
    value /= 1e6;
    step /= 1e6;
    suffix = "M";
  } else if (step >= 1e3) {
    value /= 1e3;
    step /= 1e3;
    suffix = "k";
  }
  if (value == 0 && !suffix.empty()) return "0";
  int decimals = 0;
  while (decimals < 9) {
    const double scaled = step * std::pow(10.0, decimals);
    if (std::abs(scaled - std::round(scaled)) < 1e-6 * scaled) break;
    ++decimals;
  }
  return fmt::format("{:.{}f}{}", value, decimals, suffix);
}

Bins bin_values(std::span<const float> a, std::span<const float> b, int bins,
                std::optional<double> include) {
  if (bins < 1) throw core::Error(fmt::format("histogram: bin count must be >= 1, got {}", bins));
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  auto extend = [&](double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  };
  for (float v : a) extend(v);
  for (float v : b) extend(v);
  if (include) extend(*include);
  if (lo > hi) {
    lo = 0;
    hi = 1;
  } else if (hi == lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  Bins out;
  out.lo = lo;
  out.width = (hi - lo) / bins;
  out.a.assign(static_cast<std::size_t>(bins), 0);
  out.b.assign(static_cast<std::size_t>(bins), 0);
  auto count = [&](std::span<const float> values, std::vector<long long>& into) {
    for (float v : values) {
      if (!std::isfinite(v)) continue;
      const auto i = static_cast<long long>((v - lo) / out.width);
      ++into[static_cast<std::size_t>(std::clamp<long long>(i, 0, bins - 1))];
    }
  };
  count(a, out.a);
  count(b, out.b);
  return out;
}

std::string line_chart(const LineChart& chart) {
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  for (const auto& s : chart.series) {
    for (auto [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, y);
      y_hi = std::max(y_hi, y);
    }
  }
  const bool empty = x_lo > x_hi;
  if (empty && !chart.unit_axes) return no_data(chart.width, chart.height, chart.title);

  Frame f{64, 40, chart.width - 20.0, chart.height - 56.0, {}, {}};
  if (chart.unit_axes) {
    f.x = nice_axis(0, 1);
    f.y = nice_axis(0, 1);
  } else {
    f.x = nice_axis(x_lo, x_hi, 7);
    f.y = nice_axis(y_lo, y_hi, 6);
    // Room for wide tick labels such as "-12.5k".
    double widest = 0;
    for (double t : f.y.ticks)
      widest = std::max(widest, text_width(tick_label(t, f.y.step), kTickSize));
    f.left = std::max(f.left, widest + 36);
  }
  Canvas c(chart.width, chart.height, chart.title);
  draw_axes(c, f, chart.x_title, chart.y_title);
  if (chart.diagonal) {
    c.line(f.px(f.x.lo), f.py(f.y.lo), f.px(f.x.hi), f.py(f.y.hi), "currentColor",
           R"( stroke-opacity="0.45" stroke-dasharray="5 4")");
  }
  std::vector<LegendEntry> legend;
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    const std::string colour = kPalette[i % std::size(kPalette)];
    legend.push_back({s.name, colour, false});
    std::string d;
    std::size_t emitted = 0;
    double last_x = 0, last_y = 0;
    bool pen_down = false;
    for (std::size_t k = 0; k < s.points.size(); ++k) {
      auto [x, y] = s.points[k];
      if (!std::isfinite(x) || !std::isfinite(y)) {
        pen_down = false;
        continue;
      }
      const double px = f.px(x), py = f.py(y);
      // Curves from thousands of thresholds: a point within half a pixel of the last drawn one
      // cannot change the picture, so it is dropped (the final point is always kept).
      const bool last = k + 1 == s.points.size();
      if (pen_down && !last && std::hypot(px - last_x, py - last_y) < 0.5) continue;
      fmt::format_to(std::back_inserter(d), "{}{:.1f},{:.1f}", pen_down ? " L" : " M", px, py);
      pen_down = true;
      last_x = px;
      last_y = py;
      ++emitted;
    }
    if (emitted == 1) {
      c.put(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"/>)", last_x, last_y, colour);
    } else if (emitted > 1) {
      c.put(R"(<path d="{}" fill="none" stroke="{}" stroke-width="2" stroke-linejoin="round"/>)",
            d.substr(1), colour);
    }
  }
  if (empty)
    c.text((f.left + f.right) / 2, (f.top + f.bottom) / 2, "no data", kAxisTitleSize, "middle");
  draw_legend(c, f, legend, chart.legend);
  return std::move(c).finish();
}

std::string histogram(const Histogram& chart) {
  const Bins bins = bin_values(chart.values_a, chart.values_b, chart.bins, chart.threshold);
  long long peak = 0;
  for (std::size_t i = 0; i < bins.a.size(); ++i) peak = std::max({peak, bins.a[i], bins.b[i]});
  const double x_hi = bins.lo + bins.width * static_cast<double>(bins.a.size());

  Frame f{64, 40, chart.width - 20.0, chart.height - 56.0, nice_axis(bins.lo, x_hi, 7), {}};
  std::vector<std::string> y_labels;
  if (chart.log_y) {
    // Decades from 10^0; the axis starts a little below 1 so that a bin of one is still visible.
    const double top = std::max(
        1.0, std::ceil(std::log10(static_cast<double>(std::max<long long>(peak, 1))) + 0.05));
    f.y.lo = -0.3;
    f.y.hi = top;
    f.y.step = 1;
    for (int k = 0; k <= static_cast<int>(top); ++k) {
      f.y.ticks.push_back(k);
      y_labels.push_back(tick_label(std::pow(10.0, k), std::pow(10.0, k)));
    }
  } else {
    f.y = nice_axis(0, static_cast<double>(std::max<long long>(peak, 1)), 6);
  }
  double widest = 0;
  for (std::size_t i = 0; i < f.y.ticks.size(); ++i) {
    const std::string label =
        i < y_labels.size() ? y_labels[i] : tick_label(f.y.ticks[i], f.y.step);
    widest = std::max(widest, text_width(label, kTickSize));
  }
  f.left = std::max(f.left, widest + 36);

  Canvas c(chart.width, chart.height, chart.title);
  draw_axes(c, f, chart.x_title, chart.log_y ? chart.y_title + " (log)" : chart.y_title, y_labels);
  auto value_y = [&](long long n) {
    return chart.log_y ? f.py(std::log10(static_cast<double>(n))) : f.py(static_cast<double>(n));
  };
  auto bars = [&](const std::vector<long long>& counts, std::string_view colour) {
    c.put(R"(<g fill="{}" fill-opacity="0.5">)", colour);
    // A full-strength step outline keeps each group's shape readable where the bars overlap.
    std::string outline = fmt::format("M{:.1f},{:.1f}", f.px(bins.lo), f.bottom);
    for (std::size_t i = 0; i < counts.size(); ++i) {
      const double x0 = f.px(bins.lo + bins.width * static_cast<double>(i));
      const double x1 = f.px(bins.lo + bins.width * static_cast<double>(i + 1));
      const double y = counts[i] == 0 ? f.bottom : value_y(counts[i]);
      fmt::format_to(std::back_inserter(outline), " L{:.1f},{:.1f} L{:.1f},{:.1f}", x0, y, x1, y);
      if (counts[i] == 0) continue;
      c.put(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}"/>)", x0, y,
            std::max(0.5, x1 - x0), f.bottom - y);
    }
    fmt::format_to(std::back_inserter(outline), " L{:.1f},{:.1f}", f.px(x_hi), f.bottom);
    c.put(R"(</g><path d="{}" fill="none" stroke="{}" stroke-width="1.5"/>)", outline, colour);
  };
  bars(bins.a, kPalette[0]);
  bars(bins.b, kPalette[1]);
  if (chart.threshold && std::isfinite(*chart.threshold)) {
    const double x = f.px(*chart.threshold);
    c.line(x, f.top, x, f.bottom, "currentColor", R"( stroke-width="1.5" stroke-dasharray="6 4")");
    const bool right_half = x > (f.left + f.right) / 2;
    c.text(right_half ? x - 5 : x + 5, f.top + 14,
           fmt::format("threshold {:.4g}", *chart.threshold), kTickSize,
           right_half ? "end" : "start");
  }
  auto finite_count = [](std::span<const float> v) {
    return std::count_if(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
  };
  // The legend sits away from the threshold label's side only when the threshold is on the left.
  const bool threshold_right = chart.threshold && f.px(*chart.threshold) > (f.left + f.right) / 2;
  draw_legend(
      c, f,
      {{fmt::format("{} (n={})", chart.name_a, group_thousands(finite_count(chart.values_a))),
        kPalette[0], true},
       {fmt::format("{} (n={})", chart.name_b, group_thousands(finite_count(chart.values_b))),
        kPalette[1], true}},
      threshold_right ? Corner::kTopLeft : Corner::kTopRight);
  return std::move(c).finish();
}

std::string heatmap(const Heatmap& chart) {
  const std::size_t n = chart.labels.size();
  if (chart.counts.size() != n) {
    throw core::Error(fmt::format("heatmap '{}': {} labels but {} rows of counts", chart.title, n,
                                  chart.counts.size()));
  }
  for (std::size_t r = 0; r < n; ++r) {
    if (chart.counts[r].size() != n) {
      throw core::Error(fmt::format("heatmap '{}': row {} has {} counts, expected {}", chart.title,
                                    r, chart.counts[r].size(), n));
    }
    for (long long v : chart.counts[r]) {
      if (v < 0) throw core::Error(fmt::format("heatmap '{}': negative count {}", chart.title, v));
    }
  }
  if (n == 0) return no_data(360, 200, chart.title);

  const double cell = std::clamp(400.0 / static_cast<double>(n), 30.0, 110.0);
  const double label_size = std::clamp(cell * 0.3, 9.0, 13.0);
  double widest = 0;
  for (const auto& l : chart.labels) widest = std::max(widest, text_width(l, label_size));
  const bool rotate = widest > cell - 6;
  const double grid = cell * static_cast<double>(n);
  const double left = 34 + widest + 10;
  const double top = 44;
  const double bottom_labels = rotate ? widest * 0.72 + 16 : 22;
  const double bar_x = left + grid + 20;
  const int width = static_cast<int>(std::ceil(std::max(bar_x + 14 + 44, left + grid / 2 + 150)));
  const int height = static_cast<int>(std::ceil(top + grid + bottom_labels + 34));

  Canvas c(width, height, chart.title);
  const double count_size = std::clamp(cell * 0.26, 9.0, 15.0);
  for (std::size_t r = 0; r < n; ++r) {
    long long row_total = 0;
    for (long long v : chart.counts[r]) row_total += v;
    for (std::size_t k = 0; k < n; ++k) {
      const long long v = chart.counts[r][k];
      const double share =
          row_total > 0 ? static_cast<double>(v) / static_cast<double>(row_total) : 0;
      const Rgb colour = sequential_colour(share);
      const double x = left + cell * static_cast<double>(k);
      const double y = top + cell * static_cast<double>(r);
      c.put(
          R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}" )"
          R"(class="ns-cell" stroke="#ffffff" stroke-width="1"><title>{} → {}: {} ({:.1f}% of row)</title></rect>)",
          x, y, cell, cell, hex(colour), xml_escape(chart.labels[r]), xml_escape(chart.labels[k]),
          v, share * 100);
      const std::string text = group_thousands(v);
      const std::string_view ink = is_dark(colour) ? "#ffffff" : "#111111";
      const double size =
          std::min(count_size, (cell - 4) / (kCharWidth * static_cast<double>(text.size())));
      const bool two_lines = cell >= 48;
      const double cy = y + cell / 2 + (two_lines ? -2 : size * 0.35);
      c.put(R"(<text x="{:.1f}" y="{:.1f}" font-size="{:.1f}" text-anchor="middle" fill="{}" )"
            R"(font-weight="600">{}</text>)",
            x + cell / 2, cy, size, ink, text);
      if (two_lines) {
        c.put(R"(<text x="{:.1f}" y="{:.1f}" font-size="{:.1f}" text-anchor="middle" fill="{}">)"
              "{:.1f}%</text>",
              x + cell / 2, cy + size + 1, size * 0.75, ink, share * 100);
      }
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const double mid = cell * (static_cast<double>(i) + 0.5);
    c.text(left - 6, top + mid + label_size * 0.35, chart.labels[i], label_size, "end");
    const double lx = left + mid;
    const double ly = top + grid + 14;
    if (rotate) {
      c.text(lx, ly, chart.labels[i], label_size, "end",
             fmt::format(" transform=\"rotate(-40 {:.1f} {:.1f})\"", lx, ly - 4));
    } else {
      c.text(lx, ly, chart.labels[i], label_size, "middle");
    }
  }
  c.text(left + grid / 2, top + grid + bottom_labels + 20, chart.x_title, kAxisTitleSize, "middle");
  const double yy = top + grid / 2;
  c.text(16, yy, chart.y_title, kAxisTitleSize, "middle",
         fmt::format(" transform=\"rotate(-90 16 {:.1f})\"", yy));
  // Colour bar: the fill encodes the share of the true class's row, not the raw count.
  constexpr int kSteps = 20;
  const double step_h = grid / kSteps;
  for (int i = 0; i < kSteps; ++i) {
    const double t = (kSteps - 1 - i + 0.5) / kSteps;
    c.put(R"(<rect x="{:.1f}" y="{:.1f}" width="14" height="{:.2f}" fill="{}"/>)", bar_x,
          top + step_h * i, step_h + 0.3, hex(sequential_colour(t)));
  }
  c.put(R"(<rect x="{:.1f}" y="{:.1f}" width="14" height="{:.1f}" fill="none" )"
        R"(stroke="currentColor" stroke-opacity="0.4"/>)",
        bar_x, top, grid);
  c.text(bar_x + 18, top + 9, "100%", 11, "start");
  c.text(bar_x + 18, top + grid, "0%", 11, "start");
  c.text(bar_x + 18, top + grid / 2 + 3, "of row", 11, "start", R"( fill-opacity="0.7")");
  return std::move(c).finish();
}

}  // namespace netsentry::eval::svg
