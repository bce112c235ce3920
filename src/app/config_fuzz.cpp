// libFuzzer entry point for app::check_config_file, the check every netsentry.toml passes before
// CLI11 reads it (scripts/test runs it for a bounded time, seeded from netsentry.toml). The input
// is the file, written to a memfd; only core::Error may come out. Built only by the `fuzz` preset.
#include <sys/mman.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "app/config_check.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const int fd = ::memfd_create("netsentry-config-fuzz", MFD_CLOEXEC);
  static CLI::App* app = [] {
    static CLI::App a;
    static std::string text;
    static double number = 0;
    static bool flag = false;
    auto* monitor = a.add_subcommand("monitor");
    monitor->add_option("--speed", text);
    monitor->add_option("--rotate-mb", number);
    monitor->add_option("-i,--interface", text);
    monitor->add_flag("--stay", flag);
    a.add_subcommand("watch")->add_option("--interval", number);
    a.add_flag("-v,--verbose", flag);
    return &a;
  }();
  if (fd < 0 || ::ftruncate(fd, 0) != 0) return 0;
  if (size > 0 && ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  try {
    netsentry::app::check_config_file("/proc/self/fd/" + std::to_string(fd), *app);
  } catch (const netsentry::core::Error&) {
    // A refused file is a result, not a finding.
  }
  return 0;
}
