// Google Benchmark for store::SqliteStore: sustained scored flows committed per second through the
// public path (add_flows batches into the bounded queue, the writer thread's batched transactions
// with prepared statements, flush), the same for a spoofed flood's one-packet flows from random
// sources (where the page cache and rows per transaction decide the rate), small commits into a
// store that already holds millions of flows, and the cost of add_flow on the caller's thread
// alone.
// items_per_second is flows committed (or accepted) per second. The database lives in a fresh
// temporary directory per run; the file system there decides much of the result.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_store.h"

namespace {

namespace fs = std::filesystem;
using netsentry::store::FlowRow;
using netsentry::store::SqliteStore;
using netsentry::store::SqliteStoreOptions;

constexpr std::int64_t kT0 = 1'499'344'746'000'000'000;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "netsentry-store-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() { fs::remove_all(path_); }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::vector<FlowRow> make_flows(std::size_t count) {
  std::vector<FlowRow> flows(count);
  for (std::size_t i = 0; i < count; ++i) {
    FlowRow& row = flows[i];
    row.start_ns = kT0 + static_cast<std::int64_t>(i) * 1000;
    row.end_ns = row.start_ns + 2'000'000;
    row.src_ip.family = 4;
    row.src_ip.bytes = {10, 0, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)};
    row.dst_ip.family = 4;
    row.dst_ip.bytes = {192, 168, 1, 10};
    row.src_port = static_cast<std::uint16_t>(32768 + i % 28000);
    row.dst_port = 443;
    row.ip_proto = 6;
    row.packets = 10 + i % 50;
    row.bytes = 1200 + i % 9000;
    row.duration_s = 0.002;
    row.score = static_cast<float>(i % 1000) / 1000.0f;
    row.verdict = row.score > 0.9f ? "anomaly" : "benign";
    row.votes = row.score > 0.9f ? 3 : 0;
    row.voters = 4;
  }
  return flows;
}

// A store in `dir` that keeps every row, with SQLite's page cache at cache_kib.
SqliteStoreOptions unbounded_store(const TempDir& dir, std::int64_t cache_kib) {
  SqliteStoreOptions options;
  options.path = dir.path() / "bench.db";
  options.retention = std::chrono::nanoseconds(0);
  options.cache_kib = cache_kib;
  return options;
}

// Flows committed per second: the producer hands over batches as the scoring thread would and,
// when the queue is full, waits briefly instead of dropping, so the rate is the writer's.
void BM_StoreCommitFlows(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t kFlowsPerIteration = 200'000;
  // add_flows() writes each row's id back, so the rows are not const.
  std::vector<FlowRow> flows = make_flows(kFlowsPerIteration);
  TempDir dir;
  SqliteStoreOptions options;
  options.path = dir.path() / "bench.db";
  options.queue_capacity = 4096;
  options.retention = std::chrono::nanoseconds(0);
  SqliteStore store(options);
  for (auto _ : state) {
    for (std::size_t i = 0; i < flows.size(); i += batch) {
      const std::span<FlowRow> part(flows.data() + i, std::min(batch, flows.size() - i));
      while (!store.add_flows(part)) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    store.flush();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kFlowsPerIteration));
  state.counters["commits"] = static_cast<double>(store.stats().commits);
  state.counters["write_errors"] = static_cast<double>(store.stats().write_errors);
}
BENCHMARK(BM_StoreCommitFlows)
    ->Arg(1)
    ->Arg(256)
    ->Arg(4096)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A spoofed SYN flood's rows: one-packet flows from distinct random sources to one victim, handed
