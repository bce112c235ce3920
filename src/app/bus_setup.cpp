#include "app/bus_setup.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>

#include "bus/nats_client.h"
#include "bus/publisher.h"
#include "core/error.h"
#include "netflow/ipfix_exporter.h"

#ifndef NETSENTRY_VERSION
#define NETSENTRY_VERSION "0.0.0"
#endif

namespace netsentry::app {

std::string default_sensor_name() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "sensor";
  std::string name;
  for (const char* c = host; *c != '\0' && *c != '.'; ++c) {
    const bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                    (*c >= '0' && *c <= '9') || *c == '-' || *c == '_';
    name += ok ? *c : '-';
  }
  return name.empty() ? "sensor" : name.substr(0, 64);
}

void add_nats_options(CLI::App& cmd, NatsOptions& o, const char* group) {
  cmd.add_option("--nats-user", o.user, "NATS user name")->group(group);
  cmd.add_option("--nats-password", o.password, "NATS password")->group(group);
  cmd.add_option("--nats-token", o.token, "NATS authentication token")->group(group);
  cmd.add_option("--nats-creds", o.creds, "NATS credentials file (user JWT + NKey seed)")
      ->group(group);
  cmd.add_option("--nats-nkey", o.nkey, "Public NKey (with --nats-nkey-seed)")->group(group);
  cmd.add_option("--nats-nkey-seed", o.nkey_seed, "File holding the NKey seed")->group(group);
  cmd.add_flag("--nats-tls", o.tls, "Require TLS (also implied by tls:// URLs)")->group(group);
  cmd.add_option("--nats-tls-ca", o.tls_ca, "CA certificates to trust (PEM)")->group(group);
  cmd.add_option("--nats-tls-cert", o.tls_cert, "Client certificate for mutual TLS (PEM)")
      ->group(group);
  cmd.add_option("--nats-tls-key", o.tls_key, "Client certificate's key (PEM)")->group(group);
  cmd.add_option("--nats-tls-hostname", o.tls_hostname,
                 "Expected server name in its certificate, when it differs from the URL's")
      ->group(group);
  cmd.add_option("--stream", o.stream, "JetStream stream (created when missing)")
      ->capture_default_str()
      ->group(group);
  cmd.add_option("--subject-prefix", o.subject_prefix,
                 "Subjects are PREFIX.<sensor>.flows|alerts|traffic|connections|health")
      ->capture_default_str()
      ->group(group);
  cmd.add_option("--stream-max-age", o.stream_max_age_hours,
                 "Hours a message is kept in a stream created here (0 = no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber)
      ->group(group);
  cmd.add_option("--stream-max-mb", o.stream_max_mb,
                 "Size cap of a stream created here, oldest dropped (0 = no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber)
      ->group(group);
  cmd.add_option("--stream-replicas", o.stream_replicas,
                 "Replicas of a stream created here (3 on a 3-node JetStream cluster)")
      ->capture_default_str()
      ->check(CLI::Range(1, 5))
      ->group(group);
}

void add_publish_options(CLI::App& cmd, PublishOptions& o, bool with_ipfix) {
  const char* group = "Bus (NATS JetStream)";
  cmd.add_option("--publish", o.url,
                 "Publish flows, alerts, traffic, connections and health to NATS JetStream at "
                 "nats://HOST:PORT (comma-separated servers of a cluster)")
      ->group(group);
  cmd.add_option("--sensor", o.sensor,
                 "This sensor's name in subjects and at the hub (default: the host name)")
      ->group(group);
  add_nats_options(cmd, o.nats, group);
  cmd.add_option("--spool-dir", o.spool_dir,
                 "Where messages wait while the broker is unreachable (default <out>/spool)")
      ->group(group);
  cmd.add_option("--spool-max-mb", o.spool_max_mb,
                 "Spool size cap; past it the oldest messages are dropped and counted")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e7))
      ->group(group);
  cmd.add_option("--publish-format", o.format,
                 "protobuf (src/bus/messages.proto) or json (the same messages as JSON, for "
                 "debugging)")
      ->capture_default_str()
      ->check(CLI::IsMember({"protobuf", "json"}))
      ->group(group);
  cmd.add_option("--publish-queue", o.queue,
                 "Items waiting to be published; past it live capture drops and counts them")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{16}, std::size_t{1} << 24))
      ->group(group);
  if (with_ipfix) {
    cmd.add_option("--export-ipfix", o.export_ipfix,
                   "Also send every finished flow as IPFIX over UDP to HOST:PORT (docs/ipfix.md)")
        ->group("IPFIX export");
    cmd.add_option("--ipfix-domain", o.ipfix_observation_domain,
                   "IPFIX observation domain id of the export")
        ->capture_default_str()
        ->group("IPFIX export");
  }
}

