#include "detect/volume_detector.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "detect/alert_format.h"
#include "fmt/format.h"

namespace netsentry::detect {

namespace {

constexpr double kMadToSigma = 1.4826;  // MAD of a normal distribution -> its sigma
constexpr double kMaxZ = 1e6;

Severity raise(Severity severity) {
  return severity == Severity::kCritical ? severity
                                         : static_cast<Severity>(static_cast<int>(severity) + 1);
}

Evidence volume_evidence(std::string_view kind, std::string_view series, std::int64_t time_ns) {
  Evidence e;
  e.time_ns = time_ns;
  e.first_ns = time_ns;
  e.kind = std::string(kind);
  e.detector = std::string(kind);
  e.interface = std::string(series);
  return e;
}

// The element of rank `rank` of values (reorders values).
double nth(std::vector<double>& values, std::size_t rank) {
  auto it = values.begin() + static_cast<std::ptrdiff_t>(rank);
  std::nth_element(values.begin(), it, values.end());
  return *it;
}

}  // namespace

std::int64_t sample_time_ns(const host::TrafficSample& sample) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(sample.timestamp.time_since_epoch())
      .count();
}

ThresholdRule::ThresholdRule(ThresholdRuleOptions options) : options_(options) {
  if (!(options_.bytes_per_second > 0) || !std::isfinite(options_.bytes_per_second)) {
    throw core::Error(fmt::format("volume threshold: bytes_per_second must be positive, got {}",
                                  options_.bytes_per_second));
  }
}

