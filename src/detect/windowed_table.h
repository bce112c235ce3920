// Provides the bounded building blocks of the host detectors:
//  * WindowedTable, per-key state that lives for one packet-time window (from the key's first
//  event),
//    capped in size with least-recently-used eviction; closed and evicted entries are handed to a
//    callback so a detector can report a final summary before the state goes;
//  * DistinctCounter, the number of distinct values seen (ports, hosts): exact up to a limit, then
//  a
//    65,536-bit bitmap drawn from a shared SketchBudget (exact for 16-bit values, linear counting
//    for hashed ones), or saturated when the budget is spent.
// Thread rules: not thread-safe; one owner thread.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <list>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

namespace netsentry::detect {

// How many 8 KiB bitmaps DistinctCounters may hold at once.
struct SketchBudget {
  std::size_t limit = 0;
  std::size_t in_use = 0;
  std::uint64_t refused = 0;  // counters that saturated because the budget was spent
};

class DistinctCounter final {
 public:
  static constexpr std::size_t kBits = 65'536;

  DistinctCounter() = default;
  DistinctCounter(const DistinctCounter&) = delete;
  DistinctCounter& operator=(const DistinctCounter&) = delete;
  DistinctCounter(DistinctCounter&& other) noexcept { *this = std::move(other); }
  DistinctCounter& operator=(DistinctCounter&& other) noexcept {
    if (this != &other) {
      release();
      exact_ = std::move(other.exact_);
      bitmap_ = std::move(other.bitmap_);
      budget_ = std::exchange(other.budget_, nullptr);
      bits_set_ = other.bits_set_;
      saturated_ = other.saturated_;
    }
    return *this;
  }
  ~DistinctCounter() { release(); }

  // Adds a value. `identity` means values are below kBits and index the bitmap directly (exact
  // counts, e.g. ports); otherwise they are 32-bit hashes and the count is an estimate.
  void add(std::uint32_t value, bool identity, std::size_t exact_limit, SketchBudget& budget) {
    if (bitmap_) {
      set_bit(index(value, identity));
      return;
    }
    if (std::find(exact_.begin(), exact_.end(), value) != exact_.end()) return;
    if (exact_.size() < exact_limit) {
      exact_.push_back(value);
      return;
    }
    if (saturated_) return;
    if (budget.in_use >= budget.limit) {
      saturated_ = true;
      ++budget.refused;
      return;
    }
    ++budget.in_use;
    budget_ = &budget;
    bitmap_ = std::make_unique<std::array<std::uint64_t, kBits / 64>>();
    for (const std::uint32_t v : exact_) set_bit(index(v, identity));
    set_bit(index(value, identity));
    std::vector<std::uint32_t>().swap(exact_);
  }

  // Distinct values so far (an estimate for hashed values past the exact limit).
  [[nodiscard]] std::uint64_t count(bool identity) const {
    if (!bitmap_) return exact_.size();
    if (identity) return bits_set_;
    // Linear counting: n = -m ln(zero bits / m).
    const double m = kBits;
    const double zeros = std::max(1.0, m - double(bits_set_));
    return static_cast<std::uint64_t>(std::llround(-m * std::log(zeros / m)));
  }
  // True when the budget was spent and count() stopped at the exact limit.
  [[nodiscard]] bool saturated() const { return saturated_; }

 private:
  static std::uint32_t index(std::uint32_t value, bool identity) {
    return identity ? value % kBits : (value ^ (value >> 16)) % kBits;
  }
  void set_bit(std::uint32_t i) {
    std::uint64_t& word = (*bitmap_)[i / 64];
    const std::uint64_t bit = std::uint64_t{1} << (i % 64);
    if ((word & bit) == 0) {
      word |= bit;
      ++bits_set_;
    }
  }
  void release() {
    if (bitmap_ && budget_ != nullptr) --budget_->in_use;
    bitmap_.reset();
    budget_ = nullptr;
  }

  std::vector<std::uint32_t> exact_;
  std::unique_ptr<std::array<std::uint64_t, kBits / 64>> bitmap_;
  SketchBudget* budget_ = nullptr;
  std::uint64_t bits_set_ = 0;
  bool saturated_ = false;
};

template <class Key, class State, class Hash>
class WindowedTable final {
 public:
  struct Entry {
    Key key;
    State state;
    std::int64_t window_start = 0;
  };

