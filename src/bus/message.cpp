#include "bus/message.h"

#include <google/protobuf/arena.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>

#include "bus/messages.pb.h"
#include "core/error.h"

namespace netsentry::bus {
namespace {

namespace pb = ::netsentry::bus::v1;

std::string address_text(const net::IpAddress& address) {
  return address.family == 0 ? std::string() : address.to_string();
}

net::IpAddress parse_address(const std::string& text) {
  net::IpAddress address;
  if (!text.empty() && !net::IpAddress::parse(text, address)) address = net::IpAddress{};
  return address;
}

std::int64_t to_ns(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_ns(std::int64_t ns) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(ns)));
}

std::uint16_t port(std::uint32_t value) {
  return static_cast<std::uint16_t>(std::min(value, 65535U));
}

flow::EndReason parse_end_reason(std::string_view name) {
  for (std::size_t i = 0; i < flow::kEndReasonCount; ++i) {
    const auto reason = static_cast<flow::EndReason>(i);
    if (flow::end_reason_name(reason) == name) return reason;
  }
  return flow::EndReason::kIdle;
}

void put_origin(const Origin& origin, pb::Origin& out) {
  out.set_sensor(origin.sensor);
  out.set_run(origin.run);
  out.set_seq(origin.seq);
  out.set_sent_ns(origin.sent_ns);
  out.set_version(origin.version);
}

Origin get_origin(const pb::Origin& in) {
  return Origin{in.sensor(), in.run(), in.seq(), in.sent_ns(), in.version()};
}

void put_flow(const FlowMessage& f, pb::Flow& out) {
  const store::FlowRow& r = f.row;
  out.set_id(r.id);
  out.set_start_ns(r.start_ns);
  out.set_end_ns(r.end_ns);
  out.set_src_ip(address_text(r.src_ip));
  out.set_dst_ip(address_text(r.dst_ip));
  out.set_src_port(r.src_port);
  out.set_dst_port(r.dst_port);
  out.set_ip_proto(r.ip_proto);
  out.set_vlan(f.vlan);
  out.set_end_reason(std::string(flow::end_reason_name(f.end_reason)));
  out.set_packets(r.packets);
  out.set_bytes(r.bytes);
  out.set_duration_s(r.duration_s);
  if (f.scored) out.set_score(r.score);
  out.set_verdict(r.verdict);
  out.set_votes(static_cast<std::uint32_t>(std::max(0, r.votes)));
  out.set_voters(static_cast<std::uint32_t>(std::max(0, r.voters)));
  out.set_source(f.source);
  if (f.fwd_packets) out.set_fwd_packets(*f.fwd_packets);
  if (f.bwd_packets) out.set_bwd_packets(*f.bwd_packets);
  // The interoperable columns: absent when unknown (an export carries none of them).
  if (!r.community_id.empty()) out.set_community_id(r.community_id);
  if (f.source == "capture" || r.orig_ip_bytes != 0 || r.resp_ip_bytes != 0) {
    out.set_orig_ip_bytes(r.orig_ip_bytes);
    out.set_resp_ip_bytes(r.resp_ip_bytes);
  }
  if (!r.conn_state.empty()) out.set_conn_state(r.conn_state);
  if (!r.history.empty()) out.set_history(r.history);
  if (!r.tunnel_parent.empty()) out.set_tunnel_parent(r.tunnel_parent);
}

FlowMessage get_flow(const pb::Flow& in) {
  FlowMessage f;
  store::FlowRow& r = f.row;
  r.id = in.id();
  r.start_ns = in.start_ns();
  r.end_ns = in.end_ns();
  r.src_ip = parse_address(in.src_ip());
  r.dst_ip = parse_address(in.dst_ip());
  r.src_port = port(in.src_port());
  r.dst_port = port(in.dst_port());
  r.ip_proto = static_cast<std::uint8_t>(std::min(in.ip_proto(), 255U));
  f.vlan = port(in.vlan());
  f.end_reason = parse_end_reason(in.end_reason());
  r.packets = in.packets();
  r.bytes = in.bytes();
  r.duration_s = in.duration_s();
  f.scored = in.has_score();
  r.score = in.has_score() ? in.score() : 0.0F;
  r.verdict = in.verdict();
  r.votes = static_cast<int>(std::min(in.votes(), 1000U));
  r.voters = static_cast<int>(std::min(in.voters(), 1000U));
  f.source = in.source();
  if (in.has_fwd_packets()) f.fwd_packets = in.fwd_packets();
  if (in.has_bwd_packets()) f.bwd_packets = in.bwd_packets();
  r.community_id = in.community_id();
  r.orig_ip_bytes = in.orig_ip_bytes();
  r.resp_ip_bytes = in.resp_ip_bytes();
  r.conn_state = in.conn_state();
  r.history = in.history();
  r.tunnel_parent = in.tunnel_parent();
  return f;
}

