// Provides what the LibTorch models share: the epoch loop (shuffled mini-batches, Adam, early
// stopping with best-weight restore, a hand-written ReduceLROnPlateau since LibTorch 1.13's C++ API
// has none, progress lines), the bundle sidecar (JSON) and parameter file I/O that turns LibTorch
// failures into core::Error, and small helpers. Internal to src/ml/torch/: it includes
// <torch/torch.h>. Thread rules: free functions without shared state; run_training() from the
// fitting thread only.
#pragma once

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/matrix.h"
#include "ml/model.h"

namespace netsentry::ml::torch {

// Sidecar format version of models that do not set their own (the LSTM has its own, see
// lstm_model.cpp, because its architecture changed independently of the autoencoder's).
inline constexpr int kBundleFormatVersion = 1;

struct LoopSettings {
  std::string_view model_name;
  int epochs = 1;
  int batch_size = 256;
  int patience = 3;
  float learning_rate = 1e-3f;
  float lr_factor = 1.0f;  // 1 = never reduce
  int lr_patience = 1;
};

// Rows (indices into whatever data `loss` reads) and the mean loss of a batch of them.
struct Split {
  std::vector<std::size_t> rows;
  std::function<::torch::Tensor(std::span<const std::size_t>)> loss;
};

struct TrainSummary {
  int epochs_run = 0;
  double best_loss = 0.0;
};

// Trains `module` with Adam on shuffled mini-batches of train.rows (order from `ctx.seed`), stops
// early on the validation loss (the training loss when val.rows is empty) and leaves the module
// holding the best weights, in eval mode.
TrainSummary run_training(::torch::nn::Module& module, const LoopSettings& settings,
                          const Split& train, const Split& val, const TrainContext& ctx);

// Mean of `loss` over `rows` in eval mode without gradients, batched.
double evaluate_loss(::torch::nn::Module& module, const Split& split, int batch_size);

// Splits 0..n-1 into (train, validation) with a seeded shuffle; validation is empty when the
// fraction is 0 or n is too small for a meaningful hold-out.
void hold_out(std::size_t n, float fraction, std::uint64_t seed, std::vector<std::size_t>& train,
              std::vector<std::size_t>& val);

// Copies the given rows of x into a new [rows.size(), x.cols] float tensor.
::torch::Tensor gather_rows(const data::Matrix& x, std::span<const std::size_t> rows);

// Linear-interpolated percentile (0..100) of values (numpy's default method); 0 when empty.
float percentile(std::vector<float> values, float pct);

// Throws core::Error "<model>: ..." unless train has x with rows, matching y/weights/group sizes
// and a validation part with the same column count.
void check_train_set(std::string_view model, const TrainSet& train, bool labels_required);

// Throws core::Error unless x has `features` columns and group is empty or one entry per row.
void check_score_input(std::string_view model, const data::Matrix& x,
                       std::span<const std::int32_t> group, std::size_t features);

// Writes <dir>/<stem>.pt (parameters in registration order) and <dir>/<stem>.json (the sidecar:
// format version, model name, feature count, threshold, `options`). Returns "<stem>.pt".
std::string save_bundle(const std::filesystem::path& dir, std::string_view model,
                        ::torch::nn::Module& module, std::size_t features, float threshold,
                        const nlohmann::json& options, int format_version = kBundleFormatVersion);

struct Sidecar {
  std::filesystem::path path;  // of the sidecar itself, for error messages
  std::size_t features = 0;
  float threshold = 0.0f;
  nlohmann::json options;
};

// Reads and checks the sidecar of `file` (same stem, .json): format version, model name and
// feature count must match; the error names the file and both values.
Sidecar read_sidecar(const std::filesystem::path& dir, const std::string& file,
                     std::string_view model, std::size_t expected_features,
                     int format_version = kBundleFormatVersion);

// Loads <dir>/<file> into module's parameters, checking count and shapes; LibTorch failures become
// core::Error naming the file.
void load_parameters(const std::filesystem::path& dir, const std::string& file,
                     ::torch::nn::Module& module);

// Reads a required integer in [min_value, max_value] / a finite number from a sidecar's options,
// naming the file, the option and the value on failure.
int option_int(const nlohmann::json& options, const char* key, const std::filesystem::path& where,
               int min_value, int max_value = std::numeric_limits<int>::max());

// Throws core::Error (naming the sidecar) when <dir>/<file> is too small to hold `parameters`
// float32 values: checked before a network of that size is built, so an absurd size in a sidecar
// is one clear line instead of an allocation failure.
void check_parameter_budget(const std::filesystem::path& dir, const std::string& file,
                            const std::filesystem::path& sidecar, double parameters);

// The first line of a library exception's message (LibTorch's carry a C++ backtrace).
std::string torch_error_line(const std::exception& e);
float option_float(const nlohmann::json& options, const char* key,
                   const std::filesystem::path& where);

}  // namespace netsentry::ml::torch
