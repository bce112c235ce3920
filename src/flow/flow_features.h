// Provides flow::FlowAccumulator, the compact running state of one flow (Welford statistics and
// counters, no packet list) from which a FlowRecord's features are computed when the flow ends.
// See flow_record.h for the feature definitions. Thread rules: one owner; add() is the per-packet
// hot path and never allocates, locks or throws.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <span>

#include "flow/flow_record.h"
#include "net/packet.h"

namespace netsentry::flow {

// Count, mean, sum of squared deviations (Welford), min and max of a series.
struct RunningStats {
  std::uint64_t n = 0;
  double mean = 0;
  double m2 = 0;
  double min = 0;
  double max = 0;

  void add(double x) {
    ++n;
    if (n == 1) {
      min = max = x;
    } else {
      min = x < min ? x : min;
      max = x > max ? x : max;
    }
    const double delta = x - mean;
    mean += delta / static_cast<double>(n);
    m2 += delta * (x - mean);
  }
  // Sample variance (n-1); 0 for fewer than 2 values.
  [[nodiscard]] double variance() const { return n < 2 ? 0.0 : m2 / static_cast<double>(n - 1); }
  [[nodiscard]] double stddev() const;
  // The statistics of the union of both series (Chan et al.).
  [[nodiscard]] static RunningStats merge(const RunningStats& a, const RunningStats& b);
};

class FlowAccumulator {
 public:
  static constexpr std::int64_t kActivityTimeoutNs = 5'000'000'000;  // Active/Idle split
  static constexpr std::int64_t kSubflowGapNs = 1'000'000'000;
  static constexpr std::int64_t kBulkGapNs = 1'000'000'000;
  static constexpr std::uint32_t kBulkMinPackets = 4;

  // Forgets everything, including the connection start (a brand new flow).
  void reset() { *this = FlowAccumulator(); }
  // Starts a new flow that continues the same connection (after an active-timeout split).
  void restart_keeping_connection() {
    const std::int64_t connection_start = connection_start_ns_;
    *this = FlowAccumulator();
    connection_start_ns_ = connection_start;
  }

  // Adds one packet; `forward` = sent by the initiator. The first `sequence.size()` packets are
  // summarised into `sequence`. Timestamps earlier than the previous packet count as simultaneous.
  void add(const net::Packet& packet, bool forward, std::span<PacketSummary> sequence);

  // Swaps the two directions (the flow's initiator turned out to be the other side); the first
  // packets' directions follow. Rare: a SYN answering a SYN-ACK that was seen first.
  void swap_directions(std::span<PacketSummary> sequence);

  // Fills the time fields, seed columns, IP byte counts, CIC features and first packets of
  // `record`.
  void finish(FlowRecord& record, std::span<const PacketSummary> sequence) const;

  [[nodiscard]] std::uint64_t packets() const { return fwd_.len.n + bwd_.len.n; }
  [[nodiscard]] std::uint64_t forward_packets() const { return fwd_.len.n; }
  [[nodiscard]] std::uint64_t backward_packets() const { return bwd_.len.n; }
  [[nodiscard]] std::int64_t first_ns() const { return first_ns_; }
  [[nodiscard]] std::int64_t last_ns() const { return last_ns_; }
  [[nodiscard]] bool fin_seen() const { return fwd_.fin || bwd_.fin; }
  [[nodiscard]] bool both_fin_seen() const { return fwd_.fin && bwd_.fin; }

 private:
  struct Direction {
    RunningStats len;  // payload bytes per packet; len.n is the packet count
    RunningStats iat;  // microseconds between packets of this direction
    std::uint64_t payload_bytes = 0;
    std::uint64_t wire_bytes = 0;
    std::uint64_t ip_bytes = 0;  // IP total lengths (Zeek's orig_ip_bytes / resp_ip_bytes)
    std::uint64_t header_bytes = 0;
    std::int64_t first_ns = 0;
    std::int64_t last_ns = 0;
    std::uint32_t psh = 0;
    std::uint32_t urg = 0;
    std::uint32_t rst = 0;
    std::uint32_t data_packets = 0;  // payload >= 1
    std::uint32_t min_header = std::numeric_limits<std::uint32_t>::max();
    std::int32_t init_window = -1;
    bool fin = false;
    // Bulk in progress: candidate run of data packets, then the totals of completed bulks.
    std::uint32_t run_packets = 0;
    std::uint64_t run_bytes = 0;
    std::int64_t run_start_ns = 0;
    std::int64_t run_last_ns = 0;
    std::uint32_t bulks = 0;
    std::uint64_t bulk_packets = 0;
    std::uint64_t bulk_bytes = 0;
    std::int64_t bulk_ns = 0;
  };

  void update_bulk(Direction& mine, Direction& other, std::int64_t ts, std::uint32_t payload);

  Direction fwd_;
  Direction bwd_;
  RunningStats flow_iat_;  // microseconds
  RunningStats active_;    // microseconds
  RunningStats idle_;      // microseconds
  std::int64_t first_ns_ = 0;
  std::int64_t last_ns_ = 0;
  std::int64_t connection_start_ns_ = -1;
  std::int64_t active_start_ns_ = 0;
  std::array<std::uint32_t, 8> flag_counts_{};  // by bit: FIN SYN RST PSH ACK URG ECE CWR
  std::uint32_t subflows_ = 0;
  std::int16_t icmp_type_ = -1;
  std::int16_t icmp_code_ = -1;
  std::uint8_t ip_proto_ = 0;
};

}  // namespace netsentry::flow
