// Provides detect::DetectionStage, the live detection stage of `monitor` (and of `evaluate
// --pcap`): it takes what the capture pipeline's flow thread produces — flow events (first packet,
// first reply, the initiator's answer), progress reports of open flows, interim reports of
// long-lived ones, finished flows, packet-time ticks — and the per-second traffic samples, hands
// them to the detectors (one per rule, detect/detector.h), turns connection attempts into outcomes
// for the scan and flood detectors (AttemptTracker), drops suppressed evidence, accumulates the
// rest per host (Profiles) and delivers alerts, scored flows, traffic samples, host risks and the
// model in use through the sinks of detect/sinks.h. It owns the model bundle (loaded on its own
// thread while the pipeline starts), this network's baseline (SiteBaseline) and the traffic
// forecaster. Thread rules: on_flow_events(), on_flow_progress(), on_flows() and advance() from one
// thread (the pipeline's stage thread); on_traffic() from any thread; everything is serialised by
// `mutex_`, so a replay's deliveries depend on packet order only. stats() and wait_for_model() from
// any thread. finish() once, after the producers stopped.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "detect/attempt_tracker.h"
#include "detect/detector.h"
#include "detect/forecast_detector.h"
#include "detect/host_detectors.h"
#include "detect/ml_flow_detector.h"
#include "detect/profiles.h"
#include "detect/sinks.h"
#include "detect/site_baseline.h"
#include "detect/suppression.h"
#include "detect/volume_detector.h"
#include "flow/flow_observer.h"
#include "flow/flow_record.h"
#include "host/monitor.h"
#include "ml/bundle.h"
#include "net/sighting.h"

namespace netsentry::detect {

struct DetectionOptions {
  HostDetectorOptions host;
  AttemptTrackerOptions attempts;
  ThresholdRuleOptions volume_rule;
  bool volume_baseline = true;  // learned volume evidence (median/MAD, then the forecaster)
  ForecastDetectorOptions forecast;
  // The generic model bundle (models/default or --model); empty: none.
  std::filesystem::path model_dir;
  // The traffic forecaster (`train --traffic`); empty: <model_dir>/traffic when present.
  std::filesystem::path traffic_model_dir;
  int threads = 1;  // model scoring threads
  MlDetectorOptions ml;
  // This network's baseline: on unless `site.learn_s` is 0. Without a generic model it is the
  // model (with an autoencoder when LibTorch is available: --learn-baseline).
  bool site_baseline = true;
  SiteBaselineOptions site;
  ProfileOptions profiles;
  std::vector<std::string> suppress;  // suppression rules (detect/suppression.h)
  bool live = true;  // false for replays: batches and fits depend on packet order only
  std::int64_t first_alert_id = 1;
  std::size_t riskiest_hosts = 50;  // profiles handed to the HostRiskSink
};

struct DetectionOutputs {
  std::vector<AlertSink*> alerts;
  std::vector<FlowVerdictSink*> flows;
  std::vector<TrafficSink*> traffic;
  HostRiskSink* hosts = nullptr;
  ModelSink* models = nullptr;
  std::vector<WatchedOutput> watched;
};

struct DetectionStats {
  std::uint64_t flows = 0;     // finished flows
  std::uint64_t interim = 0;   // interim reports of long-lived flows
  std::uint64_t progress = 0;  // progress reports from the flow table
  std::uint64_t events = 0;    // flow events
  std::uint64_t flood_summaries = 0;
  std::uint64_t flood_attempts = 0;  // SYNs counted in them
  std::uint64_t sightings = 0;
  std::uint64_t traffic_samples = 0;
  std::uint64_t evidence = 0;    // pieces of evidence from the detectors
  std::uint64_t suppressed = 0;  // ... dropped by suppression rules
  std::uint64_t alerts_raised = 0;
  std::uint64_t alerts_by_severity[4] = {0, 0, 0, 0};  // raised alerts, by severity when raised
  std::uint64_t deliveries = 0;
  MlDetectorStats ml;
  ProfilesStats profiles;
  AttemptTrackerStats attempts;
  bool site_ready = false;
  std::uint64_t site_fits = 0;  // the site baseline's fits adopted (a loaded one counts none)
  std::vector<std::pair<std::string, DetectorStats>> detectors;
};

class DetectionStage final {
 public:
  // Checks the bundle's manifest (ml::check_bundle_manifest) and starts loading the bundle and the
  // traffic forecaster. Throws core::Error for unusable options, suppression rules or manifest
  // (a bundle whose models fail to load is reported by wait_for_model()).
  DetectionStage(DetectionOptions options, DetectionOutputs outputs);
  ~DetectionStage();
  DetectionStage(const DetectionStage&) = delete;
  DetectionStage& operator=(const DetectionStage&) = delete;

