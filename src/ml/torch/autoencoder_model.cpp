// The dense autoencoder (see AutoencoderOptions in torch_models.h for the layer-width rule).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "ml/neural/autoencoder.h"
#include "ml/neural/feature_transform.h"
#include "ml/parallel.h"
#include "ml/torch/torch_common.h"
#include "ml/torch/torch_models.h"

namespace netsentry::ml::torch {
namespace {

using neural::QuantileNormalizer;
using ::torch::Tensor;

constexpr std::string_view kName = "autoencoder";

// Encoder widths actually used for `width` input features (the rule documented in the header).
std::vector<int> layer_widths(const AutoencoderOptions& o, std::size_t width) {
  std::vector<int> out = o.hidden;
  if (!o.scale_to_input) return out;
  double cap = 2.0 * static_cast<double>(width);
  for (int& h : out) {
    h = std::min(h, std::max(4, static_cast<int>(std::ceil(cap))));
    cap /= 2.0;
  }
  return out;
}

struct AutoencoderNetImpl : ::torch::nn::Module {
  // `widths` are the encoder's hidden widths, last = bottleneck; the decoder mirrors them.
  AutoencoderNetImpl(std::int64_t input, const std::vector<int>& widths) {
    std::vector<std::int64_t> sizes{input};
    sizes.insert(sizes.end(), widths.begin(), widths.end());
    for (auto it = widths.rbegin() + 1; it != widths.rend(); ++it) sizes.push_back(*it);
    sizes.push_back(input);
    for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
      layers->push_back(::torch::nn::Linear(sizes[i], sizes[i + 1]));
      // Linear output: scaled features are signed and unbounded.
      if (i + 2 < sizes.size()) layers->push_back(::torch::nn::ReLU());
    }
    register_module("layers", layers);
  }

  Tensor forward(const Tensor& x) { return layers->forward(x); }

  ::torch::nn::Sequential layers;
};
// A plain shared_ptr, not TORCH_MODULE: that macro names `torch::nn` unqualified, which our
// namespace netsentry::ml::torch shadows.
using AutoencoderNet = std::shared_ptr<AutoencoderNetImpl>;

void validate(const AutoencoderOptions& o) {
  auto fail = [](const char* what, auto value) {
    throw core::Error(fmt::format("autoencoder: option {}, got {}", what, value));
  };
  if (o.hidden.empty()) fail("hidden must list at least one layer width", 0);
  for (int h : o.hidden) {
    if (h < 1) fail("hidden widths must be >= 1", h);
  }
  if (!(o.learning_rate > 0.0f)) fail("learning_rate must be > 0", o.learning_rate);
  if (o.batch_size < 1) fail("batch_size must be >= 1", o.batch_size);
  if (o.epochs < 1) fail("epochs must be >= 1", o.epochs);
  if (o.patience < 1) fail("patience must be >= 1", o.patience);
  if (!(o.threshold_percentile > 0.0f && o.threshold_percentile <= 100.0f)) {
    fail("threshold_percentile must be in (0, 100]", o.threshold_percentile);
  }
  if (!(o.validation_fraction >= 0.0f && o.validation_fraction <= 0.5f)) {
    fail("validation_fraction must be in [0, 0.5]", o.validation_fraction);
  }
  if (o.score_batch < 1) fail("score_batch must be >= 1", o.score_batch);
  if (o.transform != "quantile" && o.transform != "standard" && o.transform != "both" &&
      o.transform != "none") {
    throw core::Error(
        "autoencoder: option transform must be quantile, standard, both or none, got \"" +
        o.transform + "\"");
  }
}

nlohmann::json to_json(const AutoencoderOptions& o, const std::vector<int>& widths) {
  return {{"hidden", o.hidden},          {"scale_to_input", o.scale_to_input},
          {"layer_widths", widths},      {"learning_rate", o.learning_rate},
          {"batch_size", o.batch_size},  {"epochs", o.epochs},
          {"patience", o.patience},      {"threshold_percentile", o.threshold_percentile},
          {"transform", o.transform},    {"validation_fraction", o.validation_fraction},
          {"score_batch", o.score_batch}};
}

class AutoencoderModel final : public Model, public ReconstructionExplainer {
 public:
  explicit AutoencoderModel(const AutoencoderOptions& options) : options_(options) {
    validate(options_);
  }

  using ReconstructionExplainer::feature_errors;

  [[nodiscard]] std::string_view name() const override { return kName; }

