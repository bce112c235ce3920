// Inputs the fuzzers found (tests/fuzz/<fuzzer>/), replayed with the fuzzers' own checks:
// every one of them once broke an invariant or crashed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

#include "flow/flow_meter.h"

namespace netsentry::flow {
namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> read(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

class CountingSink final : public FlowSink {
 public:
  void on_flow(FlowRecord&& record) override {
    if (!record.tunnel_parent.valid) outer_packets += record.packet_count;
  }
  std::uint64_t outer_packets = 0;
};

// The input format and bounds of src/flow/flow_meter_fuzz.cpp.
void replay_meter_input(const std::vector<std::uint8_t>& data, const std::string& name) {
  constexpr net::LinkType kLinks[] = {net::LinkType::kEthernet, net::LinkType::kRaw,
                                      net::LinkType::kLinuxSll, net::LinkType::kPpp,
                                      net::LinkType::kRadiotap, net::LinkType::kNflog,
                                      net::LinkType::kIpv6,     net::LinkType::kFrameRelay};
  FlowConfig config;
  config.max_flows = 64;
  config.first_packets = 4;
  config.idle_timeout = std::chrono::seconds(30);
  config.linger = std::chrono::seconds(2);
  MeterConfig meter_config;
  meter_config.reassembly.max_datagrams = 8;
  meter_config.reassembly.max_fragments = 32;
  meter_config.reassembly.max_fragments_per_datagram = 8;
  meter_config.reassembly.max_bytes = 8 * 1024;
  meter_config.reassembly.max_per_source = 4;
  meter_config.reassembly.timeout = std::chrono::seconds(5);
  CountingSink sink;
  FlowMeter meter(config, meter_config, sink);
  std::int64_t ts = 1'000'000'000;
  std::uint64_t frames = 0;
  std::size_t off = 0;
  while (data.size() - off >= 4) {
    const net::LinkType link = kLinks[data[off] % std::size(kLinks)];
    std::size_t len = static_cast<std::size_t>(data[off + 1]) << 8 | data[off + 2];
    ts += static_cast<std::int64_t>(data[off + 3]) * 100'000'000;
    off += 4;
    len = std::min(len, data.size() - off);
    auto frame = std::make_unique<std::uint8_t[]>(len == 0 ? 1 : len);
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(off), len, frame.get());
    off += len;
    meter.add_frame(link, {frame.get(), len}, static_cast<std::uint32_t>(len), ts);
    ++frames;
  }
  meter.flush();
  const auto& d = meter.decode_stats();
  EXPECT_EQ(d.packets, frames) << name;
  EXPECT_EQ(d.packets - d.not_in_flows() - meter.table().stats().flood.summarized,
            sink.outer_packets)
      << name;
  EXPECT_EQ(meter.table().size(), 0u) << name;
}

TEST(FuzzRegressions, FlowMeterInputsKeepEveryPacketAccountedFor) {
  const fs::path dir = fs::path(NETSENTRY_SOURCE_DIR) / "tests" / "fuzz" / "flow_meter";
  std::size_t replayed = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    replay_meter_input(read(entry.path()), entry.path().filename().string());
    ++replayed;
  }
  EXPECT_GE(replayed, 1u);
}

TEST(FuzzRegressions, TheSameTupleInsideAndOutsideATunnelAreTwoFlows) {
  // What the first finding was: a Geneve capture's inner TCP connection, then the same 5-tuple as
  // plain IP. The plain packet must not join the inner flow (whose tunnel_parent says it came out
  // of a tunnel), or it would be missing from the outermost flows' packet count.
  class Collect final : public FlowSink {
   public:
    void on_flow(FlowRecord&& r) override { records.push_back(std::move(r)); }
    std::vector<FlowRecord> records;
  } sink;
  FlowTable table(FlowConfig{}, sink);
  net::Packet outer;
  outer.l3 = net::L3::kIpv4;
  outer.ip_proto = 17;
  outer.src.family = outer.dst.family = 4;
  outer.src.bytes[0] = 20;
  outer.dst.bytes[0] = 21;
  outer.has_l4 = true;
  outer.src_port = 5000;
  outer.dst_port = 6081;
  net::Packet inner = outer;
  inner.src.bytes[0] = 30;
  inner.dst.bytes[0] = 31;
  inner.ip_proto = 6;
  inner.src_port = 40000;
  inner.dst_port = 22;
  inner.tunnel_depth = 1;
  inner.outer = &outer;
  net::Packet plain = inner;
  plain.tunnel_depth = 0;
  plain.outer = nullptr;
  table.add(outer);
  table.add(inner);
  table.add(plain);
  table.flush();
  ASSERT_EQ(sink.records.size(), 3u);
  int with_parent = 0;
  for (const FlowRecord& r : sink.records) with_parent += r.tunnel_parent.valid ? 1 : 0;
  EXPECT_EQ(with_parent, 1);
}

}  // namespace
}  // namespace netsentry::flow
