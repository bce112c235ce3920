// Provides ml::neural::QuantileNormalizer, the autoencoder's own input transform fitted on BENIGN
// training rows, of one of two kinds:
//  - standard: (x - benign mean) / benign standard deviation per feature (the preprocessor has
//    already log-scaled heavy-tailed counts), so the reconstruction error is measured in units of
//    benign variation rather than of all training rows, attacks included; a feature (nearly)
//    constant on benign rows gets a floor on its scale, so any other value stands out without
//    overflowing.
//  - quantile: each feature is mapped through its empirical distribution on benign rows to a
//    standard normal score
// (a quantile transform, as scikit-learn's QuantileTransformer(output_distribution="normal")),
// so a heavy-tailed feature (bytes/s, inter-arrival times) spans the same range as a flag and the
// reconstruction error of every feature means "how unusual for benign traffic". Values beyond the
// benign range continue past the last knot on a logarithmic slope instead of being clipped, so
// a flood 100x beyond anything benign still scores higher than one 2x beyond (clipping would hide
// exactly the attacks the autoencoder is for), without one absurd value drowning every other
// feature's error.
// Torch-free (linked into the binary and the LibTorch module). Thread rules: fit/from_json from
// one thread; transform() is const and may run concurrently.
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <vector>

#include "data/matrix.h"

namespace netsentry::ml::neural {

class QuantileNormalizer {
 public:
  // kBoth: each feature twice, its standard score then its quantile score (output_width() = 2x).
  enum class Kind { kStandard, kQuantile, kBoth };
  static constexpr std::size_t kKnots = 101;  // quantiles at probabilities 0, 0.01, ..., 1

  QuantileNormalizer() = default;
  explicit QuantileNormalizer(Kind kind) : kind_(kind) {}

  // Learns each column's statistics from the given rows of x (NaN values are skipped; a column
  // with no finite value maps everything to 0). Throws core::Error when rows is empty.
  void fit(const data::Matrix& x, std::span<const std::size_t> rows);
  [[nodiscard]] bool fitted() const { return features_ > 0; }
  [[nodiscard]] Kind kind() const { return kind_; }
  // Columns transform() writes: features(), or twice that for kBoth.
  [[nodiscard]] std::size_t output_width() const {
    return kind_ == Kind::kBoth ? 2 * features_ : features_;
  }
  [[nodiscard]] std::size_t features() const { return features_; }

  // Transformed copy of the given rows (all rows when `rows` is empty). NaN maps to 0 (the
  // benign median's score).
  [[nodiscard]] data::Matrix transform(const data::Matrix& x,
                                       std::span<const std::size_t> rows = {}) const;
  // Row r of x transformed into out[0 .. output_width()), as transform() writes it.
  void transform_row(const data::Matrix& x, std::size_t r, float* out) const;
  // One value of column j, as the standard (kStandard) or quantile (kQuantile, kBoth) part.
  [[nodiscard]] float transform_value(std::size_t j, float v) const;
  [[nodiscard]] float standard_value(std::size_t j, float v) const;

  [[nodiscard]] nlohmann::json to_json() const;
  // Throws core::Error naming `where` and the field that is missing, has the wrong size, holds a
  // non-finite number or is not ascending.
  [[nodiscard]] static QuantileNormalizer from_json(const nlohmann::json& j,
                                                    const std::string& where,
                                                    std::size_t expected_features);

 private:
  Kind kind_ = Kind::kQuantile;
  std::size_t features_ = 0;
  // Fills knot_scores_ from knots_ (after fit and from_json).
  void index_knots();

  // quantile, per column: kKnots ascending values; the slope scale used below the first and
  // above the last knot.
  std::vector<std::vector<float>> knots_;
  // quantile, per column: the score of a value equal to knot k (the middle of the run of equal
  // knots it belongs to), computed once so that transform() needs one search per value and no
  // normal quantile for the many values that sit on a knot (flags, counts, the benign range's
  // ends).
  std::vector<std::vector<double>> knot_scores_;
  std::vector<float> low_scale_;
  std::vector<float> high_scale_;
  // standard, per column: benign mean and scale.
  std::vector<float> mean_;
  std::vector<float> scale_;
};

}  // namespace netsentry::ml::neural
