// Provides ml::neural::DenseNet, the forward pass of a stack of fully connected layers (ReLU
// between them, linear output: the autoencoder's network) in plain C++ over weights laid out as
// LibTorch's Linear stores them. Rows run in blocks of four against each layer's transposed
// weights, so each weight vector loaded serves four rows and the inner loop is a vector
// multiply-add over output neurons (no horizontal sums). The build targets x86-64-v2 (SSE, four
// floats a vector); on a CPU with AVX2 the same loop runs eight floats wide (chosen once, at
// run time). Sums run in another order than LibTorch's matrix products, so outputs agree with
// LibTorch's to float rounding (relative ~1e-6), not bit for bit.
// Thread rules: construct on one thread; forward() is const and safe to call concurrently, each
// caller with its own Scratch.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace netsentry::ml::neural {

class DenseNet {
 public:
  // Per-thread working memory of forward().
  struct Scratch {
    std::vector<float> a, b;
  };
  static constexpr std::size_t kBlockRows = 4;
  // kAuto: eight floats a vector when the CPU has AVX2, else four; kNarrow: four (tests compare
  // both paths).
  enum class Lanes { kAuto, kNarrow };

  DenseNet() = default;
  // sizes = {input, hidden..., output}; layer i's weight is [sizes[i+1]][sizes[i]] (row-major,
  // LibTorch's Linear.weight) and its bias [sizes[i+1]]. Throws core::Error on a size mismatch.
  DenseNet(std::span<const std::size_t> sizes, std::span<const std::vector<float>> weights,
           std::span<const std::vector<float>> biases, Lanes lanes = Lanes::kAuto);
  [[nodiscard]] bool wide() const { return wide_; }

  [[nodiscard]] std::size_t inputs() const { return sizes_.empty() ? 0 : sizes_.front(); }
  [[nodiscard]] std::size_t outputs() const { return sizes_.empty() ? 0 : sizes_.back(); }
  [[nodiscard]] bool empty() const { return layers_.empty(); }

  // out[r * out_stride + j] = the network's output j for the input row x + r * x_stride, for
  // r < rows (any count; blocks of kBlockRows inside).
  void forward(const float* x, std::size_t rows, std::size_t x_stride, float* out,
               std::size_t out_stride, Scratch& scratch) const;

 private:
  struct Layer {
    std::size_t in = 0, out = 0, padded = 0;  // padded: `out` rounded up to whole vectors
    std::vector<float> weight_t;              // [in][padded], zero beyond `out`
    std::vector<float> bias;                  // [padded]
  };
  std::vector<std::size_t> sizes_;
  std::vector<Layer> layers_;
  std::size_t widest_ = 0;  // the widest padded layer (and the padded input)
  bool wide_ = false;       // AVX2 available: eight lanes
};

}  // namespace netsentry::ml::neural
