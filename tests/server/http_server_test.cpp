#include "server/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "core/error.h"
#include "server/http_lib.h"
#include "server/live_state.h"

namespace netsentry::server {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr std::int64_t kT0 = 1'700'000'000'000;
constexpr const char* kToken = "s3cret-token-0123456789";

// Sends raw bytes and returns everything the server answers (until it closes or 2 s pass), for
// requests an HTTP client library would refuse or normalise.
std::string raw_request(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {};
  }
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  std::string response;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return response;
}

int status_of(const std::string& raw) {
  // "HTTP/1.1 404 Not Found"
  return raw.size() > 12 ? std::stoi(raw.substr(9, 3)) : 0;
}

class TempDir {
 public:
  TempDir() {
    path_ =
        std::filesystem::temp_directory_path() /
        ("netsentry-server-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  void write(const std::filesystem::path& relative, const std::string& text) const {
    std::filesystem::create_directories((path_ / relative).parent_path());
    std::ofstream(path_ / relative, std::ios::binary) << text;
  }

 private:
  static inline std::atomic<int> counter_{0};
  std::filesystem::path path_;
};

detect::Alert make_alert(detect::Severity severity, std::string reason) {
  detect::Alert a;
  a.time_ns = kT0 * 1'000'000;
  a.last_ns = a.time_ns;
  a.severity = severity;
  a.kind = "port_scan";
  a.reason = std::move(reason);
  net::IpAddress::parse("10.0.0.66", a.src_ip);
  net::IpAddress::parse("10.0.0.1", a.dst_ip);
  a.protocol = "TCP";
  a.models = {{"random_forest", 0.93F, 0.5F, true}, {"isolation_forest", 0.41F, 0.6F, false}};
  a.features = {{"distinct_ports", 480, 3, 41.5}};
  a.votes = 1;
  a.voters = 2;
  return a;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    assets_.write("index.html", "<!doctype html><title>netsentry</title>");
    assets_.write("app.js", "console.log('app');");
    assets_.write("style.css", "body{}");
    assets_.write("package.json", "{}");
    assets_.write("node_modules/plotly.js-basic-dist-min/plotly-basic.min.js", "/* plotly */");
  }

  void start(ServerOptions options = {}) {
    options.port = 0;
    if (options.assets_dir.empty()) options.assets_dir = assets_.path();
    server_ = std::make_unique<HttpServer>(state_, options);
    server_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(5, 0);
  }

  json get_json(const std::string& path, int expected_status = 200) {
    const auto res = client_->Get(path.c_str());
    EXPECT_TRUE(res) << path;
    if (!res) return {};
    EXPECT_EQ(res->status, expected_status) << path << ": " << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json; charset=utf-8") << path;
    return json::parse(res->body);
  }

  // The page's own origin, as a browser sends it with the page's POSTs.
  [[nodiscard]] httplib::Headers origin() const {
    return {{"Origin", "http://127.0.0.1:" + std::to_string(server_->port())}};
  }

  void feed() {
    for (int i = 0; i < 5; ++i) {
      TrafficPoint p;
      p.time_ms = kT0 + i * 1000;
      p.bytes_sent = 100.0 * i;
      p.bytes_recv = 50;
      state_.add_traffic(p);
      p.interface = "eth0";
      state_.add_traffic(p);
    }
    state_.add_alert(make_alert(detect::Severity::kLow, "low one"));
    state_.add_alert(make_alert(detect::Severity::kHigh, "<script>alert(1)</script>"));
    FlowRow f;
    f.src_ip = "10.0.0.66";
    f.dst_ip = "10.0.0.1";
    f.dst_port = 22;
    f.protocol = "TCP";
    f.bytes = 1234;
    f.packets = 10;
    f.first_ms = kT0;
    f.last_ms = kT0 + 1500;
    f.score = 0.8F;
    state_.add_flow(f);
    state_.add_score({kT0, 0.8F, 0.5F, 2});
    state_.set_connections(
        {{"10.0.0.5", 22, "10.0.0.66", 51000, "ESTABLISHED", "TCP", 812, "sshd"}});
    ModelsInfo models;
    models.bundle_path = "/var/lib/netsentry/bundle";
    ModelInfo rf;
    rf.name = "random_forest";
    rf.threshold = 0.5F;
    rf.metrics = {{"accuracy", 0.98}, {"f1", 0.97}};
    rf.confusion_labels = {"normal", "anomaly"};
    rf.confusion = {{90, 2}, {1, 7}};
    models.models = {rf};
    state_.set_models(models);
    PipelineStatus status;
    status.packets_total = 999;
    status.flood_summarized = 640;
    status.flows_per_second = 2.5;
    status.health.kernel_drops = 3;
    status.queues = {{"capture", 10, 4096, 1}};
    state_.set_pipeline(status);
  }

  TempDir assets_;
  LiveState state_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST(HttpServerOptions, RefusesANonLoopbackAddressWithoutAToken) {
  LiveState state;
  ServerOptions options;
  options.host = "0.0.0.0";
  try {
    HttpServer server(state, options);
    FAIL() << "expected core::Error";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("0.0.0.0:8050"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("auth token"), std::string::npos) << e.what();
  }
}

TEST(HttpServerOptions, RefusesAShortToken) {
  LiveState state;
  ServerOptions options;
  options.host = "0.0.0.0";
  options.auth_token = "short";
  EXPECT_THROW(HttpServer(state, options), core::Error);
  options.auth_token = kToken;
  EXPECT_NO_THROW(HttpServer(state, options));
}

TEST(HttpServerOptions, RefusesAnAssetsFolderWithoutIndexOrPlotly) {
  LiveState state;
  TempDir empty;
  ServerOptions options;
  options.assets_dir = empty.path();
  EXPECT_THROW(HttpServer(state, options), core::Error);
  empty.write("index.html", "x");
  try {
    HttpServer server(state, options);
    FAIL() << "expected core::Error";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("npm ci"), std::string::npos) << e.what();
  }
}

TEST(HttpServerOptions, RecognisesLoopbackHosts) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.3.2.1"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("192.168.1.2"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(is_loopback_host("128.0.0.1"));
}

