#include "server/http_server.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/utf8.h"
#include "net/packet.h"
#include "server/api_json.h"
#include "server/http_lib.h"
#include "server/request_checks.h"
#include "server/sessions.h"

namespace netsentry::server {

namespace {

using nlohmann::json;

constexpr std::size_t kMinTokenLength = 16;
constexpr std::size_t kMaxQueryValue = 256;
constexpr std::size_t kMaxQueryParams = 16;
constexpr std::size_t kMaxTargetLength = 2048;
constexpr std::int64_t kMaxWindowSeconds = 7 * 24 * 3600;

// The "; charset" suffix also keeps httplib from compressing JSON (it only compresses exact
// "application/json"): brotli at its default quality costs far more CPU than loopback bytes.
constexpr const char* kJsonType = "application/json; charset=utf-8";

// Scripts only from this origin, never inline. Styles may be inline because Plotly injects its
// stylesheet at run time; without it the chart's layers cover the page (the e2e test catches it).
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' "
    "data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// A bad query value: answered with 400 and the message.
struct BadRequest {
  std::string message;
};

// An unknown ?sensor= (404).
struct NotFound {
  std::string message;
};

std::int64_t parse_int(const httplib::Request& req, const char* name, std::int64_t fallback,
                       std::int64_t min, std::int64_t max_clamp) {
  if (!req.has_param(name)) return fallback;
  const std::string value = req.get_param_value(name);
  std::int64_t out = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || end != value.data() + value.size()) {
    throw BadRequest{"query parameter \"" + std::string(name) + "\": \"" + value +
                     "\" is not an integer"};
  }
  if (out < min) {
    throw BadRequest{"query parameter \"" + std::string(name) + "\": must be at least " +
                     std::to_string(min)};
  }
  // Large limits are capped rather than refused: asking for "everything" gets the most we give.
  return std::min(out, max_clamp);
}

// since= (ms since the epoch) or window= (seconds before the newest data); window wins.
std::int64_t since_ms(const httplib::Request& req, DashboardSource& source) {
  if (req.has_param("window")) {
    const std::int64_t window = parse_int(req, "window", 300, 1, kMaxWindowSeconds);
    return source.stats().time_ms - window * 1000;
  }
  return parse_int(req, "since", 0, INT64_MIN, INT64_MAX);
}

// ?host= (an address, written back the way the API writes addresses), ?from= and ?to= (epoch ms,
// inclusive) or ?window= (seconds before the newest data, instead of from) for the endpoints that
// narrow rows; absent parts narrow nothing.
RowFilter row_filter(const httplib::Request& req, DashboardSource& source) {
  RowFilter filter;
  if (req.has_param("host") && !req.get_param_value("host").empty()) {
    const std::string value = req.get_param_value("host");
    net::IpAddress ip;
    if (!net::IpAddress::parse(value, ip)) {
      throw BadRequest{"query parameter \"host\": \"" + value + "\" is not an IP address"};
    }
    filter.host = ip.to_string();
  }
  filter.from_ms = req.has_param("window")
                       ? since_ms(req, source)
                       : parse_int(req, "from", filter.from_ms, INT64_MIN, INT64_MAX);
  filter.to_ms = parse_int(req, "to", filter.to_ms, INT64_MIN, INT64_MAX);
  if (filter.from_ms > filter.to_ms) throw BadRequest{"query parameter \"from\" is after \"to\""};
  return filter;
}

[[nodiscard]] bool narrows(const httplib::Request& req) {
  return req.has_param("host") || req.has_param("from") || req.has_param("to") ||
         req.has_param("window");
}

// Series points after ?to= (epoch ms) dropped: the end of a range in the past.
template <typename Point>
void drop_after_to(const httplib::Request& req, std::vector<Point>& points) {
  if (!req.has_param("to")) return;
  const std::int64_t to = parse_int(req, "to", INT64_MAX, INT64_MIN, INT64_MAX);
  std::erase_if(points, [to](const Point& p) { return p.time_ms > to; });
}

void send_json(httplib::Response& res, const json& body) {
  res.set_header("Cache-Control", "no-store");
  res.set_content(json_text(body), kJsonType);
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(json_text(json{{"error", message}}), kJsonType);
}

const char* mime_for(const std::filesystem::path& path) {
  static const std::map<std::string, const char*> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".js", "application/javascript; charset=utf-8"},
      {".mjs", "application/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
  };
  const auto it = kTypes.find(path.extension().string());
  return it == kTypes.end() ? nullptr : it->second;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::Error(path.string() + ": cannot read dashboard asset");
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

// Prometheus text exposition format, version 0.0.4.
class MetricsWriter {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void sample(const char* name, double value, const std::string& labels = {}) {
    out_ << name;
    if (!labels.empty()) out_ << '{' << labels << '}';
    // Shortest round-trip form: counters stay exact (an ostream would print 1.23457e+06).
    char buffer[32];
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    out_ << ' ' << std::string_view(buffer, ec == std::errc() ? end : buffer) << '\n';
  }
  static std::string label(const char* key, std::string_view value) {
    std::string escaped;
    for (const char c : value) {
      if (c == '\\' || c == '"') escaped += '\\';
      if (c == '\n') {
        escaped += "\\n";
        continue;
      }
      escaped += c;
    }
    return std::string(key) + "=\"" + escaped + '"';
  }
  std::string str() { return std::move(out_).str(); }

