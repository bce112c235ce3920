// Provides StopSignals: turns SIGINT/SIGTERM into a std::stop_source request, so every thread
// stops through its stop_token (never a shared bool). Construct it in main's thread BEFORE starting
// other threads: it blocks the signals for the process and waits for them on its own thread.
// A second signal while stopping exits at once (status 128 + signal), without flushing.
// Thread rules: construct/destroy on the main thread; token() from any thread.
#pragma once

#include <functional>
#include <stop_token>
#include <thread>

namespace netsentry::core {

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts later. Call it first
// thing in main: a thread started before (a logger's flusher, say) would otherwise receive the
// signal and the default action would kill the process without flushing.
void block_stop_signals();

class StopSignals {
 public:
  // `on_stop` runs on the signal thread when a signal arrives (e.g. to break a pcap loop).
  explicit StopSignals(std::function<void()> on_stop = {});
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  [[nodiscard]] std::stop_token token() const { return source_.get_token(); }
  [[nodiscard]] std::stop_source& source() { return source_; }
  // The signal number that stopped us, 0 when none yet.
  [[nodiscard]] int received() const { return received_; }

 private:
  std::stop_source source_;
  std::function<void()> on_stop_;
  int received_ = 0;
  std::jthread waiter_;
};

}  // namespace netsentry::core
