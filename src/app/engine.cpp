#include "app/engine.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

#include "core/error.h"
#include "detect/alert_format.h"
#include "ml/torch_module.h"

namespace netsentry::app {
namespace {

using Clock = std::chrono::steady_clock;

std::string subject_key(const detect::Alert& a) {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}", a.kind, a.src_ip.to_string(), a.dst_ip.to_string(),
                     a.dst_port, a.protocol, a.interface, a.time_ns);
}

constexpr std::size_t kMaxRememberedIds = 16384;

}  // namespace

Engine::Engine(const EngineOptions& options)
    : options_(options),
      host_detectors_(options.host_detectors),
      volume_rule_(options.volume_rule),
      volume_forecast_(detect::ForecastDetectorOptions{options.baseline}),
      aggregator_(options.aggregation),
      suppression_(options.suppress),
      alert_log_(store::AlertLogOptions{
          options.out_dir,
          static_cast<std::uint64_t>(std::max(0.0, options.alerts_rotate_mb) * 1024 * 1024), 5}) {
  watch_writer("alerts.csv", [this] { return alert_log_.health(); });
  {
    std::filesystem::path traffic = options_.traffic_model_dir;
    std::error_code ec;
    if (traffic.empty() && !options_.model_dir.empty() &&
        std::filesystem::exists(options_.model_dir / "traffic", ec)) {
      traffic = options_.model_dir / "traffic";
    }
    if (!traffic.empty() && options_.volume_baseline) {
      traffic_what_ = traffic.string();
      traffic_loading_ = std::async(std::launch::async, [traffic] {
                           try {
                             return detect::load_traffic_model(traffic);
                           } catch (const core::Error& e) {
                             throw core::Error(fmt::format("traffic forecaster {}: {}",
                                                           traffic.string(), e.what()));
                           }
                         }).share();
      traffic_ready_ = traffic_loading_;
    }
  }
  if (!options_.model_dir.empty()) {
    start_loading(options_.model_dir, options_.model_dir.string(), true);
  } else if (options_.warmup_s > 0) {
    const auto dir =
        options_.baseline_dir.empty() ? options_.out_dir / "baseline" : options_.baseline_dir;
    std::error_code ec;
    if (std::filesystem::exists(dir / "manifest.json", ec)) {
      start_loading(dir, dir.string() + " (the baseline learned earlier)", false);
    } else {
      WarmupOptions bo;
      bo.warmup_s = options_.warmup_s;
      bo.dir = dir;
      bo.threads = options_.threads;
      bo.alert_percentile = options_.baseline_percentile;
      bo.synchronous = !options_.live;
      learner_ = std::make_unique<BaselineTrainer>(bo);
      spdlog::info(
          "baseline: no model bundle; learning normal traffic from the first {:.0f} s of flows "
          "(then scoring with an Isolation Forest{} saved in {})",
          options_.warmup_s, ml::torch_module::built() ? " and an autoencoder" : "",
          dir.string());
    }
  }
  if (options_.sqlite) {
    db_path_ = options_.db_path.empty() ? options_.out_dir / "netsentry.db" : options_.db_path;
    store::SqliteStoreOptions so;
    so.path = db_path_;
    so.retention = std::chrono::nanoseconds(
        static_cast<std::int64_t>(std::max(0.0, options_.retention_days) * 86400e9));
    so.max_bytes = static_cast<std::uint64_t>(std::max(0.0, options_.db_max_mb) * 1024 * 1024);
    store_ = std::make_unique<store::SqliteStore>(so);
  }
  if (options_.syslog) sinks_.push_back(std::make_unique<store::SyslogSink>());
  if (!options_.webhook_url.empty()) {
    store::WebhookOptions wo;
    wo.url = options_.webhook_url;
    sinks_.push_back(std::make_unique<store::WebhookSink>(wo));
  }
}