 private:
  std::ostringstream out_;
};

// The listen thread hands every accepted socket straight to the ConnectionGate (through
// GuardedServer's process_and_close_socket), which never blocks: the gate has its own threads.
class InlineTaskQueue final : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

// httplib's Server with its per-socket loop replaced: connections go to the gate, which calls
// serve() for each complete request (process_request is httplib's own request handling).
class GuardedServer final : public httplib::Server {
 public:
  void set_gate(ConnectionGate* gate) { gate_ = gate; }
  bool serve(httplib::Stream& stream, bool close, bool& closed) {
    return process_request(stream, close, closed, [](httplib::Request&) {});
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    gate_->accept(sock);
    return true;
  }
  ConnectionGate* gate_ = nullptr;
};

}  // namespace

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr addr{};
  const std::string h(host);
  return inet_pton(AF_INET, h.c_str(), &addr) == 1 && (ntohl(addr.s_addr) >> 24) == 127;
}

struct Asset {
  std::shared_ptr<const std::string> body;
  // Compressed once at start: httplib would otherwise brotli-compress html and css on every
  // request at quality 11 (~35 ms each on the page's critical path, measured) and never
  // compress "application/javascript; charset=utf-8". Null when gzip does not make it smaller.
  std::shared_ptr<const std::string> gzip;
  std::string etag;
  const char* mime = nullptr;
};

namespace {

std::shared_ptr<const std::string> gzip_of(const std::string& body) {
  std::string out;
  httplib::detail::gzip_compressor compressor;
  const bool ok = compressor.compress(body.data(), body.size(), /*last=*/true,
                                      [&out](const char* data, std::size_t size) {
                                        out.append(data, size);
                                        return true;
                                      });
  if (!ok || out.size() >= body.size()) return nullptr;
  return std::make_shared<const std::string>(std::move(out));
}

// A strong validator from the content (FNV-1a 64): the same file gives the same tag across runs.
std::string etag_of(const std::string& body) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : body) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  char hex[17];
  const auto [end, ec] = std::to_chars(hex, hex + 16, h, 16);
  return "\"" + std::string(hex, end) + "-" + std::to_string(body.size()) + "\"";
}

