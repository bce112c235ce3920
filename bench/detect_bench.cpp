// Cost of the detection thread's per-flow-start tables: OrdinaryTraffic's recent flow starters
// (every new flow) and SecondSight, the first-event table behind the scan and beacon detectors
// (every attempt). Both commit their pages as slots are first used, so a flood of spoofed sources
// spreads over fresh pages: the "Fresh" benchmarks make a new table for each batch of 65,536
// starts, the others reuse a warm one.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>

#include "bench_support.h"
#include "detect/detector_support.h"
#include "detect/ordinary_traffic.h"

namespace {

using netsentry::bench::ipv4;
using netsentry::detect::OrdinaryTraffic;
using netsentry::detect::SecondSight;
using netsentry::detect::SubjectKey;
using netsentry::net::IpAddress;

constexpr int kBatch = 65'536;

struct Probe {
  std::uint16_t port = 0;
};

// A batch of flow starts, each from a spoofed source: every slot of the 65,536-host table is hit
// about once.
struct FlowStarts {
  static std::unique_ptr<OrdinaryTraffic> make() { return std::make_unique<OrdinaryTraffic>(); }
  static void run(OrdinaryTraffic& table, std::uint32_t& next, std::int64_t& t) {
    for (int i = 0; i < kBatch; ++i) {
      next = next * 1664525u + 1013904223u;
      table.on_flow_started(ipv4(next), ++t);
    }
  }
};

// A batch of scan attempts from spoofed sources to one host: each key's first event waits in its
// slot.
struct FirstEvents {
  static std::unique_ptr<SecondSight<Probe>> make() {
    return std::make_unique<SecondSight<Probe>>(kBatch, 60'000'000'000);
  }
  static void run(SecondSight<Probe>& table, std::uint32_t& next, std::int64_t& t) {
    const IpAddress victim = ipv4(0x0A000001);
    for (int i = 0; i < kBatch; ++i) {
      next = next * 1664525u + 1013904223u;
      SubjectKey key{ipv4(next), victim, static_cast<std::uint16_t>(next >> 16), 6};
      benchmark::DoNotOptimize(table.admit(key, ++t, Probe{key.port}));
    }
  }
};

// Batches into one table, filled once before timing.
template <class Load>
void BM_Warm(benchmark::State& state) {
  const auto table = Load::make();
  std::uint32_t next = 1;
  std::int64_t t = 0;
  Load::run(*table, next, t);
  for (auto _ : state) Load::run(*table, next, t);
  state.SetItemsProcessed(state.iterations() * kBatch);
}

// Each batch into a new table (made and freed outside the timing).
template <class Load>
void BM_Fresh(benchmark::State& state) {
  std::uint32_t next = 1;
  std::int64_t t = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto table = Load::make();
    state.ResumeTiming();
    Load::run(*table, next, t);
    state.PauseTiming();
    table.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

BENCHMARK(BM_Warm<FlowStarts>)->Name("BM_FlowStartsWarm")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fresh<FlowStarts>)->Name("BM_FlowStartsFresh")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Warm<FirstEvents>)->Name("BM_FirstEventsWarm")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fresh<FirstEvents>)->Name("BM_FirstEventsFresh")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
