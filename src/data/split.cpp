#include "data/split.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "core/error.h"

namespace netsentry::data {

namespace {

void check_fractions(double validation_fraction, double test_fraction) {
  if (!(validation_fraction >= 0) || !(test_fraction >= 0) ||
      !(validation_fraction + test_fraction < 1)) {
    throw core::Error("split: validation (" + std::to_string(validation_fraction) + ") and test (" +
                      std::to_string(test_fraction) +
                      ") fractions must be >= 0 and leave some rows for training");
  }
}

// Fisher-Yates with our own index draw: std::shuffle and the std distributions are
// implementation-defined, which would make splits differ between standard libraries.
void shuffle(std::vector<std::size_t>& v, std::mt19937_64& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const std::uint64_t bound = i;
    // Rejection sampling removes modulo bias.
    const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() -
                                std::numeric_limits<std::uint64_t>::max() % bound;
    std::uint64_t r = 0;
    do {
      r = rng();
    } while (r >= limit);
    std::swap(v[i - 1], v[static_cast<std::size_t>(r % bound)]);
  }
}

std::vector<std::size_t> count_classes(std::span<const int> labels) {
  std::vector<std::size_t> counts;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) {
      throw core::Error("split: label " + std::to_string(labels[i]) + " at row " +
                        std::to_string(i) + " is negative");
    }
    const auto c = static_cast<std::size_t>(labels[i]);
    if (c >= counts.size()) counts.resize(c + 1, 0);
    ++counts[c];
  }
  return counts;
}

}  // namespace

Split stratified_split(std::span<const int> labels, double validation_fraction,
                       double test_fraction, std::uint64_t seed) {
  check_fractions(validation_fraction, test_fraction);
  const auto counts = count_classes(labels);
  std::vector<std::vector<std::size_t>> by_class(counts.size());
  for (std::size_t c = 0; c < counts.size(); ++c) by_class[c].reserve(counts[c]);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    by_class[static_cast<std::size_t>(labels[i])].push_back(i);
  }
  std::mt19937_64 rng(seed);
  Split s;
  for (auto& rows : by_class) {
    shuffle(rows, rng);
    const auto n = static_cast<double>(rows.size());
    const auto n_test = static_cast<std::size_t>(std::llround(n * test_fraction));
    const auto n_val = std::min(rows.size() - n_test,
                                static_cast<std::size_t>(std::llround(n * validation_fraction)));
    s.test.insert(s.test.end(), rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(n_test));
    s.validation.insert(s.validation.end(), rows.begin() + static_cast<std::ptrdiff_t>(n_test),
                        rows.begin() + static_cast<std::ptrdiff_t>(n_test + n_val));
    s.train.insert(s.train.end(), rows.begin() + static_cast<std::ptrdiff_t>(n_test + n_val),
                   rows.end());
  }
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.validation.begin(), s.validation.end());
  std::sort(s.test.begin(), s.test.end());
  return s;
}

Split chronological_split(std::span<const std::size_t> order, double validation_fraction,
                          double test_fraction) {
  check_fractions(validation_fraction, test_fraction);
  const auto n = static_cast<double>(order.size());
  const auto n_test = static_cast<std::size_t>(std::llround(n * test_fraction));
  const auto n_val = std::min(order.size() - n_test,
                              static_cast<std::size_t>(std::llround(n * validation_fraction)));
  const std::size_t n_train = order.size() - n_test - n_val;
  Split s;
  s.train.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_train));
  s.validation.assign(order.begin() + static_cast<std::ptrdiff_t>(n_train),
                      order.begin() + static_cast<std::ptrdiff_t>(n_train + n_val));
  s.test.assign(order.begin() + static_cast<std::ptrdiff_t>(n_train + n_val), order.end());
  return s;
}

std::vector<float> balanced_class_weights(std::span<const int> labels) {
  const auto counts = count_classes(labels);
  const auto present = static_cast<double>(
      std::count_if(counts.begin(), counts.end(), [](std::size_t c) { return c > 0; }));
  std::vector<float> w(counts.size(), 0.0f);
  for (std::size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] == 0) continue;
    w[c] = static_cast<float>(static_cast<double>(labels.size()) /
                              (present * static_cast<double>(counts[c])));
  }
  return w;
}

std::vector<float> balanced_sample_weights(std::span<const int> labels) {
  const auto w = balanced_class_weights(labels);
  std::vector<float> out(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) out[i] = w[static_cast<std::size_t>(labels[i])];
  return out;
}

}  // namespace netsentry::data
