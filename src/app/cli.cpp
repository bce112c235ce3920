#include "app/cli.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "app/commands.h"
#include "app/config_check.h"
#include "app/dashboard_command.h"
#include "app/install_layout.h"
#include "capture/packet_source.h"
#include "core/allocator.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/signals.h"
#include "ml/torch_module.h"

#ifndef NETSENTRY_VERSION
#define NETSENTRY_VERSION "0.0.0"
#endif

namespace netsentry::app {
namespace {

// CLI11's PositiveNumber/NonNegativeNumber print their bound, DBL_MAX, as 309 digits.
CLI::Validator number_at_least(bool zero_allowed) {
  return CLI::Validator(
      [zero_allowed](std::string& input) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(input, value) || !std::isfinite(value) || value < 0 ||
            (!zero_allowed && value == 0)) {
          return "value " + input + " is not " +
                 (zero_allowed ? "a number of 0 or more" : "a number above 0");
        }
        return {};
      },
      zero_allowed ? "NONNEGATIVE" : "POSITIVE");
}
const CLI::Validator kPositiveNumber = number_at_least(false);
const CLI::Validator kNonNegativeNumber = number_at_least(true);

void add_flow_options(CLI::App& cmd, FlowOptions& o) {
  cmd.add_flag(
      "--cic", o.cic,
      "CICFlowMeter's flow rules: a flow ends 120 s after it starts, TCP also on the first "
      "FIN, one-packet flows are not written (features then match CIC-IDS2017 models)");
  cmd.add_option("--idle-timeout", o.idle_timeout_s, "End a flow after this many idle seconds")
      ->capture_default_str()
      ->check(kPositiveNumber);
  cmd.add_option("--active-timeout", o.active_timeout_s,
                 "End a flow this many seconds after it started")
      ->capture_default_str()
      ->check(kPositiveNumber);
  cmd.add_option("--max-flows", o.max_flows,
                 "Most live flows kept; past it the longest-idle flow is evicted (memory bound)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{16}, std::size_t{1} << 26));
  cmd.add_option("--first-packets", o.first_packets,
                 "Packets per flow kept as (size, direction, gap, flags) for sequence models")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd.add_option("--linger", o.linger_s,
                 "Seconds a closed TCP connection keeps late ACKs, FINs and RSTs (remnants) "
                 "before its flow ends")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  cmd.add_option("--flood-summary-rate", o.flood_summary_rate,
                 "New flows per second to one destination, nearly all unanswered (TCP SYNs or UDP "
                 "datagrams to one ip:port: a SYN or UDP flood; or to many ports of one host from "
                 "many sources) or echo requests (to one host), or any of these to many hosts of "
                 "one /24 or /64 from many sources (a flood spread over a network), or of many "
                 "/24s or /64s of one /16 or /48 (a flood spread over neighbouring networks), or "
                 "TCP packets "
                 "outside any connection (ACK or RST floods, reflected SYN-ACKs: alerted only so), "
                 "before its "
                 "further ones and its replies are counted in a flood summary instead of one flow "
                 "each (0 = every packet gets its flow)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 100'000'000u));
  cmd.add_flag("--no-tunnels", o.no_tunnels,
               "Do not decapsulate tunnels (GRE, ERSPAN, VXLAN, Geneve, GTP-U, Teredo, AYIYA, "
               "IP-in-IP): only the outer flows");
  cmd.add_flag("--no-reassembly", o.no_reassembly,
               "Do not reassemble IP fragments (later fragments then make flows without ports)");
}

void add_watch_options(CLI::App& cmd, WatchOptions& o) {
  cmd.add_option("-o,--out", o.out_dir, "Output directory for the CSV files and the log")
      ->capture_default_str();
  cmd.add_option("--interval", o.interval_s, "Seconds between samples")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 3600.0));
  cmd.add_option("--duration", o.duration_s, "Stop after this many seconds (0: until Ctrl-C)")
      ->capture_default_str()
      ->check(kNonNegativeNumber);
  cmd.add_option("--counters-interface", o.interfaces,
                 "Only these interfaces in the per-interface counters (repeatable; default all)");
  cmd.add_option("--rotate-mb", o.rotate_mb, "Rotate a CSV file when it passes this many MB")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 1e6));
  cmd.add_option("--rotate-keep", o.rotate_keep, "Rotated files kept per CSV")
      ->capture_default_str();
  cmd.add_option("--proc", o.proc_root, "Where /proc is (for tests and containers)")
      ->capture_default_str();
  cmd.add_flag("--print", o.print, "Also print one line per sample on stdout");
}

void add_data_options(CLI::App& cmd, DataOptions& o, const std::string& flag) {
  cmd.add_option(flag, o.paths, "Labelled CSV files or globs (concatenated)")->required();
  cmd.add_option("--format", o.format,
                 "auto, original, flows, cicids2017, nsl-kdd, unsw-nb15 or generic")
      ->capture_default_str();
  cmd.add_option("--label-column", o.label_column, "Label column (generic CSVs)");
  cmd.add_option("--negative", o.negative_value, "Label value of normal rows (generic CSVs)");
  cmd.add_flag("--skip-bad-rows", o.skip_bad_rows,
               "Skip and count malformed rows instead of stopping at the first");
  cmd.add_option("--max-rows", o.max_rows, "Read at most this many rows (0 = all)");
}

std::string web_dir_help(const std::optional<InstallLayout>& installed) {
  return "Dashboard assets (default: " +
         (installed ? installed->web_dir.string() : "the web/ folder beside or above the binary") +
         ")";
}

std::string version_text() {
  std::string text = std::string("netsentry ") + NETSENTRY_VERSION +
                     "\nbuilt with: " + capture::library_version() + ", XGBoost random forest";
  if (!ml::torch_module::built()) {
    text += ", LibTorch: no (LSTM and autoencoder unavailable)";
  } else if (const std::string module = ml::torch_module::path(); !module.empty()) {
    text += ", LibTorch: yes (LSTM, autoencoder; loaded on first use from " + module + ")";
  } else {
    std::string why;
    (void)ml::torch_module::available(&why);
    text += ", LibTorch: module missing (" + why + ")";
  }
  text += "\nmemory allocator: " + core::allocator_name();
  return text;
}

