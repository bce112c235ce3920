// Provides store::SyslogSink, alert delivery through syslog(3) as a detect::AlertSink: one line
// when an alert is raised, escalated and goes past (not for every update), with a configurable
// ident and facility; the severity maps to the syslog level (syslog_level()). The line is the
// alert in words (format_syslog_message); syslog adds the time. It needs only libc, so it stays in
// store/ (the webhook, which needs cpp-httplib, is server::WebhookSink).
// Thread rules: on_alert()/deliver() may be called from any thread. SyslogSink calls openlog(3),
// which is process-wide: keep one per process.
#pragma once

#include <string>
#include <string_view>

#include "detect/alert.h"
#include "detect/sinks.h"

namespace netsentry::store {

// LOW -> LOG_NOTICE, MEDIUM -> LOG_WARNING, HIGH -> LOG_ERR, CRITICAL -> LOG_CRIT.
[[nodiscard]] int syslog_level(detect::Severity severity);
// "daemon", "user", "local0".."local7", "auth", "security" ... -> LOG_*; throws core::Error
// ("syslog facility \"x\" is unknown; use daemon, user or local0..local7") otherwise.
[[nodiscard]] int parse_syslog_facility(std::string_view name);
// The line syslog receives: "HIGH port_scan 10.0.0.66 -> 10.0.0.5:22/TCP score 0.9100 votes 3/4
// count 12 (id 7): Port scan suspected: ...".
[[nodiscard]] std::string format_syslog_message(const detect::Alert& alert);

struct SyslogOptions {
  std::string ident = "netsentry";
  std::string facility = "daemon";
};

class SyslogSink final : public detect::AlertSink {
 public:
  // Throws core::Error on an unknown facility.
  explicit SyslogSink(SyslogOptions options = {});
  ~SyslogSink() override;
  SyslogSink(const SyslogSink&) = delete;
  SyslogSink& operator=(const SyslogSink&) = delete;

  void on_alert(const detect::Alert& alert, detect::AlertChange change) override;
  // One line, whatever the change.
  void deliver(const detect::Alert& alert);

 private:
  std::string ident_;  // openlog keeps the pointer: it must live as long as the sink
  int facility_;
};

}  // namespace netsentry::store
