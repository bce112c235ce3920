#include "server/live_sinks.h"

#include <algorithm>

namespace netsentry::server {

void LiveSinks::on_alert(const detect::Alert& alert, detect::AlertChange /*change*/) {
  (void)live_.add_alert(alert);
}

void LiveSinks::on_flows(std::span<const flow::FlowRecord> flows,
                         std::span<const detect::FlowVerdict> verdicts, float threshold) {
  // Flows table and top lists; the timeline gets each second's highest ensemble score.
  std::int64_t second = INT64_MIN;
  ScorePoint peak;
  for (std::size_t i = 0; i < flows.size(); ++i) {
    const bool scored = i < verdicts.size() && verdicts[i].scored;
    live_.add_flow(flow_row(flows[i],
                            scored ? std::optional<float>(verdicts[i].score) : std::nullopt,
                            scored && verdicts[i].evidence));
    if (!scored) continue;
    const std::int64_t s = flows[i].end_ns / 1'000'000'000;
    if (s != second) {
      if (second != INT64_MIN) live_.add_score(peak);
      second = s;
      peak = {s * 1000, verdicts[i].score, threshold, 0};
    }
    peak.score = std::max(peak.score, verdicts[i].score);
  }
  if (second != INT64_MIN) live_.add_score(peak);
}

void LiveSinks::on_host_risks(std::vector<detect::HostRisk> hosts) {
  live_.set_hosts(std::move(hosts));
}

}  // namespace netsentry::server
