// Provides core::prefetch_for_write, a hint that a cache line is about to be written.
#pragma once

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

}  // namespace netsentry::core