  void fit(const TrainSet& train, const TrainContext& ctx) override {
    check_train_set(kName, train, /*labels_required=*/false);
    const std::vector<std::size_t> normal = normal_rows(train.x->rows, train.y);
    if (normal.empty()) {
      throw core::Error("autoencoder: no normal (label 0) rows to learn normal traffic from");
    }
    // The transform is fitted on benign rows only: reconstruction error then measures distance
    // from benign traffic, whatever share of attacks the training data holds.
    QuantileNormalizer transform(
        options_.transform == "standard" ? QuantileNormalizer::Kind::kStandard
        : options_.transform == "both"   ? QuantileNormalizer::Kind::kBoth
                                         : QuantileNormalizer::Kind::kQuantile);
    const bool transformed = options_.transform != "none";
    if (transformed) transform.fit(*train.x, normal);
    const data::Matrix x = transformed ? transform.transform(*train.x) : *train.x;
    data::Matrix x_val_t;
    const data::Matrix* x_val = train.x_val;
    if (transformed && x_val != nullptr && x_val->rows > 0) {
      x_val_t = transform.transform(*x_val);
      x_val = &x_val_t;
    }
    ::torch::manual_seed(ctx.seed);
    const std::vector<int> widths = layer_widths(options_, x.cols);
    auto net = std::make_shared<AutoencoderNetImpl>(static_cast<std::int64_t>(x.cols), widths);

    auto mse_over = [&net](const data::Matrix& m) {
      return [&net, &m](std::span<const std::size_t> rows) {
        Tensor batch = gather_rows(m, rows);
        return ::torch::mse_loss(net->forward(batch), batch);
      };
    };
    Split train_split{{}, mse_over(x)};
    Split val_split;
    const data::Matrix* held_matrix = &x;
    if (x_val != nullptr && x_val->rows > 0) {
      train_split.rows = normal;
      val_split.rows = normal_rows(x_val->rows, train.y_val);
      val_split.loss = mse_over(*x_val);
      held_matrix = x_val;
    }
    if (val_split.rows.empty()) {
      std::vector<std::size_t> fit_pos, val_pos;
      hold_out(normal.size(), options_.validation_fraction, ctx.seed, fit_pos, val_pos);
      train_split.rows.clear();
      for (std::size_t p : fit_pos) train_split.rows.push_back(normal[p]);
      for (std::size_t p : val_pos) val_split.rows.push_back(normal[p]);
      val_split.loss = train_split.loss;
      held_matrix = &x;
    }

    LoopSettings settings;
    settings.model_name = kName;
    settings.epochs = ctx.epochs > 0 ? ctx.epochs : options_.epochs;
    settings.batch_size = options_.batch_size;
    settings.patience = options_.patience;
    settings.learning_rate = options_.learning_rate;
    run_training(*net, settings, train_split, val_split, ctx);

    net_ = net;
    widths_ = widths;
    features_ = train.x->cols;
    width_ = x.cols;
    transform_ = std::move(transform);
    // The percentile of benign rows the weights never trained on (the held-out normal rows), the
    // original project's rule: an alarm rate of (100 - percentile) % on benign traffic. With too
    // few held-out rows, every normal training row.
    const std::vector<std::size_t>& threshold_rows =
        val_split.rows.size() >= 100 ? val_split.rows : train_split.rows;
    const data::Matrix& threshold_matrix = val_split.rows.size() >= 100 ? *held_matrix : x;
    threshold_ =
        percentile(row_errors(threshold_matrix, threshold_rows), options_.threshold_percentile);
  }

  using Model::score;
  // The rows run in score_batch batches, whole batches shared among the threads (so a row's score
  // does not depend on the thread count): each batch is transformed straight into one reused input
  // tensor (no transformed copy of x), the network runs under InferenceMode, and the row MSE is
  // summed here in double (no temporaries).
  [[nodiscard]] std::vector<float> score(const ScoreInput& input) const override {
    const data::Matrix& x = input.x;
    check_score_input(kName, x, input.group, features_);
    std::vector<float> out(x.rows);
    const auto batch = static_cast<std::size_t>(options_.score_batch);
    const std::size_t batches = (x.rows + batch - 1) / batch;
    parallel_for(batches, threads_, [&](std::size_t first, std::size_t last) {
      ::torch::InferenceMode inference;
      Tensor buffer = ::torch::empty(
          {static_cast<std::int64_t>(std::min(batch, x.rows)), static_cast<std::int64_t>(width_)},
          ::torch::kFloat32);
      for (std::size_t b = first * batch; b < std::min(last * batch, x.rows); b += batch) {
        const std::size_t n = std::min(batch, x.rows - b);
        const Tensor in = buffer.narrow(0, 0, static_cast<std::int64_t>(n));
        float* dst = in.data_ptr<float>();
        neural::transform_rows(transform_, x, b, n, width_, dst);
        const Tensor recon = net_->forward(in).contiguous();
        neural::reconstruction_mse(recon.data_ptr<float>(), dst, n, width_, out.data() + b);
      }
    });
    return out;
  }

