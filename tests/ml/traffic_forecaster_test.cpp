// Tests for the LSTM traffic forecaster (src/ml/torch/traffic_forecaster.cpp) on synthetic series
// with known structure: a daily-like sine with noise, where the next value is predictable from the
// last minute and a constant forecast is not. Compiled only with LibTorch (see
// torch_models_test.cpp for the guard).
#if defined(NETSENTRY_HAVE_TORCH) || defined(USE_DISTRIBUTED)

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "ml/model.h"
#include "ml/torch/torch_models.h"

namespace netsentry::ml::torch {
namespace {

using ::testing::HasSubstr;

std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("netsentry_forecaster_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Bytes/s that swing between ~100 kB/s and ~1.1 MB/s with a 120-second period, times lognormal
// noise of ~5 %: the phase (hence the next value) is readable from the last minute.
std::vector<double> periodic_series(std::size_t n, std::uint32_t seed, std::size_t offset = 0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.05);
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double phase = 2 * std::numbers::pi * static_cast<double>(i + offset) / 120.0;
    out[i] = (600'000 + 500'000 * std::sin(phase)) * std::exp(noise(rng));
  }
  return out;
}

// Every window of `series` laid out for predict_batch, with the value each one forecasts.
void windows_of(std::span<const double> series, std::size_t w, std::vector<double>& windows,
                std::vector<double>& targets) {
  windows.clear();
  targets.clear();
  for (std::size_t i = 0; i + w < series.size(); ++i) {
    windows.insert(windows.end(), series.begin() + static_cast<std::ptrdiff_t>(i),
                   series.begin() + static_cast<std::ptrdiff_t>(i + w));
    targets.push_back(series[i + w]);
  }
}

class TrafficForecasterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_torch_threads(1);
    train_ = new std::vector<double>(periodic_series(4000, 1));
    model_ = make_traffic_forecaster({}).release();
    TrainContext ctx;
    ctx.seed = 7;
    summary_ = model_->fit(*train_, ctx);
  }
  static void TearDownTestSuite() {
    delete model_;
    delete train_;
    model_ = nullptr;
    train_ = nullptr;
  }

  static TrafficForecaster* model_;
  static std::vector<double>* train_;
  static ForecasterSummary summary_;
};

TrafficForecaster* TrafficForecasterTest::model_ = nullptr;
std::vector<double>* TrafficForecasterTest::train_ = nullptr;
ForecasterSummary TrafficForecasterTest::summary_;

TEST_F(TrafficForecasterTest, LearnsAPeriodicSeriesFarBetterThanAConstantForecast) {
  // Held out: the same process later on, never seen in training.
  const std::vector<double> later = periodic_series(2000, 99, 4000);
  std::vector<double> windows, targets;
  windows_of(later, model_->window(), windows, targets);
  const std::vector<Forecast> f = model_->predict_batch(windows);
  ASSERT_EQ(f.size(), targets.size());
  std::vector<double> sorted = *train_;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2),
                   sorted.end());
  const double median = sorted[sorted.size() / 2];
  double mae = 0, constant = 0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    mae += std::fabs(f[i].expected - targets[i]);
    constant += std::fabs(median - targets[i]);
  }
  std::printf("[ forecast ] held-out MAE %.0f B/s vs constant %.0f B/s; fit %.1f s, %d epochs\n",
              mae / double(targets.size()), constant / double(targets.size()),
              summary_.train_seconds, summary_.epochs_run);
  EXPECT_LT(mae, 0.25 * constant);
  EXPECT_LT(summary_.validation_mae, 0.25 * summary_.constant_mae);
  EXPECT_GT(summary_.band_quantile, 0.0);
  EXPECT_EQ(summary_.points, train_->size());
}