std::string join_args(int argc, char** argv) {
  std::string out = "netsentry";
  for (int i = 1; i < argc; ++i) {
    out += ' ';
    out += argv[i];
  }
  return out;
}

// The documented configuration file: every option of every command with its default, as TOML.
std::string config_file_text(const CLI::App& app) {
  std::string text =
      "# netsentry configuration: every option of `netsentry monitor` with its default.\n"
      "# netsentry reads ./netsentry.toml when present, or the file given with --config FILE;\n"
      "# options given on the command line win. Regenerate with: netsentry --write-config\n\n"
      "[monitor]\n";
  const CLI::App* monitor = app.get_subcommand("monitor");
  std::string body = monitor->config_to_str(/*default_also=*/true, /*write_description=*/true);
  // The subcommand's own description heads CLI11's text; the file header says it already.
  text += body;
  return text;
}

}  // namespace

int run_cli(int argc, char** argv) {
  core::install_stop_handlers();
  CLI::App app{
      "netsentry — network traffic monitor with machine-learning anomaly detection.\n"
      "Captures packets into flows, records per-second interface counters and open connections,\n"
      "trains and evaluates detectors, and serves a live dashboard.",
      "netsentry"};
  // Built only when asked for: it looks for the LibTorch module and asks the allocator.
  app.set_version_flag("-V,--version", std::function<std::string()>(version_text));
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  netsentry monitor                      # capture on the default interface, write "
      "./netsentry-data\n"
      "  netsentry flows trace.pcapng -o flows.csv\n"
      "  netsentry watch --duration 60 --print\n"
      "  netsentry train --data KDDTrain+.txt --test-data KDDTest+.txt -o models/kdd\n"
      "  netsentry evaluate -m models/kdd --data KDDTest+.txt --report report/\n"
      "Run `netsentry COMMAND --help` for a command's options.");
  bool verbose = false;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbose, "More log output");
  app.add_flag("-q,--quiet", quiet, "Only errors on the console");

  FlowsOptions flows;
  auto* flows_cmd = app.add_subcommand(
      "flows", "Turn capture files (pcap or pcapng) into bidirectional flow records");
  flows_cmd->add_option("capture", flows.inputs, "Capture files, read in order")->required();
  flows_cmd->add_option("-o,--output", flows.output, "Output file ('-' = stdout)")
      ->capture_default_str();
  flows_cmd->add_option("--format", flows.format, "csv or jsonl")
      ->capture_default_str()
      ->check(CLI::IsMember({"csv", "jsonl"}));
  flows_cmd->add_option("-f,--filter", flows.filter, "BPF filter applied while reading");
  flows_cmd
      ->add_option("--labels", flows.labels,
                   "The lab's labels.csv: add a last column Label, BENIGN or the episode's kind "
                   "(for `train --format flows`)")
      ->check(CLI::ExistingFile);
  add_flow_options(*flows_cmd, flows.flow);
  flows_cmd->footer(
      "Writes one record per flow: times, 5-tuple, the original project's columns (Duration,\n"
      "PacketCount, ByteCount, SourcePort, DestinationPort, Protocol), the CICFlowMeter features\n"
      "under CICFlowMeter's names, and the first packets. A summary goes to stderr.\n"
      "Examples:\n"
      "  netsentry flows trace.pcap -o flows.csv\n"
      "  netsentry flows --cic --format jsonl day1.pcapng day2.pcapng -o flows.jsonl\n"
      "  netsentry flows trace.pcap -f 'tcp port 443' | head\n"
      "  netsentry flows lab/capture.pcap --labels lab/labels.csv -o lab-flows.csv");

  WatchOptions watch;
  auto* watch_cmd = app.add_subcommand(
      "watch", "Record per-second interface counters and connection changes (no packet capture)");
  add_watch_options(*watch_cmd, watch);
  watch_cmd->footer(
      "Writes network_traffic.csv, network_connections.csv and network_analysis.log into the "
      "output\n"
      "directory, like the original project's psutil monitor. Stops on Ctrl-C / SIGTERM, flushing "
      "all.\n"
      "Examples:\n"
      "  netsentry watch\n"
      "  netsentry watch -o /var/log/netsentry --duration 3600\n"
      "  netsentry watch --print --counters-interface eth0");

  // Run from an install, the help names the installed files instead of the source tree's.
  const std::optional<InstallLayout> installed = this_install();
  app.set_config("--config", "netsentry.toml",
                 "TOML file of options, one [section] per command (read from the current "
                 "directory when present; flags given on the command line win)" +
                     (installed ? "; the service reads " + installed->config.string() : ""));
  bool write_config = false;
  app.add_flag("--write-config", write_config,
               "Print every monitor option with its default as a TOML file, then exit")
      ->configurable(false);
  MonitorOptions monitor;
  auto* monitor_cmd = app.add_subcommand(
      "monitor", "Capture live traffic into flows and record host counters and connections");
  add_watch_options(*monitor_cmd, monitor.watch);
  monitor_cmd->add_option("-i,--interface", monitor.interface,
                          "Interface to capture on (default: the default route's interface)");
  monitor_cmd->add_option("-f,--filter", monitor.filter, "BPF capture filter");
  monitor_cmd->add_option("--snaplen", monitor.snaplen, "Bytes captured per packet")
      ->capture_default_str()
      ->check(CLI::Range(64, 262144));
  monitor_cmd->add_flag("--promisc", monitor.promisc, "Put the interface in promiscuous mode");
  monitor_cmd->add_flag("--no-capture", monitor.no_capture,
                        "Counters and connections only (no packet capture)");
  add_flow_options(*monitor_cmd, monitor.flow);
  monitor_cmd->add_option("--pcap", monitor.pcap,
                          "Replay this capture file through the same pipeline instead of "
                          "capturing live; exits when it ends");
  monitor_cmd->add_option("--speed", monitor.speed, "Replay pace: 1 (real time), 10, ... or max")
      ->capture_default_str();
  monitor_cmd->add_flag("--stay", monitor.stay,
                        "After a replay, keep running (and serving) until Ctrl-C / SIGTERM");
  monitor_cmd->add_option("-m,--model", monitor.model,
                          "Model bundle that scores flows (default: " +
                              (installed ? installed->default_model.string() : "models/default") +
                              " when present)");
  monitor_cmd->add_flag("--no-model", monitor.no_model,
                        "No ML scoring: volume rules and host detectors only");
  // Checked in run_monitor(), not with excludes(): the configuration file sets every key.
  monitor_cmd->add_flag(
      "--learn-baseline", monitor.learn_baseline,
      "Do not use models/default: learn this network's normal traffic from the first --warmup "
      "minutes (Isolation Forest + autoencoder) and score with that");
  monitor_cmd
      ->add_option("--warmup", monitor.warmup_minutes,
                   "Minutes of traffic (packet time in replays) to learn this network's own "
                   "normal from, then refreshed as often (never from hosts with engaged alerts); "
                   "beside the model, a flow it calls typical gives no ML evidence; with "
                   "--learn-baseline it is the model. Saved and reused on restart (0 = never)")
      ->capture_default_str()
      ->check(kNonNegativeNumber);
  monitor_cmd->add_option(
      "--baseline-dir", monitor.baseline_dir,
      "Where the learned baseline is saved and reused (default <out>/baseline)");
  monitor_cmd
      ->add_option("--site-baseline", monitor.site_baseline,
                   "Learn this network's baseline beside the model bundle: true/false")
      ->capture_default_str();
  monitor_cmd
      ->add_option("--site-typical", monitor.site_typical,
                   "A flow the model flags gives no evidence when this network's baseline finds "
                   "it at least as ordinary as this percentile of the network's own flows (50: "
                   "the median flow; higher lets the baseline overrule more, attacks included)")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 99.0));
  monitor_cmd->add_option("--threads", monitor.threads, "Model scoring threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  monitor_cmd->add_option("--suppress", monitor.suppress,
                          "Suppression rule, repeatable, e.g. 'src=10.0.0.0/8 kind=port_scan', "
                          "'dst_port=53', 'min_severity=MEDIUM'");
  monitor_cmd
      ->add_option("--volume-limit", monitor.volume_bytes_per_second,
                   "Alert (--volume-severity) when sent+received bytes in one second exceed this")
      ->capture_default_str()
      ->check(kPositiveNumber);
  monitor_cmd
      ->add_option("--volume-severity", monitor.volume_severity,
                   "Severity of the --volume-limit rule's alerts: LOW, MEDIUM, HIGH, CRITICAL")
      ->capture_default_str();
  monitor_cmd
      ->add_option("--ongoing-after", monitor.ongoing_after_s,
                   "Score flows still open after this many seconds, and again every as long "
                   "(0 = only finished flows)")
      ->capture_default_str()
      ->check(kNonNegativeNumber);
  const auto* detectors = "Detectors";
  monitor_cmd
      ->add_option("--detector-window", monitor.detector_window_s,
                   "Seconds of packet time each scan/flood/brute-force window covers")
      ->capture_default_str()
      ->group(detectors);
  monitor_cmd
      ->add_option("--port-scan-ports", monitor.port_scan_ports,
                   "Port scan: distinct ports probed on one host by one source (0 = off)")
      ->capture_default_str()
      ->group(detectors);
  monitor_cmd
      ->add_option("--host-scan-hosts", monitor.host_scan_hosts,
                   "Host scan: distinct hosts probed on one port by one source (0 = off)")
      ->capture_default_str()
      ->group(detectors);
  monitor_cmd
      ->add_option("--syn-flood-half-open", monitor.syn_flood_half_open,
                   "SYN flood: half-open connections to one service (or sprayed) (0 = off)")
      ->capture_default_str()
      ->group(detectors);
  monitor_cmd
      ->add_option("--brute-force-sessions", monitor.brute_force_sessions,
                   "Brute force: short sessions from one source to a login service (0 = off)")
      ->capture_default_str()
      ->group(detectors);
  monitor_cmd
      ->add_option("--udp-flood-pps", monitor.udp_flood_pps,
                   "UDP flood: packets/s to one destination from many flows (0 = off)")
      ->capture_default_str()
      ->group(detectors);
  monitor_cmd
      ->add_option("--icmp-flood-pps", monitor.icmp_flood_pps,
                   "ICMP flood: echo requests/s from one source to one host (0 = off)")
      ->capture_default_str()
      ->group(detectors);
  const auto* alerting = "Alerts";
  monitor_cmd
      ->add_option("--alert-threshold", monitor.alert_threshold,
                   "A host's risk score (confidence x threat of its evidence, repeats of one kind "
                   "saturating, kinds adding up) that raises an alert")
      ->capture_default_str()
      ->group(alerting);
  monitor_cmd
      ->add_option("--evidence-window", monitor.evidence_window_s,
                   "Seconds of packet time a piece of evidence counts towards its host's score")
      ->capture_default_str()
      ->group(alerting);
  monitor_cmd
      ->add_option("--alert-quiet", monitor.alert_quiet_s,
                   "An alert stays engaged (one id, updated in place) until its host gives no "
                   "evidence for this many seconds; then it is past")
      ->capture_default_str()
      ->group(alerting);
  monitor_cmd
      ->add_option(
          "--early-packets", monitor.early_packets,
          "Score a flow early, after its first N packets, as well as at its end (0 = off); "
          "while the site baseline is still learning, an early verdict gives no evidence")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber)
      ->group(alerting);
  monitor_cmd
      ->add_option("--early-seconds", monitor.early_seconds,
                   "... or at its first packet this many seconds into it (0 = off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber)
      ->group(alerting);
  monitor_cmd
      ->add_option("--ml-loopback", monitor.ml_loopback,
                   "Judge flows between loopback addresses (127.0.0.0/8, ::1) with the models too "
                   "(the host detectors always see them): true/false")
      ->capture_default_str()
      ->group(alerting);
  monitor_cmd
      ->add_option("--ml-min-margin", monitor.ml_min_margin,
                   "ML evidence only when the ensemble score is past its threshold by this share "
                   "of the rest of the range (0..1)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.99))
      ->group(alerting);
  monitor_cmd
      ->add_option("--baseline-k", monitor.baseline_k,
                   "Traffic baseline: alert beyond median + k robust deviations")
      ->capture_default_str()
      ->group(detectors);
  monitor_cmd
      ->add_option("--volume-loopback", monitor.volume_loopback,
                   "Volume evidence (the 100 kB/s rule and the learned baseline) on loopback "
                   "interfaces too: true/false")
      ->capture_default_str()
      ->group(detectors);
  monitor_cmd
      ->add_option("--volume-baseline", monitor.volume_baseline,
                   "Learned volume detection on the per-second series: the LSTM forecast band when "
                   "a forecaster is loaded, else (and while history is short) a median/MAD "
                   "baseline: true/false")
      ->capture_default_str()
      ->group(detectors);
  monitor_cmd
      ->add_option("--traffic-model", monitor.traffic_model,
                   "Traffic forecaster from `train --traffic` (default: the --model bundle's "
                   "traffic/ folder when it has one)")
      ->group(detectors);
  monitor_cmd->add_option("--webhook", monitor.webhook,
                          "POST every alert as JSON to this http:// URL (bounded retries)");
  monitor_cmd->add_flag("--syslog", monitor.syslog, "Send every alert to syslog");
  monitor_cmd->add_option("--eve", monitor.eve,
                          "Write Suricata-style EVE JSON lines (alert, flow, stats events) to this "
                          "file for SIEMs (docs/eve.md); off by default");
  monitor_cmd->add_option("--eve-max-mb", monitor.eve_max_mb, "Rotate the EVE file past this size")
      ->capture_default_str()
      ->check(kPositiveNumber);
  monitor_cmd->add_option("--eve-keep", monitor.eve_keep, "Rotated EVE files kept")
      ->capture_default_str()
      ->check(kNonNegativeNumber);
  const auto* dashboard_group = "Dashboard";
  monitor_cmd
      ->add_option("--listen", monitor.listen,
                   "Serve the live dashboard and API on HOST:PORT (loopback by default)")
      ->capture_default_str()
      ->group(dashboard_group);
  monitor_cmd->add_flag("--no-dashboard", monitor.no_dashboard, "Do not serve the dashboard")
      ->group(dashboard_group);
  monitor_cmd
      ->add_option("--allow-host", monitor.allow_hosts,
                   "A host name the page may be opened by (repeatable); other names in the Host "
                   "header are refused (DNS rebinding); addresses and localhost always work")
      ->group(dashboard_group);
  monitor_cmd
      ->add_option("--auth-token", monitor.auth_token,
                   "Token every API/SSE request must carry (required beyond loopback)")
      ->group(dashboard_group);
  monitor_cmd
      ->add_option("--auth-token-file", monitor.auth_token_file,
                   "Read the token from this file's first line (keeps it out of `ps`)")
      ->group(dashboard_group);
  monitor_cmd->add_option("--web-dir", monitor.web_dir, web_dir_help(installed))
      ->group(dashboard_group);
  monitor_cmd->add_option("--db", monitor.db, "SQLite store (default: <out>/netsentry.db)");
  monitor_cmd->add_flag("--no-db", monitor.no_db, "Do not write the SQLite store");
  monitor_cmd->add_option("--retention-days", monitor.retention_days, "SQLite retention")
      ->capture_default_str()
      ->check(kNonNegativeNumber);
  monitor_cmd->add_option("--db-max-mb", monitor.db_max_mb, "SQLite size cap (oldest rows go)")
      ->capture_default_str()
      ->check(kNonNegativeNumber);
  const auto* evidence_group = "Evidence (packets behind alerts)";
  monitor_cmd
      ->add_flag("--no-record", monitor.no_record,
                 "Do not keep packets for alerts (no evidence/alert-<id>.pcap files)")
      ->group(evidence_group);
  monitor_cmd
      ->add_option("--record-memory", monitor.record_memory_mb,
                   "MB of the most recent packets kept in memory, whole, so each alert's packets "
                   "can be written to evidence/alert-<id>.pcap (0 = off)")
      ->capture_default_str()
      ->check(kNonNegativeNumber)
      ->group(evidence_group);
  monitor_cmd
      ->add_option("--record-seconds", monitor.record_seconds,
                   "Also forget recorded packets older than this (0 = the memory budget only)")
      ->capture_default_str()
      ->check(kNonNegativeNumber)
      ->group(evidence_group);
  monitor_cmd
      ->add_option("--evidence-max-mb", monitor.evidence_max_mb,
                   "Size cap of the evidence folder (beside the SQLite store): the least recently "
                   "written alert files go first; files follow --retention-days")
      ->capture_default_str()
      ->check(kNonNegativeNumber)
      ->group(evidence_group);
  add_publish_options(*monitor_cmd, monitor.publish, true);
  monitor_cmd
      ->add_option("--publish-drain", monitor.publish_drain_s,
                   "At the end, seconds to wait for the broker to take what is still spooled "
                   "(the rest is sent by the next run)")
      ->capture_default_str()
      ->check(kNonNegativeNumber)
      ->group("Bus (NATS JetStream)");
  monitor_cmd->footer(
      "Writes flows.csv, alerts.csv, network_traffic.csv, network_connections.csv,\n"
      "network_analysis.log and the SQLite store netsentry.db into the output directory until\n"
      "Ctrl-C / SIGTERM, which flushes everything and exits 0. Without capture permission it\n"
      "explains how to get it and goes on with counters only. --pcap replays a capture in packet\n"
      "time (same flows and alerts on every run) and exits when it ends.\n"
      "Examples:\n"
      "  sudo netsentry monitor\n"
      "  netsentry monitor -i eth0 -f 'not port 22' -o /tmp/ns -m models/cic\n"
      "  netsentry monitor --pcap attack.pcap --speed max -o /tmp/replay\n"
      "  netsentry monitor --pcap day.pcapng --speed 10 --stay\n"
      "  netsentry monitor --suppress 'src=192.168.1.10 kind=port_scan' --webhook "
      "http://127.0.0.1:9000/alerts");

  TrainOptions train;
  auto* train_cmd = app.add_subcommand(
      "train", "Train Isolation Forest, Random Forest, LSTM and Autoencoder plus their ensemble");
  add_data_options(*train_cmd, train.data, "--data");
  train_cmd->add_option("--test-data", train.test_paths,
                        "Evaluate on these files instead of a held-out split (e.g. KDDTest+)");
  train_cmd->add_option("-o,--out", train.out, "Model bundle folder to write")->required();
  std::string models_csv = "if,rf,lstm,ae";
  train_cmd->add_option("--models", models_csv, "Models to train: if, rf, lstm, ae (comma list)")
      ->capture_default_str();
  train_cmd->add_option("--seed", train.seed, "Random seed (splits, models)")
      ->capture_default_str();
  train_cmd->add_option("--epochs", train.epochs, "Epochs for LSTM and autoencoder (0 = default)")
      ->capture_default_str();
  train_cmd
      ->add_option("--threads", train.threads,
                   "Threads for LibTorch, XGBoost and the forest (set once, explicitly)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  train_cmd->add_option("--validation", train.validation_fraction, "Validation share")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 0.5));
  train_cmd->add_option("--test", train.test_fraction, "Held-out test share")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.5));
  train_cmd
      ->add_option("--ensemble", train.ensemble,
                   "auto (the tail fusion with equal weights, unless other weights, the max "
                   "fusion or the original's vote detect attack families held out of training "
                   "clearly better, at the --alert-rate budget; best validation F1 when the data "
                   "has fewer than two attack classes), vote (the original's weighted majority), "
                   "soft, stacked, tail (combined normal-tail evidence) or max (the most extreme "
                   "normal-tail position of the models with a weight)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "vote", "soft", "stacked", "tail", "max"}));
  train_cmd
      ->add_option("--alert-rate", train.tail_alert_rate,
                   "Share of normal validation rows allowed above the ensemble threshold (tail, "
                   "max, and the mode auto chooses), and the false-positive budget auto judges at")
      ->capture_default_str()
      ->check(CLI::Range(0.0001, 0.5));
  train_cmd->add_option(
      "--weights", train.weights,
      "With an explicit --ensemble mode: model weights, e.g. if=2,rf=2,lstm=1,ae=1 "
      "(models not named weigh 1)");
  train_cmd
      ->add_option("--vote-quorum", train.vote_quorum,
                   "--ensemble vote: a row is anomalous when its models' weighted votes exceed "
                   "this share of the total weight (0.5 = the original's majority)")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 0.999));
  train_cmd
      ->add_option("--fusion-folds", train.fusion_folds,
                   "auto: folds of attack families held out while choosing the fusion (each "
                   "trains every model once; 0 = choose by validation F1)")
      ->capture_default_str()
      ->check(CLI::Range(0, 10));
  train_cmd->add_option("--fusion-dump", train.fusion_dump,
                        "auto: also write each fold's per-model terms, labels and families to "
                        "DIR/fold-N.json, to replay the search outside netsentry "
                        "(bench/fusion_replay)");
  train_cmd->add_option("--exclude", train.exclude_columns,
                        "Columns to keep out of the model inputs (repeatable)");
  train_cmd->add_flag("--keep-cic-bulk-subflow", train.keep_cic_bulk_subflow,
                      "CIC-IDS2017 data: keep the bulk and subflow columns (left out by default: "
                      "CICFlowMeter's values for them do not follow its definitions)");
  train_cmd->add_option("--rf-mode", train.rf_mode, "rf (random forest) or gbtree (boosting)")
      ->capture_default_str()
      ->check(CLI::IsMember({"rf", "gbtree"}));
  train_cmd
      ->add_option("--rf-depth", train.rf_depth,
                   "Random forest: the trees' depth (0: the mode's default, "
                   "rf 20, gbtree 6)")
      ->capture_default_str()
      ->check(CLI::Range(0, 30));
  train_cmd->add_option("--rf-features", train.rf_features,
                        "Random forest: the share of features each split chooses from, "
                        "\"sqrt\" (sqrt(n)/n) or a number in (0, 1] (default: rf sqrt, gbtree 1)");
  train_cmd
      ->add_option("--rf-class-weight", train.rf_class_weight,
                   "Random forest: balanced (each class weighs the same in all) or none (every "
                   "row weighs 1; generalised better to attack families left out of training "
                   "on the CIC-IDS2017 sample, see docs/models.md). Default: rf none, gbtree "
                   "balanced")
      ->check(CLI::IsMember({"balanced", "none"}));
  train_cmd
      ->add_option("--rf-min-child-weight", train.rf_min_child_weight,
                   "Random forest: XGBoost's min_child_weight, the least summed hessian of a leaf "
                   "(a row weighs 0.25 at the start: 1 needs about 4 rows a leaf). Default: rf 0 "
                   "(a leaf may hold one row, as in scikit-learn), gbtree 1")
      ->check(CLI::Range(0.0, 1e6));
  train_cmd
      ->add_option(
          "--rf-lambda", train.rf_lambda,
          "Random forest: XGBoost's lambda, the L2 weight on leaf values. Default: rf 0 (a "
          "leaf's value follows the class share of its rows, as in scikit-learn; with "
          "--rf-min-child-weight 0 it generalised far better to attack families left out "
          "of training, see docs/models.md), gbtree 1")
      ->check(CLI::Range(0.0, 1e6));
  train_cmd
      ->add_option("--ae-percentile", train.ae_percentile,
                   "Autoencoder threshold: percentile of the reconstruction MSE of benign rows "
                   "held out of its training")
      ->capture_default_str()
      ->check(CLI::Range(50.0, 100.0));
  train_cmd
      ->add_option("--ae-transform", train.ae_transform,
                   "Autoencoder inputs: quantile (each feature mapped to a normal score by its "
                   "distribution on benign rows), standard (scaled by its benign mean and "
                   "deviation), both (each feature twice, both ways) or none (the preprocessed "
                   "features as they are)")
      ->capture_default_str()
      ->check(CLI::IsMember({"quantile", "standard", "both", "none"}));
  train_cmd
      ->add_option("--lstm-context", train.lstm_context,
                   "The LSTM on data without packets (CSV rows, no \"packets\" column): alone "
                   "judges each row by itself; host reads each host's rows in order, in chunks "
                   "of 32 with 4 rows of overlap (a row is read after up to 35 of its host's "
                   "rows; the whole file is one host when the data has no host column). On sampled "
                   "data such as the CIC-IDS2017 sample, host learns how the rows were sampled "
                   "(docs/models.md). Flow records with packets always get the packet LSTM")
      ->capture_default_str()
      ->check(CLI::IsMember({"alone", "host"}));
  train_cmd->add_option("--encoding", train.encoding, "Categorical encoding: onehot or label")
      ->capture_default_str()
      ->check(CLI::IsMember({"onehot", "label"}));
  train_cmd->add_flag("--json", train.json, "Print the test evaluation as JSON");
  train_cmd->add_flag(
      "--add-plain-weights", train.add_plain_weights,
      "Only add the plain weights files (.weights) to the -o bundle's LSTM, autoencoder and "
      "traffic forecaster, saved before they existed (no training, the same weights): scoring "
      "that bundle then never loads LibTorch");
  // The traffic forecaster trains on a per-second series instead of labelled flows, so --data is
  // optional when --traffic is given (run_train checks that one of them is).
  train_cmd->get_option("--data")->required(false);
  const auto* traffic_group = "Traffic forecaster";
  train_cmd
      ->add_option("--traffic", train.traffic,
                   "Also (or only) train the LSTM traffic forecaster on this series: a "
                   "network_traffic.csv (bytes_sent + bytes_recv per second) or a NAB csv "
                   "(timestamp,value); written to <out>/traffic/")
      ->check(CLI::ExistingFile)
      ->group(traffic_group);
  train_cmd
      ->add_option("--traffic-column", train.traffic_column,
                   "Read this numeric column of the --traffic file instead")
      ->group(traffic_group);
  train_cmd
      ->add_option("--traffic-window", train.traffic_window,
                   "Values (seconds) the forecaster reads before each forecast")
      ->capture_default_str()
      ->check(CLI::Range(2, 3600))
      ->group(traffic_group);
  train_cmd
      ->add_option("--traffic-alarm-rate", train.traffic_alarm_rate,
                   "Share of normal validation points allowed above the calibrated band")
      ->capture_default_str()
      ->check(CLI::Range(0.00001, 0.05))
      ->group(traffic_group);
  train_cmd->footer(
      "Prints progress on stderr, then a classification report, confusion matrix, ROC-AUC, PR-AUC\n"
      "and FPR at 95% recall for each model and the ensemble on the test split.\n"
      "Examples:\n"
      "  netsentry train --data KDDTrain+.txt --test-data KDDTest+.txt -o models/kdd\n"
      "  netsentry train --data 'cic/*.csv' -o models/cic --threads 2 --seed 7\n"
      "  netsentry train --data flows.csv --models if,ae -o models/baseline\n"
      "  netsentry train --data my.csv --format generic --label-column y --negative 0 -o m\n"
      "  netsentry train --traffic netsentry-data/network_traffic.csv -o models/default");

  EvaluateOptions evaluate;
  auto* evaluate_cmd = app.add_subcommand(
      "evaluate",
      "Score labelled data with a model bundle and report every model and the ensemble");
  add_data_options(*evaluate_cmd, evaluate.data, "--data");
  evaluate_cmd->add_option("-m,--model", evaluate.model, "Model bundle folder")->required();
  evaluate_cmd->add_option("--threads", evaluate.threads, "Scoring threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  evaluate_cmd->add_flag("--json", evaluate.json,
                         "One JSON object {\"models\": {name: {accuracy, precision, ...}}}");
  evaluate_cmd->add_option("--report", evaluate.report_dir,
                           "Write plots (SVG) and report.html into this folder");
  evaluate_cmd
      ->add_option("--ensemble", evaluate.ensemble,
                   "Score with another of the bundle's fitted ensemble modes: vote, soft, "
                   "stacked, tail or max (default: the mode chosen at training)")
      ->check(CLI::IsMember({"vote", "soft", "stacked", "tail", "max"}));
  evaluate_cmd->add_flag("--ablation", evaluate.ablation,
                         "Also score with each model removed from the ensemble and with each "
                         "model alone (the fusion refitted on the bundle's validation scores, as "
                         "train fits it)");
  evaluate_cmd->add_flag("--cascade", evaluate.cascade,
                         "Score as monitor does: in vote mode the LSTM and autoencoder score only "
                         "the rows whose forest votes leave the decision open (decisions are "
                         "those of scoring every model; their per-model metrics are left out)");
  evaluate_cmd->add_option("--scores", evaluate.scores_csv,
                           "Write every record's place (row in time order, input file and "
                           "line), label, class, model scores and ensemble score to this CSV "
                           "file");
  evaluate_cmd->footer(
      "Examples:\n"
      "  netsentry evaluate -m models/kdd --data KDDTest+.txt\n"
      "  netsentry evaluate -m models/kdd --data KDDTest+.txt --json | jq .models.ensemble\n"
      "  netsentry evaluate -m models/cic --data 'cic/*.csv' --report report/\n"
      "  netsentry evaluate -m models/kdd --data KDDTest+.txt --scores scores.csv\n"
      "  netsentry evaluate -m models/kdd --data KDDTest+.txt --ablation");
  // evaluate --traffic: a labelled series (NAB) through the forecast detector and the baseline.
  const auto* traffic_eval_group = "Traffic series (--traffic)";
  evaluate_cmd
      ->add_option("--traffic", evaluate.traffic,
                   "Score the forecast detector and the median/MAD baseline on this labelled "
                   "series (a NAB csv with label_window) instead")
      ->check(CLI::ExistingFile)
      ->group(traffic_eval_group);
  evaluate_cmd
      ->add_option("--traffic-model", evaluate.traffic_model,
                   "The forecaster (`train --traffic` output: <bundle>/traffic, or the bundle)")
      ->group(traffic_eval_group);
  evaluate_cmd
      ->add_option("--traffic-column", evaluate.traffic_column,
                   "Read this numeric column of the --traffic file instead")
      ->group(traffic_eval_group);
  evaluate_cmd
      ->add_option("--traffic-probation", evaluate.traffic_probation,
                   "Leading share of the series not scored (NAB's probationary period)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.9))
      ->group(traffic_eval_group);
  // evaluate --pcap: a labelled capture replayed through monitor's engine (app/evaluate_pcap.h)
  // instead of labelled CSV data, so --data and -m are then optional (run_evaluate checks).
  evaluate_cmd->get_option("--data")->required(false);
  evaluate_cmd->get_option("--model")->required(false);
  const auto* replay_group = "Labelled capture (--pcap)";
  evaluate_cmd
      ->add_option("--pcap", evaluate.pcap,
                   "Replay this capture through monitor's engine (as monitor --pcap --speed max) "
                   "and judge flows and alerts against --labels")
      ->check(CLI::ExistingFile)
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--labels", evaluate.labels,
                   "The capture's episodes: the lab's labels.csv "
                   "(kind,src,dst,start,end,tool,description)")
      ->check(CLI::ExistingFile)
      ->group(replay_group);
  evaluate_cmd
      ->add_option("-o,--out", evaluate.out_dir,
                   "Keep the replay's flows.csv and alerts.csv and write evaluation.json here")
      ->group(replay_group);
  evaluate_cmd->add_flag("--no-model", evaluate.replay.no_model, "No ML scoring: rules only")
      ->group(replay_group);
  evaluate_cmd
      ->add_option("-f,--filter", evaluate.replay.filter, "BPF filter applied while reading")
      ->group(replay_group);
  add_flow_options(*evaluate_cmd, evaluate.replay.flow);
  for (const char* name :
       {"--cic", "--idle-timeout", "--active-timeout", "--max-flows", "--first-packets"}) {
    evaluate_cmd->get_option(name)->group(replay_group);
  }
  evaluate_cmd->add_option("--suppress", evaluate.replay.suppress, "Suppression rule, as monitor's")
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--volume-limit", evaluate.replay.volume_bytes_per_second,
                   "Alert when sent+received bytes in one second exceed this")
      ->capture_default_str()
      ->check(kPositiveNumber)
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--volume-baseline", evaluate.replay.volume_baseline,
                   "Learned traffic baseline (median/MAD): true/false")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--ongoing-after", evaluate.replay.ongoing_after_s,
                   "Score flows still open after this many seconds (0 = never)")
      ->capture_default_str()
      ->check(kNonNegativeNumber)
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--detector-window", evaluate.replay.detector_window_s,
                   "Seconds each scan/flood/brute-force window covers")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--alert-threshold", evaluate.replay.alert_threshold,
                   "A host's risk score that raises an alert, as monitor's")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--early-packets", evaluate.replay.early_packets,
                   "Early ML verdict after a flow's first N packets (0 = off)")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--early-seconds", evaluate.replay.early_seconds,
                   "... or at its first packet this many seconds into it (0 = off)")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--ml-loopback", evaluate.replay.ml_loopback,
                   "Judge flows between loopback addresses with the models too: true/false")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--ml-min-margin", evaluate.replay.ml_min_margin,
                   "ML evidence only past the threshold by this share of the rest of the range")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--warmup", evaluate.replay.warmup_minutes,
                   "Minutes of packet time to learn this network's baseline from (0 = none)")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--site-typical", evaluate.replay.site_typical,
                   "As monitor's: the percentile of this network's flows at or below which the "
                   "baseline calls a flagged flow typical")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 99.0))
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--baseline-dir", evaluate.replay.baseline_dir,
                   "Check the model's flags against this network's baseline as monitor saved it "
                   "(<out>/baseline) from the first flow, instead of learning one from the "
                   "capture (a copy is used: DIR is never changed)")
      ->check(CLI::ExistingDirectory)
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--port-scan-ports", evaluate.replay.port_scan_ports,
                   "Port scan: distinct ports on one host from one source (0 = off)")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--host-scan-hosts", evaluate.replay.host_scan_hosts,
                   "Host scan: distinct hosts on one port from one source (0 = off)")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--syn-flood-half-open", evaluate.replay.syn_flood_half_open,
                   "SYN flood: half-open connections to one service (0 = off)")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--brute-force-sessions", evaluate.replay.brute_force_sessions,
                   "Brute force: short sessions to a login service (0 = off)")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--udp-flood-pps", evaluate.replay.udp_flood_pps,
                   "UDP flood: packets/s to one destination (0 = off)")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd
      ->add_option("--icmp-flood-pps", evaluate.replay.icmp_flood_pps,
                   "ICMP flood: echo requests/s from one source to one host (0 = off)")
      ->capture_default_str()
      ->group(replay_group);
  evaluate_cmd->footer(
      evaluate_cmd->get_footer() +
      "\n\n"
      "--pcap FILE --labels FILE (-m DIR | --no-model): replays the capture through the same\n"
      "pipeline and engine as `monitor --pcap FILE --speed max` and prints the flow level (every\n"
      "finished flow's ensemble verdict against its label: a flow belongs to an episode when one\n"
      "end is the episode's src (address or prefix), the other its dst (any when empty), and it\n"
      "overlaps [start - 1 s, end + 1 s]), the attack level (per episode: detected, alert kinds,\n"
      "packet time from its start to the first alert, alerts; an alert counts for an episode when\n"
      "its src or dst is the episode's src and its time is in [start - 1 s, end + 60 s]; one\n"
      "without a source counts for a prefix src's episode on its dst), and false alerts (by kind,\n"
      "per hour of capture). Alerts with no address (volume rules) inside an episode are neither.\n"
      "Exit 0 whatever was missed; non-zero only on errors. --json keys: capture, labels, model,\n"
      "packets, start, end, duration_s, flow_level {flows, by_label, scored, unscored,\n"
      "ensemble {accuracy, precision, recall, f1, roc_auc, ...} or null}, episodes [{kind, src,\n"
      "dst, start, end, tool, flows, packets, detected, alerts, alert_events, alert_kinds,\n"
      "time_to_first_alert_s, coinciding_alerts}], attacks {episodes, detected}, alerts\n"
      "{distinct, events, attributed, coinciding}, false_alerts {total, by_kind, per_hour}.\n"
      "  scripts/lab --synthetic --out lab && netsentry evaluate --pcap lab/capture.pcap \\\n"
      "      --labels lab/labels.csv --no-model\n"
      "  netsentry evaluate --pcap lab/capture.pcap --labels lab/labels.csv -m models/lab --json");

  DashboardOptions dashboard;
  auto* dashboard_cmd = app.add_subcommand(
      "dashboard",
      "Serve the dashboard from the SQLite store a `monitor` writes (another process)");
  dashboard_cmd->add_option("--db", dashboard.db, "The store (a monitor's <out>/netsentry.db)")
      ->required();
  dashboard_cmd->add_option("--listen", dashboard.listen, "HOST:PORT to serve on")
      ->capture_default_str();
  dashboard_cmd->add_option("--auth-token", dashboard.auth_token,
                            "Token every API/SSE request must carry (required beyond loopback)");
  dashboard_cmd->add_option("--auth-token-file", dashboard.auth_token_file,
                            "Read the token from this file's first line");
  dashboard_cmd->add_option("--allow-host", dashboard.allow_hosts,
                            "A host name the page may be opened by (repeatable); addresses and "
                            "localhost always work");
  dashboard_cmd->add_option("--web-dir", dashboard.web_dir, web_dir_help(installed));
  dashboard_cmd->footer(
      "Reads the store while the monitor writes it (SQLite WAL) and follows new traffic and "
      "alerts.\n"
      "Examples:\n"
      "  netsentry dashboard --db netsentry-data/netsentry.db\n"
      "  netsentry dashboard --db /var/lib/netsentry/netsentry.db --listen 0.0.0.0:8050 "
      "--auth-token-file /etc/netsentry/token");

  HubOptions hub;
  auto* hub_cmd = add_hub_command(app, hub);
  CollectOptions collect;
  auto* collect_cmd = add_collect_command(app, collect);

  const std::filesystem::path config = config_file_of(argc, argv);
  // An error about a value the configuration file set names the file and line.
  auto located = [&](std::string_view message) {
    const std::string where =
        config.empty() ? std::string() : config_error_location(config, argc, argv, message);
    return where.empty() ? std::string(message) : where + ": " + std::string(message);
  };
  try {
    // CLI11 skips what it does not know in a configuration file; a typo must not pass silently.
    if (!config.empty()) check_config_file(config, app);
  } catch (const core::Error& e) {
    std::fprintf(stderr, "netsentry: error: %s\n", e.what());
    return core::kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (write_config) {
      // --write-config needs no subcommand: print before the "subcommand required" error.
      std::fputs(config_file_text(app).c_str(), stdout);
      return 0;
    }
    if (const std::string message = located(e.what()); message != e.what()) {
      std::fprintf(stderr, "netsentry: error: %s\n", message.c_str());
      return core::kExitUsage;
    }
    return app.exit(e);
  }
  if (write_config) {
    std::fputs(config_file_text(app).c_str(), stdout);
    return 0;
  }
  // On the command line only: the shipped netsentry.toml names a listen address too, and a plain
  // replay must not start serving because of it.
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--listen" || arg.starts_with("--listen=")) monitor.listen_given = true;
  }
  // A configuration file writes an empty list as "" (one empty item): drop those.
  for (auto* list : {&watch.interfaces, &monitor.watch.interfaces, &monitor.suppress,
                     &monitor.allow_hosts, &dashboard.allow_hosts}) {
    std::erase(*list, std::string());
  }

  try {
    core::LogOptions log;
    log.verbose = verbose;
    log.quiet = quiet;
    if (watch_cmd->parsed()) log.file = watch.out_dir / "network_analysis.log";
    if (monitor_cmd->parsed()) log.file = monitor.watch.out_dir / "network_analysis.log";
    if (hub_cmd->parsed()) log.file = hub.out_dir / "network_analysis.log";
    if (collect_cmd->parsed()) log.file = collect.out_dir / "network_analysis.log";
    core::setup_logging(log);
    int rc = core::kExitOk;
    if (flows_cmd->parsed()) {
      flows.quiet = flows.quiet || quiet;
      rc = run_flows(flows);
    } else if (watch_cmd->parsed()) {
      rc = run_watch(watch);
    } else if (monitor_cmd->parsed()) {
      monitor.config_file = config;
      rc = run_monitor(monitor);
    } else if (train_cmd->parsed()) {
      train.models.clear();
      std::string item;
      for (char c : models_csv + ",") {
        if (c == ',') {
          if (!item.empty()) train.models.push_back(item);
          item.clear();
        } else if (c != ' ') {
          item += c;
        }
      }
      rc = run_train(train, join_args(argc, argv));
    } else if (evaluate_cmd->parsed()) {
      rc = run_evaluate(evaluate, join_args(argc, argv));
    } else if (dashboard_cmd->parsed()) {
      rc = run_dashboard(dashboard);
    } else if (hub_cmd->parsed()) {
      rc = run_hub(hub);
    } else if (collect_cmd->parsed()) {
      rc = run_collect(collect);
    }
    core::flush_logging();
    return rc;
  } catch (const core::Error& e) {
    std::fprintf(stderr, "netsentry: error: %s\n", located(e.what()).c_str());
    core::flush_logging();
    return core::kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "netsentry: internal error: %s\n", e.what());
    core::flush_logging();
    return core::kExitFailure;
  }
}

}  // namespace netsentry::app