bus::ConnectionOptions connection_options(const std::string& url, const NatsOptions& o) {
  bus::ConnectionOptions c;
  c.url = url;
  c.user = o.user;
  c.password = o.password;
  c.token = o.token;
  c.credentials = o.creds;
  c.nkey_public = o.nkey;
  c.nkey_seed = o.nkey_seed;
  c.tls = o.tls;
  c.tls_ca = o.tls_ca;
  c.tls_cert = o.tls_cert;
  c.tls_key = o.tls_key;
  c.tls_hostname = o.tls_hostname;
  return c;
}

bus::StreamOptions stream_options(const NatsOptions& o) {
  bus::StreamOptions s;
  if (o.stream.empty()) throw core::Error("--stream must not be empty");
  bus::check_sensor_name(o.subject_prefix);  // a subject token as well
  s.name = o.stream;
  s.subject_prefix = o.subject_prefix;
  s.max_age =
      std::chrono::seconds(static_cast<std::int64_t>(std::llround(o.stream_max_age_hours * 3600)));
  s.max_bytes = static_cast<std::int64_t>(o.stream_max_mb * 1024 * 1024);
  s.replicas = o.stream_replicas;
  return s;
}

std::unique_ptr<bus::Publisher> make_publisher(const PublishOptions& o,
                                               const std::filesystem::path& out_dir,
                                               bool lossless) {
  if (o.url.empty()) return nullptr;
  bus::PublisherOptions p;
  p.connection = connection_options(o.url, o.nats);
  p.stream = stream_options(o.nats);
  p.sensor = o.sensor.empty() ? default_sensor_name() : o.sensor;
  p.encoding = o.format == "json" ? bus::Encoding::kJson : bus::Encoding::kProtobuf;
  p.spool_dir = o.spool_dir.empty() ? out_dir / "spool" : std::filesystem::path(o.spool_dir);
  p.spool_max_bytes = static_cast<std::uint64_t>(o.spool_max_mb * 1024 * 1024);
  p.queue_capacity = o.queue;
  p.lossless = lossless;
  p.version = NETSENTRY_VERSION;
  return std::make_unique<bus::Publisher>(std::move(p));
}

std::unique_ptr<netflow::IpfixExporter> make_ipfix_exporter(const PublishOptions& o) {
  if (o.export_ipfix.empty()) return nullptr;
  netflow::IpfixExporterOptions e;
  const std::size_t colon = o.export_ipfix.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == o.export_ipfix.size()) {
    throw core::Error("--export-ipfix " + o.export_ipfix + ": expected HOST:PORT");
  }
  e.host = o.export_ipfix.substr(0, colon);
  if (e.host.size() >= 2 && e.host.front() == '[' && e.host.back() == ']') {
    e.host = e.host.substr(1, e.host.size() - 2);
  }
  e.port = o.export_ipfix.substr(colon + 1);
  try {
    e.observation_domain = static_cast<std::uint32_t>(std::stoul(o.ipfix_observation_domain));
  } catch (const std::exception&) {
    throw core::Error("--ipfix-domain " + o.ipfix_observation_domain + ": not a number");
  }
  return std::make_unique<netflow::IpfixExporter>(e);
}

}  // namespace netsentry::app
