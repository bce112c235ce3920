// The LSTM: a row-sequence labeller over each host's consecutive rows (input "rows", see
// LstmOptions in torch_models.h for the chunk rule) or a per-flow classifier of each flow's first
// packets (input "packets").
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <unordered_map>

#include "core/error.h"
#include "ml/neural/packet_lstm.h"
#include "ml/neural/packet_lstm_kernel.h"
#include "ml/torch/torch_common.h"
#include "ml/torch/torch_models.h"

namespace netsentry::ml::torch {
namespace {

using neural::featurize_packet;
using neural::kPacketStepFeatures;
using neural::PacketLstmKernel;
using ::torch::Tensor;

constexpr std::string_view kName = "lstm";
using neural::kLstmFormatVersion;

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

// --- Packet mode -------------------------------------------------------------------------------

constexpr auto kStepFeatures = static_cast<std::int64_t>(kPacketStepFeatures);

// LSTM over a flow's packets with a logit per step: P(attack | the first t packets).
struct PacketNetImpl : ::torch::nn::Module {
  explicit PacketNetImpl(std::int64_t hidden) {
    lstm =
        register_module("lstm", ::torch::nn::LSTM(::torch::nn::LSTMOptions(kStepFeatures, hidden)));
    head = register_module("head", ::torch::nn::Linear(hidden, 1));
  }
  // Time-major [steps, flows, kStepFeatures] -> [steps, flows] logits.
  Tensor forward(const Tensor& steps) {
    return head->forward(std::get<0>(lstm->forward(steps))).squeeze(2);
  }
  ::torch::nn::LSTM lstm{nullptr};
  ::torch::nn::Linear head{nullptr};
};
using PacketNet = std::shared_ptr<PacketNetImpl>;

// Copies the trained packet network's weights into the scoring kernel.
void copy_weights(PacketNetImpl& net, PacketLstmKernel& kernel) {
  ::torch::NoGradGuard no_grad;
  auto params = net.lstm->named_parameters();
  const auto flat = [](const Tensor& t) {
    const Tensor c = t.detach().to(::torch::kFloat32).contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  const Tensor whh = params["weight_hh_l0"];
  kernel.set_weights(static_cast<std::size_t>(whh.size(1)), flat(params["weight_ih_l0"]), flat(whh),
                     flat(params["bias_ih_l0"]), flat(params["bias_hh_l0"]), flat(net.head->weight),
                     net.head->bias.item<float>());
}

// Time-major [steps, flows, kStepFeatures] input of the given rows' first packets (steps = the
// longest of them, capped at max_steps; shorter flows are zero-padded at the end) and each
// flow's length.
Tensor packet_input(const data::PacketSequences& seq, std::span<const std::size_t> rows,
                    std::size_t max_steps, std::vector<std::int64_t>& lengths) {
  lengths.resize(rows.size());
  std::int64_t steps = 1;
  for (std::size_t b = 0; b < rows.size(); ++b) {
    lengths[b] = static_cast<std::int64_t>(std::min(seq.of(rows[b]).size(), max_steps));
    steps = std::max(steps, lengths[b]);
  }
  const auto n = static_cast<std::int64_t>(rows.size());
  Tensor t = ::torch::zeros({steps, n, kStepFeatures});
  float* dst = t.data_ptr<float>();
  for (std::int64_t b = 0; b < n; ++b) {
    const auto packets = seq.of(rows[static_cast<std::size_t>(b)]);
    for (std::int64_t s = 0; s < lengths[static_cast<std::size_t>(b)]; ++s) {
      featurize_packet(packets[static_cast<std::size_t>(s)], dst + (s * n + b) * kStepFeatures);
    }
  }
  return t;
}

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

// Bounds on a stored architecture: far above anything trained here, far below what would exhaust
// memory before the parameter file's size is even compared.
constexpr int kMaxWidth = 4096;
constexpr int kMaxLayers = 16;
constexpr int kMaxSequence = 1 << 16;

// Parameters of LstmNetImpl for `input` features (LibTorch's LSTM has two bias vectors per gate).
double parameter_count(double input, const LstmOptions& o) {
  double width = input;
  double n = 0;
  if (o.input_projection > 0) {
    n += input * o.input_projection + o.input_projection;
    width = o.input_projection;
  }
  const double h = o.hidden_size;
  for (int l = 0; l < o.layers; ++l) {
    n += 4 * h * (width + h) + 8 * h;
    width = h;
  }
  return n + h + 1;
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
  if (o.input != "auto" && o.input != "rows" && o.input != "packets") {
    throw core::Error("lstm: option input must be auto, rows or packets, got \"" + o.input + "\"");
  }
  if (o.max_packets < 1 || o.max_packets > 1024)
    fail("max_packets must be in [1, 1024]", o.max_packets);
  if (o.packet_hidden_size < 1) fail("packet_hidden_size must be >= 1", o.packet_hidden_size);
  if (o.packet_batch_size < 1) fail("packet_batch_size must be >= 1", o.packet_batch_size);
  if (o.max_train_flows < 100) fail("max_train_flows must be >= 100", o.max_train_flows);
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
          {"score_batch", o.score_batch},
          {"input", o.input},
          {"max_packets", o.max_packets},
          {"packet_hidden_size", o.packet_hidden_size},
          {"packet_batch_size", o.packet_batch_size},
          {"max_train_flows", o.max_train_flows}};
}

class LstmModel final : public Model {
 public:
  explicit LstmModel(const LstmOptions& options)
      : options_(options), threshold_(options.threshold) {
    validate(options_);
  }

