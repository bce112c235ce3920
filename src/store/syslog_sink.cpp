#include "store/syslog_sink.h"

#include <fmt/format.h>
#include <syslog.h>

#include <algorithm>
#include <cctype>
#include <iterator>

#include "core/error.h"

namespace netsentry::store {
namespace {

// "10.0.0.5:22", "[2001:db8::1]:443", "eth0", or "?" when the alert names nothing.
std::string endpoint_text(const net::IpAddress& address, std::uint16_t port) {
  if (address.family == 0) return port != 0 ? fmt::format("port {}", port) : std::string("?");
  const std::string text = address.to_string();
  if (port == 0) return text;
  return address.family == 6 ? fmt::format("[{}]:{}", text, port)
                             : fmt::format("{}:{}", text, port);
}

}  // namespace

int syslog_level(detect::Severity severity) {
  switch (severity) {
    case detect::Severity::kLow:
      return LOG_NOTICE;
    case detect::Severity::kMedium:
      return LOG_WARNING;
    case detect::Severity::kHigh:
      return LOG_ERR;
    case detect::Severity::kCritical:
      return LOG_CRIT;
  }
  return LOG_WARNING;
}

int parse_syslog_facility(std::string_view name) {
  struct Facility {
    std::string_view name;
    int value;
  };
  static constexpr Facility kFacilities[] = {
      {"daemon", LOG_DAEMON}, {"user", LOG_USER},         {"auth", LOG_AUTH},
      {"security", LOG_AUTH}, {"authpriv", LOG_AUTHPRIV}, {"local0", LOG_LOCAL0},
      {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},     {"local3", LOG_LOCAL3},
      {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},     {"local6", LOG_LOCAL6},
      {"local7", LOG_LOCAL7}};
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const Facility& facility : kFacilities) {
    if (facility.name == lower) return facility.value;
  }
  throw core::Error("syslog facility \"" + std::string(name) +
                    "\" is unknown; use daemon, user, auth, authpriv or local0..local7");
}

std::string format_syslog_message(const detect::Alert& alert) {
  std::string line = fmt::format("{} {} ", detect::severity_name(alert.severity), alert.kind);
  if (alert.src_ip.family == 0 && alert.dst_ip.family == 0 && !alert.interface.empty()) {
    line += alert.interface;
  } else {
    line += endpoint_text(alert.src_ip, alert.src_port);
    line += " -> ";
    line += endpoint_text(alert.dst_ip, alert.dst_port);
  }
  if (!alert.protocol.empty()) {
    line += '/';
    line += alert.protocol;
  }
  fmt::format_to(std::back_inserter(line), " score {:.4f}", alert.score);
  if (alert.voters > 0)
    fmt::format_to(std::back_inserter(line), " votes {}/{}", alert.votes, alert.voters);
  fmt::format_to(std::back_inserter(line), " count {}", alert.count);
  if (alert.id != 0) fmt::format_to(std::back_inserter(line), " (id {})", alert.id);
  line += ": ";
  line += alert.reason;
  return line;
}

SyslogSink::SyslogSink(SyslogOptions options)
    : ident_(std::move(options.ident)), facility_(parse_syslog_facility(options.facility)) {
  ::openlog(ident_.c_str(), LOG_PID | LOG_NDELAY, facility_);
}

SyslogSink::~SyslogSink() { ::closelog(); }

void SyslogSink::on_alert(const detect::Alert& alert, detect::AlertChange change) {
  if (change == detect::AlertChange::kUpdated) return;
  deliver(alert);
}

void SyslogSink::deliver(const detect::Alert& alert) {
  const std::string message = format_syslog_message(alert);
  ::syslog(facility_ | syslog_level(alert.severity), "%s", message.c_str());
}

}  // namespace netsentry::store
