#include "store/eve_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/error.h"
#include "core/time_format.h"
#include "detect/alert_format.h"
#include "net/community_id.h"

namespace netsentry::store {
namespace {

// Suricata's key order (timestamp, flow_id, in_iface, event_type, the tuple, ...), not sorted.
using json = nlohmann::ordered_json;

// One "rule" per kind of alert. Signature ids sit in the range Suricata's classification leaves
// for local rules (1000000-1999999), so they never collide with ET or Snort rule ids.
struct Signature {
  std::string_view kind;
  std::int64_t id;
  std::string_view text;
  std::string_view category;  // Suricata's classtype descriptions (classification.config)
};
constexpr Signature kSignatures[] = {
    {detect::kind::kPortScan, 1'990'001, "NETSENTRY Port scan", "Detection of a Network Scan"},
    {detect::kind::kHostScan, 1'990'002, "NETSENTRY Host scan", "Detection of a Network Scan"},
    {detect::kind::kSynFlood, 1'990'003, "NETSENTRY SYN flood",
     "Detection of a Denial of Service Attack"},
    {detect::kind::kUdpFlood, 1'990'004, "NETSENTRY UDP flood",
     "Detection of a Denial of Service Attack"},
    {detect::kind::kIcmpFlood, 1'990'005, "NETSENTRY ICMP flood",
     "Detection of a Denial of Service Attack"},
    {detect::kind::kSlowHttp, 1'990'006, "NETSENTRY Slow HTTP (slowloris-style held connections)",
     "Attempted Denial of Service"},
    {detect::kind::kBruteForce, 1'990'007, "NETSENTRY Brute force (many short failed sessions)",
     "Attempted User Privilege Gain"},
    {detect::kind::kExfiltration, 1'990'008, "NETSENTRY Possible exfiltration (one-way upload)",
     "Potential Corporate Privacy Violation"},
    {detect::kind::kFlowAnomaly, 1'990'009, "NETSENTRY Anomalous flow (ML ensemble)",
     "Potentially Bad Traffic"},
    {detect::kind::kVolume, 1'990'010, "NETSENTRY Traffic volume above the limit",
     "Potentially Bad Traffic"},
    {detect::kind::kVolumeForecast, 1'990'011, "NETSENTRY Traffic volume outside its forecast",
     "Potentially Bad Traffic"},
    {detect::kind::kSystem, 1'990'012, "NETSENTRY Monitor health (netsentry itself)",
     "Not Suspicious Traffic"},
    {detect::kind::kArpSpoof, 1'990'013,
     "NETSENTRY ARP spoofing (an address claimed by another MAC)", "Attempted Information Leak"},
    {detect::kind::kNdSpoof, 1'990'014,
     "NETSENTRY IPv6 neighbour discovery spoofing (an address claimed by another MAC)",
     "Attempted Information Leak"},
    {detect::kind::kDnsTunnel, 1'990'015, "NETSENTRY DNS tunnelling (data encoded in DNS names)",
     "Potential Corporate Privacy Violation"},
    {detect::kind::kBeacon, 1'990'016, "NETSENTRY Beaconing (regular callbacks to a rare server)",
     "A Network Trojan was detected"},
    {detect::kind::kTcpFlood, 1'990'017,
     "NETSENTRY TCP flood (packets outside any connection, an ACK flood)",
     "Detection of a Denial of Service Attack"},
};
constexpr Signature kOtherSignature{"", 1'990'000, "NETSENTRY Alert", "Misc activity"};

const Signature& signature_of(std::string_view kind) {
  for (const Signature& s : kSignatures) {
    if (s.kind == kind) return s;
  }
  return kOtherSignature;
}

bool is_icmp(std::uint8_t ip_proto) { return ip_proto == 1 || ip_proto == 58; }

// The 5-tuple part of an event, Suricata's way: ports for TCP and UDP (and SCTP), ICMP type and
// code for ICMP, nothing for other protocols.
void put_tuple(json& event, const net::IpAddress& src, std::uint16_t src_port,
               const net::IpAddress& dst, std::uint16_t dst_port, std::uint8_t ip_proto) {
  if (src.family != 0) event["src_ip"] = src.to_string();
  if (dst.family != 0) event["dest_ip"] = dst.to_string();
  if (is_icmp(ip_proto)) {
    event["icmp_type"] = src_port;
    event["icmp_code"] = dst_port;
  } else if (ip_proto == 6 || ip_proto == 17 || ip_proto == 132) {
    event["src_port"] = src_port;
    event["dest_port"] = dst_port;
  }
  if (ip_proto != 0) event["proto"] = eve_proto(ip_proto);
}

std::string_view flow_state(const flow::FlowRecord& f) {
  const bool both =
      f[flow::CicFeature::kTotalFwdPacket] > 0 && f[flow::CicFeature::kTotalBwdPackets] > 0;
  if (!both) return "new";
  if (f.ip_proto == 6 &&
      (f.end_reason == flow::EndReason::kFin || f.end_reason == flow::EndReason::kRst)) {
    return "closed";
  }
  return "established";
}

std::string_view flow_reason(flow::EndReason reason) {
  switch (reason) {
    case flow::EndReason::kEvicted:
      return "forced";
    case flow::EndReason::kEndOfInput:
      return "shutdown";
    default:
      return "timeout";
  }
}

std::uint64_t count_of(double value) {
  return std::isfinite(value) && value > 0 ? static_cast<std::uint64_t>(value) : 0;
}

// The newest flow among the alert's evidence (the one an analyst opens first), if any.
const detect::FlowRef* newest_flow(const detect::Alert& alert) {
  const detect::FlowRef* newest = nullptr;
  for (const detect::Evidence& e : alert.evidence) {
    for (const detect::FlowRef& f : e.flows) {
      if (newest == nullptr || f.start_ns > newest->start_ns) newest = &f;
    }
  }
  return newest;
}

json strings(std::string text) { return json::array({std::move(text)}); }

}  // namespace

std::int64_t eve_flow_id(const detect::FlowRef& flow) {
  return static_cast<std::int64_t>(flow.hash() & ((std::uint64_t{1} << 51) - 1));
}

std::string eve_proto(std::uint8_t ip_proto) {
  if (ip_proto == 58) return "IPv6-ICMP";
  return std::string(flow::protocol_name(ip_proto));
}

int eve_severity(detect::Severity severity) {
  switch (severity) {
    case detect::Severity::kCritical:
    case detect::Severity::kHigh:
      return 1;
    case detect::Severity::kMedium:
      return 2;
    case detect::Severity::kLow:
      return 3;
  }
  return 3;
}

json eve_flow_event(const flow::FlowRecord& f, const detect::FlowVerdict& verdict,
                    std::string_view interface) {
  json event = {{"timestamp", core::format_eve_time(f.end_ns)},
                {"flow_id", eve_flow_id(detect::FlowRef::of(f))}};
  if (!interface.empty()) event["in_iface"] = interface;
  event["event_type"] = "flow";
  if (f.vlan != 0) event["vlan"] = json::array({f.vlan});
  put_tuple(event, f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.ip_proto);
  if (f.community_id.valid) event["community_id"] = f.community_id.to_string();
  const std::int64_t age_s = std::max<std::int64_t>(0, (f.end_ns - f.start_ns) / 1'000'000'000);
  event["flow"] = {{"pkts_toserver", count_of(f[flow::CicFeature::kTotalFwdPacket])},
                   {"pkts_toclient", count_of(f[flow::CicFeature::kTotalBwdPackets])},
                   {"bytes_toserver", f.orig_ip_bytes},
                   {"bytes_toclient", f.resp_ip_bytes},
                   {"start", core::format_eve_time(f.start_ns)},
                   {"end", core::format_eve_time(f.end_ns)},
                   {"age", age_s},
                   {"state", flow_state(f)},
                   {"reason", flow_reason(f.end_reason)}};
  json ours = {{"conn_state", flow::conn_state_name(f.conn_state)},
               {"history", f.history.view()},
               {"verdict", !verdict.scored    ? "unscored"
                           : verdict.evidence ? "anomaly"
                                              : "benign"}};
  if (verdict.scored && std::isfinite(verdict.score)) ours["score"] = verdict.score;
  if (!verdict.note.empty()) ours["note"] = verdict.note;
  if (f.tunnel_parent.valid) ours["tunnel_parent"] = f.tunnel_parent.to_string();
  event["netsentry"] = std::move(ours);
  return event;
}

json eve_alert_event(const detect::Alert& alert, detect::AlertChange change,
                     std::string_view interface) {
  const std::int64_t at_ns = alert.last_ns != 0 ? alert.last_ns : alert.time_ns;
  json event = {{"timestamp", core::format_eve_time(at_ns)}};
  const detect::FlowRef* flow = newest_flow(alert);
  if (flow != nullptr) event["flow_id"] = eve_flow_id(*flow);
  if (!interface.empty()) event["in_iface"] = interface;
  event["event_type"] = "alert";
  // The subject (attacker -> victim); a port the detector could not pin down is left out.
  if (alert.src_ip.family != 0) event["src_ip"] = alert.src_ip.to_string();
  if (alert.src_port != 0) event["src_port"] = alert.src_port;
  if (alert.dst_ip.family != 0) event["dest_ip"] = alert.dst_ip.to_string();
  if (alert.dst_port != 0) event["dest_port"] = alert.dst_port;
  if (flow != nullptr) {
    event["proto"] = eve_proto(flow->ip_proto);
    const net::CommunityId id =
        net::community_id(flow->src, flow->dst, flow->ip_proto, flow->src_port, flow->dst_port);
    if (id.valid) event["community_id"] = id.to_string();
  } else if (!alert.protocol.empty()) {
    event["proto"] = alert.protocol == "ICMPv6" ? std::string("IPv6-ICMP") : alert.protocol;
  }

  const Signature& signature = signature_of(alert.kind);
  json evidence = json::array();
  for (const detect::Evidence& e : alert.evidence) {
    evidence.push_back(fmt::format("{} {} {:.2f}: {}", e.kind, detect::severity_name(e.threat),
                                   e.confidence, e.description));
  }
  json metadata = {{"netsentry_id", strings(std::to_string(alert.id))},
                   {"kind", strings(alert.kind)},
                   {"score", strings(fmt::format("{:.4f}", alert.score))},
                   {"state", strings(std::string(detect::alert_state_name(alert.state)))},
                   {"change", strings(std::string(detect::alert_change_name(change)))},
                   {"reason", strings(alert.reason)},
                   {"evidence", std::move(evidence)}};
  if (alert.host.family != 0) {
    metadata["host"] = strings(alert.host.to_string());
    metadata["role"] = strings(std::string(detect::role_name(alert.role)));
  }
  if (!alert.interface.empty()) metadata["interface"] = strings(alert.interface);
  event["alert"] = {{"action", "allowed"},
                    {"gid", 1},
                    {"signature_id", signature.id},
                    {"rev", 1},
                    {"signature", signature.text},
                    {"category", signature.category},
                    {"severity", eve_severity(alert.severity)},
                    {"metadata", std::move(metadata)}};
  event["netsentry"] =
      json(detect::alert_to_json_object(alert, detect::AlertTimes::kRfc3339, change));
  return event;
}

namespace {

CsvWriterOptions writer_options(const EveLogOptions& options) {
  if (options.max_bytes == 0) {
    throw core::Error(options.path.string() +
                      ": the EVE log needs a maximum size (it rotates; 0 would grow without end)");
  }
  std::error_code error;
  if (options.path.has_parent_path()) {
    std::filesystem::create_directories(options.path.parent_path(), error);
    if (error) {
      throw core::Error(options.path.parent_path().string() +
                        ": cannot create folder: " + error.message());
    }
  }
  CsvWriterOptions writer;
  writer.path = options.path;
  writer.max_bytes = options.max_bytes;
  writer.keep = options.keep;
  return writer;
}

}  // namespace

EveLog::EveLog(EveLogOptions options)
    : options_(std::move(options)), writer_(writer_options(options_)) {}

void EveLog::write(const json& event) {
  // Replace, not throw, on invalid UTF-8: interface names and reasons may hold any bytes.
  writer_.write_line(event.dump(-1, ' ', false, json::error_handler_t::replace));
  dirty_ = true;
}

void EveLog::see_time(std::int64_t ns) {
  if (ns == 0) return;
  if (first_ns_ == 0) {
    first_ns_ = ns;
    stats_ns_ = ns;
  }
  now_ns_ = std::max(now_ns_, ns);
}

void EveLog::on_flows(std::span<const flow::FlowRecord> flows,
                      std::span<const detect::FlowVerdict> verdicts, float /*threshold*/) {
  for (std::size_t i = 0; i < flows.size(); ++i) {
    const flow::FlowRecord& f = flows[i];
    const detect::FlowVerdict verdict = i < verdicts.size() ? verdicts[i] : detect::FlowVerdict{};
    see_time(f.end_ns);
    write(eve_flow_event(f, verdict, options_.interface));
    ++counts_.flows;
    packets_ += f.packet_count;
    bytes_ += f.byte_count;
    const int proto = f.ip_proto == 6 ? 0 : f.ip_proto == 17 ? 1 : is_icmp(f.ip_proto) ? 2 : 3;
    ++flows_by_proto_[proto];
    if (verdict.evidence) ++anomalous_flows_;
  }
}

void EveLog::on_alert(const detect::Alert& alert, detect::AlertChange change) {
  if (change == detect::AlertChange::kUpdated) {
    const auto it = last_update_ns_.find(alert.id);
    if (it != last_update_ns_.end() && alert.last_ns - it->second < options_.update_interval_ns) {
      return;
    }
  }
  if (change == detect::AlertChange::kPast) {
    last_update_ns_.erase(alert.id);
  } else {
    last_update_ns_[alert.id] = alert.last_ns;
  }
  if (change == detect::AlertChange::kRaised) ++alerts_raised_;
  see_time(alert.last_ns != 0 ? alert.last_ns : alert.time_ns);
  write(eve_alert_event(alert, change, options_.interface));
  ++counts_.alerts;
}

void EveLog::write_stats() {
  stats_ns_ = now_ns_;
  stats_events_ = counts_.flows + counts_.alerts;
  const std::uint64_t flows = counts_.flows;
  json event = {{"timestamp", core::format_eve_time(now_ns_)},
                {"event_type", "stats"},
                {"stats",
                 {{"uptime", (now_ns_ - first_ns_) / 1'000'000'000},
                  {"decoder", {{"pkts", packets_}, {"bytes", bytes_}}},
                  {"flow",
                   {{"total", flows},
                    {"tcp", flows_by_proto_[0]},
                    {"udp", flows_by_proto_[1]},
                    {"icmp", flows_by_proto_[2]},
                    {"other", flows_by_proto_[3]}}},
                  {"detect", {{"alert", counts_.alerts}}},
                  {"netsentry",
                   {{"alerts_raised", alerts_raised_},
                    {"anomalous_flows", anomalous_flows_},
                    {"rotations", writer_.rotations()}}}}}};
  write(event);
  ++counts_.stats;
}

void EveLog::tick() {
  if (first_ns_ != 0 && now_ns_ - stats_ns_ >= options_.stats_interval_ns) write_stats();
  if (dirty_ && std::chrono::steady_clock::now() - flushed_ >= options_.flush_interval) {
    flushed_ = std::chrono::steady_clock::now();
    writer_.flush();  // a failure stays in health(); the lines wait and are tried again
    dirty_ = writer_.health().failing;
  }
}

void EveLog::flush() {
  // The stage flushes this sink twice (as an alert and as a flow sink): one closing stats line.
  if (first_ns_ != 0 && counts_.flows + counts_.alerts != stats_events_) write_stats();
  flushed_ = std::chrono::steady_clock::now();
  writer_.flush();
  dirty_ = writer_.health().failing;
}

}  // namespace netsentry::store