  [[nodiscard]] std::string_view name() const override { return kName; }
  [[nodiscard]] bool reads_packets() const override { return packets_mode_; }
  [[nodiscard]] bool reads_neighbour_rows() const override {
    return !packets_mode_ && options_.sequence_length > 1;
  }
  void set_threads(int threads) override { threads_ = std::max(1, threads); }

  void fit(const TrainSet& train, const TrainContext& ctx) override {
    check_train_set(kName, train, /*labels_required=*/true);
    const bool have_packets = !train.packets.empty();
    if (options_.input == "packets" && !have_packets) {
      throw core::Error(
          "lstm: input \"packets\" needs each flow's first packets (a flows CSV from `netsentry "
          "flows`, column \"packets\"); this data has none");
    }
    packets_mode_ = options_.input == "packets" || (options_.input == "auto" && have_packets);
    if (packets_mode_) {
      fit_packets(train, ctx);
    } else {
      fit_rows(train, ctx);
    }
  }

  using Model::score;
  [[nodiscard]] std::vector<float> score(const ScoreInput& input) const override {
    if (!packets_mode_) return score_rows(input.x, input.group);
    return neural::score_packet_flows(kernel_, input, features_,
                                      static_cast<std::size_t>(options_.max_packets), threads_);
  }

 private:
  void fit_rows(const TrainSet& train, const TrainContext& ctx) {
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

  // Packet mode: one flow is one sequence of its first packets; the loss is the class-weighted
  // BCE at every step (each flow's steps averaged, so long flows do not outweigh short ones),
  // which makes the logit after t packets the verdict of a flow seen that far: scoring a flow's
  // first k packets is its early verdict.
  void fit_packets(const TrainSet& train, const TrainContext& ctx) {
    const auto usable = [](const data::PacketSequences& seq, std::span<const int> y,
                           std::size_t limit, std::uint64_t seed) {
      std::vector<std::size_t> rows;
      for (std::size_t r = 0; r < seq.rows(); ++r) {
        if (!seq.of(r).empty()) rows.push_back(r);
      }
      if (rows.size() > limit) {
        // A bounded, class-stratified sample: floods of one-packet flows would otherwise set the
        // training time and drown every other pattern.
        std::mt19937_64 rng(seed);
        std::shuffle(rows.begin(), rows.end(), rng);
        std::vector<std::size_t> pos, neg;
        for (const std::size_t r : rows) (y[r] == 1 ? pos : neg).push_back(r);
        const std::size_t half = limit / 2;
        const std::size_t take_pos = std::min(pos.size(), std::max(half, limit - neg.size()));
        const std::size_t take_neg = std::min(neg.size(), limit - take_pos);
        rows.assign(pos.begin(), pos.begin() + static_cast<std::ptrdiff_t>(take_pos));
        rows.insert(rows.end(), neg.begin(), neg.begin() + static_cast<std::ptrdiff_t>(take_neg));
        std::sort(rows.begin(), rows.end());
      }
      return rows;
    };
    const auto limit = static_cast<std::size_t>(options_.max_train_flows);
    std::vector<std::size_t> rows = usable(train.packets, train.y, limit, ctx.seed);
    if (rows.empty()) throw core::Error("lstm: no training flow carries a packet sequence");
    ::torch::manual_seed(ctx.seed);
    auto net = std::make_shared<PacketNetImpl>(options_.packet_hidden_size);

    double pos = 0, neg = 0;
    for (const std::size_t r : rows) (train.y[r] == 1 ? pos : neg) += 1;
    const Tensor pos_weight = ::torch::full(
        {1}, static_cast<float>(pos > 0 && neg > 0 ? neg / pos : 1.0), ::torch::kFloat32);
    const auto steps = static_cast<std::size_t>(options_.max_packets);
    auto loss_over = [&net, &pos_weight, steps](const data::PacketSequences& seq,
                                                std::span<const int> y) {
      return [&net, &pos_weight, steps, seq, y](std::span<const std::size_t> ids) {
        std::vector<std::int64_t> lengths;
        Tensor input = packet_input(seq, ids, steps, lengths);
        const std::int64_t t_max = input.size(0);
        const auto n = static_cast<std::int64_t>(ids.size());
        Tensor target = ::torch::zeros({t_max, n});
        Tensor weight = ::torch::zeros({t_max, n});
        float* t = target.data_ptr<float>();
        float* w = weight.data_ptr<float>();
        for (std::int64_t b = 0; b < n; ++b) {
          const float label = static_cast<float>(y[ids[static_cast<std::size_t>(b)]]);
          const std::int64_t len = lengths[static_cast<std::size_t>(b)];
          for (std::int64_t k = 0; k < len; ++k) {
            t[k * n + b] = label;
            w[k * n + b] = 1.0f / static_cast<float>(len);
          }
        }
        namespace F = ::torch::nn::functional;
        Tensor sum =
            F::binary_cross_entropy_with_logits(net->forward(input), target,
                                                F::BinaryCrossEntropyWithLogitsFuncOptions()
                                                    .weight(weight)
                                                    .pos_weight(pos_weight)
                                                    .reduction(::torch::kSum));
        return sum / static_cast<double>(n);
      };
    };
    // Split rows are indices into `rows` (train) or into the validation flows.
    std::vector<std::size_t> train_rows = rows;
    Split train_split{{}, loss_over(train.packets, train.y)};
    Split val_split;
    std::vector<std::size_t> val_rows;
    if (!train.packets_val.empty() && train.x_val != nullptr && train.x_val->rows > 0) {
      val_rows = usable(train.packets_val, train.y_val, limit, ctx.seed + 1);
    }
    if (!val_rows.empty()) {
      train_split.rows = train_rows;
      val_split.rows = val_rows;
      val_split.loss = loss_over(train.packets_val, train.y_val);
    } else {
      std::vector<std::size_t> fit_pos, val_pos;
      hold_out(rows.size(), options_.validation_fraction, ctx.seed, fit_pos, val_pos);
      for (const std::size_t p : fit_pos) train_split.rows.push_back(rows[p]);
      for (const std::size_t p : val_pos) val_split.rows.push_back(rows[p]);
      val_split.loss = train_split.loss;
    }

    LoopSettings settings;
    settings.model_name = kName;
    settings.epochs = ctx.epochs > 0 ? ctx.epochs : options_.epochs;
    settings.batch_size = options_.packet_batch_size;
    settings.patience = options_.patience;
    settings.learning_rate = options_.learning_rate;
    settings.lr_factor = options_.lr_factor;
    settings.lr_patience = options_.lr_patience;
    run_training(*net, settings, train_split, val_split, ctx);

    packet_net_ = net;
    copy_weights(*net, kernel_);
    check_weights_match(*net, train.packets, train_split.rows);
    features_ = train.x->cols;
    threshold_ = options_.threshold;
  }

  // The hand-written scorer must give LibTorch's logits (to float rounding) on the first
  // training flows.
  void check_weights_match(PacketNetImpl& net, const data::PacketSequences& seq,
                           std::span<const std::size_t> rows) const {
    const std::size_t n = std::min<std::size_t>(rows.size(), 256);
    if (n == 0) return;
    const auto steps = static_cast<std::size_t>(options_.max_packets);
    std::vector<std::int64_t> lengths;
    ::torch::NoGradGuard no_grad;
    net.eval();
    const Tensor logits =
        net.forward(packet_input(seq, rows.first(n), steps, lengths)).contiguous();
    const float* l = logits.data_ptr<float>();
    for (std::size_t b = 0; b < n; ++b) {
      const float expected = l[static_cast<std::size_t>(lengths[b] - 1) * n + b];
      const float got = kernel_.logit(seq.of(rows[b]), steps);
      if (std::abs(expected - got) > 1e-4f * std::max(1.0f, std::abs(expected))) {
        throw core::Error(fmt::format(
            "lstm: the packet scorer gives {} where LibTorch gives {}: the weights were not read "
            "as LibTorch lays them out",
            got, expected));
      }
    }
  }

  [[nodiscard]] std::vector<float> score_rows(const data::Matrix& x,
                                              std::span<const std::int32_t> group) const {
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

 public:
  [[nodiscard]] float threshold() const override { return threshold_; }
  void set_threshold(float threshold) override { threshold_ = threshold; }

  std::string save(const std::filesystem::path& dir) const override {
    if (features_ == 0) throw core::Error("lstm: cannot save a model that was not trained");
    nlohmann::json options = to_json(options_);
    options["input"] = packets_mode_ ? "packets" : "rows";
    if (packets_mode_) {
      return save_bundle(dir, kName, *packet_net_, features_, threshold_, options,
                         kLstmFormatVersion);
    }
    return save_bundle(dir, kName, *net_, features_, threshold_, options, kLstmFormatVersion);
  }

  void load(const std::filesystem::path& dir, const std::string& file,
            std::size_t expected_features) override {
    const Sidecar sidecar = read_sidecar(dir, file, kName, expected_features, kLstmFormatVersion);
    // The stored architecture wins over this object's options: a bundle must score as trained.
    LstmOptions o = options_;
    // Bundles from before packet sequences have no "input": they label rows.
    o.input = std::string(neural::lstm_input(sidecar));
    const bool packets = o.input == "packets";
    double parameters = 0;
    if (packets) {
      o.packet_hidden_size =
          option_int(sidecar.options, "packet_hidden_size", sidecar.path, 1, kMaxWidth);
      o.max_packets = option_int(sidecar.options, "max_packets", sidecar.path, 1, 1024);
      const double h = o.packet_hidden_size;
      parameters = 4 * h * (kStepFeatures + h) + 8 * h + h + 1;
    } else {
      o.input_projection =
          option_int(sidecar.options, "input_projection", sidecar.path, 0, kMaxWidth);
      o.hidden_size = option_int(sidecar.options, "hidden_size", sidecar.path, 1, kMaxWidth);
      o.layers = option_int(sidecar.options, "layers", sidecar.path, 1, kMaxLayers);
      o.sequence_length =
          option_int(sidecar.options, "sequence_length", sidecar.path, 1, kMaxSequence);
      o.overlap = option_int(sidecar.options, "overlap", sidecar.path, 0, kMaxSequence);
      o.dropout = option_float(sidecar.options, "dropout", sidecar.path);
      parameters = parameter_count(static_cast<double>(sidecar.features), o);
    }
    try {
      validate(o);
    } catch (const core::Error& e) {
      throw core::Error(fmt::format("{}: {}", sidecar.path.string(), e.what()));
    }
    check_parameter_budget(dir, file, sidecar.path, parameters);
    try {
      if (packets) {
        auto net = std::make_shared<PacketNetImpl>(o.packet_hidden_size);
        load_parameters(dir, file, *net);
        net->eval();
        PacketLstmKernel kernel;
        copy_weights(*net, kernel);
        packet_net_ = net;
        kernel_ = std::move(kernel);
      } else {
        auto net = std::make_shared<LstmNetImpl>(static_cast<std::int64_t>(sidecar.features), o);
        load_parameters(dir, file, *net);
        net->eval();
        net_ = net;
      }
    } catch (const core::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw core::Error(
          fmt::format("{}: cannot build the LSTM: {}", sidecar.path.string(), torch_error_line(e)));
    }
    packets_mode_ = packets;
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
  bool packets_mode_ = false;
  LstmNet net_;              // rows mode
  PacketNet packet_net_;     // packets mode (kept for save)
  PacketLstmKernel kernel_;  // packets mode: what score() runs
  int threads_ = 1;          // packets mode: scoring threads
};

}  // namespace

std::unique_ptr<Model> make_lstm(const LstmOptions& options) {
  return std::make_unique<LstmModel>(options);
}

}  // namespace netsentry::ml::torch
