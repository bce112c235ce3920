#include "app/detection_setup.h"

#include <fmt/format.h>

#include "app/dashboard_setup.h"
#include "app/summary.h"
#include "core/error.h"

namespace netsentry::app {

namespace {

// Rows a replay's store queue holds before the stage waits (a live store keeps its default).
constexpr std::size_t kReplayStoreQueueRows = 16384;

}  // namespace

detect::DetectionOptions detection_options(const MonitorOptions& o,
                                           const std::filesystem::path& model_dir, bool replay) {
  detect::DetectionOptions d;
  const auto ns = [](double seconds) { return static_cast<std::int64_t>(seconds * 1e9); };
  if (!(o.detector_window_s > 0)) throw core::Error("--detector-window must be positive");
  if (!(o.evidence_window_s > 0) || !(o.alert_quiet_s > 0)) {
    throw core::Error("--evidence-window and --alert-quiet must be positive");
  }
  if (!(o.alert_threshold > 0)) throw core::Error("--alert-threshold must be positive");
  const auto severity = detect::parse_severity(o.volume_severity);
  if (!severity) {
    throw core::Error("--volume-severity " + o.volume_severity +
                      ": use LOW, MEDIUM, HIGH or CRITICAL");
  }
  d.threads = o.threads;
  d.suppress = o.suppress;
  d.volume_rule.bytes_per_second = o.volume_bytes_per_second;
  d.volume_rule.severity = *severity;
  d.volume_rule.loopback = o.volume_loopback;
  d.host.window_ns = ns(o.detector_window_s);
  d.host.port_scan_ports = o.port_scan_ports;
  d.host.host_scan_hosts = o.host_scan_hosts;
  d.host.syn_flood_half_open = o.syn_flood_half_open;
  d.host.brute_force_sessions = o.brute_force_sessions;
  d.host.udp_flood_packets_per_second = o.udp_flood_pps;
  d.host.icmp_flood_packets_per_second = o.icmp_flood_pps;
  d.volume_baseline = o.volume_baseline;
  d.forecast.baseline.k = o.baseline_k;
  d.forecast.baseline.loopback = o.volume_loopback;
  d.model_dir = model_dir;
  d.traffic_model_dir = o.traffic_model;
  d.ml.min_margin = o.ml_min_margin;
  d.ml.ordinary.loopback = o.ml_loopback;
  d.ml.early = o.early_packets > 0 || o.early_seconds > 0;
  d.site_baseline = !o.no_model && (o.site_baseline || model_dir.empty()) && o.warmup_minutes > 0;
  d.site.learn_s = o.warmup_minutes * 60;
  d.site.refresh_s = o.warmup_minutes * 60;
  d.site.typical_percentile = o.site_typical;
  d.site.dir =
      o.baseline_dir.empty() ? o.watch.out_dir / "baseline" : std::filesystem::path(o.baseline_dir);
  d.profiles.alert_threshold = o.alert_threshold;
  d.profiles.window_ns = ns(o.evidence_window_s);
  d.profiles.quiet_ns = ns(o.alert_quiet_s);
  d.live = !replay;
  return d;
}

flow::FlowConfig monitor_flow_config(const MonitorOptions& o) {
  flow::FlowConfig config = make_flow_config(o.flow);
  config.progress_packets = static_cast<std::uint32_t>(std::max(0, o.early_packets));
  config.progress_after =
      std::chrono::nanoseconds(static_cast<std::int64_t>(std::max(0.0, o.early_seconds) * 1e9));
  return config;
}

void LiveModelSink::on_model(const ml::Bundle& bundle, const std::string& what) {
  live_.set_models(models_info(bundle, what));
}

detect::WatchedOutput writer_output(std::string name, std::function<store::WriterHealth()> probe) {
  return {std::move(name), [probe = std::move(probe)] {
            const store::WriterHealth w = probe();
            detect::OutputHealth h;
            h.failing = w.failing;
            h.faults = w.faults;
            h.message = fmt::format(
                "{}. Rows wait in memory (bounded; {} dropped so far) and are written when the "
                "disk has room again. Monitoring continues.",
                w.error, w.dropped_rows);
            if (!w.failing) h.message = w.error;
            return h;
          }};
}

OutputSettings output_settings(const MonitorOptions& o) {
  OutputSettings s;
  s.out_dir = o.watch.out_dir;
  s.rotate_mb = o.watch.rotate_mb;
  s.no_db = o.no_db;
  s.db = o.db;
  s.retention_days = o.retention_days;
  s.db_max_mb = o.db_max_mb;
  s.syslog = o.syslog;
  s.webhook = o.webhook;
  s.eve = o.eve;
  s.eve_max_mb = o.eve_max_mb;
  s.eve_keep = o.eve_keep;
  if (o.pcap.empty()) s.interface = o.interface;
  s.lossless = !o.pcap.empty();
  return s;
}

// The bus publisher and IPFIX exporter as the stage's sinks: every alert delivery (the first one
// of an id as new, the rest as updates) and every finished flow as its store row (with the
// store's id when there is a store).
class MonitorOutputs::SensorSinks final : public detect::AlertSink, public detect::FlowVerdictSink {
 public:
  explicit SensorSinks(SensorOutputs& sensor) : sensor_(sensor) {}
  void on_alert(const detect::Alert& alert, detect::AlertChange change) override {
    sensor_.on_alert(alert, change != detect::AlertChange::kRaised);
  }
  void on_flows(std::span<const flow::FlowRecord> flows,
                std::span<const detect::FlowVerdict> verdicts, float /*threshold*/) override {
    if (flows.empty()) return;
    store::make_flow_rows(flows, verdicts, rows_);
    records_.clear();
    for (const flow::FlowRecord& f : flows) records_.push_back(&f);
    sensor_.on_stored_flows(records_, rows_);
  }

