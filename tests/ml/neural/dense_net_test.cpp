// Tests for the autoencoder's forward pass (src/ml/neural/dense_net.h): both vector widths give a
// double-precision reference's outputs to float rounding, for any row count (short last blocks)
// and layer widths that are not multiples of a vector.
#include "ml/neural/dense_net.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"

namespace netsentry::ml::neural {
namespace {

struct Net {
  std::vector<std::size_t> sizes;
  std::vector<std::vector<float>> weights, biases;
};

Net random_net(std::vector<std::size_t> sizes, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 0.5f);
  Net net{sizes, {}, {}};
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    net.weights.emplace_back(sizes[i] * sizes[i + 1]);
    net.biases.emplace_back(sizes[i + 1]);
    for (float& v : net.weights.back()) v = n(rng);
    for (float& v : net.biases.back()) v = n(rng);
  }
  return net;
}

// Linear layers with ReLU between them, in double.
std::vector<double> reference(const Net& net, const float* x) {
  std::vector<double> in(x, x + net.sizes[0]);
  for (std::size_t i = 0; i + 1 < net.sizes.size(); ++i) {
    std::vector<double> out(net.sizes[i + 1]);
    for (std::size_t o = 0; o < out.size(); ++o) {
      double a = net.biases[i][o];
      for (std::size_t k = 0; k < in.size(); ++k) {
        a += static_cast<double>(net.weights[i][o * in.size() + k]) * in[k];
      }
      out[o] = i + 2 < net.sizes.size() ? std::max(0.0, a) : a;
    }
    in = std::move(out);
  }
  return in;
}

TEST(DenseNet, BothVectorWidthsGiveTheReferenceOutputsForAnyRowCount) {
  const Net net = random_net({21, 42, 21, 11, 21, 42, 21}, 1);
  std::mt19937 rng(2);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (const auto lanes : {DenseNet::Lanes::kAuto, DenseNet::Lanes::kNarrow}) {
    const DenseNet dense(net.sizes, net.weights, net.biases, lanes);
    SCOPED_TRACE(dense.wide() ? "eight lanes" : "four lanes");
    for (const std::size_t rows : {1u, 3u, 4u, 5u, 37u}) {
      std::vector<float> x(rows * 25);  // a row stride wider than the input
      for (float& v : x) v = n(rng);
      std::vector<float> out(rows * 21, -99.0f);
      DenseNet::Scratch scratch;
      dense.forward(x.data(), rows, 25, out.data(), 21, scratch);
      for (std::size_t r = 0; r < rows; ++r) {
        const std::vector<double> want = reference(net, x.data() + r * 25);
        for (std::size_t j = 0; j < 21; ++j) {
          EXPECT_NEAR(out[r * 21 + j], want[j], 1e-5 * (1.0 + std::abs(want[j])));
        }
      }
    }
  }
}

TEST(DenseNet, RefusesWeightsThatDoNotFitTheSizes) {
  Net net = random_net({4, 3, 4}, 3);
  net.weights[1].pop_back();
  EXPECT_THROW(DenseNet(net.sizes, net.weights, net.biases), core::Error);
  net = random_net({4, 3, 4}, 3);
  EXPECT_THROW(DenseNet(net.sizes, net.weights, std::span(net.biases).first(1)), core::Error);
}

}  // namespace
}  // namespace netsentry::ml::neural
