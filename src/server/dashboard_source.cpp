#include "server/dashboard_source.h"

#include <algorithm>
#include <array>
#include <thread>

#include "detect/alert.h"

namespace netsentry::server {

std::optional<FlowSort> parse_flow_sort(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, FlowSort>, 5> kNames = {{
      {"last", FlowSort::kLast},
      {"bytes", FlowSort::kBytes},
      {"packets", FlowSort::kPackets},
      {"score", FlowSort::kScore},
      {"duration", FlowSort::kDuration},
  }};
  for (const auto& [name, sort] : kNames) {
    if (name == text) return sort;
  }
  return std::nullopt;
}

EventBatch events_after(const std::deque<Event>& ring, std::uint64_t last_seq,
                        std::uint64_t after_seq, std::size_t max_events) {
  EventBatch batch;
  batch.last_seq = last_seq;
  if (after_seq > last_seq) {
    // A seq from a previous run of the server (the browser kept its Last-Event-ID).
    batch.gap = true;
    return batch;
  }
  const std::uint64_t oldest = ring.empty() ? last_seq + 1 : ring.front().seq;
  if (after_seq + 1 < oldest) batch.gap = true;
  const std::uint64_t start = std::max(after_seq + 1, oldest);
  for (std::uint64_t seq = start; seq <= last_seq && batch.events.size() < max_events; ++seq) {
    batch.events.push_back(ring[seq - oldest]);
  }
  return batch;
}

bool DashboardSource::wait_for_events(std::uint64_t after_seq, std::chrono::milliseconds timeout,
                                      std::stop_token stop) const {
  // Short sleeps keep shutdown prompt; a store-backed source is polled at most 5 times a second.
  constexpr auto kStep = std::chrono::milliseconds(200);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!stop.stop_requested()) {
    if (events_since(after_seq, 0).last_seq > after_seq) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(kStep, deadline - now));
  }
  return false;
}

void sort_flows(std::vector<FlowRow>& rows, std::size_t limit, FlowSort sort) {
  const auto by = [sort](const FlowRow& a, const FlowRow& b) {
    switch (sort) {
      case FlowSort::kBytes:
        return a.bytes > b.bytes;
      case FlowSort::kPackets:
        return a.packets > b.packets;
      case FlowSort::kScore:
        return a.score.value_or(-1e30F) > b.score.value_or(-1e30F);
      case FlowSort::kDuration:
        return a.last_ms - a.first_ms > b.last_ms - b.first_ms;
      case FlowSort::kLast:
        break;
    }
    return a.last_ms > b.last_ms;
  };
  const std::size_t n = std::min(limit, rows.size());
  std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(n), rows.end(), by);
  rows.resize(n);
}

namespace {

// How many rows the default find_flows / find_alerts narrow: more than any source keeps.
constexpr std::size_t kScanRows = 100000;

bool names(const net::IpAddress& ip, const std::string& host) {
  return ip.family != 0 && ip.to_string() == host;
}

}  // namespace

bool RowFilter::matches(const FlowRow& flow) const {
  if (flow.last_ms < from_ms || flow.last_ms > to_ms) return false;
  return host.empty() || flow.src_ip == host || flow.dst_ip == host;
}

bool RowFilter::matches(const detect::Alert& alert) const {
  if (alert.last_ns / 1'000'000 < from_ms || alert.time_ns / 1'000'000 > to_ms) return false;
  return host.empty() || names(alert.host, host) || names(alert.src_ip, host) ||
         names(alert.dst_ip, host);
}

std::vector<FlowRow> DashboardSource::find_flows(const RowFilter& filter, std::size_t limit,
                                                 FlowSort sort) const {
  std::vector<FlowRow> rows = flows(kScanRows, sort);
  std::erase_if(rows, [&](const FlowRow& f) { return !filter.matches(f); });
  if (rows.size() > limit) rows.resize(limit);
  return rows;
}

std::vector<detect::Alert> DashboardSource::find_alerts(
    const RowFilter& filter, std::optional<detect::Severity> min_severity,
    std::size_t limit) const {
  std::vector<detect::Alert> rows = alerts(0, min_severity, kScanRows);
  std::erase_if(rows, [&](const detect::Alert& a) { return !filter.matches(a); });
  if (rows.size() > limit) rows.resize(limit);
  return rows;
}

}  // namespace netsentry::server
