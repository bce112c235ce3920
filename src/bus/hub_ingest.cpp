#include "bus/hub_ingest.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <unordered_set>

namespace netsentry::bus {
namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

HubIngest::HubIngest(HubIngestOptions options, store::SqliteStore& store)
    : options_(std::move(options)),
      store_(store),
      consumer_(options_.consumer),
      correlator_([&] {
        CorrelatorOptions c = options_.correlation;
        // Unique across hub runs without reading the store: the run's start second, then a count.
        c.first_id = static_cast<std::int64_t>(now_ns() / 1'000'000'000) * 1'000'000;
        return c;
      }()),
      hub_sensor_("hub:" + options_.consumer.durable),
      run_(static_cast<std::uint64_t>(now_ns())) {}

void HubIngest::run(std::stop_token stop) {
  // Two batches in flight: while one commits, the next is fetched and decoded. A batch is
  // acknowledged only once its commit is done, so a crash at any point means a redelivery, which
  // the applied-message ids turn into nothing.
  std::vector<Consumer::Delivery> committing;
  std::future<void> committed;
  const auto acknowledge = [&] {
    if (!committed.valid()) return;
    committed.wait();
    consumer_.ack(committing);
    committing.clear();
    committing_ids_.clear();
  };
  while (!stop.stop_requested()) {
    std::vector<Consumer::Delivery> batch = consumer_.fetch(stop);
    if (!batch.empty()) apply(batch);
    acknowledge();
    if (batch.empty()) continue;
    committed = store_.flush_async();
    for (const auto& d : batch) committing_ids_.insert(d.id);
    committing = std::move(batch);
    std::lock_guard lock(stats_mutex_);
    ++stats_.batches;
  }
  acknowledge();
}

void HubIngest::apply(std::vector<Consumer::Delivery>& batch) {
  std::vector<std::string> ids;
  ids.reserve(batch.size());
  for (const auto& d : batch) ids.push_back(d.id);
  const std::vector<std::string> applied_list = store_.reader().applied_messages(ids);
  std::unordered_set<std::string> skip(applied_list.begin(), applied_list.end());
  // The batch still committing is not in the store yet.
  skip.insert(committing_ids_.begin(), committing_ids_.end());

  const std::int64_t received = now_ns();
  std::uint64_t messages = 0, duplicates = 0, flows = 0, alerts = 0, cross = 0;
  for (Consumer::Delivery& d : batch) {
    // Also skips a second copy within this batch.
    if (!skip.insert(d.id).second) {
      ++duplicates;
      continue;
    }
    ++messages;
    Message& m = d.message;
    store::SensorMessage out;
    out.sensor = m.origin.sensor;
    out.message_id = d.id;
    out.received_ns = received;
    std::visit(
        [&](auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, std::vector<FlowMessage>>) {
            std::vector<store::FlowRow> rows;
            rows.reserve(body.size());
            for (FlowMessage& f : body) rows.push_back(std::move(f.row));
            flows += rows.size();
            out.body = std::move(rows);
          } else if constexpr (std::is_same_v<T, AlertMessage>) {
            ++alerts;
            body.alert.sensors = {out.sensor};
            if (options_.correlate) {
              if (auto hub = correlator_.observe(out.sensor, body.alert)) {
                store::SensorMessage own;
                own.sensor = hub_sensor_;
                own.message_id =
                    hub_sensor_ + '-' + std::to_string(run_) + '-' + std::to_string(++seq_);
                own.received_ns = received;
                own.record_sensor = false;
                own.body = std::move(hub->alert);
                (void)store_.add_sensor_message(std::move(own));
                ++cross;
              }
            }
            out.body = std::move(body.alert);
          } else if constexpr (std::is_same_v<T, host::TrafficSample>) {
            out.body = std::move(body);
          } else if constexpr (std::is_same_v<T, ConnectionsMessage>) {
            out.body = store::SensorMessage::Connections{std::move(body.events)};
          } else {
            out.body = store::SensorMessage::Health{body.time_ns, health_json(body)};
          }
        },
        m.body);
    (void)store_.add_sensor_message(std::move(out));
  }
  std::lock_guard lock(stats_mutex_);
  stats_.messages += messages;
  stats_.duplicates += duplicates;
  stats_.flows += flows;
  stats_.alerts += alerts;
  stats_.cross_sensor_alerts += cross;
}

HubIngestStats HubIngest::stats() const {
  HubIngestStats s;
  {
    std::lock_guard lock(stats_mutex_);
    s = stats_;
  }
  s.consumer = consumer_.stats();
  return s;
}

}  // namespace netsentry::bus
