// libFuzzer entry point for flow::FlowMeter: decode, fragment reassembly, tunnels, connection
// state and the flow table over a sequence of frames. Input: records of [link byte][length: 2
// bytes, big-endian][time step byte][frame]; each frame is copied into an exactly-sized buffer.
// Small bounds (flows, datagrams, bytes, linger) make evictions and timeouts happen. Checked after
// every input: each frame counted once; every frame either in a flow (the outermost flows' packet
// counts add up to it) or counted under a reason. Built only by the `fuzz` preset.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>

#include "flow/flow_meter.h"

namespace {

using netsentry::net::LinkType;

constexpr LinkType kLinks[] = {LinkType::kEthernet, LinkType::kRaw,       LinkType::kLinuxSll,
                               LinkType::kPpp,      LinkType::kRadiotap,  LinkType::kNflog,
                               LinkType::kIpv6,     LinkType::kFrameRelay};

class CountingSink final : public netsentry::flow::FlowSink {
 public:
  void on_flow(netsentry::flow::FlowRecord&& record) override {
    if (!record.tunnel_parent.valid) outer_packets += record.packet_count;
    if (record.history.size > netsentry::flow::History::kCapacity) std::abort();
  }
  std::uint64_t outer_packets = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  netsentry::flow::FlowConfig config;
  config.max_flows = 64;
  config.first_packets = 4;
  config.idle_timeout = std::chrono::seconds(30);
  config.linger = std::chrono::seconds(2);
  netsentry::flow::MeterConfig meter_config;
  meter_config.reassembly.max_datagrams = 8;
  meter_config.reassembly.max_fragments = 32;
  meter_config.reassembly.max_fragments_per_datagram = 8;
  meter_config.reassembly.max_bytes = 8 * 1024;
  meter_config.reassembly.max_per_source = 4;
  meter_config.reassembly.timeout = std::chrono::seconds(5);
  CountingSink sink;
  netsentry::flow::FlowMeter meter(config, meter_config, sink);

  std::int64_t ts = 1'000'000'000;
  std::uint64_t frames = 0;
  std::size_t off = 0;
  while (size - off >= 4) {
    const LinkType link = kLinks[data[off] % std::size(kLinks)];
    std::size_t len = static_cast<std::size_t>(data[off + 1]) << 8 | data[off + 2];
    ts += static_cast<std::int64_t>(data[off + 3]) * 100'000'000;  // 0 .. 25.5 s steps
    off += 4;
    len = std::min(len, size - off);
    auto frame = std::make_unique<std::uint8_t[]>(len == 0 ? 1 : len);
    if (len > 0) std::memcpy(frame.get(), data + off, len);
    off += len;
    meter.add_frame(link, {frame.get(), len}, static_cast<std::uint32_t>(len), ts);
    ++frames;
  }
  meter.flush();
  const auto& d = meter.decode_stats();
  if (d.packets != frames) std::abort();
  // A packet a flood summary counted is in no flow.
  const std::uint64_t summarized = meter.table().stats().flood.summarized;
  if (d.packets - d.not_in_flows() - summarized != sink.outer_packets) std::abort();
  if (meter.table().size() != 0) std::abort();
  return 0;
}
