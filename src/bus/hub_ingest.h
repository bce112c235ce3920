// Provides bus::HubIngest, the body of `netsentry hub`: it reads the sensors' stream through a
// durable consumer and writes what the messages carry into the hub's SQLite store (the sensor's
// schema plus a sensor column): flows, alerts (new and newer states, upserted by the sensor's id),
// traffic samples, connection events and each sensor's latest health. Cross-sensor alerts from
// bus::SensorCorrelator are written beside them.
//
// Exactly once into the store: a batch is committed (flush) before it is acknowledged, and every
// message id applied is remembered in the same transaction, so a batch delivered again after a
// crash (or a sensor's resend past JetStream's duplicate window) changes nothing.
// Thread rules: run() on one thread until its stop token fires; stats() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <string>
#include <unordered_set>

#include "bus/consumer.h"
#include "bus/correlator.h"
#include "store/sqlite_store.h"

namespace netsentry::bus {

struct HubIngestOptions {
  ConsumerOptions consumer;
  CorrelatorOptions correlation;
  bool correlate = true;
};

struct HubIngestStats {
  std::uint64_t messages = 0;    // applied
  std::uint64_t duplicates = 0;  // already applied before (redeliveries, resends)
  std::uint64_t flows = 0;
  std::uint64_t alerts = 0;               // sensor alert messages (new and updates)
  std::uint64_t cross_sensor_alerts = 0;  // hub alert states written
  std::uint64_t batches = 0;
  ConsumerStats consumer;
};

class HubIngest final {
 public:
  // The store must outlive this object.
  HubIngest(HubIngestOptions options, store::SqliteStore& store);

  void run(std::stop_token stop);
  [[nodiscard]] HubIngestStats stats() const;
  // The name the hub's own alerts carry as their sensor ("hub:<durable>").
  [[nodiscard]] const std::string& hub_sensor() const { return hub_sensor_; }

 private:
  void apply(std::vector<Consumer::Delivery>& batch);

  HubIngestOptions options_;
  store::SqliteStore& store_;
  Consumer consumer_;
  SensorCorrelator correlator_;
  std::string hub_sensor_;
  std::uint64_t run_ = 0;
  std::uint64_t seq_ = 0;
  std::unordered_set<std::string> committing_ids_;  // ingest thread: the batch being committed
  mutable std::mutex stats_mutex_;                  // guards stats_
  HubIngestStats stats_;
};

}  // namespace netsentry::bus
