#include "ml/neural/dense_net.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace netsentry::ml::neural {
namespace {

// Vectors are padded to 16 floats so both widths divide every padded layer.
constexpr std::size_t kPad = 16;
// GCC vector extensions; an alias template with a dependent vector_size would silently be a
// plain float, so the widths are two named types.
using Vec4 = float __attribute__((vector_size(4 * sizeof(float))));
using Vec8 = float __attribute__((vector_size(8 * sizeof(float))));

// One layer on one block of kBlockRows rows: out[r][o] = bias[o] + sum_k in[r][k] * w_t[k][o],
// ReLU when `relu`. kLanes floats a vector; two vectors of outputs at a time over four rows keep
// eight accumulators in registers. Always inlined into a caller compiled for the vector width,
// and vectors never cross a function boundary (a 32-byte vector passed by value where AVX is off
// would change the calling convention).
template <typename Vec>
[[gnu::always_inline]] inline void layer_block(const float* in, std::size_t in_stride,
                                               std::size_t inputs, const float* w_t,
                                               const float* bias, std::size_t padded, float* out,
                                               std::size_t out_stride, bool relu) {
  constexpr std::size_t kLanes = sizeof(Vec) / sizeof(float);
  static_assert(kLanes == 4 || kLanes == 8);
  constexpr std::size_t kStep = 2 * kLanes;
  for (std::size_t o = 0; o < padded; o += kStep) {
    Vec b0, b1;
    std::memcpy(&b0, bias + o, sizeof b0);
    std::memcpy(&b1, bias + o + kLanes, sizeof b1);
    Vec a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1;
    const float* w = w_t + o;
    for (std::size_t k = 0; k < inputs; ++k, w += padded) {
      Vec w0, w1;
      std::memcpy(&w0, w, sizeof w0);
      std::memcpy(&w1, w + kLanes, sizeof w1);
      const float x0 = in[k], x1 = in[in_stride + k], x2 = in[2 * in_stride + k],
                  x3 = in[3 * in_stride + k];
      a00 += w0 * x0;
      a01 += w1 * x0;
      a10 += w0 * x1;
      a11 += w1 * x1;
      a20 += w0 * x2;
      a21 += w1 * x2;
      a30 += w0 * x3;
      a31 += w1 * x3;
    }
    if (relu) {
      const Vec zero = {};
      a00 = a00 > zero ? a00 : zero;
      a01 = a01 > zero ? a01 : zero;
      a10 = a10 > zero ? a10 : zero;
      a11 = a11 > zero ? a11 : zero;
      a20 = a20 > zero ? a20 : zero;
      a21 = a21 > zero ? a21 : zero;
      a30 = a30 > zero ? a30 : zero;
      a31 = a31 > zero ? a31 : zero;
    }
    std::memcpy(out + o, &a00, sizeof a00);
    std::memcpy(out + o + kLanes, &a01, sizeof a01);
    std::memcpy(out + out_stride + o, &a10, sizeof a10);
    std::memcpy(out + out_stride + o + kLanes, &a11, sizeof a11);
    std::memcpy(out + 2 * out_stride + o, &a20, sizeof a20);
    std::memcpy(out + 2 * out_stride + o + kLanes, &a21, sizeof a21);
    std::memcpy(out + 3 * out_stride + o, &a30, sizeof a30);
    std::memcpy(out + 3 * out_stride + o + kLanes, &a31, sizeof a31);
  }
}

void layer_block_sse(const float* in, std::size_t in_stride, std::size_t inputs, const float* w_t,
                     const float* bias, std::size_t padded, float* out, std::size_t out_stride,
                     bool relu) {
  layer_block<Vec4>(in, in_stride, inputs, w_t, bias, padded, out, out_stride, relu);
}

[[gnu::target("avx2")]] void layer_block_avx2(const float* in, std::size_t in_stride,
                                              std::size_t inputs, const float* w_t,
                                              const float* bias, std::size_t padded, float* out,
                                              std::size_t out_stride, bool relu) {
  layer_block<Vec8>(in, in_stride, inputs, w_t, bias, padded, out, out_stride, relu);
}

}  // namespace

DenseNet::DenseNet(std::span<const std::size_t> sizes, std::span<const std::vector<float>> weights,
                   std::span<const std::vector<float>> biases, Lanes lanes)
    : sizes_(sizes.begin(), sizes.end()) {
  if (sizes.size() < 2 || weights.size() != sizes.size() - 1 || biases.size() != weights.size()) {
    throw core::Error(fmt::format("dense network: {} layer sizes for {} weights and {} biases",
                                  sizes.size(), weights.size(), biases.size()));
  }
  widest_ = (sizes[0] + kPad - 1) / kPad * kPad;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    Layer l;
    l.in = sizes[i];
    l.out = sizes[i + 1];
    if (l.in == 0 || l.out == 0 || weights[i].size() != l.in * l.out || biases[i].size() != l.out) {
      throw core::Error(fmt::format(
          "dense network: layer {} ({} -> {}) has {} weights and {} biases, expected {} and {}", i,
          l.in, l.out, weights[i].size(), biases[i].size(), l.in * l.out, l.out));
    }
    l.padded = (l.out + kPad - 1) / kPad * kPad;
    l.weight_t.assign(l.in * l.padded, 0.0f);
    for (std::size_t o = 0; o < l.out; ++o) {
      for (std::size_t k = 0; k < l.in; ++k)
        l.weight_t[k * l.padded + o] = weights[i][o * l.in + k];
    }
    l.bias.assign(l.padded, 0.0f);
    std::copy(biases[i].begin(), biases[i].end(), l.bias.begin());
    widest_ = std::max(widest_, l.padded);
    layers_.push_back(std::move(l));
  }
  wide_ = lanes == Lanes::kAuto && __builtin_cpu_supports("avx2");
}

void DenseNet::forward(const float* x, std::size_t rows, std::size_t x_stride, float* out,
                       std::size_t out_stride, Scratch& s) const {
  const std::size_t stride = widest_;
  s.a.resize(kBlockRows * stride);
  s.b.resize(kBlockRows * stride);
  const auto layer = wide_ ? &layer_block_avx2 : &layer_block_sse;
  for (std::size_t first = 0; first < rows; first += kBlockRows) {
    const std::size_t n = std::min(kBlockRows, rows - first);
    // A short last block computes zero rows whose outputs are dropped.
    std::fill(s.a.begin(), s.a.end(), 0.0f);
    for (std::size_t r = 0; r < n; ++r) {
      std::memcpy(s.a.data() + r * stride, x + (first + r) * x_stride, inputs() * sizeof(float));
    }
    float* in = s.a.data();
    float* next = s.b.data();
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const Layer& l = layers_[i];
      layer(in, stride, l.in, l.weight_t.data(), l.bias.data(), l.padded, next, stride,
            i + 1 < layers_.size());
      std::swap(in, next);
    }
    for (std::size_t r = 0; r < n; ++r) {
      std::memcpy(out + (first + r) * out_stride, in + r * stride, outputs() * sizeof(float));
    }
  }
}

}  // namespace netsentry::ml::neural
