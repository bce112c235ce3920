// Provides allocator_name(): which malloc this process runs with, for `netsentry --version`. The
// netsentry executable links jemalloc (CMake option NETSENTRY_JEMALLOC); tests and tools built from
// the same libraries keep glibc's. Asked at run time (jemalloc's mallctl, looked up by name), so it
// names what really runs: a jemalloc link the linker dropped shows as glibc's.
#pragma once

#include <string>

namespace netsentry::core {

// "jemalloc 5.3.0" or "glibc malloc".
[[nodiscard]] std::string allocator_name();

}  // namespace netsentry::core