void put_alert(const AlertMessage& m, pb::Alert& out) {
  const detect::Alert& a = m.alert;
  out.set_id(a.id);
  out.set_update(m.update);
  out.set_time_ns(a.time_ns);
  out.set_last_ns(a.last_ns);
  out.set_severity(static_cast<pb::Severity>(static_cast<int>(a.severity) & 3));
  out.set_kind(a.kind);
  out.set_src_ip(address_text(a.src_ip));
  out.set_src_port(a.src_port);
  out.set_dst_ip(address_text(a.dst_ip));
  out.set_dst_port(a.dst_port);
  out.set_protocol(a.protocol);
  out.set_interface(a.interface);
  out.set_score(a.score);
  out.set_votes(static_cast<std::uint32_t>(std::max(0, a.votes)));
  out.set_voters(static_cast<std::uint32_t>(std::max(0, a.voters)));
  out.set_count(a.count);
  out.set_reason(a.reason);
  for (const detect::ModelVote& v : a.models) {
    pb::ModelVote* mv = out.add_models();
    mv->set_model(v.model);
    mv->set_score(v.score);
    mv->set_threshold(v.threshold);
    mv->set_vote(v.vote);
  }
  for (const detect::FeatureDeviation& e : a.features) {
    pb::Evidence* ev = out.add_evidence();
    ev->set_feature(e.feature);
    ev->set_value(e.value);
    ev->set_expected(e.expected);
    ev->set_deviation(e.deviation);
  }
  out.set_acknowledged(a.acknowledged);
}

AlertMessage get_alert(const pb::Alert& in) {
  AlertMessage m;
  detect::Alert& a = m.alert;
  a.id = in.id();
  m.update = in.update();
  a.time_ns = in.time_ns();
  a.last_ns = in.last_ns();
  a.severity = static_cast<detect::Severity>(std::clamp(static_cast<int>(in.severity()), 0, 3));
  a.kind = in.kind();
  a.src_ip = parse_address(in.src_ip());
  a.src_port = port(in.src_port());
  a.dst_ip = parse_address(in.dst_ip());
  a.dst_port = port(in.dst_port());
  a.protocol = in.protocol();
  a.interface = in.interface();
  a.score = in.score();
  a.votes = static_cast<int>(std::min(in.votes(), 1000U));
  a.voters = static_cast<int>(std::min(in.voters(), 1000U));
  a.count = in.count();
  a.reason = in.reason();
  for (const pb::ModelVote& v : in.models()) {
    a.models.push_back({v.model(), v.score(), v.threshold(), v.vote()});
  }
  for (const pb::Evidence& e : in.evidence()) {
    a.features.push_back({e.feature(), e.value(), e.expected(), e.deviation()});
  }
  a.acknowledged = in.acknowledged();
  return m;
}

void put_rates(const host::InterfaceRates& r, pb::InterfaceRates& out) {
  out.set_name(r.name);
  out.set_bytes_sent(r.bytes_sent);
  out.set_bytes_recv(r.bytes_recv);
  out.set_packets_sent(r.packets_sent);
  out.set_packets_recv(r.packets_recv);
}

host::InterfaceRates get_rates(const pb::InterfaceRates& in) {
  host::InterfaceRates r;
  r.name = in.name();
  r.bytes_sent = in.bytes_sent();
  r.bytes_recv = in.bytes_recv();
  r.packets_sent = in.packets_sent();
  r.packets_recv = in.packets_recv();
  return r;
}

void put_health(const HealthMessage& h, pb::Health& out) {
  out.set_time_ns(h.time_ns);
  out.set_uptime_s(h.uptime_s);
  out.set_mode(h.mode);
  out.set_input(h.input);
  out.set_packets(h.packets);
  out.set_packets_per_second(h.packets_per_second);
  out.set_kernel_drops(h.kernel_drops);
  out.set_queue_drops(h.queue_drops);
  out.set_decode_errors(h.decode_errors);
  out.set_flows(h.flows);
  out.set_alerts(h.alerts);
  out.set_model(h.model);
  for (const QueueState& q : h.queues) {
    pb::QueueStatus* s = out.add_queues();
    s->set_name(q.name);
    s->set_depth(q.depth);
    s->set_capacity(q.capacity);
    s->set_dropped(q.dropped);
  }
  out.set_published(h.published);
  out.set_publish_dropped(h.publish_dropped);
  out.set_spool_bytes(h.spool_bytes);
  out.set_spool_messages(h.spool_messages);
  out.set_spool_dropped(h.spool_dropped);
  out.set_connected(h.connected);
}

