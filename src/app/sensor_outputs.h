// Provides app::SensorOutputs, what a sensor (`monitor`, `collect`) sends beyond its own files:
// the bus publisher (NATS JetStream) and the IPFIX exporter, fed from the engine's listeners and
// the host recorder. Each is optional; an object with neither does nothing.
// Thread rules: on_stored_flows() from the stage thread; on_alert() from the engine's delivering
// threads; on_traffic()/on_connections() from the host thread; on_health() from the stats thread;
// finish() once from the owner after all of them stopped. The publisher and exporter are
// thread-safe behind these.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "bus/message.h"
#include "detect/alert.h"
#include "flow/flow_record.h"
#include "host/connection_tracker.h"
#include "host/monitor.h"
#include "store/sqlite_store.h"

namespace netsentry::bus {
class Publisher;
}  // namespace netsentry::bus
namespace netsentry::netflow {
class IpfixExporter;
}  // namespace netsentry::netflow

namespace netsentry::app {

class SensorOutputs final {
 public:
  SensorOutputs(std::unique_ptr<bus::Publisher> publisher,
                std::unique_ptr<netflow::IpfixExporter> exporter, std::string flow_source);
  ~SensorOutputs();
  SensorOutputs(const SensorOutputs&) = delete;
  SensorOutputs& operator=(const SensorOutputs&) = delete;

  [[nodiscard]] bool active() const { return publisher_ || exporter_; }
  [[nodiscard]] bus::Publisher* publisher() const { return publisher_.get(); }

  void on_stored_flows(std::span<const flow::FlowRecord* const> records,
                       std::span<const store::FlowRow> rows);
  void on_alert(const detect::Alert& alert, bool update);
  void on_traffic(const host::TrafficSample& sample);
  void on_connections(std::chrono::system_clock::time_point time,
                      std::span<const host::ConnectionEvent> events);
  // Fills in the publisher's own counters and publishes.
  void on_health(bus::HealthMessage health);

  // Waits up to `timeout` until the broker has taken everything published so far (so a last
  // health message can say nothing is left).
  // False when it did not within the timeout.
  bool flush(std::chrono::milliseconds timeout);
  // Sends what is queued: the publisher waits up to `drain` for the broker to take its spool.
  void finish(std::chrono::milliseconds drain);
  // One line for the log: what was published, dropped, spooled; what was exported.
  [[nodiscard]] std::string summary() const;

 private:
  std::unique_ptr<bus::Publisher> publisher_;
  std::unique_ptr<netflow::IpfixExporter> exporter_;
  std::string flow_source_;  // "capture", "ipfix", ...
};

}  // namespace netsentry::app
