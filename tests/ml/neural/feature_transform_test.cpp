// Tests for the autoencoder's quantile transform (src/ml/neural/feature_transform.h).
#include "ml/neural/feature_transform.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <vector>

#include "core/error.h"

namespace netsentry::ml::neural {
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

// The transform as first written (two binary searches and a normal quantile per value), kept
// here as the reference the indexed transform must reproduce bit for bit.
namespace reference {

double normal_quantile(double p) {
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  p = std::clamp(p, 1e-3, 1.0 - 1e-3);
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log(1 - p));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const double q = p - 0.5;
  const double r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

double probability(std::size_t k) { return static_cast<double>(k) / 100.0; }

double inside(const std::vector<float>& q, float x) {
  const auto lo = static_cast<std::size_t>(std::lower_bound(q.begin(), q.end(), x) - q.begin());
  const auto past = static_cast<std::size_t>(std::upper_bound(q.begin(), q.end(), x) - q.begin());
  if (past > lo) return normal_quantile(0.5 * (probability(lo) + probability(past - 1)));
  const double f = (static_cast<double>(x) - q[lo - 1]) / (static_cast<double>(q[lo]) - q[lo - 1]);
  return normal_quantile(probability(lo - 1) + f * (probability(lo) - probability(lo - 1)));
}

float transform_value(const nlohmann::json& j, std::size_t col, float v) {
  if (!std::isfinite(v)) return 0.0f;
  const auto q = j.at("knots")[col].get<std::vector<float>>();
  const float high = j.at("high_scale")[col].get<float>();
  const float low = j.at("low_scale")[col].get<float>();
  if (v > q.back())
    return static_cast<float>(inside(q, q.back()) + std::log1p((v - q.back()) / high));
  if (v < q.front())
    return static_cast<float>(inside(q, q.front()) - std::log1p((q.front() - v) / low));
  return static_cast<float>(inside(q, v));
}

}  // namespace reference

TEST(QuantileNormalizer, GivesTheFirstImplementationsScoresBitForBit) {
  // Heavy-tailed, binary and constant columns, plus a column of few distinct values (long runs
  // of equal knots).
  auto x = benign(3000, 8);
  data::Matrix wide(x.rows, 4);
  std::mt19937_64 rng(9);
  std::uniform_int_distribution<int> small(0, 3);
  for (std::size_t i = 0; i < x.rows; ++i) {
    for (std::size_t j = 0; j < 3; ++j) wide.at(i, j) = x.at(i, j);
    wide.at(i, 3) = static_cast<float>(small(rng) * small(rng));
  }
  QuantileNormalizer t;
  t.fit(wide, all_rows(wide.rows));
  const auto j = t.to_json();
  std::lognormal_distribution<float> probe(0.0f, 3.0f);
  for (std::size_t col = 0; col < 4; ++col) {
    std::vector<float> values = j.at("knots")[col].get<std::vector<float>>();  // on the knots
    const std::size_t knots = values.size();
    for (std::size_t k = 0; k + 1 < knots; ++k)
      values.push_back(0.5f * (values[k] + values[k + 1]));
    for (int k = 0; k < 2000; ++k) values.push_back(probe(rng) - 2.0f);
    for (float v : {-1e6f, -1.0f, 0.0f, 1.0f, 5.0f, 9.0f, 1e6f, std::nanf("")}) values.push_back(v);
    for (const float v : values) {
      const float expected = reference::transform_value(j, col, v);
      ASSERT_EQ(t.transform_value(col, v), expected) << "column " << col << ", value " << v;
    }
  }
  // A whole row through transform() and transform_row() gives the same numbers.
  const data::Matrix all = t.transform(wide);
  std::vector<float> row(4);
  t.transform_row(wide, 17, row.data());
  for (std::size_t col = 0; col < 4; ++col) {
    EXPECT_EQ(row[col], all.at(17, col));
    EXPECT_EQ(row[col], reference::transform_value(j, col, wide.at(17, col)));
  }
}

}  // namespace
}  // namespace netsentry::ml::neural
