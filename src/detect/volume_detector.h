// Provides the volume detectors' algorithms on the per-second traffic series (host::TrafficSample,
// per interface and the sample's total):
//  * ThresholdRule, the original tool's rule: more than N bytes (sent + received) in one second is
//    decisive evidence (an alert on its own; default 100,000 B/s, LOW, on the total only);
//  * RobustBaseline, a per-series rolling median/MAD baseline that gives evidence when a value
//    rises out of its band, before (or instead of) a learned forecaster;
//  * detect_anomalies() and evaluate_windows(), the same baseline over a whole stored series and
//    its scoring against labelled anomaly windows (the NAB evaluation).
// Time is whatever the caller passes (packet time in replays), never the wall clock.
// Thread rules: not thread-safe; one owner thread calls observe(). Free functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "detect/alert.h"
#include "detect/evidence.h"
#include "host/monitor.h"

namespace netsentry::detect {

// Packet/wall time of a sample in ns since the epoch (the Alert time unit).
[[nodiscard]] std::int64_t sample_time_ns(const host::TrafficSample& sample);

struct ThresholdRuleOptions {
  double bytes_per_second = 100'000;  // evidence when sent + received is above this
  // The original rule stays, but a download is not an attack: LOW unless configured otherwise.
  Severity severity = Severity::kLow;
  bool per_interface = false;  // also check each interface, not only the total
  // Count loopback interfaces too. Off by default: the original's psutil total counted them, but
  // there a host's own services (the dashboard's page load is ~1 MB over loopback) alerted as
  // "traffic" on first use.
  bool loopback = false;
};

// The series a sample holds for the volume detectors: its total (under the total's own name,
// "total" for host counters, "capture" for a replay's series), minus the loopback interfaces
// unless `loopback`, and each interface when `per_interface` (never a loopback one unless
// `loopback`; never an interface that only repeats the total, as a replay's single "capture" one).
struct SeriesValue {
  std::string_view name;
  double bytes_per_second = 0;
};
[[nodiscard]] std::vector<SeriesValue> volume_series(const host::TrafficSample& sample,
                                                     bool per_interface, bool loopback);
// True for loopback interface names ("lo", "lo0", ...).
[[nodiscard]] bool is_loopback_interface(std::string_view name);

class ThresholdRule final {
 public:
  // Throws core::Error when bytes_per_second is not a positive number.
  explicit ThresholdRule(ThresholdRuleOptions options = {});

  // Appends one kVolume piece of evidence per series above the limit (the total without loopback
  // interfaces unless options().loopback).
  void observe(const host::TrafficSample& sample, std::vector<Evidence>& out) const;
  // The same for one value of a named series.
  void observe_value(std::string_view series, double bytes_per_second, std::int64_t time_ns,
                     std::vector<Evidence>& out) const;

  [[nodiscard]] const ThresholdRuleOptions& options() const { return options_; }

 private:
  ThresholdRuleOptions options_;
};

struct BaselineOptions {
  // Samples kept per series; the baseline is their median. At one sample a second, 5 minutes.
  std::size_t window = 300;
  // Samples a series needs before it may alert.
  std::size_t warmup = 60;
  // Upper band = max(median + k * 1.4826 * MAD, min_ratio * median, median + min_band,
  //                  tail_factor * tail_quantile of the window).
  // The tail term keeps recurring peaks (backups, cron jobs) in the window from alerting; the
  // min_band term keeps an idle link's noise (a few hundred bytes) from alerting.
  double k = 6;
  double min_ratio = 2;
  double min_band = 50'000;  // bytes/s
  double tail_quantile = 0.98;
  double tail_factor = 1.5;
  // Unusual volume alone is not an attack (a download is not): LOW by default, and no escalation
  // unless escalate_ratio is set (one level up at value >= escalate_ratio * median; 0 = never).
  Severity severity = Severity::kLow;
  double escalate_ratio = 0;
  std::size_t max_series = 64;  // interfaces beyond this are not tracked (counted)
  bool per_interface = true;    // track each interface as well as the total
  bool loopback = false;        // judge loopback traffic too (a dashboard's own traffic is there)
};

// What the baseline made of one value.
struct BaselineVerdict {
  bool ready = false;      // past the warm-up
  bool anomalous = false;  // value above `upper`
  double expected = 0;     // median of the window before this value
  double upper = 0;        // the band's upper edge
  double z = 0;            // (value - expected) / (1.4826 * MAD), capped at +-1e6
};

// One series' rolling window. An anomalous value enters the window clipped to the band's upper
// edge, so one huge spike does not mask the next hours, while a lasting level shift is absorbed:
// each clipped value raises the tail quantile, so the band grows by tail_factor about every
// window * (1 - tail_quantile) samples (a 10x shift alerts for ~30 s with the defaults).
class BaselineSeries final {
 public:
  // Throws core::Error when the options are inconsistent (window < 3, warmup > window, ...).
  explicit BaselineSeries(const BaselineOptions& options);
  BaselineVerdict update(double value);
  [[nodiscard]] std::size_t size() const { return count_; }

 private:
  BaselineOptions options_;
  std::vector<double> ring_;
  std::vector<double> scratch_;
  std::size_t next_ = 0;
  std::size_t count_ = 0;
};

struct BaselineStats {
  std::size_t series = 0;
  std::uint64_t samples = 0;
  std::uint64_t untracked_samples = 0;  // values of series beyond max_series
  std::uint64_t alerts = 0;
};

class RobustBaseline final {
 public:
  explicit RobustBaseline(BaselineOptions options = {});

  // Updates the sample's series (volume_series()) and appends kVolumeForecast evidence.
  void observe(const host::TrafficSample& sample, std::vector<Evidence>& out);
  void observe_value(std::string_view series, double bytes_per_second, std::int64_t time_ns,
                     std::vector<Evidence>& out);

  [[nodiscard]] BaselineStats stats() const;

 private:
  struct Series {
    std::string name;
    BaselineSeries baseline;
  };
  BaselineOptions options_;
  std::vector<Series> series_;
  BaselineStats stats_;
};

// The baseline run over a stored series: flagged indices (ascending) and their z-scores.
struct SeriesFlags {
  std::vector<std::size_t> indices;
  std::vector<double> scores;
};
[[nodiscard]] SeriesFlags detect_anomalies(std::span<const double> values,
                                           const BaselineOptions& options);

struct WindowEvaluation {
  std::size_t windows = 0;             // runs of consecutive non-zero labels
  std::size_t windows_detected = 0;    // windows with at least one flag inside
  std::size_t false_alarm_points = 0;  // flags outside every window
  std::size_t false_alarm_events = 0;  // the same, consecutive flags merged into one
  std::size_t normal_points = 0;       // points outside every window
  double false_alarm_rate = 0;         // false_alarm_points / normal_points
};
// `flagged` are indices into `label_window` (any order; out-of-range ones throw core::Error).
[[nodiscard]] WindowEvaluation evaluate_windows(std::span<const std::size_t> flagged,
                                                std::span<const int> label_window);

}  // namespace netsentry::detect
