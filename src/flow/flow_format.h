// Provides text forms of a FlowRecord: CSV (RFC 4180, fields quoted only when needed) and JSON
// Lines, with one shared column list, plus the CIC features by name for the ML side.
// Columns: start_time, end_time (ISO 8601 UTC, microseconds), src_ip, src_port, dst_ip, dst_port,
// ip_proto (number), vlan, end_reason, the seed columns Duration, PacketCount, ByteCount,
// SourcePort, DestinationPort, Protocol (name), the 81 CICFlowMeter columns in CIC order,
// `packets`: the first packets as "size:dir:iat_us:flags|..." in CSV, [[size,dir,iat_us,flags],...]
// in JSON, then community_id, orig_ip_bytes, resp_ip_bytes, conn_state, history, tunnel_parent
// (Zeek's names; every column is defined in docs/flow-columns.md). Doubles are printed in their
// shortest round-trip form (std::to_chars).
// Thread rules: free functions, reentrant; each appends to the caller's string.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flow/flow_record.h"
#include "net/packet.h"

namespace netsentry::flow {

// Every column, in output order.
[[nodiscard]] std::span<const std::string_view> flow_columns();

// Appends the header line / one record line (each ends with '\n').
void append_csv_header(std::string& out);
void append_csv_row(const FlowRecord& record, std::string& out);
// Appends one JSON object and '\n'; keys are the column names.
void append_jsonl(const FlowRecord& record, std::string& out);

// The CIC features in CIC order (what a model trained on CIC-IDS2017 columns consumes).
[[nodiscard]] inline std::span<const double, kCicFeatureCount> cic_features(
    const FlowRecord& record) {
  return record.cic;
}
// The CIC features as (column name, value) pairs in CIC order.
[[nodiscard]] std::vector<std::pair<std::string_view, double>> cic_named_features(
    const FlowRecord& record);

// Building blocks, exposed for other writers.
void append_timestamp_utc(std::int64_t ns, std::string& out);  // 2017-07-06T12:39:06.818901Z
void append_ip(const net::IpAddress& ip, std::string& out);    // "" when family is 0
void append_number(double value, std::string& out);  // shortest round-trip; 0 if not finite
void append_csv_field(std::string_view field, std::string& out);  // quoted only when needed

}  // namespace netsentry::flow