HealthMessage get_health(const pb::Health& in) {
  HealthMessage h;
  h.time_ns = in.time_ns();
  h.uptime_s = in.uptime_s();
  h.mode = in.mode();
  h.input = in.input();
  h.packets = in.packets();
  h.packets_per_second = in.packets_per_second();
  h.kernel_drops = in.kernel_drops();
  h.queue_drops = in.queue_drops();
  h.decode_errors = in.decode_errors();
  h.flows = in.flows();
  h.alerts = in.alerts();
  h.model = in.model();
  for (const pb::QueueStatus& q : in.queues()) {
    h.queues.push_back({q.name(), q.depth(), q.capacity(), q.dropped()});
  }
  h.published = in.published();
  h.publish_dropped = in.publish_dropped();
  h.spool_bytes = in.spool_bytes();
  h.spool_messages = in.spool_messages();
  h.spool_dropped = in.spool_dropped();
  h.connected = in.connected();
  return h;
}

std::string serialize(const google::protobuf::Message& m, Encoding encoding) {
  std::string out;
  if (encoding == Encoding::kJson) {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  } else {
    m.SerializeToString(&out);
  }
  return out;
}

void parse(google::protobuf::Message& m, std::string_view bytes, Encoding encoding) {
  if (encoding == Encoding::kJson) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    const auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(bytes.data(), bytes.size()), &m, options);
    if (!status.ok()) {
      throw core::Error("not a " + m.GetTypeName() + " in JSON: " + std::string(status.message()));
    }
    return;
  }
  if (bytes.size() > static_cast<std::size_t>(INT32_MAX) ||
      !m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    throw core::Error("not a " + m.GetTypeName() + " (" + std::to_string(bytes.size()) +
                      " bytes of Protocol Buffers)");
  }
}

}  // namespace

std::string_view topic_name(Topic topic) {
  switch (topic) {
    case Topic::kFlows:
      return "flows";
    case Topic::kAlerts:
      return "alerts";
    case Topic::kTraffic:
      return "traffic";
    case Topic::kConnections:
      return "connections";
    case Topic::kHealth:
      return "health";
  }
  return "unknown";
}

std::optional<Topic> parse_topic(std::string_view name) {
  for (std::size_t i = 0; i < kTopicCount; ++i) {
    if (topic_name(static_cast<Topic>(i)) == name) return static_cast<Topic>(i);
  }
  return std::nullopt;
}

std::string_view schema_name(Topic topic) {
  switch (topic) {
    case Topic::kFlows:
      return "netsentry.bus.v1.FlowBatch";
    case Topic::kAlerts:
      return "netsentry.bus.v1.Alert";
    case Topic::kTraffic:
      return "netsentry.bus.v1.TrafficSample";
    case Topic::kConnections:
      return "netsentry.bus.v1.ConnectionEvents";
    case Topic::kHealth:
      return "netsentry.bus.v1.Health";
  }
  return "";
}

std::string_view content_type(Encoding encoding) {
  return encoding == Encoding::kJson ? "application/json" : "application/x-protobuf";
}

Encoding encoding_of(std::string_view type) {
  return type.starts_with("application/json") ? Encoding::kJson : Encoding::kProtobuf;
}

std::string Origin::message_id() const {
  return sensor + '-' + std::to_string(run) + '-' + std::to_string(seq);
}

FlowMessage flow_message(const flow::FlowRecord& record, const store::FlowRow& row, bool scored,
                         std::string_view source) {
  FlowMessage f;
  f.row = row;
  f.scored = scored;
  f.end_reason = record.end_reason;
  f.vlan = record.vlan;
  f.source = source;
  // The capture's own flow meter counts both directions (CICFlowMeter's totals).
  if (source == "capture") {
    f.fwd_packets = static_cast<std::uint64_t>(record[flow::CicFeature::kTotalFwdPacket]);
    f.bwd_packets = static_cast<std::uint64_t>(record[flow::CicFeature::kTotalBwdPackets]);
  }
  return f;
}

ConnectionsMessage connections_message(std::int64_t time_ns,
                                       std::span<const host::ConnectionEvent> events) {
  ConnectionsMessage m;
  m.time_ns = time_ns;
  m.events.reserve(events.size());
  for (const host::ConnectionEvent& e : events) {
    const host::SocketEntry& s = e.connection.socket;
    store::ConnectionRow row;
    row.ts_ns = time_ns;
    row.event = std::string(host::event_name(e.kind));
    row.transport = s.transport == host::Transport::kTcp ? "TCP" : "UDP";
    row.local_ip = s.local.empty() ? std::string() : s.local.ip.to_string();
    row.local_port = s.local.port;
    row.remote_ip = s.remote.empty() ? std::string() : s.remote.ip.to_string();
    row.remote_port = s.remote.port;
    row.status = std::string(host::state_name(s.state));
    row.pid = e.connection.pid;
    row.process = e.connection.process;
    m.events.push_back(std::move(row));
  }
  return m;
}

