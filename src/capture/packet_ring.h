// Provides PacketRing: the single-producer single-consumer ring between the capture thread and the
// flow thread. Each slot holds a packet's timestamp, lengths and its first kSlotBytes bytes (enough
// for every header we decode; payload bytes beyond are not needed by the flow meter, whose lengths
// come from the IP/UDP headers). The producer never blocks: a full ring drops and counts.
// With a packet recorder (evidence on), the producer copies each packet whole into the recorder
// instead of into its slot: that one copy is what the meter reads (frame(), the same first
// kSlotBytes) and what the recorder keeps (packet()). The consumer commits it to the recorder with
// its addresses, and pop() releases it. When the recorder has no room the packet travels in its
// slot as without a recorder, and the recorder counts it (RecorderStats::no_room). A recorder
// that keeps packets by reference (a replayed file, PacketRecorder::by_reference) is not written
// by the producer at all: packets travel in their slots as without one, with their place in the
// file (Slot::file_offset), and the consumer records that place with the packet's addresses.
// Thread rules: try_push and has_room from the capture thread only; front/peek/pop/frame/packet
// from the flow thread only; counters from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>

#include "capture/packet_recorder.h"
#include "capture/packet_source.h"
#include "core/prefetch.h"

namespace netsentry::capture {

class PacketRing {
 public:
  static constexpr std::size_t kSlotBytes = 320;
  // How many packets ahead the producer asks for a slot's lines (see try_push).
  static constexpr std::size_t kWriteAhead = 4;

  struct Slot {
    std::int64_t ts_ns;
    std::uint32_t wire_len;
    std::uint32_t cap_len;             // captured length as libpcap gave it
    std::uint32_t stored_len;          // bytes kept in data (<= kSlotBytes; 0: the recorder's)
    net::LinkType link;                // the packet's link type (pcapng interfaces may differ)
    PacketRecorder::Pending recorded;  // the whole packet in the recorder (empty: data holds it)
    std::int64_t file_offset;          // RawPacket::file_offset
    std::uint8_t* data;                // this slot's kSlotBytes in the byte block (set by try_push)
  };

  // `recorder` (may be null, or off) keeps every packet whole; it must outlive the ring.
  explicit PacketRing(std::size_t capacity_pow2 = 1 << 16, PacketRecorder* recorder = nullptr)
      : mask_(round_up(capacity_pow2) - 1),
        // Zero-filled fresh memory, committed as the producer first fills each slot (try_push
        // sets every field, `data` too): initialising the default ring's 4 MiB of slots here cost
        // the start-up ~16 ms and 1,024 page faults on the main thread.
        slots_(static_cast<Slot*>(std::calloc(mask_ + 1, sizeof(Slot)))),
        // Left uninitialised, so its pages are committed only when packets travel in slots: with
        // a recorder that has room, never (20 MiB of the default ring a replay would otherwise
        // first-touch at start, which costs a page fault per 4 KiB).
        bytes_(new std::uint8_t[(mask_ + 1) * kSlotBytes]),
        recorder_(recorder != nullptr && recorder->enabled() ? recorder : nullptr),
        by_reference_(recorder_ != nullptr && recorder_->by_reference()) {
    if (!slots_) throw std::bad_alloc();
  }

  // Whether the recorder would keep a packet of `cap_len` bytes now (true without a recorder, or
  // when it could never keep it: a lossless producer waits on this, never forever).
  [[nodiscard]] bool has_room(std::size_t cap_len) {
    return recorder_ == nullptr || by_reference_ || recorder_->has_room(cap_len);
  }

