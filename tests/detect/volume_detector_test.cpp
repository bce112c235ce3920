#include "detect/volume_detector.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace netsentry::detect {
namespace {

host::TrafficSample sample_at(std::int64_t second, double total_bytes,
                              std::vector<std::pair<std::string, double>> interfaces = {}) {
  host::TrafficSample s;
  s.timestamp = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000 + second));
  s.interval_seconds = 1;
  s.total.name = "total";
  s.total.bytes_recv = total_bytes;
  for (auto& [name, bytes] : interfaces) {
    host::InterfaceRates r;
    r.name = name;
    r.bytes_sent = bytes;
    s.interfaces.push_back(r);
  }
  return s;
}

// A deterministic wobble of +-5% around `level`.
double wobble(double level, int i) { return level * (1.0 + 0.05 * ((i * 37) % 11 - 5) / 5.0); }

TEST(ThresholdRule, AlertsAboveTheOriginalLimitOfOneHundredKilobytes) {
  ThresholdRule rule;
  std::vector<Evidence> out;
  rule.observe(sample_at(0, 100'000), out);
  EXPECT_TRUE(out.empty());
  rule.observe(sample_at(1, 9'300'000), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, kind::kVolume);
  EXPECT_EQ(out[0].threat, Severity::kLow);  // the original's rule stays, a download is no attack
  EXPECT_TRUE(out[0].decisive);              // an alert on its own
  EXPECT_EQ(out[0].interface, "total");
  EXPECT_EQ(out[0].description, "Traffic 9.3 MB/s on total exceeds the 100 kB/s limit");
  EXPECT_EQ(out[0].time_ns, 1'700'000'001'000'000'000);
  EXPECT_FLOAT_EQ(out[0].score, 93.0f);
}

TEST(ThresholdRule, ChecksInterfacesOnlyWhenAsked) {
  ThresholdRuleOptions options;
  options.bytes_per_second = 1'000'000;
  options.severity = Severity::kMedium;
  std::vector<Evidence> out;
  const auto sample = sample_at(0, 3'000'000, {{"eth0", 2'000'000}, {"lo", 1'000'000}});
  ThresholdRule(options).observe(sample, out);
  EXPECT_EQ(out.size(), 1u);
  options.per_interface = true;
  out.clear();
  ThresholdRule(options).observe(sample, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].interface, "eth0");
  EXPECT_EQ(out[1].threat, Severity::kMedium);
}

TEST(ThresholdRule, LeavesLoopbackOutOfTheTotalUnlessAsked) {
  ThresholdRuleOptions options;
  options.bytes_per_second = 1'000'000;
  std::vector<Evidence> out;
  // 1.5 MB/s in all, 1 MB/s of it the host talking to itself (a dashboard's page load).
  const auto sample = sample_at(0, 1'500'000, {{"eth0", 500'000}, {"lo", 1'000'000}});
  ThresholdRule(options).observe(sample, out);
  EXPECT_TRUE(out.empty());
  options.loopback = true;
  ThresholdRule(options).observe(sample, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].description, "Traffic 1.5 MB/s on total exceeds the 1 MB/s limit");
}

TEST(ThresholdRule, RejectsANonPositiveLimit) {
  ThresholdRuleOptions options;
  options.bytes_per_second = 0;
  EXPECT_THROW(ThresholdRule{options}, core::Error);
}

TEST(RobustBaseline, FlagsASpikeAgainstTheLearnedLevel) {
  BaselineOptions options;
  options.severity = Severity::kMedium;
  options.escalate_ratio = 10;
  RobustBaseline baseline(options);
  std::vector<Evidence> out;
  for (int i = 0; i < 120; ++i) baseline.observe(sample_at(i, wobble(650'000, i)), out);
  EXPECT_TRUE(out.empty());
  baseline.observe(sample_at(120, 9'300'000), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, kind::kVolumeForecast);
  EXPECT_EQ(out[0].interface, "total");
  EXPECT_EQ(out[0].threat, Severity::kHigh);  // 14x: one level above MEDIUM
  EXPECT_FALSE(out[0].decisive);
  EXPECT_EQ(out[0].description, "Traffic 9.3 MB/s on total, 14x the expected 650 kB/s");
  ASSERT_EQ(out[0].deviations.size(), 1u);
  EXPECT_EQ(out[0].deviations[0].feature, "bytes_per_second");
  EXPECT_DOUBLE_EQ(out[0].deviations[0].value, 9'300'000);
  EXPECT_NEAR(out[0].deviations[0].expected, 650'000, 1);
  EXPECT_GT(out[0].deviations[0].deviation, 6);
}

TEST(RobustBaseline, IsLowEvidenceByDefaultWhateverTheRatio) {
  RobustBaseline baseline;
  std::vector<Evidence> out;
  for (int i = 0; i < 120; ++i) baseline.observe(sample_at(i, wobble(650'000, i)), out);
  baseline.observe(sample_at(120, 93'000'000), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].threat, Severity::kLow);
}

TEST(RobustBaseline, LeavesLoopbackOutUnlessAsked) {
  RobustBaseline baseline;
  std::vector<Evidence> out;
  // The dashboard's own traffic on lo jumps; eth0 stays level. The total (without lo) stays.
  for (int i = 0; i < 100; ++i) {
    baseline.observe(sample_at(i, 2e5, {{"eth0", 1e5}, {"lo", 1e5}}), out);
  }
  baseline.observe(sample_at(100, 1e8 + 1e5, {{"eth0", 1e5}, {"lo", 1e8}}), out);
  EXPECT_TRUE(out.empty()) << out.front().description;
  BaselineOptions options;
  options.loopback = true;
  RobustBaseline with_loopback(options);
  for (int i = 0; i < 100; ++i) {
    with_loopback.observe(sample_at(i, 2e5, {{"eth0", 1e5}, {"lo", 1e5}}), out);
  }
  with_loopback.observe(sample_at(100, 1e8 + 1e5, {{"eth0", 1e5}, {"lo", 1e8}}), out);
  EXPECT_EQ(out.size(), 2u);  // total and lo
}

TEST(VolumeSeries, AReplaysSingleCaptureSeriesIsOneSeriesNotTwo) {
  host::TrafficSample s;
  s.total.name = "capture";
  s.total.bytes_recv = 5000;
  s.interfaces.push_back(s.total);
  const auto series = volume_series(s, true, false);
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].name, "capture");
  EXPECT_DOUBLE_EQ(series[0].bytes_per_second, 5000);
}

TEST(RobustBaseline, StaysQuietDuringWarmUp) {
  RobustBaseline baseline;
  std::vector<Evidence> out;
  for (int i = 0; i < 59; ++i) baseline.observe(sample_at(i, i == 30 ? 1e9 : 1000), out);
  EXPECT_TRUE(out.empty());
}

TEST(RobustBaseline, IgnoresNoiseOnAnIdleLink) {
  RobustBaseline baseline;
  std::vector<Evidence> out;
  // Idle: 0-200 B/s with an occasional 20 kB/s burst (below the 50 kB/s minimum band).
  for (int i = 0; i < 600; ++i) {
    baseline.observe(sample_at(i, i % 97 == 0 ? 20'000 : (i * 13) % 200), out);
  }
  EXPECT_TRUE(out.empty()) << out.front().description;
}

TEST(RobustBaseline, AbsorbsALastingLevelShift) {
  RobustBaseline baseline;
  std::vector<Evidence> out;
  for (int i = 0; i < 300; ++i) baseline.observe(sample_at(i, wobble(100'000, i)), out);
  for (int i = 300; i < 400; ++i) baseline.observe(sample_at(i, wobble(1'000'000, i)), out);
  // A 10x shift alerts for about 30 samples with the defaults (see BaselineSeries), then is normal.
  EXPECT_GE(out.size(), 1u);
  EXPECT_LE(out.size(), 40u);
  out.clear();
  for (int i = 400; i < 500; ++i) baseline.observe(sample_at(i, wobble(1'000'000, i)), out);
  EXPECT_TRUE(out.empty());
}

TEST(RobustBaseline, TracksInterfacesSeparatelyUpToTheCap) {
  BaselineOptions options;
  options.max_series = 2;
  RobustBaseline baseline(options);
  std::vector<Evidence> out;
  for (int i = 0; i < 100; ++i) {
    baseline.observe(sample_at(i, 1e6, {{"eth0", 1e6}, {"eth1", 5e5}}), out);
  }
  baseline.observe(sample_at(100, 1e6, {{"eth0", 5e7}, {"eth1", 5e5}}), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].interface, "eth0");
  const BaselineStats stats = baseline.stats();
  EXPECT_EQ(stats.series, 2u);
  EXPECT_EQ(stats.untracked_samples, 101u);  // eth1 did not fit
}

TEST(RobustBaseline, RejectsInconsistentOptions) {
  BaselineOptions options;
  options.warmup = options.window + 1;
  EXPECT_THROW(RobustBaseline{options}, core::Error);
  options = {};
  options.tail_quantile = 0.2;
  EXPECT_THROW(RobustBaseline{options}, core::Error);
}

TEST(EvaluateWindows, CountsDetectedWindowsAndMergedFalseAlarms) {
  //                            0  1  2  3  4  5  6  7  8  9 10 11
  const std::vector<int> labels{0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0};
  const std::vector<std::size_t> flags{0, 1, 3, 6, 7, 11};
  const WindowEvaluation e = evaluate_windows(flags, labels);
  EXPECT_EQ(e.windows, 2u);
  EXPECT_EQ(e.windows_detected, 1u);
  EXPECT_EQ(e.false_alarm_points, 5u);
  EXPECT_EQ(e.false_alarm_events, 3u);  // {0,1}, {6,7}, {11}
  EXPECT_EQ(e.normal_points, 7u);
  EXPECT_DOUBLE_EQ(e.false_alarm_rate, 5.0 / 7.0);
}

TEST(EvaluateWindows, RejectsAFlagPastTheLabels) {
  const std::vector<int> labels{0, 1};
  const std::vector<std::size_t> flags{2};
  EXPECT_THROW((void)evaluate_windows(flags, labels), core::Error);
}

TEST(DetectAnomalies, FlagsOnlyTheSpikeOfASteadySeries) {
  std::vector<double> values;
  for (int i = 0; i < 400; ++i) values.push_back(i == 300 ? 5e6 : wobble(2e5, i));
  const SeriesFlags flags = detect_anomalies(values, BaselineOptions{});
  ASSERT_EQ(flags.indices.size(), 1u);
  EXPECT_EQ(flags.indices[0], 300u);
  EXPECT_GT(flags.scores[0], 6);
}

// --- NAB evaluation ------------------------------------------------------------------------------

std::filesystem::path datasets_dir() {
  if (const char* env = std::getenv("NETSENTRY_DATASETS"); env != nullptr && *env != '\0') {
    return env;
  }
  return std::filesystem::path(NETSENTRY_SOURCE_DIR) / ".." / "shared" / "datasets";
}

struct LabelledSeries {
  std::vector<double> values;
  std::vector<int> label_window;
};

// timestamp,value,label_window,label_point
LabelledSeries load_nab(const std::filesystem::path& path) {
  std::ifstream in(path);
  LabelledSeries series;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string timestamp, value, window;
    std::getline(fields, timestamp, ',');
    std::getline(fields, value, ',');
    std::getline(fields, window, ',');
    series.values.push_back(std::stod(value));
    series.label_window.push_back(std::stoi(window));
  }
  return series;
}

// The baseline tuned for NAB's 5-minute series: a 5-hour window, 2.5 hours of warm-up, no absolute
// minimum band (the values are bytes per 5 minutes, not per second).
BaselineOptions nab_options() {
  BaselineOptions options;
  options.window = 60;
  options.warmup = 30;
  options.k = 6;
  options.tail_quantile = 0.98;
  options.tail_factor = 1.2;
  options.min_ratio = 2;
  options.min_band = 0;
  return options;
}

// Measured (see the report): ec2_network_in_257a54: 1/1 window, 16 false-alarm points in 15
// events (0.44% of normal points); iio_us-east-1_i-a2eb1cd9_NetworkIn: 2/2 windows, 16 points in
// 3 events (1.43%). The bounds below leave room for tuning, not for a broken detector.
TEST(NabEvaluation, DetectsTheLabelledWindowsOfTheNetworkSeries) {
  const std::filesystem::path dir = datasets_dir() / "nab";
  const std::vector<std::pair<std::string, std::size_t>> files = {
      {"ec2_network_in_257a54.csv", 1}, {"iio_us-east-1_i-a2eb1cd9_NetworkIn.csv", 1}};
  for (const auto& [name, min_detected] : files) {
    const std::filesystem::path path = dir / name;
    if (!std::filesystem::exists(path)) {
      GTEST_SKIP() << "NAB series not found at " << path
                   << " (set NETSENTRY_DATASETS to the folder holding nab/)";
    }
    const LabelledSeries series = load_nab(path);
    ASSERT_GT(series.values.size(), 1000u) << path;
    const SeriesFlags flags = detect_anomalies(series.values, nab_options());
    const WindowEvaluation e = evaluate_windows(flags.indices, series.label_window);
    std::printf(
        "[ NAB      ] %s: %zu points, windows %zu/%zu detected, false alarms %zu points in "
        "%zu events (rate %.4f)\n",
        name.c_str(), series.values.size(), e.windows_detected, e.windows, e.false_alarm_points,
        e.false_alarm_events, e.false_alarm_rate);
    EXPECT_GE(e.windows_detected, min_detected) << name;
    EXPECT_LT(e.false_alarm_rate, 0.02) << name;
    EXPECT_LT(e.false_alarm_events, 20u) << name;
  }
}

}  // namespace
}  // namespace netsentry::detect
