#include "server/webhook_sink.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "server/http_lib.h"
#include "support/sample_alert.h"

namespace netsentry::server {
namespace {

using namespace std::chrono_literals;

detect::Alert scan_alert() { return testing::sample_scan_alert(); }

// An HTTP receiver on 127.0.0.1 and an ephemeral port, answering POST /hook with `handler`.
class Receiver {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  explicit Receiver(Handler handler) : handler_(std::move(handler)) {
    server_.Post("/hook", [this](const httplib::Request& request, httplib::Response& response) {
      hits_.fetch_add(1);
      handler_(request, response);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  [[nodiscard]] std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/hook";
  }
  [[nodiscard]] int hits() const { return hits_.load(); }

 private:
  Handler handler_;
  httplib::Server server_;
  int port_ = 0;
  std::atomic<int> hits_{0};
  std::thread thread_;
};

WebhookOptions fast_options(std::string url) {
  WebhookOptions options;
  options.url = std::move(url);
  options.initial_backoff = 5ms;
  options.max_backoff = 20ms;
  options.connect_timeout = 500ms;
  options.timeout = 500ms;
  options.shutdown_grace = 200ms;
  return options;
}

WebhookOptions options_for(std::string url) {
  WebhookOptions options;
  options.url = std::move(url);
  return options;
}

std::string error_of(const auto& make) {
  try {
    make();
  } catch (const core::Error& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(WebhookBody, IsAJsonObjectWithEveryAlertField) {
  const nlohmann::json body = nlohmann::json::parse(alert_webhook_body(scan_alert()));
  EXPECT_EQ(body["id"], 7);
  EXPECT_EQ(body["time"], "2026-11-23T23:45:01.250Z");
  EXPECT_EQ(body["last_seen"], "2026-11-23T23:45:02.000Z");
  EXPECT_EQ(body["time_ns"], 1795477501'250000000);
  EXPECT_EQ(body["severity"], "HIGH");
  EXPECT_EQ(body["kind"], "port_scan");
  EXPECT_EQ(body["src_ip"], "10.0.0.66");
  EXPECT_EQ(body["dst_ip"], "10.0.0.5");
  EXPECT_EQ(body["dst_port"], 22);
  EXPECT_EQ(body["protocol"], "TCP");
  EXPECT_EQ(body["count"], 12);
  EXPECT_EQ(body["votes"], 3);
  EXPECT_EQ(body["models"][0]["model"], "isolation_forest");
  EXPECT_EQ(body["models"][0]["vote"], true);
  EXPECT_EQ(body["features"][0]["feature"], "distinct_ports");
  EXPECT_DOUBLE_EQ(body["features"][0]["deviation"].get<double>(), 41.5);
  EXPECT_EQ(body["change"], "raised");
  EXPECT_EQ(body["state"], "engaged");
  EXPECT_TRUE(body["evidence"].is_array());
}

TEST(WebhookSink, RejectsUrlsItCannotPostTo) {
  EXPECT_NE(error_of([] {
              WebhookSink sink(options_for("https://example.com/hook"));
            }).find("https is not supported"),
            std::string::npos);
  EXPECT_NE(error_of([] { WebhookSink sink(options_for("ftp://example.com/")); }).find("http://"),
            std::string::npos);
  EXPECT_NE(error_of([] { WebhookSink sink(options_for("http://host:99999/x")); }).find("99999"),
            std::string::npos);
  EXPECT_NE(error_of([] { WebhookSink sink(options_for("http:///x")); }), "(no error)");
}

TEST(WebhookSink, PostsTheAlertAsJsonToTheReceiver) {
  std::mutex mutex;
  std::vector<std::string> bodies;
  std::string content_type;
  std::string token;
  Receiver receiver([&](const httplib::Request& request, httplib::Response& response) {
    std::lock_guard lock(mutex);
    bodies.push_back(request.body);
    content_type = request.get_header_value("Content-Type");
    token = request.get_header_value("X-Token");
    response.status = 204;
  });
  WebhookOptions options = fast_options(receiver.url());
  options.headers = {{"X-Token", "secret"}};
  WebhookSink sink(options);
  sink.deliver(scan_alert());
  detect::Alert second = scan_alert();
  second.id = 8;
  sink.deliver(second);
  ASSERT_TRUE(sink.wait_idle(5s));
  std::lock_guard lock(mutex);
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(bodies[0])["id"], 7);
  EXPECT_EQ(nlohmann::json::parse(bodies[1])["id"], 8);
  EXPECT_EQ(nlohmann::json::parse(bodies[1])["kind"], "port_scan");
  EXPECT_EQ(content_type, "application/json");
  EXPECT_EQ(token, "secret");
  EXPECT_EQ(sink.stats().delivered, 2u);
  EXPECT_EQ(sink.stats().failed, 0u);
  EXPECT_EQ(sink.last_error(), "");
}

TEST(WebhookSink, RetriesAServerErrorTheBoundedNumberOfTimes) {
  Receiver receiver(
      [](const httplib::Request&, httplib::Response& response) { response.status = 500; });
  WebhookOptions options = fast_options(receiver.url());
  options.max_attempts = 3;
  WebhookSink sink(options);
  sink.deliver(scan_alert());
  ASSERT_TRUE(sink.wait_idle(5s));
  EXPECT_EQ(receiver.hits(), 3);
  EXPECT_EQ(sink.stats().retries, 2u);
  EXPECT_EQ(sink.stats().failed, 1u);
  EXPECT_EQ(sink.stats().delivered, 0u);
  EXPECT_NE(sink.last_error().find("HTTP 500"), std::string::npos) << sink.last_error();
}

TEST(WebhookSink, SucceedsWhenARetryIsAccepted) {
  std::atomic<int> calls{0};
  Receiver receiver([&](const httplib::Request&, httplib::Response& response) {
    response.status = calls.fetch_add(1) == 0 ? 503 : 200;
  });
  WebhookSink sink(fast_options(receiver.url()));
  sink.deliver(scan_alert());
  ASSERT_TRUE(sink.wait_idle(5s));
  EXPECT_EQ(receiver.hits(), 2);
  EXPECT_EQ(sink.stats().delivered, 1u);
  EXPECT_EQ(sink.stats().retries, 1u);
}

TEST(WebhookSink, DoesNotRetryAClientError) {
  Receiver receiver(
      [](const httplib::Request&, httplib::Response& response) { response.status = 400; });
  WebhookSink sink(fast_options(receiver.url()));
  sink.deliver(scan_alert());
  ASSERT_TRUE(sink.wait_idle(5s));
  EXPECT_EQ(receiver.hits(), 1);
  EXPECT_EQ(sink.stats().failed, 1u);
}

TEST(WebhookSink, ADeadReceiverIsCountedAsFailedAfterItsAttempts) {
  // A port that was just free: nothing listens on it.
  int port = 0;
  {
    httplib::Server probe;
    port = probe.bind_to_any_port("127.0.0.1");
  }
  WebhookOptions options = fast_options("http://127.0.0.1:" + std::to_string(port) + "/hook");
  options.max_attempts = 2;
  WebhookSink sink(options);
  sink.deliver(scan_alert());
  ASSERT_TRUE(sink.wait_idle(5s));
  EXPECT_EQ(sink.stats().failed, 1u);
  EXPECT_EQ(sink.stats().retries, 1u);
  EXPECT_NE(sink.last_error().find(std::to_string(port)), std::string::npos) << sink.last_error();
}

TEST(WebhookSink, ASlowReceiverNeverBlocksDeliver) {
  std::mutex mutex;
  std::condition_variable released_cv;
  bool released = false;
  Receiver receiver([&](const httplib::Request&, httplib::Response& response) {
    std::unique_lock lock(mutex);
    released_cv.wait_for(lock, 3s, [&] { return released; });
    response.status = 200;
  });
  WebhookOptions options = fast_options(receiver.url());
  options.queue_capacity = 4;
  options.max_attempts = 1;
  options.timeout = 200ms;
  {
    WebhookSink sink(options);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 100; ++i) sink.deliver(scan_alert());
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_LT(elapsed, 100ms);
    EXPECT_GE(sink.stats().dropped, 90u);
    EXPECT_EQ(sink.stats().queued + sink.stats().dropped, 100u);
    {
      std::lock_guard lock(mutex);
      released = true;
    }
    released_cv.notify_all();
  }
}

}  // namespace
}  // namespace netsentry::server
