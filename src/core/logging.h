// Provides logging setup: a console sink (stderr, warnings and up unless verbose) and, when asked,
// the log file network_analysis.log (the original project's log name) in the output directory.
// Thread rules: call setup_logging once from main before threads start; spdlog is thread-safe
// after.
#pragma once

#include <filesystem>
#include <string>

namespace netsentry::core {

struct LogOptions {
  bool verbose = false;        // console shows info and debug
  bool quiet = false;          // console shows errors only
  std::filesystem::path file;  // empty: no log file
  std::size_t max_file_bytes = 10 << 20;
  std::size_t max_files = 3;
};

void setup_logging(const LogOptions& options);
// Flushes every sink (called on shutdown).
void flush_logging();

}  // namespace netsentry::core
