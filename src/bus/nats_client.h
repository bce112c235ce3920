// Provides bus::NatsClient, netsentry's one connection to NATS (src/bus is the only libnats user):
// connection options (servers, credentials and TLS as the C client supports them), a connection
// that keeps retrying in the background while the servers are unreachable, its JetStream context,
// and the stream the sensors publish to (created when missing).
// Thread rules: connected(), js() and the stream calls may be used from any thread (libnats
// connections are thread-safe); construct and destroy on one owner thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

struct __natsConnection;
struct __jsCtx;

namespace netsentry::bus {

struct ConnectionOptions {
  // One or more servers, comma-separated: nats://host:4222, tls://host:4222; nats://user:pass@host
  // carries credentials in the URL.
  std::string url = "nats://127.0.0.1:4222";
  std::string name;  // the connection's name in the server's monitoring
  std::string user;
  std::string password;
  std::string token;
  std::filesystem::path credentials;  // a .creds file (user JWT + NKey seed)
  std::filesystem::path nkey_seed;    // a file holding an NKey seed (nkey authentication)
  std::string nkey_public;            // its public key (required with nkey_seed)
  bool tls = false;                   // also implied by a tls:// URL
  std::filesystem::path tls_ca;       // CA certificates to trust
  std::filesystem::path tls_cert;     // client certificate (mutual TLS) ...
  std::filesystem::path tls_key;      // ... and its key
  std::string tls_hostname;           // expected server name, when it differs from the URL's
  bool tls_skip_verify = false;       // testing only
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds reconnect_wait{500};
};

struct StreamOptions {
  std::string name = "NETSENTRY";
  std::string subject_prefix = "netsentry";  // the stream holds <prefix>.>
  std::chrono::seconds max_age{7 * 86400};   // 0 = unlimited
  std::int64_t max_bytes = 0;                // 0 = unlimited
  std::chrono::seconds duplicates{120};      // JetStream's de-duplication window
  int replicas = 1;                          // 3 on a 3-node cluster
  bool memory = false;                       // file storage unless set
};

// Throws core::Error unless `name` is a usable subject token: letters, digits, '-' and '_', 1 to
// 64 characters.
void check_sensor_name(std::string_view name);

class NatsClient final {
 public:
  // Starts connecting; returns at once even when no server answers yet (libnats keeps trying in
  // the background, forever). Throws core::Error for unusable options (bad URL, unreadable
  // credential or certificate files), naming them.
  explicit NatsClient(const ConnectionOptions& options);
  ~NatsClient();
  NatsClient(const NatsClient&) = delete;
  NatsClient& operator=(const NatsClient&) = delete;

  [[nodiscard]] bool connected() const;
  // Blocks until connected or the timeout passes; true when connected.
  bool wait_connected(std::chrono::milliseconds timeout) const;
  [[nodiscard]] __jsCtx* js() const { return js_; }
  [[nodiscard]] __natsConnection* connection() const { return nc_; }
  [[nodiscard]] const std::string& url() const { return url_; }

  // Creates the stream when it does not exist (with `options`' limits); an existing one is left
  // as it is. Throws core::Error with the server's reason when neither works.
  void ensure_stream(const StreamOptions& options);
  // Connection state changes (disconnects, reconnects) since start.
  [[nodiscard]] std::uint64_t disconnects() const { return disconnects_.load(); }
  // Asynchronous publishes JetStream refused (a negative acknowledgement) since start, and the
  // latest reason.
  [[nodiscard]] std::uint64_t publish_errors() const { return publish_errors_.load(); }
  [[nodiscard]] std::string last_publish_error() const;

 private:
  static void on_connected(__natsConnection* nc, void* closure);
  static void on_disconnected(__natsConnection* nc, void* closure);
  static void on_reconnected(__natsConnection* nc, void* closure);
  static void on_publish_error(__jsCtx* js, void* error, void* closure);

  std::string url_;
  __natsConnection* nc_ = nullptr;
  __jsCtx* js_ = nullptr;
  std::atomic<std::uint64_t> disconnects_{0};
  std::atomic<std::uint64_t> publish_errors_{0};
  std::atomic<bool> closing_{false};  // our own close is not worth a warning
  mutable std::mutex error_mutex_;    // guards last_publish_error_
  std::string last_publish_error_;
};

// libnats' text for a status code and its last error ("nats: ...").
[[nodiscard]] std::string nats_error(int status);

}  // namespace netsentry::bus
