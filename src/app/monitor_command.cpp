// `netsentry monitor`: live capture (or a replayed capture file) into flows, scored by the model
// bundle and the detectors into alerts, with the host recorder's counters and connections, until
// SIGINT/SIGTERM (or the end of the replay).
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include "app/bus_setup.h"
#include "app/capture_pipeline.h"
#include "app/commands.h"
#include "app/dashboard_setup.h"
#include "app/detection_setup.h"
#include "app/evidence_setup.h"
#include "app/host_recorder.h"
#include "app/sensor_outputs.h"
#include "app/summary.h"
#include "app/suppression_config.h"
#include "bus/publisher.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/signals.h"
#include "netflow/ipfix_exporter.h"
#include "server/history_source.h"
#include "server/http_server.h"
#include "server/live_state.h"
#include "server/store_source.h"
#include "store/traffic_log.h"

namespace netsentry::app {
namespace {

void log_pipeline(const PipelineStats& s) {
  spdlog::info(
      "capture: {} packets, {} kernel drops, {} queue drops; flows: {} live (peak {}), {} written, "
      "{} evicted, {} interim reports, {} flow events, {} progress reports; malformed {}",
      s.capture.received, s.capture.kernel_dropped, s.capture.queue_dropped, s.flows.current,
      s.flows.peak, s.flows_written, s.flows.evicted, s.ongoing_reported, s.flow_events,
      s.progress_reports, s.decode.malformed);
  spdlog::info(
      "packets: {} in flows + {}{}; tunnels: {} inner packets; fragments: {} reassembled, "
      "{} datagrams incomplete",
      s.decode.packets - s.decode.not_in_flows() - s.flows.flood.summarized,
      format_flood_summarized(s.flows.flood), format_not_in_flows(s.decode), s.tunnels.total(),
      s.reassembly.reassembled_fragments, s.reassembly.incomplete);
}

void log_detection(const detect::DetectionStats& d, const store::SqliteStore* store) {
  const detect::MlDetectorStats& ml = d.ml;
  const double flows = static_cast<double>(std::max<std::uint64_t>(1, d.flows));
  spdlog::info(
      "detection: {} flows ({} scored, {} anomalous, {} typical here, {} with ML evidence = "
      "{:.2f}%, {} one-packet, {} ordinary; {} early verdicts, {} not needed, {} flagged while "
      "the site baseline learned), {} interim, {} "
      "events, {} traffic samples; evidence {} ({} suppressed); alerts: {} raised (LOW {}, MEDIUM "
      "{}, HIGH {}, "
      "CRITICAL {}), {} deliveries; scoring {:.2f} s ({:.2f} s early){}",
      d.flows, ml.scored, ml.anomalous, ml.typical_here, ml.with_evidence,
      100.0 * static_cast<double>(ml.with_evidence) / flows, ml.one_packet, ml.ordinary,
      ml.early_scored, ml.early_superseded, ml.early_held, d.interim, d.events, d.traffic_samples,
      d.evidence, d.suppressed, d.alerts_raised, d.alerts_by_severity[0], d.alerts_by_severity[1],
      d.alerts_by_severity[2], d.alerts_by_severity[3], d.deliveries, ml.seconds, ml.early_seconds,
      d.site_ready ? "; site baseline ready" : "");
  std::string detectors;
  for (const auto& [name, st] : d.detectors) {
    detectors += fmt::format("{}{} {}", detectors.empty() ? "" : ", ", name, st.evidence);
  }
  spdlog::info(
      "profiles: {} hosts, {} engaged, {} evicted; attempts: {} judged, {} pending, {} "
      "judged early, {} more in {} flood summaries; evidence by detector: {}",
      d.profiles.hosts, d.profiles.engaged, d.profiles.evictions, d.attempts.attempts,
      d.attempts.pending, d.attempts.judged_early, d.flood_attempts, d.flood_summaries, detectors);
  if (store != nullptr) {
    const store::StoreStats st = store->stats();
    const auto error = store->last_error();
    spdlog::info(
        "store: {} rows written in {} commits, {} rows dropped ({} items; queue full), {} write "
        "errors{}",
        st.rows_written, st.commits, st.rows_dropped, st.dropped, st.write_errors,
        error ? "; last error: " + *error : std::string());
  }
}

// The sensor's health for the bus: capture, detection and queue counters.
bus::HealthMessage sensor_health(const PipelineStats& ps, const detect::DetectionStats& ds,
                                 const std::string& model, const store::SqliteStore* store,
                                 const std::string& mode, const std::string& input,
                                 std::chrono::steady_clock::time_point started, double pps) {
  bus::HealthMessage h;
  h.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  h.uptime_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  h.mode = mode;
  h.input = input;
  h.packets = ps.capture.received;
  h.packets_per_second = pps;
  h.kernel_drops = ps.capture.kernel_dropped + ps.capture.if_dropped;
  h.queue_drops = ps.capture.queue_dropped;
  h.decode_errors = ps.decode.malformed;
  h.flows = ds.flows;
  h.alerts = ds.deliveries;
  h.model = model;
  h.queues.push_back({"packet ring", ps.ring_depth, 65536, ps.capture.queue_dropped});
  h.queues.push_back({"flow batches", ps.queue_depth, 256, ps.queue_dropped});
  if (store != nullptr) h.queues.push_back({"sqlite writer", 0, 0, store->stats().dropped});
  return h;
}

double parse_speed(const std::string& text) {
  if (text == "max") return 0;
  double v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || !(v > 0)) {
    throw core::Error("--speed " + text + ": use a positive factor (1, 10) or max");
  }
  return v;
}

// The bundle `monitor` uses without --model: models/default beside the binary's source tree or
// installed next to it, when present.
std::filesystem::path default_model() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (const auto& dir :
       {exe.parent_path() / "models" / "default",
        exe.parent_path().parent_path().parent_path() / "models" / "default",
        exe.parent_path().parent_path() / "share" / "netsentry" / "models" / "default"}) {
    if (std::filesystem::exists(dir / "manifest.json", ec)) return dir;
  }
  return {};
}

}  // namespace

