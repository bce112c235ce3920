// Provides app::Engine, the detection side of `monitor`: it takes batches of finished (and
// long-lived, still open) flows from the capture pipeline's stage thread and per-second traffic
// samples from the host recorder (or from the capture itself when replaying), runs the ML scorer,
// the host-level detectors (scans, SYN/UDP floods, brute force) and the volume detectors (the
// original's bytes/s rule and a robust baseline), folds repeats (AlertAggregator), drops what the
// suppression rules say, and delivers every alert to alerts.csv, the SQLite store, syslog/webhook
// and an optional listener (the dashboard's live state). Scored flows, traffic samples and
// connection events also go to the SQLite store.
// Thread rules: on_flows()/advance() from one thread (the stage thread); on_traffic() and
// on_connections() from one other thread (the host recorder); alerts from both are serialised by
// alert_mutex_. stats() from any thread. finish() once, after both producers stopped.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "app/baseline_trainer.h"
#include "detect/aggregator.h"
#include "detect/alert.h"
#include "detect/flow_scorer.h"
#include "detect/forecast_detector.h"
#include "detect/host_detectors.h"
#include "detect/suppression.h"
#include "detect/volume_detector.h"
#include "flow/flow_record.h"
#include "host/connection_tracker.h"
#include "host/monitor.h"
#include "ml/bundle.h"
#include "store/alert_delivery.h"
#include "store/alert_log.h"
#include "store/sqlite_store.h"

namespace netsentry::app {

struct EngineOptions {
  std::filesystem::path out_dir = "netsentry-data";
  bool sqlite = true;
  std::filesystem::path db_path;    // empty: <out_dir>/netsentry.db
  std::filesystem::path model_dir;  // empty: no ML scoring of flows
  // The traffic forecaster (`train --traffic`); empty: <model_dir>/traffic when present.
  std::filesystem::path traffic_model_dir;
  int threads = 1;                  // model scoring threads
  detect::HostDetectorOptions host_detectors;
  detect::AggregatorOptions aggregation;
  std::vector<std::string> suppress;  // suppression rules (see detect/suppression.h)
  detect::ThresholdRuleOptions volume_rule;
  bool volume_baseline = true;
  detect::BaselineOptions baseline;
  std::string webhook_url;  // empty: none
  bool syslog = false;
  double retention_days = 7;
  double db_max_mb = 2048;
  double alerts_rotate_mb = 100;
  // ML scoring runs on batches: at most this many flows, this much packet time, and (live only)
  // this much wall time wait for their verdict. Large batches amortise each model's fixed cost.
  std::size_t score_batch = 4096;
  double score_span_s = 10;
  double score_latency_s = 0.5;
  bool live = true;  // false for replays: batches then depend on packet order only
  // Without a model bundle: learn an unsupervised baseline from the first minutes of flows
  // (warmup_s of packet time; 0 = never), saved in baseline_dir and reused on restart.
  double warmup_s = 600;
  std::filesystem::path baseline_dir;  // empty: <out_dir>/baseline
  double baseline_percentile = 99;
};

struct EngineStats {
  std::uint64_t flows = 0;           // finished flows seen
  std::uint64_t ongoing_flows = 0;   // interim reports of long-lived flows scored
  std::uint64_t flows_scored = 0;
  std::uint64_t anomalous_flows = 0;
  std::uint64_t traffic_samples = 0;
  std::uint64_t alerts_raised = 0;      // by the detectors, before aggregation
  std::uint64_t alerts_emitted = 0;     // delivered (first emissions and aggregate updates)
  std::uint64_t alerts_suppressed = 0;
  std::uint64_t alerts_by_severity[4] = {0, 0, 0, 0};  // emitted, first emissions only
  double scoring_seconds = 0;          // wall time in the ML scorer
  store::StoreStats store;
  bool have_store = false;
  std::string store_error;
};

class Engine final {
 public:
  using AlertListener = std::function<void(const detect::Alert&, bool update)>;
  // Finished flows with their verdicts (empty verdicts: not scored), on the stage thread.
  using FlowListener = std::function<void(std::span<const flow::FlowRecord>,
                                          std::span<const detect::FlowVerdict>, float threshold)>;

