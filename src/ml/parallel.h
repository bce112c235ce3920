// Provides ml::parallel_for, which splits [0, n) into `threads` contiguous chunks and runs them on
// std::jthreads (the caller's thread takes the first chunk). Used for batch scoring and tree
// fitting. Thread rules: `body(begin, end)` runs concurrently on disjoint ranges; it must not throw
// across threads — an exception in a worker is captured and rethrown to the caller after all chunks
// join.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace netsentry::ml {

template <typename Body>
void parallel_for(std::size_t n, int threads, Body&& body) {
  const std::size_t chunks =
      std::min<std::size_t>(n, static_cast<std::size_t>(std::max(threads, 1)));
  if (chunks <= 1) {
    if (n > 0) body(std::size_t{0}, n);
    return;
  }
  std::vector<std::exception_ptr> errors(chunks);
  {
    std::vector<std::jthread> workers;
    workers.reserve(chunks - 1);
    const auto bound = [&](std::size_t c) { return n * c / chunks; };
    for (std::size_t c = 1; c < chunks; ++c) {
      workers.emplace_back([&, c] {
        try {
          body(bound(c), bound(c + 1));
        } catch (...) {
          errors[c] = std::current_exception();
        }
      });
    }
    try {
      body(std::size_t{0}, bound(1));
    } catch (...) {
      errors[0] = std::current_exception();
    }
  }  // jthreads join here
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace netsentry::ml