TEST_F(HttpServerTest, ReportsABusyPortAsAnError) {
  start();
  ServerOptions options;
  options.port = server_->port();
  HttpServer second(state_, options);
  try {
    second.start();
    FAIL() << "expected core::Error";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(server_->port())), std::string::npos);
  }
}

TEST_F(HttpServerTest, StatsHaveTotalsHealthAndEventSeq) {
  feed();
  start();
  const json s = get_json("/api/stats");
  EXPECT_DOUBLE_EQ(s["bytes_sent_total"].get<double>(), 1000.0);
  EXPECT_DOUBLE_EQ(s["bytes_recv_total"].get<double>(), 250.0);
  EXPECT_EQ(s["packets_total"], 999);
  EXPECT_EQ(s["flood_summarized"], 640);
  EXPECT_EQ(s["flows_per_second"], 2.5);
  EXPECT_EQ(s["health"]["kernel_drops"], 3);
  EXPECT_EQ(s["queues"][0]["name"], "capture");
  EXPECT_EQ(s["alerts_by_severity"]["HIGH"], 1);
  EXPECT_EQ(s["interfaces"], json({"total", "eth0"}));
  EXPECT_EQ(s["event_seq"], state_.stats().event_seq);
  EXPECT_EQ(s["time"], kT0 + 4000);
}

TEST_F(HttpServerTest, TrafficFiltersByInterfaceSinceAndWindow) {
  feed();
  start();
  const json all = get_json("/api/traffic?interface=eth0");
  EXPECT_EQ(all["interface"], "eth0");
  EXPECT_EQ(all["points"].size(), 5U);
  EXPECT_EQ(get_json("/api/traffic?since=" + std::to_string(kT0 + 3000))["points"].size(), 2U);
  // window is relative to the newest data, so it works for replayed (old) captures too.
  EXPECT_EQ(get_json("/api/traffic?window=2")["points"].size(), 3U);
  EXPECT_EQ(get_json("/api/traffic?limit=1")["points"][0]["time"], kT0 + 4000);
  EXPECT_TRUE(get_json("/api/traffic?interface=nope")["points"].empty());
  const std::string error = get_json("/api/traffic?since=yesterday", 400)["error"];
  EXPECT_NE(error.find("\"since\""), std::string::npos) << error;
}

TEST_F(HttpServerTest, AlertsComeNewestFirstAndFilterBySeverity) {
  feed();
  start();
  const json all = get_json("/api/alerts");
  ASSERT_EQ(all["alerts"].size(), 2U);
  EXPECT_EQ(all["alerts"][0]["id"], 2);
  EXPECT_EQ(all["alerts"][0]["reason"], "<script>alert(1)</script>");
  EXPECT_EQ(all["alerts"][0]["models"][0]["model"], "random_forest");
  EXPECT_EQ(all["alerts"][0]["features"][0]["feature"], "distinct_ports");
  EXPECT_EQ(all["alerts"][0]["src_ip"], "10.0.0.66");
  EXPECT_EQ(get_json("/api/alerts?severity=high")["alerts"].size(), 1U);
  EXPECT_EQ(get_json("/api/alerts?since=1")["alerts"].size(), 1U);
  EXPECT_EQ(get_json("/api/alerts?limit=1")["alerts"].size(), 1U);
  get_json("/api/alerts?severity=urgent", 400);
  get_json("/api/alerts?limit=0", 400);
}

// The page's alert list asks for ?evidence=summary: each piece of evidence without its flows,
// model votes and feature deviations (flow_count says how many flows it names); the alert by id
// keeps them all for the drawer.
TEST_F(HttpServerTest, AlertsWithEvidenceSummaryLeaveOutEachEvidencesDetails) {
  detect::Alert a = make_alert(detect::Severity::kHigh, "scan");
  for (int i = 0; i < 2; ++i) {
    detect::Evidence e;
    e.kind = "port_scan";
    e.detector = "port_scan";
    e.description = "480 ports probed " + std::to_string(i);
    e.models = a.models;
    e.deviations = a.features;
    for (int f = 0; f <= i; ++f) {
      detect::FlowRef ref;
      ref.start_ns = a.time_ns + f;
      net::IpAddress::parse("10.0.0.66", ref.src);
      net::IpAddress::parse("10.0.0.1", ref.dst);
      ref.src_port = static_cast<std::uint16_t>(40000 + f);
      ref.dst_port = 22;
      ref.ip_proto = 6;
      e.flows.push_back(ref);
    }
    a.evidence.push_back(std::move(e));
  }
  state_.add_alert(a);
  start();
  const json full = get_json("/api/alerts");
  const json summary = get_json("/api/alerts?evidence=summary");
  EXPECT_EQ(get_json("/api/alerts?evidence=full"), full);
  ASSERT_EQ(summary["alerts"].size(), 1U);
  const json& s = summary["alerts"][0];
  const json& f = full["alerts"][0];
  // The alert's own fields are all there, as in the full answer.
  for (const char* key : {"id", "time", "last", "severity", "kind", "reason", "host", "count",
                          "models", "features", "acknowledged", "state"}) {
    EXPECT_EQ(s[key], f[key]) << key;
  }
  ASSERT_EQ(s["evidence"].size(), 2U);
  for (std::size_t i = 0; i < 2; ++i) {
    const json& e = s["evidence"][i];
    EXPECT_EQ(e["flow_count"], i + 1);
    EXPECT_EQ(e["description"], f["evidence"][i]["description"]);
    EXPECT_EQ(e["kind"], "port_scan");
    EXPECT_FALSE(e.contains("flows"));
    EXPECT_FALSE(e.contains("models"));
    EXPECT_FALSE(e.contains("features"));
    EXPECT_EQ(f["evidence"][i]["flows"].size(), i + 1);
  }
  EXPECT_LT(s.dump().size(), f.dump().size());
  // The alert by id is whole.
  EXPECT_EQ(get_json("/api/alerts/" + std::to_string(f["id"].get<int>())), f);
  const std::string error = get_json("/api/alerts?evidence=none", 400)["error"];
  EXPECT_NE(error.find("\"evidence\""), std::string::npos) << error;
}

