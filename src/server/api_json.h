// Provides the JSON shapes of the dashboard API (documented in docs/api.md): one to_json per
// DashboardSource struct, shared by the HTTP handlers and LiveState's event ring so a REST answer
// and the matching server-sent event look the same. Pure functions; callable from any thread.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/time_format.h"
#include "detect/alert.h"
#include "server/dashboard_source.h"

namespace netsentry::server {

// detect::alert_to_json_object with the API's epoch-millisecond times ("time", "last").
[[nodiscard]] nlohmann::json alert_json(const detect::Alert& alert);
// The alert for a list (GET /api/alerts?evidence=summary): every field of alert_json(), but each
// piece of evidence without its flows (their number in "flow_count"), model votes and feature
// deviations, which only the alert's own view shows (about half the bytes of a day's alerts).
[[nodiscard]] nlohmann::json alert_summary_json(const detect::Alert& alert);
[[nodiscard]] nlohmann::json stats_json(const Stats& stats);
[[nodiscard]] nlohmann::json traffic_json(const TrafficPoint& point);
[[nodiscard]] nlohmann::json flow_json(const FlowRow& flow);
[[nodiscard]] nlohmann::json connection_json(const ConnectionRow& connection);
[[nodiscard]] nlohmann::json score_json(const ScorePoint& point);
[[nodiscard]] nlohmann::json top_json(const TopLists& top);
[[nodiscard]] nlohmann::json models_json(const ModelsInfo& models);
[[nodiscard]] nlohmann::json sensor_json(const SensorInfo& sensor);

// The one way an API answer or event becomes text: invalid UTF-8 (an interface or process name
// anyone can choose) is written as U+FFFD instead of throwing (core/utf8.h's policy).
[[nodiscard]] std::string json_text(const nlohmann::json& value);
// {"hosts": [{host, interface, score, severity, last, alert_id, evidence: [...]}]}.
[[nodiscard]] nlohmann::json hosts_json(const std::vector<detect::HostRisk>& hosts);

// Nanoseconds since the epoch (the pipeline's clock) to the API's milliseconds (floored).
[[nodiscard]] constexpr std::int64_t ns_to_ms(std::int64_t ns) { return core::epoch_ms(ns); }

}  // namespace netsentry::server
