// Provides deterministic train/validation/test splits as row indices (stratified by label, or
// chronological) and scikit-learn style balanced class weights.
// Thread rules: pure functions; safe to call from several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace netsentry::data {

struct Split {
  std::vector<std::size_t> train;
  std::vector<std::size_t> validation;
  std::vector<std::size_t> test;
};

// Shuffles each class (labels are any non-negative ints, e.g. Dataset::y or class_code) with
// std::mt19937_64(seed) and deals round(n_c * fraction) of it to validation and test, the rest to
// train, so every part keeps the class ratios. Each part is returned sorted ascending (row order,
// hence time order when the rows are). Same input and seed give the same split on every platform.
// Throws core::Error when the fractions are negative or sum to 1 or more, or a label is negative.
[[nodiscard]] Split stratified_split(std::span<const int> labels, double validation_fraction,
                                     double test_fraction, std::uint64_t seed);

// The first rows (in `order`, e.g. Dataset::time_order()) to train, the next to validation, the
// last to test: for sequence models and for honest evaluation on later traffic.
[[nodiscard]] Split chronological_split(std::span<const std::size_t> order,
                                        double validation_fraction, double test_fraction);

// weight[c] = n_samples / (n_classes * count[c]) for labels 0..max(label), like scikit-learn's
// compute_class_weight("balanced"); n_classes counts the classes present; absent classes get 0.
[[nodiscard]] std::vector<float> balanced_class_weights(std::span<const int> labels);

// One weight per row: balanced_class_weights(labels)[labels[i]] (for ml::TrainSet::weights).
[[nodiscard]] std::vector<float> balanced_sample_weights(std::span<const int> labels);

}  // namespace netsentry::data
