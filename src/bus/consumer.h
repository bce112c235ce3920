// Provides bus::Consumer, a durable JetStream pull consumer of the sensors' stream: a named
// consumer kept by the server, so a hub that stops (or is killed) resumes where its last
// acknowledgement left off, and messages delivered but not acknowledged are delivered again after
// ack_wait. Several hubs read the same stream through consumers of their own names.
// fetch() returns decoded messages in stream order; the caller acknowledges them with ack() once
// what they carry is committed. A message that is not netsentry's schema is counted, terminated
// (never redelivered) and skipped.
// Thread rules: one thread calls fetch()/ack(); stats() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "bus/message.h"
#include "bus/nats_client.h"

struct __natsMsg;
struct __natsSubscription;

namespace netsentry::bus {

struct ConsumerOptions {
  ConnectionOptions connection;
  StreamOptions stream;  // the stream is created (with these limits) when missing
  std::string durable = "netsentry-hub";
  std::size_t fetch_batch = 1024;
  std::chrono::milliseconds fetch_wait{200};
  std::chrono::milliseconds ack_wait{30000};  // redelivery of what was not acknowledged
  std::size_t max_ack_pending = 20000;
};

struct ConsumerStats {
  std::uint64_t received = 0;
  std::uint64_t redelivered = 0;  // deliveries after the first
  std::uint64_t bad = 0;          // not netsentry's schema (terminated)
  std::uint64_t acked = 0;
  bool connected = false;
  std::string last_error;
};

class Consumer final {
 public:
  struct Delivery {
    Message message;
    std::string id;  // Nats-Msg-Id
    std::unique_ptr<__natsMsg, void (*)(__natsMsg*)> handle{nullptr, nullptr};
  };

  // Connects (in the background when no server answers yet). Throws core::Error for unusable
  // options.
  explicit Consumer(ConsumerOptions options);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Up to fetch_batch messages, waiting up to fetch_wait (longer while the server is away or the
  // consumer is being set up); empty when none came or stop was requested.
  [[nodiscard]] std::vector<Delivery> fetch(std::stop_token stop);
  // Acknowledges deliveries (their content is committed).
  void ack(std::vector<Delivery>& deliveries);

  [[nodiscard]] ConsumerStats stats() const;
  [[nodiscard]] const ConsumerOptions& options() const { return options_; }

 private:
  bool subscribe();  // true once the durable consumer is bound
  void set_error(std::string message);

  ConsumerOptions options_;
  std::unique_ptr<NatsClient> client_;
  __natsSubscription* sub_ = nullptr;
  std::string prefix_;  // "<subject_prefix>."
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> redelivered_{0};
  std::atomic<std::uint64_t> bad_{0};
  std::atomic<std::uint64_t> acked_{0};
  mutable std::mutex error_mutex_;  // guards last_error_
  std::string last_error_;
};

}  // namespace netsentry::bus
