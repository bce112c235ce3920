// `netsentry hub`: many sensors, one view. Reads the sensors' JetStream stream through a durable
// consumer into one SQLite store (the sensor's schema plus a sensor column) and serves the
// dashboard and API over every sensor (a sensor selector, per-sensor health, ?sensor= on every
// endpoint), with cross-sensor alerts. Until SIGINT/SIGTERM (or --duration).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "app/bus_setup.h"
#include "app/dashboard_setup.h"
#include "bus/hub_ingest.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/signals.h"
#include "server/http_server.h"
#include "server/hub_source.h"
#include "store/sqlite_store.h"

namespace netsentry::app {
namespace {

void log_hub(const bus::HubIngestStats& s, const store::StoreStats& st) {
  spdlog::info(
      "hub: {} messages applied ({} already applied before, {} not netsentry's), {} flows, {} "
      "alert states, {} cross-sensor alert states; {} deliveries ({} redelivered), {} "
      "acknowledged; store: {} rows in {} commits, {} write errors",
      s.messages, s.duplicates, s.consumer.bad, s.flows, s.alerts, s.cross_sensor_alerts,
      s.consumer.received, s.consumer.redelivered, s.consumer.acked, st.rows_written, st.commits,
      st.write_errors);
}

}  // namespace

CLI::App* add_hub_command(CLI::App& app, HubOptions& o) {
  auto* cmd = app.add_subcommand(
      "hub", "Read every sensor's messages from NATS JetStream into one store and dashboard");
  cmd->add_option("--nats", o.nats, "NATS server(s): nats://HOST:PORT, comma-separated")
      ->capture_default_str();
  cmd->add_option("-o,--out", o.out_dir, "Folder of the hub's store (netsentry.db) and log")
      ->capture_default_str();
  cmd->add_option("--durable", o.durable,
                  "Name of this hub's durable consumer; several hubs on one stream each need "
                  "their own")
      ->capture_default_str();
  cmd->add_option("--ack-wait", o.ack_wait_s,
                  "Seconds before JetStream delivers again what this hub took but did not "
                  "acknowledge (after a crash)")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 3600.0));
  cmd->add_option("--fetch-batch", o.fetch_batch, "Messages fetched and committed at once")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  cmd->add_option("--retention-days", o.retention_days, "SQLite retention")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--db-max-mb", o.db_max_mb, "SQLite size cap, oldest rows go (0 = none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--correlation-window", o.correlation_window_s,
                  "Seconds within which one source's alerts from several sensors become one "
                  "cross-sensor alert")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-correlation", o.no_correlation, "No cross-sensor alerts");
  cmd->add_option("--duration", o.duration_s, "Stop after this many seconds (0: until Ctrl-C)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  const char* dashboard = "Dashboard";
  cmd->add_option("--listen", o.listen, "Serve the dashboard and API on HOST:PORT")
      ->capture_default_str()
      ->group(dashboard);
  cmd->add_flag("--no-dashboard", o.no_dashboard, "Do not serve the dashboard")->group(dashboard);
  cmd->add_option("--auth-token", o.auth_token,
                  "Token every API/SSE request must carry (required beyond loopback)")
      ->group(dashboard);
  cmd->add_option("--auth-token-file", o.auth_token_file, "Read the token from this file")
      ->group(dashboard);
  cmd->add_option("--web-dir", o.web_dir, "Dashboard assets (default: web/ beside the binary)")
      ->group(dashboard);
  add_nats_options(*cmd, o.connection, "NATS");
  cmd->footer(
      "Sensors publish with `netsentry monitor --publish nats://HOST:PORT --sensor NAME`; the hub\n"
      "writes <out>/netsentry.db and serves every sensor (a selector on the page, ?sensor=NAME in\n"
      "the API). It resumes where it stopped: nothing is lost or stored twice across restarts.\n"
      "Examples:\n"
      "  netsentry hub --nats nats://127.0.0.1:4222 --out /var/lib/netsentry-hub\n"
      "  netsentry hub --nats nats://a:4222,nats://b:4222,nats://c:4222 --durable hub-2 \\\n"
      "      --listen 127.0.0.1:8051");
  return cmd;
}

int run_hub(const HubOptions& o) {
  std::filesystem::create_directories(o.out_dir);
  store::SqliteStoreOptions so;
  so.path = o.out_dir / "netsentry.db";
  so.retention = std::chrono::nanoseconds(
      static_cast<std::int64_t>(std::max(0.0, o.retention_days) * 86400e9));
  so.max_bytes = static_cast<std::uint64_t>(std::max(0.0, o.db_max_mb) * 1024 * 1024);
  so.queue_capacity = 4096;
  // What the hub acknowledged to the bus must survive a power cut: fsync each commit (a commit
  // holds a whole fetched batch, so this costs a few fsyncs a second).
  so.sync_every_commit = true;
  so.cache_kib = 65536;
  // Bulk writes: large transactions, large pages, a checkpoint every ~160 MB of WAL.
  so.batch_max = 65536;
  so.page_size = 16384;
  so.wal_autocheckpoint_pages = 10000;
  store::SqliteStore store(so);

  bus::HubIngestOptions io;
  io.consumer.connection = connection_options(o.nats, o.connection);
  io.consumer.stream = stream_options(o.connection);
  io.consumer.durable = o.durable;
  io.consumer.ack_wait = std::chrono::milliseconds(std::llround(o.ack_wait_s * 1000));
  io.consumer.fetch_batch = o.fetch_batch;
  io.correlation.window = std::chrono::nanoseconds(std::llround(o.correlation_window_s * 1e9));
  io.correlate = !o.no_correlation;
  bus::HubIngest ingest(io, store);

  std::unique_ptr<server::HubSource> source;
  std::unique_ptr<server::HttpServer> http;
  if (!o.no_dashboard) {
    source = std::make_unique<server::HubSource>(so.path);
    http = std::make_unique<server::HttpServer>(
        *source,
        server_options(o.listen, o.auth_token, o.auth_token_file, find_web_dir(o.web_dir)));
    http->start();
  }
  core::StopSignals signals;
  std::jthread reader([&ingest](std::stop_token stop) { ingest.run(stop); });
  std::printf("netsentry hub: reading %s (stream %s, consumer %s) into %s%s%s\n", o.nats.c_str(),
              io.consumer.stream.name.c_str(), o.durable.c_str(), so.path.c_str(),
              http ? "; dashboard " : "", http ? http->url().c_str() : "");
  std::fflush(stdout);
  spdlog::info("hub: reading {} into {}{}", o.nats, so.path.string(),
               http ? "; dashboard on " + http->url() : std::string());
  core::flush_logging();

  const auto start = std::chrono::steady_clock::now();
  std::mutex mutex;
  std::condition_variable_any woken;
  for (int tick = 1;; ++tick) {
    std::unique_lock lock(mutex);
    if (woken.wait_for(lock, signals.token(), std::chrono::seconds(1), [] { return false; }) ||
        signals.token().stop_requested()) {
      break;
    }
    if (o.duration_s > 0 &&
        std::chrono::steady_clock::now() - start >= std::chrono::duration<double>(o.duration_s)) {
      break;
    }
    if (tick % 10 == 0) log_hub(ingest.stats(), store.stats());
  }
  reader.request_stop();
  reader.join();
  store.flush();
  if (http) http->stop();
  log_hub(ingest.stats(), store.stats());
  spdlog::info("hub: stopped");
  return core::kExitOk;
}

}  // namespace netsentry::app
