// Scoring cost of the shipped tree models (models/default's Isolation Forest and Random Forest,
// loaded as monitor loads them) on batches the size the ML detector scores, one thread: rows/s in
// "items_per_second". The rows are the bundle's preprocessing of $NETSENTRY_FLOWS (a flows.csv that
// monitor wrote: real flows, whose paths through the trees are what the live scorer meets), else
// standard-normal rows (like standardised features, but they walk the trees differently). The
// model folder is $NETSENTRY_MODEL, else models/default from the current directory or from
// build/<preset>/.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "data/csv_loader.h"
#include "data/matrix.h"
#include "ml/bundle.h"
#include "ml/isolation_forest.h"
#include "ml/random.h"
#include "ml/random_forest.h"

namespace {

namespace fs = std::filesystem;
using netsentry::data::Matrix;
namespace ml = netsentry::ml;

fs::path model_dir() {
  if (const char* env = std::getenv("NETSENTRY_MODEL"); env != nullptr && *env != '\0') return env;
  for (const fs::path p : {"models/default", "../../models/default"}) {
    if (fs::exists(p / "manifest.json")) return p;
  }
  std::cerr << "forest_bench: set NETSENTRY_MODEL to a model bundle folder\n";
  std::exit(2);
}

std::size_t feature_count(const fs::path& dir) {
  std::ifstream in(dir / ml::IsolationForest::kFileName);
  return nlohmann::json::parse(in).at("n_features").get<std::size_t>();
}

const Matrix& rows(std::size_t n) {
  static const Matrix x = [n] {
    Matrix m(n, feature_count(model_dir()));
    if (const char* flows = std::getenv("NETSENTRY_FLOWS"); flows != nullptr && *flows != '\0') {
      const auto bundle = ml::Bundle::load(model_dir());
      const std::string path = flows;
      const Matrix all = bundle.preprocessor.transform(netsentry::data::load_csv({&path, 1}));
      // The first n rows, repeated when the file holds fewer.
      for (std::size_t r = 0; r < n; ++r) {
        const auto src = all.row(r % all.rows);
        std::copy(src.begin(), src.end(), m.row(r).begin());
      }
      return m;
    }
    ml::Rng rng(3);
    for (auto& v : m.values) v = static_cast<float>(rng.normal());
    return m;
  }();
  return x;
}

constexpr std::size_t kRows = 4096;  // the ML detector's largest batch

void BM_DefaultIsolationForest(benchmark::State& state) {
  static const auto forest = [] {
    auto f = std::make_unique<ml::IsolationForest>();
    f->load(model_dir(), ml::IsolationForest::kFileName, feature_count(model_dir()));
    return f;
  }();
  const Matrix& x = rows(kRows);
  for (auto _ : state) benchmark::DoNotOptimize(forest->score(x));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}
BENCHMARK(BM_DefaultIsolationForest)->Unit(benchmark::kMicrosecond);

void BM_DefaultRandomForest(benchmark::State& state) {
  static const auto forest = [] {
    auto f = std::make_unique<ml::RandomForest>();
    f->load(model_dir(), ml::RandomForest::kFileName, feature_count(model_dir()));
    return f;
  }();
  const Matrix& x = rows(kRows);
  for (auto _ : state) benchmark::DoNotOptimize(forest->score(x));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}
BENCHMARK(BM_DefaultRandomForest)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
