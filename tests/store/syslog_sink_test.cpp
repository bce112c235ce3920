#include "store/syslog_sink.h"

#include <gtest/gtest.h>
#include <syslog.h>

#include <string>

#include "core/error.h"
#include "support/sample_alert.h"

namespace netsentry::store {
namespace {

detect::Alert scan_alert() { return testing::sample_scan_alert(); }

std::string error_of(const auto& make) {
  try {
    make();
  } catch (const core::Error& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(Syslog, MapsSeveritiesToRisingSyslogLevels) {
  EXPECT_EQ(syslog_level(detect::Severity::kLow), LOG_NOTICE);
  EXPECT_EQ(syslog_level(detect::Severity::kMedium), LOG_WARNING);
  EXPECT_EQ(syslog_level(detect::Severity::kHigh), LOG_ERR);
  EXPECT_EQ(syslog_level(detect::Severity::kCritical), LOG_CRIT);
}

TEST(Syslog, ParsesFacilityNamesAndRejectsUnknownOnes) {
  EXPECT_EQ(parse_syslog_facility("daemon"), LOG_DAEMON);
  EXPECT_EQ(parse_syslog_facility("LOCAL3"), LOG_LOCAL3);
  EXPECT_EQ(parse_syslog_facility("user"), LOG_USER);
  const std::string message = error_of([] { (void)parse_syslog_facility("kernel-ish"); });
  EXPECT_NE(message.find("\"kernel-ish\""), std::string::npos) << message;
  EXPECT_NE(error_of([] { SyslogSink sink({.ident = "x", .facility = "nope"}); }), "(no error)");
}

TEST(Syslog, FormatsOneLineWithSubjectNumbersAndReason) {
  EXPECT_EQ(format_syslog_message(scan_alert()),
            "HIGH port_scan 10.0.0.66 -> 10.0.0.5:22/TCP score 0.9100 votes 3/4 count 12 (id 7): "
            "Port scan suspected: 2,998 ports on 10.0.0.5 probed from 10.0.0.66 in 0.6 s");
  detect::Alert volume;
  volume.severity = detect::Severity::kCritical;
  volume.kind = "volume";
  volume.interface = "eth0";
  volume.score = 9.3f;
  volume.reason = "Traffic 9.3 MB/s";
  EXPECT_EQ(format_syslog_message(volume),
            "CRITICAL volume eth0 score 9.3000 count 1: Traffic 9.3 MB/s");
}

TEST(Syslog, DeliversWithoutThrowing) {
  SyslogSink sink({.ident = "netsentry-test", .facility = "user"});
  EXPECT_NO_THROW(sink.deliver(scan_alert()));
}

}  // namespace
}  // namespace netsentry::store
