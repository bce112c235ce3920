// Provides flow::FlowRecord, one finished bidirectional flow: its identity, why it ended, the seed
// project's training columns, the 81 CICFlowMeter features (corrected CIC-IDS2017 release names and
// order) and the first packets of the flow for sequence models.
// Thread rules: plain values; a record is owned by whoever holds it.
//
// Feature definitions follow CICFlowMeter's documentation; deliberate differences from its code:
//  * packet "length" is the L4 payload (Packet::payload_len), "header length" the L4 header;
//  * every count is once per packet (CICFlowMeter double-counts some FIN flags and misses the first
//    packet in "Fwd Act Data Pkts"); std is the sample standard deviation, 0 for fewer than 2
//    values;
//  * bulk: >= 4 consecutive data packets in one direction, each within 1 s of the previous, with no
//    data packet of the other direction between them (CICFlowMeter's intent; its output is 0);
//  * subflows: a gap > 1 s starts a new subflow; "Subflow * Packets/Bytes" are per-subflow
//  averages;
//  * Active/Idle use a 5 s activity timeout: an idle period is a gap > 5 s, an active period is the
//    non-zero span of packets closed by such a gap (as CICFlowMeter's output: the last period is
//    not counted, so a flow without long gaps has Active = 0);
//  * "Total TCP Flow Time" is, for TCP, the time from the connection's first packet to this
//  record's
//    last packet, where a connection split by the active timeout keeps its start; 0 for non-TCP;
//  * init window is the window of the first packet in that direction (0 for non-TCP), -1 when the
//    direction has no packet; "ICMP Code"/"ICMP Type" come from the first packet, -1 when not ICMP.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "flow/connection_state.h"
#include "net/community_id.h"
#include "net/packet.h"

