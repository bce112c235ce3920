// The LSTM sequence classifier (see LstmOptions in torch_models.h for the window rule).
#include <fmt/format.h>

#include <cstring>
#include <unordered_map>

#include "core/error.h"
#include "ml/torch/torch_common.h"
#include "ml/torch/torch_models.h"

namespace netsentry::ml::torch {
namespace {

using ::torch::Tensor;

constexpr std::string_view kName = "lstm";

struct LstmNetImpl : ::torch::nn::Module {
  LstmNetImpl(std::int64_t input, const LstmOptions& o)
      : lstm(
            register_module("lstm", ::torch::nn::LSTM(::torch::nn::LSTMOptions(input, o.hidden_size)
                                                          .num_layers(o.layers)
                                                          .dropout(o.layers > 1 ? o.dropout : 0.0)
                                                          .batch_first(true)))),
        head(register_module("head", ::torch::nn::Linear(o.hidden_size, 1))) {}

  // [batch, steps, input] -> one logit per window, read from the last step's output.
  Tensor forward(const Tensor& windows) {
    Tensor out = std::get<0>(lstm->forward(windows));
    return head->forward(out.select(1, -1)).squeeze(1);
  }

  ::torch::nn::LSTM lstm;
  ::torch::nn::Linear head;
};
// A plain shared_ptr, not TORCH_MODULE: that macro names `torch::nn` unqualified, which our
// namespace netsentry::ml::torch shadows.
using LstmNet = std::shared_ptr<LstmNetImpl>;

// For every row, the previous row of the same group (-1 at a group's first row). Rows are in time
// order, so following these links backwards walks a host's history.
std::vector<std::int64_t> previous_in_group(std::size_t rows, std::span<const std::int32_t> group) {
  std::vector<std::int64_t> prev(rows);
  if (group.empty()) {
    for (std::size_t i = 0; i < rows; ++i) prev[i] = static_cast<std::int64_t>(i) - 1;
    return prev;
  }
  std::unordered_map<std::int32_t, std::int64_t> last;
  for (std::size_t i = 0; i < rows; ++i) {
    auto [it, inserted] = last.try_emplace(group[i], static_cast<std::int64_t>(i));
    prev[i] = inserted ? -1 : it->second;
    it->second = static_cast<std::int64_t>(i);
  }
  return prev;
}

// [rows.size(), steps, cols + 1]: the window ending at each row, left-padded with zero steps; the
// extra channel is 1 for a real row and 0 for padding.
Tensor make_windows(const data::Matrix& x, const std::vector<std::int64_t>& prev,
                    std::span<const std::size_t> rows, int steps) {
  const auto cols = static_cast<std::int64_t>(x.cols);
  const std::int64_t channels = cols + 1;
  Tensor t = ::torch::zeros({static_cast<std::int64_t>(rows.size()), steps, channels});
  float* dst = t.data_ptr<float>();
  for (std::size_t b = 0; b < rows.size(); ++b) {
    auto r = static_cast<std::int64_t>(rows[b]);
    for (int s = steps - 1; s >= 0 && r >= 0; --s, r = prev[static_cast<std::size_t>(r)]) {
      float* slot = dst + (static_cast<std::int64_t>(b) * steps + s) * channels;
      std::memcpy(slot, x.data() + r * cols, static_cast<std::size_t>(cols) * sizeof(float));
      slot[cols] = 1.0f;
    }
  }
  return t;
}

void validate(const LstmOptions& o) {
  auto fail = [](const char* what, auto value) {
    throw core::Error(fmt::format("lstm: option {}, got {}", what, value));
  };
  if (o.hidden_size < 1) fail("hidden_size must be >= 1", o.hidden_size);
  if (o.layers < 1) fail("layers must be >= 1", o.layers);
  if (!(o.dropout >= 0.0f && o.dropout < 1.0f)) fail("dropout must be in [0, 1)", o.dropout);
  if (!(o.learning_rate > 0.0f)) fail("learning_rate must be > 0", o.learning_rate);
  if (o.batch_size < 1) fail("batch_size must be >= 1", o.batch_size);
  if (o.epochs < 1) fail("epochs must be >= 1", o.epochs);
  if (o.patience < 1) fail("patience must be >= 1", o.patience);
  if (!(o.lr_factor > 0.0f && o.lr_factor <= 1.0f))
    fail("lr_factor must be in (0, 1]", o.lr_factor);
  if (o.lr_patience < 0) fail("lr_patience must be >= 0", o.lr_patience);
  if (o.sequence_length < 1) fail("sequence_length must be >= 1", o.sequence_length);
  if (!(o.validation_fraction >= 0.0f && o.validation_fraction <= 0.5f)) {
    fail("validation_fraction must be in [0, 0.5]", o.validation_fraction);
  }
  if (o.score_batch < 1) fail("score_batch must be >= 1", o.score_batch);
}

nlohmann::json to_json(const LstmOptions& o) {
  return {{"hidden_size", o.hidden_size}, {"layers", o.layers},
          {"dropout", o.dropout},         {"learning_rate", o.learning_rate},
          {"batch_size", o.batch_size},   {"epochs", o.epochs},
          {"patience", o.patience},       {"lr_factor", o.lr_factor},
          {"lr_patience", o.lr_patience}, {"sequence_length", o.sequence_length},
          {"threshold", o.threshold},     {"validation_fraction", o.validation_fraction},
          {"score_batch", o.score_batch}};
}

class LstmModel final : public Model {
 public:
  explicit LstmModel(const LstmOptions& options)
      : options_(options), threshold_(options.threshold) {
    validate(options_);
  }

