// Tests for detect::ForecastDetector and the stored-series helpers
// (src/detect/forecast_detector.h). Most use a small fake forecaster with a known band (mean of the
// window, upper = 2x), so they test the detector's rules without LibTorch; one trains the real LSTM
// through the LibTorch module and is skipped when this build or machine has none.
#include "detect/forecast_detector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "detect/detect_test_support.h"
#include "ml/torch_module.h"

namespace netsentry::detect {
namespace {

using ::testing::HasSubstr;
using testing::kSec;
using testing::kT0;

// Forecast = mean of the window, band up to twice that; residual in units of the mean.
class FakeForecaster final : public ml::torch::TrafficForecaster {
 public:
  explicit FakeForecaster(std::size_t window) : window_(window) {}

  ml::torch::ForecasterSummary fit(std::span<const double>, const ml::TrainContext&) override {
    return summary_;
  }
  [[nodiscard]] ml::torch::Forecast predict(std::span<const double> w) const override {
    last_window.assign(w.begin(), w.end());
    ++calls;
    const double mean = std::accumulate(w.begin(), w.end(), 0.0) / double(w.size());
    return {mean, 2 * mean, mean, std::max(mean, 1.0)};
  }
  [[nodiscard]] std::vector<ml::torch::Forecast> predict_batch(
      std::span<const double> windows) const override {
    std::vector<ml::torch::Forecast> out;
    for (std::size_t i = 0; i < windows.size(); i += window_) {
      out.push_back(predict(windows.subspan(i, window_)));
    }
    return out;
  }
  [[nodiscard]] double residual(double v, const ml::torch::Forecast& f) const override {
    return (v - f.location) / f.scale;
  }
  [[nodiscard]] std::size_t window() const override { return window_; }
  [[nodiscard]] double band_quantile() const override { return 1.0; }
  void set_false_alarm_rate(double) override {}
  [[nodiscard]] const ml::torch::ForecasterSummary& summary() const override { return summary_; }
  void save(const std::filesystem::path&) const override {}
  void load(const std::filesystem::path&) override {}

  mutable std::vector<double> last_window;
  mutable int calls = 0;

 private:
  std::size_t window_;
  ml::torch::ForecasterSummary summary_;
};

ForecastDetectorOptions options_without_floor() {
  ForecastDetectorOptions o;
  o.min_band = 0;
  o.baseline.min_band = 0;
  // MEDIUM, one level up at 10x (the defaults are LOW without escalation).
  o.severity = Severity::kMedium;
  o.escalate_ratio = 10;
  return o;
}

std::vector<Evidence> feed(ForecastDetector& d, std::string_view series, double value, int second) {
  std::vector<Evidence> out;
  d.observe_value(series, value, kT0 + second * kSec, out);
  return out;
}

TEST(ForecastDetector, DefersToTheBaselineUntilTheSeriesHoldsAFullWindow) {
  auto model = std::make_shared<FakeForecaster>(5);
  ForecastDetector d(options_without_floor(), model);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(feed(d, "total", 1e6, i).empty());
  EXPECT_EQ(model->calls, 0);
  EXPECT_EQ(d.stats().deferred, 5u);
  EXPECT_TRUE(feed(d, "total", 1e6, 5).empty());
  EXPECT_EQ(model->calls, 1);
  EXPECT_EQ(d.stats().forecasts, 1u);
  EXPECT_EQ(model->last_window, std::vector<double>(5, 1e6));
}

TEST(ForecastDetector, WithoutAModelTheBaselineAlerts) {
  ForecastDetector d(options_without_floor());
  EXPECT_FALSE(d.has_model());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(feed(d, "total", 1e6 + (i % 7) * 1e3, i).empty());
  const auto alerts = feed(d, "total", 2e7, 100);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, kind::kVolumeForecast);
  EXPECT_THAT(alerts[0].description, HasSubstr("the expected"));
  EXPECT_EQ(d.stats().forecasts, 0u);
  EXPECT_EQ(d.baseline_stats().alerts, 1u);
}

TEST(ForecastDetector, TenfoldSpikeAlertsHighAndTheNextNormalSecondsDoNot) {
  auto model = std::make_shared<FakeForecaster>(10);
  ForecastDetector d(options_without_floor(), model);
  int t = 0;
  for (; t < 30; ++t) ASSERT_TRUE(feed(d, "total", 1e6, t).empty());
  const auto alerts = feed(d, "total", 1e7, t++);
  ASSERT_EQ(alerts.size(), 1u);
  const Evidence& a = alerts[0];
  EXPECT_EQ(a.kind, kind::kVolumeForecast);
  EXPECT_EQ(a.interface, "total");
  EXPECT_EQ(a.threat, Severity::kHigh);
  EXPECT_EQ(a.time_ns, kT0 + 30 * kSec);
  EXPECT_EQ(a.description,
            "Traffic 10 MB/s on total, 10x the forecast (1 MB/s, band up to 2 MB/s)");
  ASSERT_EQ(a.deviations.size(), 1u);
  EXPECT_DOUBLE_EQ(a.deviations[0].expected, 1e6);
  ASSERT_EQ(a.models.size(), 1u);
  EXPECT_EQ(a.models[0].model, "traffic_forecaster");
  for (int i = 0; i < 30; ++i, ++t) {
    EXPECT_TRUE(feed(d, "total", 1e6, t).empty()) << "second " << i << " after the spike";
  }
  EXPECT_EQ(d.stats().alerts, 1u);
}

TEST(ForecastDetector, AnAnomalousValueEntersTheHistoryClippedToTheBandEdge) {
  auto model = std::make_shared<FakeForecaster>(4);
  ForecastDetector d(options_without_floor(), model);
  for (int t = 0; t < 4; ++t) (void)feed(d, "total", 1000, t);
  EXPECT_EQ(feed(d, "total", 1e9, 4).size(), 1u);
  (void)feed(d, "total", 1000, 5);
  EXPECT_EQ(model->last_window, (std::vector<double>{1000, 1000, 1000, 2000}));
}

TEST(ForecastDetector, ASpikeBelowTenTimesTheForecastIsMedium) {
  auto model = std::make_shared<FakeForecaster>(5);
  ForecastDetector d(options_without_floor(), model);
  for (int t = 0; t < 5; ++t) (void)feed(d, "eth0", 1e6, t);
  const auto alerts = feed(d, "eth0", 3e6, 5);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].threat, Severity::kMedium);
  EXPECT_THAT(alerts[0].description, HasSubstr("3x the forecast"));
}

