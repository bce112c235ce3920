// Tests for the autoencoder's quantile transform (src/ml/torch/feature_transform.h), which is
// torch-free but built into the LibTorch module.
#if defined(NETSENTRY_HAVE_TORCH) || defined(USE_DISTRIBUTED)

#include "ml/torch/feature_transform.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <vector>

#include "core/error.h"

namespace netsentry::ml::torch {
namespace {

std::vector<std::size_t> all_rows(std::size_t n) {
  std::vector<std::size_t> r(n);
  std::iota(r.begin(), r.end(), 0);
  return r;
}

// Column 0: log-normal (heavy tail); column 1: a flag set on 10 % of rows; column 2: constant.
data::Matrix benign(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<float> heavy(0.0f, 2.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  data::Matrix x(n, 3);
  for (std::size_t i = 0; i < n; ++i) {
    x.at(i, 0) = heavy(rng);
    x.at(i, 1) = u(rng) < 0.1f ? 1.0f : 0.0f;
    x.at(i, 2) = 5.0f;
  }
  return x;
}

TEST(QuantileNormalizer, MapsBenignValuesToStandardNormalScores) {
  const auto x = benign(20000, 1);
  QuantileNormalizer t;
  t.fit(x, all_rows(x.rows));
  const auto z = t.transform(benign(20000, 2));
  double sum = 0, sq = 0;
  for (std::size_t i = 0; i < z.rows; ++i) {
    sum += z.at(i, 0);
    sq += z.at(i, 0) * z.at(i, 0);
  }
  const double mean = sum / static_cast<double>(z.rows);
  EXPECT_NEAR(mean, 0.0, 0.05);
  EXPECT_NEAR(std::sqrt(sq / static_cast<double>(z.rows) - mean * mean), 1.0, 0.1);
}

TEST(QuantileNormalizer, IsMonotoneAndKeepsGoingBeyondTheBenignRange) {
  const auto x = benign(5000, 3);
  QuantileNormalizer t;
  t.fit(x, all_rows(x.rows));
  float previous = -1e9f;
  for (float v = 0.0f; v < 1e6f; v = v * 1.5f + 0.01f) {
    const float z = t.transform_value(0, v);
    EXPECT_GE(z, previous) << v;
    previous = z;
  }
  // 10x and 1000x past the largest benign value: both far out, the second further, neither huge.
  float top = 0;
  for (std::size_t i = 0; i < x.rows; ++i) top = std::max(top, x.at(i, 0));
  const float z10 = t.transform_value(0, top * 10);
  const float z1000 = t.transform_value(0, top * 1000);
  EXPECT_GT(z10, 3.5f);
  EXPECT_GT(z1000, z10 + 2.0f);
  EXPECT_LT(z1000, 30.0f);
}

TEST(QuantileNormalizer, BinaryAndConstantFeaturesStayFiniteAndSymmetric) {
  const auto x = benign(5000, 4);
  QuantileNormalizer t;
  t.fit(x, all_rows(x.rows));
  // The flag: 0 is common (below the median score's distance), 1 is rare (a high score).
  EXPECT_LT(std::abs(t.transform_value(1, 0.0f)), 0.5f);
  EXPECT_GT(t.transform_value(1, 1.0f), 1.5f);
  // The constant: its value is typical, anything else is clearly not.
  EXPECT_NEAR(t.transform_value(2, 5.0f), 0.0f, 1e-6f);
  EXPECT_GT(t.transform_value(2, 6.0f), 2.0f);
  EXPECT_LT(t.transform_value(2, 4.0f), -2.0f);
  EXPECT_EQ(t.transform_value(0, std::nanf("")), 0.0f);
}

TEST(QuantileNormalizer, RoundTripsThroughJsonAndRefusesBrokenTables) {
  const auto x = benign(1000, 5);
  QuantileNormalizer t;
  t.fit(x, all_rows(x.rows));
  const auto j = t.to_json();
  const auto back = QuantileNormalizer::from_json(j, "ae.json", 3);
  for (float v : {0.0f, 0.5f, 3.0f, 1e4f}) {
    EXPECT_EQ(back.transform_value(0, v), t.transform_value(0, v));
  }
  EXPECT_THROW((void)QuantileNormalizer::from_json(j, "ae.json", 4), core::Error);
  auto unsorted = j;
  std::swap(unsorted["knots"][0][3], unsorted["knots"][0][90]);
  try {
    (void)QuantileNormalizer::from_json(unsorted, "ae.json", 3);
    FAIL() << "accepted unsorted knots";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("ae.json: transform.knots[0]"), std::string::npos)
        << e.what();
  }
  auto zero_scale = j;
  zero_scale["high_scale"][1] = 0.0;
  EXPECT_THROW((void)QuantileNormalizer::from_json(zero_scale, "ae.json", 3), core::Error);
}

}  // namespace
}  // namespace netsentry::ml::torch

#endif
