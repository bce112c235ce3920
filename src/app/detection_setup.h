// Provides what `monitor` and `evaluate --pcap` share to run the detection stage: its settings from
// the command line's options, and monitor's outputs (alerts.csv, the SQLite store, syslog, webhook,
// the dashboard) wired to the stage as its sinks.
// Thread rules: build on one thread before the pipeline starts; see detect/detection_stage.h.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/sensor_outputs.h"
#include "detect/detection_stage.h"
#include "detect/sinks.h"
#include "flow/flow_table.h"
#include "ml/bundle.h"
#include "server/live_sinks.h"
#include "server/live_state.h"
#include "server/webhook_sink.h"
#include "store/alert_log.h"
#include "store/csv_writer.h"
#include "store/eve_log.h"
#include "store/sqlite_sinks.h"
#include "store/sqlite_store.h"
#include "store/syslog_sink.h"

namespace netsentry::app {

// The stage's settings from monitor's options: detector thresholds and windows, volume rules, the
// model (model_dir is what the caller resolved: --model, models/default or none), this network's
// baseline, profiles, suppression. `replay`: batches and fits follow packet order only. Throws
// core::Error for unusable values (non-positive windows, an unknown severity).
[[nodiscard]] detect::DetectionOptions detection_options(const MonitorOptions& options,
                                                         const std::filesystem::path& model_dir,
                                                         bool replay);

// The flow table's settings for monitor: make_flow_config() plus the progress reports the
// detectors use (--early-packets, --early-seconds).
[[nodiscard]] flow::FlowConfig monitor_flow_config(const MonitorOptions& options);

// The models panel follows the model the stage scores with.
class LiveModelSink final : public detect::ModelSink {
 public:
  explicit LiveModelSink(server::LiveState& live) : live_(live) {}
  void on_model(const ml::Bundle& bundle, const std::string& what) override;

 private:
  server::LiveState& live_;
};

// A CSV writer watched by the stage: a failure streak becomes one "system" alert saying that rows
// wait in memory; failing_outputs() lists it while it fails.
[[nodiscard]] detect::WatchedOutput writer_output(std::string name,
                                                  std::function<store::WriterHealth()> probe);

// Where a sensor's detection results go besides the bus.
struct OutputSettings {
  std::filesystem::path out_dir;  // alerts.csv, netsentry.db
  double rotate_mb = 0;           // alerts.csv rotation (0 = never)
  bool no_db = false;
  std::string db;  // the store's path; empty: <out_dir>/netsentry.db
  double retention_days = 0;
  double db_max_mb = 0;
  bool syslog = false;
  std::string webhook;
  std::filesystem::path eve;  // eve.json; empty = off
  double eve_max_mb = 100;
  int eve_keep = 5;
  std::string interface;  // the live capture's interface (EVE's in_iface); empty for a file
  // A replayed file: the store waits for room instead of dropping rows (live capture drops and
  // counts them).
  bool lossless = false;
};
[[nodiscard]] OutputSettings output_settings(const MonitorOptions& options);

// Monitor's (and collect's) outputs: alerts.csv (always), the SQLite store (unless no_db), syslog,
// webhook and eve.json (when asked), the dashboard's live state (when served) and the bus publisher
// / IPFIX exporter (when `sensor` is active: alerts and their updates, stored flows with their
// ids).
class MonitorOutputs final {
 public:
  // Opens alerts.csv and the store. Throws core::Error naming a path that cannot be opened.
  MonitorOutputs(const OutputSettings& settings, server::LiveState* live,
                 SensorOutputs* sensor = nullptr);
  MonitorOutputs(const MonitorOptions& options, server::LiveState* live,
                 SensorOutputs* sensor = nullptr)
      : MonitorOutputs(output_settings(options), live, sensor) {}
  ~MonitorOutputs();
  MonitorOutputs(const MonitorOutputs&) = delete;
  MonitorOutputs& operator=(const MonitorOutputs&) = delete;

  // The sinks for DetectionStage (valid while this object lives).
  [[nodiscard]] detect::DetectionOutputs sinks();
  // The id the stage's first alert gets (past every id the store holds).
  [[nodiscard]] std::int64_t first_alert_id() const;
  [[nodiscard]] store::SqliteStore* store() { return store_.get(); }
  // The store's file; empty without a store.
  [[nodiscard]] const std::filesystem::path& store_path() const { return store_path_; }
  // Persists an acknowledgement from the page; false without a store.
  bool acknowledge(std::int64_t id) { return store_ && store_->ack_alert(id); }

 private:
  std::unique_ptr<store::AlertLog> alert_log_;
  std::unique_ptr<store::EveLog> eve_;
  std::unique_ptr<store::SqliteStore> store_;
  std::filesystem::path store_path_;
  std::unique_ptr<store::SqliteSinks> sqlite_;
  std::vector<std::unique_ptr<detect::AlertSink>> delivery_;
  std::unique_ptr<server::LiveSinks> live_sinks_;
  std::unique_ptr<LiveModelSink> live_models_;
  class SensorSinks;
  std::unique_ptr<SensorSinks> sensor_;
};

}  // namespace netsentry::app
