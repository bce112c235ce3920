#include "detect/alert_format.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/time_format.h"
#include "fmt/format.h"

namespace netsentry::detect {

namespace {

// Drops a trailing ".0" so "1.0 MB/s" reads "1 MB/s".
std::string one_decimal(double value) {
  std::string text = fmt::format("{:.1f}", value);
  if (text.size() > 2 && text.ends_with(".0")) text.resize(text.size() - 2);
  return text;
}

nlohmann::json finite_or_null(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

}  // namespace

std::string format_count(std::uint64_t value) {
  const std::string digits = std::to_string(value);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string format_number(double value) {
  if (!std::isfinite(value)) return "n/a";
  const bool negative = value < 0;
  const double magnitude = std::fabs(value);
  std::string body =
      magnitude < 10
          ? one_decimal(magnitude)
          : format_count(static_cast<std::uint64_t>(std::llround(std::min(magnitude, 1.8e19))));
  // A tiny negative (rounding of a computed 0) must not print as "-0".
  return negative && body != "0" ? "-" + body : body;
}

std::string format_bytes_per_second(double bytes_per_second) {
  static constexpr std::array<std::string_view, 6> kUnits = {"B/s",  "kB/s", "MB/s",
                                                             "GB/s", "TB/s", "PB/s"};
  if (!std::isfinite(bytes_per_second)) return "n/a";
  double value = std::max(0.0, bytes_per_second);
  std::size_t unit = 0;
  // Round first so 999,960 B/s reads "1 MB/s", not "1000 kB/s".
  while (unit + 1 < kUnits.size() && std::round(value) >= 1000) {
    value /= 1000;
    ++unit;
  }
  if (unit == 0 || value >= 9.95) {
    return fmt::format("{:.0f} {}", value, kUnits[unit]);
  }
  return fmt::format("{} {}", one_decimal(value), kUnits[unit]);
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds)) return "n/a";
  seconds = std::max(0.0, seconds);
  if (seconds < 0.0995) return fmt::format("{:.0f} ms", seconds * 1000);
  if (seconds < 9.95) return fmt::format("{} s", one_decimal(seconds));
  return fmt::format("{} s", format_count(static_cast<std::uint64_t>(std::llround(seconds))));
}

std::string format_ratio(double ratio) {
  if (!std::isfinite(ratio)) return "n/a";
  if (std::fabs(ratio) < 9.95) return one_decimal(ratio) + "x";
  return format_number(ratio) + "x";
}

std::string format_endpoint(const net::IpAddress& ip, std::uint16_t port, bool with_port) {
  std::string address = ip.family == 0 ? std::string("?") : ip.to_string();
  if (!with_port && port == 0) return address;
  if (ip.family == 6) return fmt::format("[{}]:{}", address, port);
  return fmt::format("{}:{}", address, port);
}

nlohmann::json features_to_json(const std::vector<FeatureDeviation>& features) {
  nlohmann::json out = nlohmann::json::array();
  for (const FeatureDeviation& item : features) {
    out.push_back({{"feature", item.feature},
                   {"value", finite_or_null(item.value)},
                   {"expected", finite_or_null(item.expected)},
                   {"deviation", finite_or_null(item.deviation)}});
  }
  return out;
}

nlohmann::json models_to_json(const std::vector<ModelVote>& models) {
  nlohmann::json out = nlohmann::json::array();
  for (const ModelVote& vote : models) {
    out.push_back({{"model", vote.model},
                   {"score", finite_or_null(vote.score)},
                   {"threshold", finite_or_null(vote.threshold)},
                   {"vote", vote.vote}});
  }
  return out;
}

namespace {
std::string address_text(const net::IpAddress& ip) {
  return ip.family == 0 ? std::string() : ip.to_string();
}
net::IpAddress address_of(const nlohmann::json& j, const char* key) {
  net::IpAddress ip;
  if (j.contains(key) && j[key].is_string())
    (void)net::IpAddress::parse(j[key].get<std::string>(), ip);
  return ip;
}
template <class T>
T value_of(const nlohmann::json& j, const char* key, T fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  try {
    return j[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    return fallback;
  }
}
std::uint8_t protocol_number(std::string_view name) {
  if (name == "TCP") return 6;
  if (name == "UDP") return 17;
  if (name == "ICMP") return 1;
  if (name == "ICMPv6") return 58;
  int n = 0;
  for (const char c : name) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + (c - '0');
    if (n > 255) return 0;
  }
  return static_cast<std::uint8_t>(n);
}
}  // namespace

nlohmann::json evidence_to_json(const Evidence& e) {
  nlohmann::json flows = nlohmann::json::array();
  for (const FlowRef& f : e.flows) {
    flows.push_back({{"start_ns", f.start_ns},
                     {"src_ip", address_text(f.src)},
                     {"src_port", f.src_port},
                     {"dst_ip", address_text(f.dst)},
                     {"dst_port", f.dst_port},
                     {"protocol", std::string(flow::protocol_name(f.ip_proto))},
                     {"text", f.to_string()}});
  }
  return {{"time", core::format_utc(e.time_ns)},
          {"time_ns", e.time_ns},
          {"first_ns", e.first_ns != 0 ? e.first_ns : e.time_ns},
          {"host", address_text(e.host)},
          {"interface", e.interface},
          {"role", role_name(e.role, e.host)},
          {"kind", e.kind},
          {"detector", e.detector},
          {"confidence", finite_or_null(e.confidence)},
          {"threat", severity_name(e.threat)},
          {"description", e.description},
          {"peer", address_text(e.peer)},
          {"port", e.port},
          {"protocol", e.ip_proto != 0 ? std::string(flow::protocol_name(e.ip_proto)) : ""},
          {"count", e.count},
          {"score", finite_or_null(e.score)},
          {"votes", e.votes},
          {"voters", e.voters},
          {"flows", std::move(flows)},
          {"models", models_to_json(e.models)},
          {"features", features_to_json(e.deviations)}};
}

Evidence evidence_from_json(const nlohmann::json& j) {
  Evidence e;
  if (!j.is_object()) return e;
  e.time_ns = value_of<std::int64_t>(j, "time_ns", 0);
  e.first_ns = value_of<std::int64_t>(j, "first_ns", e.time_ns);
  e.host = address_of(j, "host");
  e.interface = value_of<std::string>(j, "interface", "");
  e.role = value_of<std::string>(j, "role", "") == "victim" ? Role::kVictim : Role::kAttacker;
  e.kind = value_of<std::string>(j, "kind", "");
  e.detector = value_of<std::string>(j, "detector", "");
  e.confidence = value_of<double>(j, "confidence", 0.0);
  e.threat = parse_severity(value_of<std::string>(j, "threat", "LOW")).value_or(Severity::kLow);
  e.description = value_of<std::string>(j, "description", "");
  e.peer = address_of(j, "peer");
  e.port = value_of<std::uint16_t>(j, "port", 0);
  e.ip_proto = protocol_number(value_of<std::string>(j, "protocol", ""));
  e.count = value_of<std::uint64_t>(j, "count", 1);
  e.score = value_of<float>(j, "score", 0.0f);
  e.votes = value_of<int>(j, "votes", 0);
  e.voters = value_of<int>(j, "voters", 0);
  if (j.contains("flows") && j["flows"].is_array()) {
    for (const auto& f : j["flows"]) {
      FlowRef ref;
      ref.start_ns = value_of<std::int64_t>(f, "start_ns", 0);
      ref.src = address_of(f, "src_ip");
      ref.dst = address_of(f, "dst_ip");
      ref.src_port = value_of<std::uint16_t>(f, "src_port", 0);
      ref.dst_port = value_of<std::uint16_t>(f, "dst_port", 0);
      ref.ip_proto = protocol_number(value_of<std::string>(f, "protocol", ""));
      e.flows.push_back(ref);
    }
  }
  if (j.contains("models") && j["models"].is_array()) {
    for (const auto& m : j["models"]) {
      e.models.push_back({value_of<std::string>(m, "model", ""), value_of<float>(m, "score", 0.0f),
                          value_of<float>(m, "threshold", 0.0f), value_of<bool>(m, "vote", false)});
    }
  }
  if (j.contains("features") && j["features"].is_array()) {
    for (const auto& f : j["features"]) {
      e.deviations.push_back(
          {value_of<std::string>(f, "feature", ""), value_of<double>(f, "value", 0.0),
           value_of<double>(f, "expected", 0.0), value_of<double>(f, "deviation", 0.0)});
    }
  }
  return e;
}

nlohmann::json alert_to_json_object(const Alert& alert, AlertTimes times,
                                    std::optional<AlertChange> change) {
  nlohmann::json evidence = nlohmann::json::array();
  for (const Evidence& e : alert.evidence) evidence.push_back(evidence_to_json(e));
  const std::int64_t last_ns = alert.last_ns != 0 ? alert.last_ns : alert.time_ns;
  nlohmann::json out = {{"id", alert.id}};
  if (times == AlertTimes::kEpochMs) {
    out["time"] = core::epoch_ms(alert.time_ns);
    out["last"] = core::epoch_ms(last_ns);
  } else {
    out["time"] = core::format_utc(alert.time_ns);
    out["last_seen"] = core::format_utc(last_ns);
    out["time_ns"] = alert.time_ns;
    out["last_ns"] = last_ns;
  }
  out.update({
      {"severity", severity_name(alert.severity)},
      {"kind", alert.kind},
      {"src_ip", address_text(alert.src_ip)},
      {"src_port", alert.src_port},
      {"dst_ip", address_text(alert.dst_ip)},
      {"dst_port", alert.dst_port},
      {"protocol", alert.protocol},
      {"interface", alert.interface},
      {"score", finite_or_null(alert.score)},
      {"votes", alert.votes},
      {"voters", alert.voters},
      {"count", alert.count},
      {"reason", alert.reason},
      {"models", models_to_json(alert.models)},
      {"features", features_to_json(alert.features)},
      {"state", alert_state_name(alert.state)},
      {"host", address_text(alert.host)},
      {"role", role_name(alert.role, alert.host)},
      {"revision", alert.revision},
      {"evidence", std::move(evidence)},
      {"acknowledged", alert.acknowledged},
  });
  if (!alert.sensors.empty()) out["sensors"] = alert.sensors;  // a hub's alert
  if (change) out["change"] = alert_change_name(*change);
  return out;
}

std::string alert_to_json(const Alert& alert, AlertTimes times, std::optional<AlertChange> change) {
  // Replace invalid UTF-8 (an interface name is user data) instead of throwing.
  return alert_to_json_object(alert, times, change)
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace netsentry::detect