  // Stage thread.
  // What packets said that flows do not keep (bindings, DNS questions, failed logins).
  void on_sightings(std::span<const net::Sighting> sightings);
  void on_flow_events(std::span<const flow::FlowEvent> events);
  void on_flow_progress(std::span<const flow::FlowRecord> records);
  // Flooded destinations' summaries (flow/flood_guard.h).
  void on_flood_summaries(std::span<const flow::FloodSummary> floods);
  // Finished flows (`interim` = the pipeline's interim reports of flows still open).
  void on_flows(std::span<const flow::FlowRecord> flows, bool interim);
  // Packet time moved to now_ns (closes windows, judges late attempts, delivers due updates).
  void advance(std::int64_t now_ns);
  // Any thread: one traffic sample (host counters, or the capture's own per-second series).
  void on_traffic(const host::TrafficSample& sample);
  // Scores what waits, closes every window, delivers the last updates and flushes the sinks.
  void finish();

  // Blocks until the model bundle and the traffic forecaster given at construction have loaded;
  // rethrows a load error (core::Error saying what does not match). Any thread.
  void wait_for_model();
  // Adopts the loaded bundle when no stage thread runs (no capture): after wait_for_model().
  void adopt_loaded();
  // The description of the generic model in use ("models/default"), empty when none.
  [[nodiscard]] std::string model_description() const;
  [[nodiscard]] bool has_model() const;
  // The site baseline's description ("this network's baseline, loaded from DIR" / "..., learned
  // from N flows"), empty when there is none or it is still learning.
  [[nodiscard]] std::string site_description() const;
  [[nodiscard]] DetectionStats stats() const;
  // Watches one more output (its failures become "system" alerts). Any thread, any time.
  void watch_output(WatchedOutput output);
  // The message of each watched output that is failing now. Any thread.
  [[nodiscard]] std::vector<std::string> failing_outputs();
  // Packet time the stage has reached (the newest event, flow or tick).
  [[nodiscard]] std::int64_t now_ns() const;
  // Replaces the suppression rules (the page's "suppress" and its list); evidence handled after
  // the call is matched against the new ones. Throws core::Error naming a bad rule, and then
  // keeps the old rules. Any thread.
  void set_suppression_rules(const std::vector<std::string>& rules);

 private:
  class FanOut;
  void start_loading(const std::filesystem::path& dir, std::string what, bool name_option);
  // True when the load ended (adopted or failed); waits for it when `wait`.
  bool take_loaded(bool wait);
  void take_forecaster();
  void publish_model();
  void handle(std::vector<Evidence>& evidence);
  void deliver(std::vector<AlertDelivery>& deliveries);
  void judge_attempts(std::int64_t now_ns);
  void check_outputs();
  void publish_hosts(bool force);
  void advance_locked(std::int64_t now_ns);

  DetectionOptions options_;
  DetectionOutputs outputs_;
  std::unique_ptr<FanOut> flows_out_;

  mutable std::mutex mutex_;  // guards everything below
  SuppressionRules suppression_;
  std::vector<std::unique_ptr<Detector>> detectors_;  // the rules (host detectors, volume)
  class VolumeForecastDetector* forecast_ = nullptr;  // in detectors_, when on
  std::unique_ptr<SiteBaseline> site_;
  std::unique_ptr<MlFlowDetector> ml_;
  AttemptTracker attempts_;
  Profiles profiles_;

  struct Loaded {
    std::unique_ptr<ml::Bundle> bundle;
  };
  std::shared_future<std::shared_ptr<Loaded>> loading_;      // taken by the stage thread
  std::shared_future<std::shared_ptr<Loaded>> model_ready_;  // wait_for_model()'s copy
  std::string loading_what_;
  std::shared_future<std::shared_ptr<const ml::torch::TrafficForecaster>> traffic_loading_;
  std::shared_future<std::shared_ptr<const ml::torch::TrafficForecaster>> traffic_ready_;
  std::string traffic_what_;
  static constexpr std::size_t kMaxPendingWhileLoading = 65'536;
  // Packet time a replay's site-baseline fit runs beside the packets before it is adopted.
  static constexpr double kReplaySiteAdoptS = 60;

  struct Watched {
    WatchedOutput output;
    std::uint64_t faults_reported = 0;
  };
  std::mutex watched_mutex_;  // guards watched_; taken after mutex_ when both are held
  std::vector<Watched> watched_;

  std::int64_t now_ns_ = 0;
  std::chrono::steady_clock::time_point hosts_published_{};
  DetectionStats stats_;
  // Scratch.
  std::vector<Evidence> evidence_;
  std::vector<Attempt> attempt_scratch_;
  std::vector<AlertDelivery> deliveries_;
};

}  // namespace netsentry::detect