TEST_F(HttpServerTest, AlertByIdAndAcknowledge) {
  feed();
  start();
  EXPECT_EQ(get_json("/api/alerts/2")["severity"], "HIGH");
  get_json("/api/alerts/99", 404);
  get_json("/api/alerts/abc", 400);
  get_json("/api/alerts/99999999999999999999999", 400);
  const auto ack = client_->Post("/api/alerts/2/ack", origin(), "", "application/json");
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->status, 200);
  EXPECT_TRUE(get_json("/api/alerts/2")["acknowledged"].get<bool>());
  const auto missing = client_->Post("/api/alerts/77/ack", origin(), "", "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  const auto wrong_method = client_->Get("/api/alerts/2/ack");
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 404);
}

TEST_F(HttpServerTest, FlowsSortAndCapTheLimit) {
  for (int i = 0; i < 1200; ++i) {
    FlowRow f;
    f.src_ip = "10.0.0.2";
    f.bytes = static_cast<std::uint64_t>(i);
    f.first_ms = kT0;
    f.last_ms = kT0 + i;
    state_.add_flow(f);
  }
  start();
  const json flows = get_json("/api/flows?limit=100000&sort=bytes");
  ASSERT_EQ(flows["flows"].size(), 1000U);  // capped, not refused
  EXPECT_EQ(flows["flows"][0]["bytes"], 1199);
  EXPECT_EQ(get_json("/api/flows")["flows"].size(), 100U);
  EXPECT_TRUE(get_json("/api/flows?limit=1")["flows"][0]["score"].is_null());
  get_json("/api/flows?sort=random", 400);
  get_json("/api/flows?limit=ten", 400);
  get_json("/api/flows?limit=-5", 400);
}

