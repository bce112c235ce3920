// Provides the one place netsentry turns a point in time into text:
//  * format_utc(): RFC 3339 UTC with milliseconds ("2026-12-03T21:31:56.123Z"), the time of every
//    alert, API answer, webhook body, syslog-bound JSON, file and manifest written by netsentry;
//  * format_eve_time(): Suricata's EVE timestamp ("2026-12-03T21:31:56.123456+0000"), which
//    Elastic's, Wazuh's and Splunk's EVE pipelines parse;
//  * epoch_ms() / epoch_ns(): the API's milliseconds and the pipeline's nanoseconds;
//  * format_python_local(): the seed-compatible CSV files' local time, as the original Python
//    project's str(datetime.now()) printed it ("2026-12-03 22:31:56.123456"); kept for that
//    contract only.
// Times before 1970 are floored (1969-12-31T23:59:59.999Z for -1 ns), never mirrored.
// Thread rules: pure functions (format_python_local reads the process's time zone), any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace netsentry::core {

// Nanoseconds since the Unix epoch to whole milliseconds (floored).
[[nodiscard]] constexpr std::int64_t epoch_ms(std::int64_t ns) {
  return ns >= 0 ? ns / 1'000'000 : -((-(ns + 1)) / 1'000'000) - 1;
}
[[nodiscard]] std::int64_t epoch_ns(std::chrono::system_clock::time_point time);

// "2026-12-03T21:31:56.123Z" for `ns` since the Unix epoch.
[[nodiscard]] std::string format_utc(std::int64_t ns);
[[nodiscard]] std::string format_utc(std::chrono::system_clock::time_point time);
// The wall clock now, as format_utc.
[[nodiscard]] std::string format_utc_now();

// "2026-12-03T21:31:56.123456+0000": microseconds and a numeric offset, as Suricata writes it
// (always UTC here).
[[nodiscard]] std::string format_eve_time(std::int64_t ns);

// "2026-12-03 22:31:56.123456" in local time; like Python, the fraction is left out when it is
// exactly zero ("2026-12-03 22:31:56").
[[nodiscard]] std::string format_python_local(std::chrono::system_clock::time_point time);

}  // namespace netsentry::core
