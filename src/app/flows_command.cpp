// `netsentry flows`: capture files -> flow records, single-threaded (read, decode, flow table,
// format) so that one core does the whole job without handing packets between threads.
#include <chrono>
#include <cstdio>
#include <optional>

#include "app/commands.h"
#include "app/flow_output.h"
#include "app/summary.h"
#include "capture/packet_source.h"
#include "core/error.h"
#include "core/signals.h"
#include "eval/episode_labels.h"
#include "flow/flow_meter.h"
#include "fmt/format.h"
#include "net/decoder.h"
#include "spdlog/spdlog.h"

namespace netsentry::app {

flow::FlowConfig make_flow_config(const FlowOptions& o) {
  flow::FlowConfig config = o.cic ? flow::FlowConfig::cic() : flow::FlowConfig{};
  config.idle_timeout = std::chrono::nanoseconds(static_cast<std::int64_t>(o.idle_timeout_s * 1e9));
  // --cic sets 120 s unless the user asked for another active timeout.
  if (!o.cic || o.active_timeout_s != FlowOptions{}.active_timeout_s) {
    config.active_timeout =
        std::chrono::nanoseconds(static_cast<std::int64_t>(o.active_timeout_s * 1e9));
  }
  config.max_flows = o.max_flows;
  config.first_packets = static_cast<std::size_t>(o.first_packets);
  config.linger = std::chrono::nanoseconds(static_cast<std::int64_t>(o.linger_s * 1e9));
  config.flood_summary_rate = o.flood_summary_rate;
  return config;
}

flow::MeterConfig make_meter_config(const FlowOptions& o) {
  flow::MeterConfig config;
  config.decapsulate = !o.no_tunnels;
  config.reassemble = !o.no_reassembly;
  return config;
}

int run_flows(const FlowsOptions& options) {
  core::StopSignals signals;
  // --labels: each flow's episode kind (or BENIGN), counted for the summary.
  std::optional<eval::EpisodeLabels> labels;
  std::vector<std::uint64_t> labelled;
  std::uint64_t benign = 0;
  FlowLabeller labeller;
  if (!options.labels.empty()) {
    labels = eval::EpisodeLabels::load(options.labels);
    labelled.assign(labels->size(), 0);
    labeller = [&labels, &labelled, &benign](const flow::FlowRecord& f) -> std::string_view {
      const auto episode = labels->match_flow(f);
      if (!episode) {
        ++benign;
        return eval::kBenignLabel;
      }
      ++labelled[*episode];
      return labels->episodes()[*episode].kind;
    };
  }
  FlowFileSink sink(options.output,
                    options.format == "jsonl" ? FlowFormat::kJsonl : FlowFormat::kCsv, false,
                    std::move(labeller));
  flow::FlowMeter meter(make_flow_config(options.flow), make_meter_config(options.flow), sink);
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t capture_errors = 0;

  for (const auto& input : options.inputs) {
    if (signals.token().stop_requested()) break;
    auto source = capture::open_file(input, options.filter);
    capture::RawPacket raw;
    std::uint64_t n = 0;
    // The meter decodes into a batch that reaches the flow table 64 packets at a time, so the
    // table can prefetch flow state for the next ones.
    while (source->next(raw) == capture::ReadStatus::kPacket) {
      meter.add_frame(raw.link, raw.bytes, raw.wire_len, raw.ts_ns);
      if ((++n & 0xFFFF) == 0 && signals.token().stop_requested()) break;
    }
    meter.sync();
    if (!source->error().empty()) {
      // Keep what was read (the flows are still written) and say what went wrong.
      spdlog::warn("{}", source->error());
      ++capture_errors;
    }
  }
  meter.flush();
  sink.flush();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!options.quiet) {
    std::fputs(format_flow_summary(meter, seconds).c_str(), stderr);
    if (labels) {
      std::string text = fmt::format("labels ({}): {} BENIGN", options.labels, benign);
      for (std::size_t i = 0; i < labelled.size(); ++i) {
        const eval::Episode& e = labels->episodes()[i];
        text += fmt::format(", {} {} (from {})", labelled[i], e.kind, e.src_text);
      }
      std::fprintf(stderr, "%s\n", text.c_str());
    }
  }
  if (capture_errors) {
    spdlog::warn("{} capture file(s) ended with a read error; flows up to the error were written",
                 capture_errors);
  }
  return capture_errors ? core::kExitFailure : core::kExitOk;
}

}  // namespace netsentry::app
