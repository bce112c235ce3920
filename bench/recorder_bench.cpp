// Cost of keeping packets for alert evidence (capture::PacketRecorder::record, on the flow thread
// for every packet), of the ring's first lap through fresh memory, of finding one host's packets
// in a full ring, and of writing one alert's evidence file from it (store::EvidenceStore).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench_support.h"
#include "capture/packet_recorder.h"
#include "store/evidence_store.h"

namespace {

using netsentry::capture::PacketRecorder;
using netsentry::capture::RecordedPacket;
using netsentry::capture::RecorderOptions;
using netsentry::capture::RecorderQuery;
using netsentry::net::IpAddress;

using netsentry::bench::ipv4;

// Packets of the size the capture ring carries (at most its 320-byte slots).
void BM_Record(benchmark::State& state) {
  RecorderOptions options;
  options.memory_bytes = std::size_t{128} << 20;
  PacketRecorder recorder(options);
  const std::vector<std::uint8_t> bytes(static_cast<std::size_t>(state.range(0)), 0x5A);
  const IpAddress pair[2] = {ipv4(0x0A000001), ipv4(0x0A000002)};
  std::int64_t t = 0;
  for (auto _ : state) {
    recorder.record(++t, 1500, 1, bytes, pair);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Record)->Arg(64)->Arg(320);

// A replay's recording (capture::PacketRecorder::record_reference, on the flow thread for every
// packet of a replayed file): each packet's place in the file is kept, not its bytes, under the
// budget its copy would take. Packets of the benign lab capture's mean size (1,080 bytes), IPv4
// (argument 4) or IPv6 (6), from 4,096 hosts; the ring (128 MiB of budget, ~5 MB of entries) laps
// several times, so the entries go to memory the ring used before, as they do through most of a
// replay.
class NullReadBack final : public netsentry::capture::PacketReadBack {
 public:
  std::span<const std::uint8_t> read(std::int64_t, std::int64_t, std::uint32_t, std::uint32_t,
                                     netsentry::capture::ReadBackWindow&) const override {
    return {};
  }
};

void BM_RecordReference(benchmark::State& state) {
  RecorderOptions options;
  options.memory_bytes = std::size_t{128} << 20;
  options.segment_bytes = std::size_t{4} << 20;
  PacketRecorder recorder(options);
  recorder.read_back_from(std::make_shared<NullReadBack>());
  const bool ipv6 = state.range(0) == 6;
  std::int64_t t = 0;
  std::int64_t offset = 24;
  for (auto _ : state) {
    IpAddress pair[2] = {ipv4(0x0A000000 + static_cast<std::uint32_t>(t & 4095)), ipv4(0x0B000001)};
    if (ipv6) {
      for (IpAddress& a : pair) {
        a.family = 6;
        a.bytes[0] = 0xFD;
      }
    }
    recorder.record_reference(++t, 1080, 1, 1080, offset, pair);
    offset += 1080 + 16;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["memory_MiB"] =
      static_cast<double>(recorder.stats().memory_bytes) / (1024.0 * 1024.0);
}
BENCHMARK(BM_RecordReference)->Arg(4)->Arg(6)->Iterations(1'200'000)->Repetitions(3);

// The first lap: a new 128 MiB ring filled once with 580-byte packets (a replay's first ~220,000
// packets), construction included. Fresh memory costs a page fault per 4 KiB on first touch, or
// nothing when the recorder's preparer made the segment ahead; the writer here goes as fast as it
// can, so it also shows how much of the lap the preparer keeps ahead of a writer this fast.
void BM_FirstLap(benchmark::State& state) {
  RecorderOptions options;
  options.memory_bytes = std::size_t{128} << 20;
  const std::vector<std::uint8_t> bytes(580, 0x5A);
  const IpAddress pair[2] = {ipv4(0x0A000001), ipv4(0x0A000002)};
  const std::int64_t packets = static_cast<std::int64_t>(options.memory_bytes / (580 + 56));
  for (auto _ : state) {
    PacketRecorder recorder(options);
    for (std::int64_t t = 0; t < packets; ++t) recorder.record(t, 1500, 1, bytes, pair);
    benchmark::DoNotOptimize(recorder.stats().packets);
  }
  state.SetItemsProcessed(state.iterations() * packets);
  state.SetBytesProcessed(state.iterations() * packets * 580);
}
BENCHMARK(BM_FirstLap)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

// One alert's extraction: one host among 4,096 in a full 128 MiB ring.
void BM_QueryFullRing(benchmark::State& state) {
  RecorderOptions options;
  options.memory_bytes = std::size_t{128} << 20;
  PacketRecorder recorder(options);
  const std::vector<std::uint8_t> bytes(320, 0x5A);
  for (std::int64_t t = 0; t < 400'000; ++t) {
    const IpAddress pair[2] = {ipv4(0x0A000000 + static_cast<std::uint32_t>(t % 4096)),
                               ipv4(0x0B000001)};
    recorder.record(t, 1500, 1, bytes, pair);
  }
  RecorderQuery query;
  query.host = ipv4(0x0A000007);
  std::size_t found = 0;
  for (auto _ : state) {
    found = recorder.for_each(query, [](const RecordedPacket&) { return true; });
    benchmark::DoNotOptimize(found);
  }
  state.counters["packets_found"] = static_cast<double>(found);
}
BENCHMARK(BM_QueryFullRing)->Unit(benchmark::kMillisecond);

// One alert's evidence file from a full 128 MiB ring: its host sent a quarter of the ring's
// 1,000-byte packets, more than the 16 MiB a file may hold (the rest is counted as truncated).
// Each iteration is a new alert, so a new file: the worker's copy from the ring and its write.
void BM_EvidenceFile(benchmark::State& state) {
  RecorderOptions options;
  options.memory_bytes = std::size_t{128} << 20;
  PacketRecorder recorder(options);
  const std::vector<std::uint8_t> bytes(1000, 0x5A);
  const std::int64_t packets = 120'000;
  for (std::int64_t t = 0; t < packets; ++t) {
    const IpAddress pair[2] = {ipv4(0x0A000000 + static_cast<std::uint32_t>(t % 4)),
                               ipv4(0x0B000001)};
    recorder.record(t, 1000, 1, bytes, pair);
  }
  const auto dir = std::filesystem::temp_directory_path() /
                   ("netsentry-bench-evidence-" + std::to_string(::getpid()));
  std::int64_t id = 0;
  {
    netsentry::store::EvidenceOptions eo;
    eo.dir = dir;
    netsentry::store::EvidenceStore store(recorder, eo);
    for (auto _ : state) {
      store.request({++id, ipv4(0x0A000001), std::nullopt, 0, packets});
      store.drain();
    }
    const auto s = store.stats();
    state.counters["packets_written"] =
        static_cast<double>(s.packets_written) / static_cast<double>(id);
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_EvidenceFile)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