Engine::~Engine() {
  // A loader still running holds nothing of ours but its own result; wait so it ends cleanly.
  if (model_ready_.valid()) model_ready_.wait();
  if (traffic_ready_.valid()) traffic_ready_.wait();
}

void Engine::start_loading(const std::filesystem::path& dir, const std::string& what,
                           bool name_option) {
  loading_what_ = what;
  const int threads = options_.threads;
  // Loading a bundle with LibTorch models costs ~1 s (the module's dynamic linking); it runs
  // beside the capture pipeline instead of before it. Flows wait in pending_ meanwhile.
  loading_ = std::async(std::launch::async, [dir, threads, name_option] {
                        try {
                          Loaded loaded;
                          loaded.bundle =
                              std::make_unique<ml::Bundle>(ml::Bundle::load(dir, threads));
                          loaded.scorer = std::make_unique<detect::FlowScorer>(*loaded.bundle);
                          return std::make_shared<Loaded>(std::move(loaded));
                        } catch (const core::Error& e) {
                          if (!name_option) throw;
                          throw core::Error(fmt::format("--model {}: {}", dir.string(), e.what()));
                        }
                      }).share();
  model_ready_ = loading_;
}

void Engine::wait_for_model() {
  if (traffic_ready_.valid()) (void)traffic_ready_.get();  // rethrows the load error
  if (!model_ready_.valid()) return;
  (void)model_ready_.get();
}

bool Engine::take_loaded(bool wait) {
  if (!loading_.valid()) return false;
  if (!wait && loading_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    return false;
  }
  auto future = std::move(loading_);
  loading_ = {};
  try {
    auto loaded = future.get();
    scorer_ = std::move(loaded->scorer);
    bundle_ = std::move(loaded->bundle);
    bundle_what_ = loading_what_;
    if (model_listener_) model_listener_(*bundle_, bundle_what_);
    spdlog::info("scoring flows with {} ({} models, ensemble {} at threshold {:.3f})",
                 bundle_what_, bundle_->models.size(), ml::to_string(bundle_->ensemble.mode()),
                 bundle_->ensemble.threshold());
  } catch (const core::Error& e) {
    // The main thread reports it (wait_for_model) and stops; the flows so far stay unscored.
    spdlog::debug("model load failed: {}", e.what());
  }
  if (!scorer_) score_pending();  // stores what waited, unscored
  return true;
}

void Engine::watch_writer(std::string name, std::function<store::WriterHealth()> probe) {
  std::lock_guard lock(writers_mutex_);
  writers_.push_back({std::move(name), std::move(probe), 0});
}

std::vector<std::string> Engine::failing_writers() {
  std::vector<std::string> out;
  std::lock_guard lock(writers_mutex_);
  for (const WatchedWriter& w : writers_) {
    const store::WriterHealth h = w.probe();
    if (h.failing) out.push_back(h.error);
  }
  return out;
}

void Engine::check_store(std::int64_t now_ns, std::vector<detect::Alert>& out) {
  {
    // A CSV file that cannot be written (disk full): one alert per failure streak; the writer
    // keeps rows in memory, logs, and resumes by itself.
    std::lock_guard lock(writers_mutex_);
    for (WatchedWriter& w : writers_) {
      const store::WriterHealth h = w.probe();
      if (h.faults <= w.faults_reported || !h.failing) continue;
      w.faults_reported = h.faults;
      detect::Alert a;
      a.time_ns = a.last_ns = now_ns;
      a.severity = detect::Severity::kHigh;
      a.kind = std::string(detect::kind::kSystem);
      a.interface = w.name;
      a.reason = fmt::format(
          "{}. Rows wait in memory (bounded; {} dropped so far) and are written when the disk "
          "has room again. Monitoring continues.",
          h.error, h.dropped_rows);
      out.push_back(std::move(a));
    }
  }
  // A failing store (disk full, unwritable) is itself an alert; monitoring goes on.
  if (!store_) return;
  const auto st = store_->stats();
  if (st.write_errors <= store_errors_reported_) return;
  detect::Alert a;
  a.time_ns = a.last_ns = now_ns;
  a.severity = detect::Severity::kHigh;
  a.kind = std::string(detect::kind::kSystem);
  a.interface = "sqlite";
  a.count = st.write_errors - store_errors_reported_;
  a.reason = fmt::format(
      "The SQLite store {} failed to write ({} failed transactions, {} rows lost so far): {}. "
      "Monitoring continues.",
      db_path_.string(), st.write_errors, st.rows_lost,
      store_->last_error().value_or("unknown error"));
  store_errors_reported_ = st.write_errors;
  out.push_back(std::move(a));
}

