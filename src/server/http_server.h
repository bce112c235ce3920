// Provides server::HttpServer, the dashboard's web server: the JSON API and the server-sent event
// stream over a DashboardSource, Prometheus /metrics, and the page's static files (docs/api.md).
// It is the only user of cpp-httplib. Security: binds 127.0.0.1 unless told otherwise, and any
// other address needs a bearer token checked (in constant time) on every /api and /metrics
// request; a Content-Security-Policy without inline scripts; request, query and URI limits; only
// the asset files found at start are served, so no path reaches outside the assets directory.
// Every request's Host header must name this server (DNS rebinding) and state changes need the
// page's own Origin (CSRF); query values must be UTF-8. Threads: the listen thread, one thread
// waiting on incomplete requests and a fixed pool of worker_threads + max_sse_clients workers
// (server/connection_gate.h); memory is bounded whatever clients do (capped waiting connections,
// request sizes in every transfer encoding, SSE clients and per-write work).
// Thread rules: start() and stop() from one owner thread; counters() from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/connection_gate.h"
#include "server/dashboard_source.h"
#include "server/request_checks.h"
#include "server/suppression_control.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace netsentry::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8050;  // 0 picks a free port (see HttpServer::port())
  // Required (at least 16 characters) when host is not a loopback address; when set it is
  // checked on every request to /api and /metrics, loopback or not.
  std::string auth_token;
  // Folder with index.html, app.js, style.css; empty serves the API only.
  std::filesystem::path assets_dir;
  // Plotly for /vendor/plotly.min.js; empty means <assets_dir>/vendor/plotly-basic.min.js (the
  // build's and the install's copy), else <assets_dir>/node_modules/plotly.js-basic-dist-min/
  // plotly-basic.min.js (a source checkout after `npm ci`): the scatter/bar build.
  std::filesystem::path plotly_path;
  std::size_t worker_threads = 8;               // for plain requests
  std::size_t max_sse_clients = 64;             // more get 503
  std::chrono::milliseconds heartbeat{10'000};  // SSE comment line when nothing else was sent
  std::size_t max_events_per_write = 256;       // per wake-up of one SSE client
  // An SSE client is written at most this often: events that come in a burst (a replay, a
  // flood of alerts) go out together instead of waking every client for each one.
  std::chrono::milliseconds min_write_interval{100};
  std::size_t max_body_bytes = 4096;  // larger request bodies get 413 (chunked: connection closed)
  // Slow clients (see server/connection_gate.h): a request head must arrive within
  // header_timeout of its first byte, the next request within idle_timeout; one address keeps at
  // most max_waiting_per_ip connections waiting (a new one closes its oldest) and
  // max_connections_per_ip open.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{5'000};
  std::size_t max_waiting_per_ip = 16;
  std::size_t max_connections_per_ip = 256;
  std::size_t max_connections = 1024;  // all addresses together; more get 503
  // Host names (besides IP literals and localhost) that requests may carry in their Host header;
  // any other name is refused with 403, so a DNS-rebinding page cannot read the API.
  std::vector<std::string> allowed_hosts;
  // The running stage's suppression rules (GET/POST /api/suppressions); null: the server has none
  // to change (dashboard --db, hub), and those endpoints answer 404.
  SuppressionControl* suppressions = nullptr;
};

struct ServerCounters {
  std::uint64_t requests = 0;
  std::uint64_t unauthorized = 0;
  std::uint64_t rejected = 0;   // 400 / 413 / 414 from the limits
  std::uint64_t forbidden = 0;  // 403: foreign Host header or cross-site state change
  std::uint64_t sse_clients = 0;
  std::uint64_t sse_refused = 0;
  GateCounters connections{};
};

// True for 127.0.0.0/8, ::1 and "localhost".
[[nodiscard]] bool is_loopback_host(std::string_view host);

class HttpServer final {
 public:
  // Checks the options and loads the assets; throws core::Error (one line: what and where) for a
  // non-loopback host without a token, a short token, or an assets folder without index.html.
  HttpServer(DashboardSource& source, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on a background thread; throws core::Error when the address cannot
  // be bound. Once per object: a stopped server is not restarted.
  void start();
  // Ends every SSE stream, stops accepting and joins all threads. Idempotent.
  void stop();

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url() const;  // "http://127.0.0.1:8050"
  [[nodiscard]] ServerCounters counters() const;

 private:
  class Impl;

  DashboardSource& source_;
  const ServerOptions options_;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  bool started_ = false;
  std::jthread listener_;
};

}  // namespace netsentry::server