  [[nodiscard]] std::string_view name() const override { return kName; }

  void fit(const TrainSet& train, const TrainContext& ctx) override {
    check_train_set(kName, train, /*labels_required=*/true);
    const data::Matrix& x = *train.x;
    ::torch::manual_seed(ctx.seed);
    auto net = std::make_shared<LstmNetImpl>(static_cast<std::int64_t>(x.cols) + 1, options_);

    const Tensor pos_weight = ::torch::full({1}, positive_weight(train), ::torch::kFloat32);
    const int steps = options_.sequence_length;
    auto loss_over = [&net, &pos_weight, steps](const data::Matrix& m,
                                                std::vector<std::int64_t> prev,
                                                std::span<const int> y) {
      return [&net, &pos_weight, steps, &m, prev = std::move(prev),
              y](std::span<const std::size_t> rows) {
        Tensor target = ::torch::empty({static_cast<std::int64_t>(rows.size())});
        float* t = target.data_ptr<float>();
        for (std::size_t i = 0; i < rows.size(); ++i) t[i] = static_cast<float>(y[rows[i]]);
        namespace F = ::torch::nn::functional;
        return F::binary_cross_entropy_with_logits(
            net->forward(make_windows(m, prev, rows, steps)), target,
            F::BinaryCrossEntropyWithLogitsFuncOptions().pos_weight(pos_weight));
      };
    };

    Split train_split{{}, loss_over(x, previous_in_group(x.rows, train.group), train.y)};
    Split val_split;
    if (train.x_val != nullptr && train.x_val->rows > 0) {
      const data::Matrix& v = *train.x_val;
      train_split.rows.resize(x.rows);
      for (std::size_t i = 0; i < x.rows; ++i) train_split.rows[i] = i;
      val_split.rows.resize(v.rows);
      for (std::size_t i = 0; i < v.rows; ++i) val_split.rows[i] = i;
      val_split.loss = loss_over(v, previous_in_group(v.rows, train.group_val), train.y_val);
    } else {
      // Held-out rows still see their full history: windows read the whole training matrix.
      hold_out(x.rows, options_.validation_fraction, ctx.seed, train_split.rows, val_split.rows);
      val_split.loss = train_split.loss;
    }

    LoopSettings settings;
    settings.model_name = kName;
    settings.epochs = ctx.epochs > 0 ? ctx.epochs : options_.epochs;
    settings.batch_size = options_.batch_size;
    settings.patience = options_.patience;
    settings.learning_rate = options_.learning_rate;
    settings.lr_factor = options_.lr_factor;
    settings.lr_patience = options_.lr_patience;
    run_training(*net, settings, train_split, val_split, ctx);

    net_ = net;
    features_ = x.cols;
    threshold_ = options_.threshold;
  }