void Engine::adopt(std::unique_ptr<ml::Bundle> bundle, const std::string& what) {
  auto scorer = std::make_unique<detect::FlowScorer>(*bundle);
  scorer_ = std::move(scorer);
  bundle_ = std::move(bundle);
  bundle_what_ = what;
  if (model_listener_) model_listener_(*bundle_, what);
  spdlog::info("scoring flows with {} ({} models, ensemble {} at threshold {:.3f})", what,
               bundle_->models.size(), ml::to_string(bundle_->ensemble.mode()),
               bundle_->ensemble.threshold());
}

void Engine::on_flows(std::span<const flow::FlowRecord> flows, bool ongoing) {
  if (flows.empty()) return;
  if (loading_.valid()) (void)take_loaded(pending_.size() >= kMaxPendingWhileLoading);
  stage_alerts_.clear();
  // Host detectors judge whole connections; interim reports would count a connection twice.
  if (ongoing) {
    for (const auto& f : flows) host_detectors_.observe_ongoing(f, stage_alerts_);
  } else {
    for (const auto& f : flows) host_detectors_.observe(f, stage_alerts_);
    if (learner_) {
      for (const auto& f : flows) learner_->observe(f);
      if (auto ready = learner_->take_ready()) {
        adopt(std::move(ready), "the baseline learned from live traffic");
        learner_.reset();
      }
    }
  }
  {
    std::lock_guard lock(stats_mutex_);
    (ongoing ? stats_.ongoing_flows : stats_.flows) += flows.size();
  }
  if (!stage_alerts_.empty()) deliver(stage_alerts_);
  if (!scorer_ && !loading_.valid()) {
    if ((store_ || stored_listener_) && !ongoing) {
      rows_.clear();
      row_records_.clear();
      for (const auto& f : flows) {
        rows_.push_back(store::make_flow_row(f, 0, "unscored", 0, 0));
        row_records_.push_back(&f);
      }
      if (store_) (void)store_->add_flows(rows_);  // a full queue is counted by the store
      if (stored_listener_) stored_listener_(row_records_, rows_);
    }
    if (flow_listener_ && !ongoing) flow_listener_(flows, {}, 0.0f);
    return;
  }
  if (pending_.empty()) {
    pending_first_ns_ = flows.front().end_ns;
    pending_since_ = Clock::now();
  }
  if (!scorer_) {
    // The bundle is still loading: keep the flows (bounded: on_flows waits for the load past
    // kMaxPendingWhileLoading) and score them once it is there.
    for (const auto& f : flows) {
      pending_.push_back(f);
      pending_ongoing_.push_back(ongoing);
    }
    return;
  }
  for (const auto& f : flows) {
    pending_.push_back(f);
    pending_ongoing_.push_back(ongoing);
    if (pending_.size() >= options_.score_batch) score_pending();
  }
  if (!pending_.empty() &&
      flows.back().end_ns - pending_first_ns_ >= static_cast<std::int64_t>(options_.score_span_s * 1e9)) {
    score_pending();
  }
}

