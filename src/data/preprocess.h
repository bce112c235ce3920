// Provides data::Preprocessor, which turns raw Dataset columns (or one live record) into the model
// input Matrix: engineered ratio features, median imputation, log1p for heavy-tailed counts,
// standard scaling, and one-hot / label encoding of categorical columns. It is fitted on training
// data only and serialised to JSON inside the model bundle.
// Thread rules: fit()/from_json() from one thread; every const method may run concurrently.
//
// Policies (fixed at fit time, stored in the JSON):
//  - Engineered features (the original project's), added when Duration, PacketCount and ByteCount
//    exist: BytesPerPacket = ByteCount/PacketCount, PacketRate = PacketCount/Duration,
//    ByteRate = ByteCount/Duration, Duration_PacketCount_Ratio = Duration/PacketCount; a zero
//    divisor gives 0. They are computed from imputed raw values.
//  - Missing numeric values (NaN: empty, NaN or +/-Infinity cells) become the training median of
//    the column's finite values (0 when it has none).
//  - log1p (Log1p::kHeavyTailed, default) on columns whose training minimum is >= 0 and training
//    maximum is > 100 (byte/packet counts, durations, rates); values below 0 at inference are
//    clamped to 0 first. Columns that stay within [0,100] (ratios, flags) are left linear.
//  - Numeric columns constant over the training rows are not model inputs (drop_constant).
//  - Standard scaling of every numeric output: (x - mean) / std with the training mean and
//    population std; a constant column gets std 1.
//  - Categorical columns: the max_categories-1 most frequent training levels (ties broken by
//    text) keep their own slot; rarer levels, empty cells and levels never seen in training share
//    the "<other>" slot. One-hot output names are "column=level" and "column=<other>"; label
//    encoding gives one unscaled output holding the slot index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset.h"
#include "data/matrix.h"

namespace netsentry::data {

enum class CategoricalEncoding : std::uint8_t { kOneHot, kLabel };
enum class Log1p : std::uint8_t { kOff, kHeavyTailed, kNonNegative };

struct PreprocessOptions {
  CategoricalEncoding encoding = CategoricalEncoding::kOneHot;
  std::size_t max_categories = 32;  // per column, including the "<other>" slot; >= 2
  Log1p log1p = Log1p::kHeavyTailed;
  bool scale = true;
  bool engineered_features = true;
  // Leave out numeric columns that are constant over the training rows (no information).
  bool drop_constant = true;
  // Raw columns to leave out of the model input (e.g. "Dst Port" for a port-agnostic model).
  std::vector<std::string> exclude_columns;
};

class Preprocessor final {
 public:
  Preprocessor() = default;
  explicit Preprocessor(PreprocessOptions options) : options_(std::move(options)) {}

  // Learns medians, log1p choices, scaling and category slots from `train` (all its rows).
  void fit(const Dataset& train);
  [[nodiscard]] bool fitted() const { return fitted_; }

  // One output row per dataset row, in feature_names() order. Columns are matched by name, so the
  // dataset may order them differently or carry extra ones; a missing input column or a column
  // whose kind differs from training throws core::Error naming it.
  [[nodiscard]] Matrix transform(const Dataset& data) const;
  [[nodiscard]] std::size_t output_size() const { return output_names_.size(); }
  [[nodiscard]] const std::vector<std::string>& feature_names() const { return output_names_; }

  // --- Live records (one flow at a time) -------------------------------------------------------
  // The raw inputs the preprocessor reads, in order. A caller binds them once (e.g. to indices in
  // its own record) and then calls transform_record() per record without any lookup by name.
  [[nodiscard]] const std::vector<std::string>& numeric_inputs() const { return numeric_inputs_; }
  [[nodiscard]] const std::vector<std::string>& categorical_inputs() const {
    return categorical_inputs_;
  }
  // `numeric` follows numeric_inputs() (NaN = missing), `categorical` follows categorical_inputs()
  // (text as it would appear in a CSV, e.g. "TCP" or "6" for a protocol). `out` must have
  // output_size() elements. No allocation; unseen categories go to the "<other>" slot.
  void transform_record(std::span<const double> numeric,
                        std::span<const std::string_view> categorical, std::span<float> out) const;
  // Convenience form that looks inputs up by name through callbacks (slower: two calls per input).
  void transform_record(const std::function<double(std::string_view)>& numeric,
                        const std::function<std::string_view(std::string_view)>& categorical,
                        std::span<float> out) const;

  // --- Explaining a record
  // ------------------------------------------------------------------------ Outputs [0,
  // numeric_output_count()) are scaled numeric features: their value is a z-score against the
  // training data. The rest are categorical slots.
  [[nodiscard]] std::size_t numeric_output_count() const { return numeric_.size(); }
  // The raw value that numeric output `i` maps to 0 (the training mean, undone through log1p):
  // what "normal" looks like for that feature, for alert evidence.
  [[nodiscard]] double typical_value(std::size_t i) const;
  // The raw value behind numeric output `i` of a transformed record (undoes scaling and log1p).
  [[nodiscard]] double raw_value(std::size_t i, float output) const;

  // --- Persistence -------------------------------------------------------------------------------
  [[nodiscard]] nlohmann::json to_json() const;
  // Throws core::Error saying which field is missing or malformed.
  [[nodiscard]] static Preprocessor from_json(const nlohmann::json& j);

  [[nodiscard]] const PreprocessOptions& options() const { return options_; }

 private:
  struct NumericFeature {
    std::string name;
    int input = -1;       // index into numeric_inputs_, or -1 for an engineered feature
    int engineered = -1;  // which engineered formula (0..3) when input == -1
    double median = 0;
    bool log1p = false;
    double mean = 0;
    double scale = 1;
  };
  struct CategoricalFeature {
    std::string name;
    // Kept levels; a level's slot is its position, the "<other>" slot is levels.size().
    std::vector<std::string> levels;
  };

  [[nodiscard]] std::size_t slot_of(const CategoricalFeature& f, std::string_view text) const;
  void build_output_names();

  PreprocessOptions options_;
  bool fitted_ = false;
  std::vector<std::string> numeric_inputs_;
  std::vector<std::string> categorical_inputs_;
  std::vector<NumericFeature> numeric_;          // output order: numeric_ then categorical_
  std::vector<CategoricalFeature> categorical_;  // parallel to categorical_inputs_
  // Inputs of the engineered formulas, as indices into numeric_inputs_ (-1 = absent).
  int duration_input_ = -1;
  int packets_input_ = -1;
  int bytes_input_ = -1;
  std::vector<std::string> output_names_;
};

}  // namespace netsentry::data
