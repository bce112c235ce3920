#include "app/evaluate_pcap.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "app/capture_pipeline.h"
#include "app/detection_setup.h"
#include "app/summary.h"
#include "capture/packet_source.h"
#include "core/error.h"
#include "eval/episode_labels.h"
#include "ml/bundle.h"

namespace netsentry::app {
namespace {

// The replay's output folder: the user's, or a temporary one removed afterwards.
class OutputDir final {
 public:
  explicit OutputDir(const std::filesystem::path& wanted) {
    if (!wanted.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(wanted, ec);
      if (ec) throw core::Error(fmt::format("--out {}: {}", wanted.string(), ec.message()));
      path_ = wanted;
      return;
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "netsentry-eval-XXXXXX");
    if (!::mkdtemp(pattern.data())) {
      throw core::Error("evaluate --pcap: cannot create a temporary folder in " +
                        std::filesystem::temp_directory_path().string());
    }
    path_ = pattern;
    temporary_ = true;
  }
  ~OutputDir() {
    if (!temporary_) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  bool temporary_ = false;
};

// monitor's detection settings for a replay, minus the store and the delivery sinks. The site
// baseline is learned from the capture's first --warmup minutes and not saved, or, with
// --baseline-dir, one that monitor saved is used from the first flow: a copy of it in `out`, so
// the replay's refreshes never change the original.
detect::DetectionOptions replay_detection(const MonitorOptions& o,
                                          const std::filesystem::path& out) {
  if (o.no_model == !o.model.empty()) {
    throw core::Error(o.no_model ? "evaluate --pcap: -m/--model and --no-model exclude each other"
                                 : "evaluate --pcap: give -m/--model DIR, or --no-model to "
                                   "evaluate the rules and detectors only");
  }
  detect::DetectionOptions d =
      detection_options(o, o.no_model ? std::filesystem::path() : std::filesystem::path(o.model),
                        /*replay=*/true);
  d.site.dir.clear();
  if (o.baseline_dir.empty()) return d;
  const std::filesystem::path given(o.baseline_dir);
  if (!d.site_baseline) {
    throw core::Error(fmt::format(
        "evaluate --pcap: --baseline-dir {} needs a model (-m) and --warmup above 0 (the site "
        "baseline only checks what a model flags)",
        given.string()));
  }
  std::error_code ec;
  if (!std::filesystem::exists(given / "manifest.json", ec)) {
    throw core::Error(fmt::format(
        "--baseline-dir {}: no saved baseline there (no manifest.json; monitor saves one in "
        "<out>/baseline or its --baseline-dir once --warmup minutes of traffic were seen)",
        given.string()));
  }
  const std::filesystem::path copy = out / "site-baseline";
  std::filesystem::remove_all(copy, ec);
  std::filesystem::copy(given, copy, std::filesystem::copy_options::recursive, ec);
  if (ec) {
    throw core::Error(fmt::format("--baseline-dir {}: cannot copy it to {}: {}", given.string(),
                                  copy.string(), ec.message()));
  }
  // The stage would learn a baseline that does not load afresh (monitor's choice on restart);
  // an evaluation that asked for this one says why it cannot have it.
  try {
    (void)ml::Bundle::load(copy, 1);
  } catch (const core::Error& e) {
    throw core::Error(
        fmt::format("--baseline-dir {}: not a usable baseline: {}", given.string(), e.what()));
  }
  d.site.dir = copy;
  return d;
}

// What the replay's site baseline was, for the report: `loaded` is its description before the
// first packet (empty unless it was loaded).
std::string site_state(const detect::DetectionOptions& d, const MonitorOptions& o,
                       const std::string& loaded, const detect::DetectionStats& end) {
  if (!d.site_baseline) return "off";
  // A baseline learned from the capture counts its first fit among its fits.
  const std::uint64_t n = loaded.empty() && end.site_fits > 0 ? end.site_fits - 1 : end.site_fits;
  const std::string refits =
      n == 0 ? std::string()
             : fmt::format(", refitted {} time{} on the capture's flows (every {:g} minutes)", n,
                           n == 1 ? "" : "s", o.warmup_minutes);
  if (!loaded.empty()) return fmt::format("{} (a copy of {}){}", loaded, o.baseline_dir, refits);
  if (end.site_ready) {
    return fmt::format("learned from the capture's first {:g} minutes{}", o.warmup_minutes, refits);
  }
  return fmt::format(
      "still learning at the end (it needs {:g} minutes of packet time and 200 flows)",
      o.warmup_minutes);
}

}  // namespace

eval::PcapEvaluation evaluate_pcap(const PcapEvaluationOptions& options, std::stop_token stop) {
  const eval::EpisodeLabels labels = eval::EpisodeLabels::load(options.labels);
  if (labels.size() == 0) {
    spdlog::warn("{}: no episodes; every flow is benign and every alert false",
                 options.labels.string());
  }
  const OutputDir out(options.out_dir);
  eval::PcapEvaluator evaluator(labels);
  store::AlertLogOptions lo;
  lo.directory = out.path();
  store::AlertLog alert_log(lo);
  detect::DetectionOutputs sinks;
  sinks.alerts = {&alert_log, &evaluator};
  sinks.flows = {&evaluator};
  const detect::DetectionOptions detection = replay_detection(options.detection, out.path());
  detect::DetectionStage stage(detection, sinks);
  const std::string loaded = stage.site_description();
  if (!options.detection.baseline_dir.empty() && loaded.empty()) {
    throw core::Error(fmt::format("--baseline-dir {}: the site baseline did not load (see above)",
                                  options.detection.baseline_dir));
  }
  // A bundle that does not load is an error of this command, reported before the replay.
  stage.wait_for_model();

  // The hooks of monitor --pcap, with the evaluator told the packet time first.
  PipelineHooks hooks;
  hooks.sightings = [&stage, &evaluator](std::span<const net::Sighting> sightings) {
    evaluator.observe_time(sightings.back().ts_ns);
    stage.on_sightings(sightings);
  };
  hooks.events = [&stage, &evaluator](std::span<const flow::FlowEvent> events) {
    evaluator.observe_time(events.back().ts_ns);
    stage.on_flow_events(events);
  };
  hooks.progress = [&stage](std::span<const flow::FlowRecord> records) {
    stage.on_flow_progress(records);
  };
  hooks.floods = [&stage, &evaluator](std::span<const flow::FloodSummary> floods) {
    for (const flow::FloodSummary& f : floods) evaluator.observe_flood(f);
    stage.on_flood_summaries(floods);
  };
  hooks.flows = [&stage, &evaluator](std::span<const flow::FlowRecord> flows, bool interim) {
    evaluator.observe_flows(flows);
    stage.on_flows(flows, interim);
  };
  hooks.advance = [&stage, &evaluator](std::int64_t now_ns) {
    evaluator.observe_time(now_ns);
    stage.advance(now_ns);
  };
  hooks.traffic = [&stage](const host::TrafficSample& s) { stage.on_traffic(s); };
  PipelineOptions popts;
  popts.lossless = true;
  popts.speed = 0;
  popts.capture_series = true;
  popts.ongoing_after_s = options.detection.ongoing_after_s;
  popts.meter = make_meter_config(options.detection.flow);
  CapturePipeline pipeline(capture::open_file(options.pcap.string(), options.detection.filter),
                           monitor_flow_config(options.detection),
                           (out.path() / "flows.csv").string(), popts, std::move(hooks));
  const auto started = std::chrono::steady_clock::now();
  pipeline.start();
  while (!stop.stop_requested() && !pipeline.input_ended()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pipeline.stop();
  stage.finish();
  if (stop.stop_requested()) throw core::Error("evaluate --pcap: interrupted");
  // A capture that cannot be read to its end gives no trustworthy evaluation.
  if (const std::string error = pipeline.input_error(); !error.empty()) throw core::Error(error);
  const PipelineStats stats = pipeline.stats();
  spdlog::info("evaluate: replayed {} packets into {} flows in {:.2f} s", stats.capture.received,
               stats.flows_written,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());

  eval::PcapEvaluation r = evaluator.result();
  r.capture = options.pcap.string();
  r.labels = options.labels.string();
  r.model = stage.model_description();
  r.site_baseline = site_state(detection, options.detection, loaded, stage.stats());
  r.packets = stats.capture.received;
  return r;
}

}  // namespace netsentry::app