  WindowedTable(std::int64_t window_ns, std::size_t max_entries)
      : window_ns_(window_ns), max_entries_(std::max<std::size_t>(1, max_entries)) {}

  // The entry of `key` for the window holding `event_ns`. A window that ended before event_ns is
  // closed first (close(entry) sees its final state), then restarted; when the table is full the
  // least recently used entry is closed and dropped to make room.
  template <class Close>
  Entry& touch(const Key& key, std::int64_t event_ns, Close&& close) {
    if (auto it = index_.find(key); it != index_.end()) {
      auto node = it->second;
      lru_.splice(lru_.end(), lru_, node);
      if (event_ns >= node->window_start + window_ns_) {
        close(*node);
        node->state = State{};
        node->window_start = event_ns;
        schedule(key, event_ns + window_ns_);
      }
      return *node;
    }
    if (index_.size() >= max_entries_) {
      close(lru_.front());
      index_.erase(lru_.front().key);
      lru_.pop_front();
      ++evictions_;
    }
    lru_.push_back(Entry{key, State{}, event_ns});
    index_.emplace(key, std::prev(lru_.end()));
    schedule(key, event_ns + window_ns_);
    return lru_.back();
  }

  // The entry of `key` when it is tracked (its window may have ended but not been closed yet);
  // nullptr otherwise. Does not count as a use.
  [[nodiscard]] Entry* find(const Key& key) {
    const auto it = index_.find(key);
    return it == index_.end() ? nullptr : &*it->second;
  }

  // Closes and drops every entry whose window ended at or before now_ns.
  // Costs O(expired * log n): the window ends wait in a min-heap, so a tick that closes nothing
  // looks at one element (a scan of every entry per packet-second was the stage thread's largest
  // cost with thousands of tracked subjects).
  template <class Close>
  void expire(std::int64_t now_ns, Close&& close) {
    while (!ends_.empty() && ends_.front().end <= now_ns) {
      std::pop_heap(ends_.begin(), ends_.end(), Later{});
      const Scheduled due = std::move(ends_.back());
      ends_.pop_back();
      const auto it = index_.find(due.key);
      // Stale when the entry was dropped or restarted its window since this end was scheduled.
      if (it == index_.end() || it->second->window_start + window_ns_ != due.end) continue;
      close(*it->second);
      lru_.erase(it->second);
      index_.erase(it);
    }
  }

  // Closes and drops everything (end of input).
  template <class Close>
  void close_all(Close&& close) {
    for (Entry& entry : lru_) close(entry);
    lru_.clear();
    index_.clear();
    ends_.clear();
  }

  [[nodiscard]] std::size_t size() const { return index_.size(); }
  [[nodiscard]] std::uint64_t evictions() const { return evictions_; }

 private:
  struct Scheduled {
    std::int64_t end;
    Key key;
  };
  struct Later {
    bool operator()(const Scheduled& a, const Scheduled& b) const { return a.end > b.end; }
  };

  void schedule(const Key& key, std::int64_t end) {
    // Stale ends (evicted or restarted entries) stay until their time; past 4 per live entry the
    // heap is rebuilt from the live entries, so it stays bounded under a spoofed-source flood.
    if (ends_.size() >= 4 * max_entries_ + 64) {
      ends_.clear();
      for (const Entry& e : lru_) ends_.push_back({e.window_start + window_ns_, e.key});
      std::make_heap(ends_.begin(), ends_.end(), Later{});
    }
    ends_.push_back({end, key});
    std::push_heap(ends_.begin(), ends_.end(), Later{});
  }

  std::int64_t window_ns_;
  std::size_t max_entries_;
  std::list<Entry> lru_;  // least recently used first
  std::unordered_map<Key, typename std::list<Entry>::iterator, Hash> index_;
  std::vector<Scheduled> ends_;  // min-heap on end (Later), may hold stale ends
  std::uint64_t evictions_ = 0;
};

}  // namespace netsentry::detect
