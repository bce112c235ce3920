#include "detect/alert_format.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

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

std::string format_time_iso(std::int64_t time_ns) {
  std::int64_t seconds = time_ns / 1'000'000'000;
  std::int64_t rest_ns = time_ns % 1'000'000'000;
  if (rest_ns < 0) {
    rest_ns += 1'000'000'000;
    --seconds;
  }
  const auto t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                     rest_ns / 1'000'000);
}

std::string alert_to_json(const Alert& alert) {
  nlohmann::json models = nlohmann::json::array();
  for (const ModelVote& vote : alert.models) {
    models.push_back({{"model", vote.model},
                      {"score", finite_or_null(vote.score)},
                      {"threshold", finite_or_null(vote.threshold)},
                      {"vote", vote.vote}});
  }
  nlohmann::json evidence = nlohmann::json::array();
  for (const Evidence& item : alert.evidence) {
    evidence.push_back({{"feature", item.feature},
                        {"value", finite_or_null(item.value)},
                        {"expected", finite_or_null(item.expected)},
                        {"deviation", finite_or_null(item.deviation)}});
  }
  const nlohmann::json body = {
      {"id", alert.id},
      {"time", format_time_iso(alert.time_ns)},
      {"time_ns", alert.time_ns},
      {"last_ns", alert.last_ns},
      {"severity", severity_name(alert.severity)},
      {"kind", alert.kind},
      {"src_ip", alert.src_ip.family == 0 ? std::string() : alert.src_ip.to_string()},
      {"src_port", alert.src_port},
      {"dst_ip", alert.dst_ip.family == 0 ? std::string() : alert.dst_ip.to_string()},
      {"dst_port", alert.dst_port},
      {"protocol", alert.protocol},
      {"interface", alert.interface},
      {"score", finite_or_null(alert.score)},
      {"votes", alert.votes},
      {"voters", alert.voters},
      {"count", alert.count},
      {"reason", alert.reason},
      {"models", std::move(models)},
      {"evidence", std::move(evidence)},
      {"acknowledged", alert.acknowledged},
  };
  // Replace invalid UTF-8 (an interface name is user data) instead of throwing.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace netsentry::detect
