// Times data::load_csv on the real NSL-KDD and CIC-IDS2017 files (skipped when the third-party
// datasets are absent: set NETSENTRY_DATASETS or place them in ../shared/datasets), and the
// preprocessor's batch and single-record transforms.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "data/csv_loader.h"
#include "data/preprocess.h"

namespace {

using namespace netsentry::data;

std::filesystem::path datasets() {
  if (const char* env = std::getenv("NETSENTRY_DATASETS"); env != nullptr && *env != '\0')
    return env;
  // __FILE__ is bench/csv_load_bench.cpp inside the repo; the data sits next to the repo.
  return std::filesystem::path(__FILE__).parent_path().parent_path() / ".." / "shared" / "datasets";
}

void load(benchmark::State& state, const std::string& rel) {
  const auto path = datasets() / rel;
  if (!std::filesystem::exists(path.parent_path())) {
    state.SkipWithError(("dataset not found: " + path.string()).c_str());
    return;
  }
  const std::vector<std::string> paths{path.string()};
  std::size_t rows = 0;
  for (auto _ : state) {
    Dataset ds = load_csv(paths);
    rows = ds.rows();
    benchmark::DoNotOptimize(ds);
  }
  state.counters["rows"] = static_cast<double>(rows);
  state.SetItemsProcessed(static_cast<std::int64_t>(rows * state.iterations()));
}

void BM_LoadKddTrainPlus(benchmark::State& state) { load(state, "nsl-kdd/KDDTrain+.txt"); }
BENCHMARK(BM_LoadKddTrainPlus)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_LoadCicSample(benchmark::State& state) { load(state, "cicids2017-improved-sample/*.csv"); }
BENCHMARK(BM_LoadCicSample)->Unit(benchmark::kMillisecond)->MinTime(2.0);

const Dataset& kdd_train() {
  static const Dataset ds = [] {
    const std::vector<std::string> paths{(datasets() / "nsl-kdd/KDDTrain+.txt").string()};
    return load_csv(paths);
  }();
  return ds;
}

void BM_TransformKddTrainPlus(benchmark::State& state) {
  if (!std::filesystem::exists(datasets() / "nsl-kdd")) {
    state.SkipWithError("NSL-KDD not found");
    return;
  }
  Preprocessor p;
  p.fit(kdd_train());
  for (auto _ : state) benchmark::DoNotOptimize(p.transform(kdd_train()));
  state.SetItemsProcessed(static_cast<std::int64_t>(kdd_train().rows() * state.iterations()));
}
BENCHMARK(BM_TransformKddTrainPlus)->Unit(benchmark::kMillisecond);

void BM_TransformOneRecord(benchmark::State& state) {
  if (!std::filesystem::exists(datasets() / "nsl-kdd")) {
    state.SkipWithError("NSL-KDD not found");
    return;
  }
  Preprocessor p;
  p.fit(kdd_train());
  std::vector<double> num(p.numeric_inputs().size(), 1.0);
  std::vector<std::string_view> cat(p.categorical_inputs().size(), "tcp");
  std::vector<float> out(p.output_size());
  for (auto _ : state) {
    p.transform_record(num, cat, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_TransformOneRecord);

}  // namespace

BENCHMARK_MAIN();
