#include "app/host_recorder.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "core/error.h"
#include "core/time_format.h"
#include "fmt/format.h"

namespace netsentry::app {
namespace {

host::MonitorOptions monitor_options(const WatchOptions& o) {
  host::MonitorOptions m;
  m.proc_root = o.proc_root;
  m.interfaces = o.interfaces;
  return m;
}

host::ConnectionReaderOptions reader_options(const WatchOptions& o) {
  host::ConnectionReaderOptions r;
  r.proc_root = o.proc_root;
  return r;
}

store::TrafficLogOptions log_options(const WatchOptions& o) {
  store::TrafficLogOptions l;
  l.directory = o.out_dir;
  l.max_bytes = static_cast<std::uint64_t>(o.rotate_mb * 1024 * 1024);
  l.keep = static_cast<std::size_t>(o.rotate_keep);
  return l;
}

std::string human_rate(double bytes_per_s) {
  if (bytes_per_s >= 1e6) return fmt::format("{:.1f} MB/s", bytes_per_s / 1e6);
  if (bytes_per_s >= 1e3) return fmt::format("{:.1f} kB/s", bytes_per_s / 1e3);
  return fmt::format("{:.0f} B/s", bytes_per_s);
}

}  // namespace

HostRecorder::HostRecorder(const WatchOptions& options, SampleCallback on_sample,
                           ConnectionCallback on_connections)
    : options_(options),
      on_sample_(std::move(on_sample)),
      on_connections_(std::move(on_connections)),
      monitor_(monitor_options(options)),
      connections_(reader_options(options)),
      log_(log_options(options)) {}

void HostRecorder::tick(std::chrono::system_clock::time_point now) {
  if (auto sample = monitor_.sample(now)) {
    log_.write(*sample);
    ++samples_;
    if (options_.print) {
      std::printf("%s  sent %-12s recv %-12s packets %.0f/%.0f\n",
                  core::format_python_local(sample->timestamp).c_str(),
                  human_rate(sample->total.bytes_sent).c_str(),
                  human_rate(sample->total.bytes_recv).c_str(), sample->total.packets_sent,
                  sample->total.packets_recv);
      std::fflush(stdout);
    }
    if (on_sample_) on_sample_(*sample);
  }
  try {
    const auto current = connections_.read(now);
    const auto events = tracker_.update(current);
    if (!events.empty()) {
      log_.write(now, events);
      connection_events_ += events.size();
      if (on_connections_) on_connections_(now, events);
    }
  } catch (const core::Error& e) {
    // Counters are still worth recording when the socket tables are unreadable.
    if (!connection_error_reported_) spdlog::warn("connections: {}", e.what());
    connection_error_reported_ = true;
  }
}

void HostRecorder::flush() { log_.flush(); }

void HostRecorder::run(std::stop_token stop) {
  using clock = std::chrono::steady_clock;
  const auto interval = std::chrono::duration_cast<clock::duration>(
      std::chrono::duration<double>(options_.interval_s));
  const auto started = clock::now();
  auto next = started;
  std::mutex mutex;  // only for the interruptible wait below
  std::condition_variable_any wake;
  auto last_flush = started;
  while (!stop.stop_requested()) {
    tick(std::chrono::system_clock::now());
    const auto now = clock::now();
    if (now - last_flush >= std::chrono::seconds(1)) {
      flush();
      last_flush = now;
    }
    if (options_.duration_s > 0 &&
        now - started >= std::chrono::duration<double>(options_.duration_s)) {
      break;
    }
    next += interval;
    if (next < now) next = now + interval;  // fell behind (suspend, slow disk): skip, do not burst
    std::unique_lock lock(mutex);
    wake.wait_until(lock, stop, next, [] { return false; });
  }
  flush();
}

}  // namespace netsentry::app