// over in the small batches a flood's flow expiry makes (16 rows each), with the page cache at
// range(0) KiB and at most range(1) rows per transaction (the store's defaults before and after
// they were raised: 2 MiB / 8,192 and 32 MiB / 65,536). Every iteration adds 200,000 new rows, so
// the index on the source address outgrows a small cache as a long flood's does, and each
// transaction rewrites the index pages its random keys touch: rows per transaction decide the
// cost. The rate is the writer's (the producer retries when the queue is full).
void BM_StoreCommitSpoofedFlows(benchmark::State& state) {
  constexpr std::size_t kBatch = 16;
  constexpr std::size_t kFlowsPerIteration = 200'000;
  std::vector<FlowRow> flows = make_flows(kFlowsPerIteration);
  std::mt19937 random(7);
  TempDir dir;
  SqliteStoreOptions options = unbounded_store(dir, state.range(0));
  options.batch_max = static_cast<std::size_t>(state.range(1));
  SqliteStore store(options);
  std::int64_t t = kT0;
  for (auto _ : state) {
    state.PauseTiming();
    for (FlowRow& row : flows) {
      const std::uint32_t source = random();
      row.src_ip.bytes = {
          static_cast<std::uint8_t>(source >> 24), static_cast<std::uint8_t>(source >> 16),
          static_cast<std::uint8_t>(source >> 8), static_cast<std::uint8_t>(source)};
      row.src_port = static_cast<std::uint16_t>(source);
      row.start_ns = row.end_ns = t += 1000;
      row.packets = 1;
      row.bytes = 60;
      row.duration_s = 0;
      row.history = "S";
      row.conn_state = "S0";
    }
    state.ResumeTiming();
    for (std::size_t i = 0; i < flows.size(); i += kBatch) {
      const std::span<FlowRow> part(flows.data() + i, std::min(kBatch, flows.size() - i));
      while (!store.add_flows(part)) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    store.flush();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kFlowsPerIteration));
  state.counters["rows"] = static_cast<double>(store.stats().rows_written);
  state.counters["commits"] = static_cast<double>(store.stats().commits);
}
BENCHMARK(BM_StoreCommitSpoofedFlows)
    ->Args({2048, 8192})
    ->Args({32768, 8192})
    ->Args({2048, 65536})
    ->Args({32768, 65536})
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A long-running monitor's store: range(0) flows already stored (days of a busy network), then
// commits of 1,000 flows each (about a 200 ms commit interval at 5,000 flows/s) between a pool of
// 65,536 addresses drawn at random, so each commit's address-index inserts land among leaves
// spread over the whole stored history unless the index keeps new rows together (schema version
// 6's blocks of ids), with SQLite's page cache at range(1) KiB. The rate is flows committed per
// second; filling the store is not timed.
void BM_StoreSteadyCommitsIntoALargeStore(benchmark::State& state) {
  constexpr std::size_t kCommit = 1000;
  const auto stored = static_cast<std::size_t>(state.range(0));
  std::vector<FlowRow> flows = make_flows(kCommit);
  std::mt19937 random(11);
  TempDir dir;
  SqliteStore store(unbounded_store(dir, state.range(1)));
  std::int64_t t = kT0;
  const auto next_commit = [&] {
    for (FlowRow& row : flows) {
      for (netsentry::net::IpAddress* a : {&row.src_ip, &row.dst_ip}) {
        const std::uint32_t host = random() & 0xffff;
        a->bytes = {10, 20, static_cast<std::uint8_t>(host >> 8), static_cast<std::uint8_t>(host)};
      }
      row.start_ns = row.end_ns = t += 1000;
    }
  };
  for (std::size_t n = 0; n < stored; n += kCommit) {
    next_commit();
    while (!store.add_flows(flows)) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  store.flush();
  const std::uint64_t commits_before = store.stats().commits;
  for (auto _ : state) {
    state.PauseTiming();
    next_commit();
    state.ResumeTiming();
    while (!store.add_flows(flows)) std::this_thread::sleep_for(std::chrono::microseconds(50));
    store.flush();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kCommit));
  state.counters["commits"] = static_cast<double>(store.stats().commits - commits_before);
}
BENCHMARK(BM_StoreSteadyCommitsIntoALargeStore)
    ->Args({100'000, 2048})
    ->Args({100'000, 32768})
    ->Args({2'000'000, 2048})
    ->Args({2'000'000, 32768})
    ->Iterations(300)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The caller's side alone: one add_flow into a queue with room (the writer drains concurrently);
// the iteration count stays under the queue's capacity so every call takes the accepting path.
void BM_StoreAddFlowCaller(benchmark::State& state) {
  const std::vector<FlowRow> flows = make_flows(1024);
  TempDir dir;
  SqliteStoreOptions options;
  options.path = dir.path() / "bench.db";
  options.queue_capacity = 1 << 20;
  SqliteStore store(options);
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(store.add_flow(flows[i++ & 1023]));
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["dropped"] = static_cast<double>(store.stats().dropped);
}
BENCHMARK(BM_StoreAddFlowCaller)->Iterations(500'000);

}  // namespace

BENCHMARK_MAIN();
