// Provides the bus's messages as C++ values (bus::Message: an Origin and one body per subject) and
// their wire forms: encode() and decode() to and from src/bus/messages.proto (Protocol Buffers,
// or its canonical JSON mapping for debugging). This file and message.cpp are the only places
// that map netsentry's types (flow records, alerts, traffic samples, connection events, health)
// to the schema, so a change of those types is followed here and nowhere else.
// Thread rules: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "detect/alert.h"
#include "flow/flow_record.h"
#include "host/monitor.h"
#include "store/sqlite_store.h"

namespace netsentry::bus {

// The last token of a subject: <prefix>.<sensor>.<topic>.
enum class Topic : std::uint8_t { kFlows, kAlerts, kTraffic, kConnections, kHealth };
inline constexpr std::size_t kTopicCount = 5;
[[nodiscard]] std::string_view topic_name(Topic topic);  // "flows", "alerts", ...
[[nodiscard]] std::optional<Topic> parse_topic(std::string_view name);
// The schema's type name for a topic ("netsentry.bus.v1.FlowBatch"): the Netsentry-Schema header.
[[nodiscard]] std::string_view schema_name(Topic topic);

enum class Encoding : std::uint8_t { kProtobuf, kJson };
[[nodiscard]] std::string_view content_type(Encoding encoding);
// "application/json" is JSON; anything else (or nothing) is Protocol Buffers.
[[nodiscard]] Encoding encoding_of(std::string_view content_type);

inline constexpr int kSchemaVersion = 1;

struct Origin {
  std::string sensor;
  std::uint64_t run = 0;
  std::uint64_t seq = 0;
  std::int64_t sent_ns = 0;
  std::string version;

  // "<sensor>-<run>-<seq>": the Nats-Msg-Id header and the hub's de-duplication key.
  [[nodiscard]] std::string message_id() const;
};

// One finished flow as published.
struct FlowMessage {
  store::FlowRow row;   // id = the sensor store's id (0 = none); score/verdict/votes as stored
  bool scored = false;  // row.score is meaningful
  flow::EndReason end_reason = flow::EndReason::kIdle;
  std::uint16_t vlan = 0;
  std::string source = "capture";  // "capture", "ipfix", "netflow9", "netflow5"
  std::optional<std::uint64_t> fwd_packets;
  std::optional<std::uint64_t> bwd_packets;
};

// The published form of a finished flow record and its stored row (the one mapping).
[[nodiscard]] FlowMessage flow_message(const flow::FlowRecord& record, const store::FlowRow& row,
                                       bool scored, std::string_view source = "capture");

struct AlertMessage {
  detect::Alert alert;  // alert.id = the sensor store's id
  bool update = false;
};

struct ConnectionsMessage {
  std::int64_t time_ns = 0;
  std::vector<store::ConnectionRow> events;  // ts_ns and rowid unused
};
// The published form of connection events (the one mapping).
[[nodiscard]] ConnectionsMessage connections_message(std::int64_t time_ns,
                                                     std::span<const host::ConnectionEvent> events);

struct QueueState {
  std::string name;
  std::uint64_t depth = 0;
  std::uint64_t capacity = 0;
  std::uint64_t dropped = 0;
};

struct HealthMessage {
  std::int64_t time_ns = 0;
  double uptime_s = 0;
  std::string mode;   // "capture", "replay", "collect", "counters"
  std::string input;  // interface, capture file or listen address
  std::uint64_t packets = 0;
  double packets_per_second = 0;
  std::uint64_t kernel_drops = 0;
  std::uint64_t queue_drops = 0;
  std::uint64_t decode_errors = 0;
  std::uint64_t flows = 0;
  std::uint64_t alerts = 0;
  std::string model;
  std::vector<QueueState> queues;
  std::uint64_t published = 0;
  std::uint64_t publish_dropped = 0;
  std::uint64_t spool_bytes = 0;
  std::uint64_t spool_messages = 0;
  std::uint64_t spool_dropped = 0;
  bool connected = false;
};

using Body = std::variant<std::vector<FlowMessage>, AlertMessage, host::TrafficSample,
                          ConnectionsMessage, HealthMessage>;

struct Message {
  Origin origin;
  Body body;

  [[nodiscard]] Topic topic() const { return static_cast<Topic>(body.index()); }
};

// The message in the schema's wire form.
[[nodiscard]] std::string encode(const Message& message, Encoding encoding);
// Parses a message of `topic`. Throws core::Error saying what is wrong (not this schema, bad JSON,
// truncated bytes).
[[nodiscard]] Message decode(Topic topic, std::string_view bytes, Encoding encoding);
// The health body as a JSON object text (what the hub stores per sensor).
[[nodiscard]] std::string health_json(const HealthMessage& health);

}  // namespace netsentry::bus
