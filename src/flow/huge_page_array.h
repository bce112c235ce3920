// Provides flow::HugePageArray<T>, a fixed-size, zero-filled array in its own anonymous mapping,
// aligned to 2 MiB and (unless asked not to) advised for transparent huge pages. The flow table's
// arrays are touched at random per packet; with 4 KiB pages almost every access is a TLB miss
// (costly under virtualisation), with 2 MiB pages few are. But the first touch of a huge page can
// stall for the kernel to find (compact) and zero 2 MiB, synchronously under the usual
// "defrag = madvise": measured here, first-touching 330 MB cost 3.3 s with huge pages and 0.4 s
// with small ones, and a capture thread stalled like that drops packets. So large arrays that fill
// up under a flood can limit huge pages to their first `huge_bytes` (the entries in use under
// ordinary traffic) and take small pages beyond. Pages are committed on first touch, so a large
// capacity costs address space, not memory, until used.
// Thread rules: none; the owner synchronises. T must be trivially destructible: elements are never
// destroyed, and start as all-zero bytes (callers construct or assign before use).
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/prefetch.h"

namespace netsentry::flow {

template <typename T>
class HugePageArray {
  static_assert(std::is_trivially_destructible_v<T>);

 public:
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;
  static constexpr std::size_t kSmallPage = 4096;

  HugePageArray() = default;
  explicit HugePageArray(std::size_t count, std::size_t huge_bytes = SIZE_MAX) : count_(count) {
    if (count == 0) return;
    // Small arrays keep small pages: a huge page would commit 2 MiB for a few entries.
    const bool huge = huge_bytes >= kHugePage && count * sizeof(T) >= kHugePage / 2;
    const std::size_t unit = huge ? kHugePage : kSmallPage;
    const std::size_t bytes = (count * sizeof(T) + unit - 1) / unit * unit;
    mapped_bytes_ = huge ? bytes + kHugePage : bytes;  // slack to align the start to a huge page
    void* base = ::mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    mapped_ = base;
    const auto start = (reinterpret_cast<std::uintptr_t>(base) + unit - 1) & ~(unit - 1);
    data_ = reinterpret_cast<T*>(start);
    // Advice only: without transparent huge pages the array still works with small pages.
    if (huge) ::madvise(data_, std::min(bytes, huge_bytes / kHugePage * kHugePage), MADV_HUGEPAGE);
    written_.assign((bytes / kSmallPage + 63) / 64, 0);
  }
  ~HugePageArray() { release(); }

  HugePageArray(HugePageArray&& other) noexcept { swap(other); }
  HugePageArray& operator=(HugePageArray&& other) noexcept {
    if (this != &other) {
      release();
      swap(other);
    }
    return *this;
  }
  HugePageArray(const HugePageArray&) = delete;
  HugePageArray& operator=(const HugePageArray&) = delete;

  // Commits the pages holding elements [first, first + count) now, in one call, instead of a
  // page fault at the first touch of each 4 KiB page: measured here (a virtual machine, where a
  // fault is dear), first-touching 290 MB took 1.2 s by faults and 0.65 s populated 2 MiB at a
  // time. Memory still follows use, a call at a time. Advice only: false when the kernel did not
  // (no MADV_POPULATE_WRITE before Linux 5.14, or no memory now); the pages are then committed
  // on first touch as before.
  bool populate(std::size_t first, std::size_t count) {
    if (first >= count_ || count == 0) return true;
#ifdef MADV_POPULATE_WRITE
    const std::size_t last = std::min(count_, first + count);
    const auto begin = reinterpret_cast<std::uintptr_t>(data_ + first) & ~(kSmallPage - 1);
    const auto end =
        (reinterpret_cast<std::uintptr_t>(data_ + last) + kSmallPage - 1) & ~(kSmallPage - 1);
    return ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE) == 0;
#else
    return false;
#endif
  }

  // Element i, for an entry that is read before it is written: the first time a page of it is
  // reached this way, the page is faulted in by a write (core::touch_for_write) instead of
  // mapping the shared zero page for the read and faulting again, with a TLB flush on every core,
  // for the write. A bitmap of the pages so touched makes every later call one bit test.
  T& for_write(std::size_t i) {
    const std::size_t offset = i * sizeof(T);
    for (std::size_t page = offset / kSmallPage; page <= (offset + sizeof(T) - 1) / kSmallPage;
         ++page) {
      std::uint64_t& word = written_[page / 64];
      const std::uint64_t bit = std::uint64_t{1} << (page % 64);
      if ((word & bit) != 0) continue;
      core::touch_for_write(reinterpret_cast<char*>(data_) + page * kSmallPage, 1);
      word |= bit;
    }
    return data_[i];
  }

  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  T* data() { return data_; }
  [[nodiscard]] std::size_t size() const { return count_; }

 private:
  void swap(HugePageArray& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(count_, other.count_);
    std::swap(mapped_, other.mapped_);
    std::swap(mapped_bytes_, other.mapped_bytes_);
    std::swap(written_, other.written_);
  }
  void release() noexcept {
    if (mapped_ != nullptr) ::munmap(mapped_, mapped_bytes_);
    mapped_ = nullptr;
    data_ = nullptr;
    count_ = 0;
    written_.clear();
  }

  T* data_ = nullptr;
  std::size_t count_ = 0;
  void* mapped_ = nullptr;
  std::size_t mapped_bytes_ = 0;
  std::vector<std::uint64_t> written_;  // pages for_write() faulted in, a bit each
};

}  // namespace netsentry::flow
