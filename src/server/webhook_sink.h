// Provides server::WebhookSink, alert delivery by HTTP POST as a detect::AlertSink: the alert as a
// JSON object (detect::alert_to_json with "change": raised, updated, escalated, past) to an
// http:// URL from its own thread: when raised, escalated and past, and while engaged at most one
// update per update_interval of packet time. Delivering only queues (a bounded queue; a full
// queue drops and counts), so a slow or dead receiver never stalls detection. Failed posts
// (connection errors, timeouts, 408, 429, 5xx) are retried a bounded number of times with
// exponential backoff; other 4xx answers are final. It lives in server/ because cpp-httplib is
// used here only.
// Thread rules: on_alert()/deliver() may be called from any thread. The destructor keeps
// delivering what is queued (one attempt each) for shutdown_grace, plus at most one request's
// timeouts, then counts the rest as failed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/bounded_queue.h"
#include "detect/alert.h"
#include "detect/sinks.h"

namespace netsentry::server {

struct WebhookOptions {
  std::string url;  // http://host[:port][/path]; https is not supported
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Authorization", "..."}
  std::size_t queue_capacity = 1024;
  int max_attempts = 4;                            // the first post and its retries
  std::chrono::milliseconds initial_backoff{500};  // doubled after each failure
  std::chrono::milliseconds max_backoff{10000};
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds timeout{5000};  // reading the answer, and writing the request
  std::chrono::milliseconds shutdown_grace{3000};
  std::int64_t update_interval_ns = 60'000'000'000;  // packet time between update posts
};

struct WebhookStats {
  std::uint64_t queued = 0;
  std::uint64_t dropped = 0;    // queue full
  std::uint64_t delivered = 0;  // answered 2xx
  std::uint64_t failed = 0;     // gave up (attempts exhausted, final 4xx, or shutdown)
  std::uint64_t retries = 0;
};

// The JSON body WebhookSink posts: detect::alert_to_json() with "change" (time and last_seen as
// RFC 3339 UTC with milliseconds, time_ns, last_ns; every other alert field as the API has it).
[[nodiscard]] std::string alert_webhook_body(
    const detect::Alert& alert, detect::AlertChange change = detect::AlertChange::kRaised);

class WebhookSink final : public detect::AlertSink {
 public:
  // Throws core::Error when the URL is not http://host[:port][/path].
  explicit WebhookSink(WebhookOptions options);
  ~WebhookSink() override;
  WebhookSink(const WebhookSink&) = delete;
  WebhookSink& operator=(const WebhookSink&) = delete;

  void on_alert(const detect::Alert& alert, detect::AlertChange change) override;
  // Queues one post, whatever the change.
  void deliver(const detect::Alert& alert,
               detect::AlertChange change = detect::AlertChange::kRaised);

  // Waits until every queued alert was delivered or given up, at most `timeout`; true if so.
  bool wait_idle(std::chrono::milliseconds timeout);
  [[nodiscard]] WebhookStats stats() const;
  // The latest failure ("http://host:8080/hook: HTTP 500"), empty when none.
  [[nodiscard]] std::string last_error() const;

 private:
  void run(std::stop_token stop);
  void finish(bool delivered, std::string error);

  WebhookOptions options_;
  std::string host_;
  int port_ = 80;
  std::string path_;
  struct Post {
    detect::Alert alert;
    detect::AlertChange change;
  };
  core::BoundedQueue<Post> queue_;
  std::unordered_map<std::int64_t, std::int64_t> last_update_ns_;  // delivering thread only
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> retries_{0};
  mutable std::mutex mutex_;  // guards last_error_, finished_, shutdown_deadline_
  std::condition_variable_any changed_;
  std::string last_error_;
  std::uint64_t finished_ = 0;  // delivered or given up
  std::chrono::steady_clock::time_point shutdown_deadline_ =
      std::chrono::steady_clock::time_point::max();
  std::jthread thread_;  // last: joins before the members it uses go away
};

}  // namespace netsentry::server