 private:
  SensorOutputs& sensor_;
  std::vector<store::FlowRow> rows_;
  std::vector<const flow::FlowRecord*> records_;
};

MonitorOutputs::MonitorOutputs(const OutputSettings& o, server::LiveState* live,
                               SensorOutputs* sensor) {
  store::AlertLogOptions lo;
  lo.directory = o.out_dir;
  lo.max_bytes = static_cast<std::uint64_t>(std::max(0.0, o.rotate_mb) * 1024 * 1024);
  lo.keep = 5;
  alert_log_ = std::make_unique<store::AlertLog>(lo);
  if (!o.no_db) {
    store::SqliteStoreOptions so;
    so.path = o.db.empty() ? o.out_dir / "netsentry.db" : std::filesystem::path(o.db);
    so.retention = std::chrono::nanoseconds(
        static_cast<std::int64_t>(std::max(0.0, o.retention_days) * 86400e9));
    so.max_bytes = static_cast<std::uint64_t>(std::max(0.0, o.db_max_mb) * 1024 * 1024);
    so.lossless = o.lossless;
    // A replay waits for the writer instead of dropping rows; a short backlog keeps it in step
    // with the stage (no lone writer finishing a quarter of a million rows after everything
    // else, no tens of MB of queued rows to fault in).
    if (so.lossless) so.queue_rows = kReplayStoreQueueRows;
    store_ = std::make_unique<store::SqliteStore>(so);
    store_path_ = so.path;
    sqlite_ = std::make_unique<store::SqliteSinks>(*store_);
    if (sensor != nullptr && sensor->active()) {
      sqlite_->set_row_listener([sensor](std::span<const flow::FlowRecord* const> records,
                                         std::span<const store::FlowRow> rows) {
        sensor->on_stored_flows(records, rows);
      });
    }
  }
  if (sensor != nullptr && sensor->active()) sensor_ = std::make_unique<SensorSinks>(*sensor);
  if (o.syslog) delivery_.push_back(std::make_unique<store::SyslogSink>());
  if (!o.webhook.empty()) {
    server::WebhookOptions wo;
    wo.url = o.webhook;
    delivery_.push_back(std::make_unique<server::WebhookSink>(wo));
  }
  if (!o.eve.empty()) {
    store::EveLogOptions eo;
    eo.path = o.eve;
    eo.max_bytes = static_cast<std::uint64_t>(std::max(0.0, o.eve_max_mb) * 1024 * 1024);
    eo.keep = static_cast<std::size_t>(std::max(0, o.eve_keep));
    eo.interface = o.interface;
    eve_ = std::make_unique<store::EveLog>(eo);
  }
  if (live != nullptr) {
    live_sinks_ = std::make_unique<server::LiveSinks>(*live);
    live_models_ = std::make_unique<LiveModelSink>(*live);
  }
}

MonitorOutputs::~MonitorOutputs() = default;

std::int64_t MonitorOutputs::first_alert_id() const { return store_ ? store_->next_alert_id() : 1; }

detect::DetectionOutputs MonitorOutputs::sinks() {
  detect::DetectionOutputs out;
  out.alerts.push_back(alert_log_.get());
  if (sqlite_) {
    out.alerts.push_back(sqlite_.get());
    out.flows.push_back(sqlite_.get());
    out.traffic.push_back(sqlite_.get());
    store::SqliteSinks* sqlite = sqlite_.get();
    out.watched.push_back({"sqlite", [sqlite] { return sqlite->health(); }});
  }
  store::AlertLog* log = alert_log_.get();
  out.watched.push_back(writer_output("alerts.csv", [log] { return log->health(); }));
  for (auto& sink : delivery_) out.alerts.push_back(sink.get());
  if (eve_) {
    out.alerts.push_back(eve_.get());
    out.flows.push_back(eve_.get());
    store::EveLog* eve = eve_.get();
    out.watched.push_back(writer_output("eve.json", [eve] { return eve->health(); }));
  }
  if (sensor_) {
    out.alerts.push_back(sensor_.get());
    if (!sqlite_) out.flows.push_back(sensor_.get());  // with a store, its rows (and ids) go out
  }
  if (live_sinks_) {
    out.alerts.push_back(live_sinks_.get());
    out.flows.push_back(live_sinks_.get());
    out.hosts = live_sinks_.get();
    out.models = live_models_.get();
  }
  return out;
}

}  // namespace netsentry::app
