#include "server/api_json.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "detect/alert_format.h"

namespace netsentry::server {

std::string json_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

using nlohmann::json;

// JSON has no NaN or infinity; a model that produced one shows as null instead of breaking the
// whole response.
json number(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

std::string address(const net::IpAddress& ip) { return ip.family == 0 ? "" : ip.to_string(); }

json health_json(const CaptureHealth& health) {
  return {{"packets_per_second", number(health.packets_per_second)},
          {"kernel_drops", health.kernel_drops},
          {"queue_drops", health.queue_drops},
          {"flow_table_size", health.flow_table_size},
          {"flow_table_capacity", health.flow_table_capacity},
          {"decode_errors", health.decode_errors}};
}

json evidence_json(const EvidenceStatus& e) {
  return {{"recording", e.recording},
          {"memory_bytes", e.memory_bytes},
          {"memory_budget", e.memory_budget},
          {"packets_recorded", e.packets_recorded},
          {"packets_evicted", e.packets_evicted},
          {"packets_not_kept", e.packets_not_kept},
          {"oldest", e.oldest_ms},
          {"files", e.files},
          {"disk_bytes", e.disk_bytes},
          {"disk_budget", e.disk_budget},
          {"files_removed", e.files_removed},
          {"write_errors", e.write_errors}};
}

json top_list(const std::vector<TopEntry>& entries) {
  json out = json::array();
  for (const TopEntry& e : entries) {
    out.push_back({{"key", e.key}, {"bytes", e.bytes}, {"packets", e.packets}, {"flows", e.flows}});
  }
  return out;
}

}  // namespace

json alert_json(const detect::Alert& alert) {
  return detect::alert_to_json_object(alert, detect::AlertTimes::kEpochMs);
}

json alert_summary_json(const detect::Alert& alert) {
  json out = alert_json(alert);
  for (json& e : out["evidence"]) {
    const auto flows = e.find("flows");
    e["flow_count"] = flows != e.end() && flows->is_array() ? flows->size() : 0;
    e.erase("flows");
    e.erase("models");
    e.erase("features");
  }
  return out;
}

json sensor_json(const SensorInfo& sensor) {
  json health = json::parse(sensor.health, nullptr, false);
  if (!health.is_object()) health = json::object();
  return {{"name", sensor.name},
          {"first", sensor.first_ms},
          {"last", sensor.last_ms},
          {"health", std::move(health)}};
}

json hosts_json(const std::vector<detect::HostRisk>& hosts) {
  json out = json::array();
  for (const detect::HostRisk& h : hosts) {
    json evidence = json::array();
    for (const detect::Evidence& e : h.evidence) evidence.push_back(detect::evidence_to_json(e));
    out.push_back({{"host", address(h.host)},
                   {"interface", h.interface},
                   {"score", number(h.score)},
                   {"severity", detect::severity_name(h.severity)},
                   {"last", ns_to_ms(h.last_ns)},
                   {"alert_id", h.alert_id},
                   {"past_alert_id", h.past_alert_id},
                   {"evidence", std::move(evidence)}});
  }
  return {{"hosts", std::move(out)}};
}

json stats_json(const Stats& stats) {
  const PipelineStatus& p = stats.pipeline;
  json queues = json::array();
  for (const QueueStatus& q : p.queues) {
    queues.push_back(
        {{"name", q.name}, {"depth", q.depth}, {"capacity", q.capacity}, {"dropped", q.dropped}});
  }
  json by_severity = json::object();
  for (int s = 0; s < 4; ++s) {
    by_severity[std::string(detect::severity_name(static_cast<detect::Severity>(s)))] =
        stats.alerts_by_severity[s];
  }
  return {{"time", stats.time_ms},
          {"bytes_sent_total", number(stats.bytes_sent_total)},
          {"bytes_recv_total", number(stats.bytes_recv_total)},
          {"bytes_sent_per_second", number(stats.bytes_sent_per_second)},
          {"bytes_recv_per_second", number(stats.bytes_recv_per_second)},
          {"packets_total", p.packets_total},
          {"flows_total", p.flows_total},
          {"flood_summarized", p.flood_summarized},
          {"flows_per_second", number(p.flows_per_second)},
          {"health", health_json(p.health)},
          {"queues", std::move(queues)},
          {"evidence", evidence_json(p.evidence)},
          {"alerts_total", stats.alerts_total},
          {"alerts_by_severity", std::move(by_severity)},
          {"alerts_unacknowledged", stats.alerts_unacknowledged},
          {"interfaces", stats.interfaces},
          {"event_seq", stats.event_seq}};
}

json traffic_json(const TrafficPoint& point) {
  return {{"time", point.time_ms},
          {"interface", point.interface},
          {"bytes_sent", number(point.bytes_sent)},
          {"bytes_recv", number(point.bytes_recv)},
          {"packets_sent", number(point.packets_sent)},
          {"packets_recv", number(point.packets_recv)}};
}

json flow_json(const FlowRow& flow) {
  json out = {{"first", flow.first_ms},
              {"last", flow.last_ms},
              {"duration", static_cast<double>(flow.last_ms - flow.first_ms) / 1000.0},
              {"src_ip", flow.src_ip},
              {"src_port", flow.src_port},
              {"dst_ip", flow.dst_ip},
              {"dst_port", flow.dst_port},
              {"protocol", flow.protocol},
              {"packets", flow.packets},
              {"bytes", flow.bytes},
              {"score", flow.score ? number(*flow.score) : json(nullptr)},
              {"anomalous", flow.anomalous},
              {"community_id", flow.community_id},
              {"orig_ip_bytes", flow.orig_ip_bytes},
              {"resp_ip_bytes", flow.resp_ip_bytes},
              {"conn_state", flow.conn_state},
              {"history", flow.history},
              {"tunnel_parent", flow.tunnel_parent}};
  if (!flow.sensor.empty()) out["sensor"] = flow.sensor;  // a hub's flow
  return out;
}

json connection_json(const ConnectionRow& c) {
  return {{"local_ip", c.local_ip},
          {"local_port", c.local_port},
          {"remote_ip", c.remote_ip},
          {"remote_port", c.remote_port},
          {"status", c.status},
          {"type", c.type},
          {"pid", c.pid},
          {"process", c.process}};
}

json score_json(const ScorePoint& point) {
  return {{"time", point.time_ms},
          {"score", number(point.score)},
          {"threshold", number(point.threshold)},
          {"alert_id", point.alert_id}};
}

json top_json(const TopLists& top) {
  return {{"talkers", top_list(top.talkers)},
          {"ports", top_list(top.ports)},
          {"protocols", top_list(top.protocols)}};
}

json models_json(const ModelsInfo& info) {
  json models = json::array();
  for (const ModelInfo& m : info.models) {
    // An array, not an object, so the display order chosen by the source survives.
    json metrics = json::array();
    for (const auto& [name, value] : m.metrics) {
      metrics.push_back({{"name", name}, {"value", number(value)}});
    }
    models.push_back({{"name", m.name},
                      {"loaded", m.loaded},
                      {"threshold", number(m.threshold)},
                      {"weight", number(m.weight)},
                      {"metrics", std::move(metrics)},
                      {"confusion_labels", m.confusion_labels},
                      {"confusion", m.confusion}});
  }
  return {{"bundle_path", info.bundle_path},
          {"format_version", info.format_version},
          {"created", info.created},
          {"feature_count", info.feature_count},
          {"ensemble_rule", info.ensemble_rule},
          {"ensemble_threshold", number(info.ensemble_threshold)},
          {"models", std::move(models)}};
}

}  // namespace netsentry::server
