#include "flow/flow_features.h"

#include <algorithm>
#include <cmath>

namespace netsentry::flow {
namespace {

constexpr double kNsPerUs = 1e3;
constexpr double kNsPerSec = 1e9;

double ratio(double num, double den) { return den > 0 ? num / den : 0.0; }

bool is_tcp(std::uint8_t proto) { return proto == 6; }
bool is_icmp(std::uint8_t proto) { return proto == 1 || proto == 58; }

}  // namespace

double RunningStats::stddev() const { return std::sqrt(variance()); }

RunningStats RunningStats::merge(const RunningStats& a, const RunningStats& b) {
  if (a.n == 0) return b;
  if (b.n == 0) return a;
  RunningStats out;
  out.n = a.n + b.n;
  const double na = static_cast<double>(a.n);
  const double nb = static_cast<double>(b.n);
  const double delta = b.mean - a.mean;
  out.mean = a.mean + delta * nb / (na + nb);
  out.m2 = a.m2 + b.m2 + delta * delta * na * nb / (na + nb);
  out.min = std::min(a.min, b.min);
  out.max = std::max(a.max, b.max);
  return out;
}

void FlowAccumulator::update_bulk(Direction& mine, Direction& other, std::int64_t ts,
                                  std::uint32_t payload) {
  // A data packet in one direction interrupts any bulk the other direction was building.
  other.run_packets = 0;
  if (mine.run_packets == 0 || ts - mine.run_last_ns > kBulkGapNs) {
    mine.run_packets = 1;
    mine.run_bytes = payload;
    mine.run_start_ns = ts;
    mine.run_last_ns = ts;
    return;
  }
  ++mine.run_packets;
  mine.run_bytes += payload;
  if (mine.run_packets == kBulkMinPackets) {
    ++mine.bulks;
    mine.bulk_packets += mine.run_packets;
    mine.bulk_bytes += mine.run_bytes;
    mine.bulk_ns += ts - mine.run_start_ns;
  } else if (mine.run_packets > kBulkMinPackets) {
    ++mine.bulk_packets;
    mine.bulk_bytes += payload;
    mine.bulk_ns += ts - mine.run_last_ns;
  }
  mine.run_last_ns = ts;
}

void FlowAccumulator::add(const net::Packet& packet, bool forward,
                          std::span<PacketSummary> sequence) {
  const std::uint64_t index = packets();
  std::int64_t ts = packet.ts_ns;
  std::int64_t gap = 0;
  if (index == 0) {
    first_ns_ = ts;
    active_start_ns_ = ts;
    if (connection_start_ns_ < 0) connection_start_ns_ = ts;
    subflows_ = 1;
    ip_proto_ = packet.ip_proto;
    if (is_icmp(packet.ip_proto)) {
      icmp_type_ = packet.icmp_type;
      icmp_code_ = packet.icmp_code;
    }
  } else {
    ts = std::max(ts, last_ns_);
    gap = ts - last_ns_;
    flow_iat_.add(static_cast<double>(gap) / kNsPerUs);
    if (gap > kSubflowGapNs) ++subflows_;
    if (gap > kActivityTimeoutNs) {
      const std::int64_t active = last_ns_ - active_start_ns_;
      if (active > 0) active_.add(static_cast<double>(active) / kNsPerUs);
      idle_.add(static_cast<double>(gap) / kNsPerUs);
      active_start_ns_ = ts;
    }
  }
  last_ns_ = ts;

  Direction& dir = forward ? fwd_ : bwd_;
  Direction& other = forward ? bwd_ : fwd_;
  const bool tcp = is_tcp(packet.ip_proto);
  if (dir.len.n == 0) {
    dir.init_window = tcp ? packet.tcp_window : 0;
    dir.first_ns = ts;
  } else {
    dir.iat.add(static_cast<double>(ts - dir.last_ns) / kNsPerUs);
  }
  dir.last_ns = ts;
  const std::uint32_t payload = packet.payload_len;
  dir.len.add(static_cast<double>(payload));
  dir.payload_bytes += payload;
  dir.wire_bytes += packet.wire_len;
  dir.ip_bytes += packet.ip_total_len;
  dir.header_bytes += packet.l4_header_len;
  dir.min_header = std::min<std::uint32_t>(dir.min_header, packet.l4_header_len);
  if (payload > 0) {
    ++dir.data_packets;
    update_bulk(dir, other, ts, payload);
  }

  const std::uint8_t flags = tcp ? packet.tcp_flags : 0;
  if (flags != 0) {
    for (unsigned bit = 0; bit < 8; ++bit) flag_counts_[bit] += (flags >> bit) & 1U;
    dir.psh += (flags & net::tcp_flag::kPsh) != 0;
    dir.urg += (flags & net::tcp_flag::kUrg) != 0;
    dir.rst += (flags & net::tcp_flag::kRst) != 0;
    dir.fin = dir.fin || (flags & net::tcp_flag::kFin) != 0;
  }

  if (index < sequence.size()) {
    const std::int64_t gap_us = gap / 1000;
    sequence[index] = PacketSummary{
        payload,
        static_cast<std::uint32_t>(std::min<std::int64_t>(gap_us, UINT32_MAX)),
        static_cast<std::int8_t>(forward ? 1 : -1),
        flags,
    };
  }
}

void FlowAccumulator::swap_directions(std::span<PacketSummary> sequence) {
  std::swap(fwd_, bwd_);
  const std::uint64_t n = std::min<std::uint64_t>(packets(), sequence.size());
  for (std::uint64_t i = 0; i < n; ++i) {
    sequence[i].direction = static_cast<std::int8_t>(-sequence[i].direction);
  }
}

void FlowAccumulator::finish(FlowRecord& record, std::span<const PacketSummary> sequence) const {
  const std::uint64_t n = packets();
  const std::int64_t duration_ns = last_ns_ - first_ns_;
  const double duration_us = static_cast<double>(duration_ns) / kNsPerUs;
  const double duration_s = static_cast<double>(duration_ns) / kNsPerSec;
  const double fwd_n = static_cast<double>(fwd_.len.n);
  const double bwd_n = static_cast<double>(bwd_.len.n);
  const double fwd_bytes = static_cast<double>(fwd_.payload_bytes);
  const double bwd_bytes = static_cast<double>(bwd_.payload_bytes);
  const double subflows = subflows_ > 0 ? static_cast<double>(subflows_) : 1.0;
  const RunningStats all_len = RunningStats::merge(fwd_.len, bwd_.len);

  record.start_ns = first_ns_;
  record.end_ns = last_ns_;
  record.duration_s = duration_s;
  record.packet_count = n;
  record.byte_count = fwd_.wire_bytes + bwd_.wire_bytes;
  record.orig_ip_bytes = fwd_.ip_bytes;
  record.resp_ip_bytes = bwd_.ip_bytes;

  auto& f = record.cic;
  auto set = [&f](CicFeature id, double value) { f[static_cast<std::size_t>(id)] = value; };
  using F = CicFeature;
  set(F::kFlowDuration, duration_us);
  set(F::kTotalFwdPacket, fwd_n);
  set(F::kTotalBwdPackets, bwd_n);
  set(F::kTotalLengthFwd, fwd_bytes);
  set(F::kTotalLengthBwd, bwd_bytes);
  set(F::kFwdPacketLengthMax, fwd_.len.max);
  set(F::kFwdPacketLengthMin, fwd_.len.min);
  set(F::kFwdPacketLengthMean, fwd_.len.mean);
  set(F::kFwdPacketLengthStd, fwd_.len.stddev());
  set(F::kBwdPacketLengthMax, bwd_.len.max);
  set(F::kBwdPacketLengthMin, bwd_.len.min);
  set(F::kBwdPacketLengthMean, bwd_.len.mean);
  set(F::kBwdPacketLengthStd, bwd_.len.stddev());
  set(F::kFlowBytesPerSec, ratio(fwd_bytes + bwd_bytes, duration_s));
  set(F::kFlowPacketsPerSec, ratio(static_cast<double>(n), duration_s));
  set(F::kFlowIatMean, flow_iat_.mean);
  set(F::kFlowIatStd, flow_iat_.stddev());
  set(F::kFlowIatMax, flow_iat_.max);
  set(F::kFlowIatMin, flow_iat_.min);
  set(F::kFwdIatTotal, static_cast<double>(fwd_.last_ns - fwd_.first_ns) / kNsPerUs);
  set(F::kFwdIatMean, fwd_.iat.mean);
  set(F::kFwdIatStd, fwd_.iat.stddev());
  set(F::kFwdIatMax, fwd_.iat.max);
  set(F::kFwdIatMin, fwd_.iat.min);
  set(F::kBwdIatTotal, static_cast<double>(bwd_.last_ns - bwd_.first_ns) / kNsPerUs);
  set(F::kBwdIatMean, bwd_.iat.mean);
  set(F::kBwdIatStd, bwd_.iat.stddev());
  set(F::kBwdIatMax, bwd_.iat.max);
  set(F::kBwdIatMin, bwd_.iat.min);
  set(F::kFwdPshFlags, fwd_.psh);
  set(F::kBwdPshFlags, bwd_.psh);
  set(F::kFwdUrgFlags, fwd_.urg);
  set(F::kBwdUrgFlags, bwd_.urg);
  set(F::kFwdRstFlags, fwd_.rst);
  set(F::kBwdRstFlags, bwd_.rst);
  set(F::kFwdHeaderLength, static_cast<double>(fwd_.header_bytes));
  set(F::kBwdHeaderLength, static_cast<double>(bwd_.header_bytes));
  set(F::kFwdPacketsPerSec, ratio(fwd_n, duration_s));
  set(F::kBwdPacketsPerSec, ratio(bwd_n, duration_s));
  set(F::kPacketLengthMin, all_len.min);
  set(F::kPacketLengthMax, all_len.max);
  set(F::kPacketLengthMean, all_len.mean);
  set(F::kPacketLengthStd, all_len.stddev());
  set(F::kPacketLengthVariance, all_len.variance());
  set(F::kFinFlagCount, flag_counts_[0]);
  set(F::kSynFlagCount, flag_counts_[1]);
  set(F::kRstFlagCount, flag_counts_[2]);
  set(F::kPshFlagCount, flag_counts_[3]);
  set(F::kAckFlagCount, flag_counts_[4]);
  set(F::kUrgFlagCount, flag_counts_[5]);
  set(F::kEceFlagCount, flag_counts_[6]);
  set(F::kCwrFlagCount, flag_counts_[7]);
  set(F::kDownUpRatio, ratio(bwd_n, fwd_n));
  set(F::kAveragePacketSize, ratio(fwd_bytes + bwd_bytes, static_cast<double>(n)));
  set(F::kFwdSegmentSizeAvg, ratio(fwd_bytes, fwd_n));
  set(F::kBwdSegmentSizeAvg, ratio(bwd_bytes, bwd_n));
  set(F::kFwdBytesPerBulkAvg, ratio(static_cast<double>(fwd_.bulk_bytes), fwd_.bulks));
  set(F::kFwdPacketPerBulkAvg, ratio(static_cast<double>(fwd_.bulk_packets), fwd_.bulks));
  set(F::kFwdBulkRateAvg,
      ratio(static_cast<double>(fwd_.bulk_bytes), static_cast<double>(fwd_.bulk_ns) / kNsPerSec));
  set(F::kBwdBytesPerBulkAvg, ratio(static_cast<double>(bwd_.bulk_bytes), bwd_.bulks));
  set(F::kBwdPacketPerBulkAvg, ratio(static_cast<double>(bwd_.bulk_packets), bwd_.bulks));
  set(F::kBwdBulkRateAvg,
      ratio(static_cast<double>(bwd_.bulk_bytes), static_cast<double>(bwd_.bulk_ns) / kNsPerSec));
  set(F::kSubflowFwdPackets, fwd_n / subflows);
  set(F::kSubflowFwdBytes, fwd_bytes / subflows);
  set(F::kSubflowBwdPackets, bwd_n / subflows);
  set(F::kSubflowBwdBytes, bwd_bytes / subflows);
  set(F::kFwdInitWinBytes, fwd_.init_window);
  set(F::kBwdInitWinBytes, bwd_.init_window);
  set(F::kFwdActDataPkts, fwd_.data_packets);
  set(F::kFwdSegSizeMin, fwd_.len.n > 0 ? fwd_.min_header : 0);
  set(F::kActiveMean, active_.mean);
  set(F::kActiveStd, active_.stddev());
  set(F::kActiveMax, active_.max);
  set(F::kActiveMin, active_.min);
  set(F::kIdleMean, idle_.mean);
  set(F::kIdleStd, idle_.stddev());
  set(F::kIdleMax, idle_.max);
  set(F::kIdleMin, idle_.min);
  set(F::kIcmpCode, icmp_code_);
  set(F::kIcmpType, icmp_type_);
  set(F::kTotalTcpFlowTime, is_tcp(ip_proto_) && n > 0
                                ? static_cast<double>(last_ns_ - connection_start_ns_) / kNsPerUs
                                : 0.0);

  const std::size_t kept = std::min<std::uint64_t>(n, sequence.size());
  record.first_packets.assign(sequence.begin(),
                              sequence.begin() + static_cast<std::ptrdiff_t>(kept));
}

}  // namespace netsentry::flow
