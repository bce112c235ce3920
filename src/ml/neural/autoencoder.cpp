#include "ml/neural/autoencoder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "ml/neural/dense_net.h"
#include "ml/parallel.h"
#include "ml/torch/torch_models.h"

namespace netsentry::ml::neural {
namespace {

constexpr std::string_view kName = "autoencoder";

class Autoencoder final : public Model, public torch::ReconstructionExplainer {
 public:
  using ReconstructionExplainer::feature_errors;

  [[nodiscard]] std::string_view name() const override { return kName; }

  void fit(const TrainSet&, const TrainContext&) override {
    throw core::Error("autoencoder: this is the scorer loaded without LibTorch; training needs it");
  }

  using Model::score;
  // Whole score_batch batches shared among the threads (a row's score does not depend on the
  // thread count); each batch is transformed into one reused buffer, run through the network and
  // its row MSE summed in double, as the LibTorch model does.
  [[nodiscard]] std::vector<float> score(const ScoreInput& input) const override {
    const data::Matrix& x = input.x;
    check_score_input(kName, x, input.group, features_);
    std::vector<float> out(x.rows);
    const std::size_t batches = (x.rows + batch_ - 1) / batch_;
    parallel_for(batches, threads_, [&](std::size_t first, std::size_t last) {
      const std::size_t capacity = std::min(batch_, x.rows);
      std::vector<float> in(capacity * width_), recon(capacity * width_);
      DenseNet::Scratch scratch;
      for (std::size_t b = first * batch_; b < std::min(last * batch_, x.rows); b += batch_) {
        const std::size_t n = std::min(batch_, x.rows - b);
        transform_rows(transform_, x, b, n, width_, in.data());
        net_.forward(in.data(), n, width_, recon.data(), width_, scratch);
        reconstruction_mse(recon.data(), in.data(), n, width_, out.data() + b);
      }
    });
    return out;
  }

  void set_threads(int threads) override { threads_ = std::max(1, threads); }

  [[nodiscard]] data::Matrix feature_errors(const data::Matrix& x,
                                            std::span<const std::size_t> rows) const override {
    check_score_input(kName, x, {}, features_);
    check_rows(x, rows);
    data::Matrix wide(rows.size(), width_);
    std::vector<float> in(width_), recon(width_);
    DenseNet::Scratch scratch;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      transform_rows(transform_, x, rows[i], 1, width_, in.data());
      net_.forward(in.data(), 1, width_, recon.data(), width_, scratch);
      for (std::size_t j = 0; j < width_; ++j) {
        const float d = recon[j] - in[j];
        wide.at(i, j) = d * d;
      }
    }
    return merge_feature_errors(std::move(wide), features_);
  }

  [[nodiscard]] float threshold() const override { return threshold_; }
  void set_threshold(float threshold) override { threshold_ = threshold; }

  std::string save(const std::filesystem::path&) const override {
    throw core::Error(
        "autoencoder: loaded from its plain weights for scoring; saving a bundle writes the "
        "LibTorch model (load it through LibTorch)");
  }

  void load(const std::filesystem::path& dir, const std::string& file,
            std::size_t expected_features) override {
    AutoencoderSpec spec = read_autoencoder_spec(dir, file, expected_features);
    const std::vector<TensorSpec> expected = spec.tensors();
    const std::vector<Tensor> tensors = read_weights(dir / file, expected, spec.sidecar.path);
    std::vector<std::vector<float>> weights, biases;
    for (std::size_t i = 0; i < tensors.size(); i += 2) {
      weights.push_back(tensors[i].values);
      biases.push_back(tensors[i + 1].values);
    }
    const std::vector<std::size_t> sizes = spec.layer_sizes();
    net_ = DenseNet(sizes, weights, biases);
    batch_ = static_cast<std::size_t>(
        spec.sidecar.options.contains("score_batch")
            ? option_int(spec.sidecar.options, "score_batch", spec.sidecar.path, 1, 1 << 20)
            : 4096);
    transform_ = std::move(spec.transform);
    features_ = spec.sidecar.features;
    width_ = spec.width;
    threshold_ = spec.sidecar.threshold;
  }

 private:
  QuantileNormalizer transform_;
  DenseNet net_;
  float threshold_ = 0.0f;
  std::size_t features_ = 0;
  std::size_t width_ = 0;
  std::size_t batch_ = 4096;
  int threads_ = 1;
};

}  // namespace

