#include "server/dashboard_source.h"

#include <algorithm>
#include <array>
#include <thread>

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

}  // namespace netsentry::server
