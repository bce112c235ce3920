// `netsentry collect`: NetFlow v5/v9 and IPFIX from routers, softflowd or nProbe into flow
// records (what the export carries, nothing made up), the detectors that need only those fields
// (UDP and ICMP floods: packet rates per host), the SQLite store and alerts.csv, and --publish to
// NATS JetStream like a sensor. Until SIGINT/SIGTERM (or --duration).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "app/bus_setup.h"
#include "app/detection_setup.h"
#include "app/sensor_outputs.h"
#include "bus/publisher.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/signals.h"
#include "detect/detection_stage.h"
#include "netflow/export_parser.h"
#include "netflow/ipfix_exporter.h"
#include "netflow/udp_receiver.h"

namespace netsentry::app {
namespace {

std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void log_collect(const netflow::ParserStats& p, const detect::DetectionStats& d) {
  spdlog::info(
      "collect: {} export packets ({} bad: {} truncated, {} bad templates, {} unknown versions), "
      "{} flow records, {} records without a template yet, {} templates; {} alerts raised",
      p.packets, p.bad_packets, p.truncated, p.bad_template, p.unknown_version, p.records,
      p.no_template, p.templates, d.alerts_raised);
}

}  // namespace

CLI::App* add_collect_command(CLI::App& app, CollectOptions& o) {
  auto* cmd = app.add_subcommand(
      "collect", "Collect NetFlow v5/v9 and IPFIX into flows, detect floods, store and publish");
  cmd->add_option("--listen", o.listen, "udp:HOST:PORT to receive exports on (v5, v9, IPFIX)")
      ->capture_default_str();
  cmd->add_option("-o,--out", o.out_dir, "Folder of the store (netsentry.db), alerts.csv, log")
      ->capture_default_str();
  cmd->add_flag("--no-db", o.no_db, "Do not write the SQLite store");
  cmd->add_option("--duration", o.duration_s, "Stop after this many seconds (0: until Ctrl-C)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  const char* detectors = "Detectors";
  cmd->add_option("--detector-window", o.detector_window_s, "Seconds each detector window covers")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->group(detectors);
  cmd->add_option("--udp-flood-pps", o.udp_flood_pps,
                  "UDP flood: packets per second to one host (0 = off)")
      ->capture_default_str()
      ->group(detectors);
  cmd->add_option("--icmp-flood-pps", o.icmp_flood_pps,
                  "ICMP flood: echo requests per second from one source to one host (0 = off)")
      ->capture_default_str()
      ->group(detectors);
  cmd->add_option("--alert-quiet", o.alert_quiet_s,
                  "Seconds without new evidence after which a host's alert is past")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->group(detectors);
  add_publish_options(*cmd, o.publish, false);
  cmd->footer(
      "One port takes NetFlow v5, v9 and IPFIX (told apart by their version field). Flows keep\n"
      "the fields the export carries; the scan, SYN-flood, brute-force and slow-HTTP detectors\n"
      "and the models need packet details exports do not have, so they do not run here.\n"
      "Examples:\n"
      "  netsentry collect --listen udp:0.0.0.0:2055 --out /var/lib/netsentry-collect\n"
      "  netsentry collect --listen udp:0.0.0.0:4739 --publish nats://hub:4222 --sensor core-rtr\n"
      "  softflowd -r trace.pcap -n 127.0.0.1:2055 -v 10   # feed it a capture");
  return cmd;
}

int run_collect(const CollectOptions& o) {
  std::filesystem::create_directories(o.out_dir);
  detect::DetectionOptions d;
  const auto ns = [](double seconds) { return static_cast<std::int64_t>(seconds * 1e9); };
  // Exports carry counters, not packets: only the rules that need nothing else run (no flow
  // events, no features for the models, no interface traffic).
  d.host.window_ns = ns(o.detector_window_s);
  d.host.port_scan_ports = 0;
  d.host.host_scan_hosts = 0;
  d.host.syn_flood_half_open = 0;
  d.host.brute_force_sessions = 0;
  d.host.brute_force_web_sessions = 0;
  d.host.brute_force_web_burst_sessions = 0;
  d.host.slow_http_connections = 0;
  d.host.exfil_min_seconds = 0;
  d.host.spoof_detection = false;  // no packets: no bindings, no DNS questions
  d.host.dns_tunnel_names = 0;
  d.host.beacon_connections = 0;  // no flow events
  d.host.udp_flood_packets_per_second = o.udp_flood_pps;
  d.host.icmp_flood_packets_per_second = o.icmp_flood_pps;
  d.volume_baseline = false;
  d.site_baseline = false;
  d.profiles.quiet_ns = ns(o.alert_quiet_s);

  SensorOutputs outputs(make_publisher(o.publish, o.out_dir, false), nullptr, "collect");
  OutputSettings settings;
  settings.out_dir = o.out_dir;
  settings.no_db = o.no_db;
  MonitorOutputs sinks(settings, nullptr, &outputs);
  d.first_alert_id = sinks.first_alert_id();
  detect::DetectionStage stage(std::move(d), sinks.sinks());
  stage.adopt_loaded();

  netflow::UdpReceiver receiver(o.listen);
  netflow::ExportParser parser;
  core::StopSignals signals;
  std::printf("netsentry collect: listening on %s (NetFlow v5, v9, IPFIX), writing %s\n",
              receiver.address().c_str(), o.out_dir.c_str());
  std::fflush(stdout);
  spdlog::info("collect: listening on {}, writing {}", receiver.address(), o.out_dir.string());
  core::flush_logging();

  const auto started = std::chrono::steady_clock::now();
  auto next_health = started;
  auto next_log = started + std::chrono::seconds(10);
  std::vector<netflow::ExportedFlow> exported;
  std::vector<flow::FlowRecord> batch;
  std::int64_t newest_ns = 0;
  std::uint64_t last_packets = 0;
  std::string sender;
  const auto health = [&](double packets_per_second) {
    const netflow::ParserStats& p = parser.stats();
    const detect::DetectionStats ds = stage.stats();
    bus::HealthMessage h;
    h.time_ns = wall_ns();
    h.uptime_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    h.mode = "collect";
    h.input = receiver.address();
    h.packets = p.packets;
    h.packets_per_second = packets_per_second;
    h.decode_errors = p.bad_packets;
    h.flows = ds.flows;
    h.alerts = ds.alerts_raised;
    return h;
  };
  while (!signals.token().stop_requested()) {
    const auto now = std::chrono::steady_clock::now();
    if (o.duration_s > 0 && now - started >= std::chrono::duration<double>(o.duration_s)) break;
    // Up to 256 datagrams per batch, or what came within 200 ms.
    exported.clear();
    for (int i = 0; i < 256; ++i) {
      const auto datagram = receiver.receive(std::chrono::milliseconds(i == 0 ? 200 : 0), sender);
      if (datagram.empty()) break;
      parser.parse(datagram, sender, exported);
    }
    if (!exported.empty()) {
      batch.clear();
      for (const netflow::ExportedFlow& f : exported) {
        batch.push_back(netflow::to_flow_record(f));
        newest_ns = std::max(newest_ns, batch.back().end_ns);
      }
      stage.on_flows(batch, false);
      stage.advance(newest_ns);
    }
    if (outputs.active() && now >= next_health) {
      next_health = now + std::chrono::seconds(5);
      outputs.on_health(health(static_cast<double>(parser.stats().packets - last_packets) / 5.0));
      last_packets = parser.stats().packets;
    }
    if (now >= next_log) {
      next_log = now + std::chrono::seconds(10);
      log_collect(parser.stats(), stage.stats());
    }
  }
  stage.finish();
  log_collect(parser.stats(), stage.stats());
  if (outputs.active()) {
    const bool delivered = outputs.flush(std::chrono::seconds(10));
    outputs.on_health(health(0));
    outputs.finish(delivered ? std::chrono::seconds(10) : std::chrono::seconds(0));
    spdlog::info("{}", outputs.summary());
  }
  const netflow::ParserStats& p = parser.stats();
  std::printf("netsentry collect: %llu export packets (%llu bad), %llu flow records\n",
              static_cast<unsigned long long>(p.packets),
              static_cast<unsigned long long>(p.bad_packets),
              static_cast<unsigned long long>(p.records));
  return core::kExitOk;
}

}  // namespace netsentry::app
