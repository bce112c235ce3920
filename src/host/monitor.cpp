#include "host/monitor.h"

#include <algorithm>
#include <system_error>
#include <utility>

#include "core/error.h"
#include "host/proc_file.h"

namespace netsentry::host {

Monitor::Monitor(MonitorOptions options) : options_(std::move(options)) {}

std::optional<TrafficSample> Monitor::sample(TimePoint now) {
  const std::filesystem::path path = options_.proc_root / "net" / "dev";
  if (const std::error_code error = read_proc_file(path, buffer_)) {
    throw core::Error("cannot read interface counters " + path.string() + ": " + error.message());
  }
  return update(parse_net_dev(buffer_), now);
}

bool Monitor::selected(const std::string& name) const {
  return options_.interfaces.empty() ||
         std::find(options_.interfaces.begin(), options_.interfaces.end(), name) !=
             options_.interfaces.end();
}

double Monitor::delta(std::uint64_t previous, std::uint64_t current) {
  if (current >= previous) return static_cast<double>(current - previous);
  ++counter_resets_;
  return static_cast<double>(current);
}

std::optional<TrafficSample> Monitor::update(const NetDevTable& counters, TimePoint now) {
  malformed_lines_ += counters.malformed_lines;
  std::optional<TrafficSample> result;
  if (previous_time_ && now > *previous_time_) {
    const double seconds = std::chrono::duration<double>(now - *previous_time_).count();
    TrafficSample& sample = result.emplace();
    sample.timestamp = now;
    sample.interval_seconds = seconds;
    sample.total.name = "total";
    for (const InterfaceCounters& current : counters.interfaces) {
      if (!selected(current.name)) continue;
      const auto it = previous_.find(current.name);
      // An interface that just appeared has no interval yet; it joins from the next sample.
      if (it == previous_.end()) continue;
      const InterfaceCounters& before = it->second;
      InterfaceRates& rates = sample.interfaces.emplace_back();
      rates.name = current.name;
      rates.bytes_sent = delta(before.tx_bytes, current.tx_bytes) / seconds;
      rates.bytes_recv = delta(before.rx_bytes, current.rx_bytes) / seconds;
      rates.packets_sent = delta(before.tx_packets, current.tx_packets) / seconds;
      rates.packets_recv = delta(before.rx_packets, current.rx_packets) / seconds;
      rates.errin = delta(before.rx_errs, current.rx_errs) / seconds;
      rates.errout = delta(before.tx_errs, current.tx_errs) / seconds;
      rates.dropin = delta(before.rx_drop, current.rx_drop) / seconds;
      rates.dropout = delta(before.tx_drop, current.tx_drop) / seconds;
      sample.total.bytes_sent += rates.bytes_sent;
      sample.total.bytes_recv += rates.bytes_recv;
      sample.total.packets_sent += rates.packets_sent;
      sample.total.packets_recv += rates.packets_recv;
      sample.total.errin += rates.errin;
      sample.total.errout += rates.errout;
      sample.total.dropin += rates.dropin;
      sample.total.dropout += rates.dropout;
    }
  }
  // Interfaces that went away are forgotten, so one that comes back starts from a fresh baseline.
  previous_.clear();
  for (const InterfaceCounters& current : counters.interfaces) {
    if (selected(current.name)) previous_.insert_or_assign(current.name, current);
  }
  previous_time_ = now;
  return result;
}

}  // namespace netsentry::host
