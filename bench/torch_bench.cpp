// Batched scoring throughput (rows/s) of the LibTorch models, and of the autoencoder's torch-free
// scorer on the same weights, at typical sizes: 40 and 90 features
// (first argument), 64 interleaved hosts, default architectures (the LSTM labels chunks of
// consecutive rows), on 1 and 2 intra-op threads (second argument). Export OMP_WAIT_POLICY=passive
// before starting, or 2 threads spin against each other.
// Built only with LibTorch (NETSENTRY_TORCH=ON); see tests/ml/torch_models_test.cpp for the guard.
#include <benchmark/benchmark.h>

#if defined(NETSENTRY_HAVE_TORCH) || defined(USE_DISTRIBUTED)

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "data/matrix.h"
#include "ml/model.h"
#include "ml/neural/autoencoder.h"
#include "ml/neural/packet_lstm_kernel.h"
#include "ml/torch/torch_models.h"

namespace {

namespace ml = netsentry::ml;
using netsentry::data::Matrix;

constexpr std::size_t kRows = 8192;
constexpr int kHosts = 64;

struct Workload {
  Matrix x;
  std::vector<int> y;
  std::vector<std::int32_t> group;
  std::unique_ptr<ml::Model> lstm;
  std::unique_ptr<ml::Model> autoencoder;
  std::unique_ptr<ml::Model> plain_autoencoder;  // the same weights, torch-free (ml/neural/)

  explicit Workload(std::size_t features) : x(kRows, features), y(kRows), group(kRows) {
    std::mt19937 rng(1);
    std::normal_distribution<float> n(0.0f, 1.0f);
    for (float& v : x.values) v = n(rng);
    for (std::size_t i = 0; i < kRows; ++i) {
      y[i] = x.at(i, 0) > 1.0f ? 1 : 0;
      group[i] = static_cast<std::int32_t>(rng() % kHosts);
    }
    ml::torch::set_torch_threads(1);
    ml::TrainSet train;
    train.x = &x;
    train.y = y;
    train.group = group;
    // Scoring cost does not depend on how well the weights fit; one epoch gives real weights.
    ml::TrainContext ctx;
    ctx.epochs = 1;
    lstm = ml::torch::make_lstm({});
    lstm->fit(train, ctx);
    autoencoder = ml::torch::make_autoencoder({});
    autoencoder->fit(train, ctx);
    const auto dir = std::filesystem::temp_directory_path() /
                     ("netsentry-torch-bench-" + std::to_string(features));
    const std::string file = autoencoder->save(dir);
    plain_autoencoder = ml::neural::make_autoencoder();
    plain_autoencoder->load(dir, std::filesystem::path(file).replace_extension(".weights"),
                            features);
    std::filesystem::remove_all(dir);
  }
};

Workload& workload(std::size_t features) {
  static std::map<std::size_t, std::unique_ptr<Workload>> cache;
  auto& w = cache[features];
  if (!w) w = std::make_unique<Workload>(features);
  return *w;
}

enum class Scored { kLstm, kAutoencoder, kPlainAutoencoder };

void score(benchmark::State& state, Scored which) {
  Workload& w = workload(static_cast<std::size_t>(state.range(0)));
  ml::torch::set_torch_threads(static_cast<int>(state.range(1)));
  ml::Model& model = which == Scored::kLstm          ? *w.lstm
                     : which == Scored::kAutoencoder ? *w.autoencoder
                                                     : *w.plain_autoencoder;
  model.set_threads(static_cast<int>(state.range(1)));
  for (auto _ : state) {
    auto scores = model.score(w.x, w.group);
    benchmark::DoNotOptimize(scores.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
  ml::torch::set_torch_threads(1);
  model.set_threads(1);
}

// The packet LSTM's scoring kernel (what the shipped bundle's LSTM runs): 8192 flows of
// `packets` packets each (the lab's captures average 2.3 and 5.9, capped at 32), width 24, on
// `threads` threads. Random weights: the cost does not depend on their values.
void BM_PacketLstmKernel(benchmark::State& state) {
  constexpr std::size_t kFlows = 8192;
  constexpr std::size_t kHidden = 24;
  const auto packets = static_cast<std::size_t>(state.range(0));
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 0.3f);
  const auto fill = [&](std::size_t count) {
    std::vector<float> v(count);
    for (float& x : v) x = n(rng);
    return v;
  };
  ml::neural::PacketLstmKernel kernel;
  kernel.set_weights(kHidden, fill(4 * kHidden * ml::neural::kPacketStepFeatures),
                     fill(4 * kHidden * kHidden), fill(4 * kHidden), fill(4 * kHidden),
                     fill(kHidden), 0.1f);
  std::vector<netsentry::data::PacketStep> steps;
  std::vector<std::size_t> offset{0};
  std::uniform_int_distribution<std::uint32_t> size(0, 1460), gap(0, 1'000'000);
  for (std::size_t f = 0; f < kFlows; ++f) {
    for (std::size_t t = 0; t < packets; ++t) {
      steps.push_back({t % 3 == 0 ? 0 : size(rng), t == 0 ? 0 : gap(rng),
                       static_cast<std::int8_t>(t % 2 == 0 ? 1 : -1),
                       static_cast<std::uint8_t>(t == 0 ? 0x02 : 0x18)});
    }
    offset.push_back(steps.size());
  }
  const netsentry::data::PacketSequences seq{steps, offset};
  std::vector<float> out(kFlows);
  for (auto _ : state) {
    kernel.score(seq, 32, out, static_cast<int>(state.range(1)));
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kFlows));
}

void BM_LstmScore(benchmark::State& state) { score(state, Scored::kLstm); }
void BM_AutoencoderScore(benchmark::State& state) { score(state, Scored::kAutoencoder); }
// The same autoencoder through ml::neural::DenseNet (no LibTorch): what a bundle with plain
// weights scores with.
void BM_AutoencoderPlainScore(benchmark::State& state) { score(state, Scored::kPlainAutoencoder); }

BENCHMARK(BM_LstmScore)
    ->ArgsProduct({{40, 90}, {1, 2}})
    ->ArgNames({"features", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_PacketLstmKernel)
    ->ArgsProduct({{1, 3, 6, 32}, {1, 2}})
    ->ArgNames({"packets", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_AutoencoderScore)
    ->ArgsProduct({{40, 90}, {1, 2}})
    ->ArgNames({"features", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK(BM_AutoencoderPlainScore)
    ->ArgsProduct({{40, 90}, {1, 2}})
    ->ArgNames({"features", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

#endif  // NETSENTRY_HAVE_TORCH || USE_DISTRIBUTED

BENCHMARK_MAIN();
