// Provides the options and entry points of each subcommand; cli.cpp parses argv into these.
// Each run_* returns the process exit code and throws core::Error for user mistakes.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "app/bus_setup.h"

namespace netsentry::ml {
struct RandomForestOptions;
}  // namespace netsentry::ml

namespace netsentry::app {

// Flow meter settings shared by `flows` and `monitor`.
struct FlowOptions {
  bool cic = false;  // CICFlowMeter's flow rules
  double idle_timeout_s = 120;
  double active_timeout_s = 3600;
  std::size_t max_flows = 262144;
  int first_packets = 32;
  double linger_s = 5;         // a closed TCP connection keeps its remnants this long
  bool no_tunnels = false;     // do not decapsulate tunnels
  bool no_reassembly = false;  // do not reassemble IP fragments
  // Attempts/s to one ip:port, nearly all never completed, before its SYNs go into a flood
  // summary instead of flows (flow/flood_guard.h); 0 = off.
  std::uint32_t flood_summary_rate = 1000;
};

struct FlowsOptions {
  std::vector<std::string> inputs;  // capture files
  std::string output = "-";         // "-" = stdout
  std::string format = "csv";       // csv | jsonl
  std::string filter;               // BPF
  // A flow export keeps every flow unless asked: no flood summaries by default.
  FlowOptions flow = FlowOptions{.flood_summary_rate = 0};
  bool quiet = false;  // no summary on stderr
  std::string labels;  // the lab's labels.csv: adds a Label column (BENIGN or the episode kind)
};
int run_flows(const FlowsOptions& options);

struct WatchOptions {
  std::filesystem::path out_dir = "netsentry-data";
  double interval_s = 1.0;
  double duration_s = 0;                // 0 = until SIGINT/SIGTERM
  std::vector<std::string> interfaces;  // empty = all
  double rotate_mb = 100;               // rotate a CSV file past this size
  int rotate_keep = 5;
  std::string proc_root = "/proc";
  bool print = false;  // one line per sample on stdout
};
int run_watch(const WatchOptions& options);

struct MonitorOptions {
  WatchOptions watch;     // host counters + connections (out_dir lives here)
  std::string interface;  // empty = default route's interface
  std::string filter;
  int snaplen = 262144;
  bool promisc = false;
  bool no_capture = false;  // counters only
  FlowOptions flow;
  // Replay instead of live capture.
  std::string pcap;           // capture file; empty = live
  std::string speed = "max";  // replay pace: a factor ("1", "10") or "max"
  bool stay = false;          // keep running (and serving) after the replay
  // Detection.
  std::string model;            // bundle folder; empty = the default bundle when present
  bool no_model = false;        // rules and detectors only
  bool learn_baseline = false;  // skip models/default: learn a baseline during --warmup
  // This network's baseline: learned from this much traffic (beside the model, or alone with
  // --learn-baseline), saved and reused on restart, refreshed as often; 0 = never.
  double warmup_minutes = 10;
  std::string baseline_dir;   // empty = <out>/baseline
  bool site_baseline = true;  // beside the model (false: --no-site-baseline)
  // Beside the model: a flow it flags is typical of this network (no evidence) when the baseline
  // scores it at or below this percentile of this network's own flows.
  double site_typical = 50;
  int threads = 1;  // model scoring threads
  std::vector<std::string> suppress;
  // The configuration file this run read (--config, or ./netsentry.toml), "" when none: where the
  // page's suppression rules are saved.
  std::filesystem::path config_file;
  double volume_bytes_per_second = 100000;  // the original's rule
  std::string volume_severity = "LOW";      // the rule's alerts
  bool volume_loopback = false;             // learned volume evidence on loopback too
  double ongoing_after_s = 60;  // score flows still open after this long, and every as long
  // Host detectors and aggregation (0 disables a detector).
  double detector_window_s = 60;
  std::size_t port_scan_ports = 100;
  std::size_t host_scan_hosts = 64;
  std::size_t syn_flood_half_open = 100;
  std::size_t brute_force_sessions = 10;
  double udp_flood_pps = 10000;
  double icmp_flood_pps = 500;
  // Evidence and alerts.
  double alert_threshold = 0.6;    // a host's raw risk score that raises an alert
  double evidence_window_s = 300;  // evidence counts towards a host's score this long
  double alert_quiet_s = 120;      // an engaged alert goes past after this long without evidence
  int early_packets = 8;           // early ML verdict after a flow's first N packets (0 = off)
  double early_seconds = 1;        // ... or at its first packet this long into it (0 = off)
  double ml_min_margin = 0;        // generic-model evidence needs this share of threshold..1
  bool ml_loopback = false;        // judge flows between loopback addresses with the models
  bool volume_baseline = true;
  std::filesystem::path traffic_model;  // --traffic-model: forecaster (empty: <model>/traffic)
  double baseline_k = 6;
  std::string webhook;
  bool syslog = false;
  std::string eve;          // Suricata-style EVE JSON lines to this file; empty = off
  double eve_max_mb = 100;  // rotate eve.json past this size
  int eve_keep = 5;         // rotated eve.json files kept
  // Dashboard.
  std::string listen = "127.0.0.1:8050";
  bool listen_given = false;  // --listen was set (a --pcap replay then serves while it runs)
  std::vector<std::string> allow_hosts;  // Host header names besides addresses and localhost
  bool no_dashboard = false;
  std::string auth_token;       // required when listening beyond loopback
  std::string auth_token_file;  // the token's first line, instead of --auth-token
  std::string web_dir;          // empty: the web/ folder beside or above the binary
  // Storage.
  std::string db;  // empty = <out>/netsentry.db
  bool no_db = false;
  double retention_days = 7;
  double db_max_mb = 2048;
  // Evidence: the packets behind each alert (app/evidence_setup.h).
  bool no_record = false;         // no packet recorder, no evidence files
  double record_memory_mb = 128;  // the recorder's memory ring
  double record_seconds = 0;      // also forget packets older than this (0 = memory bound only)
  double evidence_max_mb = 1024;  // the evidence folder (least recently written files go first)
  // Bus (NATS JetStream) and IPFIX export.
  PublishOptions publish;
  double publish_drain_s = 30;  // at the end, how long to wait for the broker to take the spool
};
int run_monitor(const MonitorOptions& options);

}  // namespace netsentry::app