TEST(ForecastDetector, TheAbsoluteBandFloorKeepsAnIdleLinkQuiet) {
  auto model = std::make_shared<FakeForecaster>(5);
  ForecastDetector d(ForecastDetectorOptions{}, model);  // min_band 50 kB/s
  for (int t = 0; t < 5; ++t) (void)feed(d, "total", 100, t);
  EXPECT_TRUE(feed(d, "total", 5000, 5).empty());  // 50x the forecast, but 5 kB/s
  EXPECT_EQ(feed(d, "total", 60'000, 6).size(), 1u);
}

TEST(ForecastDetector, TracksTotalAndEachInterfaceUpToTheSeriesCap) {
  auto model = std::make_shared<FakeForecaster>(3);
  ForecastDetectorOptions o = options_without_floor();
  o.baseline.max_series = 2;
  ForecastDetector d(o, model);
  host::TrafficSample sample;
  sample.timestamp = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  sample.total.bytes_sent = 1000;
  for (const char* name : {"eth0", "wlan0"}) {
    host::InterfaceRates rates;
    rates.name = name;
    rates.bytes_sent = 500;
    sample.interfaces.push_back(rates);
  }
  std::vector<Evidence> out;
  for (int i = 0; i < 4; ++i) d.observe(sample, out);
  EXPECT_TRUE(out.empty());
  const ForecastDetectorStats s = d.stats();
  EXPECT_EQ(s.series, 2u);
  EXPECT_EQ(s.samples, 8u);
  EXPECT_EQ(s.untracked_samples, 4u);
  EXPECT_EQ(s.forecasts, 2u);  // the 4th value of total and eth0
}

TEST(ForecastDetector, SettingAModelLaterUsesTheHistoryAlreadyKept) {
  ForecastDetector d(options_without_floor());
  for (int t = 0; t < 10; ++t) (void)feed(d, "total", 1000.0 + t, t);
  auto model = std::make_shared<FakeForecaster>(3);
  d.set_model(model);
  (void)feed(d, "total", 1000, 10);
  EXPECT_EQ(model->last_window, (std::vector<double>{1007, 1008, 1009}));
  ForecastDetectorOptions negative_floor;
  negative_floor.min_band = -1;
  EXPECT_THROW({ ForecastDetector bad(negative_floor); }, core::Error);
}

TEST(ForecastDetector, DetectForecastAnomaliesFlagsTheSpikesOfAStoredSeries) {
  std::vector<double> values(200, 5000);
  values[50] = 50'000;
  values[150] = 60'000;
  const SeriesFlags flags = detect_forecast_anomalies(values, std::make_shared<FakeForecaster>(20),
                                                      options_without_floor());
  EXPECT_EQ(flags.indices, (std::vector<std::size_t>{50, 150}));
}

// --- load_traffic_series ---

std::filesystem::path write_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("netsentry_fc_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

TEST(LoadTrafficSeries, SumsSentAndReceivedOfTheMonitorsTrafficLog) {
  const auto path =
      write_file("traffic.csv",
                 "timestamp,bytes_sent,bytes_recv,packets_sent,packets_recv,total_bytes\n"
                 "2026-11-23 10:00:00,100,200,1,2,300\n"
                 "2026-11-23 10:00:01.5,1000,0,3,0,1000\r\n");
  const TrafficSeries s = load_traffic_series(path);
  EXPECT_EQ(s.format, "network_traffic");
  EXPECT_EQ(s.values, (std::vector<double>{300, 1000}));
  EXPECT_TRUE(s.label_window.empty());
  EXPECT_EQ(load_traffic_series(path, "packets_sent").values, (std::vector<double>{1, 3}));
  std::filesystem::remove(path);
}

TEST(LoadTrafficSeries, ReadsNabValuesAndWindowLabels) {
  const auto path = write_file("nab.csv",
                               "timestamp,value,label_window,label_point\n"
                               "2014-04-10 00:04:00,251643.0,0,0\n"
                               "2014-04-10 00:09:00,3203510.0,1,0\n");
  const TrafficSeries s = load_traffic_series(path);
  EXPECT_EQ(s.format, "nab");
  EXPECT_EQ(s.values, (std::vector<double>{251643.0, 3203510.0}));
  EXPECT_EQ(s.label_window, (std::vector<int>{0, 1}));
  std::filesystem::remove(path);
}

TEST(LoadTrafficSeries, ABadCellIsReportedAsFileLineColumn) {
  const auto path = write_file("bad.csv",
                               "timestamp,value\n"
                               "2014-04-10 00:04:00,1.0\n"
                               "2014-04-10 00:09:00,abc\n");
  EXPECT_THAT([&] { (void)load_traffic_series(path); },
              ::testing::ThrowsMessage<core::Error>(
                  HasSubstr(path.string() + ":3:2: column \"value\": \"abc\"")));
  const auto other = write_file("other.csv", "a,b\n1,2\n");
  EXPECT_THAT([&] { (void)load_traffic_series(other); },
              ::testing::ThrowsMessage<core::Error>(HasSubstr("not a traffic series")));
  EXPECT_THAT([&] { (void)load_traffic_series(other, "c"); },
              ::testing::ThrowsMessage<core::Error>(HasSubstr("no column \"c\"")));
  const auto ragged = write_file("ragged.csv", "timestamp,value\nx,1,2\n");
  EXPECT_THAT([&] { (void)load_traffic_series(ragged); },
              ::testing::ThrowsMessage<core::Error>(HasSubstr(":2: 3 fields")));
  for (const auto& p : {path, other, ragged}) std::filesystem::remove(p);
}

// --- the real LSTM through the LibTorch module ---

TEST(ForecastDetectorWithLstm, TenfoldSpikeAlertsAndTheNextNormalSecondsDoNot) {
  std::string why;
  if (!ml::torch_module::available(&why)) GTEST_SKIP() << "no LibTorch module: " << why;
  ml::torch_module::set_threads(1);
  // A minute-periodic series around 600 kB/s with 5 % noise.
  std::mt19937 rng(5);
  std::normal_distribution<double> noise(0.0, 0.05);
  auto value = [&](std::size_t i) {
    return (600'000 + 300'000 * std::sin(2 * std::numbers::pi * double(i) / 60.0)) *
           std::exp(noise(rng));
  };
  std::vector<double> train(2500);
  for (std::size_t i = 0; i < train.size(); ++i) train[i] = value(i);
  ml::torch::ForecasterOptions o;
  o.window = 30;
  o.epochs = 15;
  auto model = ml::torch_module::make_traffic_forecaster(o);
  (void)model->fit(train, ml::TrainContext{});
  ForecastDetector d(ForecastDetectorOptions{}, std::move(model));

  std::size_t i = train.size();
  std::vector<Evidence> out;
  for (int t = 0; t < 120; ++t, ++i) d.observe_value("total", value(i), kT0 + t * kSec, out);
  const std::size_t before = out.size();  // a stray alarm at a 0.1 % rate is possible, not many
  EXPECT_LE(before, 1u);
  const double normal = value(i++);
  d.observe_value("total", 10 * normal, kT0 + 120 * kSec, out);
  ASSERT_EQ(out.size(), before + 1) << "the 10x spike did not alert";
  EXPECT_THAT(out.back().description, HasSubstr("the forecast"));
  for (int t = 121; t < 140; ++t, ++i) d.observe_value("total", value(i), kT0 + t * kSec, out);
  EXPECT_EQ(out.size(), before + 1) << out.back().description;
}

}  // namespace
}  // namespace netsentry::detect