TEST_F(TrafficForecasterTest, BandFalseAlarmRateOnHeldOutNormalDataIsNearTheTarget) {
  const std::vector<double> later = periodic_series(6000, 123, 10'000);
  std::vector<double> windows, targets;
  windows_of(later, model_->window(), windows, targets);
  // A 1 % target gives ~60 expected alarms here, enough to measure; 0.1 % is checked loosely.
  for (const double target : {0.01, 0.001}) {
    model_->set_false_alarm_rate(target);
    const std::vector<Forecast> f = model_->predict_batch(windows);
    std::size_t above = 0;
    for (std::size_t i = 0; i < targets.size(); ++i) above += targets[i] > f[i].upper ? 1 : 0;
    const double rate = double(above) / double(targets.size());
    std::printf("[ forecast ] target %.3f: held-out rate %.4f (q_hi %.2f)\n", target, rate,
                model_->band_quantile());
    if (target == 0.01) {
      EXPECT_GT(rate, target / 4);
      EXPECT_LT(rate, target * 3);
    } else {
      EXPECT_LT(rate, target * 5);
    }
  }
  model_->set_false_alarm_rate(0.001);
  EXPECT_THROW(model_->set_false_alarm_rate(0.5), core::Error);
}

TEST_F(TrafficForecasterTest, SinglePredictMatchesTheBatchAndCostsUnderAMillisecond) {
  const std::size_t w = model_->window();
  const std::span<const double> last(train_->data() + train_->size() - w, w);
  const Forecast one = model_->predict(last);
  const std::vector<Forecast> batch = model_->predict_batch(last);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_NEAR(one.location, batch[0].location, 1e-4);
  EXPECT_NEAR(one.scale, batch[0].scale, 1e-4);
  EXPECT_NEAR(one.expected, batch[0].expected, 1e-3 * batch[0].expected);
  EXPECT_GT(one.upper, one.expected);
  EXPECT_NEAR(model_->residual(one.upper, one), model_->band_quantile(), 1e-6);

  constexpr int kCalls = 500;
  const auto t0 = std::chrono::steady_clock::now();
  double sink = 0;
  for (int i = 0; i < kCalls; ++i) sink += model_->predict(last).expected;
  const double per_call_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
      kCalls;
  std::printf("[ forecast ] predict(): %.3f ms per call\n", per_call_ms);
  EXPECT_GT(sink, 0);
  EXPECT_LT(per_call_ms, 1.0);
  EXPECT_THROW((void)model_->predict(last.subspan(1)), core::Error);
}

TEST_F(TrafficForecasterTest, SaveAndLoadGiveIdenticalForecasts) {
  const auto dir = fresh_dir("roundtrip");
  model_->save(dir);
  EXPECT_TRUE(std::filesystem::exists(dir / "traffic_forecaster.pt"));
  EXPECT_TRUE(std::filesystem::exists(dir / "traffic_forecaster.json"));
  // Options of the loading object do not matter: the stored architecture wins.
  ForecasterOptions other;
  other.window = 10;
  other.hidden_size = 4;
  auto loaded = make_traffic_forecaster(other);
  loaded->load(dir);
  EXPECT_EQ(loaded->window(), model_->window());
  EXPECT_DOUBLE_EQ(loaded->band_quantile(), model_->band_quantile());
  EXPECT_EQ(loaded->summary().points, summary_.points);
  std::vector<double> windows, targets;
  windows_of(std::span<const double>(*train_).subspan(0, 300), model_->window(), windows, targets);
  const auto a = model_->predict_batch(windows);
  const auto b = loaded->predict_batch(windows);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].location, b[i].location) << i;
    EXPECT_EQ(a[i].scale, b[i].scale) << i;
    EXPECT_EQ(a[i].upper, b[i].upper) << i;
  }
  std::filesystem::remove_all(dir);
}

// Rewrites one field of the saved sidecar and returns the load error.
std::string load_error_after(const TrafficForecaster& model, const std::string& name,
                             const std::function<void(nlohmann::json&)>& edit) {
  const auto dir = fresh_dir(name);
  model.save(dir);
  const auto path = dir / "traffic_forecaster.json";
  nlohmann::json doc = nlohmann::json::parse(std::ifstream(path));
  edit(doc);
  std::ofstream(path, std::ios::trunc) << doc.dump(2);
  std::string message;
  try {
    make_traffic_forecaster()->load(dir);
  } catch (const core::Error& e) {
    message = e.what();
  }
  std::filesystem::remove_all(dir);
  return message;
}

TEST_F(TrafficForecasterTest, LoadNamesTheSidecarFieldThatDoesNotMatch) {
  EXPECT_THAT(load_error_after(*model_, "version", [](auto& d) { d["format_version"] = 99; }),
              HasSubstr("format_version"));
  EXPECT_THAT(
      load_error_after(*model_, "hidden", [](auto& d) { d["options"]["hidden_size"] = 16; }),
      HasSubstr("hidden_size 16"));
  EXPECT_THAT(
      load_error_after(*model_, "std", [](auto& d) { d["options"]["transform"].erase("std"); }),
      HasSubstr("transform.std"));
  EXPECT_THAT(load_error_after(*model_, "tail",
                               [](auto& d) {
                                 d["options"]["calibration"]["tail_residuals"] = {1.0, 2.0};
                               }),
              HasSubstr("calibration.tail_residuals"));
  EXPECT_THAT(load_error_after(*model_, "window", [](auto& d) { d["options"]["window"] = 0; }),
              HasSubstr("\"window\""));
}

TEST(TrafficForecaster, TrainingIsDeterministicForASeed) {
  set_torch_threads(1);
  const std::vector<double> series = periodic_series(400, 3);
  ForecasterOptions o;
  o.window = 20;
  o.epochs = 2;
  TrainContext ctx;
  ctx.seed = 11;
  auto a = make_traffic_forecaster(o);
  auto b = make_traffic_forecaster(o);
  (void)a->fit(series, ctx);
  (void)b->fit(series, ctx);
  const std::span<const double> last(series.data() + series.size() - 20, 20);
  EXPECT_EQ(a->predict(last).location, b->predict(last).location);
  EXPECT_EQ(a->band_quantile(), b->band_quantile());
}

TEST(TrafficForecaster, RejectsSeriesItCannotLearnFrom) {
  auto model = make_traffic_forecaster({});
  const TrainContext ctx;
  const std::vector<double> short_series(90, 1000.0);
  EXPECT_THAT([&] { (void)model->fit(short_series, ctx); },
              ::testing::ThrowsMessage<core::Error>(HasSubstr("needs at least 100")));
  std::vector<double> negative = periodic_series(500, 1);
  negative[123] = -5;
  EXPECT_THAT([&] { (void)model->fit(negative, ctx); },
              ::testing::ThrowsMessage<core::Error>(HasSubstr("point 123")));
  EXPECT_THROW((void)model->predict(std::vector<double>(60, 1.0)), core::Error);
  ForecasterOptions bad;
  bad.window = 1;
  EXPECT_THROW((void)make_traffic_forecaster(bad), core::Error);
}

}  // namespace
}  // namespace netsentry::ml::torch

#endif
