#include "bus/nats_client.h"

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <thread>
#include <vector>

#include "core/error.h"

namespace netsentry::bus {
namespace {

void check(natsStatus s, const std::string& what) {
  if (s != NATS_OK) throw core::Error(what + ": " + nats_error(s));
}

std::vector<std::string> split_servers(const std::string& url) {
  std::vector<std::string> servers;
  std::size_t start = 0;
  while (start <= url.size()) {
    const std::size_t comma = url.find(',', start);
    std::string part =
        url.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!part.empty() && part.front() == ' ') part.erase(part.begin());
    while (!part.empty() && part.back() == ' ') part.pop_back();
    if (!part.empty()) servers.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return servers;
}

void check_file(const std::filesystem::path& path, const char* option) {
  std::error_code ec;
  if (!path.empty() && !std::filesystem::is_regular_file(path, ec)) {
    throw core::Error(std::string(option) + " " + path.string() + ": no such file");
  }
}

}  // namespace

std::string nats_error(int status) {
  std::string text = natsStatus_GetText(static_cast<natsStatus>(status));
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail != nullptr && *detail != '\0' && text.find(detail) == std::string::npos) {
    text += " (";
    text += detail;
    text += ")";
  }
  return text;
}

void check_sensor_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (const char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_');
  }
  if (!ok) {
    throw core::Error("--sensor \"" + std::string(name) +
                      "\": use 1 to 64 letters, digits, '-' or '_' (it becomes a NATS subject "
                      "token)");
  }
}

NatsClient::NatsClient(const ConnectionOptions& o) : url_(o.url) {
  const std::vector<std::string> servers = split_servers(o.url);
  if (servers.empty()) throw core::Error("--nats/--publish: no server URL given");
  for (const std::string& s : servers) {
    if (s.find("://") == std::string::npos) {
      throw core::Error("NATS server \"" + s + "\": use nats://HOST:PORT (or tls://HOST:PORT)");
    }
  }
  check_file(o.credentials, "--nats-creds");
  check_file(o.nkey_seed, "--nats-nkey-seed");
  check_file(o.tls_ca, "--nats-tls-ca");
  check_file(o.tls_cert, "--nats-tls-cert");
  check_file(o.tls_key, "--nats-tls-key");

  natsOptions* opts = nullptr;
  check(natsOptions_Create(&opts), "NATS options");
  const std::unique_ptr<natsOptions, void (*)(natsOptions*)> guard(opts, natsOptions_Destroy);
  std::vector<const char*> urls;
  for (const std::string& s : servers) urls.push_back(s.c_str());
  check(natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size())),
        "NATS server list " + o.url);
  if (!o.name.empty()) check(natsOptions_SetName(opts, o.name.c_str()), "NATS connection name");
  if (!o.user.empty()) {
    check(natsOptions_SetUserInfo(opts, o.user.c_str(), o.password.c_str()), "NATS user");
  }
  if (!o.token.empty()) check(natsOptions_SetToken(opts, o.token.c_str()), "NATS token");
  if (!o.credentials.empty()) {
    check(natsOptions_SetUserCredentialsFromFiles(opts, o.credentials.c_str(), nullptr),
          "--nats-creds " + o.credentials.string());
  }
  if (!o.nkey_seed.empty()) {
    if (o.nkey_public.empty()) throw core::Error("--nats-nkey-seed needs --nats-nkey (public key)");
    check(natsOptions_SetNKeyFromSeed(opts, o.nkey_public.c_str(), o.nkey_seed.c_str()),
          "--nats-nkey-seed " + o.nkey_seed.string());
  }
  const bool tls = o.tls || o.url.find("tls://") != std::string::npos || !o.tls_ca.empty() ||
                   !o.tls_cert.empty();
  if (tls) {
    check(natsOptions_SetSecure(opts, true), "NATS TLS (is libnats built with TLS?)");
    if (!o.tls_ca.empty()) {
      check(natsOptions_LoadCATrustedCertificates(opts, o.tls_ca.c_str()),
            "--nats-tls-ca " + o.tls_ca.string());
    }
    if (!o.tls_cert.empty() || !o.tls_key.empty()) {
      if (o.tls_cert.empty() || o.tls_key.empty()) {
        throw core::Error("--nats-tls-cert and --nats-tls-key go together");
      }
      check(natsOptions_LoadCertificatesChain(opts, o.tls_cert.c_str(), o.tls_key.c_str()),
            "--nats-tls-cert " + o.tls_cert.string());
    }
    if (!o.tls_hostname.empty()) {
      check(natsOptions_SetExpectedHostname(opts, o.tls_hostname.c_str()), "--nats-tls-hostname");
    }
    if (o.tls_skip_verify) check(natsOptions_SkipServerVerification(opts, true), "NATS TLS");
  }
  check(natsOptions_SetTimeout(opts, o.connect_timeout.count()), "NATS timeout");
  check(natsOptions_SetMaxReconnect(opts, -1), "NATS reconnect");
  check(natsOptions_SetReconnectWait(opts, o.reconnect_wait.count()), "NATS reconnect");
  check(natsOptions_SetPingInterval(opts, 5000), "NATS ping interval");
  check(natsOptions_SetDisconnectedCB(opts, &NatsClient::on_disconnected, this), "NATS callbacks");
  check(natsOptions_SetReconnectedCB(opts, &NatsClient::on_reconnected, this), "NATS callbacks");
  // Without a server at start (or refused credentials), keep trying in the background instead
  // of failing. The callback matters: without one, natsConnection_Connect blocks until it
  // connects, which would hold a sensor's capture (and a hub's start) for as long as the broker
  // is away.
  check(natsOptions_SetRetryOnFailedConnect(opts, true, &NatsClient::on_connected, this),
        "NATS retry");

  const natsStatus s = natsConnection_Connect(&nc_, opts);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
    natsConnection_Destroy(nc_);
    nc_ = nullptr;
    throw core::Error("cannot connect to NATS at " + o.url + ": " + nats_error(s));
  }
  if (s == NATS_NOT_YET_CONNECTED) {
    // The connection's last error says why: refused connections, or "Authorization Violation".
    const char* why = nullptr;
    const natsStatus last = natsConnection_GetLastError(nc_, &why);
    spdlog::warn("bus: cannot connect to NATS at {} yet ({}); retrying in the background", o.url,
                 why != nullptr && *why != '\0' ? why
                 : last != NATS_OK              ? natsStatus_GetText(last)
                                                : "no server answers");
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 5000;
  jo.PublishAsync.MaxPending = 4096;
  jo.PublishAsync.ErrHandler = [](jsCtx* js, jsPubAckErr* error, void* closure) {
    NatsClient::on_publish_error(js, error, closure);
  };
  jo.PublishAsync.ErrHandlerClosure = this;
  const natsStatus js = natsConnection_JetStream(&js_, nc_, &jo);
  if (js != NATS_OK) {
    natsConnection_Destroy(nc_);
    nc_ = nullptr;
    throw core::Error("NATS JetStream context: " + nats_error(js));
  }
}

