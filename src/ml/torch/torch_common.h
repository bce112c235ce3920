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
#include "ml/neural/sidecar.h"

namespace netsentry::ml::torch {

// The sidecar (ml/neural/sidecar.h) is shared with the torch-free scorers.
inline constexpr int kBundleFormatVersion = neural::kSidecarFormatVersion;
using neural::check_parameter_budget;
using neural::check_score_input;
using neural::option_float;
using neural::option_int;
using neural::read_sidecar;
using neural::Sidecar;

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

// Writes <dir>/<stem>.pt (parameters in registration order), <dir>/<stem>.weights (the same
// parameters in the plain format of ml/neural/weights_file.h, for scoring without LibTorch) and
// <dir>/<stem>.json (the sidecar: format version, model name, feature count, threshold,
// `options`, the parameters' names and shapes, both files' names). Returns "<stem>.pt".
std::string save_bundle(const std::filesystem::path& dir, std::string_view model,
                        ::torch::nn::Module& module, std::size_t features, float threshold,
                        const nlohmann::json& options, int format_version = kBundleFormatVersion);

// Loads <dir>/<file> into module's parameters, checking count and shapes; LibTorch failures become
// core::Error naming the file.
void load_parameters(const std::filesystem::path& dir, const std::string& file,
                     ::torch::nn::Module& module);

// The first line of a library exception's message (LibTorch's carry a C++ backtrace).
std::string torch_error_line(const std::exception& e);

}  // namespace netsentry::ml::torch
