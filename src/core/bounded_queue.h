// Provides BoundedQueue<T>: a fixed-capacity multi-producer multi-consumer queue used between
// pipeline threads. try_push never blocks and counts what it drops (the capture thread must never
// wait); push blocks until there is room or the stop token fires (for stages that must not lose
// accepted work); push_within blocks until fewer than a given number of items wait (room kept for
// other producers). close() wakes everybody; pop returns false once closed and drained; pop_for
// waits at most a given time; push_all and pop_all move several items under one lock and one
// wake-up.
// Thread rules: every method may be called from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <stop_token>
#include <vector>

namespace netsentry::core {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // Returns false (and counts a drop) when full or closed.
  [[nodiscard]] bool try_push(T value) {
    {
      std::lock_guard lock(mutex_);
      if (closed_ || items_.size() >= capacity_) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      items_.push_back(std::move(value));
      pushed_.fetch_add(1, std::memory_order_relaxed);
    }
    not_empty_.notify_one();
    return true;
  }

  // Blocks while full. Returns false when the queue was closed or the token stopped.
  bool push(T value, std::stop_token stop = {}) {
    return push_within(std::move(value), capacity_, std::move(stop));
  }

  // Blocks while `limit` (at most the capacity) or more items wait: the rest of the capacity stays
  // for other producers' try_push. Returns false when the queue was closed or the token stopped.
  bool push_within(T value, std::size_t limit, std::stop_token stop = {}) {
    limit = std::clamp<std::size_t>(limit, 1, capacity_);
    {
      std::unique_lock lock(mutex_);
      wait(not_full_, lock, stop, [&] { return closed_ || items_.size() < limit; });
      if (closed_ || items_.size() >= limit) return false;
      items_.push_back(std::move(value));
      pushed_.fetch_add(1, std::memory_order_relaxed);
    }
    not_empty_.notify_one();
    return true;
  }

  // Blocks while `capacity` or more items wait, then appends every item of `values` at once (one
  // wake-up for the consumer: the queue may then hold up to capacity + values.size() - 1) and
  // empties `values`. Returns false (leaving `values` as they were) when the queue was closed or
  // the token stopped.
  bool push_all(std::vector<T>& values, std::stop_token stop = {}) {
    if (values.empty()) return true;
    {
      std::unique_lock lock(mutex_);
      wait(not_full_, lock, stop, [&] { return closed_ || items_.size() < capacity_; });
      if (closed_ || items_.size() >= capacity_) return false;
      for (T& v : values) items_.push_back(std::move(v));
      pushed_.fetch_add(values.size(), std::memory_order_relaxed);
    }
    values.clear();
    not_empty_.notify_one();
    return true;
  }

  // Blocks until an item is available, then appends every waiting item to `out`, oldest first.
  // Returns false once closed and empty (or stopped).
  bool pop_all(std::vector<T>& out, std::stop_token stop = {}) {
    std::unique_lock lock(mutex_);
    wait(not_empty_, lock, stop, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return false;
    while (!items_.empty()) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
    lock.unlock();
    not_full_.notify_all();
    return true;
  }

  // Blocks until an item is available; returns nullopt once closed and empty (or stopped).
  std::optional<T> pop(std::stop_token stop = {}) {
    std::unique_lock lock(mutex_);
    wait(not_empty_, lock, stop, [&] { return closed_ || !items_.empty(); });
    return take_front(lock);
  }

  // As pop(), but waits at most `timeout`: nullopt when nothing came in time, or when the queue
  // is closed and drained (done() tells which).
  template <class Rep, class Period>
  std::optional<T> pop_for(std::chrono::duration<Rep, Period> timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mutex_);
    const auto ready = [&] { return closed_ || !items_.empty(); };
    // In slices, as wait() does.
    for (auto now = std::chrono::steady_clock::now(); !ready() && now < deadline;
         now = std::chrono::steady_clock::now()) {
      not_empty_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(20)), ready);
    }
    return take_front(lock);
  }

  // Closed, and every item taken.
  [[nodiscard]] bool done() const {
    std::lock_guard lock(mutex_);
    return closed_ && items_.empty();
  }

  // Takes up to max items without waiting.
  std::size_t drain(std::vector<T>& out, std::size_t max) {
    std::size_t n = 0;
    {
      std::lock_guard lock(mutex_);
      while (n < max && !items_.empty()) {
        out.push_back(std::move(items_.front()));
        items_.pop_front();
        ++n;
      }
    }
    if (n) not_full_.notify_all();
    return n;
  }

  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }
  [[nodiscard]] std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t pushed() const { return pushed_.load(std::memory_order_relaxed); }

 private:
  // Under `lock`: the front item (nullopt when there is none), then wakes the producers.
  std::optional<T> take_front(std::unique_lock<std::mutex>& lock) {
    if (items_.empty()) return std::nullopt;
    T value = std::move(items_.front());
    items_.pop_front();
    lock.unlock();
    // All: producers wait for different limits (push_within), one woken alone might not fit.
    not_full_.notify_all();
    return value;
  }

  // Waits in short slices and checks the stop token itself: a stalled pipeline was seen twice
  // under heavy load (every stage asleep, the queue full), which a lost wake-up would explain;
  // with slices any missed notification costs at most 20 ms instead of hanging forever.
  template <class Pred>
  static void wait(std::condition_variable_any& cv, std::unique_lock<std::mutex>& lock,
                   const std::stop_token& stop, Pred ready) {
    while (!ready() && !stop.stop_requested()) {
      cv.wait_for(lock, std::chrono::milliseconds(20), ready);
    }
  }

  const std::size_t capacity_;
  mutable std::mutex mutex_;  // guards items_ and closed_
  std::condition_variable_any not_empty_;
  std::condition_variable_any not_full_;
  std::deque<T> items_;
  bool closed_ = false;
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> pushed_{0};
};

}  // namespace netsentry::core