  // Opens the outputs (alerts.csv, SQLite) and loads the model bundle when given. Throws
  // core::Error for an unusable bundle (with what does not match), path or rule.
  explicit Engine(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void set_alert_listener(AlertListener listener) { listener_ = std::move(listener); }
  void set_flow_listener(FlowListener listener) { flow_listener_ = std::move(listener); }
  // Finished flows as stored (stage thread), records[i] with rows[i]: the row carries the store's
  // id (0 without a store), the score and the verdict. For sinks that name flows (the bus).
  using StoredFlowListener = std::function<void(std::span<const flow::FlowRecord* const> records,
                                                std::span<const store::FlowRow> rows)>;
  void set_stored_flow_listener(StoredFlowListener listener) {
    stored_listener_ = std::move(listener);
  }
  // Called (stage thread) when a bundle is adopted after start, e.g. the learned baseline.
  using ModelListener = std::function<void(const ml::Bundle&, const std::string& what)>;
  void set_model_listener(ModelListener listener) { model_listener_ = std::move(listener); }
  [[nodiscard]] std::string bundle_description() const { return bundle_what_; }

  // A file writer whose failures (disk full) become one "system" alert each time it starts
  // failing; `probe` is called on the stage thread. Any thread, any time.
  void watch_writer(std::string name, std::function<store::WriterHealth()> probe);
  // "<error>" of each watched writer that is failing now (rows it could not write). Any thread.
  [[nodiscard]] std::vector<std::string> failing_writers();

  // Stage thread: finished flows (`ongoing` = interim reports of flows still open).
  void on_flows(std::span<const flow::FlowRecord> flows, bool ongoing);
  // Stage thread: packet time moved to now_ns (closes detector and aggregation windows).
  void advance(std::int64_t now_ns);
  // Host thread: one traffic sample (host counters, or the capture's own per-second series).
  void on_traffic(const host::TrafficSample& sample);
  void on_connections(std::chrono::system_clock::time_point time,
                      std::span<const host::ConnectionEvent> events);
  // Closes every window, delivers the last updates, flushes alerts.csv and the store.
  void finish();

  [[nodiscard]] EngineStats stats() const;
  // Marks a stored alert acknowledged (from the dashboard). False without a store.
  bool acknowledge(std::int64_t id) { return store_ && store_->ack_alert(id); }
  // The bundle once adopted by the stage thread (or by finish()); null before and without one.
  [[nodiscard]] const ml::Bundle* bundle() const { return bundle_.get(); }
  // Blocks until the model bundle given at construction has loaded; rethrows its load error
  // (core::Error saying what does not match). Returns at once when there is none. Any thread.
  void wait_for_model();
  // Adopts the loaded bundle when no stage thread runs (no capture): call after wait_for_model().
  void adopt_loaded() { (void)take_loaded(true); }
  [[nodiscard]] std::filesystem::path db_path() const { return db_path_; }

 private:
  void deliver(std::vector<detect::Alert>& raised);
  // Scores the pending flows, stores them with their verdicts, delivers the ML alerts.
  void score_pending();

  EngineOptions options_;
  void adopt(std::unique_ptr<ml::Bundle> bundle, const std::string& what);
  // The bundle loads on its own thread (~1 s with LibTorch models) while the pipeline starts.
  struct Loaded {
    std::unique_ptr<ml::Bundle> bundle;
    std::unique_ptr<detect::FlowScorer> scorer;
  };
  void start_loading(const std::filesystem::path& dir, const std::string& what, bool name_option);
  // Stage thread: adopts the loaded bundle when ready (or waits for it); true when the load ended.
  bool take_loaded(bool wait);
  static constexpr std::size_t kMaxPendingWhileLoading = 65536;
  std::shared_future<std::shared_ptr<Loaded>> loading_;      // stage thread's copy
  std::shared_future<std::shared_ptr<Loaded>> model_ready_;  // wait_for_model()'s copy
  std::string loading_what_;

  std::unique_ptr<ml::Bundle> bundle_;
  std::unique_ptr<detect::FlowScorer> scorer_;
  std::unique_ptr<BaselineTrainer> learner_;  // learning, when there is no bundle yet
  detect::HostDetectors host_detectors_;
  detect::ThresholdRule volume_rule_;
  // The learned volume detector (an LSTM forecast band; the median/MAD baseline before a full
  // window of history or without a forecaster). Owned by the thread calling on_traffic().
  detect::ForecastDetector volume_forecast_;
  std::shared_future<std::shared_ptr<const ml::torch::TrafficForecaster>> traffic_loading_;
  std::shared_future<std::shared_ptr<const ml::torch::TrafficForecaster>> traffic_ready_;
  std::string traffic_what_;
  std::filesystem::path db_path_;
  std::unique_ptr<store::SqliteStore> store_;
  std::vector<std::unique_ptr<store::AlertSink>> sinks_;
  AlertListener listener_;
  FlowListener flow_listener_;
  StoredFlowListener stored_listener_;
  ModelListener model_listener_;
  std::string bundle_what_;

  // Stage-thread scratch.
  std::vector<detect::FlowVerdict> verdicts_;
  std::vector<detect::Alert> stage_alerts_;
  std::vector<store::FlowRow> rows_;
  std::vector<const flow::FlowRecord*> row_records_;  // the record of each rows_ entry
  std::vector<flow::FlowRecord> pending_;  // awaiting ML scoring
  std::vector<bool> pending_ongoing_;
  std::int64_t pending_first_ns_ = 0;
  std::chrono::steady_clock::time_point pending_since_;

  void check_store(std::int64_t now_ns, std::vector<detect::Alert>& out);
  std::uint64_t store_errors_reported_ = 0;  // stage thread: write errors already alerted
  struct WatchedWriter {
    std::string name;
    std::function<store::WriterHealth()> probe;
    std::uint64_t faults_reported = 0;
  };
  std::mutex writers_mutex_;  // guards writers_
  std::vector<WatchedWriter> writers_;
  std::int64_t last_now_ns_ = 0;             // stage thread: the latest packet time seen

  std::mutex alert_mutex_;  // guards everything below
  detect::AlertAggregator aggregator_;
  detect::SuppressionRules suppression_;
  store::AlertLog alert_log_;
  // (kind, subject, first time) -> stored id, so aggregate updates replace their alert's row.
  std::map<std::string, std::int64_t> alert_ids_;
  std::vector<detect::Alert> emitted_;

  mutable std::mutex stats_mutex_;  // guards stats_
  EngineStats stats_;
};

}  // namespace netsentry::app
