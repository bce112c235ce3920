// Provides PacketRing: the single-producer single-consumer ring between the capture thread and the
// flow thread. Each slot holds a packet's timestamp, lengths and its first kSlotBytes bytes (enough
// for every header we decode; payload bytes beyond are not needed by the flow meter, whose lengths
// come from the IP/UDP headers). The producer never blocks: a full ring drops and counts.
// With a spill area (the packet recorder is on), a packet longer than a slot is also copied whole
// into a byte ring beside the slots, so the flow thread can keep every captured byte (packet())
// while the meter still reads the slot; when the spill area is full the packet goes through with
// its slot only and is counted (spill_missed()).
// Thread rules: try_push and has_room from the capture thread only; front/peek/pop/packet from the
// flow thread only; counters from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>

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
    std::uint32_t spill_len;   // the whole packet is in the spill area (0: data holds it all)
    std::uint64_t spill_at;    // where (a position in the spill area, before the modulo)
    std::uint64_t spill_end;   // the spill area's write position after this packet
    std::uint8_t data[kSlotBytes];
  };

  // `spill_bytes` (0 = none) is the byte ring for packets longer than a slot.
  explicit PacketRing(std::size_t capacity_pow2 = 1 << 16, std::size_t spill_bytes = 0)
      : mask_(round_up(capacity_pow2) - 1),
        slots_(new Slot[mask_ + 1]),
        spill_size_(spill_bytes),
        spill_(spill_bytes > 0 ? new std::uint8_t[spill_bytes] : nullptr) {}

  // Whether a packet of `cap_len` bytes would find room in the spill area now (true when it
  // needs none, or could never fit: a lossless producer waits on this, never forever).
  [[nodiscard]] bool has_room(std::size_t cap_len) noexcept {
    if (spill_size_ == 0 || cap_len <= kSlotBytes || cap_len > spill_size_ / 2) return true;
    return spill_place(cap_len) != kNoRoom;
  }

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
    s.spill_len = 0;
    s.spill_at = 0;
    if (spill_size_ > 0 && p.bytes.size() > kSlotBytes) {
      const std::uint64_t at =
          p.bytes.size() > spill_size_ / 2 ? kNoRoom : spill_place(p.bytes.size());
      if (at == kNoRoom) {
        spill_missed_.fetch_add(1, std::memory_order_relaxed);
      } else {
        std::memcpy(spill_.get() + at % spill_size_, p.bytes.data(), p.bytes.size());
        s.spill_at = at;
        s.spill_len = static_cast<std::uint32_t>(p.bytes.size());
        spill_head_ = at + p.bytes.size();
      }
    }
    s.spill_end = spill_head_;
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Every captured byte of a packet of this ring (the slot's, or the spill area's copy).
  [[nodiscard]] std::span<const std::uint8_t> packet(const Slot& s) const noexcept {
    if (s.spill_len == 0) return {s.data, s.stored_len};
    return {spill_.get() + s.spill_at % spill_size_, s.spill_len};
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
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (n == 0) return;
    if (spill_size_ > 0) {
      spill_tail_.store(slots_[(tail + n - 1) & mask_].spill_end, std::memory_order_release);
    }
    tail_.store(tail + n, std::memory_order_release);
  }

  [[nodiscard]] std::uint64_t dropped() const noexcept {
    return dropped_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t size() const noexcept {
    return static_cast<std::size_t>(head_.load(std::memory_order_acquire) -
                                    tail_.load(std::memory_order_acquire));
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }
  // Packets longer than a slot that found no room in the spill area (kept as their slot only).
  [[nodiscard]] std::uint64_t spill_missed() const noexcept {
    return spill_missed_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t spill_bytes() const noexcept { return spill_size_; }

 private:
  static constexpr std::uint64_t kNoRoom = ~std::uint64_t{0};

  // Producer: the position for `len` contiguous bytes (skipping the end of the area when the
  // packet would wrap), or kNoRoom while the consumer still holds those bytes.
  std::uint64_t spill_place(std::size_t len) noexcept {
    std::uint64_t at = spill_head_;
    const std::uint64_t offset = at % spill_size_;
    if (offset + len > spill_size_) at += spill_size_ - offset;
    if (at + len - spill_tail_cache_ > spill_size_) {
      spill_tail_cache_ = spill_tail_.load(std::memory_order_acquire);
      if (at + len - spill_tail_cache_ > spill_size_) return kNoRoom;
    }
    return at;
  }

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
  std::atomic<std::uint64_t> spill_missed_{0};
  const std::size_t spill_size_;
  std::unique_ptr<std::uint8_t[]> spill_;
  std::uint64_t spill_head_ = 0;                          // producer: next free position
  std::uint64_t spill_tail_cache_ = 0;                    // producer's view of spill_tail_
  alignas(64) std::atomic<std::uint64_t> spill_tail_{0};  // consumer: bytes released up to here
};

}  // namespace netsentry::capture
