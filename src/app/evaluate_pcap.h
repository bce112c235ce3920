// Provides `evaluate --pcap`'s run: a labelled capture (the lab's capture.pcap + labels.csv)
// replayed through monitor's own CapturePipeline and DetectionStage (as `monitor --pcap F --speed
// max`, without the dashboard and the SQLite store) into an eval::PcapEvaluator, which judges it
// (eval/pcap_evaluation.h says how).
// Thread rules: evaluate_pcap() from one thread, which it blocks until the replay ends.
#pragma once

#include <filesystem>
#include <stop_token>

#include "app/commands.h"
#include "eval/pcap_evaluation.h"

namespace netsentry::app {

struct PcapEvaluationOptions {
  std::filesystem::path pcap;
  std::filesystem::path labels;
  // Detection and flow settings as `monitor` takes them: model, no_model, threads, filter, flow,
  // suppress, volume rules, ongoing_after_s, early verdicts, the host detector thresholds and
  // windows, the alert threshold, warmup (this network's baseline, learned in packet time and not
  // saved), baseline_dir (instead, a baseline monitor saved, used from the first flow: a copy in
  // the output folder, so the original never changes). The dashboard, store, host recorder and
  // delivery options are not used.
  MonitorOptions detection;
  // Where the replay writes flows.csv and alerts.csv (and evaluation.json is written by the
  // command); empty = a temporary folder, removed afterwards.
  std::filesystem::path out_dir;
};

// Replays the capture and judges it. Throws core::Error for an unreadable capture, labels file
// or model bundle, for neither a model nor no_model, and when `stop` is requested before the end.
[[nodiscard]] eval::PcapEvaluation evaluate_pcap(const PcapEvaluationOptions& options,
                                                 std::stop_token stop = {});

}  // namespace netsentry::app
