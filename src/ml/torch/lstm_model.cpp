// The LSTM sequence labeller (see LstmOptions in torch_models.h for the chunk rule).
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <unordered_map>

#include "core/error.h"
#include "ml/torch/torch_common.h"
#include "ml/torch/torch_models.h"

namespace netsentry::ml::torch {
namespace {

using ::torch::Tensor;

constexpr std::string_view kName = "lstm";
// 1: one window of past rows per scored row. 2: chunks labelled at every step, optional input
// projection; version-1 files cannot be scored the same way and must be retrained.
constexpr int kLstmFormatVersion = 2;

struct LstmNetImpl : ::torch::nn::Module {
  LstmNetImpl(std::int64_t input, const LstmOptions& o) {
    std::int64_t width = input;
    if (o.input_projection > 0) {
      projection = register_module("projection", ::torch::nn::Linear(input, o.input_projection));
      width = o.input_projection;
    }
    lstm = register_module("lstm", ::torch::nn::LSTM(::torch::nn::LSTMOptions(width, o.hidden_size)
                                                         .num_layers(o.layers)
                                                         .dropout(o.layers > 1 ? o.dropout : 0.0)));
    head = register_module("head", ::torch::nn::Linear(o.hidden_size, 1));
  }

  // Time-major [steps, chunks, input] -> one logit per step and chunk, [steps, chunks].
  Tensor forward(const Tensor& steps) {
    Tensor in = projection ? projection->forward(steps) : steps;
    Tensor out = std::get<0>(lstm->forward(in));
    return head->forward(out).squeeze(2);
  }