Asset make_asset(std::string body, const char* mime) {
  auto shared = std::make_shared<const std::string>(std::move(body));
  return Asset{shared, gzip_of(*shared), etag_of(*shared), mime};
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(DashboardSource& source, const ServerOptions& options)
      : source_(source), options_(options) {}

  void load_assets() {
    if (options_.assets_dir.empty()) return;
    const std::filesystem::path dir = options_.assets_dir;
    if (!std::filesystem::is_regular_file(dir / "index.html")) {
      throw core::Error(dir.string() + ": dashboard assets folder has no index.html");
    }
    // Only the files present now, by exact name: a request can never name a path outside them.
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      const char* mime = mime_for(entry.path());
      if (mime == nullptr) continue;
      assets_["/" + entry.path().filename().string()] = make_asset(read_file(entry.path()), mime);
    }
    assets_["/"] = assets_.at("/index.html");
    // The build and the install copy Plotly into <dir>/vendor/; a source checkout's web/ has it
    // under node_modules/ after `npm ci`.
    std::filesystem::path plotly = options_.plotly_path;
    if (plotly.empty()) {
      plotly = dir / "vendor" / "plotly-basic.min.js";
      if (!std::filesystem::is_regular_file(plotly)) {
        plotly = dir / "node_modules" / "plotly.js-basic-dist-min" / "plotly-basic.min.js";
      }
    }
    if (!std::filesystem::is_regular_file(plotly)) {
      throw core::Error(plotly.string() + ": Plotly is missing (run `npm ci --omit=dev` in " +
                        dir.string() + ", or build: the build copies it into vendor/)");
    }
    assets_["/vendor/plotly.min.js"] = make_asset(read_file(plotly), mime_for(plotly));
  }

  void configure() {
    GateOptions gate;
    gate.worker_threads = options_.worker_threads + options_.max_sse_clients;
    gate.idle_timeout = options_.idle_timeout;
    gate.header_timeout = options_.header_timeout;
    gate.request_timeout = options_.header_timeout;
    gate.max_request_bytes = gate.max_header_bytes + options_.max_body_bytes + 8 * 1024;
    gate.max_waiting_per_ip = options_.max_waiting_per_ip;
    gate.max_connections_per_ip = options_.max_connections_per_ip;
    gate.max_connections = options_.max_connections;
    gate_ = std::make_unique<ConnectionGate>(
        gate, [this](httplib::Stream& stream, bool close, bool& closed) {
          return server_.serve(stream, close, closed);
        });
    server_.set_gate(gate_.get());
    server_.new_task_queue = [] { return new InlineTaskQueue; };
    server_.set_payload_max_length(options_.max_body_bytes);
    // httplib's default adds SO_REUSEPORT, which would let a second netsentry share the port
    // silently instead of failing with "address in use".
    server_.set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    server_.set_keep_alive_timeout(2);
    server_.set_read_timeout(5, 0);
    server_.set_write_timeout(5, 0);
    server_.set_default_headers({
        {"Content-Security-Policy", kContentSecurityPolicy},
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        // same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on the
        // page's own POSTs, which the CSRF check could not tell from another site's.
        {"Referrer-Policy", "same-origin"},
        {"Cross-Origin-Opener-Policy", "same-origin"},
    });
    server_.set_pre_routing_handler(
        [this](const httplib::Request& req, httplib::Response& res) { return screen(req, res); });
    // Both overloads accept a lambda; name the one that can leave a handler's own body alone.
    server_.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request&, httplib::Response& res) {
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          const char* what = res.status == 404   ? "not found"
                             : res.status == 413 ? "request body too large"
                             : res.status == 414 ? "request URI too long"
                             : res.status == 405 ? "method not allowed"
                                                 : "bad request";
          if (res.status == 413 || res.status == 414) ++rejected_;
          res.set_content(json_text(json{{"error", what}}), kJsonType);
          return httplib::Server::HandlerResponse::Handled;
        }));
    server_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
          send_error(res, 500, "internal error");
        });

    get("/api/stats", [this](const httplib::Request& req, httplib::Response& res) {
      send_json(res, stats_json(view(req).stats()));
    });
    get("/api/traffic", [this](const httplib::Request& req, httplib::Response& res) {
      const std::int64_t since = since_ms(req, view(req));
      const std::string interface =
          req.has_param("interface") ? req.get_param_value("interface") : "total";
      const auto limit = static_cast<std::size_t>(parse_int(req, "limit", 3600, 1, 5000));
      json points = json::array();
      std::vector<TrafficPoint> rows = view(req).traffic(since, interface, limit);
      drop_after_to(req, rows);
      for (const TrafficPoint& p : rows) points.push_back(traffic_json(p));
      send_json(res, {{"interface", interface}, {"points", std::move(points)}});
    });
    get("/api/alerts", [this](const httplib::Request& req, httplib::Response& res) {
      const std::int64_t since = parse_int(req, "since", 0, 0, INT64_MAX);
      const auto limit = static_cast<std::size_t>(parse_int(req, "limit", 200, 1, 1000));
      std::optional<detect::Severity> severity;
      if (req.has_param("severity") && !req.get_param_value("severity").empty()) {
        severity = detect::parse_severity(req.get_param_value("severity"));
        if (!severity) {
          throw BadRequest{"query parameter \"severity\": \"" + req.get_param_value("severity") +
                           "\" is not one of LOW, MEDIUM, HIGH, CRITICAL"};
        }
      }
      const std::string detail =
          req.has_param("evidence") ? req.get_param_value("evidence") : std::string("full");
      if (detail != "full" && detail != "summary") {
        throw BadRequest{"query parameter \"evidence\": \"" + detail +
                         "\" is not one of full, summary"};
      }
      json alerts = json::array();
      const auto rows = narrows(req)
                            ? view(req).find_alerts(row_filter(req, view(req)), severity, limit)
                            : view(req).alerts(since, severity, limit);
      for (const detect::Alert& a : rows) {
        if (a.id > since)
          alerts.push_back(detail == "summary" ? alert_summary_json(a) : alert_json(a));
      }
      send_json(res, {{"alerts", std::move(alerts)}});
    });
    get(R"(/api/alerts/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      const auto id = parse_id(req.matches[1].str());
      if (!id) throw BadRequest{"alert id must be a positive integer"};
      const auto alert = view(req).alert(*id);
      if (!alert) return send_error(res, 404, "no alert " + std::to_string(*id));
      send_json(res, alert_json(*alert));
    });
    // The packets behind an alert (the evidence folder's alert-<id>.pcap), as a download.
    get(R"(/api/alerts/([^/]+)/pcap)", [this](const httplib::Request& req, httplib::Response& res) {
      const auto id = parse_id(req.matches[1].str());
      if (!id) throw BadRequest{"alert id must be a positive integer"};
      DashboardSource& source = view(req);
      auto packets = source.alert_packets(*id);
      if (!packets) {
        if (!source.alert(*id)) return send_error(res, 404, "no alert " + std::to_string(*id));
        return send_error(res, 404,
                          "alert " + std::to_string(*id) +
                              " has no stored packets (the packet recorder was off, its packets "
                              "had already left the recorder's memory, or the file was removed "
                              "by the evidence folder's size budget or retention)");
      }
      res.set_header("Content-Disposition",
                     "attachment; filename=\"netsentry-alert-" + std::to_string(*id) + ".pcap\"");
      res.set_header("Cache-Control", "no-store");
      auto body = std::make_shared<const std::string>(std::move(*packets));
      // A sized content provider is sent as it is (httplib would otherwise try to compress it).
      res.set_content_provider(
          body->size(), "application/vnd.tcpdump.pcap",
          [body](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
            return sink.write(body->data() + offset, length);
          });
    });
    // Open: whether this server needs the login step, and whether this browser has done it.
    get("/api/session", [this](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      send_json(res, {{"auth_required", !options_.auth_token.empty()},
                      {"authenticated", options_.auth_token.empty() || authorized(req)}});
    });
    server_.Post("/api/login", guarded([this](const httplib::Request& req, httplib::Response& res) {
                   login(req, res);
                 }));
    server_.Post("/api/logout", guarded([this](const httplib::Request& req,
                                               httplib::Response& res) { logout(req, res); }));
    server_.Post(R"(/api/alerts/([^/]+)/ack)",
                 guarded([this](const httplib::Request& req, httplib::Response& res) {
                   const auto id = parse_id(req.matches[1].str());
                   if (!id) throw BadRequest{"alert id must be a positive integer"};
                   if (!view(req).acknowledge(*id)) {
                     return send_error(res, 404, "no alert " + std::to_string(*id));
                   }
                   send_json(res, {{"id", *id}, {"acknowledged", true}});
                 }));
    // Without a running stage (dashboard --db, a hub) the answer says so instead of a 404, which a
    // browser would log as a failed resource on every page load.
    get("/api/suppressions", [this](const httplib::Request&, httplib::Response& res) {
      if (options_.suppressions == nullptr) {
        return send_json(res, {{"available", false}, {"rules", json::array()}, {"saved_to", ""}});
      }
      send_json(res, {{"available", true},
                      {"rules", options_.suppressions->rules()},
                      {"saved_to", options_.suppressions->saved_to()}});
    });
    // {"rule": "..."}: POST /api/suppressions adds it, POST /api/suppressions/remove removes it.
    server_.Post(R"(/api/suppressions(/remove)?)",
                 guarded([this](const httplib::Request& req, httplib::Response& res) {
                   if (options_.suppressions == nullptr) {
                     return send_error(res, 404, "this server has no suppression rules to change");
                   }
                   const json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
                   if (!body.is_object() || !body.contains("rule") || !body["rule"].is_string() ||
                       body["rule"].get<std::string>().empty()) {
                     throw BadRequest{"the body must be {\"rule\": \"...\"}"};
                   }
                   const std::string rule = body["rule"].get<std::string>();
                   if (!core::is_valid_utf8(rule)) throw BadRequest{"the rule is not valid UTF-8"};
                   try {
                     if (req.matches[1].length() > 0) {
                       if (!options_.suppressions->remove(rule)) {
                         return send_error(res, 404, "no suppression rule \"" + rule + "\"");
                       }
                     } else {
                       options_.suppressions->add(rule);
                     }
                   } catch (const core::Error& error) {
                     throw BadRequest{error.what()};
                   }
                   send_json(res, {{"rules", options_.suppressions->rules()},
                                   {"saved_to", options_.suppressions->saved_to()}});
                 }));
    get("/api/hosts", [this](const httplib::Request& req, httplib::Response& res) {
      const auto limit = static_cast<std::size_t>(parse_int(req, "limit", 20, 1, 200));
      send_json(res, hosts_json(view(req).hosts(limit)));
    });
    get("/api/flows", [this](const httplib::Request& req, httplib::Response& res) {
      const auto limit = static_cast<std::size_t>(parse_int(req, "limit", 100, 1, 1000));
      FlowSort sort = FlowSort::kLast;
      if (req.has_param("sort")) {
        const auto parsed = parse_flow_sort(req.get_param_value("sort"));
        if (!parsed) {
          throw BadRequest{"query parameter \"sort\": \"" + req.get_param_value("sort") +
                           "\" is not one of last, bytes, packets, score, duration"};
        }
        sort = *parsed;
      }
      json flows = json::array();
      const auto rows = narrows(req) ? view(req).find_flows(row_filter(req, view(req)), limit, sort)
                                     : view(req).flows(limit, sort);
      for (const FlowRow& f : rows) flows.push_back(flow_json(f));
      send_json(res, {{"flows", std::move(flows)}});
    });
    get("/api/connections", [this](const httplib::Request& req, httplib::Response& res) {
      const auto limit = static_cast<std::size_t>(parse_int(req, "limit", 500, 1, 5000));
      json rows = json::array();
      for (const ConnectionRow& c : view(req).connections(limit))
        rows.push_back(connection_json(c));
      send_json(res, {{"connections", std::move(rows)}});
    });
    get("/api/sensors", [this](const httplib::Request&, httplib::Response& res) {
      json sensors = json::array();
      for (const SensorInfo& s : source_.sensors()) sensors.push_back(sensor_json(s));
      send_json(res, {{"sensors", std::move(sensors)}});
    });
    get("/api/models", [this](const httplib::Request& req, httplib::Response& res) {
      send_json(res, models_json(view(req).models()));
    });
    get("/api/timeline", [this](const httplib::Request& req, httplib::Response& res) {
      const std::int64_t since = since_ms(req, view(req));
      const auto limit = static_cast<std::size_t>(parse_int(req, "limit", 3600, 1, 5000));
      json points = json::array();
      std::vector<ScorePoint> rows = view(req).timeline(since, limit);
      drop_after_to(req, rows);
      for (const ScorePoint& p : rows) points.push_back(score_json(p));
      send_json(res, {{"points", std::move(points)}});
    });
    get("/api/top", [this](const httplib::Request& req, httplib::Response& res) {
      const auto limit = static_cast<std::size_t>(parse_int(req, "limit", 10, 1, 100));
      send_json(res, top_json(view(req).top(limit)));
    });
    get("/api/events",
        [this](const httplib::Request& req, httplib::Response& res) { stream_events(req, res); });
    get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      res.set_content(metrics(), "text/plain; version=0.0.4; charset=utf-8");
    });
    server_.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      const auto it = assets_.find(req.path);
      if (it == assets_.end()) return send_error(res, 404, "not found");
      const Asset& asset = it->second;
      // Assets are fixed for the server's lifetime: revalidation would be a wasted round trip,
      // but the page itself is always re-fetched so an upgrade shows at once.
      res.set_header("Cache-Control",
                     req.path == "/" || req.path == "/index.html" ? "no-cache" : "max-age=3600");
      res.set_header("ETag", asset.etag);
      res.set_header("Vary", "Accept-Encoding");
      if (req.get_header_value("If-None-Match") == asset.etag) {
        res.status = 304;
        return;
      }
      std::shared_ptr<const std::string> body = asset.body;
      if (asset.gzip && accepts_gzip(req.get_header_value("Accept-Encoding"))) {
        body = asset.gzip;
        res.set_header("Content-Encoding", "gzip");
      }
      if (body->empty()) return res.set_content(std::string(), asset.mime);
      // A sized content provider is sent as it is: httplib compresses only a plain body.
      res.set_content_provider(
          body->size(), asset.mime,
          [body](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
            return sink.write(body->data() + offset, length);
          });
    });
  }

  void bind() {
    const bool ok = options_.port == 0 ? (port_ = server_.bind_to_any_port(options_.host)) > 0
                                       : server_.bind_to_port(options_.host, options_.port);
    if (!ok) {
      throw core::Error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                        ": " + std::strerror(errno));
    }
    if (options_.port != 0) port_ = options_.port;
    gate_->start();
  }

  void listen() {
    server_.listen_after_bind();
    listen_returned_ = true;
  }

  void stop() {
    stop_.request_stop();
    // httplib's stop() does nothing until the listen loop has begun; a stop right after start
    // must wait for it or the loop would run forever.
    while (!server_.is_running() && !listen_returned_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    server_.stop();
    if (gate_) gate_->stop();
  }

  [[nodiscard]] int port() const { return port_; }

  [[nodiscard]] ServerCounters counters() const {
    ServerCounters c{requests_.load(),
                     unauthorized_.load(),
                     rejected_.load(),
                     forbidden_.load(),
                     sse_clients_.load(),
                     sse_refused_.load(),
                     {}};
    if (gate_) c.connections = gate_->counters();
    return c;
  }

 private:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  // Turns BadRequest into 400 with its message.
  static httplib::Server::Handler guarded(Handler handler) {
    return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
      try {
        handler(req, res);
      } catch (const BadRequest& bad) {
        send_error(res, 400, bad.message);
      } catch (const NotFound& missing) {
        send_error(res, 404, missing.message);
      }
    };
  }

  void get(const char* pattern, Handler handler) {
    server_.Get(pattern, [this, g = guarded(std::move(handler))](const httplib::Request& req,
                                                                 httplib::Response& res) {
      g(req, res);
      if (res.status == 400) ++rejected_;
    });
  }

  // The source a request reads: one sensor's view for ?sensor=NAME (a hub), else the whole.
  DashboardSource& view(const httplib::Request& req) {
    if (!req.has_param("sensor")) return source_;
    const std::string name = req.get_param_value("sensor");
    if (name.empty()) return source_;
    DashboardSource* sensor = source_.sensor_view(name);
    if (sensor == nullptr) throw NotFound{"no sensor \"" + name + "\""};
    return *sensor;
  }

  // Runs before routing: limits and authentication.
  httplib::Server::HandlerResponse screen(const httplib::Request& req, httplib::Response& res) {
    ++requests_;
    if (req.target.size() > kMaxTargetLength) {
      ++rejected_;
      send_error(res, 414, "request URI too long");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.params.size() > kMaxQueryParams) {
      ++rejected_;
      send_error(res, 400, "too many query parameters");
      return httplib::Server::HandlerResponse::Handled;
    }
    for (const auto& [key, value] : req.params) {
      if (key.size() > kMaxQueryValue || value.size() > kMaxQueryValue) {
        ++rejected_;
        send_error(res, 400,
                   "query parameter too long (limit " + std::to_string(kMaxQueryValue) + " bytes)");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    for (const auto& [key, value] : req.params) {
      if (!core::is_valid_utf8(key) || !core::is_valid_utf8(value)) {
        ++rejected_;
        send_error(res, 400, "query parameter is not valid UTF-8");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    // DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 is same-origin
    // with us for its browser, but its requests still say Host: evil.example.
    if (req.has_header("Host") &&
        !is_allowed_host(req.get_header_value("Host"), options_.allowed_hosts)) {
      ++forbidden_;
      send_error(res, 403,
                 "Host \"" + core::printable(req.get_header_value("Host")) +
                     "\" is not this server's address (use the address, localhost, or "
                     "--allow-host NAME)");
      return httplib::Server::HandlerResponse::Handled;
    }
    // The login step itself is open (it checks the token it is given); everything else under
    // /api/ and /metrics needs the bearer header or a session cookie from the login step. A token
    // is never accepted in the URL, where browser history, logs and Referer would keep it.
    const bool protected_path = (starts_with(req.path, "/api/") || req.path == "/metrics") &&
                                req.path != "/api/login" && req.path != "/api/session";
    if (protected_path && !options_.auth_token.empty() && !authorized(req)) {
      ++unauthorized_;
      res.set_header("WWW-Authenticate", "Bearer realm=\"netsentry\"");
      send_error(res, 401,
                 "missing or wrong credentials (Authorization: Bearer TOKEN, or log in on the "
                 "page: POST /api/login)");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method != "GET" && req.method != "HEAD" && req.method != "OPTIONS" &&
        !same_origin(req)) {
      ++forbidden_;
      send_error(res, 403,
                 "cross-site request refused: a state change needs the page's own Origin (or "
                 "Referer) or the bearer token in the Authorization header");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  // CSRF: a browser always sends Origin with a POST (and the page's Referrer-Policy keeps it the
  // real origin); another site's page cannot make it ours. A client with the bearer token in the
  // Authorization header (a header no cross-site form or simple request can carry) passes too.
  [[nodiscard]] bool same_origin(const httplib::Request& req) const {
    const std::string host = req.get_header_value("Host");
    if (req.has_header("Origin")) return server::same_origin(req.get_header_value("Origin"), host);
    if (req.has_header("Referer")) {
      return server::same_origin(req.get_header_value("Referer"), host);
    }
    constexpr std::string_view kBearer = "Bearer ";
    const std::string header = req.get_header_value("Authorization");
    return !options_.auth_token.empty() && starts_with(header, kBearer) &&
           constant_time_equal(std::string_view(header).substr(kBearer.size()),
                               options_.auth_token);
  }

  [[nodiscard]] bool authorized(const httplib::Request& req) const {
    constexpr std::string_view kBearer = "Bearer ";
    const std::string header = req.get_header_value("Authorization");
    if (starts_with(header, kBearer) &&
        constant_time_equal(std::string_view(header).substr(kBearer.size()), options_.auth_token)) {
      return true;
    }
    return session_of(req).has_value();
  }

  // The live session a request's cookie names, if any.
  [[nodiscard]] std::optional<std::string> session_of(const httplib::Request& req) const {
    for (auto it = req.headers.find("Cookie"); it != req.headers.end() && it->first == "Cookie";
         ++it) {
      const auto id = cookie_value(it->second, SessionTable::kCookieName);
      if (id && sessions_.valid(*id)) return std::string(*id);
    }
    return std::nullopt;
  }

  // POST /api/login: {"token": "..."} (or a form field token=...) -> a session cookie.
  void login(const httplib::Request& req, httplib::Response& res) {
    if (options_.auth_token.empty()) {
      return send_json(res, {{"authenticated", true}, {"auth_required", false}});
    }
    std::string given;
    const std::string type = req.get_header_value("Content-Type");
    if (starts_with(type, "application/json")) {
      const json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
      if (body.is_object() && body.contains("token") && body["token"].is_string()) {
        given = body["token"].get<std::string>();
      }
    } else if (req.has_param("token")) {  // a form post's body field
      given = req.get_param_value("token");
    }
    if (given.empty()) throw BadRequest{"login needs the token: {\"token\": \"...\"}"};
    if (!constant_time_equal(given, options_.auth_token)) {
      ++unauthorized_;
      ++failed_logins_;
      return send_error(res, 401, "wrong token");
    }
    res.set_header("Set-Cookie", sessions_.cookie(sessions_.create()));
    send_json(res, {{"authenticated", true}, {"auth_required", true}});
  }

  void logout(const httplib::Request& req, httplib::Response& res) {
    if (const auto id = session_of(req)) sessions_.revoke(*id);
    res.set_header("Set-Cookie", sessions_.cookie(""));
    send_json(res, {{"authenticated", false}, {"auth_required", !options_.auth_token.empty()}});
  }

  // The SSE stream. Each call of the content provider writes what is new (at most
  // max_events_per_write events) or waits for it; the stop token ends every stream on stop().
  void stream_events(const httplib::Request& req, httplib::Response& res) {
    DashboardSource& source = view(req);
    std::uint64_t start = source.events_since(0, 0).last_seq;
    bool reset = false;
    const std::string last_id = req.get_header_value("Last-Event-ID");
    const std::string since = req.has_param("since") ? req.get_param_value("since") : "";
    // The browser's Last-Event-ID (a reconnect) wins over the ?since= of the original URL.
    const std::string& resume = !last_id.empty() ? last_id : since;
    if (!resume.empty()) {
      std::uint64_t seq = 0;
      const auto [end, ec] = std::from_chars(resume.data(), resume.data() + resume.size(), seq);
      if (ec != std::errc() || end != resume.data() + resume.size()) {
        throw BadRequest{"event id \"" + resume + "\" is not a number"};
      }
      start = seq;
    }
    if (sse_clients_.fetch_add(1) >= options_.max_sse_clients) {
      --sse_clients_;
      ++sse_refused_;
      res.set_header("Retry-After", "10");
      return send_error(res, 503, "too many event-stream clients");
    }
    struct Stream {
      DashboardSource* source;
      std::uint64_t seq;
      bool reset;
      bool opened = false;
      std::chrono::steady_clock::time_point last_write{};
    };
    auto stream = std::make_shared<Stream>(Stream{&source, start, reset});
    // Response is copyable in httplib, so the releaser guards against running twice.
    auto released = std::make_shared<std::atomic<bool>>(false);
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, stream](std::size_t, httplib::DataSink& sink) {
          return write_events(*stream, sink);
        },
        [this, released](bool) {
          if (!released->exchange(true)) --sse_clients_;
        });
  }

  template <typename Stream>
  bool write_events(Stream& stream, httplib::DataSink& sink) {
    const std::stop_token stop = stop_.get_token();
    if (stop.stop_requested()) {
      sink.done();
      return true;
    }
    const auto next_write = stream.last_write + options_.min_write_interval;
    if (const auto early = next_write - std::chrono::steady_clock::now();
        early > std::chrono::steady_clock::duration::zero()) {
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock lock(m);
      cv.wait_for(lock, stop, early, [] { return false; });
      if (stop.stop_requested()) {
        sink.done();
        return true;
      }
    }
    std::string out;
    if (!stream.opened) {
      stream.opened = true;
      out += "retry: 2000\n\n";
    }
    EventBatch batch = stream.source->events_since(stream.seq, options_.max_events_per_write);
    if (batch.gap) {
      // Events were missed beyond the ring (or the id is from an earlier run): the page reloads
      // its state over REST and continues from the newest event.
      out += "id: " + std::to_string(batch.last_seq) +
             "\nevent: reset\ndata: {\"seq\":" + std::to_string(batch.last_seq) + "}\n\n";
      stream.seq = batch.last_seq;
      batch.events.clear();
    }
    for (const Event& e : batch.events) {
      out += "id: " + std::to_string(e.seq) + "\nevent: " + e.type + "\ndata: " + e.data + "\n\n";
      stream.seq = e.seq;
    }
    const auto now = std::chrono::steady_clock::now();
    if (out.empty()) {
      const auto due = stream.last_write + options_.heartbeat;
      if (now < due) {
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(due - now);
        stream.source->wait_for_events(stream.seq, std::min(wait, std::chrono::milliseconds(1000)),
                                       stop);
        // A wait ending early on stop or data returns to the write loop, which calls again.
        return sink.is_writable();
      }
      out = ": heartbeat\n\n";
    }
    stream.last_write = now;
    return sink.write(out.data(), out.size());
  }

  std::string metrics() {
    const Stats s = source_.stats();
    const PipelineStatus& p = s.pipeline;
    MetricsWriter m;
    m.family("netsentry_traffic_bytes_total", "counter",
             "Bytes sent and received (all interfaces).");
    m.sample("netsentry_traffic_bytes_total", s.bytes_sent_total,
             MetricsWriter::label("direction", "sent"));
    m.sample("netsentry_traffic_bytes_total", s.bytes_recv_total,
             MetricsWriter::label("direction", "recv"));
    m.family("netsentry_traffic_bytes_per_second", "gauge", "Latest bytes per second.");
    m.sample("netsentry_traffic_bytes_per_second", s.bytes_sent_per_second,
             MetricsWriter::label("direction", "sent"));
    m.sample("netsentry_traffic_bytes_per_second", s.bytes_recv_per_second,
             MetricsWriter::label("direction", "recv"));
    m.family("netsentry_packets_total", "counter", "Packets captured.");
    m.sample("netsentry_packets_total", static_cast<double>(p.packets_total));
    m.family("netsentry_capture_packets_per_second", "gauge", "Capture rate.");
    m.sample("netsentry_capture_packets_per_second", p.health.packets_per_second);
    m.family("netsentry_flows_total", "counter", "Flows completed.");
    m.sample("netsentry_flows_total", static_cast<double>(p.flows_total));
    m.family("netsentry_flood_summarized_packets_total", "counter",
             "Packets counted in flood summaries instead of flows (SYNs to a flooded destination "
             "and its replies).");
    m.sample("netsentry_flood_summarized_packets_total", static_cast<double>(p.flood_summarized));
    m.family("netsentry_flows_per_second", "gauge", "Flows completed per second.");
    m.sample("netsentry_flows_per_second", p.flows_per_second);
    m.family("netsentry_flow_table_size", "gauge", "Flows currently tracked.");
    m.sample("netsentry_flow_table_size", static_cast<double>(p.health.flow_table_size));
    m.family("netsentry_kernel_drops_total", "counter",
             "Packets the kernel dropped before capture.");
    m.sample("netsentry_kernel_drops_total", static_cast<double>(p.health.kernel_drops));
    m.family("netsentry_queue_drops_total", "counter",
             "Packets dropped between capture and flows.");
    m.sample("netsentry_queue_drops_total", static_cast<double>(p.health.queue_drops));
    m.family("netsentry_decode_errors_total", "counter", "Packets that did not decode cleanly.");
    m.sample("netsentry_decode_errors_total", static_cast<double>(p.health.decode_errors));
    m.family("netsentry_alerts_total", "counter", "Alerts raised, by severity.");
    for (int i = 0; i < 4; ++i) {
      m.sample("netsentry_alerts_total", static_cast<double>(s.alerts_by_severity[i]),
               MetricsWriter::label("severity",
                                    detect::severity_name(static_cast<detect::Severity>(i))));
    }
    m.family("netsentry_alerts_unacknowledged", "gauge", "Alerts not yet acknowledged.");
    m.sample("netsentry_alerts_unacknowledged", static_cast<double>(s.alerts_unacknowledged));
    m.family("netsentry_queue_depth", "gauge", "Items waiting in a pipeline queue.");
    for (const QueueStatus& q : p.queues) {
      m.sample("netsentry_queue_depth", static_cast<double>(q.depth),
               MetricsWriter::label("queue", q.name));
    }
    m.family("netsentry_queue_capacity", "gauge", "Capacity of a pipeline queue.");
    for (const QueueStatus& q : p.queues) {
      m.sample("netsentry_queue_capacity", static_cast<double>(q.capacity),
               MetricsWriter::label("queue", q.name));
    }
    m.family("netsentry_queue_dropped_total", "counter", "Items a full pipeline queue refused.");
    for (const QueueStatus& q : p.queues) {
      m.sample("netsentry_queue_dropped_total", static_cast<double>(q.dropped),
               MetricsWriter::label("queue", q.name));
    }
    const ServerCounters c = counters();
    m.family("netsentry_http_requests_total", "counter", "HTTP requests received.");
    m.sample("netsentry_http_requests_total", static_cast<double>(c.requests));
    m.family("netsentry_http_unauthorized_total", "counter",
             "Requests refused for a missing or wrong token.");
    m.sample("netsentry_http_unauthorized_total", static_cast<double>(c.unauthorized));
    m.family("netsentry_http_failed_logins_total", "counter", "Login attempts with a wrong token.");
    m.sample("netsentry_http_failed_logins_total", static_cast<double>(failed_logins_.load()));
    m.family("netsentry_http_sessions", "gauge", "Browser sessions logged in now.");
    m.sample("netsentry_http_sessions", static_cast<double>(sessions_.size()));
    m.family("netsentry_http_rejected_total", "counter",
             "Requests refused by the size and query limits.");
    m.sample("netsentry_http_rejected_total", static_cast<double>(c.rejected));
    m.family("netsentry_http_forbidden_total", "counter",
             "Requests refused with 403 (foreign Host header, cross-site state change).");
    m.sample("netsentry_http_forbidden_total", static_cast<double>(c.forbidden));
    m.family("netsentry_http_connections_closed_total", "counter",
             "Connections the server closed: slow or idle (timeout), displaced by a newer one of "
             "the same address (evicted), over the per-address cap (refused), too large.");
    m.sample("netsentry_http_connections_closed_total",
             static_cast<double>(c.connections.timed_out),
             MetricsWriter::label("reason", "timeout"));
    m.sample("netsentry_http_connections_closed_total", static_cast<double>(c.connections.evicted),
             MetricsWriter::label("reason", "evicted"));
    m.sample("netsentry_http_connections_closed_total", static_cast<double>(c.connections.refused),
             MetricsWriter::label("reason", "refused"));
    m.sample("netsentry_http_connections_closed_total",
             static_cast<double>(c.connections.too_large),
             MetricsWriter::label("reason", "too_large"));
    m.family("netsentry_http_connections_waiting", "gauge",
             "Connections waiting for a complete request (no worker held).");
    m.sample("netsentry_http_connections_waiting", static_cast<double>(c.connections.waiting));
    m.family("netsentry_sse_clients", "gauge", "Connected event-stream clients.");
    m.sample("netsentry_sse_clients", static_cast<double>(c.sse_clients));
    m.family("netsentry_sse_refused_total", "counter",
             "Event-stream clients refused (limit reached).");
    m.sample("netsentry_sse_refused_total", static_cast<double>(c.sse_refused));
    return m.str();
  }

  DashboardSource& source_;
  const ServerOptions& options_;
  std::map<std::string, Asset, std::less<>> assets_;  // written before start, then read-only
  GuardedServer server_;
  std::unique_ptr<ConnectionGate> gate_;
  std::stop_source stop_;
  std::atomic<bool> listen_returned_{false};
  int port_ = 0;
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> unauthorized_{0};
  std::atomic<std::uint64_t> failed_logins_{0};
  SessionTable sessions_;
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> forbidden_{0};
  std::atomic<std::uint64_t> sse_clients_{0};
  std::atomic<std::uint64_t> sse_refused_{0};
};

HttpServer::HttpServer(DashboardSource& source, ServerOptions options)
    : source_(source), options_(std::move(options)) {
  const std::string where = "--listen " + options_.host + ":" + std::to_string(options_.port);
  if (options_.port < 0 || options_.port > 65535) {
    throw core::Error(where + ": port must be between 0 and 65535");
  }
  if (!is_loopback_host(options_.host) && options_.auth_token.empty()) {
    throw core::Error(where +
                      ": listening on a non-loopback address needs an auth token "
                      "(--auth-token or a token file)");
  }
  if (!options_.auth_token.empty() && options_.auth_token.size() < kMinTokenLength) {
    throw core::Error(where + ": the auth token is too short (" +
                      std::to_string(options_.auth_token.size()) + " characters; at least " +
                      std::to_string(kMinTokenLength) + " needed)");
  }
  if (options_.worker_threads == 0) throw core::Error(where + ": worker_threads must be positive");
  impl_ = std::make_unique<Impl>(source_, options_);
  impl_->load_assets();
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  if (started_) throw core::Error(url() + ": the dashboard server was already started");
  started_ = true;
  // A client that disconnects mid-write would otherwise kill the process with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  impl_->configure();
  impl_->bind();
  port_ = impl_->port();
  listener_ = std::jthread([this] { impl_->listen(); });
}

void HttpServer::stop() {
  if (!listener_.joinable()) return;
  impl_->stop();
  listener_.join();
}

std::string HttpServer::url() const {
  const bool v6 = options_.host.find(':') != std::string::npos && options_.host.front() != '[';
  return "http://" + (v6 ? "[" + options_.host + "]" : options_.host) + ":" + std::to_string(port_);
}

ServerCounters HttpServer::counters() const { return impl_->counters(); }

}  // namespace netsentry::server
