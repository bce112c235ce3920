// Provides core::prefetch_for_write, a hint that a cache line is about to be written, and
// core::touch_for_write, which makes the first touch of a page a write.
#pragma once

#include <cstddef>

namespace netsentry::core {

// Asks for the cache line at `p` to be brought in ready for writing (owned by this core). For a
// line not in this core's cache (memory a ring used a lap ago, or a line another core read last)
// the write would otherwise wait for it. GCC's __builtin_prefetch(p, 1) emits a read prefetch for
// the baseline x86-64 target, after which the line still has to be owned before it is written;
// PREFETCHW does both (a no-op on the few x86-64 processors without it). Never faults, even past
// the end of a mapping.
inline void prefetch_for_write(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 1);
#endif
}

// Makes sure the page holding `p` and `size` bytes from it is mapped for writing, by a locked OR of
// 0 into the first and the last byte (their values are unchanged). For a table whose pages are
// committed on first touch and whose entry is read before it is written, the read of a page never
// touched maps the kernel's shared zero page, and the write after it faults again, copies the page
// and flushes its address from every core that runs one of this process's threads (an
// inter-processor interrupt each; dear under virtualisation: a replay's detection thread spent
// ~5 % of its time there). A write first takes one fault and flushes nothing. Costs a locked
// instruction per byte touched even when the page is mapped: flow::HugePageArray::for_write calls
// it once per page. Only for memory no other thread uses meanwhile.
inline void touch_for_write(void* p, std::size_t size) {
  auto* first = static_cast<unsigned char*>(p);
  auto* last = first + (size > 0 ? size - 1 : 0);
  __atomic_fetch_or(first, static_cast<unsigned char>(0), __ATOMIC_RELAXED);
  if (last != first) __atomic_fetch_or(last, static_cast<unsigned char>(0), __ATOMIC_RELAXED);
}

}  // namespace netsentry::core
