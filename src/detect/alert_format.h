// Provides the text helpers every detector and sink uses to word an alert: human numbers
// ("2,998", "9.3 MB/s", "0.6 s", "14x"), endpoints ("10.0.0.5:80", "[2001:db8::1]:443") and the
// one JSON form of Evidence and of an Alert: the dashboard API and its events, the webhook body,
// the EVE sink's metadata and the SQLite store's columns all use alert_to_json_object() /
// evidence_to_json(); times are core::format_utc (RFC 3339 UTC, milliseconds) or, where the API
// documents them, epoch milliseconds.
// Thread rules: pure functions, callable from any thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "detect/alert.h"
#include "net/packet.h"

namespace netsentry::detect {

// 2998 -> "2,998".
[[nodiscard]] std::string format_count(std::uint64_t value);
// Decimal (SI) byte rates: 512 -> "512 B/s", 100000 -> "100 kB/s", 9.3e6 -> "9.3 MB/s". Values
// below 10 of a unit keep one decimal, larger ones none, so the text stays short.
[[nodiscard]] std::string format_bytes_per_second(double bytes_per_second);
// Seconds: 0.045 -> "45 ms", 0.6 -> "0.6 s", 42.3 -> "42 s".
[[nodiscard]] std::string format_duration(double seconds);
// Ratios: 14.2 -> "14x", 2.54 -> "2.5x".
[[nodiscard]] std::string format_ratio(double ratio);
// Numbers that are not counts (rates): 2057.4 -> "2,057", 3.25 -> "3.2".
[[nodiscard]] std::string format_number(double value);
// "10.0.0.5:80", "[2001:db8::1]:443"; the bare address when port is 0 and with_port is false.
[[nodiscard]] std::string format_endpoint(const net::IpAddress& ip, std::uint16_t port,
                                          bool with_port = true);
// One piece of evidence: time (RFC 3339 UTC, core::format_utc), time_ns, first_ns, host ("" for an
// interface profile), interface, role ("attacker"/"victim"), kind, detector, confidence, threat
// ("HIGH"), description, peer, port, protocol, count, score, votes, voters, flows [{start_ns,
// src_ip, src_port, dst_ip, dst_port, protocol, text}], models [{model, score, threshold, vote}],
// features [{feature, value, expected, deviation}]. Non-finite numbers become null.
[[nodiscard]] nlohmann::json evidence_to_json(const Evidence& evidence);
// Feature deviations and model votes as JSON arrays (as in evidence_to_json).
[[nodiscard]] nlohmann::json features_to_json(const std::vector<FeatureDeviation>& features);
[[nodiscard]] nlohmann::json models_to_json(const std::vector<ModelVote>& models);
// The inverse of evidence_to_json (for stored alerts); missing keys stay default.
[[nodiscard]] Evidence evidence_from_json(const nlohmann::json& j);

// How alert_to_json_object writes the alert's first and last times.
enum class AlertTimes {
  kRfc3339,  // "time", "last_seen": RFC 3339 UTC with milliseconds; "time_ns", "last_ns"
  kEpochMs,  // "time", "last": milliseconds since the epoch (the dashboard API, docs/api.md)
};

// The one JSON object of an alert: id, the times (AlertTimes; a missing last time is the first),
// severity ("HIGH"), kind, src_ip, src_port, dst_ip, dst_port (addresses are "" when unknown),
// protocol, interface, score, votes, voters, count, reason, models [{model, score, threshold,
// vote}], features [{feature, value, expected, deviation}], state ("engaged"/"past"), host, role,
// revision, evidence [the pieces of evidence, evidence_to_json], acknowledged; sensors [...] for
// a hub's alert; change ("raised", "updated", "escalated", "past") when given. Non-finite numbers
// become null.
[[nodiscard]] nlohmann::json alert_to_json_object(const Alert& alert,
                                                  AlertTimes times = AlertTimes::kRfc3339,
                                                  std::optional<AlertChange> change = std::nullopt);
// alert_to_json_object as one line of text; invalid UTF-8 is written as U+FFFD (core/utf8.h).
[[nodiscard]] std::string alert_to_json(const Alert& alert, AlertTimes times = AlertTimes::kRfc3339,
                                        std::optional<AlertChange> change = std::nullopt);

}  // namespace netsentry::detect
