#include "core/time_format.h"

#include <fmt/format.h>

#include <ctime>

namespace netsentry::core {
namespace {

struct UtcParts {
  int year;
  unsigned month, day, hour, minute, second;
  std::int64_t ns;  // within the second, 0..999,999,999
};

// Calendar arithmetic (std::chrono's civil calendar) rather than gmtime_r: no time zone state,
// and it cannot fail for any 64-bit nanosecond count.
UtcParts utc_parts(std::int64_t ns) {
  using namespace std::chrono;
  const sys_time<nanoseconds> time{nanoseconds(ns)};
  const sys_days day = floor<days>(time);
  const year_month_day date{day};
  const hh_mm_ss<nanoseconds> clock{time - day};
  return {static_cast<int>(date.year()),
          static_cast<unsigned>(date.month()),
          static_cast<unsigned>(date.day()),
          static_cast<unsigned>(clock.hours().count()),
          static_cast<unsigned>(clock.minutes().count()),
          static_cast<unsigned>(clock.seconds().count()),
          clock.subseconds().count()};
}

}  // namespace

std::int64_t epoch_ns(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

std::string format_utc(std::int64_t ns) {
  const UtcParts p = utc_parts(ns);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", p.year, p.month, p.day, p.hour,
                     p.minute, p.second, p.ns / 1'000'000);
}

std::string format_utc(std::chrono::system_clock::time_point time) {
  return format_utc(epoch_ns(time));
}

std::string format_utc_now() { return format_utc(std::chrono::system_clock::now()); }

std::string format_eve_time(std::int64_t ns) {
  const UtcParts p = utc_parts(ns);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+0000", p.year, p.month, p.day,
                     p.hour, p.minute, p.second, p.ns / 1000);
}

std::string format_python_local(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto seconds = floor<std::chrono::seconds>(time);
  const auto micros = duration_cast<microseconds>(time - seconds).count();
  const std::time_t whole = system_clock::to_time_t(seconds);
  std::tm local{};
  ::localtime_r(&whole, &local);
  std::string text =
      fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", local.tm_year + 1900, local.tm_mon + 1,
                  local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec);
  if (micros != 0) text += fmt::format(".{:06}", micros);
  return text;
}

}  // namespace netsentry::core
