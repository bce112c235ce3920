// Provides read_proc_file: reads a whole /proc (or fixture) text file into a caller-owned buffer.
// /proc files report size 0, so the file is read until EOF rather than by its stat size; the buffer
// keeps its capacity between calls so a once-a-second reader stops allocating after warm-up.
// Thread rules: a free function; callers must not share one buffer between threads.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

namespace netsentry::host {

// Replaces `out` with the file's contents. Returns an empty error_code on success, otherwise the
// errno of the failing open/read (ENOENT for a missing file, EACCES for a forbidden one).
[[nodiscard]] std::error_code read_proc_file(const std::filesystem::path& path, std::string& out);

}  // namespace netsentry::host
