#include "ml/neural/packet_lstm_kernel.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "ml/parallel.h"

namespace netsentry::ml::neural {
namespace {

// Four floats per SIMD vector (GCC/Clang vector extensions): one SSE register on the baseline
// target. Wider generic vectors are emulated there through the stack, which costs more than it
// gains.
constexpr std::size_t kLanes = 4;
using Vec = float __attribute__((vector_size(kLanes * sizeof(float))));
using IVec = std::int32_t __attribute__((vector_size(kLanes * sizeof(std::int32_t))));

#define NS_INLINE [[gnu::always_inline]] inline

NS_INLINE Vec splat(float v) { return Vec{} + v; }

// e^x, Cephes' single-precision polynomial (about 1 ulp) after a Cody-Waite reduction; x is
// clamped to where 2^n stays a normal float, which moves sigmoid/tanh by less than 1e-37.
NS_INLINE Vec exp_vec(Vec x) {
  x = x > 88.3f ? splat(88.3f) : x;
  x = x < -87.3f ? splat(-87.3f) : x;
  // Round x / ln 2 to the nearest integer: adding 1.5 * 2^23 leaves no fraction bits.
  const Vec n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  Vec r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  Vec p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const Vec y = p * r * r + r + 1.0f;
  const IVec bits = (__builtin_convertvector(n, IVec) + 127) << 23;
  return y * std::bit_cast<Vec>(bits);
}

NS_INLINE Vec sigmoid_vec(Vec z) { return 1.0f / (1.0f + exp_vec(-z)); }

// 1 - 2 / (e^2z + 1): exact limits at both ends, absolute error ~1e-7 near 0.
NS_INLINE Vec tanh_vec(Vec z) { return 1.0f - 2.0f / (exp_vec(z + z) + 1.0f); }

NS_INLINE Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

NS_INLINE void store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }

float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

}  // namespace

void featurize_packet(const data::PacketStep& p, float* out) {
  out[0] = static_cast<float>(std::log1p(static_cast<double>(p.size)) / 8.0);  // 1460 B -> 0.91
  out[1] = p.direction >= 0 ? 1.0f : -1.0f;
  out[2] = static_cast<float>(std::log1p(static_cast<double>(p.iat_us)) / 16.0);  // 9 s -> 1
  out[3] = p.size > 0 ? 1.0f : 0.0f;
  static constexpr std::uint8_t kFlags[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20};  // F S R P A U
  for (int f = 0; f < 6; ++f) out[4 + f] = (p.tcp_flags & kFlags[f]) != 0 ? 1.0f : 0.0f;
}

// Per-thread working memory: gates, state, the step's non-zero inputs.
struct PacketLstmKernel::Scratch {
  explicit Scratch(std::size_t padded)
      : gates(4 * padded),
        h(padded),
        c(padded),
        input(kPacketStepFeatures + padded),
        nonzero(kPacketStepFeatures + padded) {}
  std::vector<float> gates, h, c, input;
  std::vector<std::uint32_t> nonzero;
};

void PacketLstmKernel::set_weights(std::size_t hidden, std::span<const float> w_ih,
                                   std::span<const float> w_hh, std::span<const float> b_ih,
                                   std::span<const float> b_hh, std::span<const float> head,
                                   float head_bias) {
  const std::size_t rows = 4 * hidden;
  if (hidden == 0 || w_ih.size() != rows * kPacketStepFeatures || w_hh.size() != rows * hidden ||
      b_ih.size() != rows || b_hh.size() != rows || head.size() != hidden) {
    throw core::Error(fmt::format(
        "lstm: packet weights of the wrong shape for hidden size {} ({} input, {} recurrent, {} "
        "and {} bias, {} head values)",
        hidden, w_ih.size(), w_hh.size(), b_ih.size(), b_hh.size(), head.size()));
  }
  hidden_ = hidden;
  padded_ = (hidden + kLanes - 1) / kLanes * kLanes;
  const std::size_t width = 4 * padded_;
  // Padding lanes keep zero weights and bias: their cell and hidden state stay 0.
  w_.assign((kPacketStepFeatures + hidden) * width, 0.0f);
  bias_.assign(width, 0.0f);
  for (std::size_t gate = 0; gate < 4; ++gate) {
    for (std::size_t j = 0; j < hidden; ++j) {
      const std::size_t row = gate * hidden + j;  // LibTorch's row
      const std::size_t lane = gate * padded_ + j;
      for (std::size_t k = 0; k < kPacketStepFeatures; ++k) {
        w_[k * width + lane] = w_ih[row * kPacketStepFeatures + k];
      }
      for (std::size_t k = 0; k < hidden; ++k) {
        w_[(kPacketStepFeatures + k) * width + lane] = w_hh[row * hidden + k];
      }
      bias_[lane] = b_ih[row] + b_hh[row];
    }
  }
  head_.assign(head.begin(), head.end());
  head_bias_ = head_bias;
}

