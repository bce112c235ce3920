#include "bus/publisher.h"

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <condition_variable>

#include "core/error.h"

namespace netsentry::bus {
namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Publisher::Publisher(PublisherOptions options)
    : options_(std::move(options)), queue_(options_.queue_capacity) {
  check_sensor_name(options_.sensor);
  if (options_.spool_dir.empty()) throw core::Error("bus: the publisher needs a spool folder");
  options_.max_flows_per_message = std::max<std::size_t>(options_.max_flows_per_message, 1);
  options_.send_batch = std::max<std::size_t>(options_.send_batch, 1);
  run_ = static_cast<std::uint64_t>(now_ns());
  subject_base_ = options_.stream.subject_prefix + "." + options_.sensor + ".";
  SpoolOptions so;
  so.dir = options_.spool_dir;
  so.max_bytes = options_.spool_max_bytes;
  spool_ = std::make_unique<Spool>(so);
  if (const SpoolStats s = spool_->stats(); s.messages > 0 || s.damaged_bytes > 0) {
    spdlog::info(
        "bus: {} messages ({} bytes) left in the spool {} by an earlier run will be sent "
        "first{}",
        s.messages, s.bytes, options_.spool_dir.string(),
        s.damaged_bytes ? fmt::format("; {} damaged bytes cut off", s.damaged_bytes) : "");
  }
  if (options_.connection.name.empty()) options_.connection.name = "netsentry " + options_.sensor;
  client_ = std::make_unique<NatsClient>(options_.connection);
  encoder_ = std::jthread([this] { encode_loop(); });
  sender_ = std::jthread([this](std::stop_token stop) { send_loop(std::move(stop)); });
}

Publisher::~Publisher() {
  if (!finished_) (void)finish(std::chrono::milliseconds(0));
}

bool Publisher::push(Item item) {
  if (options_.lossless) return queue_.push(std::move(item));
  return queue_.try_push(std::move(item));
}

bool Publisher::publish_flows(std::vector<FlowMessage> flows) {
  if (flows.empty()) return true;
  return push(std::move(flows));
}

bool Publisher::publish_alert(const detect::Alert& alert, bool update) {
  return push(AlertMessage{alert, update});
}

bool Publisher::publish_traffic(const host::TrafficSample& sample) { return push(sample); }

bool Publisher::publish_connections(ConnectionsMessage events) {
  if (events.events.empty()) return true;
  return push(std::move(events));
}

bool Publisher::publish_health(HealthMessage health) {
  // Health goes out live only: it is refused rather than waited for, even in a replay.
  return queue_.try_push(std::move(health));
}

void Publisher::encode_loop() {
  std::vector<Item> items;
  std::vector<SpoolRecord> records;
  Message message;
  for (;;) {
    items.clear();
    std::optional<Item> first = queue_.pop();
    if (!first) break;  // closed and drained
    items.push_back(std::move(*first));
    queue_.drain(items, 255);
    records.clear();
    for (Item& item : items) {
      const auto add = [&](Body body) {
        message.origin.sensor = options_.sensor;
        message.origin.run = run_;
        message.origin.seq = ++seq_;
        message.origin.sent_ns = now_ns();
        message.origin.version = options_.version;
        message.body = std::move(body);
        SpoolRecord r;
        r.subject = subject_base_ + std::string(topic_name(message.topic()));
        r.id = message.origin.message_id();
        r.encoding = static_cast<std::uint8_t>(options_.encoding);
        r.payload = encode(message, options_.encoding);
        records.push_back(std::move(r));
      };
      if (auto* flows = std::get_if<std::vector<FlowMessage>>(&item)) {
        // Large batches are split so a message stays well under NATS' 1 MB payload limit.
        const std::size_t n = options_.max_flows_per_message;
        for (std::size_t at = 0; at < flows->size(); at += n) {
          const std::size_t end = std::min(flows->size(), at + n);
          std::vector<FlowMessage> part(std::make_move_iterator(flows->begin() + at),
                                        std::make_move_iterator(flows->begin() + end));
          add(std::move(part));
        }
      } else {
        add(std::move(item));
      }
    }
    try {
      spool_->append(records);
      encoded_.fetch_add(records.size());
    } catch (const core::Error& e) {
      spool_errors_.fetch_add(records.size());
      set_error(e.what());
      spdlog::error("bus: {} messages lost: {}", records.size(), e.what());
    }
    items_done_.fetch_add(items.size());
    wake_.notify_all();
  }
  encoder_done_.store(true);
  wake_.notify_all();
}

void Publisher::set_error(std::string message) {
  std::lock_guard lock(error_mutex_);
  last_error_ = std::move(message);
}

bool Publisher::send(const Spool::Batch& batch) {
  jsCtx* js = client_->js();
  const std::uint64_t errors_before = client_->publish_errors();
  jsPubOptions po;
  jsPubOptions_Init(&po);
  for (const SpoolRecord& r : batch.records) {
    natsMsg* msg = nullptr;
    if (natsMsg_Create(&msg, r.subject.c_str(), nullptr, r.payload.data(),
                       static_cast<int>(r.payload.size())) != NATS_OK) {
      set_error("cannot create a NATS message");
      return false;
    }
    natsMsgHeader_Set(msg, "Netsentry-Schema",
                      std::string(schema_name(parse_topic(r.subject.substr(subject_base_.size()))
                                                  .value_or(Topic::kHealth)))
                          .c_str());
    natsMsgHeader_Set(msg, "Content-Type",
                      std::string(content_type(static_cast<Encoding>(r.encoding))).c_str());
    po.MsgId = r.id.c_str();
    // The error handler is per context; this batch's counter is what it reports into.
    const natsStatus s = js_PublishMsgAsync(js, &msg, &po);
    natsMsg_Destroy(msg);  // no-op when the library took it
    if (s != NATS_OK) {
      set_error("publish: " + nats_error(s));
      natsMsgList pending;
      if (js_PublishAsyncGetPendingList(&pending, js) == NATS_OK) natsMsgList_Destroy(&pending);
      return false;
    }
  }
  jsPubOptions wait;
  jsPubOptions_Init(&wait);
  wait.MaxWait = options_.ack_timeout.count();
  const natsStatus s = js_PublishAsyncComplete(js, &wait);
  if (s != NATS_OK) {
    set_error("waiting for JetStream acknowledgements: " + nats_error(s));
    natsMsgList pending;
    if (js_PublishAsyncGetPendingList(&pending, js) == NATS_OK) natsMsgList_Destroy(&pending);
    return false;
  }
  if (client_->publish_errors() != errors_before) {
    set_error("JetStream refused a message: " + client_->last_publish_error());
    return false;
  }
  return true;
}

void Publisher::send_loop(std::stop_token stop) {
  bool was_connected = false;
  for (;;) {
    const bool draining = encoder_done_.load();
    if (stop.stop_requested()) break;
    if (spool_->empty()) {
      if (draining) break;
      std::unique_lock lock(wake_mutex_);
      wake_.wait_for(lock, stop, std::chrono::milliseconds(50),
                     [this] { return !spool_->empty() || encoder_done_.load(); });
      continue;
    }
    if (!client_->connected()) {
      if (was_connected) stream_ready_.store(false);
      was_connected = false;
      std::unique_lock lock(wake_mutex_);
      wake_.wait_for(lock, stop, options_.retry_wait, [] { return false; });
      continue;
    }
    if (!was_connected) {
      const SpoolStats waiting = spool_->stats();
      spdlog::info("bus: connected to {}; sending {} spooled messages ({} bytes) in order",
                   client_->url(), waiting.messages, waiting.bytes);
    }
    was_connected = true;
    if (!stream_ready_.load()) {
      try {
        client_->ensure_stream(options_.stream);
        stream_ready_.store(true);
        stream_warning_.clear();
      } catch (const core::Error& e) {
        // Once per streak of the same error, not at every retry.
        if (e.what() != stream_warning_) spdlog::warn("bus: {} (retrying)", e.what());
        stream_warning_ = e.what();
        set_error(e.what());
        std::unique_lock lock(wake_mutex_);
        wake_.wait_for(lock, stop, options_.retry_wait, [] { return false; });
        continue;
      }
    }
    Spool::Batch batch;
    try {
      batch = spool_->peek(options_.send_batch, options_.send_batch_bytes);
    } catch (const core::Error& e) {
      set_error(e.what());
      spdlog::error("bus: {}", e.what());
      std::unique_lock lock(wake_mutex_);
      wake_.wait_for(lock, stop, options_.retry_wait, [] { return false; });
      continue;
    }
    if (batch.records.empty()) continue;
    if (send(batch)) {
      try {
        spool_->commit(batch);
      } catch (const core::Error& e) {
        set_error(e.what());
      }
      published_.fetch_add(batch.records.size());
    } else {
      failed_batches_.fetch_add(1);
      stream_ready_.store(false);  // a deleted stream is re-created on the next try
      std::unique_lock lock(wake_mutex_);
      wake_.wait_for(lock, stop, options_.retry_wait, [] { return false; });
    }
  }
}

bool Publisher::flush(std::chrono::milliseconds timeout) {
  const std::uint64_t target = queue_.pushed();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (items_done_.load() < target || !spool_->empty()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

bool Publisher::finish(std::chrono::milliseconds timeout) {
  if (finished_) return spool_->empty();
  finished_ = true;
  queue_.close();
  if (encoder_.joinable()) encoder_.join();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!spool_->empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  sender_.request_stop();
  wake_.notify_all();
  if (sender_.joinable()) sender_.join();
  const SpoolStats s = spool_->stats();
  if (s.messages > 0) {
    spdlog::warn("bus: {} messages ({} bytes) not yet delivered stay in {} and go first next time",
                 s.messages, s.bytes, options_.spool_dir.string());
  }
  return s.messages == 0;
}

PublisherStats Publisher::stats() const {
  PublisherStats s;
  s.queued = queue_.pushed();
  s.queue_dropped = queue_.dropped();
  s.queue_depth = queue_.size();
  s.queue_capacity = queue_.capacity();
  s.encoded = encoded_.load();
  s.published = published_.load();
  s.failed_batches = failed_batches_.load();
  s.spool_errors = spool_errors_.load();
  s.spool = spool_->stats();
  s.connected = client_->connected();
  std::lock_guard lock(error_mutex_);
  s.last_error = last_error_;
  return s;
}

}  // namespace netsentry::bus