bool is_loopback_interface(std::string_view name) {
  if (!name.starts_with("lo")) return false;
  return std::all_of(name.begin() + 2, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<SeriesValue> volume_series(const host::TrafficSample& sample, bool per_interface,
                                       bool loopback) {
  std::vector<SeriesValue> out;
  const std::string_view total =
      sample.total.name.empty() ? std::string_view("total") : std::string_view(sample.total.name);
  double value = sample.total.total_bytes();
  if (!loopback) {
    for (const host::InterfaceRates& rates : sample.interfaces) {
      if (is_loopback_interface(rates.name)) value -= rates.total_bytes();
    }
    value = std::max(0.0, value);
  }
  out.push_back({total, value});
  if (!per_interface) return out;
  for (const host::InterfaceRates& rates : sample.interfaces) {
    if (rates.name == total) continue;  // a replay's single series repeats the total
    if (!loopback && is_loopback_interface(rates.name)) continue;
    out.push_back({rates.name, rates.total_bytes()});
  }
  return out;
}

void ThresholdRule::observe(const host::TrafficSample& sample, std::vector<Evidence>& out) const {
  const std::int64_t time_ns = sample_time_ns(sample);
  for (const SeriesValue& s : volume_series(sample, options_.per_interface, options_.loopback)) {
    observe_value(s.name, s.bytes_per_second, time_ns, out);
  }
}

void ThresholdRule::observe_value(std::string_view series, double bytes_per_second,
                                  std::int64_t time_ns, std::vector<Evidence>& out) const {
  if (!(bytes_per_second > options_.bytes_per_second)) return;
  Evidence e = volume_evidence(kind::kVolume, series, time_ns);
  e.threat = options_.severity;
  e.confidence = 1.0;
  e.decisive = true;
  // One subject per series: the seconds above the limit fold into one piece of evidence.
  e.subject = std::hash<std::string_view>{}(series) | 1;
  const double ratio = bytes_per_second / options_.bytes_per_second;
  e.score = static_cast<float>(ratio);
  e.description = fmt::format("Traffic {} on {} exceeds the {} limit",
                              format_bytes_per_second(bytes_per_second), series,
                              format_bytes_per_second(options_.bytes_per_second));
  e.deviations.push_back({"bytes_per_second", bytes_per_second, options_.bytes_per_second, ratio});
  out.push_back(std::move(e));
}

BaselineSeries::BaselineSeries(const BaselineOptions& options) : options_(options) {
  const auto bad = [](std::string_view what) {
    throw core::Error(fmt::format("volume baseline: {}", what));
  };
  if (options_.window < 3) bad("window must be at least 3 samples");
  if (options_.warmup < 3 || options_.warmup > options_.window) {
    bad("warmup must be between 3 and the window size");
  }
  if (!(options_.k > 0)) bad("k must be positive");
  if (!(options_.min_ratio >= 1)) bad("min_ratio must be at least 1");
  if (!(options_.min_band >= 0)) bad("min_band must not be negative");
  if (!(options_.tail_quantile >= 0.5 && options_.tail_quantile <= 1)) {
    bad("tail_quantile must be between 0.5 and 1");
  }
  if (!(options_.tail_factor >= 1)) bad("tail_factor must be at least 1");
  ring_.assign(options_.window, 0.0);
  scratch_.reserve(options_.window);
}

BaselineVerdict BaselineSeries::update(double value) {
  BaselineVerdict verdict;
  if (!std::isfinite(value)) return verdict;
  double stored = value;
  if (count_ >= options_.warmup) {
    verdict.ready = true;
    scratch_.assign(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(count_));
    const std::size_t n = scratch_.size();
    const double tail = nth(
        scratch_, static_cast<std::size_t>(std::lround(options_.tail_quantile * double(n - 1))));
    const double median = nth(scratch_, n / 2);
    for (double& x : scratch_) x = std::fabs(x - median);
    const double sigma = kMadToSigma * nth(scratch_, n / 2);
    verdict.expected = median;
    verdict.upper = std::max({median + options_.k * sigma, options_.min_ratio * median,
                              median + options_.min_band, options_.tail_factor * tail});
    const double z = sigma > 0 ? (value - median) / sigma : (value > median ? kMaxZ : 0.0);
    verdict.z = std::clamp(z, -kMaxZ, kMaxZ);
    verdict.anomalous = value > verdict.upper;
    if (verdict.anomalous) stored = verdict.upper;
  }
  ring_[next_] = stored;
  next_ = (next_ + 1) % ring_.size();
  count_ = std::min(count_ + 1, ring_.size());
  return verdict;
}

RobustBaseline::RobustBaseline(BaselineOptions options) : options_(options) {
  BaselineSeries validate(options_);  // throws on bad options now, not at the first sample
  series_.reserve(options_.max_series);
}

void RobustBaseline::observe(const host::TrafficSample& sample, std::vector<Evidence>& out) {
  const std::int64_t time_ns = sample_time_ns(sample);
  for (const SeriesValue& s : volume_series(sample, options_.per_interface, options_.loopback)) {
    observe_value(s.name, s.bytes_per_second, time_ns, out);
  }
}

void RobustBaseline::observe_value(std::string_view series, double bytes_per_second,
                                   std::int64_t time_ns, std::vector<Evidence>& out) {
  auto it = std::find_if(series_.begin(), series_.end(),
                         [&](const Series& s) { return s.name == series; });
  if (it == series_.end()) {
    if (series_.size() >= options_.max_series) {
      ++stats_.untracked_samples;
      return;
    }
    series_.push_back({std::string(series), BaselineSeries(options_)});
    it = series_.end() - 1;
  }
  ++stats_.samples;
  const BaselineVerdict verdict = it->baseline.update(bytes_per_second);
  if (!verdict.anomalous) return;

  ++stats_.alerts;
  Evidence e = volume_evidence(kind::kVolumeForecast, series, time_ns);
  const double ratio = verdict.expected > 0 ? bytes_per_second / verdict.expected
                                            : std::numeric_limits<double>::infinity();
  e.threat = options_.escalate_ratio > 0 && ratio >= options_.escalate_ratio
                 ? raise(options_.severity)
                 : options_.severity;
  // Past the band's edge by its own width: fully sure.
  const double width = std::max(1.0, verdict.upper - verdict.expected);
  e.confidence = std::clamp(0.5 + 0.5 * (bytes_per_second - verdict.upper) / width, 0.5, 1.0);
  e.score = static_cast<float>(verdict.z);
  if (verdict.expected > 0) {
    e.description = fmt::format("Traffic {} on {}, {} the expected {}",
                                format_bytes_per_second(bytes_per_second), series,
                                format_ratio(ratio), format_bytes_per_second(verdict.expected));
  } else {
    e.description = fmt::format("Traffic {} on {}, expected none (band up to {})",
                                format_bytes_per_second(bytes_per_second), series,
                                format_bytes_per_second(verdict.upper));
  }
  e.deviations.push_back({"bytes_per_second", bytes_per_second, verdict.expected, verdict.z});
  out.push_back(std::move(e));
}

BaselineStats RobustBaseline::stats() const {
  BaselineStats stats = stats_;
  stats.series = series_.size();
  return stats;
}

SeriesFlags detect_anomalies(std::span<const double> values, const BaselineOptions& options) {
  BaselineSeries series(options);
  SeriesFlags flags;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const BaselineVerdict verdict = series.update(values[i]);
    if (verdict.anomalous) {
      flags.indices.push_back(i);
      flags.scores.push_back(verdict.z);
    }
  }
  return flags;
}

WindowEvaluation evaluate_windows(std::span<const std::size_t> flagged,
                                  std::span<const int> label_window) {
  const std::size_t n = label_window.size();
  std::vector<char> is_flagged(n, 0);
  for (const std::size_t i : flagged) {
    if (i >= n) {
      throw core::Error(
          fmt::format("evaluate_windows: flagged index {} is past the {} labels", i, n));
    }
    is_flagged[i] = 1;
  }
  WindowEvaluation result;
  bool in_window = false;
  bool window_hit = false;
  bool previous_false_alarm = false;
  for (std::size_t i = 0; i < n; ++i) {
    const bool labelled = label_window[i] != 0;
    if (labelled) {
      if (!in_window) {
        ++result.windows;
        window_hit = false;
      }
      if (is_flagged[i] && !window_hit) {
        window_hit = true;
        ++result.windows_detected;
      }
      previous_false_alarm = false;
    } else {
      ++result.normal_points;
      if (is_flagged[i]) {
        ++result.false_alarm_points;
        if (!previous_false_alarm) ++result.false_alarm_events;
      }
      previous_false_alarm = is_flagged[i] != 0;
    }
    in_window = labelled;
  }
  result.false_alarm_rate =
      result.normal_points > 0
          ? static_cast<double>(result.false_alarm_points) / double(result.normal_points)
          : 0.0;
  return result;
}

}  // namespace netsentry::detect
