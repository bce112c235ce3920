#include "flow/flow_meter.h"

#include <algorithm>
#include <numeric>

namespace netsentry::flow {
namespace {

constexpr std::uint8_t kMaxTunnelDepth = 8;

bool is_ip(const net::Packet& p) { return p.l3 == net::L3::kIpv4 || p.l3 == net::L3::kIpv6; }

}  // namespace

std::uint64_t TunnelStats::total() const {
  return std::accumulate(decapsulated.begin(), decapsulated.end(), std::uint64_t{0});
}

FlowMeter::FlowMeter(const FlowConfig& config, const MeterConfig& meter, FlowSink& sink)
    : config_(meter), table_(config, sink), reassembler_(meter.reassembly) {
  config_.max_tunnel_depth = std::min(config_.max_tunnel_depth, kMaxTunnelDepth);
}

const net::Packet& FlowMeter::add_frame(net::LinkType link, std::span<const std::uint8_t> bytes,
                                        std::uint32_t wire_len, std::int64_t ts_ns) {
  if (filled_ >= kBatch) sync();
  net::Packet& p = batch_[filled_];
  // The reason a packet is malformed is counted in decode_; a packet whose transport header is
  // damaged still belongs to its IP flow (the table skips packets without IP).
  (void)net::decode(link, bytes, wire_len, ts_ns, p, decode_);
  const std::size_t at = filled_;
  process();
  return batch_[at];
}

void FlowMeter::process() {
  net::Packet& p = batch_[filled_];
  if (p.fragment && config_.reassemble && is_ip(p)) {
    // Earlier packets go to the table first: the reassembler may hand packets over right away.
    sync();
    reassembler_.add(p, *this);
    return;
  }
  ++filled_;
  if (!open_tunnel(p)) return;
  net::Packet& inner = batch_[filled_];
  if (!decapsulate(p, inner)) return;
  process();
}

bool FlowMeter::open_tunnel(const net::Packet& p) {
  if (p.encap == net::Encap::kNone || !config_.decapsulate) return false;
  if (p.tunnel_depth >= config_.max_tunnel_depth) {
    ++tunnels_.depth_limit;
    return false;
  }
  return true;
}

bool FlowMeter::decapsulate(const net::Packet& outer, net::Packet& inner) {
  const net::InnerResult result = net::decode_inner(outer, inner, inner_);
  if (!result.decapsulated) {
    ++tunnels_.not_tunnel;
    return false;
  }
  ++tunnels_.decapsulated[static_cast<std::size_t>(result.tunnel)];
  if (!is_ip(inner)) {
    ++tunnels_.inner_not_ip;
    return false;
  }
  // The inner packet travelled in the same wire frame: its flow counts the frame's bytes (as
  // tshark's conversations do); orig/resp_ip_bytes count its own IP lengths.
  inner.wire_len = outer.wire_len;
  inner.outer = &outer;
  return true;
}

void FlowMeter::sync() {
  if (filled_ == 0) return;
  table_.add_batch(std::span<const net::Packet>(batch_.data(), filled_));
  filled_ = 0;
}

void FlowMeter::direct(const net::Packet& p) {
  if (p.fragment && config_.reassemble && is_ip(p)) {
    reassembler_.add(p, *this);
    return;
  }
  table_.add(p);
  if (!open_tunnel(p)) return;
  net::Packet inner;
  if (decapsulate(p, inner)) direct(inner);
}

void FlowMeter::on_fragment(const net::Packet& packet) { table_.add(packet); }

void FlowMeter::on_datagram(const net::Packet& datagram) {
  // The datagram was counted through its fragments; what it carries is a packet of its own.
  if (!open_tunnel(datagram)) return;
  net::Packet inner;
  if (decapsulate(datagram, inner)) direct(inner);
}

void FlowMeter::advance(std::int64_t now_ns) {
  sync();
  reassembler_.advance(now_ns, *this);
  table_.advance(now_ns);
}

void FlowMeter::flush() {
  sync();
  reassembler_.flush(*this);
  sync();
  table_.flush();
}

}  // namespace netsentry::flow
