// Provides detect::AlertAggregator, which folds repeats so a flood does not become a million
// alerts. Policy, per (kind, subject) and per window (default 60 s of packet time, from the first
// occurrence):
//  * the first alert is emitted immediately, as is;
//  * later ones are folded in: count += their count, last_ns and the score/severity maxima are
//    updated, and the newest reason/evidence kept;
//  * a repeat with a higher severity than the last emitted one is emitted at once as an update
//    (escalations must not wait for the window to close);
//  * when the window closes (advance(), a later alert past the window, eviction or flush()) and
//    repeats were folded since the last emission, one update is emitted carrying the window's
//    totals: time_ns of the first occurrence, count of all alerts in the window.
// An update is a full Alert with the same kind, subject and time_ns as the first emission and a
// larger count, so sinks may show it as a new row or upsert on (kind, subject, time_ns).
// The subject is src/dst address, dst port, protocol and interface (not the source port, which
// changes with every connection; nor the destination port for kinds_without_port). Past
// max_subjects_per_kind new subjects of one kind in a window, that kind's further alerts fold
// into one subject-less "alert flood" alert. At most max_open subjects are tracked; when full, the oldest
// window is closed early (and counted).
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "detect/alert.h"

namespace netsentry::detect {

struct AggregatorOptions {
  std::int64_t window_ns = 60'000'000'000;
  std::size_t max_open = 4'096;
  // At most this many distinct subjects of one kind start an alert per window; beyond it, alerts
  // of that kind fold into one "alert flood" alert of the kind (no subject) with their count, so
  // a million spoofed sources still give a handful of alerts. 0 = no limit.
  std::size_t max_subjects_per_kind = 50;
  // Kinds whose subject ignores the destination port (one alert per host pair, e.g. an ML
  // verdict on every port of a scan).
  std::vector<std::string> kinds_without_port = {"flow_anomaly"};
};

struct AggregatorStats {
  std::uint64_t overflowed = 0;  // alerts folded into a per-kind flood alert
  std::uint64_t received = 0;
  std::uint64_t emitted = 0;
  std::uint64_t folded = 0;        // alerts absorbed into an open window
  std::uint64_t closed_early = 0;  // windows closed because max_open was reached
  std::size_t open = 0;
};

class AlertAggregator final {
 public:
  // Throws core::Error when window_ns or max_open is not positive.
  explicit AlertAggregator(AggregatorOptions options = {});
  ~AlertAggregator();
  AlertAggregator(const AlertAggregator&) = delete;
  AlertAggregator& operator=(const AlertAggregator&) = delete;

  // Takes one alert (time_ns is its packet time); appends what must go out now.
  void add(const Alert& alert, std::vector<Alert>& out);
  // Closes the windows that ended by now_ns, appending their updates.
  void advance(std::int64_t now_ns, std::vector<Alert>& out);
  // Closes every window (end of input / shutdown).
  void flush(std::vector<Alert>& out);

  [[nodiscard]] AggregatorStats stats() const;

 private:
  struct Open;
  struct Index;
  void close(Open& open, std::vector<Alert>& out);

  struct KindBudget {
    std::int64_t window_start = 0;
    std::size_t subjects = 0;
  };

  AggregatorOptions options_;
  std::unordered_map<std::string, KindBudget> budgets_;  // one per kind seen (a handful)
  std::list<Open> open_;  // by window start, oldest first
  std::unique_ptr<Index> index_;
  AggregatorStats stats_;
};

}  // namespace netsentry::detect
