// Provides ml::neural::PacketLstmKernel, the scoring side of the packet LSTM (one LSTM layer over
// each flow's first packets, a linear head on the last hidden state; see LstmOptions in
// torch_models.h) in plain C++ over the weights of the trained LibTorch module, and
// featurize_packet(), the numbers the LSTM reads per packet (training uses the same function).
// A flow is a few steps of a 24-wide LSTM: LibTorch's per-operator overhead would cost more than
// the arithmetic, so scoring runs this kernel: gate rows in SIMD lanes, the packet's zero inputs
// and the first step's zero state skipped (exactly: they add nothing), a polynomial exp for the
// gates (within a few float ulps of libm's). Torch-free: linked into the binary and the module.
// Thread rules: set_weights() from one thread while nothing scores; logit() and score() are const
// and safe to call concurrently.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "data/dataset.h"

namespace netsentry::ml::neural {

// Numbers per packet: log payload size, direction, log gap, payload present, six TCP flags.
inline constexpr std::size_t kPacketStepFeatures = 10;

// Writes packet p's kPacketStepFeatures numbers to out.
void featurize_packet(const data::PacketStep& p, float* out);

class PacketLstmKernel {
 public:
  // LibTorch's layout, gate order i, f, g, o: w_ih [4H][kPacketStepFeatures], w_hh [4H][H],
  // b_ih and b_hh [4H], head [H] (the linear head's weight row) and its bias.
  void set_weights(std::size_t hidden, std::span<const float> w_ih, std::span<const float> w_hh,
                   std::span<const float> b_ih, std::span<const float> b_hh,
                   std::span<const float> head, float head_bias);
  [[nodiscard]] std::size_t hidden() const { return hidden_; }

  // The head's logit after the first min(packets.size(), max_steps) packets (the bias alone for
  // none).
  [[nodiscard]] float logit(std::span<const data::PacketStep> packets, std::size_t max_steps) const;

  // out[r] = sigmoid(logit) of every row of seq (0 for a row without packets: no evidence), on
  // `threads` threads, each taking rows of about the same number of packets. out.size() must be
  // seq.rows().
  void score(const data::PacketSequences& seq, std::size_t max_steps, std::span<float> out,
             int threads) const;

 private:
  struct Scratch;
  float logit(std::span<const data::PacketStep> packets, std::size_t max_steps,
              Scratch& scratch) const;

  std::size_t hidden_ = 0;
  std::size_t padded_ = 0;   // hidden_ rounded up to whole SIMD vectors
  std::vector<float> w_;     // [kPacketStepFeatures + hidden_][4 * padded_]: input k's gate row
  std::vector<float> bias_;  // [4 * padded_]: b_ih + b_hh
  std::vector<float> head_;  // [hidden_]
  float head_bias_ = 0;
};

}  // namespace netsentry::ml::neural