NatsClient::~NatsClient() {
  closing_.store(true);
  jsCtx_Destroy(js_);
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
}

bool NatsClient::connected() const {
  return nc_ != nullptr && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
}

bool NatsClient::wait_connected(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!connected()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

void NatsClient::on_disconnected(__natsConnection*, void* closure) {
  auto* self = static_cast<NatsClient*>(closure);
  if (self->closing_.load()) return;
  self->disconnects_.fetch_add(1);
  spdlog::warn("bus: disconnected from NATS ({}); reconnecting", self->url_);
}

void NatsClient::on_connected(__natsConnection*, void* closure) {
  spdlog::info("bus: connected to NATS ({})", static_cast<NatsClient*>(closure)->url_);
}

void NatsClient::on_reconnected(__natsConnection*, void* closure) {
  spdlog::info("bus: reconnected to NATS ({})", static_cast<NatsClient*>(closure)->url_);
}

void NatsClient::on_publish_error(__jsCtx*, void* error, void* closure) {
  auto* self = static_cast<NatsClient*>(closure);
  const auto* e = static_cast<const jsPubAckErr*>(error);
  std::string text = e->ErrText != nullptr ? e->ErrText : nats_error(e->Err);
  std::lock_guard lock(self->error_mutex_);
  self->last_publish_error_ = std::move(text);
  self->publish_errors_.fetch_add(1);
}

std::string NatsClient::last_publish_error() const {
  std::lock_guard lock(error_mutex_);
  return last_publish_error_;
}

void NatsClient::ensure_stream(const StreamOptions& o) {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, js_, o.name.c_str(), nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(info);
    return;
  }
  if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
    throw core::Error("NATS stream " + o.name + ": " + nats_error(s));
  }
  const std::string subjects = o.subject_prefix + ".>";
  const char* subject_list[] = {subjects.c_str()};
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = o.name.c_str();
  cfg.Subjects = subject_list;
  cfg.SubjectsLen = 1;
  cfg.Retention = js_LimitsPolicy;  // several hubs may read it, each with its own consumer
  cfg.Storage = o.memory ? js_MemoryStorage : js_FileStorage;
  cfg.MaxAge = std::chrono::duration_cast<std::chrono::nanoseconds>(o.max_age).count();
  cfg.MaxBytes = o.max_bytes > 0 ? o.max_bytes : -1;
  cfg.Duplicates = std::chrono::duration_cast<std::chrono::nanoseconds>(o.duplicates).count();
  cfg.Replicas = o.replicas;
  cfg.Discard = js_DiscardOld;
  s = js_AddStream(&info, js_, &cfg, nullptr, &code);
  if (s != NATS_OK) {
    // Another sensor may have created it a moment ago.
    jsStreamInfo* again = nullptr;
    if (js_GetStreamInfo(&again, js_, o.name.c_str(), nullptr, nullptr) == NATS_OK) {
      jsStreamInfo_Destroy(again);
      return;
    }
    // JetStream's own code says more than the status, e.g. 10005 (no peers): a 3-replica stream
    // needs 3 servers up when it is created.
    throw core::Error("cannot create NATS stream " + o.name + " (" + subjects + ", " +
                      std::to_string(o.replicas) + " replicas): " + nats_error(s) +
                      (code != 0 ? " (JetStream error " + std::to_string(code) + ")" : ""));
  }
  jsStreamInfo_Destroy(info);
  spdlog::info("bus: created JetStream stream {} for {} (max age {} s, max bytes {}, {} replica{})",
               o.name, subjects, o.max_age.count(),
               o.max_bytes > 0 ? std::to_string(o.max_bytes) : "unlimited", o.replicas,
               o.replicas == 1 ? "" : "s");
}

}  // namespace netsentry::bus