namespace {

// The generic model: --model, else models/default unless --no-model or --learn-baseline.
std::filesystem::path model_dir_of(const MonitorOptions& o) {
  if (o.no_model && o.learn_baseline) {
    throw core::Error("--no-model and --learn-baseline exclude each other");
  }
  if (o.no_model) return {};
  if (!o.model.empty()) {
    if (o.learn_baseline) throw core::Error("--learn-baseline and --model exclude each other");
    return o.model;
  }
  return o.learn_baseline ? std::filesystem::path() : default_model();
}

}  // namespace

int run_monitor(const MonitorOptions& options) {
  {
    std::error_code ec;
    std::filesystem::create_directories(options.watch.out_dir, ec);
    if (ec) {
      throw core::Error(fmt::format("--out {}: cannot create the output folder: {}",
                                    options.watch.out_dir.string(), ec.message()));
    }
  }
  const double speed = parse_speed(options.speed);
  const bool replay = !options.pcap.empty();
  const std::filesystem::path model_dir = model_dir_of(options);
  detect::DetectionOptions detection = detection_options(options, model_dir, replay);
  if (options.no_model) {
    spdlog::info("monitor: no ML scoring (--no-model): volume rules and host detectors only");
  }
  // NATS JetStream and IPFIX: nothing is lost in a replay (the publisher waits for room).
  SensorOutputs outputs(make_publisher(options.publish, options.watch.out_dir, replay),
                        make_ipfix_exporter(options.publish), "capture");

  // The packets behind each alert: recorded by the pipeline, written per alert by its own thread;
  // the server reads the files (so it is built first and goes last).
  EvidenceSetup evidence(options);
  // The dashboard's live state, fed by the detection stage's sinks; the server reads it.
  std::unique_ptr<server::LiveState> live;
  std::unique_ptr<server::HistorySource> history;  // live + the store, when there is one
  std::unique_ptr<server::HttpServer> http;
  // A replay serves the page with --stay (until a signal) or with an explicit --listen (while it
  // runs: the process ends with the capture); a plain replay serves nothing.
  const bool serve =
      !options.no_dashboard && (options.pcap.empty() || options.stay || options.listen_given);
  if (serve) live = std::make_unique<server::LiveState>();
  MonitorOutputs sinks(options, live.get(), outputs.active() ? &outputs : nullptr);
  detection.first_alert_id = sinks.first_alert_id();
  detect::DetectionOutputs stage_outputs = sinks.sinks();
  if (evidence.sink() != nullptr) stage_outputs.alerts.push_back(evidence.sink());
  detect::DetectionStage stage(std::move(detection), std::move(stage_outputs));
  // The page's suppression rules: applied to the stage, saved to the configuration file.
  SuppressionConfig suppressions(stage, options.suppress, options.config_file);
  if (serve) {
    // Acknowledging on the page persists to the store, so `dashboard --db` shows it too.
    live->set_ack_listener([&sinks](std::int64_t id) { (void)sinks.acknowledge(id); });
    live->set_packet_reader([&evidence](std::int64_t id) { return evidence.read(id); });
    server::ServerOptions server = server_options(
        options.listen, options.auth_token, options.auth_token_file, find_web_dir(options.web_dir));
    server.allowed_hosts = options.allow_hosts;
    server.suppressions = &suppressions;
    // With a store, the page's time ranges and host pages reach back past the live rings.
    if (!sinks.store_path().empty()) {
      server::StoreSourceOptions history_options;
      history_options.warm_top_lists = false;  // the top lists are served live
      history = std::make_unique<server::HistorySource>(
          *live, std::make_unique<server::StoreSource>(sinks.store_path(), history_options),
          static_cast<std::int64_t>(server::LiveStateOptions{}.timeline_points) * 1000);
    }
    http = std::make_unique<server::HttpServer>(
        history ? static_cast<server::DashboardSource&>(*history) : *live, std::move(server));
    http->start();
    spdlog::info("monitor: dashboard on {}{}", http->url(),
                 replay && !options.stay ? " until the replay ends (--stay keeps it up)" : "");
  }

  std::unique_ptr<CapturePipeline> pipeline;
  // The signal thread wakes the capture thread so Ctrl-C is handled within one read timeout.
  std::atomic<CapturePipeline*> wake_target{nullptr};
  core::StopSignals signals([&wake_target] {
    if (auto* p = wake_target.load()) p->break_capture();
  });

  // Replays write the capture's own per-second series where the host counters would go.
  std::unique_ptr<store::TrafficLog> replay_log;  // written by the stage thread only
  PipelineHooks hooks;
  hooks.sightings = [&stage](std::span<const net::Sighting> sightings) {
    stage.on_sightings(sightings);
  };
  hooks.events = [&stage](std::span<const flow::FlowEvent> events) {
    stage.on_flow_events(events);
  };
  hooks.progress = [&stage](std::span<const flow::FlowRecord> records) {
    stage.on_flow_progress(records);
  };
  hooks.floods = [&stage](std::span<const flow::FloodSummary> floods) {
    stage.on_flood_summaries(floods);
  };
  hooks.flows = [&stage](std::span<const flow::FlowRecord> flows, bool interim) {
    stage.on_flows(flows, interim);
  };
  hooks.advance = [&stage](std::int64_t now_ns) { stage.advance(now_ns); };
  PipelineOptions popts;
  popts.ongoing_after_s = options.ongoing_after_s;
  popts.meter = make_meter_config(options.flow);
  popts.recorder = evidence.recorder();
  const std::string flows_path = (options.watch.out_dir / "flows.csv").string();

  if (replay) {
    replay_log = std::make_unique<store::TrafficLog>(store::TrafficLogOptions{
        options.watch.out_dir, static_cast<std::uint64_t>(options.watch.rotate_mb * 1024 * 1024),
        static_cast<std::size_t>(std::max(1, options.watch.rotate_keep))});
    hooks.traffic = [&stage, &replay_log, &live, &outputs](const host::TrafficSample& s) {
      replay_log->write(s);
      stage.on_traffic(s);
      if (live) live->add_traffic_sample(s);
      outputs.on_traffic(s);
    };
    popts.lossless = true;
    popts.speed = speed;
    popts.capture_series = true;
    pipeline = std::make_unique<CapturePipeline>(capture::open_file(options.pcap, options.filter),
                                                 monitor_flow_config(options), flows_path, popts,
                                                 std::move(hooks));
  } else if (options.no_capture) {
    spdlog::info("monitor: packet capture off (--no-capture): recording counters and connections");
  } else {
    capture::LiveOptions live;
    live.interface = options.interface;
    live.filter = options.filter;
    live.snaplen = options.snaplen;
    live.promisc = options.promisc;
    try {
      pipeline =
          std::make_unique<CapturePipeline>(capture::open_live(live), monitor_flow_config(options),
                                            flows_path, popts, std::move(hooks));
    } catch (const capture::PermissionError& e) {
      spdlog::warn("{}", e.what());
      spdlog::warn("monitor: continuing with counters and connections only (no flows)");
    }
  }
  if (pipeline) {
    stage.watch_output(
        writer_output("flows.csv", [p = pipeline.get()] { return p->flows_health(); }));
    if (replay_log) {
      stage.watch_output(writer_output(std::string(store::TrafficLog::kTrafficFile),
                                       [l = replay_log.get()] { return l->traffic_health(); }));
    }
    // A replay reads packets while the bundle loads (~60 ms for a forest's JSON, a tenth of a
    // lab capture's replay): its first scoring batch waits for the bundle on the stage thread, so
    // every flow is judged by the model, as if it had been there from the first packet. A bundle
    // that passed the manifest check but does not load stops the replay below, after the flows
    // read so far were written unscored.
    pipeline->start();
    wake_target.store(pipeline.get());
    spdlog::info("monitor: {} {}, writing {}", replay ? "replaying" : "capturing on",
                 pipeline->description(), flows_path);
  }
  // The model bundle loads beside the starting pipeline; an unusable one stops monitor here.
  try {
    stage.wait_for_model();
  } catch (const core::Error&) {
    if (pipeline) {
      wake_target.store(nullptr);
      pipeline->stop();
    }
    if (http) http->stop();
    throw;
  }
  if (!pipeline) stage.adopt_loaded();

  std::jthread stats_thread;
  const auto started = std::chrono::steady_clock::now();
  const std::string mode = replay ? "replay" : pipeline ? "capture" : "counters";
  const std::string input = pipeline ? pipeline->description() : std::string();
  if (pipeline || live || outputs.active()) {
    const std::size_t flow_table_capacity = pipeline ? make_flow_config(options.flow).max_flows : 0;
    stats_thread = std::jthread([&pipeline, &stage, &sinks, &live, &outputs, &evidence, started,
                                 mode, input, flow_table_capacity](std::stop_token st) {
      std::mutex m;
      std::condition_variable_any cv;
      std::uint64_t last_packets = 0, last_flows = 0;
      for (int tick = 1; !st.stop_requested(); ++tick) {
        std::unique_lock lock(m);
        if (cv.wait_for(lock, st, std::chrono::seconds(1), [] { return false; })) break;
        if (st.stop_requested()) break;
        const PipelineStats ps = pipeline ? pipeline->stats() : PipelineStats{};
        const detect::DetectionStats ds = stage.stats();
        if (live) {
          server::PipelineStatus status;
          status.packets_total = ps.capture.received;
          status.flows_total = ds.flows;
          status.flood_summarized = ps.flows.flood.summarized;
          status.flows_per_second = static_cast<double>(ds.flows - last_flows);
          status.health.packets_per_second =
              static_cast<double>(ps.capture.received - last_packets);
          status.health.kernel_drops = ps.capture.kernel_dropped + ps.capture.if_dropped;
          status.health.queue_drops = ps.capture.queue_dropped;
          status.health.flow_table_size = ps.flows.current;
          status.health.flow_table_capacity = flow_table_capacity;
          status.health.decode_errors = ps.decode.malformed;
          status.queues.push_back({"packet ring", ps.ring_depth, 65536, ps.capture.queue_dropped});
          status.queues.push_back({"flow batches", ps.queue_depth, 256, ps.queue_dropped});
          if (const store::SqliteStore* db = sinks.store()) {
            const store::StoreStats st = db->stats();
            status.queues.push_back(
                {"sqlite writer", st.queue_depth, st.queue_capacity, st.dropped});
          }
          status.evidence = evidence.status();
          live->set_pipeline(status);
        }
        if (outputs.active() && tick % 5 == 1) {
          outputs.on_health(sensor_health(ps, ds, stage.model_description(), sinks.store(), mode,
                                          input, started,
                                          static_cast<double>(ps.capture.received - last_packets)));
        }
        last_packets = ps.capture.received;
        last_flows = ds.flows;
        if (tick % 10 == 0 && pipeline) {
          log_pipeline(ps);
          log_detection(ds, sinks.store());
          spdlog::info("{}", evidence.summary());
        }
      }
    });
  }

  std::uint64_t samples = 0;
  std::uint64_t connection_events = 0;
  std::vector<std::string> unflushed;  // files whose last rows the disk did not take
  std::string replay_error;
  if (replay) {
    // Until the file ends (or a signal), then drain; with --stay, on until a signal.
    while (!signals.token().stop_requested() && !pipeline->input_ended()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    wake_target.store(nullptr);
    pipeline->stop();
    stage.finish();
    replay_log->flush();
    unflushed = stage.failing_outputs();
    // A capture that could not be read to its end is an error (the flows up to it are kept).
    replay_error = pipeline->input_error();
    log_pipeline(pipeline->stats());
    log_detection(stage.stats(), sinks.store());
    spdlog::info("{}", evidence.summary());
    core::flush_logging();
    if (options.stay && !signals.token().stop_requested()) {
      spdlog::info("monitor: replay done; staying up until Ctrl-C / SIGTERM (--stay)");
      core::flush_logging();
      while (!signals.token().stop_requested()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  } else {
    // The connections table: the tracker's changes applied to a bounded map.
    std::map<std::string, server::ConnectionRow> open_connections;
    HostRecorder recorder(
        options.watch,
        [&stage, &live, &outputs](const host::TrafficSample& s) {
          stage.on_traffic(s);
          if (live) live->add_traffic_sample(s);
          outputs.on_traffic(s);
        },
        [&sinks, &live, &outputs, &open_connections](
            std::chrono::system_clock::time_point t,
            std::span<const host::ConnectionEvent> events) {
          if (store::SqliteStore* db = sinks.store(); db != nullptr && !events.empty()) {
            (void)db->add_connections(t, events);
          }
          outputs.on_connections(t, events);
          if (!live) return;
          for (const auto& e : events) {
            const auto& c = e.connection;
            const std::string key = fmt::format(
                "{}|{}:{}|{}:{}", c.socket.transport == host::Transport::kTcp ? "TCP" : "UDP",
                c.socket.local.ip.to_string(), c.socket.local.port, c.socket.remote.ip.to_string(),
                c.socket.remote.port);
            if (e.kind == host::ConnectionEventKind::kClosed) {
              open_connections.erase(key);
              continue;
            }
            if (open_connections.size() >= 5000 && !open_connections.contains(key)) continue;
            server::ConnectionRow row;
            row.local_ip = c.socket.local.ip.to_string();
            row.local_port = c.socket.local.port;
            row.remote_ip = c.socket.remote.empty() ? "" : c.socket.remote.ip.to_string();
            row.remote_port = c.socket.remote.port;
            row.status = std::string(host::state_name(c.socket.state));
            row.type = c.socket.transport == host::Transport::kTcp ? "TCP" : "UDP";
            row.pid = c.pid > 0 ? c.pid : 0;
            row.process = c.process;
            open_connections[key] = std::move(row);
          }
          std::vector<server::ConnectionRow> rows;
          rows.reserve(open_connections.size());
          for (const auto& [k, r] : open_connections) rows.push_back(r);
          live->set_connections(std::move(rows));
        });
    stage.watch_output(writer_output(std::string(store::TrafficLog::kTrafficFile),
                                     [&recorder] { return recorder.log().traffic_health(); }));
    stage.watch_output(writer_output(std::string(store::TrafficLog::kConnectionsFile),
                                     [&recorder] { return recorder.log().connections_health(); }));
    spdlog::info("monitor: recording counters and connections into {}; Ctrl-C stops",
                 options.watch.out_dir.string());
    core::flush_logging();  // the start-up lines reach the log file now, not at the next flush
    recorder.run(signals.token());  // returns on a signal or after --duration
    samples = recorder.samples();
    connection_events = recorder.connection_events();
    if (pipeline) {
      wake_target.store(nullptr);
      pipeline->stop();
      log_pipeline(pipeline->stats());
    }
    stage.finish();
    unflushed = stage.failing_outputs();  // while the recorder's files still exist
    log_detection(stage.stats(), sinks.store());
    if (pipeline) spdlog::info("{}", evidence.summary());
  }
  if (stats_thread.joinable()) {
    stats_thread.request_stop();
    stats_thread.join();
  }
  if (outputs.active()) {
    // The final state, so a short replay reports its health too; after what came before it was
    // delivered, so it says what is left.
    const auto drain =
        std::chrono::milliseconds(static_cast<std::int64_t>(options.publish_drain_s * 1000));
    const bool delivered = outputs.flush(drain);
    outputs.on_health(sensor_health(pipeline ? pipeline->stats() : PipelineStats{}, stage.stats(),
                                    stage.model_description(), sinks.store(), mode, input, started,
                                    0));
    outputs.finish(delivered ? drain : std::chrono::milliseconds(0));
    spdlog::info("{}", outputs.summary());
  }
  if (http) http->stop();
  if (unflushed.empty()) {
    spdlog::info("monitor: stopped; {} samples, {} connection events; every file flushed", samples,
                 connection_events);
  } else {
    spdlog::warn("monitor: stopped; {} samples, {} connection events; files flushed, except {}",
                 samples, connection_events, fmt::join(unflushed, "; "));
  }
  if (!replay_error.empty()) {
    spdlog::error("monitor: {}", replay_error);
    core::flush_logging();
    return core::kExitFailure;
  }
  return 0;
}

}  // namespace netsentry::app