namespace netsentry::app {

// How `train` and `evaluate` read labelled CSV data.
struct DataOptions {
  std::vector<std::string> paths;  // files or globs
  std::string format = "auto";     // auto|original|flows|cicids2017|nsl-kdd|unsw-nb15|generic
  std::string label_column;
  std::string negative_value;
  bool skip_bad_rows = false;
  std::size_t max_rows = 0;
};

struct TrainOptions {
  DataOptions data;
  std::vector<std::string> test_paths;  // evaluate on these instead of a held-out split
  std::filesystem::path out;
  std::vector<std::string> models = {"isolation_forest", "random_forest", "lstm", "autoencoder"};
  std::uint64_t seed = 42;
  int epochs = 0;  // 0 = each model's default
  int threads = 1;
  double validation_fraction = 0.15;
  double test_fraction = 0.15;
  std::string ensemble = "auto";  // auto|vote|soft|stacked|tail
  // auto: folds of attack families held out to choose the fusion (< 2: best validation F1).
  int fusion_folds = 4;
  // auto: also write each fold's inputs to the search here (fold-N.json, ml::fold_terms_json).
  std::filesystem::path fusion_dump;
  // The share of normal validation rows above the ensemble threshold (tail, and any mode auto
  // chooses), and the false-positive budget the fusion is chosen at.
  double tail_alert_rate = 0.05;
  // An explicit --ensemble mode: each model's weight ("if=2,rf=2,lstm=1,ae=1"; unnamed: 1) and,
  // for vote, the share of the total weight a row's votes must exceed.
  std::string weights;
  double vote_quorum = 0.5;
  std::string rf_mode = "rf";   // rf|gbtree
  int rf_depth = 0;             // the random forest's tree depth (0: the mode's default)
  std::string rf_features;      // share of features per split: "sqrt" or (0, 1] ("": default)
  std::string rf_class_weight;  // balanced|none ("": the mode's default, rf none, gbtree balanced)
  double rf_min_child_weight = -1;  // XGBoost's min_child_weight (< 0: the mode's, rf 0, gbtree 1)
  double rf_lambda = -1;            // XGBoost's lambda, L2 on leaf values (< 0: rf 0, gbtree 1)
  double ae_percentile = 95;
  std::string ae_transform = "quantile";  // quantile|standard|both|none
  // The LSTM on data without packets: "alone" judges each row by itself, "host" reads each
  // host's earlier rows (chunks of 32 with 4 rows of overlap; the whole file as one host when the
  // data has no host column).
  std::string lstm_context = "alone";
  std::string encoding = "onehot";           // onehot|label
  std::vector<std::string> exclude_columns;  // raw columns kept out of the model inputs
  bool keep_cic_bulk_subflow = false;
  // --add-plain-weights: only write the plain weights of the LibTorch models of the bundle in
  // `out` (saved before they existed), no training.
  bool add_plain_weights = false;
  bool json = false;
  // --traffic: also (or only) train the traffic forecaster into <out>/traffic/.
  std::filesystem::path traffic;  // network_traffic.csv or a NAB csv; empty = none
  std::string traffic_column;     // empty = bytes_sent+bytes_recv, or NAB's value
  int traffic_window = 60;
  double traffic_alarm_rate = 0.001;
};
int run_train(const TrainOptions& options, const std::string& command_line);
// The Random Forest's options from --rf-mode and --rf-*: the mode's defaults, then what was
// given. Throws core::Error naming a bad value.
[[nodiscard]] ml::RandomForestOptions random_forest_options(const TrainOptions& options);

struct EvaluateOptions {
  DataOptions data;
  std::filesystem::path model;
  int threads = 1;
  bool json = false;
  std::filesystem::path report_dir;  // empty = no plots
  std::filesystem::path scores_csv;  // empty = none; else one row per record with every score
  std::string ensemble;              // empty = the bundle's mode; else vote|soft|stacked|tail
  bool ablation = false;             // also each model removed and each alone (the fusion refitted)
  // Score as monitor does (ml::Bundle::score_cascade): the costly models only on the rows the
  // forests leave open; their per-model metrics are then left out.
  bool cascade = false;
  // --pcap: replay a labelled capture through monitor's engine instead (app/evaluate_pcap.h).
  std::string pcap;
  std::string labels;
  std::filesystem::path out_dir;  // keeps the replay's flows.csv, alerts.csv, evaluation.json
  MonitorOptions replay;          // detector and flow settings (model, no_model, thresholds, ...)
  // --traffic: run the forecast detector and the median/MAD baseline over a stored series and
  // score both against its label_window column (the NAB evaluation).
  std::filesystem::path traffic;
  std::filesystem::path traffic_model;  // a forecaster folder (<bundle>/traffic) or a bundle
  std::string traffic_column;
  double traffic_probation = 0.15;  // leading share not scored (NAB's probationary period)
};
int run_evaluate(const EvaluateOptions& options, const std::string& command_line);

}  // namespace netsentry::app