  // Copies the packet in; returns false (and counts a drop) when the ring is full.
  bool try_push(const RawPacket& p) {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_cache_ > mask_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head - tail_cache_ > mask_) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    }
    // The slot a few packets on, ahead of its writes: the ring (the default's 4.5 MiB of slots and
    // 20 MiB of bytes) is far larger than the caches, so its lines were last used a lap ago and
    // each write would wait for one from memory (a replay's capture thread spent ~85 ns a packet
    // there; half of that after, and the replay of the benign lab capture took 7 % less time).
    const std::size_t ahead = (head + kWriteAhead) & mask_;
    core::prefetch_for_write(&slots_[ahead]);
    core::prefetch_for_write(reinterpret_cast<const std::uint8_t*>(&slots_[ahead]) + sizeof(Slot) -
                             1);
    if (recorder_ == nullptr || by_reference_) {
      const std::uint8_t* data = bytes_.get() + ahead * kSlotBytes;
      for (std::size_t at = 0; at < kSlotBytes; at += 64) core::prefetch_for_write(data + at);
    }
    Slot& s = slots_[head & mask_];
    s.data = bytes_.get() + (head & mask_) * kSlotBytes;
    s.ts_ns = p.ts_ns;
    s.wire_len = p.wire_len;
    s.cap_len = p.cap_len;
    s.link = p.link;
    s.file_offset = p.file_offset;
    s.recorded = recorder_ != nullptr && !by_reference_
                     ? recorder_->write(p.ts_ns, p.wire_len, static_cast<int>(p.link), p.bytes)
                     : PacketRecorder::Pending{};
    if (s.recorded) {
      s.stored_len = 0;
    } else {
      s.stored_len =
          static_cast<std::uint32_t>(p.bytes.size() < kSlotBytes ? p.bytes.size() : kSlotBytes);
      std::memcpy(s.data, p.bytes.data(), s.stored_len);
    }
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // What the flow meter reads: the packet's first kSlotBytes bytes, wherever they are.
  [[nodiscard]] static std::span<const std::uint8_t> frame(const Slot& s) noexcept {
    if (!s.recorded) return {s.data, s.stored_len};
    return s.recorded.bytes.first(std::min(s.recorded.bytes.size(), kSlotBytes));
  }
  // Every byte of the packet this ring holds (the recorder's copy, or the slot's first bytes).
  [[nodiscard]] static std::span<const std::uint8_t> packet(const Slot& s) noexcept {
    return s.recorded ? s.recorded.bytes : std::span<const std::uint8_t>{s.data, s.stored_len};
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
  // Asks the cache for the i-th oldest packet's first bytes ahead of reading them: a recorded
  // packet was written a whole ring ago, into memory the cache no longer holds, and a slot's bytes
  // were just written by the producer's core (each line a transfer between the cores' caches).
  void prefetch(std::size_t i) noexcept {
    const std::uint64_t at = tail_.load(std::memory_order_relaxed) + i;
    if (at >= head_cache_) return;
    const Slot& s = slots_[at & mask_];
    const std::uint8_t* first = s.recorded ? s.recorded.bytes.data() : s.data;
    __builtin_prefetch(first);
    __builtin_prefetch(first + 64);
  }
  // Releases the n oldest packets to the producer (and to the recorder).
  void pop(std::size_t n = 1) noexcept {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (n == 0) return;
    if (recorder_ != nullptr) {
      // The newest recorded packet among these releases every packet written before it.
      for (std::size_t i = n; i-- > 0;) {
        const Slot& s = slots_[(tail + i) & mask_];
        if (s.recorded) {
          recorder_->release(s.recorded);
          break;
        }
      }
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

 private:
  static std::size_t round_up(std::size_t n) {
    std::size_t p = 1;
    while (p < n) p <<= 1;
    return p;
  }

  struct Free {
    void operator()(Slot* slots) const noexcept { std::free(slots); }
  };
  const std::size_t mask_;
  std::unique_ptr<Slot[], Free> slots_;    // from calloc: Slot is an aggregate (implicit lifetime)
  std::unique_ptr<std::uint8_t[]> bytes_;  // the slots' packet bytes, kSlotBytes each
  alignas(64) std::atomic<std::uint64_t> head_{0};
  std::uint64_t tail_cache_ = 0;  // producer's view of tail_
  alignas(64) std::atomic<std::uint64_t> tail_{0};
  std::uint64_t head_cache_ = 0;  // consumer's view of head_
  alignas(64) std::atomic<std::uint64_t> dropped_{0};
  PacketRecorder* const recorder_;
  // The recorder keeps packets by reference (set before the ring is made): the consumer records.
  const bool by_reference_;
};

}  // namespace netsentry::capture