  void set_threads(int threads) override { threads_ = std::max(1, threads); }

  [[nodiscard]] data::Matrix feature_errors(const data::Matrix& x,
                                            std::span<const std::size_t> rows) const override {
    check_score_input(kName, x, {}, features_);
    neural::check_rows(x, rows);
    data::Matrix wide(rows.size(), width_);
    ::torch::NoGradGuard no_grad;
    data::Matrix picked;
    std::vector<std::size_t> picked_rows;
    if (transform_.fitted()) {
      picked = transform_.transform(x, rows);
      picked_rows.resize(rows.size());
      for (std::size_t i = 0; i < rows.size(); ++i) picked_rows[i] = i;
    }
    const data::Matrix& source = transform_.fitted() ? picked : x;
    const std::span<const std::size_t> source_rows =
        transform_.fitted() ? std::span<const std::size_t>(picked_rows) : rows;
    for_batches(source, source_rows,
                [&](std::size_t offset, const Tensor& input, const Tensor& recon) {
                  Tensor sq = (recon - input).square().contiguous();
                  std::memcpy(wide.data() + offset * width_, sq.data_ptr<float>(),
                              static_cast<std::size_t>(sq.numel()) * sizeof(float));
                });
    return neural::merge_feature_errors(std::move(wide), features_);
  }

  [[nodiscard]] float threshold() const override { return threshold_; }
  void set_threshold(float threshold) override { threshold_ = threshold; }

  std::string save(const std::filesystem::path& dir) const override {
    if (features_ == 0) throw core::Error("autoencoder: cannot save a model that was not trained");
    nlohmann::json options = to_json(options_, widths_);
    if (transform_.fitted()) options["input_transform"] = transform_.to_json();
    return save_bundle(dir, kName, *net_, features_, threshold_, options);
  }

  void load(const std::filesystem::path& dir, const std::string& file,
            std::size_t expected_features) override {
    neural::AutoencoderSpec spec = neural::read_autoencoder_spec(dir, file, expected_features);
    const Sidecar& sidecar = spec.sidecar;
    const std::size_t width = spec.width;
    check_parameter_budget(dir, file, sidecar.path, spec.parameters());
    try {
      auto net =
          std::make_shared<AutoencoderNetImpl>(static_cast<std::int64_t>(width), spec.widths);
      load_parameters(dir, file, *net);
      net->eval();
      net_ = net;
    } catch (const core::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw core::Error(fmt::format("{}: cannot build the autoencoder: {}", sidecar.path.string(),
                                    torch_error_line(e)));
    }
    widths_ = std::move(spec.widths);
    transform_ = std::move(spec.transform);
    features_ = sidecar.features;
    width_ = width;
    threshold_ = sidecar.threshold;
  }

 private:
  static std::vector<std::size_t> normal_rows(std::size_t n, std::span<const int> y) {
    std::vector<std::size_t> rows;
    rows.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (y.empty() || y[i] == 0) rows.push_back(i);
    }
    return rows;
  }

  // Runs the network over `rows` of x in score_batch chunks; fn(offset, input, reconstruction).
  template <typename Fn>
  void for_batches(const data::Matrix& x, std::span<const std::size_t> rows, Fn&& fn) const {
    ::torch::NoGradGuard no_grad;
    const auto batch = static_cast<std::size_t>(options_.score_batch);
    for (std::size_t b = 0; b < rows.size(); b += batch) {
      const std::size_t n = std::min(batch, rows.size() - b);
      Tensor input = gather_rows(x, rows.subspan(b, n));
      fn(b, input, net_->forward(input));
    }
  }

  std::vector<float> row_errors(const data::Matrix& x, std::span<const std::size_t> rows) const {
    std::vector<float> out(rows.size());
    for_batches(x, rows, [&](std::size_t offset, const Tensor& input, const Tensor& recon) {
      Tensor mse = (recon - input).square().mean(1).contiguous();
      std::memcpy(out.data() + offset, mse.data_ptr<float>(),
                  static_cast<std::size_t>(mse.numel()) * sizeof(float));
    });
    return out;
  }

  AutoencoderOptions options_;
  QuantileNormalizer transform_;  // unfitted: inputs used as given (older bundles)
  std::vector<int> widths_;
  float threshold_ = 0.0f;
  std::size_t features_ = 0;  // model inputs
  std::size_t width_ = 0;     // the network's width: features_, or 2x with transform "both"
  AutoencoderNet net_;
  int threads_ = 1;  // scoring threads
};

}  // namespace

std::unique_ptr<Model> make_autoencoder(const AutoencoderOptions& options) {
  return std::make_unique<AutoencoderModel>(options);
}

}  // namespace netsentry::ml::torch
