// Provides the human summaries printed by `flows` and `monitor`: packets, flows, malformed by
// reason, evictions, time and rate; and the flow-table settings built from the command line.
#pragma once

#include <string>

#include "app/commands.h"
#include "flow/flow_meter.h"
#include "flow/flow_table.h"
#include "net/packet.h"

namespace netsentry::app {

// The summary of a metered input: packets, the accounting line (every packet is in a flow or
// counted under a named reason), flows by end reason, tunnels, fragments, malformed by reason,
// evictions, time and rate.
[[nodiscard]] std::string format_flow_summary(const flow::FlowMeter& meter, double seconds);
// The summary parts that do not need a meter (monitor's pipeline statistics).
[[nodiscard]] std::string format_flow_summary(const net::DecodeStats& decode,
                                              const flow::FlowStats& flows, double seconds);
// "1,203 not in flows: 1,100 arp, 90 stp, 13 unsupported_link_type (ieee802_15_4_withfcs 13)".
[[nodiscard]] std::string format_not_in_flows(const net::DecodeStats& decode);
// "N in flood summaries (M flooded destinations) + " (flow/flood_guard.h), empty when N is 0.
[[nodiscard]] std::string format_flood_summarized(const flow::FloodGuardStats& flood);

// The flow table and meter settings derived from the command line (shared by flows and monitor).
[[nodiscard]] flow::FlowConfig make_flow_config(const FlowOptions& options);
[[nodiscard]] flow::MeterConfig make_meter_config(const FlowOptions& options);

}  // namespace netsentry::app
