#include "server/webhook_sink.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "detect/alert_format.h"
#include "server/http_lib.h"

namespace netsentry::server {
namespace {

bool retryable(int status) { return status == 408 || status == 429 || status >= 500; }

}  // namespace

std::string alert_webhook_body(const detect::Alert& alert, detect::AlertChange change) {
  return detect::alert_to_json(alert, detect::AlertTimes::kRfc3339, change);
}

WebhookSink::WebhookSink(WebhookOptions options)
    : options_(std::move(options)), queue_(options_.queue_capacity) {
  const std::string& url = options_.url;
  constexpr std::string_view kScheme = "http://";
  std::string lower = url.substr(0, std::min<std::size_t>(url.size(), 8));
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.starts_with("https://")) {
    throw core::Error("webhook URL \"" + url +
                      "\": https is not supported; use an http:// URL (a local relay can add TLS)");
  }
  if (!lower.starts_with(kScheme)) {
    throw core::Error("webhook URL \"" + url + "\" must start with http://");
  }
  const std::string rest = url.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  path_ = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string port_text;
  if (authority.starts_with('[')) {  // [IPv6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string::npos) throw core::Error("webhook URL \"" + url + "\": bad host");
    host_ = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw core::Error("webhook URL \"" + url + "\": bad host");
      port_text = authority.substr(close + 2);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    host_ = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (host_.empty()) throw core::Error("webhook URL \"" + url + "\" has no host");
  if (!port_text.empty() || authority.ends_with(':')) {
    int port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) {
        port = -1;
        break;
      }
      port = port * 10 + (c - '0');
    }
    if (port <= 0 || port > 65535) {
      throw core::Error("webhook URL \"" + url + "\": port \"" + port_text + "\" is not 1..65535");
    }
    port_ = port;
  }
  options_.max_attempts = std::max(options_.max_attempts, 1);
  thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
}

WebhookSink::~WebhookSink() {
  {
    std::lock_guard lock(mutex_);
    shutdown_deadline_ = std::chrono::steady_clock::now() + options_.shutdown_grace;
  }
  queue_.close();
  thread_.request_stop();
  changed_.notify_all();
  thread_.join();
}

void WebhookSink::on_alert(const detect::Alert& alert, detect::AlertChange change) {
  if (change == detect::AlertChange::kUpdated) {
    const auto it = last_update_ns_.find(alert.id);
    if (it != last_update_ns_.end() && alert.last_ns - it->second < options_.update_interval_ns) {
      return;
    }
  }
  if (change == detect::AlertChange::kPast) {
    last_update_ns_.erase(alert.id);
  } else {
    last_update_ns_[alert.id] = alert.last_ns;
  }
  deliver(alert, change);
}

void WebhookSink::deliver(const detect::Alert& alert, detect::AlertChange change) {
  // A full queue drops (counted by the queue): detection never waits for a receiver.
  (void)queue_.try_push(Post{alert, change});
}

bool WebhookSink::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return finished_ >= queue_.pushed(); });
}

WebhookStats WebhookSink::stats() const {
  WebhookStats stats;
  stats.queued = queue_.pushed();
  stats.dropped = queue_.dropped();
  stats.delivered = delivered_.load();
  stats.failed = failed_.load();
  stats.retries = retries_.load();
  return stats;
}

std::string WebhookSink::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

void WebhookSink::finish(bool delivered, std::string error) {
  (delivered ? delivered_ : failed_).fetch_add(1);
  {
    std::lock_guard lock(mutex_);
    ++finished_;
    if (!delivered) last_error_ = std::move(error);
  }
  changed_.notify_all();
}

void WebhookSink::run(std::stop_token stop) {
  httplib::Client client(host_, port_);
  const auto seconds_and_micros = [](std::chrono::milliseconds duration) {
    return std::pair<time_t, time_t>(duration.count() / 1000, (duration.count() % 1000) * 1000);
  };
  const auto [connect_s, connect_us] = seconds_and_micros(options_.connect_timeout);
  const auto [timeout_s, timeout_us] = seconds_and_micros(options_.timeout);
  client.set_connection_timeout(connect_s, connect_us);
  client.set_read_timeout(timeout_s, timeout_us);
  client.set_write_timeout(timeout_s, timeout_us);
  client.set_keep_alive(true);
  httplib::Headers headers;
  for (const auto& [name, value] : options_.headers) headers.emplace(name, value);
  const std::string where = options_.url;

  // pop without the stop token: on shutdown the queue is closed and drained within the grace.
  while (std::optional<Post> post = queue_.pop()) {
    const std::string body = alert_webhook_body(post->alert, post->change);
    std::chrono::milliseconds backoff = options_.initial_backoff;
    bool delivered = false;
    std::string error;
    for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
      {
        std::lock_guard lock(mutex_);
        if (std::chrono::steady_clock::now() >= shutdown_deadline_) {
          if (error.empty()) error = where + ": not sent before shutdown";
          break;
        }
      }
      if (attempt > 1) retries_.fetch_add(1);
      const httplib::Result result = client.Post(path_, headers, body, "application/json");
      if (result && result->status >= 200 && result->status < 300) {
        delivered = true;
        break;
      }
      if (result) {
        error = fmt::format("{}: HTTP {}", where, result->status);
        if (!retryable(result->status)) break;
      } else {
        error = where + ": " + httplib::to_string(result.error());
      }
      // While shutting down every alert gets one attempt, without waiting.
      if (attempt == options_.max_attempts || stop.stop_requested()) break;
      std::unique_lock lock(mutex_);
      changed_.wait_for(lock, stop, backoff, [] { return false; });
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
    finish(delivered, std::move(error));
  }
}

}  // namespace netsentry::server
