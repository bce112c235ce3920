// Provides bus::Publisher, a sensor's sink to NATS JetStream: finished flows, alerts (new and
// updated), per-second traffic samples, connection events and the sensor's health, each on
// <prefix>.<sensor>.<topic> of one stream.
//
// publish_*() copy the message into a bounded queue and return at once: a full queue refuses and
// counts (live capture), or waits (a replay, lossless). An encoder thread turns queued items into
// schema messages (bus/message.h) with ids <sensor>-<run>-<seq> and appends them to the on-disk
// spool (bus/spool.h); a sender thread publishes the spool's head to JetStream in order, batches
// of asynchronous publishes that must all be acknowledged before the head moves. While the broker
// is unreachable the spool grows (up to its cap, oldest dropped and counted) and is sent when it
// returns; a resent message keeps its id, so JetStream's duplicate window drops a second copy.
//
// Thread rules: publish_*(), stats() from any thread; finish() once, from the owner, after the
// producers stopped.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "bus/message.h"
#include "bus/nats_client.h"
#include "bus/spool.h"
#include "core/bounded_queue.h"

namespace netsentry::bus {

struct PublisherOptions {
  ConnectionOptions connection;
  StreamOptions stream;
  std::string sensor;  // checked with check_sensor_name()
  Encoding encoding = Encoding::kProtobuf;
  std::filesystem::path spool_dir;  // required
  std::uint64_t spool_max_bytes = 1ULL << 30;
  std::size_t queue_capacity = 8192;  // items (a batch of flows is one item)
  bool lossless = false;              // wait for room instead of dropping (replays)
  std::size_t max_flows_per_message = 1000;
  std::size_t send_batch = 256;                 // messages per acknowledged batch
  std::uint64_t send_batch_bytes = 8ULL << 20;  // bytes per batch
  std::chrono::milliseconds ack_timeout{5000};
  std::chrono::milliseconds retry_wait{500};  // after a failed batch
  std::string version;                        // netsentry's, in every message's origin
};

struct PublisherStats {
  std::uint64_t queued = 0;         // items accepted
  std::uint64_t queue_dropped = 0;  // items refused by the full queue
  std::uint64_t queue_depth = 0;
  std::uint64_t queue_capacity = 0;
  std::uint64_t encoded = 0;         // messages made
  std::uint64_t published = 0;       // messages acknowledged by JetStream
  std::uint64_t failed_batches = 0;  // batches to resend (broker away, timeouts)
  std::uint64_t spool_errors = 0;    // messages lost because the spool could not be written
  SpoolStats spool;
  bool connected = false;
  std::string last_error;
};

class Publisher final {
 public:
  // Opens the spool (recovering what an earlier run left), starts connecting and the two threads.
  // Throws core::Error for a bad sensor name, spool folder or connection option.
  explicit Publisher(PublisherOptions options);
  ~Publisher();  // finish(0) if not called: what is not sent stays in the spool for next time
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Each returns false when the item was refused (queue full or finishing).
  bool publish_flows(std::vector<FlowMessage> flows);
  bool publish_alert(const detect::Alert& alert, bool update);
  bool publish_traffic(const host::TrafficSample& sample);
  bool publish_connections(ConnectionsMessage events);
  bool publish_health(HealthMessage health);

  // Waits up to `timeout` until everything queued so far is encoded and acknowledged by
  // JetStream; true when it was. Publishing goes on.
  bool flush(std::chrono::milliseconds timeout);
  // Encodes everything queued, then waits up to `timeout` for the spool to be delivered. Returns
  // true when nothing is left unsent. Stops both threads.
  bool finish(std::chrono::milliseconds timeout);

  [[nodiscard]] PublisherStats stats() const;
  [[nodiscard]] const std::string& sensor() const { return options_.sensor; }
  [[nodiscard]] std::uint64_t run() const { return run_; }

 private:
  using Item = Body;
  bool push(Item item);
  void encode_loop();
  void send_loop(std::stop_token stop);
  // Publishes one batch; true when JetStream acknowledged every message.
  bool send(const Spool::Batch& batch);
  void set_error(std::string message);

  PublisherOptions options_;
  std::uint64_t run_ = 0;
  std::uint64_t seq_ = 0;  // encoder thread
  std::string subject_base_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<NatsClient> client_;
  core::BoundedQueue<Item> queue_;
  std::atomic<bool> encoder_done_{false};
  std::atomic<std::uint64_t> encoded_{0};
  std::atomic<std::uint64_t> items_done_{0};  // queue items encoded (or lost) so far
  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> failed_batches_{0};
  std::atomic<std::uint64_t> spool_errors_{0};
  std::atomic<bool> stream_ready_{false};
  std::string stream_warning_;        // sender thread: the stream error last logged
  std::mutex wake_mutex_;             // guards nothing; pairs with wake_
  std::condition_variable_any wake_;  // the encoder appended, or finishing
  mutable std::mutex error_mutex_;    // guards last_error_
  std::string last_error_;
  bool finished_ = false;  // owner thread
  std::jthread encoder_;
  std::jthread sender_;
};

}  // namespace netsentry::bus
