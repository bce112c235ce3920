#include "bus/consumer.h"

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <thread>

#include "core/error.h"

namespace netsentry::bus {
namespace {

std::string header(natsMsg* msg, const char* key) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, key, &value) == NATS_OK && value != nullptr) return value;
  return {};
}

std::int64_t nanos(std::chrono::milliseconds ms) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(ms).count();
}

}  // namespace

Consumer::Consumer(ConsumerOptions options) : options_(std::move(options)) {
  if (options_.durable.empty()) throw core::Error("hub: --durable must not be empty");
  check_sensor_name(options_.durable);  // a consumer name has the same rules as a subject token
  prefix_ = options_.stream.subject_prefix + ".";
  if (options_.connection.name.empty())
    options_.connection.name = "netsentry hub " + options_.durable;
  client_ = std::make_unique<NatsClient>(options_.connection);
}

Consumer::~Consumer() { natsSubscription_Destroy(sub_); }

void Consumer::set_error(std::string message) {
  std::lock_guard lock(error_mutex_);
  if (message != last_error_) spdlog::warn("hub: {}", message);
  last_error_ = std::move(message);
}

bool Consumer::subscribe() {
  if (sub_ != nullptr) return true;
  if (!client_->connected()) return false;
  try {
    client_->ensure_stream(options_.stream);
  } catch (const core::Error& e) {
    set_error(e.what());
    return false;
  }
  jsCtx* js = client_->js();
  const std::string& stream = options_.stream.name;
  const std::string subject = prefix_ + ">";
  jsConsumerConfig cfg;
  jsConsumerConfig_Init(&cfg);
  cfg.Durable = options_.durable.c_str();
  cfg.DeliverPolicy = js_DeliverAll;
  cfg.AckPolicy = js_AckExplicit;
  cfg.AckWait = nanos(options_.ack_wait);
  cfg.MaxAckPending = static_cast<int64_t>(options_.max_ack_pending);
  cfg.FilterSubject = subject.c_str();
  cfg.Description = "netsentry hub";
  jsConsumerInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s =
      js_GetConsumerInfo(&info, js, stream.c_str(), options_.durable.c_str(), nullptr, &code);
  if (s == NATS_OK) {
    // An existing consumer keeps its position; its redelivery settings follow ours.
    const bool differs =
        info->Config->AckWait != cfg.AckWait || info->Config->MaxAckPending != cfg.MaxAckPending;
    jsConsumerInfo_Destroy(info);
    info = nullptr;
    if (differs) s = js_UpdateConsumer(&info, js, stream.c_str(), &cfg, nullptr, &code);
  } else {
    s = js_AddConsumer(&info, js, stream.c_str(), &cfg, nullptr, &code);
    if (s == NATS_OK) {
      spdlog::info("hub: created durable consumer {} on stream {}", options_.durable, stream);
    }
  }
  jsConsumerInfo_Destroy(info);
  if (s != NATS_OK) {
    set_error("durable consumer " + options_.durable + " on " + stream + ": " + nats_error(s));
    return false;
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Consumer = options_.durable.c_str();
  s = js_PullSubscribe(&sub_, js, subject.c_str(), options_.durable.c_str(), nullptr, &so, &code);
  if (s != NATS_OK) {
    sub_ = nullptr;
    set_error("binding to consumer " + options_.durable + ": " + nats_error(s));
    return false;
  }
  spdlog::info("hub: reading stream {} through durable consumer {}", stream, options_.durable);
  return true;
}

std::vector<Consumer::Delivery> Consumer::fetch(std::stop_token stop) {
  std::vector<Delivery> out;
  if (!subscribe()) {
    // Not connected yet (or the stream is not there): wait a little, the caller loops.
    for (int i = 0; i < 10 && !stop.stop_requested(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return out;
  }
  natsMsgList list{nullptr, 0};
  const natsStatus s = natsSubscription_Fetch(&list, sub_, static_cast<int>(options_.fetch_batch),
                                              options_.fetch_wait.count(), nullptr);
  if (s != NATS_OK && s != NATS_TIMEOUT) {
    set_error("fetch: " + nats_error(s));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  out.reserve(static_cast<std::size_t>(list.Count));
  for (int i = 0; i < list.Count; ++i) {
    natsMsg* msg = list.Msgs[i];
    list.Msgs[i] = nullptr;  // ours now
    Delivery d;
    d.handle = {msg, natsMsg_Destroy};
    received_.fetch_add(1);
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      if (meta->NumDelivered > 1) redelivered_.fetch_add(1);
      jsMsgMetaData_Destroy(meta);
    }
    const std::string subject = natsMsg_GetSubject(msg);
    const std::size_t dot = subject.rfind('.');
    const auto topic = dot == std::string::npos
                           ? std::nullopt
                           : parse_topic(std::string_view(subject).substr(dot + 1));
    d.id = header(msg, "Nats-Msg-Id");
    try {
      if (!topic || !subject.starts_with(prefix_)) {
        throw core::Error("subject " + subject + " is not <prefix>.<sensor>.<topic>");
      }
      const auto* data = natsMsg_GetData(msg);
      d.message = decode(*topic,
                         std::string_view(data != nullptr ? data : "",
                                          static_cast<std::size_t>(natsMsg_GetDataLength(msg))),
                         encoding_of(header(msg, "Content-Type")));
      if (d.message.origin.sensor.empty()) {
        // The subject names the sensor too.
        const std::size_t start = prefix_.size();
        d.message.origin.sensor = subject.substr(start, dot - start);
      }
      if (d.id.empty()) d.id = d.message.origin.message_id();
      out.push_back(std::move(d));
    } catch (const core::Error& e) {
      bad_.fetch_add(1);
      set_error(subject + ": " + e.what());
      natsMsg_Term(msg, nullptr);  // never deliver it again
    }
  }
  natsMsgList_Destroy(&list);
  return out;
}

void Consumer::ack(std::vector<Delivery>& deliveries) {
  for (Delivery& d : deliveries) {
    if (!d.handle) continue;
    if (natsMsg_Ack(d.handle.get(), nullptr) == NATS_OK) acked_.fetch_add(1);
    d.handle.reset();
  }
}

ConsumerStats Consumer::stats() const {
  ConsumerStats s;
  s.received = received_.load();
  s.redelivered = redelivered_.load();
  s.bad = bad_.load();
  s.acked = acked_.load();
  s.connected = client_->connected();
  std::lock_guard lock(error_mutex_);
  s.last_error = last_error_;
  return s;
}

}  // namespace netsentry::bus