namespace netsentry::flow {

// X(enumerator, CICFlowMeter column name), in the CSV's column order.
#define NETSENTRY_CIC_FEATURES(X)                    \
  X(kFlowDuration, "Flow Duration")                  \
  X(kTotalFwdPacket, "Total Fwd Packet")             \
  X(kTotalBwdPackets, "Total Bwd packets")           \
  X(kTotalLengthFwd, "Total Length of Fwd Packet")   \
  X(kTotalLengthBwd, "Total Length of Bwd Packet")   \
  X(kFwdPacketLengthMax, "Fwd Packet Length Max")    \
  X(kFwdPacketLengthMin, "Fwd Packet Length Min")    \
  X(kFwdPacketLengthMean, "Fwd Packet Length Mean")  \
  X(kFwdPacketLengthStd, "Fwd Packet Length Std")    \
  X(kBwdPacketLengthMax, "Bwd Packet Length Max")    \
  X(kBwdPacketLengthMin, "Bwd Packet Length Min")    \
  X(kBwdPacketLengthMean, "Bwd Packet Length Mean")  \
  X(kBwdPacketLengthStd, "Bwd Packet Length Std")    \
  X(kFlowBytesPerSec, "Flow Bytes/s")                \
  X(kFlowPacketsPerSec, "Flow Packets/s")            \
  X(kFlowIatMean, "Flow IAT Mean")                   \
  X(kFlowIatStd, "Flow IAT Std")                     \
  X(kFlowIatMax, "Flow IAT Max")                     \
  X(kFlowIatMin, "Flow IAT Min")                     \
  X(kFwdIatTotal, "Fwd IAT Total")                   \
  X(kFwdIatMean, "Fwd IAT Mean")                     \
  X(kFwdIatStd, "Fwd IAT Std")                       \
  X(kFwdIatMax, "Fwd IAT Max")                       \
  X(kFwdIatMin, "Fwd IAT Min")                       \
  X(kBwdIatTotal, "Bwd IAT Total")                   \
  X(kBwdIatMean, "Bwd IAT Mean")                     \
  X(kBwdIatStd, "Bwd IAT Std")                       \
  X(kBwdIatMax, "Bwd IAT Max")                       \
  X(kBwdIatMin, "Bwd IAT Min")                       \
  X(kFwdPshFlags, "Fwd PSH Flags")                   \
  X(kBwdPshFlags, "Bwd PSH Flags")                   \
  X(kFwdUrgFlags, "Fwd URG Flags")                   \
  X(kBwdUrgFlags, "Bwd URG Flags")                   \
  X(kFwdRstFlags, "Fwd RST Flags")                   \
  X(kBwdRstFlags, "Bwd RST Flags")                   \
  X(kFwdHeaderLength, "Fwd Header Length")           \
  X(kBwdHeaderLength, "Bwd Header Length")           \
  X(kFwdPacketsPerSec, "Fwd Packets/s")              \
  X(kBwdPacketsPerSec, "Bwd Packets/s")              \
  X(kPacketLengthMin, "Packet Length Min")           \
  X(kPacketLengthMax, "Packet Length Max")           \
  X(kPacketLengthMean, "Packet Length Mean")         \
  X(kPacketLengthStd, "Packet Length Std")           \
  X(kPacketLengthVariance, "Packet Length Variance") \
  X(kFinFlagCount, "FIN Flag Count")                 \
  X(kSynFlagCount, "SYN Flag Count")                 \
  X(kRstFlagCount, "RST Flag Count")                 \
  X(kPshFlagCount, "PSH Flag Count")                 \
  X(kAckFlagCount, "ACK Flag Count")                 \
  X(kUrgFlagCount, "URG Flag Count")                 \
  X(kCwrFlagCount, "CWR Flag Count")                 \
  X(kEceFlagCount, "ECE Flag Count")                 \
  X(kDownUpRatio, "Down/Up Ratio")                   \
  X(kAveragePacketSize, "Average Packet Size")       \
  X(kFwdSegmentSizeAvg, "Fwd Segment Size Avg")      \
  X(kBwdSegmentSizeAvg, "Bwd Segment Size Avg")      \
  X(kFwdBytesPerBulkAvg, "Fwd Bytes/Bulk Avg")       \
  X(kFwdPacketPerBulkAvg, "Fwd Packet/Bulk Avg")     \
  X(kFwdBulkRateAvg, "Fwd Bulk Rate Avg")            \
  X(kBwdBytesPerBulkAvg, "Bwd Bytes/Bulk Avg")       \
  X(kBwdPacketPerBulkAvg, "Bwd Packet/Bulk Avg")     \
  X(kBwdBulkRateAvg, "Bwd Bulk Rate Avg")            \
  X(kSubflowFwdPackets, "Subflow Fwd Packets")       \
  X(kSubflowFwdBytes, "Subflow Fwd Bytes")           \
  X(kSubflowBwdPackets, "Subflow Bwd Packets")       \
  X(kSubflowBwdBytes, "Subflow Bwd Bytes")           \
  X(kFwdInitWinBytes, "FWD Init Win Bytes")          \
  X(kBwdInitWinBytes, "Bwd Init Win Bytes")          \
  X(kFwdActDataPkts, "Fwd Act Data Pkts")            \
  X(kFwdSegSizeMin, "Fwd Seg Size Min")              \
  X(kActiveMean, "Active Mean")                      \
  X(kActiveStd, "Active Std")                        \
  X(kActiveMax, "Active Max")                        \
  X(kActiveMin, "Active Min")                        \
  X(kIdleMean, "Idle Mean")                          \
  X(kIdleStd, "Idle Std")                            \
  X(kIdleMax, "Idle Max")                            \
  X(kIdleMin, "Idle Min")                            \
  X(kIcmpCode, "ICMP Code")                          \
  X(kIcmpType, "ICMP Type")                          \
  X(kTotalTcpFlowTime, "Total TCP Flow Time")

// Index of a CICFlowMeter feature in FlowRecord::cic.
enum class CicFeature : std::size_t {
#define NETSENTRY_CIC_ENUM(id, name) id,
  NETSENTRY_CIC_FEATURES(NETSENTRY_CIC_ENUM)
#undef NETSENTRY_CIC_ENUM
      kCount
};
inline constexpr std::size_t kCicFeatureCount = static_cast<std::size_t>(CicFeature::kCount);

// The CICFlowMeter column names in CSV order (kCicFeatureCount entries).
[[nodiscard]] std::span<const std::string_view, kCicFeatureCount> cic_feature_names();
// The index of a CICFlowMeter column name (exact spelling), or nullopt.
[[nodiscard]] std::optional<std::size_t> cic_feature_index(std::string_view name);

enum class EndReason : std::uint8_t {
  kIdle,        // no packet for idle_timeout
  kActive,      // active_timeout after the flow's start
  kFin,         // TCP teardown
  kRst,         // TCP reset
  kEvicted,     // table full; the longest-idle flow made room
  kEndOfInput,  // FlowTable::flush()
  kOngoing,     // not ended: an interim report of a long-lived flow (FlowTable::report_ongoing)
  kCount
};
inline constexpr std::size_t kEndReasonCount = static_cast<std::size_t>(EndReason::kCount);
[[nodiscard]] std::string_view end_reason_name(EndReason reason);  // "idle", "active", ...

// "TCP", "UDP", "ICMP", "ICMPv6", else the decimal protocol number ("47").
[[nodiscard]] std::string_view protocol_name(std::uint8_t ip_proto);

// One of the first packets of a flow, for sequence models.
struct PacketSummary {
  std::uint32_t size = 0;     // L4 payload bytes
  std::uint32_t iat_us = 0;   // microseconds since the flow's previous packet (0 for the first),
                              // saturated at UINT32_MAX
  std::int8_t direction = 0;  // +1 forward (from the initiator), -1 backward
  std::uint8_t tcp_flags = 0;

  friend bool operator==(const PacketSummary&, const PacketSummary&) = default;
};

struct FlowRecord {
  std::int64_t start_ns = 0;  // first packet
  std::int64_t end_ns = 0;    // last packet
  // The initiator: the source of the first packet, unless Zeek's rules say otherwise (a first
  // packet that is a SYN-ACK or mid-connection from a likely server port, a SYN answering a
  // SYN-ACK seen first; see flow/connection_state.h).
  net::IpAddress src_ip;
  net::IpAddress dst_ip;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t ip_proto = 0;
  std::uint16_t vlan = 0;
  EndReason end_reason = EndReason::kIdle;

  // Seed training columns. Duration is in seconds; ByteCount counts wire bytes of both directions.
  double duration_s = 0;
  std::uint64_t packet_count = 0;
  std::uint64_t byte_count = 0;

  // Interoperable fields (Zeek's conn.log names; see docs/flow-columns.md).
  net::CommunityId community_id;    // Community ID v1 of the flow's 5-tuple (seed 0)
  std::uint64_t orig_ip_bytes = 0;  // IP total lengths of the initiator's packets
  std::uint64_t resp_ip_bytes = 0;  // ... of the responder's packets
  ConnState conn_state = ConnState::kOTH;
  History history;
  net::CommunityId tunnel_parent;  // the outer flow's Community ID for a decapsulated flow

  std::array<double, kCicFeatureCount> cic{};
  std::vector<PacketSummary> first_packets;

  [[nodiscard]] double operator[](CicFeature f) const { return cic[static_cast<std::size_t>(f)]; }
  [[nodiscard]] std::string_view protocol() const { return protocol_name(ip_proto); }
};

}  // namespace netsentry::flow
