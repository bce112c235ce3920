#include "detect/forecast_detector.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>

#include "core/error.h"
#include "data/csv_reader.h"
#include "data/text.h"
#include "detect/alert_format.h"
#include "fmt/format.h"
#include "ml/torch_module.h"

namespace netsentry::detect {

namespace {

// History kept per series while no model says how much it needs (the default window).
constexpr std::size_t kDefaultHistory = 60;

Severity raise(Severity severity) {
  return severity == Severity::kCritical ? severity
                                         : static_cast<Severity>(static_cast<int>(severity) + 1);
}

}  // namespace

void ForecastDetector::Series::push(double value) {
  ring[next] = value;
  next = (next + 1) % ring.size();
  count = std::min(count + 1, ring.size());
}

void ForecastDetector::Series::last(std::size_t n, std::vector<double>& out) const {
  out.resize(n);
  const std::size_t cap = ring.size();
  std::size_t at = (next + cap - n) % cap;
  for (std::size_t i = 0; i < n; ++i, at = (at + 1) % cap) out[i] = ring[at];
}

ForecastDetector::ForecastDetector(ForecastDetectorOptions options,
                                   std::shared_ptr<const ml::torch::TrafficForecaster> model)
    : options_(options), baseline_(options.baseline) {
  if (!(options_.min_band >= 0) || !std::isfinite(options_.min_band)) {
    throw core::Error(
        fmt::format("forecast detector: min_band must not be negative, got {}", options_.min_band));
  }
  if (!(options_.escalate_ratio == 0 || options_.escalate_ratio >= 1)) {
    throw core::Error(
        fmt::format("forecast detector: escalate_ratio must be 0 (never) or at least 1, got {}",
                    options_.escalate_ratio));
  }
  series_.reserve(options_.baseline.max_series);
  set_model(std::move(model));
}

std::size_t ForecastDetector::history() const {
  return model_ ? model_->window() : kDefaultHistory;
}

void ForecastDetector::set_model(std::shared_ptr<const ml::torch::TrafficForecaster> model) {
  model_ = std::move(model);
  const std::size_t capacity = history();
  window_.reserve(capacity);
  for (Series& s : series_) {
    if (s.ring.size() == capacity) continue;
    // Keep the most recent values that fit the new window.
    const std::size_t keep = std::min(s.count, capacity);
    s.last(keep, window_);
    s.ring.assign(capacity, 0.0);
    s.next = 0;
    s.count = 0;
    for (const double v : window_) s.push(v);
  }
}

void ForecastDetector::observe(const host::TrafficSample& sample, std::vector<Evidence>& out) {
  const std::int64_t time_ns = sample_time_ns(sample);
  for (const SeriesValue& s :
       volume_series(sample, options_.baseline.per_interface, options_.baseline.loopback)) {
    observe_value(s.name, s.bytes_per_second, time_ns, out);
  }
}

void ForecastDetector::observe_value(std::string_view series, double bytes_per_second,
                                     std::int64_t time_ns, std::vector<Evidence>& out) {
  auto it = std::find_if(series_.begin(), series_.end(),
                         [&](const Series& s) { return s.name == series; });
  if (it == series_.end()) {
    if (series_.size() >= options_.baseline.max_series) {
      ++stats_.untracked_samples;
      return;
    }
    series_.push_back({std::string(series), std::vector<double>(history(), 0.0), 0, 0});
    it = series_.end() - 1;
  }
  ++stats_.samples;
  if (!std::isfinite(bytes_per_second)) return;
  Series& s = *it;

  if (!model_ || s.count < model_->window()) {
    ++stats_.deferred;
    const std::size_t before = out.size();
    baseline_.observe_value(series, bytes_per_second, time_ns, out);
    // A value the baseline flagged enters the history as the baseline's median, so the model's
    // first windows do not start from a spike (the baseline does not expose its band's edge).
    double stored = bytes_per_second;
    if (out.size() > before && !out.back().deviations.empty()) {
      stored = std::min(stored, out.back().deviations.front().expected);
    }
    s.push(stored);
    return;
  }

  ++stats_.forecasts;
  s.last(model_->window(), window_);
  const ml::torch::Forecast forecast = model_->predict(window_);
  const double upper = std::max(forecast.upper, forecast.expected + options_.min_band);
  // An anomalous value enters the history clipped to the band's edge, so a spike does not teach
  // the next forecasts that spikes are normal, while a lasting shift still pulls the band up.
  s.push(std::min(bytes_per_second, upper));
  if (!(bytes_per_second > upper)) return;

  ++stats_.alerts;
  const double residual = model_->residual(bytes_per_second, forecast);
  const double ratio = forecast.expected > 0 ? bytes_per_second / forecast.expected
                                             : std::numeric_limits<double>::infinity();
  Evidence e;
  e.time_ns = time_ns;
  e.first_ns = time_ns;
  e.kind = std::string(kind::kVolumeForecast);
  e.detector = "traffic_forecaster";
  e.interface = std::string(series);
  e.threat = options_.escalate_ratio > 0 && ratio >= options_.escalate_ratio
                 ? raise(options_.severity)
                 : options_.severity;
  const double width = std::max(1.0, upper - forecast.expected);
  e.confidence = std::clamp(0.5 + 0.5 * (bytes_per_second - upper) / width, 0.5, 1.0);
  e.score = static_cast<float>(residual);
  e.votes = 1;
  e.voters = 1;
  e.models.push_back({"traffic_forecaster", static_cast<float>(residual),
                      static_cast<float>(model_->band_quantile()), true});
  if (forecast.expected > 0) {
    e.description =
        fmt::format("Traffic {} on {}, {} the forecast ({}, band up to {})",
                    format_bytes_per_second(bytes_per_second), series, format_ratio(ratio),
                    format_bytes_per_second(forecast.expected), format_bytes_per_second(upper));
  } else {
    e.description = fmt::format("Traffic {} on {}, forecast none (band up to {})",
                                format_bytes_per_second(bytes_per_second), series,
                                format_bytes_per_second(upper));
  }
  e.deviations.push_back({"bytes_per_second", bytes_per_second, forecast.expected, residual});
  out.push_back(std::move(e));
}

ForecastDetectorStats ForecastDetector::stats() const {
  ForecastDetectorStats stats = stats_;
  stats.series = series_.size();
  return stats;
}

std::shared_ptr<const ml::torch::TrafficForecaster> load_traffic_model(
    const std::filesystem::path& dir) {
  constexpr const char* kSidecar = "traffic_forecaster.json";
  std::filesystem::path folder = dir;
  std::error_code ec;
  if (!std::filesystem::exists(folder / kSidecar, ec) &&
      std::filesystem::exists(folder / "traffic" / kSidecar, ec)) {
    folder /= "traffic";
  }
  return ml::torch_module::load_traffic_forecaster(folder);
}

SeriesFlags detect_forecast_anomalies(std::span<const double> values,
                                      std::shared_ptr<const ml::torch::TrafficForecaster> model,
                                      const ForecastDetectorOptions& options) {
  ForecastDetectorOptions one = options;
  one.baseline.per_interface = false;
  ForecastDetector detector(one, std::move(model));
  SeriesFlags flags;
  std::vector<Evidence> found;
  for (std::size_t i = 0; i < values.size(); ++i) {
    found.clear();
    detector.observe_value("total", values[i], 0, found);
    if (!found.empty()) {
      flags.indices.push_back(i);
      flags.scores.push_back(found.front().score);
    }
  }
  return flags;
}

namespace {

std::ptrdiff_t column_index(std::span<const std::string_view> header, std::string_view name) {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (data::text::iequals(header[i], name)) return static_cast<std::ptrdiff_t>(i);
  }
  return -1;
}

}  // namespace

