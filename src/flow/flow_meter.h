// Provides flow::FlowMeter, the packet path from captured frames to flow records: decode, IP
// fragment reassembly (net::FragmentReassembler), tunnel decapsulation (net::decode_inner: each
// inner packet is also a packet of its own flow, whose tunnel_parent is the outer flow) with a
// bounded nesting depth, and the flow table. Frames are decoded into a batch that goes to the flow
// table in one add_batch() (so it can prefetch flow state); fragments, and the packets a completed
// datagram releases, go through in order.
//
// Accounting: every frame is counted once in decode_stats(); a frame is either in a flow (its
// outermost IP packet's flow) or counted in DecodeStats::not_in_flows() by reason. Inner packets
// are counted apart (inner_stats()), as are tunnels by type and reassembly (reassembly_stats()).
// Thread rules: one owner thread, like the FlowTable inside; the sink is called on that thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "flow/flow_table.h"
#include "net/decoder.h"
#include "net/fragment_reassembler.h"
#include "net/packet.h"

namespace netsentry::flow {

struct MeterConfig {
  bool reassemble = true;             // IP fragment reassembly
  bool decapsulate = true;            // tunnels: inner packets become flows of their own
  std::uint8_t max_tunnel_depth = 4;  // nested tunnels followed (deeper ones are counted)
  net::ReassemblyConfig reassembly;
};

struct TunnelStats {
  std::array<std::uint64_t, net::kTunnelCount> decapsulated{};  // inner packets, by tunnel
  std::uint64_t not_tunnel = 0;    // a tunnel's port or protocol, but not its header
  std::uint64_t depth_limit = 0;   // tunnels nested deeper than max_tunnel_depth: not followed
  std::uint64_t inner_not_ip = 0;  // inner packets without IP (ARP in VXLAN, ...)
  [[nodiscard]] std::uint64_t total() const;
};

class FlowMeter final : private net::FragmentSink {
 public:
  // Throws core::Error when the flow table config is unusable (see FlowTable).
  FlowMeter(const FlowConfig& config, const MeterConfig& meter, FlowSink& sink);

  // Decodes one captured frame of `link` and meters it. Returns the decoded outermost packet
  // (valid until the next call; its spans only while `bytes` are).
  const net::Packet& add_frame(net::LinkType link, std::span<const std::uint8_t> bytes,
                               std::uint32_t wire_len, std::int64_t ts_ns);
  // Hands the batched packets to the flow table (before reading its stats or ticking).
  void sync();
  // sync(), then times out fragments and flows at `now_ns` (packet time).
  void advance(std::int64_t now_ns);
  // End of input: incomplete datagrams are counted in their flows, then every flow ends.
  void flush();

  [[nodiscard]] FlowTable& table() { return table_; }
  [[nodiscard]] const FlowTable& table() const { return table_; }
  [[nodiscard]] const net::DecodeStats& decode_stats() const { return decode_; }
  [[nodiscard]] const net::DecodeStats& inner_stats() const { return inner_; }
  [[nodiscard]] const TunnelStats& tunnel_stats() const { return tunnels_; }
  [[nodiscard]] const net::ReassemblyStats& reassembly_stats() const {
    return reassembler_.stats();
  }
  [[nodiscard]] const MeterConfig& config() const { return config_; }

 private:
  static constexpr std::size_t kBatch = 64;

  // The packet at batch_[filled_]: fragments to the reassembler, tunnels opened into the batch.
  void process();
  // The same outside the batch (for what a completed datagram carries), one add() at a time.
  void direct(const net::Packet& p);
  [[nodiscard]] bool open_tunnel(const net::Packet& p);
  // Decodes what `outer` carries into `inner`; false when there is no IP packet to meter.
  [[nodiscard]] bool decapsulate(const net::Packet& outer, net::Packet& inner);
  void on_fragment(const net::Packet& packet) override;
  void on_datagram(const net::Packet& datagram) override;

  MeterConfig config_;
  FlowTable table_;
  net::FragmentReassembler reassembler_;
  net::DecodeStats decode_;
  net::DecodeStats inner_;
  TunnelStats tunnels_;
  // Room for a full batch plus one frame's nested packets.
  std::array<net::Packet, kBatch + 16> batch_;
  std::size_t filled_ = 0;
};

}  // namespace netsentry::flow
