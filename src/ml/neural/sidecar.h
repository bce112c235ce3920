// Provides the JSON sidecar every neural model writes beside its weights (`<name>.json`: format
// version, model name, feature count, threshold, the options that fix its architecture, the
// parameter list) and the checked readers of its fields, shared by the LibTorch models (which
// write it) and the torch-free scorers (which read it). Errors name the file, the field and both
// values; and the input check every scorer makes. Thread rules: free functions without shared
// state; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "data/matrix.h"

namespace netsentry::ml::neural {

// Sidecar format version of models that do not set their own (the LSTM has its own, see
// lstm_model.cpp, because its architecture changed independently of the autoencoder's).
inline constexpr int kSidecarFormatVersion = 1;

struct Sidecar {
  std::filesystem::path path;  // of the sidecar itself, for error messages
  std::size_t features = 0;
  float threshold = 0.0f;
  nlohmann::json options;
};

// <dir>/<stem of file>.json.
[[nodiscard]] std::filesystem::path sidecar_path(const std::filesystem::path& dir,
                                                 const std::string& file);

// Reads and checks the sidecar of `file` (same stem, .json): format version, model name and
// feature count must match; the error names the file and both values.
[[nodiscard]] Sidecar read_sidecar(const std::filesystem::path& dir, const std::string& file,
                                   std::string_view model, std::size_t expected_features,
                                   int format_version = kSidecarFormatVersion);

// Reads a required integer in [min_value, max_value] / a finite number from a sidecar's options,
// naming the file, the option and the value on failure.
[[nodiscard]] int option_int(const nlohmann::json& options, const char* key,
                             const std::filesystem::path& where, int min_value,
                             int max_value = std::numeric_limits<int>::max());
[[nodiscard]] float option_float(const nlohmann::json& options, const char* key,
                                 const std::filesystem::path& where);

// Throws core::Error (naming the sidecar) when <dir>/<file> is too small to hold `parameters`
// float32 values: checked before a network of that size is built, so an absurd size in a sidecar
// is one clear line instead of an allocation failure.
void check_parameter_budget(const std::filesystem::path& dir, const std::string& file,
                            const std::filesystem::path& sidecar, double parameters);

// Throws core::Error unless x has `features` columns and group is empty or one entry per row.
void check_score_input(std::string_view model, const data::Matrix& x,
                       std::span<const std::int32_t> group, std::size_t features);

}  // namespace netsentry::ml::neural
