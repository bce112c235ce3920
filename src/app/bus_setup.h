// Provides the command-line side of the bus and of NetFlow/IPFIX: the options `monitor` and
// `collect` share to publish to NATS JetStream (--publish, --sensor, credentials, TLS, stream
// limits, spool) and to export IPFIX, the `hub` and `collect` subcommands, and the mapping of
// those options to bus::PublisherOptions / bus::ConsumerOptions.
// Thread rules: plain functions, called from main's thread while parsing.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace netsentry::bus {
struct ConnectionOptions;
struct StreamOptions;
struct PublisherOptions;
class Publisher;
}  // namespace netsentry::bus

namespace netsentry::netflow {
class IpfixExporter;
}  // namespace netsentry::netflow

namespace netsentry::app {

// How to reach NATS (shared by sensors and hubs).
struct NatsOptions {
  std::string user;
  std::string password;
  std::string token;
  std::string creds;      // .creds file
  std::string nkey;       // public NKey (with nkey_seed)
  std::string nkey_seed;  // file holding the seed
  bool tls = false;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_hostname;
  // The stream: created when missing with these limits.
  std::string stream = "NETSENTRY";
  std::string subject_prefix = "netsentry";
  double stream_max_age_hours = 168;
  double stream_max_mb = 0;  // 0 = unlimited
  int stream_replicas = 1;
};

struct PublishOptions {
  std::string url;     // --publish nats://HOST:PORT[,...]; empty: no publishing
  std::string sensor;  // --sensor; empty: the host name
  NatsOptions nats;
  std::string spool_dir;  // empty: <out>/spool
  double spool_max_mb = 1024;
  std::string format = "protobuf";  // or json (debugging)
  std::size_t queue = 8192;
  std::string export_ipfix;  // HOST:PORT: also send flows as IPFIX over UDP
  std::string ipfix_observation_domain = "0";
};

// --publish, --sensor and the NATS/spool options (group "Bus"), and --export-ipfix when
// `with_ipfix`.
void add_publish_options(CLI::App& cmd, PublishOptions& o, bool with_ipfix);
// The connection and stream settings.
void add_nats_options(CLI::App& cmd, NatsOptions& o, const char* group);
[[nodiscard]] bus::ConnectionOptions connection_options(const std::string& url,
                                                        const NatsOptions& o);
[[nodiscard]] bus::StreamOptions stream_options(const NatsOptions& o);
// A started publisher for `o` (spool under out_dir unless given), or null when --publish is not
// set. Throws core::Error for a bad sensor name or option.
[[nodiscard]] std::unique_ptr<bus::Publisher> make_publisher(const PublishOptions& o,
                                                             const std::filesystem::path& out_dir,
                                                             bool lossless);
[[nodiscard]] std::string default_sensor_name();
// The IPFIX exporter for --export-ipfix HOST:PORT, or null when it is not set.
[[nodiscard]] std::unique_ptr<netflow::IpfixExporter> make_ipfix_exporter(const PublishOptions& o);

struct HubOptions {
  std::string nats = "nats://127.0.0.1:4222";
  NatsOptions connection;
  std::filesystem::path out_dir = "netsentry-hub";
  std::string listen = "127.0.0.1:8050";
  bool no_dashboard = false;
  std::string auth_token;
  std::string auth_token_file;
  std::string web_dir;
  std::string durable = "netsentry-hub";
  double ack_wait_s = 30;
  std::size_t fetch_batch = 1024;
  double retention_days = 7;
  double db_max_mb = 0;
  double correlation_window_s = 600;
  bool no_correlation = false;
  double duration_s = 0;  // 0: until SIGINT/SIGTERM
};
CLI::App* add_hub_command(CLI::App& app, HubOptions& o);
int run_hub(const HubOptions& options);

struct CollectOptions {
  std::string listen = "udp:127.0.0.1:2055";
  std::filesystem::path out_dir = "netsentry-collect";
  PublishOptions publish;
  bool no_db = false;
  double detector_window_s = 60;
  double udp_flood_pps = 10000;
  double icmp_flood_pps = 500;
  double alert_quiet_s = 120;  // an alert without new evidence this long is past
  double duration_s = 0;       // 0: until SIGINT/SIGTERM
};
CLI::App* add_collect_command(CLI::App& app, CollectOptions& o);
int run_collect(const CollectOptions& options);

}  // namespace netsentry::app