  ::torch::nn::Linear projection{nullptr};
  ::torch::nn::LSTM lstm{nullptr};
  ::torch::nn::Linear head{nullptr};
};
// A plain shared_ptr, not TORCH_MODULE: that macro names `torch::nn` unqualified, which our
// namespace netsentry::ml::torch shadows.
using LstmNet = std::shared_ptr<LstmNetImpl>;

// A run of consecutive rows of one group: order[begin, begin + length) are read from a zero state;
// the first `skip` of them are warm-up (context only), the rest are scored.
struct Chunk {
  std::size_t begin = 0;
  std::int64_t length = 0;
  std::int64_t skip = 0;
};

struct Chunking {
  std::vector<std::size_t> order;  // row indices grouped by group (first-seen order), time order
  std::vector<Chunk> chunks;
};

// Cuts every group's rows into chunks of `length` scored rows (plus up to `overlap` warm-up rows
// re-read from the previous chunk). Depends only on a group's own rows, so a group scores the same
// alone or in any batch.
Chunking make_chunks(std::size_t rows, std::span<const std::int32_t> group, int length,
                     int overlap) {
  Chunking c;
  c.order.resize(rows);
  std::vector<std::size_t> counts;
  std::vector<std::size_t> slot_of_row(rows, 0);
  if (group.empty()) {
    counts.push_back(rows);
  } else {
    std::unordered_map<std::int32_t, std::size_t> slots;
    for (std::size_t i = 0; i < rows; ++i) {
      auto [it, inserted] = slots.try_emplace(group[i], counts.size());
      if (inserted) counts.push_back(0);
      slot_of_row[i] = it->second;
      ++counts[it->second];
    }
  }
  std::vector<std::size_t> start(counts.size());
  std::exclusive_scan(counts.begin(), counts.end(), start.begin(), std::size_t{0});
  std::vector<std::size_t> next = start;
  for (std::size_t i = 0; i < rows; ++i) c.order[next[slot_of_row[i]]++] = i;

  const auto len = static_cast<std::size_t>(length);
  const auto lap = static_cast<std::size_t>(overlap);
  for (std::size_t g = 0; g < counts.size(); ++g) {
    for (std::size_t k = 0; k < counts[g]; k += len) {
      const std::size_t warm = std::min(lap, k);
      const std::size_t end = std::min(counts[g], k + len);
      c.chunks.push_back({start[g] + k - warm, static_cast<std::int64_t>(end - k + warm),
                          static_cast<std::int64_t>(warm)});
    }
  }
  return c;
}

// Time-major [steps, ids.size(), cols] input of the given chunks, steps = the longest of them.
// Shorter chunks are zero-padded at the end, which cannot reach their earlier (real) steps.
Tensor chunk_input(const data::Matrix& x, const Chunking& c, std::span<const std::size_t> ids,
                   std::int64_t& steps) {
  steps = 0;
  for (std::size_t id : ids) steps = std::max(steps, c.chunks[id].length);
  const auto n = static_cast<std::int64_t>(ids.size());
  const auto cols = static_cast<std::int64_t>(x.cols);
  Tensor t = ::torch::zeros({steps, n, cols});
  float* dst = t.data_ptr<float>();
  for (std::int64_t b = 0; b < n; ++b) {
    const Chunk& ch = c.chunks[ids[static_cast<std::size_t>(b)]];
    for (std::int64_t s = 0; s < ch.length; ++s) {
      const std::size_t row = c.order[ch.begin + static_cast<std::size_t>(s)];
      std::memcpy(dst + (s * n + b) * cols, x.data() + row * x.cols, x.cols * sizeof(float));
    }
  }
  return t;
}

void validate(const LstmOptions& o) {
  auto fail = [](const char* what, auto value) {
    throw core::Error(fmt::format("lstm: option {}, got {}", what, value));
  };
  if (o.input_projection < 0) fail("input_projection must be >= 0", o.input_projection);
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
  if (o.overlap < 0 || o.overlap >= o.sequence_length) {
    fail("overlap must be in [0, sequence_length)", o.overlap);
  }
  if (!(o.validation_fraction >= 0.0f && o.validation_fraction <= 0.5f)) {
    fail("validation_fraction must be in [0, 0.5]", o.validation_fraction);
  }
  if (o.score_batch < 1) fail("score_batch must be >= 1", o.score_batch);
}

nlohmann::json to_json(const LstmOptions& o) {
  return {{"input_projection", o.input_projection},
          {"hidden_size", o.hidden_size},
          {"layers", o.layers},
          {"overlap", o.overlap},
          {"dropout", o.dropout},
          {"learning_rate", o.learning_rate},
          {"batch_size", o.batch_size},
          {"epochs", o.epochs},
          {"patience", o.patience},
          {"lr_factor", o.lr_factor},
          {"lr_patience", o.lr_patience},
          {"sequence_length", o.sequence_length},
          {"threshold", o.threshold},
          {"validation_fraction", o.validation_fraction},
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
    auto net = std::make_shared<LstmNetImpl>(static_cast<std::int64_t>(x.cols), options_);

    const Tensor pos_weight = ::torch::full({1}, positive_weight(train), ::torch::kFloat32);
    // Split rows are chunk ids; the loss is the class-weighted BCE averaged over scored steps.
    auto loss_over = [&net, &pos_weight](const data::Matrix& m, Chunking chunking,
                                         std::span<const int> y) {
      return [&net, &pos_weight, &m, c = std::move(chunking), y](std::span<const std::size_t> ids) {
        std::int64_t steps = 0;
        Tensor input = chunk_input(m, c, ids, steps);
        const auto n = static_cast<std::int64_t>(ids.size());
        Tensor target = ::torch::zeros({steps, n});
        Tensor mask = ::torch::zeros({steps, n});
        float* t = target.data_ptr<float>();
        float* w = mask.data_ptr<float>();
        for (std::int64_t b = 0; b < n; ++b) {
          const Chunk& ch = c.chunks[ids[static_cast<std::size_t>(b)]];
          for (std::int64_t s = ch.skip; s < ch.length; ++s) {
            t[s * n + b] = static_cast<float>(y[c.order[ch.begin + static_cast<std::size_t>(s)]]);
            w[s * n + b] = 1.0f;
          }
        }
        namespace F = ::torch::nn::functional;
        Tensor sum =
            F::binary_cross_entropy_with_logits(net->forward(input), target,
                                                F::BinaryCrossEntropyWithLogitsFuncOptions()
                                                    .weight(mask)
                                                    .pos_weight(pos_weight)
                                                    .reduction(::torch::kSum));
        return sum / mask.sum().clamp_min(1.0);
      };
    };

    const int len = options_.sequence_length;
    const int lap = options_.overlap;
    Chunking train_chunks = make_chunks(x.rows, train.group, len, lap);
    const std::size_t n_train = train_chunks.chunks.size();
    Split train_split{{}, loss_over(x, std::move(train_chunks), train.y)};
    Split val_split;
    if (train.x_val != nullptr && train.x_val->rows > 0) {
      const data::Matrix& v = *train.x_val;
      Chunking val_chunks = make_chunks(v.rows, train.group_val, len, lap);
      train_split.rows.resize(n_train);
      std::iota(train_split.rows.begin(), train_split.rows.end(), std::size_t{0});
      val_split.rows.resize(val_chunks.chunks.size());
      std::iota(val_split.rows.begin(), val_split.rows.end(), std::size_t{0});
      val_split.loss = loss_over(v, std::move(val_chunks), train.y_val);
    } else {
      // Whole chunks are held out, so validation rows keep the same context as when scored.
      hold_out(n_train, options_.validation_fraction, ctx.seed, train_split.rows, val_split.rows);
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
    const Chunking c = make_chunks(x.rows, group, options_.sequence_length, options_.overlap);
    // Longest chunks first, so each forward pass pads its chunks to nearly the same length.
    std::vector<std::size_t> ids(c.chunks.size());
    std::iota(ids.begin(), ids.end(), std::size_t{0});
    std::stable_sort(ids.begin(), ids.end(), [&c](std::size_t a, std::size_t b) {
      return c.chunks[a].length > c.chunks[b].length;
    });
    ::torch::NoGradGuard no_grad;
    const auto budget = static_cast<std::int64_t>(options_.score_batch);
    for (std::size_t first = 0; first < ids.size();) {
      std::size_t last = first;
      std::int64_t batch_rows = 0;
      while (last < ids.size() &&
             (last == first || batch_rows + c.chunks[ids[last]].length <= budget)) {
        batch_rows += c.chunks[ids[last]].length;
        ++last;
      }
      const std::span<const std::size_t> batch(ids.data() + first, last - first);
      std::int64_t steps = 0;
      const Tensor p =
          ::torch::sigmoid(net_->forward(chunk_input(x, c, batch, steps))).contiguous();
      const float* prob = p.data_ptr<float>();
      const auto n = static_cast<std::int64_t>(batch.size());
      for (std::int64_t b = 0; b < n; ++b) {
        const Chunk& ch = c.chunks[batch[static_cast<std::size_t>(b)]];
        for (std::int64_t s = ch.skip; s < ch.length; ++s) {
          out[c.order[ch.begin + static_cast<std::size_t>(s)]] = prob[s * n + b];
        }
      }
      first = last;
    }
    return out;
  }

  [[nodiscard]] float threshold() const override { return threshold_; }
  void set_threshold(float threshold) override { threshold_ = threshold; }

  std::string save(const std::filesystem::path& dir) const override {
    if (features_ == 0) throw core::Error("lstm: cannot save a model that was not trained");
    return save_bundle(dir, kName, *net_, features_, threshold_, to_json(options_),
                       kLstmFormatVersion);
  }

  void load(const std::filesystem::path& dir, const std::string& file,
            std::size_t expected_features) override {
    const Sidecar sidecar = read_sidecar(dir, file, kName, expected_features, kLstmFormatVersion);
    // The stored architecture wins over this object's options: a bundle must score as trained.
    LstmOptions o = options_;
    o.input_projection = option_int(sidecar.options, "input_projection", sidecar.path, 0);
    o.hidden_size = option_int(sidecar.options, "hidden_size", sidecar.path, 1);
    o.layers = option_int(sidecar.options, "layers", sidecar.path, 1);
    o.sequence_length = option_int(sidecar.options, "sequence_length", sidecar.path, 1);
    o.overlap = option_int(sidecar.options, "overlap", sidecar.path, 0);
    o.dropout = option_float(sidecar.options, "dropout", sidecar.path);
    try {
      validate(o);
    } catch (const core::Error& e) {
      throw core::Error(fmt::format("{}: {}", sidecar.path.string(), e.what()));
    }
    auto net = std::make_shared<LstmNetImpl>(static_cast<std::int64_t>(sidecar.features), o);
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