  [[nodiscard]] std::vector<float> score(const data::Matrix& x,
                                         std::span<const std::int32_t> group) const override {
    check_score_input(kName, x, group, features_);
    std::vector<float> out(x.rows);
    if (x.rows == 0) return out;
    const auto prev = previous_in_group(x.rows, group);
    ::torch::NoGradGuard no_grad;
    const auto batch = static_cast<std::size_t>(options_.score_batch);
    std::vector<std::size_t> rows;
    rows.reserve(std::min(batch, x.rows));
    for (std::size_t b = 0; b < x.rows; b += batch) {
      const std::size_t n = std::min(batch, x.rows - b);
      rows.resize(n);
      for (std::size_t i = 0; i < n; ++i) rows[i] = b + i;
      Tensor p =
          ::torch::sigmoid(net_->forward(make_windows(x, prev, rows, options_.sequence_length)))
              .contiguous();
      std::memcpy(out.data() + b, p.data_ptr<float>(), n * sizeof(float));
    }
    return out;
  }

  [[nodiscard]] float threshold() const override { return threshold_; }
  void set_threshold(float threshold) override { threshold_ = threshold; }

  std::string save(const std::filesystem::path& dir) const override {
    if (features_ == 0) throw core::Error("lstm: cannot save a model that was not trained");
    return save_bundle(dir, kName, *net_, features_, threshold_, to_json(options_));
  }

  void load(const std::filesystem::path& dir, const std::string& file,
            std::size_t expected_features) override {
    const Sidecar sidecar = read_sidecar(dir, file, kName, expected_features);
    // The stored architecture wins over this object's options: a bundle must score as trained.
    LstmOptions o = options_;
    o.hidden_size = option_int(sidecar.options, "hidden_size", sidecar.path, 1);
    o.layers = option_int(sidecar.options, "layers", sidecar.path, 1);
    o.sequence_length = option_int(sidecar.options, "sequence_length", sidecar.path, 1);
    o.dropout = option_float(sidecar.options, "dropout", sidecar.path);
    try {
      validate(o);
    } catch (const core::Error& e) {
      throw core::Error(fmt::format("{}: {}", sidecar.path.string(), e.what()));
    }
    auto net = std::make_shared<LstmNetImpl>(static_cast<std::int64_t>(sidecar.features) + 1, o);
    load_parameters(dir, file, *net);
    net->eval();
    net_ = net;
    options_ = o;
    features_ = sidecar.features;
    threshold_ = sidecar.threshold;
  }

 private:
  // Class weighting for BCE: the ratio of mean per-row weights of attack vs normal rows when
  // weights are given, else #normal / #attack so both classes pull equally.
  static float positive_weight(const TrainSet& train) {
    double pos = 0, neg = 0, w_pos = 0, w_neg = 0;
    for (std::size_t i = 0; i < train.y.size(); ++i) {
      const double w = train.weights.empty() ? 1.0 : train.weights[i];
      if (train.y[i] == 1) {
        pos += 1;
        w_pos += w;
      } else {
        neg += 1;
        w_neg += w;
      }
    }
    if (pos == 0 || neg == 0) return 1.0f;
    if (!train.weights.empty()) {
      if (w_neg <= 0 || w_pos <= 0) return 1.0f;
      return static_cast<float>((w_pos / pos) / (w_neg / neg));
    }
    return static_cast<float>(neg / pos);
  }

  LstmOptions options_;
  float threshold_;
  std::size_t features_ = 0;
  LstmNet net_;
};

}  // namespace

std::unique_ptr<Model> make_lstm(const LstmOptions& options) {
  return std::make_unique<LstmModel>(options);
}

}  // namespace netsentry::ml::torch
