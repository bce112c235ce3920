#include "core/logging.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

#include "core/error.h"

namespace netsentry::core {

void setup_logging(const LogOptions& options) {
  std::vector<spdlog::sink_ptr> sinks;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_level(options.quiet     ? spdlog::level::err
                     : options.verbose ? spdlog::level::debug
                                       : spdlog::level::info);
  console->set_pattern("%^%l%$: %v");
  sinks.push_back(console);
  if (!options.file.empty()) {
    try {
      if (options.file.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(options.file.parent_path(), ec);
        if (ec) {
          throw Error(options.file.parent_path().string() +
                      ": cannot create the output folder: " + ec.message());
        }
      }
      auto file = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          options.file.string(), options.max_file_bytes, options.max_files);
      // The original project's format: "%(asctime)s - %(levelname)s - %(message)s".
      file->set_pattern("%Y-%m-%d %H:%M:%S,%e - %l - %v");
      file->set_level(spdlog::level::info);
      sinks.push_back(file);
    } catch (const spdlog::spdlog_ex& e) {
      throw Error("cannot open log file " + options.file.string() + ": " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("netsentry", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::debug);
  logger->flush_on(spdlog::level::warn);
  // A full disk makes the file sink fail on every line: say so on stderr at most once a minute,
  // and go on (the sink writes again once there is room).
  auto last_report = std::make_shared<std::atomic<std::int64_t>>(0);
  logger->set_error_handler([last_report](const std::string& message) {
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
    std::int64_t last = last_report->load();
    if (now - last < 60 && last != 0) return;
    if (!last_report->compare_exchange_strong(last, now)) return;
    std::fprintf(stderr, "netsentry: log file: %s (logging goes on)\n", message.c_str());
  });
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(2));
}

void flush_logging() {
  if (auto logger = spdlog::default_logger()) logger->flush();
}

}  // namespace netsentry::core
