// Provides StopSignals: turns SIGINT/SIGTERM/SIGHUP into a std::stop_source request, so every
// thread stops through its stop_token (never a shared bool). The signal handler only writes the
// signal number to a pipe (async-signal-safe); a waiter thread reads it and requests the stop. A
// handler, rather than blocking the signals, is what makes this safe whichever thread the kernel
// picks, including threads that libraries start before main. A second signal while stopping exits
// at once (status 128 + signal), without flushing, unless it is the first one again within a
// second (`timeout` and group kills deliver it twice). Thread rules: install_stop_handlers() first
// thing in main; construct/destroy StopSignals on the main thread; token() from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <stop_token>
#include <thread>

namespace netsentry::core {

// Installs the SIGINT/SIGTERM/SIGHUP handlers (idempotent) and unblocks both signals in the calling
// thread; a signal that arrives before a StopSignals exists is kept and acted on when it starts.
void install_stop_handlers();

class StopSignals {
 public:
  // `on_stop` runs on the waiter thread when a signal arrives (e.g. to break a pcap loop).
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
  static constexpr std::chrono::milliseconds kDuplicateWindow{1000};
  int received_ = 0;
  std::chrono::steady_clock::time_point first_at_;  // when received_ arrived
  std::jthread waiter_;
};

}  // namespace netsentry::core
