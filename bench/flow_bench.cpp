// Google Benchmark for flow::FlowTable::add: cost per packet of an existing flow, of a stream over
// many live flows (cache misses dominate), of a spoofed-source SYN flood at the table bound, and
// of such a flood filling a new table.
// Time per iteration is the cost of one packet (of one full table for the filling flood).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "bench_support.h"
#include "flow/flow_table.h"
#include "net/packet.h"

namespace {

using netsentry::flow::FlowConfig;
using netsentry::flow::FlowRecord;
using netsentry::flow::FlowSink;
using netsentry::flow::FlowTable;
using netsentry::net::IpAddress;
using netsentry::net::Packet;

constexpr std::int64_t kT0 = 1'499'344'746'000'000'000;

class DiscardSink final : public FlowSink {
 public:
  void on_flow(FlowRecord&& record) override { benchmark::DoNotOptimize(record.cic[0]); }
};

using netsentry::bench::ipv4;

Packet tcp_packet(std::uint32_t client, bool from_client, std::uint8_t flags,
                  std::uint32_t payload) {
  Packet p;
  p.l3 = netsentry::net::L3::kIpv4;
  const IpAddress c = ipv4(0x0A000000u + client);
  const IpAddress s = ipv4(0xC0A80A32u);
  const std::uint16_t cport = static_cast<std::uint16_t>(1024 + client % 60000);
  p.src = from_client ? c : s;
  p.dst = from_client ? s : c;
  p.src_port = from_client ? cport : 443;
  p.dst_port = from_client ? 443 : cport;
  p.ip_proto = 6;
  p.has_l4 = true;
  p.tcp_flags = flags;
  p.tcp_window = 512;
  p.l4_header_len = 32;
  p.payload_len = payload;
  p.wire_len = 66 + payload;
  p.cap_len = p.wire_len;
  return p;
}

// One established flow, packets alternating direction 10 us apart.
void BM_AddExistingFlow(benchmark::State& state) {
  DiscardSink sink;
  FlowTable table(FlowConfig{}, sink);
  Packet fwd = tcp_packet(1, true, 0x18, 1200);
  Packet bwd = tcp_packet(1, false, 0x10, 0);
  std::int64_t ts = kT0;
  for (int i = 0; i < 64; ++i) {  // past the first-packets window: steady state
    fwd.ts_ns = ts += 10'000;
    table.add(fwd);
  }
  bool forward = true;
  for (auto _ : state) {
    Packet& p = forward ? fwd : bwd;
    p.ts_ns = ts += 10'000;
    table.add(p);
    forward = !forward;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["flows"] = static_cast<double>(table.size());
}
BENCHMARK(BM_AddExistingFlow);

// A stream over `range(0)` live flows in random order, as on a busy link.
void BM_AddOverLiveFlows(benchmark::State& state) {
  const auto flows = static_cast<std::uint32_t>(state.range(0));
  constexpr std::size_t kStream = 1 << 20;
  std::mt19937 rng(42);
  std::uniform_int_distribution<std::uint32_t> pick(0, flows - 1);
  std::vector<Packet> stream;
  stream.reserve(kStream);
  for (std::size_t i = 0; i < kStream; ++i) {
    const std::uint32_t flow = pick(rng);
    const bool from_client = (rng() & 1) != 0;
    stream.push_back(tcp_packet(flow, from_client, 0x10, from_client ? 100 : 1200));
  }

  DiscardSink sink;
  FlowConfig config;
  config.max_flows = flows * 2;
  FlowTable table(config, sink);
  std::int64_t ts = kT0;
  for (std::uint32_t f = 0; f < flows; ++f) {
    Packet syn = tcp_packet(f, true, 0x02, 0);
    syn.ts_ns = ts += 100;
    table.add(syn);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    Packet& p = stream[i];
    p.ts_ns = ts += 100;  // 10 Mpps of packet time: far from any timeout
    table.add(p);
    i = (i + 1) & (kStream - 1);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["flows"] = static_cast<double>(table.size());
}
BENCHMARK(BM_AddOverLiveFlows)->Arg(1'000)->Arg(100'000);

// The same stream fed through add_batch() in batches of 256 (prefetching ahead).
void BM_AddBatchOverLiveFlows(benchmark::State& state) {
  const auto flows = static_cast<std::uint32_t>(state.range(0));
  constexpr std::size_t kStream = 1 << 20;
  constexpr std::size_t kBatch = 256;
  std::mt19937 rng(42);
  std::uniform_int_distribution<std::uint32_t> pick(0, flows - 1);
  std::vector<Packet> stream;
  stream.reserve(kStream);
  for (std::size_t i = 0; i < kStream; ++i) {
    const std::uint32_t flow = pick(rng);
    const bool from_client = (rng() & 1) != 0;
    stream.push_back(tcp_packet(flow, from_client, 0x10, from_client ? 100 : 1200));
  }

  DiscardSink sink;
  FlowConfig config;
  config.max_flows = flows * 2;
  FlowTable table(config, sink);
  std::int64_t ts = kT0;
  for (std::uint32_t f = 0; f < flows; ++f) {
    Packet syn = tcp_packet(f, true, 0x02, 0);
    syn.ts_ns = ts += 100;
    table.add(syn);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    const std::span<Packet> batch(stream.data() + i, kBatch);
    for (Packet& p : batch) p.ts_ns = ts += 100;
    table.add_batch(batch);
    i = (i + kBatch) & (kStream - 1);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["flows"] = static_cast<double>(table.size());
  state.counters["ns_per_packet"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_AddBatchOverLiveFlows)->Arg(1'000)->Arg(100'000);

// Every packet is a SYN from a new spoofed source; the table stays full and evicts one flow per
// packet (building and emitting its record).
void BM_SynFloodAtBound(benchmark::State& state) {
  DiscardSink sink;
  FlowConfig config;
  config.max_flows = 10'000;
  FlowTable table(config, sink);
  std::int64_t ts = kT0;
  std::uint32_t source = 0;
  for (auto _ : state) {
    Packet syn = tcp_packet(source++, true, 0x02, 0);
    syn.ts_ns = ts += 100;
    table.add(syn);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["evicted"] = static_cast<double>(table.stats().evicted);
}
BENCHMARK(BM_SynFloodAtBound);

// A spoofed flood filling a new table to the default bound (262,144 flows): every packet starts a
// flow in a slot never used before, so this is the cost of first touching the table's memory
// (~1.1 KB a flow), which the flood pays once per run. Time per iteration is one full table.
void BM_SynFloodFillingTheTable(benchmark::State& state) {
  DiscardSink sink;
  const FlowConfig config;
  std::int64_t ts = kT0;
  for (auto _ : state) {
    FlowTable table(config, sink);
    for (std::uint32_t source = 0; source < config.max_flows; ++source) {
      Packet syn = tcp_packet(source, true, 0x02, 0);
      syn.ts_ns = ts += 100;
      table.add(syn);
    }
    benchmark::DoNotOptimize(table.size());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(config.max_flows));
}
BENCHMARK(BM_SynFloodFillingTheTable)->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
