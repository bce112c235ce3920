// Provides StopSignals: turns SIGINT/SIGTERM into a std::stop_source request, so every thread
// stops through its stop_token (never a shared bool). Construct it in main's thread BEFORE starting
// other threads: it blocks the signals for the process and waits for them on its own thread.
// Thread rules: construct/destroy on the main thread; token() from any thread.
#pragma once

#include <functional>
#include <stop_token>
#include <thread>

namespace netsentry::core {

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
