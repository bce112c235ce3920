#include "detect/detection_stage.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/error.h"
#include "detect/alert_format.h"
#include "detect/volume_forecast_detector.h"
#include "detect/volume_threshold_detector.h"
#include "ml/bundle_manifest.h"
#include "ml/torch_module.h"

namespace netsentry::detect {

// Hands the ML detector's finished flows to every flow sink.
class DetectionStage::FanOut final : public FlowVerdictSink {
 public:
  explicit FanOut(std::vector<FlowVerdictSink*> sinks) : sinks_(std::move(sinks)) {}
  void on_flows(std::span<const flow::FlowRecord> flows, std::span<const FlowVerdict> verdicts,
                float threshold) override {
    for (FlowVerdictSink* s : sinks_) s->on_flows(flows, verdicts, threshold);
  }
  void flush() override {
    for (FlowVerdictSink* s : sinks_) s->flush();
  }

 private:
  std::vector<FlowVerdictSink*> sinks_;
};

DetectionStage::DetectionStage(DetectionOptions options, DetectionOutputs outputs)
    : options_(std::move(options)),
      outputs_(std::move(outputs)),
      flows_out_(std::make_unique<FanOut>(outputs_.flows)),
      suppression_(options_.suppress),
      attempts_(options_.attempts),
      profiles_(options_.profiles, options_.first_alert_id) {
  if (!options_.model_dir.empty()) {
    // An obviously unusable bundle is one clear error now, before the pipeline captures or
    // anything alerts; the full load (seconds with LibTorch) runs beside the starting pipeline.
    try {
      ml::check_bundle_manifest(options_.model_dir);
    } catch (const core::Error& e) {
      throw core::Error(fmt::format("--model {}: {}", options_.model_dir.string(), e.what()));
    }
  }
  detectors_ = make_host_detectors(options_.host);
  detectors_.push_back(std::make_unique<VolumeThresholdDetector>(options_.volume_rule));
  if (options_.volume_baseline) {
    auto forecast = std::make_unique<VolumeForecastDetector>(options_.forecast);
    forecast_ = forecast.get();
    detectors_.push_back(std::move(forecast));
  }
  for (const WatchedOutput& w : outputs_.watched) watched_.push_back({w, 0});

  const bool generic = !options_.model_dir.empty();
  if (options_.site_baseline && options_.site.learn_s > 0) {
    SiteBaselineOptions so = options_.site;
    so.synchronous = so.synchronous || !options_.live;
    // Beside the generic model, a replay adopts a fit a minute of packet time after it started
    // (a fit of a few thousand flows takes ~20 ms, the time a replay reads a minute of a lab
    // capture in), so it runs beside the packets, as a live fit runs while traffic goes on. Alone
    // it is the model: a replay waits for its fit, so no flow goes unscored meanwhile.
    if (!options_.live && generic) so.adopt_after_s = kReplaySiteAdoptS;
    so.threads = options_.threads;
    // Alone (no generic model) it is the model, with an autoencoder beside the forest when
    // LibTorch is there; beside the generic model a forest is enough to say "typical here".
    so.autoencoder = !generic;
    site_ = std::make_unique<SiteBaseline>(so);
    if (site_->ready()) {
      spdlog::info("site baseline: scoring with {}", site_->description());
    } else if (!generic) {
      spdlog::info(
          "baseline: no model bundle; learning normal traffic from the first {:.0f} s of flows "
          "(then scoring with an Isolation Forest{} saved in {})",
          so.learn_s, ml::torch_module::built() ? " and an autoencoder" : "", so.dir.string());
    } else {
      spdlog::debug(
          "site baseline: learning this network's normal from the first {:.0f} s of flows",
          so.learn_s);
    }
  }
  MlDetectorOptions mo = options_.ml;
  mo.live = options_.live;
  ml_ = std::make_unique<MlFlowDetector>(
      mo, flows_out_.get(), site_.get(),
      [this](const net::IpAddress& host) { return !profiles_.engaged(host); });
  if (!options_.live) {
    // A replay starts reading packets while the bundle loads; its first scoring batch waits for
    // the bundle (called on the stage thread, the mutex held).
    ml_->set_await([this] {
      if (!take_loaded(true)) ml_->set_waiting(false);
    });
  }

  {
    std::filesystem::path traffic = options_.traffic_model_dir;
    std::error_code ec;
    if (traffic.empty() && generic && std::filesystem::exists(options_.model_dir / "traffic", ec)) {
      traffic = options_.model_dir / "traffic";
    }
    if (!traffic.empty() && options_.volume_baseline) {
      traffic_what_ = traffic.string();
      traffic_loading_ = std::async(std::launch::async, [traffic] {
                           try {
                             return load_traffic_model(traffic);
                           } catch (const core::Error& e) {
                             throw core::Error(fmt::format("traffic forecaster {}: {}",
                                                           traffic.string(), e.what()));
                           }
                         }).share();
      traffic_ready_ = traffic_loading_;
    }
  }
  if (generic) start_loading(options_.model_dir, options_.model_dir.string(), true);
  if (!generic && site_ && site_->ready()) publish_model();
}

DetectionStage::~DetectionStage() {
  // A loader still running holds nothing of ours but its own result; wait so it ends cleanly.
  if (model_ready_.valid()) model_ready_.wait();
  if (traffic_ready_.valid()) traffic_ready_.wait();
}

void DetectionStage::start_loading(const std::filesystem::path& dir, std::string what,
                                   bool name_option) {
  loading_what_ = std::move(what);
  const int threads = options_.threads;
  ml_->set_waiting(true);
  // Loading a bundle with LibTorch models costs ~1 s (the module's dynamic linking); it runs
  // beside the capture pipeline instead of before it. Flows wait in the ML detector meanwhile.
  loading_ = std::async(std::launch::async, [dir, threads, name_option] {
               try {
                 Loaded loaded;
                 loaded.bundle = std::make_unique<ml::Bundle>(ml::Bundle::load(dir, threads));
                 // Refuse a bundle flows cannot feed now, on this thread, with its name.
                 (void)FlowScorer(*loaded.bundle);
                 return std::make_shared<Loaded>(std::move(loaded));
               } catch (const core::Error& e) {
                 if (!name_option) throw;
                 throw core::Error(fmt::format("--model {}: {}", dir.string(), e.what()));
               }
             }).share();
  model_ready_ = loading_;
}

void DetectionStage::wait_for_model() {
  if (traffic_ready_.valid()) (void)traffic_ready_.get();  // rethrows the load error
  if (model_ready_.valid()) (void)model_ready_.get();
}

void DetectionStage::adopt_loaded() {
  std::lock_guard lock(mutex_);
  if (loading_.valid()) (void)take_loaded(true);
}

bool DetectionStage::take_loaded(bool wait) {
  if (!loading_.valid()) return false;
  if (!wait && loading_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    return false;
  }
  auto future = std::move(loading_);
  loading_ = {};
  try {
    auto loaded = future.get();
    ml_->set_model(std::move(loaded->bundle), loading_what_);
    const ml::Bundle& b = *ml_->model();
    spdlog::info("scoring flows with {} ({} models, ensemble {} at threshold {:.3f})",
                 loading_what_, b.models.size(), ml::to_string(b.ensemble.mode()),
                 b.ensemble.threshold());
    publish_model();
  } catch (const core::Error& e) {
    // The main thread reports it (wait_for_model) and stops; flows so far stay unscored.
    spdlog::debug("model load failed: {}", e.what());
    ml_->set_waiting(false);
  }
  return true;
}

void DetectionStage::take_forecaster() {
  if (!traffic_loading_.valid() || forecast_ == nullptr) return;
  // A replay forecasts from its first second on, whenever the forecaster finished loading.
  if (!options_.live) traffic_loading_.wait();
  if (traffic_loading_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
  try {
    forecast_->set_model(traffic_loading_.get());
    spdlog::info("volume: forecasting traffic with {}", traffic_what_);
  } catch (const core::Error&) {
    // wait_for_model() reports it on the main thread; the baseline goes on alone.
  }
  traffic_loading_ = {};
}

void DetectionStage::publish_model() {
  if (outputs_.models == nullptr) return;
  if (const ml::Bundle* b = ml_->model()) {
    outputs_.models->on_model(*b, ml_->model_description());
  } else if (site_ && site_->bundle() != nullptr) {
    outputs_.models->on_model(*site_->bundle(), site_->description());
  }
}

std::string DetectionStage::model_description() const {
  std::lock_guard lock(mutex_);
  if (ml_->model() != nullptr) return ml_->model_description();
  if (site_ && site_->ready()) return site_->description();
  return {};
}

std::string DetectionStage::site_description() const {
  std::lock_guard lock(mutex_);
  return site_ && site_->ready() ? site_->description() : std::string();
}

bool DetectionStage::has_model() const {
  std::lock_guard lock(mutex_);
  return ml_->model() != nullptr || (site_ && site_->ready());
}

std::int64_t DetectionStage::now_ns() const {
  std::lock_guard lock(mutex_);
  return now_ns_;
}

void DetectionStage::judge_attempts(std::int64_t now_ns) {
  attempt_scratch_.clear();
  attempts_.advance(now_ns, attempt_scratch_);
  for (const Attempt& a : attempt_scratch_) {
    for (auto& d : detectors_) d->on_attempt(a, evidence_);
  }
}

void DetectionStage::on_sightings(std::span<const net::Sighting> sightings) {
  if (sightings.empty()) return;
  std::lock_guard lock(mutex_);
  for (const net::Sighting& s : sightings) {
    now_ns_ = std::max(now_ns_, s.ts_ns);
    for (auto& d : detectors_) d->on_sighting(s, evidence_);
  }
  stats_.sightings += sightings.size();
  handle(evidence_);
}

void DetectionStage::on_flow_events(std::span<const flow::FlowEvent> events) {
  if (events.empty()) return;
  std::lock_guard lock(mutex_);
  for (const flow::FlowEvent& ev : events) {
    now_ns_ = std::max(now_ns_, ev.ts_ns);
    ml_->on_flow_event(ev, evidence_);
    attempt_scratch_.clear();
    attempts_.on_flow_event(ev, attempt_scratch_);
    for (auto& d : detectors_) {
      for (const Attempt& a : attempt_scratch_) d->on_attempt(a, evidence_);
      d->on_flow_event(ev, evidence_);
    }
  }
  stats_.events += events.size();
  // Attempts whose second ran out while these packets arrived are judged now, not at the tick.
  judge_attempts(now_ns_);
  handle(evidence_);
}

void DetectionStage::on_flood_summaries(std::span<const flow::FloodSummary> floods) {
  if (floods.empty()) return;
  std::lock_guard lock(mutex_);
  // A network's summaries before its hosts' and ports' of the same batch: a flood spread over
  // the network is known when its hosts' own summaries are judged (they are then part of it).
  // The networks first all at once: neighbouring networks flooded together are one block's.
  for (auto& d : detectors_) d->before_network_floods(floods);
  for (const bool networks : {true, false}) {
    for (const flow::FloodSummary& f : floods) {
      if ((f.prefix != 0) != networks) continue;
      now_ns_ = std::max(now_ns_, f.last_ns);
      for (auto& d : detectors_) d->on_flood_summary(f, evidence_);
      stats_.flood_attempts += f.attempts;
    }
  }
  stats_.flood_summaries += floods.size();
  handle(evidence_);
}

void DetectionStage::on_flow_progress(std::span<const flow::FlowRecord> records) {
  if (records.empty()) return;
  std::lock_guard lock(mutex_);
  for (const flow::FlowRecord& r : records) {
    for (auto& d : detectors_) d->on_flow_progress(r, evidence_);
    ml_->on_flow_progress(r, evidence_);
  }
  stats_.progress += records.size();
  handle(evidence_);
}

void DetectionStage::on_flows(std::span<const flow::FlowRecord> flows, bool interim) {
  if (flows.empty()) return;
  std::lock_guard lock(mutex_);
  if (loading_.valid()) (void)take_loaded(ml_->pending() >= kMaxPendingWhileLoading);
  for (const flow::FlowRecord& r : flows) {
    if (interim) {
      for (auto& d : detectors_) d->on_flow_interim(r, evidence_);
      ml_->on_flow_interim(r, evidence_);
      continue;
    }
    now_ns_ = std::max(now_ns_, r.end_ns);
    attempt_scratch_.clear();
    attempts_.on_flow_finished(r, attempt_scratch_);
    for (auto& d : detectors_) {
      for (const Attempt& a : attempt_scratch_) d->on_attempt(a, evidence_);
      d->on_flow_finished(r, evidence_);
    }
    ml_->on_flow_finished(r, evidence_);
  }
  (interim ? stats_.interim : stats_.flows) += flows.size();
  handle(evidence_);
}

void DetectionStage::advance(std::int64_t now_ns) {
  std::lock_guard lock(mutex_);
  advance_locked(now_ns);
}

void DetectionStage::advance_locked(std::int64_t now_ns) {
  now_ns_ = std::max(now_ns_, now_ns);
  if (loading_.valid()) (void)take_loaded(false);
  take_forecaster();
  judge_attempts(now_ns_);
  for (auto& d : detectors_) d->advance(now_ns_, evidence_);
  ml_->advance(now_ns_, evidence_);
  check_outputs();
  handle(evidence_);
  profiles_.advance(now_ns_, deliveries_);
  deliver(deliveries_);
  for (AlertSink* sink : outputs_.alerts) sink->tick();
  publish_hosts(false);
}

void DetectionStage::on_traffic(const host::TrafficSample& sample) {
  std::lock_guard lock(mutex_);
  take_forecaster();
  for (auto& d : detectors_) d->on_traffic(sample, evidence_);
  for (TrafficSink* s : outputs_.traffic) s->on_traffic(sample);
  ++stats_.traffic_samples;
  handle(evidence_);
}

void DetectionStage::set_suppression_rules(const std::vector<std::string>& rules) {
  SuppressionRules parsed(rules);  // throws before anything changes
  std::lock_guard lock(mutex_);
  suppression_ = std::move(parsed);
}

void DetectionStage::handle(std::vector<Evidence>& evidence) {
  for (const Evidence& ev : evidence) {
    if (!suppression_.empty() && suppression_.suppressed(ev)) {
      ++stats_.suppressed;
      continue;
    }
    ++stats_.evidence;
    profiles_.add(ev, deliveries_);
  }
  evidence.clear();
  deliver(deliveries_);
}

void DetectionStage::deliver(std::vector<AlertDelivery>& deliveries) {
  for (const AlertDelivery& d : deliveries) {
    const Alert& a = d.alert;
    ++stats_.deliveries;
    if (d.change == AlertChange::kRaised) {
      ++stats_.alerts_raised;
      ++stats_.alerts_by_severity[static_cast<std::size_t>(a.severity) & 3];
    }
    if (d.change != AlertChange::kUpdated) {
      const bool loud = d.change != AlertChange::kPast && a.severity >= Severity::kHigh;
      spdlog::log(loud ? spdlog::level::warn : spdlog::level::info, "alert #{} {} {} {}: {}", a.id,
                  alert_change_name(d.change), severity_name(a.severity), a.kind, a.reason);
    }
    for (AlertSink* sink : outputs_.alerts) sink->on_alert(a, d.change);
  }
  deliveries.clear();
}

void DetectionStage::watch_output(WatchedOutput output) {
  std::lock_guard lock(watched_mutex_);
  watched_.push_back({std::move(output), 0});
}

std::vector<std::string> DetectionStage::failing_outputs() {
  std::vector<std::string> out;
  std::lock_guard lock(watched_mutex_);
  for (const Watched& w : watched_) {
    OutputHealth h = w.output.probe();
    if (h.failing) out.push_back(std::move(h.message));
  }
  return out;
}

void DetectionStage::check_outputs() {
  // A failing output (disk full, unwritable) is itself an alert, one per failure streak;
  // monitoring goes on.
  std::lock_guard lock(watched_mutex_);
  for (Watched& w : watched_) {
    const OutputHealth h = w.output.probe();
    if (h.faults <= w.faults_reported) continue;
    w.faults_reported = h.faults;
    Evidence ev;
    ev.time_ns = ev.first_ns = now_ns_;
    ev.interface = w.output.name;
    ev.kind = std::string(kind::kSystem);
    ev.detector = "outputs";
    ev.threat = Severity::kHigh;
    ev.confidence = 1;
    ev.decisive = true;
    ev.subject = std::hash<std::string>{}(w.output.name) | 1;
    ev.count = h.faults;
    ev.description = h.message;
    evidence_.push_back(std::move(ev));
  }
}

void DetectionStage::publish_hosts(bool force) {
  if (outputs_.hosts == nullptr) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - hosts_published_ < std::chrono::seconds(1)) return;
  hosts_published_ = now;
  outputs_.hosts->on_host_risks(profiles_.riskiest(options_.riskiest_hosts));
}

void DetectionStage::finish() {
  std::lock_guard lock(mutex_);
  if (loading_.valid()) (void)take_loaded(true);
  take_forecaster();
  ml_->flush(evidence_);
  attempt_scratch_.clear();
  attempts_.flush(attempt_scratch_);
  for (const Attempt& a : attempt_scratch_) {
    for (auto& d : detectors_) d->on_attempt(a, evidence_);
  }
  for (auto& d : detectors_) d->flush(evidence_);
  handle(evidence_);
  for (AlertSink* sink : outputs_.alerts) sink->flush();
  // Outputs flushed: a failure while flushing is the last alert.
  check_outputs();
  handle(evidence_);
  profiles_.flush(deliveries_);
  deliver(deliveries_);
  for (AlertSink* sink : outputs_.alerts) sink->flush();
  publish_hosts(true);
}

DetectionStats DetectionStage::stats() const {
  std::lock_guard lock(mutex_);
  DetectionStats s = stats_;
  s.ml = ml_->ml_stats();
  s.profiles = profiles_.stats();
  s.attempts = attempts_.stats();
  s.site_ready = site_ && site_->ready();
  s.site_fits = site_ ? site_->fits() : 0;
  for (const auto& d : detectors_) s.detectors.emplace_back(std::string(d->name()), d->stats());
  return s;
}

}  // namespace netsentry::detect