TrafficSeries load_traffic_series(const std::filesystem::path& path, std::string_view column) {
  const std::string where = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::Error(fmt::format("{}: cannot open the traffic series", where));
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw core::Error(fmt::format("{}: read error", where));
  data::CsvRecords reader(text, where);
  std::vector<data::CsvField> record;
  if (!reader.next(record)) throw core::Error(fmt::format("{}: the file is empty", where));
  // Copied: the next record reuses the reader's buffers.
  std::vector<std::string> header_text;
  for (const data::CsvField& f : record) header_text.emplace_back(data::text::trim(f.text));
  const std::vector<std::string_view> header(header_text.begin(), header_text.end());

  TrafficSeries series;
  std::vector<std::ptrdiff_t> value_columns;
  const std::ptrdiff_t sent = column_index(header, "bytes_sent");
  const std::ptrdiff_t recv = column_index(header, "bytes_recv");
  const std::ptrdiff_t value = column_index(header, "value");
  if (sent >= 0 && recv >= 0) {
    series.format = "network_traffic";
    series.column = "bytes_sent+bytes_recv";
    value_columns = {sent, recv};
  } else if (value >= 0) {
    series.format = "nab";
    series.column = "value";
    value_columns = {value};
  } else if (column.empty()) {
    throw core::Error(
        fmt::format("{}:1: not a traffic series: expected the columns bytes_sent and bytes_recv "
                    "(network_traffic.csv) or value (NAB), or name one with --traffic-column",
                    where));
  }
  if (!column.empty()) {
    const std::ptrdiff_t chosen = column_index(header, column);
    if (chosen < 0) {
      throw core::Error(fmt::format("{}:1: no column \"{}\" in the header", where, column));
    }
    series.column = std::string(column);
    value_columns = {chosen};
    if (series.format.empty()) series.format = "generic";
  }
  const std::ptrdiff_t labels = column_index(header, "label_window");

  while (reader.next(record)) {
    if (record.size() == 1 && data::text::trim(record[0].text).empty()) continue;  // blank line
    const std::size_t line_no = record.front().line;
    if (record.size() != header.size()) {
      throw core::Error(fmt::format("{}:{}: {} fields, the header has {}", where, line_no,
                                    record.size(), header.size()));
    }
    double sum = 0;
    for (const std::ptrdiff_t c : value_columns) {
      double v = 0;
      const std::string_view cell = data::text::trim(record[static_cast<std::size_t>(c)].text);
      if (data::text::parse_number(cell, v) != data::text::CellKind::kNumber || v < 0) {
        throw core::Error(
            fmt::format("{}:{}:{}: column \"{}\": \"{}\" is not a non-negative number", where,
                        line_no, c + 1, header[static_cast<std::size_t>(c)], cell));
      }
      sum += v;
    }
    series.values.push_back(sum);
    if (labels >= 0) {
      double label = 0;
      const std::string_view cell = data::text::trim(record[static_cast<std::size_t>(labels)].text);
      if (data::text::parse_number(cell, label) != data::text::CellKind::kNumber ||
          (label != 0 && label != 1)) {
        throw core::Error(fmt::format("{}:{}:{}: column \"label_window\": \"{}\" is not 0 or 1",
                                      where, line_no, labels + 1, cell));
      }
      series.label_window.push_back(static_cast<int>(label));
    }
  }
  if (series.values.empty()) throw core::Error(fmt::format("{}: no data rows", where));
  return series;
}

}  // namespace netsentry::detect
