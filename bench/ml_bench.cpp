// Batch scoring throughput of the tree models on a 100k x 40 matrix (rows/s in "items_per_second"),
// with 1 and 2 threads. Run on an idle machine: OpenMP (inside XGBoost) spin-waits, so with other
// work on the cores set OMP_WAIT_POLICY=passive or the 2-thread numbers collapse.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "data/matrix.h"
#include "ml/isolation_forest.h"
#include "ml/random.h"
#include "ml/random_forest.h"

namespace {

using netsentry::data::Matrix;
namespace ml = netsentry::ml;

constexpr std::size_t kRows = 100'000;
constexpr std::size_t kCols = 40;

const Matrix& rows() {
  static const Matrix x = [] {
    Matrix m(kRows, kCols);
    ml::Rng rng(1);
    for (auto& v : m.values) v = static_cast<float>(rng.normal());
    return m;
  }();
  return x;
}

// A nonlinear rule on a few columns, so the forest grows real trees.
std::vector<int> labels(const Matrix& x) {
  std::vector<int> y(x.rows);
  for (std::size_t r = 0; r < x.rows; ++r) {
    y[r] = x.at(r, 0) + x.at(r, 1) * x.at(r, 2) > 1.0f ? 1 : 0;
  }
  return y;
}

Matrix head(const Matrix& x, std::size_t n) {
  Matrix out(n, x.cols);
  std::copy(x.values.begin(), x.values.begin() + static_cast<std::ptrdiff_t>(n * x.cols),
            out.values.begin());
  return out;
}

void BM_IsolationForestScore(benchmark::State& state) {
  static const auto forest = [] {
    auto f = std::make_unique<ml::IsolationForest>();
    const Matrix train = head(rows(), 20'000);
    ml::TrainSet set;
    set.x = &train;
    f->fit(set, {});
    return f;
  }();
  forest->set_threads(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(forest->score(rows()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}
BENCHMARK(BM_IsolationForestScore)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_RandomForestScore(benchmark::State& state) {
  static const auto forest = [] {
    auto f = std::make_unique<ml::RandomForest>();
    const Matrix train = head(rows(), 20'000);
    const auto y = labels(train);
    ml::TrainSet set;
    set.x = &train;
    set.y = y;
    f->fit(set, {});
    return f;
  }();
  forest->set_threads(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(forest->score(rows()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}
BENCHMARK(BM_RandomForestScore)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
