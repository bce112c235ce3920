// Test helpers for tests/flow: packets filled field by field (no decoder needed) and a sink that
// keeps every finished flow. Thread rules: single-threaded tests only.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "flow/flow_record.h"
#include "flow/flow_table.h"
#include "net/packet.h"

namespace netsentry::flow::testing {

inline constexpr std::int64_t kUs = 1'000;
inline constexpr std::int64_t kMs = 1'000'000;
inline constexpr std::int64_t kSec = 1'000'000'000;
// 2017-07-06 12:39:06.818901 UTC, a CIC-IDS2017 capture day.
inline constexpr std::int64_t kT0 = 1'499'344'746'818'901'000;

inline net::IpAddress ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  net::IpAddress ip;
  ip.family = 4;
  ip.bytes[0] = a;
  ip.bytes[1] = b;
  ip.bytes[2] = c;
  ip.bytes[3] = d;
  return ip;
}

struct Endpoint {
  net::IpAddress ip;
  std::uint16_t port = 0;
};

inline const Endpoint kClient{ipv4(192, 168, 10, 5), 51000};
inline const Endpoint kServer{ipv4(10, 0, 0, 80), 443};

inline net::Packet tcp(std::int64_t ts_ns, const Endpoint& from, const Endpoint& to,
                       std::uint8_t flags, std::uint32_t payload = 0, std::uint16_t header = 20,
                       std::uint16_t window = 0) {
  net::Packet p;
  p.ts_ns = ts_ns;
  p.l3 = net::L3::kIpv4;
  p.src = from.ip;
  p.dst = to.ip;
  p.src_port = from.port;
  p.dst_port = to.port;
  p.ip_proto = 6;
  p.has_l4 = true;
  p.tcp_flags = flags;
  p.tcp_window = window;
  p.l4_header_len = header;
  p.payload_len = payload;
  p.ip_header_len = 20;
  p.ip_total_len = 20 + header + payload;
  p.wire_len = 14 + p.ip_total_len;
  p.cap_len = p.wire_len;
  return p;
}

inline net::Packet udp(std::int64_t ts_ns, const Endpoint& from, const Endpoint& to,
                       std::uint32_t payload) {
  net::Packet p;
  p.ts_ns = ts_ns;
  p.l3 = net::L3::kIpv4;
  p.src = from.ip;
  p.dst = to.ip;
  p.src_port = from.port;
  p.dst_port = to.port;
  p.ip_proto = 17;
  p.has_l4 = true;
  p.l4_header_len = 8;
  p.payload_len = payload;
  p.ip_header_len = 20;
  p.ip_total_len = 28 + payload;
  p.wire_len = 14 + p.ip_total_len;
  p.cap_len = p.wire_len;
  return p;
}

class CollectingSink final : public FlowSink {
 public:
  void on_flow(FlowRecord&& record) override { records.push_back(std::move(record)); }
  std::vector<FlowRecord> records;
};

class CountingSink final : public FlowSink {
 public:
  void on_flow(FlowRecord&& record) override {
    ++count;
    last_reason = record.end_reason;
  }
  std::uint64_t count = 0;
  EndReason last_reason = EndReason::kIdle;
};

}  // namespace netsentry::flow::testing
