// Provides store::TrafficLog, the seed-compatible CSV logs of the host monitor:
//   network_traffic.csv     timestamp,bytes_sent,bytes_recv,packets_sent,packets_recv,total_bytes,
//                           errin,errout,dropin,dropout            (one row per TrafficSample
//                           total)
//   network_connections.csv timestamp,local_ip,local_port,remote_ip,remote_port,status,type,
//                           pid,process,event                      (one row per ConnectionEvent)
// The first columns are the original tool's, in its order; new columns only go at the end.
// Timestamps are local time printed as Python's str(datetime.now()) prints them
// (core::format_python_local). Rates are per
// second rounded to whole numbers, because the seed files hold integers. Endpoints psutil reports
// as empty (port 0: a listening socket's remote end) and an unknown pid are empty fields.
// Thread rules: not thread-safe; one owner (the writer thread) calls every method.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "host/connection_tracker.h"
#include "host/monitor.h"
#include "store/csv_writer.h"

namespace netsentry::store {

struct TrafficLogOptions {
  std::filesystem::path directory = ".";
  std::uint64_t max_bytes = 0;  // per file; 0: never rotate
  std::size_t keep = 5;
};

class TrafficLog final {
 public:
  static constexpr std::string_view kTrafficFile = "network_traffic.csv";
  static constexpr std::string_view kConnectionsFile = "network_connections.csv";

  // Creates the directory if needed and opens both files (see CsvWriter for header checks).
  // Throws core::Error naming the path on failure.
  explicit TrafficLog(const TrafficLogOptions& options);

  void write(const host::TrafficSample& sample);
  void write(std::chrono::system_clock::time_point time,
             std::span<const host::ConnectionEvent> events);
  // Both files; a write failure is kept in health(), not thrown (see CsvWriter).
  void flush();
  // Any thread: the traffic file's and the connections file's state.
  [[nodiscard]] WriterHealth traffic_health() const { return traffic_.health(); }
  [[nodiscard]] WriterHealth connections_health() const { return connections_.health(); }

 private:
  CsvWriter traffic_;
  CsvWriter connections_;
};

}  // namespace netsentry::store
