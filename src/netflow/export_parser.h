// Provides netflow::ExportParser, the decoder of flow export datagrams a router, softflowd or
// nProbe sends: NetFlow v5 (fixed records), NetFlow v9 (RFC 3954) and IPFIX (RFC 7011, with
// RFC 5103 reverse elements), told apart by their version field so one UDP port takes all three.
// Templates are kept per exporter and observation domain (source id), bounded. Each record keeps
// only what its export carried: ExportedFlow::present says which fields are real, the rest stay
// empty. Malformed input (short headers, sets or records past the datagram, templates that make
// no sense, unknown versions) is counted by reason and skipped, never thrown: the parser is fuzzed
// (src/netflow/export_parser_fuzz.cpp).
// Thread rules: not thread-safe; one owner thread feeds it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "flow/flow_record.h"
#include "net/packet.h"

namespace netsentry::netflow {

enum class ExportFormat : std::uint8_t { kNetflow5, kNetflow9, kIpfix };
[[nodiscard]] std::string_view format_name(ExportFormat format);  // "netflow5", ...

// One exported flow record.
struct ExportedFlow {
  enum Field : std::uint32_t {
    kStart = 1u << 0,
    kEnd = 1u << 1,
    kSrcAddress = 1u << 2,
    kDstAddress = 1u << 3,
    kSrcPort = 1u << 4,
    kDstPort = 1u << 5,
    kProtocol = 1u << 6,
    kOctets = 1u << 7,
    kPackets = 1u << 8,
    kReverseOctets = 1u << 9,
    kReversePackets = 1u << 10,
    kTcpFlags = 1u << 11,
    kIcmpTypeCode = 1u << 12,
    kVlan = 1u << 13,
    kEndReason = 1u << 14,
  };
  ExportFormat format = ExportFormat::kIpfix;
  std::uint32_t present = 0;  // Field bits
  std::int64_t start_ns = 0;  // absolute (the export's clock)
  std::int64_t end_ns = 0;
  net::IpAddress src;
  net::IpAddress dst;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t protocol = 0;
  std::uint64_t octets = 0;  // layer-3 bytes, as exporters count them
  std::uint64_t packets = 0;
  std::uint64_t reverse_octets = 0;
  std::uint64_t reverse_packets = 0;
  std::uint8_t tcp_flags = 0;  // union of the flags seen
  std::uint8_t icmp_type = 0;
  std::uint8_t icmp_code = 0;
  std::uint16_t vlan = 0;
  std::uint8_t end_reason = 0;  // IPFIX flowEndReason

  [[nodiscard]] bool has(Field f) const { return (present & f) != 0; }
};

struct ParserStats {
  std::uint64_t packets = 0;          // datagrams fed
  std::uint64_t records = 0;          // flow records decoded
  std::uint64_t templates = 0;        // (options) templates learned or refreshed
  std::uint64_t bad_packets = 0;      // datagrams with any malformed part (all reasons below)
  std::uint64_t unknown_version = 0;  // neither 5, 9 nor 10
  std::uint64_t truncated = 0;        // a header, set or record runs past the datagram
  std::uint64_t bad_template = 0;     // a template with no or too many fields, or zero length
  std::uint64_t no_template = 0;      // data records whose template is not known (yet)
  std::uint64_t not_a_flow = 0;       // decoded records without addresses (options data, ...)
  std::uint64_t template_evictions = 0;
};

struct ParserOptions {
  std::size_t max_templates = 4096;  // over all exporters; the least recently used go first
};

class ExportParser final {
 public:
  explicit ExportParser(ParserOptions options = {});

  // Decodes one datagram from `exporter` (any stable name for the sender, e.g. "10.0.0.1:2055"),
  // appending its flow records to `out`. Never throws on content.
  void parse(std::span<const std::uint8_t> datagram, std::string_view exporter,
             std::vector<ExportedFlow>& out);

  [[nodiscard]] const ParserStats& stats() const { return stats_; }
  [[nodiscard]] std::size_t templates() const { return templates_.size(); }

  struct FieldSpec {
    std::uint16_t id = 0;
    std::uint16_t length = 0;  // 65535: variable (IPFIX)
    std::uint32_t enterprise = 0;
  };

 private:
  struct Template {
    std::vector<FieldSpec> fields;
    std::size_t min_length = 0;  // fixed fields plus one byte per variable-length field
    bool options = false;
    std::list<std::string>::iterator lru;
  };

  void parse_v5(std::span<const std::uint8_t> d, std::vector<ExportedFlow>& out);
  void parse_v9(std::span<const std::uint8_t> d, std::string_view exporter,
                std::vector<ExportedFlow>& out);
  void parse_ipfix(std::span<const std::uint8_t> d, std::string_view exporter,
                   std::vector<ExportedFlow>& out);
  // The sets after a v9 or IPFIX header, which share their layout: template sets go to
  // on_templates(body, options), data records are read by their template and their times
  // resolved by resolve_times(times, flow) before they are counted and kept.
  template <class OnTemplates, class ResolveTimes>
  void parse_sets(std::span<const std::uint8_t> sets, ExportFormat format,
                  const std::string& prefix, OnTemplates&& on_templates,
                  ResolveTimes&& resolve_times, std::vector<ExportedFlow>& out);
  // One template record read (`ok`) or cut short: learned under prefix + tid, or counted as
  // malformed or truncated. False when the rest of its set is to be skipped.
  bool keep_template(bool ok, std::uint16_t tid, const std::string& prefix,
                     std::vector<FieldSpec> fields, bool options);
  // False when the template set is malformed (counted by the caller's reason).
  bool learn(const std::string& key, std::vector<FieldSpec> fields, bool options);
  const Template* find(const std::string& key);

  ParserOptions options_;
  ParserStats stats_;
  std::map<std::string, Template, std::less<>> templates_;
  std::list<std::string> lru_;  // most recently used first
  // IPFIX systemInitTimeMilliseconds per exporter and domain, for sysUpTime-relative times
  // (bounded like the templates).
  std::map<std::string, std::int64_t, std::less<>> boot_ms_;
};

// The flow record the detectors and stores take: the carried fields; forward counts from the
// record's counters, backward from RFC 5103 reverse counters when present; ICMP type and code from
// the export (or -1); every CICFlowMeter feature the export does not carry stays 0 and is never
// written out by `collect` (its flows go to the store and the bus, which hold carried fields only).
[[nodiscard]] flow::FlowRecord to_flow_record(const ExportedFlow& f);

}  // namespace netsentry::netflow
