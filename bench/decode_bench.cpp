// Google Benchmark for net::decode on the common frame shapes; reports time per packet.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "net/decoder.h"
// The test frame builder is header-only; benchmarks share it rather than hand-writing bytes.
#include "../tests/net/packet_builder.h"

namespace {

using netsentry::net::DecodeStats;
using netsentry::net::LinkType;
using netsentry::net::Packet;
using netsentry::net::testing::Frame;
using netsentry::net::testing::PacketBuilder;

void run_decode(benchmark::State& state, LinkType link, const Frame& frame) {
  Packet packet;
  DecodeStats stats;
  const auto wire_len = static_cast<std::uint32_t>(frame.size());
  for (auto _ : state) {
    auto error = netsentry::net::decode(link, frame, wire_len, 0, packet, stats);
    benchmark::DoNotOptimize(error);
    benchmark::DoNotOptimize(packet);
    benchmark::ClobberMemory();
  }
  if (stats.malformed != 0) state.SkipWithError("benchmark frame did not decode cleanly");
  state.SetItemsProcessed(state.iterations());
}

void BM_DecodeTcpIpv4Ethernet(benchmark::State& state) {
  const Frame frame = PacketBuilder()
                          .ethernet()
                          .ipv4()
                          .tcp({.flags = netsentry::net::testing::kAck,
                                .options = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}})
                          .payload(1200)
                          .build();
  run_decode(state, LinkType::kEthernet, frame);
}
BENCHMARK(BM_DecodeTcpIpv4Ethernet);

void BM_DecodeTcpIpv6WithExtensionHeader(benchmark::State& state) {
  const Frame frame = PacketBuilder()
                          .ethernet()
                          .ipv6()
                          .ipv6_extension({.type = 0, .length = 8})
                          .tcp()
                          .payload(512)
                          .build();
  run_decode(state, LinkType::kEthernet, frame);
}
BENCHMARK(BM_DecodeTcpIpv6WithExtensionHeader);

void BM_DecodeUdpIpv4Vlan(benchmark::State& state) {
  const Frame frame = PacketBuilder().ethernet().vlan({.id = 42}).ipv4().udp().payload(100).build();
  run_decode(state, LinkType::kEthernet, frame);
}
BENCHMARK(BM_DecodeUdpIpv4Vlan);

}  // namespace

BENCHMARK_MAIN();
