#include "server/top_window.h"

#include <algorithm>

namespace netsentry::server {

namespace {

std::int64_t hour_of(std::int64_t ns) {
  // Floor division: a time before 1970 belongs to the hour that starts before it.
  return ns >= 0 ? ns / TopWindow::kHourNs : -((-ns + TopWindow::kHourNs - 1) / TopWindow::kHourNs);
}

}  // namespace

store::StoreReader::TopAll TopWindow::lists(std::int64_t since_ns, std::size_t limit) {
  std::lock_guard lock(mutex_);
  const std::int64_t since_hour = hour_of(since_ns);
  const auto count = [this](const store::TopFlow& f) {
    const std::int64_t hour = hour_of(f.end_ns);
    if (hour < first_hour_) return;  // a late flow of an hour the window has left
    hours_[hour].add(f);
    if (summed_ && hour >= summed_from_) sum_.add(f);
    ++flows_counted_;
  };
  const std::int64_t newest_id = reader_.newest_flow_id();
  if (!built_ || since_hour < first_hour_ || newest_id < cursor_) {
    // First call, a window reaching further back, or a store emptied under us: add it all up.
    built_ = false;  // until the count is whole (a read error leaves it to the next call)
    summed_ = false;
    hours_.clear();
    first_hour_ = since_hour;
    cursor_ = newest_id;
    reader_.visit_top_flows(first_hour_ * kHourNs, INT64_MAX, cursor_, count);
    built_ = true;
  } else {
    // In id order: after a read error the cursor is at the last flow counted.
    (void)reader_.visit_top_flows_after(cursor_, [&](const store::TopFlow& f) {
      count(f);
      cursor_ = f.id;
    });
  }

  // Hours after the first one the store holds whole come from memory; before them, the flows.
  std::int64_t exact_from = since_ns;
  if (const auto oldest = reader_.oldest_flow_end(); oldest && *oldest > exact_from) {
    exact_from = *oldest;  // housekeeping removed the flows that ended before this
  }
  const std::int64_t whole_from = hour_of(exact_from) + 1;
  if (!summed_ || whole_from < summed_from_) {
    sum_ = store::TopCounts{};
    for (auto it = hours_.lower_bound(whole_from); it != hours_.end(); ++it) sum_.merge(it->second);
    summed_ = true;
  } else {
    // The window moved on: the hours it left go out of the sum.
    for (auto it = hours_.lower_bound(summed_from_); it != hours_.end() && it->first < whole_from;
         ++it) {
      sum_.subtract(it->second);
    }
  }
  summed_from_ = whole_from;
  first_hour_ = since_hour;
  hours_.erase(hours_.begin(), hours_.lower_bound(first_hour_));

  store::TopCounts partial;
  reader_.visit_top_flows(exact_from, whole_from * kHourNs, INT64_MAX,
                          [&](const store::TopFlow& f) { partial.add(f); });
  sum_.merge(partial);
  store::StoreReader::TopAll all{sum_.heaviest_sources(limit), sum_.heaviest_ports(limit),
                                 sum_.heaviest_protocols(limit)};
  sum_.subtract(partial);
  return all;
}

std::uint64_t TopWindow::flows_counted() const {
  std::lock_guard lock(mutex_);
  return flows_counted_;
}

}  // namespace netsentry::server
