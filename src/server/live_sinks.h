// Provides server::LiveSinks, how the detection stage feeds the dashboard's live state: alerts
// (each delivery replaces the alert of that id), finished flows for the flows table, top lists and
// the score timeline (each second's highest ensemble score), and the riskiest host profiles.
// Thread rules: the stage calls it from its thread; LiveState is thread-safe.
#pragma once

#include "detect/sinks.h"
#include "server/live_state.h"

namespace netsentry::server {

class LiveSinks final : public detect::AlertSink,
                        public detect::FlowVerdictSink,
                        public detect::HostRiskSink {
 public:
  explicit LiveSinks(LiveState& live) : live_(live) {}

  void on_alert(const detect::Alert& alert, detect::AlertChange change) override;
  void on_flows(std::span<const flow::FlowRecord> flows,
                std::span<const detect::FlowVerdict> verdicts, float threshold) override;
  void on_host_risks(std::vector<detect::HostRisk> hosts) override;

 private:
  LiveState& live_;
};

}  // namespace netsentry::server
