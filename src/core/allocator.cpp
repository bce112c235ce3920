#include "core/allocator.h"

#include <dlfcn.h>

#include <cstddef>
#include <string_view>

namespace netsentry::core {

std::string allocator_name() {
  // jemalloc's control interface: int mallctl(const char*, void*, size_t*, void*, size_t).
  using Mallctl = int (*)(const char*, void*, std::size_t*, void*, std::size_t);
  void* symbol = dlsym(RTLD_DEFAULT, "mallctl");
  if (symbol != nullptr) {
    const char* version = nullptr;
    std::size_t size = sizeof version;
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): dlsym's documented use
    if (reinterpret_cast<Mallctl>(symbol)("version", &version, &size, nullptr, 0) == 0 &&
        version != nullptr) {
      // "5.3.0-0-g54eaed1d..." -> "5.3.0"
      const std::string_view full(version);
      return "jemalloc " + std::string(full.substr(0, full.find('-')));
    }
    return "jemalloc";
  }
  return "glibc malloc";
}

}  // namespace netsentry::core
