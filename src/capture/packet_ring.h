// Provides PacketRing: the single-producer single-consumer ring between the capture thread and the
// flow thread. Each slot holds a packet's timestamp, lengths and its first kSlotBytes bytes (enough
// for every header we decode; payload bytes beyond are not needed by the flow meter, whose lengths
// come from the IP/UDP headers). The producer never blocks: a full ring drops and counts.
// Thread rules: try_push from the capture thread only; front/pop from the flow thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "capture/packet_source.h"

namespace netsentry::capture {

class PacketRing {
 public:
  static constexpr std::size_t kSlotBytes = 320;

  struct Slot {
    std::int64_t ts_ns;
    std::uint32_t wire_len;
    std::uint32_t cap_len;     // captured length as libpcap gave it
    std::uint32_t stored_len;  // bytes kept in data (<= kSlotBytes)
    net::LinkType link;        // the packet's link type (pcapng interfaces may differ)
    std::uint8_t data[kSlotBytes];
  };

  explicit PacketRing(std::size_t capacity_pow2 = 1 << 16)
      : mask_(round_up(capacity_pow2) - 1), slots_(new Slot[mask_ + 1]) {}

  // Copies the packet in; returns false (and counts a drop) when the ring is full.
  bool try_push(const RawPacket& p) noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_cache_ > mask_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head - tail_cache_ > mask_) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    }
    Slot& s = slots_[head & mask_];
    s.ts_ns = p.ts_ns;
    s.wire_len = p.wire_len;
    s.cap_len = p.cap_len;
    s.link = p.link;
    s.stored_len =
        static_cast<std::uint32_t>(p.bytes.size() < kSlotBytes ? p.bytes.size() : kSlotBytes);
    std::memcpy(s.data, p.bytes.data(), s.stored_len);
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // The oldest packet, or nullptr when empty. Valid until pop().
  const Slot* front() noexcept { return peek(0); }
  // The i-th oldest packet, or nullptr when fewer are queued. Valid until pop() releases it.
  const Slot* peek(std::size_t i) noexcept {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail + i >= head_cache_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail + i >= head_cache_) return nullptr;
    }
    return &slots_[(tail + i) & mask_];
  }
  // Releases the n oldest packets to the producer.
  void pop(std::size_t n = 1) noexcept {
    tail_.store(tail_.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }

  [[nodiscard]] std::uint64_t dropped() const noexcept {
    return dropped_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t size() const noexcept {
    return static_cast<std::size_t>(head_.load(std::memory_order_acquire) -
                                    tail_.load(std::memory_order_acquire));
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

 private:
  static std::size_t round_up(std::size_t n) {
    std::size_t p = 1;
    while (p < n) p <<= 1;
    return p;
  }

  const std::size_t mask_;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<std::uint64_t> head_{0};
  std::uint64_t tail_cache_ = 0;  // producer's view of tail_
  alignas(64) std::atomic<std::uint64_t> tail_{0};
  std::uint64_t head_cache_ = 0;  // consumer's view of head_
  alignas(64) std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace netsentry::capture
