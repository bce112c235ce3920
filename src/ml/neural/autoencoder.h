// Provides the autoencoder's scoring side without LibTorch (see AutoencoderOptions in
// ml/torch/torch_models.h for the model): read_autoencoder_spec(), the architecture and input
// transform its sidecar describes (the LibTorch model reads the same), and make_autoencoder(), an
// ml::Model (and torch::ReconstructionExplainer) that loads <name>.weights and scores through
// DenseNet. It cannot train or save: training and the .pt file are the LibTorch model's.
// Thread rules: as ml::Model (load from one thread; score() and feature_errors() const and
// concurrent-safe).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "data/matrix.h"
#include "ml/model.h"
#include "ml/neural/feature_transform.h"
#include "ml/neural/sidecar.h"
#include "ml/neural/weights_file.h"

namespace netsentry::ml::neural {

struct AutoencoderSpec {
  Sidecar sidecar;
  std::vector<int> widths;       // encoder widths, the last the bottleneck
  QuantileNormalizer transform;  // unfitted in bundles from before it: inputs used as given
  std::size_t width = 0;         // the network's input and output width

  // {width, widths..., mirrored widths without the bottleneck..., width}.
  [[nodiscard]] std::vector<std::size_t> layer_sizes() const;
  [[nodiscard]] double parameters() const;
  // LibTorch's names and shapes of the Linear layers ("layers.0.weight", "layers.0.bias",
  // "layers.2.weight", ...: a ReLU sits at every odd index).
  [[nodiscard]] std::vector<TensorSpec> tensors() const;
};

// Reads <dir>/<stem of file>.json: layer_widths in [1, 4096], the input transform when present.
// Throws core::Error naming the sidecar and the field.
[[nodiscard]] AutoencoderSpec read_autoencoder_spec(const std::filesystem::path& dir,
                                                    const std::string& file,
                                                    std::size_t expected_features);

// Squared errors of the network's `features` or 2 x `features` (transform "both": a quantile and
// a standard score per feature) outputs, as each feature's error: the mean of its two.
[[nodiscard]] data::Matrix merge_feature_errors(data::Matrix wide, std::size_t features);

// Rows [first, first + n) of x as the network reads them: through the transform when it is
// fitted, else as given; into out with a row stride of `width`.
void transform_rows(const QuantileNormalizer& transform, const data::Matrix& x, std::size_t first,
                    std::size_t n, std::size_t width, float* out);
// out[i] = the mean over `width` of (recon - in)^2 of row i of n, summed in double.
void reconstruction_mse(const float* recon, const float* in, std::size_t n, std::size_t width,
                        float* out);
// Throws core::Error unless every row index is below x.rows (feature_errors' rows).
void check_rows(const data::Matrix& x, std::span<const std::size_t> rows);

// The torch-free autoencoder; load(dir, "<name>.weights", features) reads <name>.json and
// <name>.weights.
[[nodiscard]] std::unique_ptr<Model> make_autoencoder();

}  // namespace netsentry::ml::neural
