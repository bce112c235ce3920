// Google Benchmark for reading capture files: the classic-pcap record reader behind open_file
// beside libpcap's stdio reader (open_file_via_libpcap) and pcapng (always libpcap), on the same
// packets; reports packets and bytes per second of a whole-file pass with the file in page cache.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "capture/packet_ring.h"
#include "capture/packet_source.h"
// The test capture writer is header-only; benchmarks share it rather than hand-writing files.
#include "../tests/support/pcap_file.h"

namespace {

namespace fs = std::filesystem;
using netsentry::capture::PacketSource;
using netsentry::capture::RawPacket;
using netsentry::capture::ReadStatus;
using netsentry::testing::CapturedFrame;
using netsentry::testing::CaptureFormat;

// 200,000 Ethernet frames: a third 60-byte control packets, the rest 100..1514 bytes, about
// 110 MB, the shape of bench/make_capture.py's synthetic mix.
const std::string& capture_path(CaptureFormat format) {
  static const auto write = [](CaptureFormat f, const char* name) {
    const fs::path path =
        fs::temp_directory_path() / ("ns-capture-bench-" + std::to_string(::getpid()) + name);
    std::mt19937 rng(42);
    std::vector<CapturedFrame> frames(200'000);
    std::int64_t ts = 1'700'000'000'000'000'000LL;
    for (auto& frame : frames) {
      const std::size_t size = rng() % 3 == 0 ? 60 : 100 + rng() % 1415;
      frame.bytes.assign(size, static_cast<std::uint8_t>(rng()));
      frame.ts_ns = ts += rng() % 100'000;
    }
    netsentry::testing::write_capture(path.string(), frames, f);
    return path.string();
  };
  static const std::string micro = write(CaptureFormat::kPcapMicro, ".pcap");
  static const std::string nano = write(CaptureFormat::kPcapNano, "-ns.pcap");
  static const std::string ng = write(CaptureFormat::kPcapng, ".pcapng");
  static const struct Cleanup {
    ~Cleanup() {
      fs::remove(micro);
      fs::remove(nano);
      fs::remove(ng);
    }
  } cleanup;
  return format == CaptureFormat::kPcapMicro  ? micro
         : format == CaptureFormat::kPcapNano ? nano
                                              : ng;
}

template <typename Open>
void read_whole_file(benchmark::State& state, CaptureFormat format, Open open) {
  const std::string& path = capture_path(format);
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    auto source = open(path);
    RawPacket p;
    std::uint64_t checksum = 0;
    while (source->next(p) == ReadStatus::kPacket) {
      ++packets;
      bytes += p.cap_len;
      checksum += p.bytes[p.cap_len / 2];  // touch the data, as a decoder would
    }
    benchmark::DoNotOptimize(checksum);
    if (!source->error().empty()) state.SkipWithError(source->error().c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(packets));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

std::unique_ptr<PacketSource> open_fast(const std::string& path) {
  return netsentry::capture::open_file(path);
}
std::unique_ptr<PacketSource> open_libpcap(const std::string& path) {
  return netsentry::capture::open_file_via_libpcap(path);
}

void BM_ReadPcapRecordReader(benchmark::State& state) {
  read_whole_file(state, CaptureFormat::kPcapMicro, open_fast);
}
BENCHMARK(BM_ReadPcapRecordReader)->Unit(benchmark::kMillisecond);

void BM_ReadPcapNanoRecordReader(benchmark::State& state) {
  read_whole_file(state, CaptureFormat::kPcapNano, open_fast);
}
BENCHMARK(BM_ReadPcapNanoRecordReader)->Unit(benchmark::kMillisecond);

void BM_ReadPcapFilteredRecordReader(benchmark::State& state) {
  read_whole_file(state, CaptureFormat::kPcapMicro, [](const std::string& path) {
    return netsentry::capture::open_file(path, "len > 100");
  });
}
BENCHMARK(BM_ReadPcapFilteredRecordReader)->Unit(benchmark::kMillisecond);

void BM_ReadPcapLibpcap(benchmark::State& state) {
  read_whole_file(state, CaptureFormat::kPcapMicro, open_libpcap);
}
BENCHMARK(BM_ReadPcapLibpcap)->Unit(benchmark::kMillisecond);

void BM_ReadPcapngLibpcap(benchmark::State& state) {
  read_whole_file(state, CaptureFormat::kPcapng, open_fast);
}
BENCHMARK(BM_ReadPcapngLibpcap)->Unit(benchmark::kMillisecond);

// The capture thread's handoff to the flow thread (capture::PacketRing, no recorder: each packet's
// first 320 bytes travel in its slot, as in a replay): one thread pushes 1,000,000 packets of
// 1,080 bytes while another takes them in batches of 64, as the flow loop does. The default ring
// (65,536 slots, ~25 MiB) is far larger than the caches, so the producer writes lines last used a
// lap ago. Reported per packet.
void BM_RingHandoff(benchmark::State& state) {
  constexpr std::int64_t kPackets = 1'000'000;
  const std::vector<std::uint8_t> bytes(1080, 0x5A);
  netsentry::capture::PacketRing ring;
  for (auto _ : state) {
    std::atomic<bool> done{false};
    std::uint64_t seen = 0;
    std::thread consumer([&] {
      for (;;) {
        std::size_t taken = 0;
        while (taken < 64) {
          const auto* slot = ring.peek(taken);
          if (slot == nullptr) break;
          seen += netsentry::capture::PacketRing::frame(*slot)[20];
          ++taken;
        }
        if (taken > 0) {
          ring.pop(taken);
        } else if (done.load(std::memory_order_acquire) && ring.size() == 0) {
          break;
        }
      }
    });
    RawPacket raw;
    raw.wire_len = raw.cap_len = 1080;
    raw.bytes = bytes;
    for (std::int64_t i = 0; i < kPackets; ++i) {
      raw.ts_ns = i;
      while (ring.size() >= ring.capacity()) std::this_thread::yield();
      ring.try_push(raw);
    }
    done.store(true, std::memory_order_release);
    consumer.join();
    benchmark::DoNotOptimize(seen);
  }
  state.SetItemsProcessed(state.iterations() * kPackets);
}
BENCHMARK(BM_RingHandoff)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
