// Provides HostRecorder, the psutil part of the original project: once per interval it samples the
// interface counters and the open connections and appends them to network_traffic.csv and
// network_connections.csv (connection changes only, plus a snapshot at start).
// Thread rules: run() on its own thread; everything else from the thread that owns it.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <stop_token>

#include "app/commands.h"
#include "host/connection_reader.h"
#include "host/connection_tracker.h"
#include "host/monitor.h"
#include "store/traffic_log.h"

namespace netsentry::app {

class HostRecorder final {
 public:
  // Called on the recorder's thread with each sample (after it is written).
  using SampleCallback = std::function<void(const host::TrafficSample&)>;

  // Called on the recorder's thread with each batch of connection changes (after it is written).
  using ConnectionCallback = std::function<void(std::chrono::system_clock::time_point,
                                                std::span<const host::ConnectionEvent>)>;

  explicit HostRecorder(const WatchOptions& options, SampleCallback on_sample = {},
                        ConnectionCallback on_connections = {});

  // Samples until the token stops or `duration_s` passes; flushes both files before returning.
  void run(std::stop_token stop);
  // One sample now (the first call records a baseline and the connection snapshot).
  void tick(std::chrono::system_clock::time_point now);
  void flush();

  [[nodiscard]] std::uint64_t samples() const { return samples_; }
  // The CSV files' health is readable from any thread (TrafficLog's *_health()).
  [[nodiscard]] const store::TrafficLog& log() const { return log_; }
  [[nodiscard]] std::uint64_t connection_events() const { return connection_events_; }

 private:
  WatchOptions options_;
  SampleCallback on_sample_;
  ConnectionCallback on_connections_;
  host::Monitor monitor_;
  host::ConnectionReader connections_;
  host::ConnectionTracker tracker_;
  store::TrafficLog log_;
  std::uint64_t samples_ = 0;
  std::uint64_t connection_events_ = 0;
  bool connection_error_reported_ = false;
};

}  // namespace netsentry::app
