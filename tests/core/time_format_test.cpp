#include "core/time_format.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <optional>
#include <string>

namespace netsentry::core {
namespace {

using std::chrono::microseconds;
using std::chrono::seconds;
using Clock = std::chrono::system_clock;

// 2026-11-23 23:45:01 UTC.
constexpr std::int64_t kNs = 1795477501'000000000;
const Clock::time_point kTime = Clock::time_point(seconds(1795477501));

// Sets TZ for one test and restores it, so other tests in this binary see the usual zone.
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const char* zone) {
    if (const char* old = ::getenv("TZ")) old_ = old;
    ::setenv("TZ", zone, 1);
    ::tzset();
  }
  ~ScopedTimeZone() {
    if (old_) {
      ::setenv("TZ", old_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

 private:
  std::optional<std::string> old_;
};

TEST(TimeFormat, FormatsRfc3339UtcWithMilliseconds) {
  EXPECT_EQ(format_utc(kNs + 123'456'789), "2026-11-23T23:45:01.123Z");
  EXPECT_EQ(format_utc(1'499'344'746'818'901'000), "2017-07-06T12:39:06.818Z");
  EXPECT_EQ(format_utc(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_utc(kTime + microseconds(999'999)), "2026-11-23T23:45:01.999Z");
}

TEST(TimeFormat, IgnoresTheLocalTimeZone) {
  ScopedTimeZone plus_two("UTC-2");
  EXPECT_EQ(format_utc(kNs), "2026-11-23T23:45:01.000Z");
  EXPECT_EQ(format_eve_time(kNs), "2026-11-23T23:45:01.000000+0000");
}

TEST(TimeFormat, FloorsTimesBeforeTheEpoch) {
  EXPECT_EQ(format_utc(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(epoch_ms(-1), -1);
  EXPECT_EQ(epoch_ms(-1'000'000), -1);
  EXPECT_EQ(epoch_ms(-1'000'001), -2);
}

TEST(TimeFormat, HandlesLeapDaysAndYearEnds) {
  EXPECT_EQ(format_utc(951'782'400'000'000'000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(format_utc(1'798'761'599'999'000'000), "2026-12-31T23:59:59.999Z");
}

TEST(TimeFormat, EpochMillisecondsAreWholeAndFloored) {
  EXPECT_EQ(epoch_ms(kNs + 999'999), 1795477501000);
  EXPECT_EQ(epoch_ms(kNs + 1'000'000), 1795477501001);
  EXPECT_EQ(epoch_ns(kTime + microseconds(5)), kNs + 5'000);
}

TEST(TimeFormat, EveTimeHasMicrosecondsAndANumericOffsetAsSuricataWritesIt) {
  EXPECT_EQ(format_eve_time(kNs + 123'456'789), "2026-11-23T23:45:01.123456+0000");
}

TEST(TimeFormat, UtcNowIsTheWallClock) {
  const std::string now = format_utc_now();
  ASSERT_EQ(now.size(), 24u) << now;
  EXPECT_EQ(now.substr(0, 4), format_utc(Clock::now()).substr(0, 4));
  EXPECT_EQ(now.back(), 'Z');
}

TEST(TimeFormat, PythonLocalTimeIsLikeDatetimeStr) {
  ScopedTimeZone utc("UTC");
  EXPECT_EQ(format_python_local(kTime + microseconds(123456)), "2026-11-23 23:45:01.123456");
  EXPECT_EQ(format_python_local(kTime + microseconds(7)), "2026-11-23 23:45:01.000007");
}

TEST(TimeFormat, PythonLocalTimeOmitsAZeroFractionAsPythonDoes) {
  ScopedTimeZone utc("UTC");
  EXPECT_EQ(format_python_local(kTime), "2026-11-23 23:45:01");
}

TEST(TimeFormat, PythonLocalTimeUsesTheLocalTimeZone) {
  ScopedTimeZone plus_two("UTC-2");  // POSIX spelling of UTC+2
  EXPECT_EQ(format_python_local(kTime + microseconds(500000)), "2026-11-24 01:45:01.500000");
}

}  // namespace
}  // namespace netsentry::core
