#include "core/signals.h"

#include <pthread.h>
#include <signal.h>

#include <cstdlib>

namespace netsentry::core {

namespace {
sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);  // used by ~StopSignals to wake the waiter
  return set;
}
}  // namespace

void block_stop_signals() {
  const sigset_t set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

StopSignals::StopSignals(std::function<void()> on_stop) : on_stop_(std::move(on_stop)) {
  const sigset_t set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  waiter_ = std::jthread([this, set] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGUSR1) return;
      // A second Ctrl-C while we drain and flush means "quit now", as users expect.
      if (received_ != 0) std::_Exit(128 + sig);
      received_ = sig;
      source_.request_stop();
      if (on_stop_) on_stop_();
    }
  });
}

StopSignals::~StopSignals() {
  pthread_kill(waiter_.native_handle(), SIGUSR1);
  waiter_.join();
  // The signals stay blocked: other threads (the logger's) still have them blocked too, and a
  // second Ctrl-C during the final flush must not kill the process half-way.
}

}  // namespace netsentry::core
