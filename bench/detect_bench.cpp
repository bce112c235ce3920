// Cost of the detection thread's per-flow-start tables: OrdinaryTraffic's recent flow starters
// (every new flow) and SecondSight, the first-event table behind the scan and beacon detectors
// (every attempt). Both commit their pages as slots are first used, so a flood of spoofed sources
// spreads over fresh pages: the "Fresh" benchmarks make a new table for each batch of 65,536
// starts, the others reuse a warm one.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>

#include "detect/detector_support.h"
#include "detect/ordinary_traffic.h"

namespace {

using netsentry::detect::OrdinaryTraffic;
using netsentry::detect::SecondSight;
using netsentry::detect::SubjectKey;
using netsentry::net::IpAddress;

constexpr int kBatch = 65'536;

IpAddress v4(std::uint32_t n) {
  IpAddress ip;
  ip.family = 4;
  ip.bytes = {static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
              static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
  return ip;
}

// A spoofed source per flow start: every slot of the 65,536-host table is hit about once.
void run_starts(OrdinaryTraffic& table, std::uint32_t& next, std::int64_t& t) {
  for (int i = 0; i < kBatch; ++i) {
    next = next * 1664525u + 1013904223u;
    table.on_flow_started(v4(next), ++t);
  }
}

void BM_FlowStartsWarm(benchmark::State& state) {
  OrdinaryTraffic table;
  std::uint32_t next = 1;
  std::int64_t t = 0;
  run_starts(table, next, t);
  for (auto _ : state) run_starts(table, next, t);
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_FlowStartsWarm)->Unit(benchmark::kMillisecond);

void BM_FlowStartsFresh(benchmark::State& state) {
  std::uint32_t next = 1;
  std::int64_t t = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto table = std::make_unique<OrdinaryTraffic>();
    state.ResumeTiming();
    run_starts(*table, next, t);
    state.PauseTiming();
    table.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_FlowStartsFresh)->Unit(benchmark::kMillisecond);

struct Probe {
  std::uint16_t port = 0;
};

// Scan attempts from spoofed sources to one host: each key's first event waits in its slot.
void run_admits(SecondSight<Probe>& table, std::uint32_t& next, std::int64_t& t) {
  const IpAddress victim = v4(0x0A000001);
  for (int i = 0; i < kBatch; ++i) {
    next = next * 1664525u + 1013904223u;
    SubjectKey key{v4(next), victim, static_cast<std::uint16_t>(next >> 16), 6};
    benchmark::DoNotOptimize(table.admit(key, ++t, Probe{key.port}));
  }
}

void BM_FirstEventsWarm(benchmark::State& state) {
  SecondSight<Probe> table(kBatch, 60'000'000'000);
  std::uint32_t next = 1;
  std::int64_t t = 0;
  run_admits(table, next, t);
  for (auto _ : state) run_admits(table, next, t);
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_FirstEventsWarm)->Unit(benchmark::kMillisecond);

void BM_FirstEventsFresh(benchmark::State& state) {
  std::uint32_t next = 1;
  std::int64_t t = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto table = std::make_unique<SecondSight<Probe>>(kBatch, 60'000'000'000);
    state.ResumeTiming();
    run_admits(*table, next, t);
    state.PauseTiming();
    table.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_FirstEventsFresh)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
