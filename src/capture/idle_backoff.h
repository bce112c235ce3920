// Provides IdleBackoff: how long a polling consumer (the flow thread on the PacketRing) sleeps
// when it found nothing to do. The wait starts short and doubles on every empty poll in a row up
// to a bound, and the first poll that finds work resets it: under load the ring is rarely empty,
// so the consumer keeps its short first wait (no added latency), while an idle link costs a few
// hundred wake-ups a second instead of a thousand.
// Thread rules: one consumer thread owns it.
#pragma once

#include <algorithm>
#include <chrono>

namespace netsentry::capture {

class IdleBackoff {
 public:
  using Duration = std::chrono::microseconds;

  // The first empty poll waits `first`; each empty poll after it twice as long, at most `most`.
  explicit IdleBackoff(Duration first = std::chrono::milliseconds(1),
                       Duration most = std::chrono::milliseconds(8))
      : first_(first), most_(std::max(first, most)), next_(first_) {}

  // The wait after an empty poll (and the next one grows).
  [[nodiscard]] Duration idle() {
    const Duration wait = next_;
    next_ = std::min(next_ * 2, most_);
    return wait;
  }

  // A poll found work: the next empty poll waits `first` again.
  void busy() { next_ = first_; }

  [[nodiscard]] Duration first() const { return first_; }
  [[nodiscard]] Duration most() const { return most_; }

 private:
  Duration first_;
  Duration most_;
  Duration next_;
};

}  // namespace netsentry::capture