std::vector<std::size_t> AutoencoderSpec::layer_sizes() const {
  std::vector<std::size_t> sizes{width};
  sizes.insert(sizes.end(), widths.begin(), widths.end());
  for (auto it = widths.rbegin() + 1; it != widths.rend(); ++it) sizes.push_back(*it);
  sizes.push_back(width);
  return sizes;
}

double AutoencoderSpec::parameters() const {
  const std::vector<std::size_t> sizes = layer_sizes();
  double n = 0;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    n += static_cast<double>(sizes[i]) * static_cast<double>(sizes[i + 1]) +
         static_cast<double>(sizes[i + 1]);
  }
  return n;
}

std::vector<TensorSpec> AutoencoderSpec::tensors() const {
  const std::vector<std::size_t> sizes = layer_sizes();
  std::vector<TensorSpec> out;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    const std::string layer = fmt::format("layers.{}", 2 * i);
    out.push_back({layer + ".weight", {sizes[i + 1], sizes[i]}});
    out.push_back({layer + ".bias", {sizes[i + 1]}});
  }
  return out;
}

AutoencoderSpec read_autoencoder_spec(const std::filesystem::path& dir, const std::string& file,
                                      std::size_t expected_features) {
  AutoencoderSpec spec;
  spec.sidecar = read_sidecar(dir, file, kName, expected_features);
  const nlohmann::json& options = spec.sidecar.options;
  const auto it = options.find("layer_widths");
  if (it != options.end() && it->is_array()) {
    for (const auto& w : *it) {
      if (!w.is_number_integer() || w.get<long long>() < 1 || w.get<long long>() > 4096) {
        spec.widths.clear();
        break;
      }
      spec.widths.push_back(w.get<int>());
    }
  }
  if (spec.widths.empty()) {
    throw core::Error(
        fmt::format("{}: option \"layer_widths\" must be a non-empty list of integers in [1, 4096]",
                    spec.sidecar.path.string()));
  }
  // Bundles from before the benign transform have none: they score on the inputs as given.
  if (const auto t = options.find("input_transform"); t != options.end()) {
    spec.transform =
        QuantileNormalizer::from_json(*t, spec.sidecar.path.string(), spec.sidecar.features);
  }
  spec.width = spec.transform.fitted() ? spec.transform.output_width() : spec.sidecar.features;
  return spec;
}

void transform_rows(const QuantileNormalizer& transform, const data::Matrix& x, std::size_t first,
                    std::size_t n, std::size_t width, float* out) {
  for (std::size_t i = 0; i < n; ++i) {
    if (transform.fitted()) {
      transform.transform_row(x, first + i, out + i * width);
    } else {
      std::memcpy(out + i * width, x.data() + (first + i) * x.cols, width * sizeof(float));
    }
  }
}

void reconstruction_mse(const float* recon, const float* in, std::size_t n, std::size_t width,
                        float* out) {
  for (std::size_t i = 0; i < n; ++i) {
    double sum = 0.0;
    for (std::size_t j = 0; j < width; ++j) {
      const double d = recon[i * width + j] - in[i * width + j];
      sum += d * d;
    }
    out[i] = static_cast<float>(sum / static_cast<double>(width));
  }
}

void check_rows(const data::Matrix& x, std::span<const std::size_t> rows) {
  for (const std::size_t r : rows) {
    if (r >= x.rows) {
      throw core::Error(fmt::format("autoencoder: row {} is out of range ({} rows)", r, x.rows));
    }
  }
}

data::Matrix merge_feature_errors(data::Matrix wide, std::size_t features) {
  if (wide.cols == features) return wide;
  // Each feature appears twice (quantile and standard score): its error is the mean of both,
  // so the row's score is still the mean of its features' errors.
  data::Matrix out(wide.rows, features);
  for (std::size_t i = 0; i < wide.rows; ++i) {
    for (std::size_t j = 0; j < features; ++j) {
      out.at(i, j) = 0.5f * (wide.at(i, j) + wide.at(i, features + j));
    }
  }
  return out;
}

std::unique_ptr<Model> make_autoencoder() { return std::make_unique<Autoencoder>(); }

}  // namespace netsentry::ml::neural