float PacketLstmKernel::logit(std::span<const data::PacketStep> packets,
                              std::size_t max_steps) const {
  Scratch scratch(padded_);
  return logit(packets, max_steps, scratch);
}

float PacketLstmKernel::logit(std::span<const data::PacketStep> packets, std::size_t max_steps,
                              Scratch& s) const {
  const std::size_t width = 4 * padded_;
  const std::size_t vectors = padded_ / kLanes;
  std::fill(s.h.begin(), s.h.end(), 0.0f);
  std::fill(s.c.begin(), s.c.end(), 0.0f);
  float* input = s.input.data();
  float* h = s.h.data();
  float* c = s.c.data();
  float* gates = s.gates.data();
  std::uint32_t* nonzero = s.nonzero.data();
  const std::size_t steps = std::min(packets.size(), max_steps);
  for (std::size_t t = 0; t < steps; ++t) {
    // gates = bias + W [x, h], summed over the inputs in order; a zero input adds nothing, and
    // before the first step h is all zero.
    featurize_packet(packets[t], input);
    std::size_t n = 0;
    for (std::size_t k = 0; k < kPacketStepFeatures; ++k) {
      if (input[k] != 0.0f) nonzero[n++] = static_cast<std::uint32_t>(k);
    }
    if (t > 0) {
      for (std::size_t k = 0; k < hidden_; ++k) {
        input[kPacketStepFeatures + k] = h[k];
        if (h[k] != 0.0f) nonzero[n++] = static_cast<std::uint32_t>(kPacketStepFeatures + k);
      }
    }
    // Four vectors of gate rows at a time stay in registers over all inputs.
    for (std::size_t v = 0; v < 4 * vectors; v += 4) {
      const float* b = bias_.data() + v * kLanes;
      Vec a0 = load(b), a1 = load(b + kLanes), a2 = load(b + 2 * kLanes), a3 = load(b + 3 * kLanes);
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t k = nonzero[i];
        const float* w = w_.data() + k * width + v * kLanes;
        const float x = input[k];
        a0 += load(w) * x;
        a1 += load(w + kLanes) * x;
        a2 += load(w + 2 * kLanes) * x;
        a3 += load(w + 3 * kLanes) * x;
      }
      store(gates + v * kLanes, a0);
      store(gates + (v + 1) * kLanes, a1);
      store(gates + (v + 2) * kLanes, a2);
      store(gates + (v + 3) * kLanes, a3);
    }
    for (std::size_t j = 0; j < padded_; j += kLanes) {  // gate blocks i, f, g, o
      const Vec i = sigmoid_vec(load(gates + j));
      const Vec f = sigmoid_vec(load(gates + padded_ + j));
      const Vec g = tanh_vec(load(gates + 2 * padded_ + j));
      const Vec o = sigmoid_vec(load(gates + 3 * padded_ + j));
      const Vec cell = f * load(c + j) + i * g;
      store(c + j, cell);
      store(h + j, o * tanh_vec(cell));
    }
  }
  float z = head_bias_;
  for (std::size_t j = 0; j < hidden_; ++j) z += head_[j] * h[j];
  return z;
}

void PacketLstmKernel::score(const data::PacketSequences& seq, std::size_t max_steps,
                             std::span<float> out, int threads) const {
  const std::size_t rows = seq.rows();
  if (out.size() != rows) {
    throw core::Error(fmt::format("lstm: {} outputs for {} flows", out.size(), rows));
  }
  // Chunks of about equal work (packets read, plus one per flow), not of equal row counts: a
  // capture's flows come in runs (a flood of one-packet flows, then long sessions).
  std::vector<std::size_t> bounds{0};
  const int chunks = std::max(1, std::min<int>(threads, static_cast<int>(rows / 64)));
  if (chunks > 1) {
    std::size_t total = 0;
    for (std::size_t r = 0; r < rows; ++r) total += std::min(seq.of(r).size(), max_steps) + 1;
    std::size_t done = 0;
    for (std::size_t r = 0; r < rows && bounds.size() < static_cast<std::size_t>(chunks); ++r) {
      done += std::min(seq.of(r).size(), max_steps) + 1;
      if (done * static_cast<std::size_t>(chunks) >= total * bounds.size()) bounds.push_back(r + 1);
    }
  }
  bounds.push_back(rows);
  parallel_for(bounds.size() - 1, static_cast<int>(bounds.size() - 1),
               [&](std::size_t first, std::size_t last) {
                 Scratch scratch(padded_);
                 for (std::size_t chunk = first; chunk < last; ++chunk) {
                   for (std::size_t r = bounds[chunk]; r < bounds[chunk + 1]; ++r) {
                     const auto packets = seq.of(r);
                     out[r] = packets.empty() ? 0.0f : sigmoid(logit(packets, max_steps, scratch));
                   }
                 }
               });
}

}  // namespace netsentry::ml::neural
