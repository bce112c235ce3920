// A dashboard server fed with synthetic data, for the browser test (tests/e2e/run.sh) and for
// looking at the page by hand. Skipped unless NETSENTRY_DEMO_SECONDS is set:
//   NETSENTRY_DEMO_SECONDS=600 NETSENTRY_DEMO_PORT=8050 build/release/test_server
//     --gtest_filter=DemoServer.*   (one command line)
// NETSENTRY_DEMO_URL_FILE, when set, receives the base URL once the server listens; deleting it
// stops the demo early (how tests/e2e/run.sh ends it).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "detect/suppression.h"
#include "server/http_server.h"
#include "server/live_state.h"

namespace netsentry::server {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

detect::Alert scan_alert(std::int64_t t_ms, int n) {
  detect::Alert a;
  a.time_ns = t_ms * 1'000'000;
  a.last_ns = a.time_ns;
  a.severity = n % 3 == 0 ? detect::Severity::kHigh : detect::Severity::kMedium;
  a.kind = std::string(n % 3 == 0 ? detect::kind::kPortScan : detect::kind::kFlowAnomaly);
  net::IpAddress::parse("10.66.0." + std::to_string(10 + n % 5), a.src_ip);
  net::IpAddress::parse("192.168.1.20", a.dst_ip);
  a.dst_port = static_cast<std::uint16_t>(n % 3 == 0 ? 0 : 22);
  a.protocol = "TCP";
  a.score = 0.91F;
  a.votes = 2;
  a.voters = 2;
  a.count = 1 + static_cast<std::uint64_t>(n);
  // The first alert's reason holds markup: the page must show it as text.
  a.reason = n == 0 ? "<script>window.__xss = 1</script> 512 ports probed on 192.168.1.20 in 4 s"
                    : "unusual flow: " + std::to_string(200 + n * 37) + " packets/s to port 22";
  // The autoencoder has weight 0 in the demo bundle: scored, listed, not counted in the votes.
  a.models = {{"random_forest", 0.97F, 0.5F, true},
              {"isolation_forest", 0.72F, 0.6F, true},
              {"autoencoder", 0.41F, 0.8F, false}};
  a.features = {{"distinct_ports", 512, 4, 38.2}, {"Flow Packets/s", 2400, 35, 12.9}};
  a.host = a.src_ip;
  a.revision = static_cast<std::uint32_t>(n);
  detect::Evidence e;
  e.time_ns = a.time_ns;
  e.first_ns = a.time_ns - 4'000'000'000;
  e.host = a.src_ip;
  e.peer = a.dst_ip;
  e.port = a.dst_port;
  e.ip_proto = 6;
  e.kind = a.kind;
  e.detector = a.kind == detect::kind::kPortScan ? "port_scan" : "flow_scorer";
  e.confidence = 0.92;
  e.threat = a.severity;
  e.count = 512;
  e.description = a.reason;
  e.flows.push_back({a.time_ns, a.src_ip, a.dst_ip, 45000, 22, 6});
  detect::Evidence ml = e;
  ml.kind = std::string(detect::kind::kFlowAnomaly);
  ml.detector = "flow_scorer";
  ml.confidence = 0.41;
  ml.threat = detect::Severity::kMedium;
  ml.count = 3;
  ml.description = "Unusual TCP flow 10.66.0.10:45000 → 192.168.1.20:22: ensemble score 0.97";
  a.evidence = {e, ml};
  return a;
}

// The alert 192.168.1.23 had before the demo starts; it went past (seed()).
std::int64_t quiet_host_alert = 0;

// The riskiest hosts panel: one with an engaged alert, one below the threshold whose earlier alert
// went past.
std::vector<detect::HostRisk> risks(std::int64_t t_ms, std::int64_t alert_id) {
  detect::HostRisk engaged;
  net::IpAddress::parse("10.66.0.10", engaged.host);
  engaged.score = 2.4;
  engaged.last_ns = t_ms * 1'000'000;
  engaged.alert_id = alert_id;
  engaged.severity = detect::Severity::kHigh;
  engaged.evidence = scan_alert(t_ms, 0).evidence;
  detect::HostRisk quiet;
  net::IpAddress::parse("192.168.1.23", quiet.host);
  quiet.score = 0.3;
  quiet.last_ns = t_ms * 1'000'000;
  quiet.severity = detect::Severity::kMedium;
  quiet.evidence = {scan_alert(t_ms, 1).evidence[1]};
  quiet.past_alert_id = quiet_host_alert;
  return {engaged, quiet};
}

// The page's suppression rules, kept in memory (monitor's app::SuppressionConfig also applies them
// and saves the configuration file).
class DemoSuppressions final : public SuppressionControl {
 public:
  std::vector<std::string> rules() const override {
    std::lock_guard lock(mutex_);
    return rules_;
  }
  std::string saved_to() const override { return "(demo: not saved)"; }
  void add(std::string_view rule) override {
    const detect::SuppressionRule parsed = detect::SuppressionRule::parse(rule);
    std::lock_guard lock(mutex_);
    if (std::find(rules_.begin(), rules_.end(), parsed.text) == rules_.end()) {
      rules_.push_back(parsed.text);
    }
  }
  bool remove(std::string_view rule) override {
    std::lock_guard lock(mutex_);
    return std::erase(rules_, std::string(rule)) > 0;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> rules_;
};

void seed(LiveState& state) {
  detect::Alert earlier = scan_alert(now_ms() - 600'000, 1);
  net::IpAddress::parse("192.168.1.23", earlier.src_ip);
  earlier.host = earlier.src_ip;
  earlier.reason = "unusual flows from 192.168.1.23 (ten minutes ago, gone quiet since)";
  earlier.state = detect::AlertState::kPast;
  quiet_host_alert = state.add_alert(earlier);
  ModelsInfo models;
  models.bundle_path = "models/demo-bundle";
  models.format_version = "1";
  models.created = "2024-05-01T10:00:00Z";
  models.feature_count = 78;
  models.ensemble_rule = "weighted vote >= 0.5";
  models.ensemble_threshold = 0.5F;
  ModelInfo rf;
  rf.name = "random_forest";
  rf.threshold = 0.5F;
  rf.weight = 0.6;
  rf.metrics = {{"accuracy", 0.987}, {"precision", 0.962}, {"recall", 0.948}, {"f1", 0.955}};
  rf.confusion_labels = {"normal", "attack"};
  rf.confusion = {{9120, 37}, {52, 951}};
  ModelInfo iforest;
  iforest.name = "isolation_forest";
  iforest.threshold = 0.6F;
  iforest.weight = 0.4;
  iforest.metrics = {{"accuracy", 0.912}, {"f1", 0.71}};
  iforest.confusion_labels = {"normal", "attack"};
  iforest.confusion = {{8800, 357}, {301, 702}};
  // Scored and shown in the evidence, without a vote (as the shipped bundle's autoencoder).
  ModelInfo autoencoder;
  autoencoder.name = "autoencoder";
  autoencoder.threshold = 0.8F;
  autoencoder.weight = 0;
  autoencoder.metrics = {{"accuracy", 0.874}, {"f1", 0.62}};
  models.models = {rf, iforest, autoencoder};
  state.set_models(models);
  state.set_connections({
      {"192.168.1.20", 22, "10.66.0.10", 51544, "ESTABLISHED", "TCP", 812, "sshd"},
      {"192.168.1.20", 443, "", 0, "LISTEN", "TCP", 1204, "nginx"},
      {"192.168.1.20", 53124, "151.101.1.69", 443, "ESTABLISHED", "TCP", 3377, "firefox-esr"},
      {"0.0.0.0", 5353, "", 0, "", "UDP", 640, "avahi-daemon"},
      // Anyone can name a process: an exported table must not turn this into a formula.
      {"0.0.0.0", 8081, "", 0, "LISTEN", "TCP", 4242, "=HYPERLINK(\"http://x\")"},
  });
  // Ten minutes of history so the 1 h view has something before the live points.
  const std::int64_t t0 = now_ms() - 600'000;
  for (int i = 0; i < 600; ++i) {
    TrafficPoint p;
    p.time_ms = t0 + i * 1000;
    p.bytes_sent = 40'000 + 15'000 * std::sin(i / 30.0);
    p.bytes_recv = 120'000 + 50'000 * std::cos(i / 45.0);
    state.add_traffic(p);
    state.add_score({p.time_ms, static_cast<float>(0.2 + 0.1 * std::sin(i / 10.0)), 0.5F, 0});
  }
}

void tick(LiveState& state, int i) {
  const std::int64_t t = now_ms();
  const double burst = (i % 20 > 15) ? 4.0 : 1.0;
  for (const char* name : {"total", "eth0", "lo"}) {
    TrafficPoint p;
    p.time_ms = t;
    p.interface = name;
    const double share = std::string(name) == "total"  ? 1.0
                         : std::string(name) == "eth0" ? 0.8
                                                       : 0.2;
    p.bytes_sent = share * burst * (40'000 + 15'000 * std::sin(i / 3.0));
    p.bytes_recv = share * burst * (120'000 + 50'000 * std::cos(i / 4.0));
    p.packets_sent = p.bytes_sent / 700;
    p.packets_recv = p.bytes_recv / 900;
    state.add_traffic(p);
  }
  for (int f = 0; f < 3; ++f) {
    FlowRow row;
    row.first_ms = t - 1500 - f * 300;
    row.last_ms = t;
    row.src_ip = "192.168.1." + std::to_string(20 + (i + f) % 4);
    row.src_port = static_cast<std::uint16_t>(40000 + i * 3 + f);
    row.dst_ip = f == 2 ? "151.101.1.69" : "10.66.0." + std::to_string(10 + f);
    row.dst_port = f == 0 ? 443 : f == 1 ? 53 : 22;
    row.protocol = f == 1 ? "UDP" : "TCP";
    row.packets = static_cast<std::uint64_t>(10 + (i * 7 + f) % 90);
    row.bytes = row.packets * 800;
    row.score = static_cast<float>(0.1 + 0.05 * f + ((i % 11 == 0 && f == 2) ? 0.8 : 0.0));
    row.anomalous = *row.score > 0.5F;
    state.add_flow(row);
  }
  const bool raise = i == 1 || (i > 0 && i % 15 == 0);
  std::int64_t alert_id = 0;
  if (raise) alert_id = state.add_alert(scan_alert(t, i == 1 ? 0 : i));
  if (raise || i == 0) state.set_hosts(risks(t, alert_id != 0 ? alert_id : 1));
  state.add_score(
      {t, raise ? 0.93F : static_cast<float>(0.2 + 0.1 * std::sin(i / 2.0)), 0.5F, alert_id});
  PipelineStatus status;
  status.packets_total = static_cast<std::uint64_t>(150'000 + i * 180);
  status.flows_total = static_cast<std::uint64_t>(4'000 + i * 3);
  status.flows_per_second = 3;
  status.health = {180.0 * burst, 0, static_cast<std::uint64_t>(i > 30 ? 12 : 0), 312, 65536, 4};
  status.queues = {{"capture", static_cast<std::uint64_t>(i % 7 * 10), 4096, 0},
                   {"flows", 2, 1024, 0},
                   {"alerts", 0, 256, 0}};
  state.set_pipeline(status);
}

TEST(DemoServer, ServesSyntheticDataWhenAsked) {
  const char* seconds_env = std::getenv("NETSENTRY_DEMO_SECONDS");
  if (seconds_env == nullptr) GTEST_SKIP() << "set NETSENTRY_DEMO_SECONDS to serve the demo";
  const int seconds = std::atoi(seconds_env);
  ASSERT_GT(seconds, 0);

  LiveState state;
  seed(state);
  ServerOptions options;
  const char* port_env = std::getenv("NETSENTRY_DEMO_PORT");
  options.port = port_env != nullptr ? std::atoi(port_env) : 0;
  options.assets_dir = std::filesystem::path(NETSENTRY_SOURCE_DIR) / "web";
  if (const char* token = std::getenv("NETSENTRY_DEMO_TOKEN")) options.auth_token = token;
  DemoSuppressions suppressions;
  options.suppressions = &suppressions;
  HttpServer server(state, options);
  server.start();
  std::cout << "dashboard demo at " << server.url() << std::endl;
  const char* url_file = std::getenv("NETSENTRY_DEMO_URL_FILE");
  if (url_file != nullptr) {
    const std::string tmp = std::string(url_file) + ".tmp";
    std::ofstream(tmp) << server.url() << '\n';
    std::filesystem::rename(tmp, url_file);  // the reader never sees a half-written file
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (int i = 0; std::chrono::steady_clock::now() < end; ++i) {
    if (url_file != nullptr && !std::filesystem::exists(url_file)) break;
    tick(state, i);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  server.stop();
  // A demo nobody looked at means the browser test never reached the server.
  EXPECT_GT(server.counters().requests, 0U);
}

}  // namespace
}  // namespace netsentry::server
