#include "core/signals.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>

namespace netsentry::core {
namespace {

int g_pipe[2] = {-1, -1};  // written by the handler, read by StopSignals' waiter thread

void on_signal(int sig) {
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] const auto n = ::write(g_pipe[1], &byte, 1);
  errno = saved;
}

}  // namespace

void install_stop_handlers() {
  if (g_pipe[0] < 0) {
    if (::pipe2(g_pipe, O_CLOEXEC) != 0) std::abort();
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
    // A closed terminal or `kill -HUP` is a clean stop like SIGTERM: the default action ended the
    // process with exit 129, unflushed files and a truncated CSV row. We keep no log file open
    // that a rotation would need reopened (CSV rotation is by size, inside the writers).
    ::sigaction(SIGHUP, &action, nullptr);
    // Past a file-size limit, writes must fail with EFBIG (reported, monitoring goes on) instead
    // of the default SIGXFSZ killing the process with unflushed files.
    ::signal(SIGXFSZ, SIG_IGN);
  }
  // main() may have blocked them across its exec; pending ones are delivered now, to the handler.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

StopSignals::StopSignals(std::function<void()> on_stop) : on_stop_(std::move(on_stop)) {
  install_stop_handlers();
  waiter_ = std::jthread([this] {
    for (;;) {
      unsigned char sig = 0;
      const auto n = ::read(g_pipe[0], &sig, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || sig == 0) return;  // 0 is the destructor's wake-up
      const auto now = std::chrono::steady_clock::now();
      if (received_ != 0) {
        // The same signal again within a second is the first one delivered twice: `timeout`
        // signals the command and then its whole process group, and a group kill reaches every
        // process of it (a stop lost every unflushed file that way). A second Ctrl-C while we
        // drain and flush, or another signal, means "quit now", as users expect.
        if (sig == received_ && now - first_at_ < kDuplicateWindow) continue;
        std::_Exit(128 + sig);
      }
      received_ = sig;
      first_at_ = now;
      source_.request_stop();
      if (on_stop_) on_stop_();
    }
  });
}

StopSignals::~StopSignals() {
  const unsigned char wake = 0;
  [[maybe_unused]] const auto n = ::write(g_pipe[1], &wake, 1);
  waiter_.join();
}

}  // namespace netsentry::core