void Engine::score_pending() {
  if (pending_.empty()) return;
  if (scorer_ && pending_.size() > options_.score_batch) {
    // Flows that waited for the bundle: score them in batches of the usual size.
    std::vector<flow::FlowRecord> waiting = std::move(pending_);
    std::vector<bool> waiting_ongoing = std::move(pending_ongoing_);
    pending_.clear();
    pending_ongoing_.clear();
    for (std::size_t i = 0; i < waiting.size(); ++i) {
      pending_.push_back(std::move(waiting[i]));
      pending_ongoing_.push_back(waiting_ongoing[i]);
      if (pending_.size() >= options_.score_batch) score_pending();
    }
    if (pending_.empty()) return;
  }
  stage_alerts_.clear();
  const auto t0 = Clock::now();
  bool scored = false;
  if (scorer_) {
    try {
      scorer_->score(pending_, verdicts_, stage_alerts_);
      scored = true;
    } catch (const core::Error& e) {
      // A scoring failure must not stop monitoring; the flows are still stored, unscored.
      spdlog::error("scoring {} flows failed: {}", pending_.size(), e.what());
      stage_alerts_.clear();
    }
  }
  if (!scored) verdicts_.assign(pending_.size(), {});
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::size_t anomalous = 0;
  for (const auto& v : verdicts_) anomalous += v.anomalous ? 1 : 0;
  if (store_ || stored_listener_) {
    rows_.clear();
    row_records_.clear();
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (pending_ongoing_[i]) continue;  // interim reports are judged, not stored as flows
      const auto& v = verdicts_[i];
      rows_.push_back(store::make_flow_row(
          pending_[i], v.score, !scored ? "unscored" : v.anomalous ? "anomaly" : "benign", v.votes,
          v.voters));
      row_records_.push_back(&pending_[i]);
    }
    if (store_ && !rows_.empty()) (void)store_->add_flows(rows_);
    if (stored_listener_ && !rows_.empty()) stored_listener_(row_records_, rows_);
  }
  {
    std::lock_guard lock(stats_mutex_);
    if (scored) stats_.flows_scored += pending_.size();
    stats_.anomalous_flows += anomalous;
    stats_.scoring_seconds += seconds;
  }
  if (flow_listener_) {
    if (scored) {
      flow_listener_(pending_, verdicts_, scorer_->threshold());
    } else {
      flow_listener_(pending_, {}, 0.0f);
    }
  }
  pending_.clear();
  pending_ongoing_.clear();
  if (!stage_alerts_.empty()) deliver(stage_alerts_);
}

void Engine::advance(std::int64_t now_ns) {
  last_now_ns_ = std::max(last_now_ns_, now_ns);
  if (loading_.valid()) (void)take_loaded(false);
  if (scorer_ && !pending_.empty() &&
      (now_ns - pending_first_ns_ >= static_cast<std::int64_t>(options_.score_span_s * 1e9) ||
       (options_.live && std::chrono::duration<double>(Clock::now() - pending_since_).count() >=
                             options_.score_latency_s))) {
    score_pending();
  }
  stage_alerts_.clear();
  host_detectors_.advance(now_ns, stage_alerts_);
  check_store(now_ns, stage_alerts_);
  std::vector<detect::Alert> closed;
  {
    std::lock_guard lock(alert_mutex_);
    aggregator_.advance(now_ns, closed);
  }
  for (auto& a : closed) stage_alerts_.push_back(std::move(a));
  // Window updates come out of the aggregator already folded; deliver them without folding again.
  if (!stage_alerts_.empty()) deliver(stage_alerts_);
}