TEST_F(HttpServerTest, FlowsAndAlertsNarrowToAHostAndATimeRange) {
  // Three hosts; 10.0.0.7 is the source of even flows and the destination of every third.
  for (int i = 0; i < 30; ++i) {
    FlowRow f;
    f.src_ip = i % 2 == 0 ? "10.0.0.7" : "10.0.0.8";
    f.dst_ip = i % 3 == 0 ? "10.0.0.7" : "10.0.0.9";
    f.protocol = "TCP";
    f.first_ms = kT0 + i * 1000;
    f.last_ms = kT0 + i * 1000 + 500;
    state_.add_flow(f);
  }
  detect::Alert about = make_alert(detect::Severity::kHigh, "about 10.0.0.7");
  net::IpAddress::parse("10.0.0.7", about.host);
  state_.add_alert(about);
  detect::Alert other = make_alert(detect::Severity::kHigh, "about someone else");
  other.time_ns += 20'000'000'000;  // 20 s later
  other.last_ns = other.time_ns;
  state_.add_alert(other);
  start();

  const json all = get_json("/api/flows?host=10.0.0.7&limit=1000");
  std::size_t expected = 0;
  for (int i = 0; i < 30; ++i) expected += (i % 2 == 0 || i % 3 == 0) ? 1 : 0;
  ASSERT_EQ(all["flows"].size(), expected);
  for (const json& f : all["flows"]) {
    EXPECT_TRUE(f["src_ip"] == "10.0.0.7" || f["dst_ip"] == "10.0.0.7") << f.dump();
  }
  // Flows that ended within [from, to]: i = 10..19, of which 10.0.0.7's are 10,12,14,15,16,18.
  const json range = get_json("/api/flows?host=10.0.0.7&from=" + std::to_string(kT0 + 10'000) +
                              "&to=" + std::to_string(kT0 + 19'600) + "&limit=1000");
  EXPECT_EQ(range["flows"].size(), 6U);
  EXPECT_EQ(range["flows"][0]["last"], kT0 + 18'500);  // newest first
  EXPECT_EQ(get_json("/api/flows?host=10.0.0.7&limit=2")["flows"].size(), 2U);
  EXPECT_EQ(get_json("/api/flows?host=10.9.9.9")["flows"].size(), 0U);

  const json alerts = get_json("/api/alerts?host=10.0.0.7");
  ASSERT_EQ(alerts["alerts"].size(), 1U);
  EXPECT_EQ(alerts["alerts"][0]["reason"], "about 10.0.0.7");
  // Both alerts name 10.0.0.66 as their source; only the second reaches past kT0 + 10 s.
  EXPECT_EQ(get_json("/api/alerts?host=10.0.0.66")["alerts"].size(), 2U);
  EXPECT_EQ(get_json("/api/alerts?from=" + std::to_string(kT0 + 10'000))["alerts"].size(), 1U);

  // window= counts back from the newest data (here the newest flow's end) like /api/traffic's.
  state_.add_traffic({kT0 + 29'500, "total", 1, 1, 1, 1, 1});
  EXPECT_EQ(get_json("/api/flows?window=5&limit=1000")["flows"].size(), 6U);  // ends 24.5..29.5 s
  EXPECT_EQ(get_json("/api/alerts?window=5")["alerts"].size(), 0U);
  EXPECT_EQ(get_json("/api/alerts?window=15")["alerts"].size(), 1U);

  get_json("/api/flows?host=not-an-address", 400);
  get_json("/api/alerts?host=10.0.0", 400);
  get_json("/api/flows?from=20&to=10", 400);
  get_json("/api/flows?from=soon", 400);
}

TEST_F(HttpServerTest, TrafficAndTimelineEndAtTo) {
  for (int i = 0; i < 10; ++i) {
    state_.add_traffic({kT0 + i * 1000, "total", 1.0 * i, 0, 0, 0, 1});
    state_.add_score({kT0 + i * 1000, 0.1F * static_cast<float>(i), 0.5F, 0});
  }
  start();
  const std::string range =
      "since=" + std::to_string(kT0 + 2000) + "&to=" + std::to_string(kT0 + 5000);
  const json traffic = get_json("/api/traffic?" + range);
  ASSERT_EQ(traffic["points"].size(), 4U);  // 2, 3, 4, 5 s
  EXPECT_EQ(traffic["points"][0]["time"], kT0 + 2000);
  EXPECT_EQ(traffic["points"][3]["time"], kT0 + 5000);
  EXPECT_EQ(get_json("/api/timeline?" + range)["points"].size(), 4U);
  EXPECT_EQ(get_json("/api/traffic")["points"].size(), 10U);  // no range: all
  get_json("/api/traffic?to=later", 400);
}

// An in-memory SuppressionControl: rules with "bad" in them are refused.
class FakeSuppressions final : public SuppressionControl {
 public:
  std::vector<std::string> rules() const override { return rules_; }
  std::string saved_to() const override { return "/etc/netsentry.toml"; }
  void add(std::string_view rule) override {
    if (rule.find("bad") != std::string_view::npos) throw core::Error("bad token \"bad\"");
    rules_.emplace_back(rule);
  }
  bool remove(std::string_view rule) override { return std::erase(rules_, std::string(rule)) > 0; }
  std::vector<std::string> rules_;
};

TEST_F(HttpServerTest, SuppressionRulesAreListedAddedAndRemovedWithTheCsrfCheck) {
  FakeSuppressions rules;
  ServerOptions options;
  options.suppressions = &rules;
  start(options);
  EXPECT_EQ(get_json("/api/suppressions")["rules"].size(), 0U);
  const auto post = [&](const char* path, const std::string& body, bool same_origin = true) {
    return client_->Post(path, same_origin ? origin() : httplib::Headers{}, body,
                         "application/json");
  };
  auto res = post("/api/suppressions", R"({"rule": "src=10.0.0.5 kind=port_scan"})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["rules"], json({"src=10.0.0.5 kind=port_scan"}));
  EXPECT_EQ(get_json("/api/suppressions")["saved_to"], "/etc/netsentry.toml");
  res = post("/api/suppressions", R"({"rule": "bad=1"})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("bad token"), std::string::npos);
  res = post("/api/suppressions", R"({"rules": 1})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  // Another site's page cannot add or remove a rule.
  res = post("/api/suppressions", R"({"rule": "dst_port=53"})", false);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  EXPECT_EQ(rules.rules_.size(), 1U);
  res = post("/api/suppressions/remove", R"({"rule": "dst_port=53"})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  res = post("/api/suppressions/remove", R"({"rule": "src=10.0.0.5 kind=port_scan"})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(rules.rules_.empty());
}

TEST_F(HttpServerTest, WithoutSuppressionControlTheEndpointsAre404) {
  start();
  // GET says there is nothing to change (a 404 would be a failed resource in the page's console).
  const json none = get_json("/api/suppressions");
  EXPECT_EQ(none["available"], false);
  EXPECT_EQ(none["rules"].size(), 0U);
  const auto res = client_->Post("/api/suppressions", origin(), R"({"rule": "dst_port=53"})",
                                 "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST_F(HttpServerTest, ConnectionsModelsTimelineAndTopHaveTheirShapes) {
  feed();
  start();
  const json c = get_json("/api/connections");
  EXPECT_EQ(c["connections"][0]["process"], "sshd");
  EXPECT_EQ(c["connections"][0]["pid"], 812);
  const json m = get_json("/api/models");
  EXPECT_EQ(m["bundle_path"], "/var/lib/netsentry/bundle");
  EXPECT_EQ(m["models"][0]["metrics"][1]["name"], "f1");  // display order kept
  EXPECT_EQ(m["models"][0]["confusion"], json({{90, 2}, {1, 7}}));
  const json t = get_json("/api/timeline");
  EXPECT_EQ(t["points"][0]["alert_id"], 2);
  EXPECT_FLOAT_EQ(t["points"][0]["threshold"].get<float>(), 0.5F);
  const json top = get_json("/api/top?limit=3");
  EXPECT_EQ(top["talkers"][0]["key"], "10.0.0.66");
  EXPECT_EQ(top["ports"][0]["key"], "22/TCP");
  EXPECT_EQ(top["protocols"][0]["bytes"], 1234);
  const json f = get_json("/api/flows");
  EXPECT_DOUBLE_EQ(f["flows"][0]["duration"].get<double>(), 1.5);
}

TEST_F(HttpServerTest, MetricsAreNetsentryPrometheusText) {
  feed();
  start();
  const auto res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("text/plain; version=0.0.4"),
            std::string::npos);
  std::istringstream lines(res->body);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    ++samples;
    EXPECT_EQ(line.rfind("netsentry_", 0), 0U) << line;
  }
  EXPECT_GT(samples, 20);
  EXPECT_NE(res->body.find("netsentry_alerts_total{severity=\"HIGH\"} 1\n"), std::string::npos);
  EXPECT_NE(res->body.find("netsentry_packets_total 999\n"), std::string::npos);
  EXPECT_NE(res->body.find("netsentry_flood_summarized_packets_total 640\n"), std::string::npos);
  EXPECT_NE(res->body.find("netsentry_kernel_drops_total 3\n"), std::string::npos);
  EXPECT_NE(res->body.find("netsentry_queue_depth{queue=\"capture\"} 10\n"), std::string::npos);
  EXPECT_NE(res->body.find("netsentry_traffic_bytes_total{direction=\"sent\"} 1000\n"),
            std::string::npos);
}

TEST_F(HttpServerTest, WithoutATokenOnLoopbackTheApiIsOpen) {
  start();
  get_json("/api/stats", 200);
}

TEST_F(HttpServerTest, AnAlertsPacketsDownloadAsAPcapAttachment) {
  feed();
  // A 24-byte header and one record, as the evidence folder holds them.
  const std::string pcap = std::string("\x4d\x3c\xb2\xa1", 4) + std::string(20, '\0') +
                           std::string(8, '\0') + std::string("\x02\0\0\0\x02\0\0\0", 8) + "ab";
  state_.set_packet_reader([&](std::int64_t id) -> std::optional<std::string> {
    if (id == 2) return pcap;
    return std::nullopt;
  });
  ServerOptions options;
  options.auth_token = kToken;
  start(options);
  const httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
  const auto ok = client_->Get("/api/alerts/2/pcap", auth);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->get_header_value("Content-Type"), "application/vnd.tcpdump.pcap");
  EXPECT_EQ(ok->get_header_value("Content-Disposition"),
            "attachment; filename=\"netsentry-alert-2.pcap\"");
  EXPECT_EQ(ok->body, pcap);
  // No packets for an alert that exists, no alert at all, a bad id, no credentials.
  const auto none = client_->Get("/api/alerts/1/pcap", auth);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
  EXPECT_NE(json::parse(none->body)["error"].get<std::string>().find("no stored packets"),
            std::string::npos);
  const auto missing = client_->Get("/api/alerts/99/pcap", auth);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["error"], "no alert 99");
  for (const char* bad : {"/api/alerts/abc/pcap", "/api/alerts/0/pcap", "/api/alerts/-2/pcap"}) {
    const auto res = client_->Get(bad, auth);
    ASSERT_TRUE(res) << bad;
    EXPECT_EQ(res->status, 400) << bad;
  }
  const auto anonymous = client_->Get("/api/alerts/2/pcap");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(anonymous->body.find("ab"), std::string::npos);
}

TEST_F(HttpServerTest, ATokenIsCheckedOnEveryApiAndMetricsRequest) {
  feed();
  ServerOptions options;
  options.auth_token = kToken;
  start(options);
  for (const char* path :
       {"/api/stats", "/api/alerts", "/api/alerts/1", "/metrics", "/api/events", "/api/nothing"}) {
    const auto res = client_->Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 401) << path;
  }
  const auto post = client_->Post("/api/alerts/1/ack", "", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 401);
  EXPECT_FALSE(state_.alert(1)->acknowledged);

  const auto wrong =
      client_->Get("/api/stats", {{"Authorization", "Bearer wrong-token-0123456789"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  const auto bearer =
      client_->Get("/api/stats", {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_TRUE(bearer);
  EXPECT_EQ(bearer->status, 200);
  // Never in the URL, where history, logs and Referer headers would keep it.
  const auto query = client_->Get((std::string("/api/stats?token=") + kToken).c_str());
  ASSERT_TRUE(query);
  EXPECT_EQ(query->status, 401);
  // The page itself holds no data; it asks for the token in its login step.
  const auto page = client_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_GE(server_->counters().unauthorized, 8U);
}

TEST_F(HttpServerTest, EveryResponseCarriesTheSecurityHeaders) {
  start();
  for (const char* path : {"/", "/api/stats", "/nothing-here"}) {
    const auto res = client_->Get(path);
    ASSERT_TRUE(res) << path;
    const std::string csp = res->get_header_value("Content-Security-Policy");
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos) << path;
    EXPECT_NE(csp.find("script-src 'self';"), std::string::npos) << path;
    EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff") << path;
  }
}

TEST_F(HttpServerTest, ServesAssetsAndPlotlyButNothingOutsideThem) {
  assets_.write("../outside-secret.txt", "secret");
  start();
  const auto index = client_->Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_NE(index->body.find("<title>netsentry</title>"), std::string::npos);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  const auto js = client_->Get("/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "application/javascript; charset=utf-8");
  const auto plotly = client_->Get("/vendor/plotly.min.js");
  ASSERT_TRUE(plotly);
  EXPECT_EQ(plotly->status, 200);
  EXPECT_EQ(plotly->body, "/* plotly */");

  for (const char* path :
       {"/../outside-secret.txt", "/%2e%2e/outside-secret.txt", "/..%2foutside-secret.txt",
        "/vendor/../../outside-secret.txt", "/package.json",
        "/node_modules/plotly.js-basic-dist-min/plotly-basic.min.js", "//etc/passwd", "/app.js/"}) {
    const std::string raw = raw_request(server_->port(), std::string("GET ") + path +
                                                             " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                             "Connection: close\r\n\r\n");
    EXPECT_EQ(status_of(raw), 404) << path << "\n" << raw.substr(0, 200);
    EXPECT_EQ(raw.find("secret"), std::string::npos) << path;
  }
}

TEST_F(HttpServerTest, RefusesOversizedBodiesUrisAndQueryValues) {
  feed();
  start();
  const std::string big(10'000, 'x');
  const auto body = client_->Post("/api/alerts/1/ack", origin(), big, "application/json");
  ASSERT_TRUE(body);
  EXPECT_EQ(body->status, 413);
  EXPECT_FALSE(state_.alert(1)->acknowledged);

  const auto long_value = client_->Get(("/api/alerts?severity=" + std::string(300, 'A')).c_str());
  ASSERT_TRUE(long_value);
  EXPECT_EQ(long_value->status, 400);

  std::string many = "/api/stats?";
  for (int i = 0; i < 20; ++i) many += "p" + std::to_string(i) + "=1&";
  const auto params = client_->Get(many.c_str());
  ASSERT_TRUE(params);
  EXPECT_EQ(params->status, 400);

  const std::string raw =
      raw_request(server_->port(), "GET /api/stats?x=" + std::string(3000, 'a') +
                                       " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(raw), 414);

  const std::string huge =
      raw_request(server_->port(), "GET /api/stats?x=" + std::string(20'000, 'a') +
                                       " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(huge), 414);
  EXPECT_GE(server_->counters().rejected, 4U);
  // Still serving after all that.
  get_json("/api/stats");
}

// Reads an SSE stream on a thread until `done` says the text is enough (or 5 s pass).
class SseReader {
 public:
  SseReader(int port, httplib::Headers headers, std::string path,
            std::function<bool(const std::string&)> done)
      : thread_([=, this] {
          httplib::Client client("127.0.0.1", port);
          client.set_read_timeout(5, 0);
          const auto res = client.Get(
              path.c_str(), headers,
              [this](const httplib::Response& r) {
                status_ = r.status;
                return true;
              },
              [this, done](const char* data, std::size_t size) {
                std::lock_guard lock(mutex_);
                text_.append(data, size);
                return !done(text_);
              });
          finished_ = true;
        }) {}

  std::string wait_text() {
    thread_.join();
    std::lock_guard lock(mutex_);
    return text_;
  }
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }
  [[nodiscard]] int status() const { return status_; }
  [[nodiscard]] bool finished() const { return finished_; }

 private:
  std::mutex mutex_;
  std::string text_;
  std::atomic<int> status_{0};
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(HttpServerTest, EventStreamDeliversNewEvents) {
  start();
  SseReader reader(server_->port(), {}, "/api/events",
                   [](const std::string& t) { return contains(t, "event: alert"); });
  // Wait until the stream is open (the retry line arrives first), then publish.
  for (int i = 0; i < 200 && !contains(reader.text(), "retry:"); ++i)
    std::this_thread::sleep_for(10ms);
  state_.add_alert(make_alert(detect::Severity::kCritical, "scan"));
  const std::string text = reader.wait_text();
  EXPECT_EQ(reader.status(), 200);
  EXPECT_TRUE(contains(text, "id: 1\nevent: alert\ndata: {")) << text;
  EXPECT_TRUE(contains(text, "\"reason\":\"scan\"")) << text;
}

TEST_F(HttpServerTest, EventStreamCatchesUpFromLastEventIdOrSince) {
  feed();  // events 1..N
  start();
  const std::uint64_t last = state_.stats().event_seq;
  SseReader header(
      server_->port(), {{"Last-Event-ID", std::to_string(last - 2)}},
      "/api/events?since=1",  // the header wins, as on a browser reconnect
      [&](const std::string& t) { return contains(t, "id: " + std::to_string(last) + "\n"); });
  const std::string a = header.wait_text();
  EXPECT_FALSE(contains(a, "id: " + std::to_string(last - 2) + "\n")) << a;
  EXPECT_TRUE(contains(a, "id: " + std::to_string(last - 1) + "\n")) << a;
  EXPECT_FALSE(contains(a, "id: 2\n")) << a;

  SseReader since(
      server_->port(), {}, "/api/events?since=" + std::to_string(last - 1),
      [&](const std::string& t) { return contains(t, "id: " + std::to_string(last) + "\n"); });
  const std::string b = since.wait_text();
  EXPECT_TRUE(contains(b, "event: stats")) << b;
  EXPECT_FALSE(contains(b, "id: " + std::to_string(last - 1) + "\n")) << b;
}

TEST_F(HttpServerTest, EventStreamSendsResetWhenTheClientFellTooFarBehind) {
  start();
  for (int i = 0; i < 5000; ++i) {  // more than the 4096-event ring
    TrafficPoint p;
    p.time_ms = kT0 + i;
    state_.add_traffic(p);
  }
  SseReader reader(server_->port(), {{"Last-Event-ID", "3"}}, "/api/events",
                   [](const std::string& t) { return contains(t, "event: reset"); });
  const std::string text = reader.wait_text();
  EXPECT_TRUE(contains(text, "id: 5000\nevent: reset\ndata: {\"seq\":5000}"))
      << text.substr(0, 300);
  // The same for an id from an earlier run of the server.
  SseReader stale(server_->port(), {{"Last-Event-ID", "999999"}}, "/api/events",
                  [](const std::string& t) { return contains(t, "event: reset"); });
  EXPECT_TRUE(contains(stale.wait_text(), "event: reset"));
}

TEST_F(HttpServerTest, EventStreamSendsHeartbeatsWhenIdle) {
  ServerOptions options;
  options.heartbeat = 100ms;
  start(options);
  SseReader reader(server_->port(), {}, "/api/events",
                   [](const std::string& t) { return contains(t, ": heartbeat\n\n"); });
  EXPECT_TRUE(contains(reader.wait_text(), ": heartbeat\n\n"));
}

TEST_F(HttpServerTest, EventStreamRefusesClientsBeyondTheLimit) {
  ServerOptions options;
  options.max_sse_clients = 1;
  start(options);
  std::atomic<bool> release{false};
  SseReader first(server_->port(), {}, "/api/events",
                  [&](const std::string&) { return release.load(); });
  for (int i = 0; i < 200 && server_->counters().sse_clients == 0; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server_->counters().sse_clients, 1U);
  const auto second = client_->Get("/api/events");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 503);
  EXPECT_EQ(server_->counters().sse_refused, 1U);
  release = true;
  state_.add_traffic({});  // wakes the first stream so its reader sees `release`
  first.wait_text();
  for (int i = 0; i < 300 && server_->counters().sse_clients != 0; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->counters().sse_clients, 0U);
}

TEST_F(HttpServerTest, StopEndsOpenEventStreamsPromptly) {
  start();
  std::vector<std::unique_ptr<SseReader>> readers;
  for (int i = 0; i < 5; ++i) {
    readers.push_back(std::make_unique<SseReader>(server_->port(), httplib::Headers{},
                                                  "/api/events",
                                                  [](const std::string&) { return false; }));
  }
  for (int i = 0; i < 300 && server_->counters().sse_clients < 5; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server_->counters().sse_clients, 5U);
  const auto begin = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 4s);
  for (auto& r : readers) r->wait_text();
  for (auto& r : readers) EXPECT_TRUE(r->finished());
}

TEST_F(HttpServerTest, UnknownApiPathIsJson404) {
  start();
  EXPECT_EQ(get_json("/api/nothing", 404)["error"], "not found");
}

}  // namespace
}  // namespace netsentry::server

namespace netsentry::server {
namespace {

TEST(HttpServerHosts, AllowsAddressesLocalhostAndTheAllowList) {
  EXPECT_EQ(host_of("[::1]:8050"), "::1");
  EXPECT_EQ(host_of("Sensor.LAN:80"), "sensor.lan");
  EXPECT_EQ(host_of("localhost."), "localhost");
  for (const char* ok : {"127.0.0.1:8050", "localhost:8050", "LOCALHOST", "[::1]:8050",
                         "192.168.1.5:8050", "app.localhost:8050"}) {
    EXPECT_TRUE(is_allowed_host(ok, {})) << ok;
  }
  for (const char* bad : {"evil.example", "evil.example:8050", "127.0.0.1.evil.example", "",
                          "localhost.evil.example"}) {
    EXPECT_FALSE(is_allowed_host(bad, {})) << bad;
  }
  EXPECT_TRUE(is_allowed_host("sensor.lan:8050", {"Sensor.lan"}));
}

// DNS rebinding: every route, the event stream and /metrics included, refuses a foreign Host.
TEST_F(HttpServerTest, RefusesRequestsWithAForeignHostHeader) {
  feed();
  start();
  for (const char* path : {"/api/stats", "/api/flows", "/api/connections", "/api/alerts",
                           "/metrics", "/api/events", "/"}) {
    const std::string raw = raw_request(
        server_->port(), std::string("GET ") + path + " HTTP/1.1\r\nHost: evil.example:" +
                             std::to_string(server_->port()) + "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_of(raw), 403) << path << "\n" << raw.substr(0, 300);
    EXPECT_EQ(raw.find("sshd"), std::string::npos) << path;
  }
  for (const std::string host : {"127.0.0.1", "localhost", "[::1]"}) {
    const std::string raw = raw_request(
        server_->port(), "GET /api/connections HTTP/1.1\r\nHost: " + host + ":" +
                             std::to_string(server_->port()) + "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_of(raw), 200) << host;
  }
  EXPECT_GE(server_->counters().forbidden, 7U);
}

TEST_F(HttpServerTest, AnAllowedHostNameIsAnswered) {
  ServerOptions options;
  options.allowed_hosts = {"sensor.lan"};
  start(options);
  const std::string raw = raw_request(
      server_->port(), "GET /api/stats HTTP/1.1\r\nHost: sensor.lan\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(raw), 200);
}

// CSRF: another site's page can make the browser POST, but not with our Origin.
TEST_F(HttpServerTest, RefusesCrossSiteAcknowledgements) {
  feed();
  start();
  const std::string self = "http://127.0.0.1:" + std::to_string(server_->port());
  for (const httplib::Headers& headers :
       {httplib::Headers{{"Origin", "http://evil.example"}}, httplib::Headers{{"Origin", "null"}},
        httplib::Headers{{"Origin", "http://127.0.0.1:1"}},
        httplib::Headers{{"Referer", "http://evil.example/page"}}, httplib::Headers{}}) {
    const auto res = client_->Post("/api/alerts/1/ack", headers, "", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 403) << (headers.empty() ? "no origin" : headers.begin()->second);
  }
  EXPECT_FALSE(state_.alert(1)->acknowledged);
  const auto referer =
      client_->Post("/api/alerts/1/ack", {{"Referer", self + "/"}}, "", "application/json");
  ASSERT_TRUE(referer);
  EXPECT_EQ(referer->status, 200);
  const auto same = client_->Post("/api/alerts/2/ack", {{"Origin", self}}, "", "application/json");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 200);
  EXPECT_TRUE(state_.alert(2)->acknowledged);
}

TEST_F(HttpServerTest, TheBearerTokenHeaderIsEnoughForAStateChange) {
  feed();
  ServerOptions options;
  options.auth_token = kToken;
  start(options);
  const auto res =
      client_->Post("/api/alerts/1/ack", {{"Authorization", std::string("Bearer ") + kToken}}, "",
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  // The token in the query string is not accepted at all.
  const auto query = client_->Post((std::string("/api/alerts/2/ack?token=") + kToken).c_str(), "",
                                   "application/json");
  ASSERT_TRUE(query);
  EXPECT_EQ(query->status, 401);
  EXPECT_FALSE(state_.alert(2)->acknowledged);
}

// The page's login step: the token once, in a POST body; a session cookie afterwards.
TEST_F(HttpServerTest, LoginGivesAnHttpOnlySameSiteSessionCookieThatAuthenticates) {
  feed();
  ServerOptions options;
  options.auth_token = kToken;
  start(options);
  const std::string body = std::string("{\"token\": \"") + kToken + "\"}";
  const auto login = client_->Post("/api/login", origin(), body, "application/json");
  ASSERT_TRUE(login);
  ASSERT_EQ(login->status, 200) << login->body;
  const std::string cookie = login->get_header_value("Set-Cookie");
  EXPECT_NE(cookie.find("netsentry_session="), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("Path=/"), std::string::npos) << cookie;
  const std::string session = cookie.substr(0, cookie.find(';'));
  EXPECT_EQ(session.find(kToken), std::string::npos) << "the cookie is not the token";

  const auto stats = client_->Get("/api/stats", {{"Cookie", "theme=dark; " + session}});
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->status, 200);
  const auto metrics = client_->Get("/metrics", {{"Cookie", session}});
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  // A state change with the cookie still needs the page's own Origin (CSRF).
  httplib::Headers cross{{"Cookie", session}, {"Origin", "http://evil.example"}};
  const auto forged = client_->Post("/api/alerts/1/ack", cross, "", "application/json");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 403);
  httplib::Headers own = origin();
  own.emplace("Cookie", session);
  const auto ack = client_->Post("/api/alerts/1/ack", own, "", "application/json");
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->status, 200);

  // Logging out ends the session and clears the cookie.
  const auto logout = client_->Post("/api/logout", own, "", "application/json");
  ASSERT_TRUE(logout);
  EXPECT_EQ(logout->status, 200);
  EXPECT_NE(logout->get_header_value("Set-Cookie").find("Max-Age=0"), std::string::npos);
  const auto after = client_->Get("/api/stats", {{"Cookie", session}});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401);
}

TEST_F(HttpServerTest, AWrongLoginGetsNoCookieAndIsCounted) {
  ServerOptions options;
  options.auth_token = kToken;
  start(options);
  const auto wrong = client_->Post("/api/login", origin(),
                                   "{\"token\": \"wrong-token-0123456789\"}", "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_FALSE(wrong->has_header("Set-Cookie"));
  const auto empty = client_->Post("/api/login", origin(), "{}", "application/json");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 400);
  // A forged cookie is no session.
  const auto forged =
      client_->Get("/api/stats", {{"Cookie", "netsentry_session=" + std::string(64, 'a')}});
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);
  // Another site cannot log the browser in either (the login is a state change).
  const auto cross =
      client_->Post("/api/login", {{"Origin", "http://evil.example"}},
                    std::string("{\"token\": \"") + kToken + "\"}", "application/json");
  ASSERT_TRUE(cross);
  EXPECT_EQ(cross->status, 403);
  const auto metrics =
      client_->Get("/metrics", {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("netsentry_http_failed_logins_total 1"), std::string::npos)
      << metrics->body;
}

TEST_F(HttpServerTest, InvalidUtf8InAQueryValueIs400) {
  feed();
  start();
  for (const char* target : {"/api/traffic?interface=%FF%FE", "/api/alerts?severity=%C0%AF",
                             "/api/flows?sort=%ED%A0%80"}) {
    const std::string raw = raw_request(
        server_->port(),
        std::string("GET ") + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_of(raw), 400) << target << "\n" << raw.substr(0, 300);
  }
}

// Interface and process names are whatever bytes the kernel holds: never a 500, never a throw.
TEST_F(HttpServerTest, InvalidUtf8InNamesIsReplacedNotAnError) {
  start();
  TrafficPoint p;
  p.time_ms = kT0;
  p.interface = "\xFF\xFE";
  EXPECT_NO_THROW(state_.add_traffic(p));
  state_.set_connections(
      {{"10.0.0.5", 22, "10.0.0.66", 51000, "ESTABLISHED", "TCP", 812, "ev\xFFil\xFE"}});
  const json connections = get_json("/api/connections");
  EXPECT_EQ(connections["connections"][0]["process"], "ev\xEF\xBF\xBDil\xEF\xBF\xBD");
  const json stats = get_json("/api/stats");
  EXPECT_TRUE(stats["interfaces"].is_array());
  const json traffic = get_json("/api/traffic?interface=total");
  EXPECT_TRUE(traffic.contains("points"));
  SseReader reader(server_->port(), {}, "/api/events?since=0",
                   [](const std::string& t) { return contains(t, "\xEF\xBF\xBD\xEF\xBF\xBD"); });
  EXPECT_TRUE(contains(reader.wait_text(), "\"interface\":\"\xEF\xBF\xBD\xEF\xBF\xBD\""));
}

}  // namespace
}  // namespace netsentry::server

namespace netsentry::server {
namespace {

TEST(RequestChecks, SameOriginComparesHostAndPort) {
  EXPECT_TRUE(same_origin("http://127.0.0.1:8050", "127.0.0.1:8050"));
  EXPECT_TRUE(same_origin("http://LOCALHOST:8050/page?x", "localhost:8050"));
  EXPECT_TRUE(same_origin("http://[::1]:8050", "[::1]:8050"));
  EXPECT_TRUE(same_origin("http://sensor", "sensor:80"));
  EXPECT_FALSE(same_origin("http://127.0.0.1:8051", "127.0.0.1:8050"));
  EXPECT_FALSE(same_origin("http://evil.example", "127.0.0.1:8050"));
  EXPECT_FALSE(same_origin("null", "127.0.0.1:8050"));
  EXPECT_FALSE(same_origin("http://127.0.0.1:8050@evil.example", "127.0.0.1:8050"));
  EXPECT_FALSE(same_origin("file://", "127.0.0.1:8050"));
  EXPECT_FALSE(same_origin("http://127.0.0.1:8050", ""));
}

TEST(RequestChecks, ParseIdTakesOnlyPositiveDecimals) {
  EXPECT_EQ(parse_id("17"), 17);
  EXPECT_FALSE(parse_id("0"));
  EXPECT_FALSE(parse_id("-3"));
  EXPECT_FALSE(parse_id("1x"));
  EXPECT_FALSE(parse_id(""));
  EXPECT_FALSE(parse_id("99999999999999999999999"));
}

}  // namespace
}  // namespace netsentry::server

namespace netsentry::server {
namespace {

int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Slowloris: 80 connections sending a byte every 300 ms, with only 4 workers. Before the gate
// they held every worker (each byte restarted httplib's read timeout) and /api/stats waited.
TEST_F(HttpServerTest, SlowClientsHoldNoWorkerAndAreClosedAfterTheHeaderTimeout) {
  feed();
  ServerOptions options;
  options.worker_threads = 2;
  options.max_sse_clients = 2;
  options.header_timeout = 1500ms;
  options.max_waiting_per_ip = 200;  // every client is 127.0.0.1 here
  start(options);
  std::vector<int> slow;
  for (int i = 0; i < 80; ++i) {
    const int fd = connect_loopback(server_->port());
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, "G", 1, MSG_NOSIGNAL), 1);
    slow.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop) {
      for (const int fd : slow) ::send(fd, "E", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(300ms);
    }
  });
  std::chrono::steady_clock::duration slowest{};
  for (int i = 0; i < 10; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto res = client_->Get("/api/stats");
    slowest = std::max(slowest, std::chrono::steady_clock::now() - t0);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_LT(slowest, 3s);  // blocked, it was never answered; loaded CI machines stay far below
  for (int i = 0; i < 100 && server_->counters().connections.timed_out < 80; ++i) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(server_->counters().connections.timed_out, 80U);
  stop = true;
  trickle.join();
  for (const int fd : slow) ::close(fd);
}

TEST_F(HttpServerTest, AnAddressWithTooManyWaitingConnectionsLosesItsOldest) {
  ServerOptions options;
  options.max_waiting_per_ip = 8;
  start(options);
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(connect_loopback(server_->port()));
  for (int i = 0; i < 250 && server_->counters().connections.evicted < 12; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GE(server_->counters().connections.evicted, 12U);
  get_json("/api/stats");  // a new request of the same address still gets in
  for (const int fd : idle) ::close(fd);
}

TEST_F(HttpServerTest, ConnectionsBeyondTheTotalCapGet503) {
  ServerOptions options;
  options.max_connections = 4;
  start(options);
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(connect_loopback(server_->port()));
  for (int i = 0; i < 500 && server_->counters().connections.accepted < 4; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  const std::string raw = raw_request(
      server_->port(), "GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(raw), 503) << raw;
  EXPECT_GE(server_->counters().connections.refused, 1U);
  for (const int fd : idle) ::close(fd);
  for (int i = 0; i < 500 && server_->counters().connections.waiting > 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  get_json("/api/stats");  // room again once they are gone
}

// A chunked body has no Content-Length for httplib to check: 16 MiB must not be read (it once
// grew the process by the body's size) nor acknowledge anything.
TEST_F(HttpServerTest, AChunkedBodyPastTheLimitIsCutOff) {
  feed();
  start();
  const int fd = connect_loopback(server_->port());
  ASSERT_GE(fd, 0);
  const std::string head =
      "POST /api/alerts/1/ack HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: "
      "http://127.0.0.1:" +
      std::to_string(server_->port()) + "\r\nTransfer-Encoding: chunked\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
  std::size_t sent = 0;
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  for (int i = 0; i < 256; ++i) {
    const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  ::close(fd);
  EXPECT_FALSE(state_.alert(1)->acknowledged);
  EXPECT_GE(server_->counters().connections.too_large, 1U);
  get_json("/api/stats");
}

}  // namespace
}  // namespace netsentry::server
