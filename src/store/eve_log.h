// Provides store::EveLog, the eve.json file: Suricata-style EVE JSON lines that SIEM pipelines
// built for Suricata (Elastic's and Wazuh's suricata modules, Splunk's TA) read as they are.
// One JSON object per line, Suricata's names in Suricata's order:
//  * "flow" (every finished flow): timestamp, flow_id, in_iface, event_type, vlan, src_ip,
//    src_port, dest_ip, dest_port (icmp_type, icmp_code instead of ports for ICMP), proto,
//    community_id, flow {pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient, start, end,
//    age, state, reason}, plus ours under "netsentry" (conn_state, history, verdict as the SQLite
//    store names it, score when scored, note: why a model's score gave no evidence);
//  * "alert" (an alert raised, escalated and past, and at most one update per update_interval of
//    packet time while engaged): the subject as src/dest, flow_id and community_id of the alert's
//    newest evidence flow, alert {action "allowed", gid, signature_id, rev, signature, category,
//    severity 1 (high) .. 3 (low), metadata {netsentry_id, kind, score, state, change, host, role,
//    reason, evidence} as lists of strings as Suricata's rule metadata is}, and the whole alert as
//    detect::alert_to_json_object() writes it under "netsentry";
//  * "stats" (every stats_interval of packet time, and at the end): cumulative counts of the
//    flows and alerts written so far.
// "src" is the flow's initiator (Suricata's client, "toserver" its direction). Times are
// Suricata's ("2026-12-03T21:31:56.123456+0000", core::format_eve_time), in packet time.
// flow_id is FlowRef::hash() cut to 51 bits (a JSON number every parser holds exactly, as
// Suricata's are), so an alert names a flow line by the same id. Bytes are IP bytes per direction
// (Zeek's orig_ip_bytes/resp_ip_bytes; Suricata counts whole frames). Invalid UTF-8 (interface
// names, reasons quoting the wire) is written as U+FFFD. The file rotates by size (eve.json.1 ..
// .<keep>) through CsvWriter, so it never grows without bound, keeps whole lines on a full disk
// (health()), and new lines reach the file at least once a second of wall time.
// Thread rules: not thread-safe; the detection stage calls every method from its thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "detect/alert.h"
#include "detect/sinks.h"
#include "store/csv_writer.h"

namespace netsentry::store {

struct EveLogOptions {
  std::filesystem::path path = "eve.json";
  std::uint64_t max_bytes = 100ull * 1024 * 1024;    // rotate before a line passes it (> 0)
  std::size_t keep = 5;                              // rotated files kept
  std::string interface;                             // in_iface; empty (a capture file): left out
  std::int64_t stats_interval_ns = 8'000'000'000;    // packet time; Suricata's default is 8 s
  std::int64_t update_interval_ns = 60'000'000'000;  // packet time between update lines
  std::chrono::milliseconds flush_interval{1000};    // wall time between flushes of new lines
};

struct EveStats {
  std::uint64_t flows = 0;   // flow lines written
  std::uint64_t alerts = 0;  // alert lines written
  std::uint64_t stats = 0;   // stats lines written
};

// Suricata's flow_id for a flow: FlowRef's hash cut to 51 bits.
[[nodiscard]] std::int64_t eve_flow_id(const detect::FlowRef& flow);
// Suricata's proto names: "TCP", "UDP", "ICMP", "IPv6-ICMP", else the number ("47").
[[nodiscard]] std::string eve_proto(std::uint8_t ip_proto);
// Suricata's alert severity: CRITICAL and HIGH 1, MEDIUM 2, LOW 3.
[[nodiscard]] int eve_severity(detect::Severity severity);

// The event objects, as written (for tests and tools).
[[nodiscard]] nlohmann::ordered_json eve_flow_event(const flow::FlowRecord& flow,
                                                    const detect::FlowVerdict& verdict,
                                                    std::string_view interface);
[[nodiscard]] nlohmann::ordered_json eve_alert_event(const detect::Alert& alert,
                                                     detect::AlertChange change,
                                                     std::string_view interface);

class EveLog final : public detect::AlertSink, public detect::FlowVerdictSink {
 public:
  static constexpr std::string_view kFile = "eve.json";

  // Creates the folder if needed and opens (appends to) the file. Throws core::Error naming the
  // path when it cannot, or when max_bytes is 0.
  explicit EveLog(EveLogOptions options);

  void on_alert(const detect::Alert& alert, detect::AlertChange change) override;
  void on_flows(std::span<const flow::FlowRecord> flows,
                std::span<const detect::FlowVerdict> verdicts, float threshold) override;
  // A stats line when stats_interval of packet time passed; a flush when lines wait and
  // flush_interval of wall time passed.
  void tick() override;
  // End of input: a last stats line, then everything written out.
  void flush() override;

  [[nodiscard]] WriterHealth health() const { return writer_.health(); }
  [[nodiscard]] EveStats stats() const { return counts_; }
  [[nodiscard]] const std::filesystem::path& path() const { return writer_.path(); }

 private:
  void write(const nlohmann::ordered_json& event);
  void write_stats();
  void see_time(std::int64_t ns);

  EveLogOptions options_;
  CsvWriter writer_;
  EveStats counts_;
  // Totals for the stats lines.
  std::uint64_t packets_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t flows_by_proto_[4] = {0, 0, 0, 0};  // tcp, udp, icmp (v4 and v6), other
  std::uint64_t anomalous_flows_ = 0;
  std::uint64_t alerts_raised_ = 0;
  std::int64_t first_ns_ = 0;       // packet time of the first event
  std::int64_t now_ns_ = 0;         // the newest packet time seen
  std::int64_t stats_ns_ = 0;       // packet time of the last stats line
  std::uint64_t stats_events_ = 0;  // flow and alert lines before the last stats line
  std::unordered_map<std::int64_t, std::int64_t> last_update_ns_;  // engaged alert id -> last line
  std::chrono::steady_clock::time_point flushed_{};
  bool dirty_ = false;
};

}  // namespace netsentry::store