void Engine::on_traffic(const host::TrafficSample& sample) {
  std::vector<detect::Alert> raised;
  volume_rule_.observe(sample, raised);
  if (traffic_loading_.valid() &&
      traffic_loading_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    try {
      volume_forecast_.set_model(traffic_loading_.get());
      spdlog::info("volume: forecasting traffic with {}", traffic_what_);
    } catch (const core::Error&) {
      // wait_for_model() reports it on the main thread; the baseline goes on alone.
    }
    traffic_loading_ = {};
  }
  if (options_.volume_baseline) volume_forecast_.observe(sample, raised);
  if (store_) (void)store_->add_traffic(sample);
  {
    std::lock_guard lock(stats_mutex_);
    ++stats_.traffic_samples;
  }
  if (!raised.empty()) deliver(raised);
}

void Engine::on_connections(std::chrono::system_clock::time_point time,
                            std::span<const host::ConnectionEvent> events) {
  if (store_ && !events.empty()) (void)store_->add_connections(time, events);
}

void Engine::deliver(std::vector<detect::Alert>& raised) {
  std::lock_guard lock(alert_mutex_);
  emitted_.clear();
  std::uint64_t fresh = 0;
  for (const auto& a : raised) {
    // Updates emitted by advance() are recognised by their count > 1 or a known subject key;
    // new alerts go through the aggregator.
    if (alert_ids_.contains(subject_key(a))) {
      emitted_.push_back(a);
    } else {
      ++fresh;
      aggregator_.add(a, emitted_);
    }
  }
  const std::size_t before = emitted_.size();
  suppression_.filter(emitted_);
  const std::uint64_t suppressed = before - emitted_.size();
  std::uint64_t by_severity[4] = {0, 0, 0, 0};
  for (auto& a : emitted_) {
    const std::string key = subject_key(a);
    const auto known = alert_ids_.find(key);
    const bool update = known != alert_ids_.end();
    if (store_) {
      if (update) {
        a.id = known->second;
        (void)store_->update_alert(a);
      } else {
        a.id = store_->add_alert(a);
      }
    }
    if (!update) {
      if (alert_ids_.size() >= kMaxRememberedIds) alert_ids_.erase(alert_ids_.begin());
      alert_ids_.emplace(key, a.id);
      ++by_severity[static_cast<std::size_t>(a.severity) & 3];
    }
    try {
      alert_log_.write(a);
    } catch (const core::Error& e) {
      spdlog::error("{}", e.what());
    }
    for (auto& sink : sinks_) sink->deliver(a);
    if (listener_) listener_(a, update);
    spdlog::log(a.severity >= detect::Severity::kHigh ? spdlog::level::warn : spdlog::level::info,
                "alert {} {}{}: {}", detect::severity_name(a.severity), a.kind,
                a.count > 1 ? fmt::format(" (x{})", a.count) : std::string(), a.reason);
  }
  std::lock_guard slock(stats_mutex_);
  stats_.alerts_raised += fresh;
  stats_.alerts_emitted += emitted_.size();
  stats_.alerts_suppressed += suppressed;
  for (int i = 0; i < 4; ++i) stats_.alerts_by_severity[i] += by_severity[i];
}

void Engine::finish() {
  if (loading_.valid()) (void)take_loaded(true);
  score_pending();
  std::vector<detect::Alert> last;
  host_detectors_.flush(last);
  std::vector<detect::Alert> closed;
  {
    std::lock_guard lock(alert_mutex_);
    aggregator_.flush(closed);
  }
  for (auto& a : closed) last.push_back(std::move(a));
  if (!last.empty()) deliver(last);
  if (store_) {
    store_->flush();
    last.clear();
    check_store(last_now_ns_, last);
    if (!last.empty()) deliver(last);
  }
  std::lock_guard lock(alert_mutex_);
  try {
    alert_log_.flush();
  } catch (const core::Error& e) {
    spdlog::error("{}", e.what());
  }
}

EngineStats Engine::stats() const {
  EngineStats s;
  {
    std::lock_guard lock(stats_mutex_);
    s = stats_;
  }
  if (store_) {
    s.have_store = true;
    s.store = store_->stats();
    if (auto e = store_->last_error()) s.store_error = *e;
  }
  return s;
}

}  // namespace netsentry::app
