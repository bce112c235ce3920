// Provides the human summaries printed by `flows` and `monitor`: packets, flows, malformed by
// reason, evictions, time and rate; and the flow-table settings built from the command line.
#pragma once

#include <string>

#include "app/commands.h"
#include "flow/flow_table.h"
#include "net/packet.h"

namespace netsentry::app {

[[nodiscard]] std::string format_flow_summary(const net::DecodeStats& decode,
                                              const flow::FlowStats& flows, double seconds);

// The flow table settings derived from the command line (shared by flows and monitor).
[[nodiscard]] flow::FlowConfig make_flow_config(const FlowOptions& options);

}  // namespace netsentry::app