std::string encode(const Message& message, Encoding encoding) {
  return std::visit(
      [&](const auto& body) -> std::string {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, std::vector<FlowMessage>>) {
          pb::FlowBatch batch;
          put_origin(message.origin, *batch.mutable_origin());
          batch.mutable_flows()->Reserve(static_cast<int>(body.size()));
          for (const FlowMessage& f : body) put_flow(f, *batch.add_flows());
          return serialize(batch, encoding);
        } else if constexpr (std::is_same_v<T, AlertMessage>) {
          pb::Alert alert;
          put_origin(message.origin, *alert.mutable_origin());
          put_alert(body, alert);
          return serialize(alert, encoding);
        } else if constexpr (std::is_same_v<T, host::TrafficSample>) {
          pb::TrafficSample sample;
          put_origin(message.origin, *sample.mutable_origin());
          sample.set_time_ns(to_ns(body.timestamp));
          sample.set_interval_s(body.interval_seconds);
          put_rates(body.total, *sample.mutable_total());
          for (const host::InterfaceRates& r : body.interfaces)
            put_rates(r, *sample.add_interfaces());
          return serialize(sample, encoding);
        } else if constexpr (std::is_same_v<T, ConnectionsMessage>) {
          pb::ConnectionEvents events;
          put_origin(message.origin, *events.mutable_origin());
          events.set_time_ns(body.time_ns);
          for (const store::ConnectionRow& row : body.events) {
            pb::ConnectionEvent* e = events.add_events();
            e->set_event(row.event);
            e->set_transport(row.transport);
            e->set_local_ip(row.local_ip);
            e->set_local_port(row.local_port);
            e->set_remote_ip(row.remote_ip);
            e->set_remote_port(row.remote_port);
            e->set_status(row.status);
            e->set_pid(row.pid);
            e->set_process(row.process);
          }
          return serialize(events, encoding);
        } else {
          pb::Health health;
          put_origin(message.origin, *health.mutable_origin());
          put_health(body, health);
          return serialize(health, encoding);
        }
      },
      message.body);
}

Message decode(Topic topic, std::string_view bytes, Encoding encoding) {
  Message message;
  switch (topic) {
    case Topic::kFlows: {
      // A batch holds a thousand flows of a few strings each: an arena makes their allocations
      // one bump each and frees them at once (the hub decodes hundreds of thousands a second).
      google::protobuf::Arena arena;
      auto& batch = *google::protobuf::Arena::CreateMessage<pb::FlowBatch>(&arena);
      parse(batch, bytes, encoding);
      message.origin = get_origin(batch.origin());
      std::vector<FlowMessage> flows;
      flows.reserve(static_cast<std::size_t>(batch.flows_size()));
      for (const pb::Flow& f : batch.flows()) flows.push_back(get_flow(f));
      message.body = std::move(flows);
      break;
    }
    case Topic::kAlerts: {
      pb::Alert alert;
      parse(alert, bytes, encoding);
      message.origin = get_origin(alert.origin());
      message.body = get_alert(alert);
      break;
    }
    case Topic::kTraffic: {
      pb::TrafficSample in;
      parse(in, bytes, encoding);
      message.origin = get_origin(in.origin());
      host::TrafficSample sample;
      sample.timestamp = from_ns(in.time_ns());
      sample.interval_seconds = in.interval_s();
      sample.total = get_rates(in.total());
      if (sample.total.name.empty()) sample.total.name = "total";
      for (const pb::InterfaceRates& r : in.interfaces()) sample.interfaces.push_back(get_rates(r));
      message.body = std::move(sample);
      break;
    }
    case Topic::kConnections: {
      pb::ConnectionEvents in;
      parse(in, bytes, encoding);
      message.origin = get_origin(in.origin());
      ConnectionsMessage m;
      m.time_ns = in.time_ns();
      for (const pb::ConnectionEvent& e : in.events()) {
        store::ConnectionRow row;
        row.ts_ns = m.time_ns;
        row.event = e.event();
        row.transport = e.transport();
        row.local_ip = e.local_ip();
        row.local_port = port(e.local_port());
        row.remote_ip = e.remote_ip();
        row.remote_port = port(e.remote_port());
        row.status = e.status();
        row.pid = e.pid();
        row.process = e.process();
        m.events.push_back(std::move(row));
      }
      message.body = std::move(m);
      break;
    }
    case Topic::kHealth: {
      pb::Health in;
      parse(in, bytes, encoding);
      message.origin = get_origin(in.origin());
      message.body = get_health(in);
      break;
    }
  }
  return message;
}

std::string health_json(const HealthMessage& health) {
  pb::Health h;
  put_health(health, h);
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(h, &out, options);
  return out;
}

}  // namespace netsentry::bus
