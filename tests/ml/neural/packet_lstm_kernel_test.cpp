// Tests for the packet LSTM's scoring kernel (src/ml/neural/packet_lstm_kernel.h): it must give
// what LibTorch's LSTM and linear head give on the same weights, and what a plain double-precision
// LSTM gives, to float tolerance, for every flow length and on any thread count. Compiled only
// with LibTorch, like tests/ml/torch_models_test.cpp.
#if defined(NETSENTRY_HAVE_TORCH) || defined(USE_DISTRIBUTED)

#include "ml/neural/packet_lstm_kernel.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/error.h"

namespace netsentry::ml::neural {
namespace {

struct Weights {
  std::size_t hidden;
  std::vector<float> w_ih, w_hh, b_ih, b_hh, head;
  float head_bias;
};

// Weights larger than LibTorch's initialisation (uniform in +-1/sqrt(H)), so gates also saturate.
Weights random_weights(std::size_t hidden, std::uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, scale);
  const auto fill = [&](std::size_t count) {
    std::vector<float> v(count);
    for (float& x : v) x = n(rng);
    return v;
  };
  Weights w{hidden,
            fill(4 * hidden * kPacketStepFeatures),
            fill(4 * hidden * hidden),
            fill(4 * hidden),
            fill(4 * hidden),
            fill(hidden),
            n(rng)};
  return w;
}

PacketLstmKernel kernel_of(const Weights& w) {
  PacketLstmKernel k;
  k.set_weights(w.hidden, w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.head, w.head_bias);
  return k;
}

struct Flows {
  std::vector<data::PacketStep> steps;
  std::vector<std::size_t> offset{0};
  [[nodiscard]] data::PacketSequences view() const { return {steps, offset}; }
};

// Flows of every length 0..max_length, several of each, with varied sizes, gaps, directions and
// flags (zero payloads and gaps included).
Flows random_flows(std::size_t max_length, std::size_t per_length, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> coin(0, 3);
  std::uniform_int_distribution<std::uint32_t> size(0, 1460);
  std::uniform_int_distribution<std::uint32_t> gap(0, 20'000'000);
  std::uniform_int_distribution<int> flags(0, 63);
  Flows f;
  for (std::size_t length = 0; length <= max_length; ++length) {
    for (std::size_t k = 0; k < per_length; ++k) {
      for (std::size_t t = 0; t < length; ++t) {
        const bool empty = coin(rng) == 0;
        f.steps.push_back({empty ? 0 : size(rng), t == 0 ? 0 : gap(rng) >> coin(rng) * 5,
                           static_cast<std::int8_t>(coin(rng) < 2 ? 1 : -1),
                           static_cast<std::uint8_t>(flags(rng))});
      }
      f.offset.push_back(f.steps.size());
    }
  }
  return f;
}

// The LSTM written out in double precision, the textbook way (gate order i, f, g, o).
double reference_logit(const Weights& w, std::span<const data::PacketStep> packets,
                       std::size_t max_steps) {
  const std::size_t h_size = w.hidden;
  std::vector<double> h(h_size, 0.0), c(h_size, 0.0), gates(4 * h_size);
  float x[kPacketStepFeatures];
  const auto sigmoid = [](double z) { return 1.0 / (1.0 + std::exp(-z)); };
  for (std::size_t t = 0; t < std::min(packets.size(), max_steps); ++t) {
    featurize_packet(packets[t], x);
    for (std::size_t r = 0; r < 4 * h_size; ++r) {
      double sum = static_cast<double>(w.b_ih[r]) + w.b_hh[r];
      for (std::size_t k = 0; k < kPacketStepFeatures; ++k) {
        sum += static_cast<double>(w.w_ih[r * kPacketStepFeatures + k]) * x[k];
      }
      for (std::size_t k = 0; k < h_size; ++k) sum += w.w_hh[r * h_size + k] * h[k];
      gates[r] = sum;
    }
    for (std::size_t j = 0; j < h_size; ++j) {
      const double i = sigmoid(gates[j]);
      const double f = sigmoid(gates[h_size + j]);
      const double g = std::tanh(gates[2 * h_size + j]);
      const double o = sigmoid(gates[3 * h_size + j]);
      c[j] = f * c[j] + i * g;
      h[j] = o * std::tanh(c[j]);
    }
  }
  double z = w.head_bias;
  for (std::size_t j = 0; j < h_size; ++j) z += w.head[j] * h[j];
  return z;
}

TEST(PacketLstmKernel, MatchesADoublePrecisionLstmForEveryLengthAndWidth) {
  // 24 is the shipped width; 5 and 13 leave padding lanes, 40 spans several register blocks.
  for (const std::size_t hidden : {1, 5, 13, 24, 40}) {
    const Weights w = random_weights(hidden, 10 + static_cast<std::uint32_t>(hidden), 0.6f);
    const PacketLstmKernel kernel = kernel_of(w);
    const Flows flows = random_flows(40, 4, 3);
    const auto seq = flows.view();
    for (std::size_t r = 0; r < seq.rows(); ++r) {
      for (const std::size_t max_steps : {std::size_t{32}, std::size_t{5}}) {
        const double expected = reference_logit(w, seq.of(r), max_steps);
        const float got = kernel.logit(seq.of(r), max_steps);
        ASSERT_NEAR(got, expected, 2e-5 * std::max(1.0, std::abs(expected)))
            << "hidden " << hidden << ", flow " << r << " of " << seq.of(r).size()
            << " packets, max_steps " << max_steps;
      }
    }
  }
}

TEST(PacketLstmKernel, MatchesLibTorchsLstmAndHeadOnTheSameWeights) {
  constexpr std::int64_t kHidden = 24;
  constexpr std::size_t kMaxSteps = 32;
  const Weights w = random_weights(kHidden, 5, 0.4f);
  const PacketLstmKernel kernel = kernel_of(w);
  const Flows flows = random_flows(36, 3, 9);
  const auto seq = flows.view();

  ::torch::NoGradGuard no_grad;
  ::torch::nn::LSTM lstm(
      ::torch::nn::LSTMOptions(static_cast<std::int64_t>(kPacketStepFeatures), kHidden));
  ::torch::nn::Linear head(kHidden, 1);
  const auto tensor = [](const std::vector<float>& v, std::vector<std::int64_t> shape) {
    return ::torch::from_blob(const_cast<float*>(v.data()), shape, ::torch::kFloat32).clone();
  };
  auto params = lstm->named_parameters();
  params["weight_ih_l0"].copy_(
      tensor(w.w_ih, {4 * kHidden, static_cast<std::int64_t>(kPacketStepFeatures)}));
  params["weight_hh_l0"].copy_(tensor(w.w_hh, {4 * kHidden, kHidden}));
  params["bias_ih_l0"].copy_(tensor(w.b_ih, {4 * kHidden}));
  params["bias_hh_l0"].copy_(tensor(w.b_hh, {4 * kHidden}));
  head->weight.copy_(tensor(w.head, {1, kHidden}));
  head->bias.fill_(w.head_bias);

  std::vector<float> scores(seq.rows());
  kernel.score(seq, kMaxSteps, scores, 1);
  for (std::size_t r = 0; r < seq.rows(); ++r) {
    const auto packets = seq.of(r);
    if (packets.empty()) {
      EXPECT_EQ(scores[r], 0.0f) << "a flow without packets gives no evidence";
      continue;
    }
    const auto steps = static_cast<std::int64_t>(std::min(packets.size(), kMaxSteps));
    ::torch::Tensor x = ::torch::zeros({steps, 1, static_cast<std::int64_t>(kPacketStepFeatures)});
    for (std::int64_t t = 0; t < steps; ++t) {
      featurize_packet(packets[static_cast<std::size_t>(t)],
                       x.data_ptr<float>() + t * static_cast<std::int64_t>(kPacketStepFeatures));
    }
    const float expected = head->forward(std::get<0>(lstm->forward(x))[steps - 1]).item<float>();
    ASSERT_NEAR(kernel.logit(packets, kMaxSteps), expected,
                1e-5 * std::max(1.0f, std::abs(expected)))
        << "flow " << r << " of " << packets.size() << " packets";
    ASSERT_NEAR(scores[r], 1.0f / (1.0f + std::exp(-expected)), 2e-6) << "flow " << r;
  }
}

TEST(PacketLstmKernel, ScoresEveryFlowTheSameOnAnyThreadCount) {
  const Weights w = random_weights(24, 21, 0.3f);
  const PacketLstmKernel kernel = kernel_of(w);
  // Uneven work: a run of long flows after many short ones.
  Flows flows = random_flows(2, 300, 4);
  const Flows long_flows = random_flows(32, 8, 5);
  for (std::size_t r = 0; r + 1 < long_flows.offset.size(); ++r) {
    flows.steps.insert(
        flows.steps.end(),
        long_flows.steps.begin() + static_cast<std::ptrdiff_t>(long_flows.offset[r]),
        long_flows.steps.begin() + static_cast<std::ptrdiff_t>(long_flows.offset[r + 1]));
    flows.offset.push_back(flows.steps.size());
  }
  const auto seq = flows.view();
  std::vector<float> one(seq.rows()), two(seq.rows()), three(seq.rows());
  kernel.score(seq, 32, one, 1);
  kernel.score(seq, 32, two, 2);
  kernel.score(seq, 32, three, 3);
  EXPECT_EQ(one, two);
  EXPECT_EQ(one, three);
  for (std::size_t r = 0; r < seq.rows(); ++r) {
    const float expected =
        seq.of(r).empty() ? 0.0f : 1.0f / (1.0f + std::exp(-kernel.logit(seq.of(r), 32)));
    ASSERT_EQ(one[r], expected) << "flow " << r;
  }
  std::vector<float> wrong(seq.rows() - 1);
  EXPECT_THROW(kernel.score(seq, 32, wrong, 1), core::Error);
}

TEST(PacketLstmKernel, RefusesWeightsOfTheWrongShape) {
  Weights w = random_weights(8, 1, 0.1f);
  PacketLstmKernel k;
  EXPECT_THROW(k.set_weights(9, w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.head, 0), core::Error);
  w.b_hh.pop_back();
  EXPECT_THROW(k.set_weights(8, w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.head, 0), core::Error);
}

}  // namespace
}  // namespace netsentry::ml::neural

#endif  // NETSENTRY_HAVE_TORCH || USE_DISTRIBUTED
