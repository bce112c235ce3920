// Provides ml::Model, the interface every detector model implements (Isolation Forest, Random
// Forest, LSTM, Autoencoder), plus the training inputs and context they share. Scores are
// continuous and higher means more suspicious; predict() applies the model's own threshold. Thread
// rules: fit/load/set_threshold from one thread; score() is const and may run concurrently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset.h"
#include "data/matrix.h"

namespace netsentry::ml {

// Settings that travel explicitly (never globals): threads, seed, epochs, progress reporting.
struct TrainContext {
  int threads = 1;
  std::uint64_t seed = 42;
  int epochs = 0;  // 0 = the model's default
  // Called with one human-readable progress line (epoch, loss, time left). May be empty.
  std::function<void(const std::string&)> progress;
};

// Rows in time order. `y` is 0 (normal) / 1 (attack), empty when unlabeled. `weights` are per-row
// class weights (empty = 1). `group` says which sequence (e.g. source host) a row belongs to, for
// row-sequence models; empty = one sequence. `packets` are each row's first packets (flow
// records), for packet-sequence models; empty when the data has none. The validation part may be
// empty.
struct TrainSet {
  const data::Matrix* x = nullptr;
  std::span<const int> y;
  std::span<const float> weights;
  std::span<const std::int32_t> group;
  data::PacketSequences packets;
  const data::Matrix* x_val = nullptr;
  std::span<const int> y_val;
  std::span<const std::int32_t> group_val;
  data::PacketSequences packets_val;
};

// What a model scores: preprocessed rows plus the per-row context sequence models read (`group`
// and `packets` as in TrainSet; either may be empty).
struct ScoreInput {
  const data::Matrix& x;
  std::span<const std::int32_t> group = {};
  data::PacketSequences packets = {};
};

class Model {
 public:
  virtual ~Model() = default;

  // Stable key used in manifests and reports: "isolation_forest", "random_forest", "lstm",
  // "autoencoder".
  [[nodiscard]] virtual std::string_view name() const = 0;
  virtual void fit(const TrainSet& train, const TrainContext& ctx) = 0;
  // One score per row; higher = more suspicious.
  [[nodiscard]] virtual std::vector<float> score(const ScoreInput& input) const = 0;
  [[nodiscard]] std::vector<float> score(const data::Matrix& x,
                                         std::span<const std::int32_t> group = {}) const {
    return score(ScoreInput{x, group});
  }
  // True when score() reads ScoreInput::packets (a packet-sequence model): callers then supply
  // each row's first packets.
  [[nodiscard]] virtual bool reads_packets() const { return false; }
  // True when score() of a row reads the rows before it in the same input (the row-sequence
  // LSTM with host context, ml/torch/torch_models.h): a subset of rows scored alone then gets
  // other scores than the same rows scored among all of them.
  [[nodiscard]] virtual bool reads_neighbour_rows() const { return false; }
  // Threads score() may use; models without a pool of their own ignore it.
  virtual void set_threads(int threads) {}
  [[nodiscard]] virtual float threshold() const = 0;
  virtual void set_threshold(float threshold) = 0;
  // Writes the model in its native format into `dir`; returns the file name written (relative).
  virtual std::string save(const std::filesystem::path& dir) const = 0;
  // Reads what save() wrote; throws core::Error saying precisely what does not match.
  virtual void load(const std::filesystem::path& dir, const std::string& file,
                    std::size_t expected_features) = 0;

  [[nodiscard]] std::vector<int> predict(const ScoreInput& input) const {
    auto s = score(input);
    std::vector<int> out(s.size());
    const float t = threshold();
    for (std::size_t i = 0; i < s.size(); ++i) out[i] = s[i] > t ? 1 : 0;
    return out;
  }
  [[nodiscard]] std::vector<int> predict(const data::Matrix& x,
                                         std::span<const std::int32_t> group = {}) const {
    return predict(ScoreInput{x, group});
  }
};

}  // namespace netsentry::ml
