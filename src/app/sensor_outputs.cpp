#include "app/sensor_outputs.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bus/publisher.h"
#include "netflow/ipfix_exporter.h"

namespace netsentry::app {

SensorOutputs::SensorOutputs(std::unique_ptr<bus::Publisher> publisher,
                             std::unique_ptr<netflow::IpfixExporter> exporter,
                             std::string flow_source)
    : publisher_(std::move(publisher)),
      exporter_(std::move(exporter)),
      flow_source_(std::move(flow_source)) {}

SensorOutputs::~SensorOutputs() = default;

void SensorOutputs::on_stored_flows(std::span<const flow::FlowRecord* const> records,
                                    std::span<const store::FlowRow> rows) {
  if (publisher_) {
    std::vector<bus::FlowMessage> flows;
    flows.reserve(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      flows.push_back(
          bus::flow_message(*records[i], rows[i], rows[i].verdict != "unscored", flow_source_));
    }
    (void)publisher_->publish_flows(std::move(flows));  // a full queue counts the drop
  }
  if (exporter_) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      netflow::ExportExtras extras;
      if (rows[i].verdict != "unscored") extras.score = rows[i].score;
      extras.anomalous = rows[i].verdict == "anomaly";
      extras.votes = static_cast<std::uint8_t>(std::clamp(rows[i].votes, 0, 255));
      extras.voters = static_cast<std::uint8_t>(std::clamp(rows[i].voters, 0, 255));
      exporter_->add(*records[i], extras);
    }
    exporter_->flush();
  }
}

void SensorOutputs::on_alert(const detect::Alert& alert, bool update) {
  if (publisher_) (void)publisher_->publish_alert(alert, update);
}

void SensorOutputs::on_traffic(const host::TrafficSample& sample) {
  if (publisher_) (void)publisher_->publish_traffic(sample);
}

void SensorOutputs::on_connections(std::chrono::system_clock::time_point time,
                                   std::span<const host::ConnectionEvent> events) {
  if (!publisher_ || events.empty()) return;
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
  (void)publisher_->publish_connections(bus::connections_message(ns, events));
}

void SensorOutputs::on_health(bus::HealthMessage health) {
  if (!publisher_) return;
  const bus::PublisherStats s = publisher_->stats();
  health.published = s.published;
  health.publish_dropped = s.queue_dropped + s.spool_errors;
  health.spool_bytes = s.spool.bytes;
  health.spool_messages = s.spool.messages;
  health.spool_dropped = s.spool.dropped;
  health.connected = s.connected;
  health.queues.push_back({"bus publisher", s.queue_depth, s.queue_capacity, s.queue_dropped});
  (void)publisher_->publish_health(std::move(health));
}

bool SensorOutputs::flush(std::chrono::milliseconds timeout) {
  return !publisher_ || publisher_->flush(timeout);
}

void SensorOutputs::finish(std::chrono::milliseconds drain) {
  if (exporter_) exporter_->flush();
  if (publisher_) (void)publisher_->finish(drain);
}

std::string SensorOutputs::summary() const {
  std::string text;
  if (publisher_) {
    const bus::PublisherStats s = publisher_->stats();
    text += fmt::format(
        "bus: sensor {} published {} messages ({} made), {} refused by the full queue, {} "
        "failed batches resent, {} left in the spool ({} bytes), {} dropped from the spool",
        publisher_->sensor(), s.published, s.encoded, s.queue_dropped, s.failed_batches,
        s.spool.messages, s.spool.bytes, s.spool.dropped);
  }
  if (exporter_) {
    const netflow::ExporterStats e = exporter_->stats();
    if (!text.empty()) text += "; ";
    text += fmt::format("ipfix: {} flow records exported to {} in {} messages, {} errors",
                        e.records, exporter_->destination(), e.messages, e.errors);
  }
  return text;
}

}  // namespace netsentry::app
